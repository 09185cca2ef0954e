"""Stage 5, bundles: one reproducible deploy zip per model version, carrying the runtime package verbatim."""
