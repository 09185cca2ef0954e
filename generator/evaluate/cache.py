"""The evaluation cache: what its key covers, and what an entry must look like to be used.

The key of `<cache>/evaluations/<key>.json` covers, besides the file's SHA-256, the data and the
tool versions, a hash of the evaluation code itself: the source bytes of every module of
`generator/evaluate/` and of `catalog/runtime/processing.py` (which prepares the rows). A fix to
a metric therefore recomputes every result, with no number to remember to bump. An entry read
back is checked against `ENTRY_SCHEMA` (and its own key); one that fails is ignored, recomputed
and replaced.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_NUMBER = {"type": "number"}
_LATENCY = {"type": "object", "required": ["median_ms", "p95_ms", "runs", "input_from"],
            "properties": {"median_ms": _NUMBER, "p95_ms": _NUMBER, "runs": {"type": "integer"},
                           "input_from": {"type": "string"}}}
_GRAPH = {"type": "object", "required": ["operators", "nodes", "params", "ir_version", "opsets"],
          "properties": {"operators": {"type": "array"}, "nodes": {"type": "integer"}, "params": {"type": "integer"},
                         "ir_version": {"type": "integer"}, "opsets": {"type": "array"}}}
_IMPORTANCE = {"type": "object", "required": ["metric", "base", "repeats", "seed", "features"],
               "properties": {"metric": {"type": "string"}, "base": _NUMBER, "repeats": {"type": "integer"},
                              "seed": {"type": "integer"},
                              "features": {"type": "array", "items": {"type": "array", "items": _NUMBER,
                                                                      "minItems": 2, "maxItems": 2}}}}
_DATA = {"type": "object", "required": ["origin", "dataset", "split", "rows", "sha256"],
         "properties": {"origin": {"enum": ["registry", "script"]}, "dataset": {"type": "string"},
                        "split": {"type": "string"}, "rows": {"type": "integer", "minimum": 0},
                        "sha256": {"type": "string", "pattern": "^([0-9a-f]{64})?$"}}}
ENTRY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["code", "key", "onnx_sha256", "graph", "data_label", "rows", "split_detail", "metrics", "data"],
    "properties": {
        "code": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "key": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "onnx_sha256": {"type": "string"},
        "graph": {"anyOf": [{"type": "null"}, _GRAPH]},
        "data_label": {"type": "string"},
        "rows": {"type": "integer", "minimum": 0},
        "split_detail": {"type": "string"},
        "metrics": {"type": "object", "additionalProperties": _NUMBER},
        "importance": {"anyOf": [{"type": "null"}, _IMPORTANCE]},
        "confusion": {"anyOf": [{"type": "null"}, {"type": "object", "required": ["matrix"],
                                                   "properties": {"matrix": {"type": "array"}}}]},
        "latency": {"anyOf": [{"type": "null"}, _LATENCY]},
        "data": {"anyOf": [{"type": "null"}, _DATA]},
    },
}


def code_files() -> list[Path]:
    """The source files whose bytes the evaluation results depend on."""
    from modelshelf.catalog.runtime import processing

    here = Path(__file__).resolve().parent
    return sorted(here.glob("*.py")) + [Path(processing.__file__).resolve()]


def code_hash() -> str:
    """SHA-256 over the name and bytes of each file of `code_files()`."""
    digest = hashlib.sha256()
    for path in code_files():
        data = path.read_bytes()
        digest.update(f"{path.parent.name}/{path.name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def entry_problem(entry: Any, key: str, code: str) -> str | None:
    """Why a cache entry read back cannot be used (None: it can)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    first = best_match(Draft202012Validator(ENTRY_SCHEMA).iter_errors(entry))  # for anyOf, the branch that came closest
    if first is not None:
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first.absolute_path)
        return f"{where}: {first.message}"
    if entry["key"] != key:
        return "it is stored under another key"
    if entry["code"] != code:
        return "it was computed by other evaluation code"
    return None
