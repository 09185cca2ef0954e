"""Stage 1 of the build, enrich: produce each ONNX file (committed or by recipe), check it, hash it, read its signature."""
