"""catalog.json: every version of every model, machine-readable, with the size and SHA-256 of every published file.

This is what `modelshelf pull` and other tools read. It has no timestamps, so an unchanged
catalog gives the same bytes.
"""
from __future__ import annotations

import importlib.metadata
from typing import Any

from modelshelf.generator.enrich.stage import ModelEntry

FORMAT_VERSION = 1


def _artifact(a, entry: ModelEntry) -> dict[str, Any]:
    return {"name": a.filename, "kind": a.kind, "size": a.size, "sha256": a.sha256, "url": a.url, "verified": a.verified}


def catalog_document(entries: list[ModelEntry], site_url: str) -> dict[str, Any]:
    try:
        version = importlib.metadata.version("modelshelf")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "format_version": FORMAT_VERSION,
        "modelshelf.generator": f"modelshelf {version}",
        "site_url": site_url,
        "models": [
            {
                "id": e.card.id,
                "version": e.card.version,
                # active, deprecated (pullable, with a warning) or yanked (pulled only by exact version, with a warning);
                # `latest` marks the version `ORG/NAME` without a version means (at most one per model).
                "status": e.card.status,
                "status_reason": e.card.status_reason,
                "latest": e.is_latest,
                "page": e.url,
                "task": e.card.task,
                "card": e.card.raw,  # verbatim: the one reader of Card.raw
                # The ONNX file, the card, then the added files (variants, bundle, ...).
                "files": [_artifact(a, e) for a in e.all_files],
                "signature": {
                    "opset": e.signature.opset,
                    "inputs": [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in e.signature.inputs],
                    "outputs": [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in e.signature.outputs],
                },
                # Recomputed by the build (generator/evaluate/stage.py); latency is from the machine that filled the cache.
                "evaluation": e.evaluation.summary() if e.evaluation else None,
                "latency": e.latency.summary() if e.latency else None,
                # How raw files (pictures, recordings, text) become the model's inputs, for the runtime: the same
                # steps as the page's "Try it" panel (generator/tryit/stage.py, catalog/runtime/predictor.py).
                "pipeline": e.tryit.pipeline if e.tryit else {},
            }
            for e in entries
        ],
    }
