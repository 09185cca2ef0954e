"""Stage 3, evaluate: recomputed metrics, latency and model insight, on the published files."""
