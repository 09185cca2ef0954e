"""Modelshelf's catalog: the card schema, loading with source positions, validation, the card model."""
from __future__ import annotations

from pathlib import Path

SCHEMA_PATH = Path(__file__).parent / "schema" / "card.schema.json"
DATA_DIR = Path(__file__).parent / "data"

__all__ = ["SCHEMA_PATH", "DATA_DIR"]
