"""Stage 7, write: the mkdocs plugin that hands everything to mkdocs, and the atomic site build."""
