"""Stage 6, render: pages, the search index, catalog.json and the ONNX hub manifest."""
