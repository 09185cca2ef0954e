"""Modelshelf's build: recipes, ONNX checks, enrichment, pages, search index, the mkdocs plugin, the CLI."""
