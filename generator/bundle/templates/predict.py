#!/usr/bin/env python3
"""Run this bundle's model: `python predict.py --help`, and README.md for the details.

The runtime itself is the `runtime/` folder, a byte-identical copy of modelshelf.catalog.runtime.
"""
import sys
from pathlib import Path

from runtime.predictor import main

if __name__ == "__main__":
    sys.exit(main(folder=Path(__file__).resolve().parent))
