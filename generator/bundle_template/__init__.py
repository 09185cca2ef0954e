"""Files copied into every deploy bundle: predict.py (the runtime, also used by `modelshelf run`), and
the README and Dockerfile templates that generator/bundle.py renders."""
