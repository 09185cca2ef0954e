"""The search data the home page loads: a prebuilt lunr index and one small record per model."""
from __future__ import annotations

import json
import logging
from typing import Any

from lunr import lunr

from modelshelf.generator.enrich.stage import ModelEntry

log = logging.getLogger(__name__)

# Field boosts: a hit in the name matters most, then the id and tags, then the task and datasets.
FIELDS = [
    {"field_name": "name", "boost": 10},
    {"field_name": "id", "boost": 5},
    {"field_name": "tags", "boost": 5},
    {"field_name": "task", "boost": 3},
    {"field_name": "datasets", "boost": 3},
    {"field_name": "summary", "boost": 2},
    {"field_name": "description", "boost": 1},
]


def search_record(entry: ModelEntry) -> dict[str, Any]:
    card = entry.card
    evaluation = entry.evaluation
    # A claim is "verified" when the build recomputed it on registry data it names (within tolerance, or the build failed).
    verified = evaluation.metrics if evaluation is not None and evaluation.data_label else {}
    return {
        "id": card.id, "name": card.name, "version": card.version, "summary": card.summary,
        "task": card.task, "task_title": entry.task_title, "license": card.license,
        "framework": card.framework, "datasets": [d.id for d in card.datasets], "tags": list(card.tags),
        "url": entry.url,
        # tier: verified / reproduced / claimed, computed by the evaluation stage (generator/evaluate/tiers.py).
        "metrics": [{"name": m.name, "value": m.value, "dataset": m.dataset, "split": m.split,
                     "verified": evaluation is not None and evaluation.claim_verified(i),
                     "tier": evaluation.claim_tier(i) if evaluation is not None else "claimed"}
                    for i, m in enumerate(card.metrics)],
        "verified_metrics": {name: round(value, 6) for name, value in verified.items()},
        "size": entry.onnx.size,
    }


def _lunr_document(entry: ModelEntry) -> dict[str, str]:
    card = entry.card
    return {
        "id": card.id, "name": card.name, "tags": " ".join(card.tags),
        "task": f"{card.task} {entry.task_title}", "datasets": " ".join(d.id.replace("/", " ") for d in card.datasets),
        "summary": card.summary, "description": card.description,
    }


def build_search(entries: list[ModelEntry]) -> tuple[str, str]:
    """(index.json, docs.json) as compact JSON text: each model once, at its latest version (yanked ones not at all)."""
    entries = [e for e in entries if e.is_latest]
    docs = {"models": [search_record(e) for e in entries]}
    index = lunr(ref="id", fields=FIELDS, documents=[_lunr_document(e) for e in entries])
    serialized = index.serialize()
    # lunr.js rebuilds its token set in the stored order and refuses a word that sorts before the one
    # before it, comparing UTF-16 code units; Python sorts by code point, which differs past U+FFFF
    # (one card named in mathematical bold letters made search unavailable for everyone).
    serialized["invertedIndex"] = sorted(serialized["invertedIndex"], key=lambda item: item[0].encode("utf-16-be"))
    # allow_nan=False: one NaN makes the file invalid JSON and search unavailable for every visitor; fail the build instead.
    return (json.dumps(serialized, separators=(",", ":"), allow_nan=False),
            json.dumps(docs, separators=(",", ":"), allow_nan=False))
