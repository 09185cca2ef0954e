"""Stage 2, export checks: safety beyond onnx.checker, smoke runs, the card's examples, parity and variants."""
