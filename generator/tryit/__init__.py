"""Stage 4, try it: the configuration of each model page's in-browser panel."""
