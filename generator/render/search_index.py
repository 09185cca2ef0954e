"""The search data the home page loads: a sharded index that a query downloads only the parts of it needs.

Layout under `search/` (written by `build_search`, read by site_theme/assets/javascripts/search/engine.js):

- `manifest.json`: the model count, the shard keys, the top values of each facet with their counts, the metric
  names, numeric ranges and the permissive licence set. Small (a few KB even at 100,000 models); fetched first.
- `t/<key>.json`: the term dictionary and postings of every term that starts with `<key>` (its first two
  characters): `{"terms": [...], "docs": [[doc deltas]...], "masks": [[field bits]...]}`. A query fetches the
  shard of each of its words; prefix matches and one-typo matches stay inside the shard.
- `d/<n>.json`: what a result card shows, for models `n*CHUNK ... n*CHUNK+CHUNK-1`. Models are numbered in name
  order, so the unfiltered list sorted by name needs only the first chunk.
- `c/<column>.json`: one column per facet or sort key (task, license, framework, dataset, tag, opset, size,
  latency, ...), fetched when a filter, a facet count or a sort needs it.
- `m/<metric>.json`: every claim of one metric: model, dataset, tier and value (the recomputed value when the
  build recomputed it), fetched for a metric threshold or a sort by that metric.

`build_index` works on plain search records (`search_record`), so benchmarks build it for 100,000 synthetic
models without rendering a page. Small catalogs (up to LUNR_MAX_MODELS) also get the previous prebuilt lunr index
and docs.json, which tools and tests read; the browser uses the sharded index at every size.
"""
from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from modelshelf.generator.enrich.stage import ModelEntry
from modelshelf.generator.evaluate.metrics import METRICS

log = logging.getLogger(__name__)

FORMAT = 2
CHUNK = 25  # result cards per d/<n>.json: a page of 20 results touches at most 20 small files
TOP_VALUES = 12  # facet values listed in the manifest; the rest come with the column
LUNR_MAX_MODELS = 2_000  # beyond this the single lunr index is not written (76 MB gzip at 100,000 models)

# The licences the "permissive only" toggle keeps: SPDX ids that allow use, change and redistribution, including
# commercial, with attribution at most (no copyleft, no non-commercial or no-derivatives clause). The one place
# this list lives: the manifest carries it to the browser.
PERMISSIVE_LICENSES: frozenset[str] = frozenset({
    "Apache-2.0", "MIT", "MIT-0", "BSD-2-Clause", "BSD-3-Clause", "BSD-3-Clause-Clear", "ISC", "Zlib", "0BSD",
    "Unlicense", "CC0-1.0", "CC-BY-4.0", "CC-BY-3.0", "BSL-1.0", "PSF-2.0", "Python-2.0", "UPL-1.0", "NCSA",
    "X11", "PostgreSQL", "WTFPL",
})

# Text fields and their bit in a posting's mask; weights live in engine.js (FIELD_WEIGHTS), same order.
FIELD_BITS = {"name": 1, "id": 2, "tags": 4, "datasets": 8, "task": 16, "license": 32, "framework": 64, "summary": 128}
STOP_WORDS = frozenset("a an and are as at be by for from in is it of on or that the this to with".split())
TIERS = ("claimed", "reproduced", "verified")  # index = rank: a threshold "at least reproduced" keeps 1 and 2
FACETS = ("task", "license", "framework", "dataset", "tag", "opset")
NUMERIC = ("size", "latency", "params", "updated")  # columns written when any record has the key

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_SEPARATED = re.compile(r"[/\-_.]")


def tokens(text: str) -> list[str]:
    """Lowercased words: runs of letters and digits (engine.js `tokenize` splits the same way)."""
    return _TOKEN.findall(text.lower())


def shard_key(term: str) -> str:
    """The file name of the shard holding `term`: its first two characters, anything but a-z0-9 as _<hex>."""
    return "".join(ch if ch.isascii() and ch.isalnum() else f"_{ord(ch):x}" for ch in term[:2])


# ---- records -------------------------------------------------------------------------------------------------

def search_record(entry: ModelEntry) -> dict[str, Any]:
    card = entry.card
    evaluation = entry.evaluation
    # A claim is "verified" when the build recomputed it on registry data it names (within tolerance, or the build failed).
    verified = evaluation.metrics if evaluation is not None and evaluation.data_label else {}
    metrics = []
    for i, m in enumerate(card.metrics):
        tier = evaluation.claim_tier(i) if evaluation is not None else "claimed"
        recomputed = evaluation.metrics.get(m.name) if evaluation is not None and tier != "claimed" else None
        metrics.append({"name": m.name, "value": m.value, "dataset": m.dataset, "split": m.split,
                        "verified": evaluation is not None and evaluation.claim_verified(i),
                        # tier: verified / reproduced / claimed, computed by the evaluation stage (generator/evaluate/tiers.py).
                        "tier": tier,
                        # What filters and sorts use: the build's own number when it has one, else the claim.
                        "measured": round(recomputed, 6) if recomputed is not None else m.value})
    return {
        "id": card.id, "name": card.name, "version": card.version, "summary": card.summary,
        "task": card.task, "task_title": entry.task_title, "license": card.license,
        "framework": card.framework, "datasets": [d.id for d in card.datasets], "tags": list(card.tags),
        "url": entry.url,
        "metrics": metrics,
        "verified_metrics": {name: round(value, 6) for name, value in verified.items()},
        "size": entry.onnx.size,
        "latency": entry.latency.median_ms if entry.latency is not None else None,
        "opset": entry.signature.opset or None,
    }


def _lunr_document(record: dict[str, Any], description: str) -> dict[str, str]:
    return {
        "id": record["id"], "name": record["name"], "tags": " ".join(record["tags"]),
        "task": f"{record['task']} {record['task_title']}", "datasets": " ".join(d.replace("/", " ") for d in record["datasets"]),
        "summary": record["summary"], "description": description,
    }


def _lunr_index(records: list[dict[str, Any]], descriptions: list[str]) -> str:
    from lunr import lunr

    fields = [{"field_name": "name", "boost": 10}, {"field_name": "id", "boost": 5}, {"field_name": "tags", "boost": 5},
              {"field_name": "task", "boost": 3}, {"field_name": "datasets", "boost": 3}, {"field_name": "summary", "boost": 2},
              {"field_name": "description", "boost": 1}]
    index = lunr(ref="id", fields=fields, documents=[_lunr_document(r, d) for r, d in zip(records, descriptions)])
    serialized = index.serialize()
    # lunr.js rebuilds its token set in the stored order and refuses a word that sorts before the one before it,
    # comparing UTF-16 code units; Python sorts by code point, which differs past U+FFFF.
    serialized["invertedIndex"] = sorted(serialized["invertedIndex"], key=lambda item: item[0].encode("utf-16-be"))
    return _dumps(serialized)


def _dumps(value: Any) -> str:
    # allow_nan=False: one NaN makes the file invalid JSON and search unavailable for every visitor; fail the build instead.
    return json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


# ---- the sharded index ---------------------------------------------------------------------------------------

def _field_texts(record: dict[str, Any]) -> Iterable[tuple[str, str]]:
    yield "name", record["name"]
    yield "id", record["id"]
    for tag in record["tags"]:
        yield "tags", tag
    for dataset in record["datasets"]:
        yield "datasets", dataset
    yield "task", f"{record['task']} {record.get('task_title') or ''}"
    yield "license", record.get("license") or ""
    yield "framework", record.get("framework") or ""
    yield "summary", record.get("summary") or ""


def _document_terms(record: dict[str, Any]) -> dict[str, int]:
    """Term -> field bits of one record. Whole ids ("sklearn/digits", "apache-2.0") are terms too, so an exact id matches."""
    found: dict[str, int] = defaultdict(int)
    for field, text in _field_texts(record):
        bit = FIELD_BITS[field]
        for word in tokens(text):
            if len(word) > 1 and word not in STOP_WORDS:
                found[word] |= bit
        if field in ("id", "datasets", "license", "tags") and _SEPARATED.search(text):
            found[text.lower().strip()] |= bit
    return found


def _headline(record: dict[str, Any]) -> list[Any] | None:
    metric = record["metrics"][0] if record.get("metrics") else None
    if not metric:
        return None
    return [metric["name"], metric["value"], metric.get("dataset") or "", metric.get("split") or "",
            metric.get("tier") or "claimed"]


def _card(record: dict[str, Any]) -> list[Any]:
    """What a result card shows, as a positional list (engine.js `CARD_FIELDS`)."""
    return [record["id"], record["name"], record.get("version") or "", record.get("summary") or "",
            record.get("task_title") or record.get("task") or "", record.get("license") or "", record.get("framework") or "",
            record.get("url") or "", record.get("size"), _headline(record), _round(record.get("latency"))]


def _facet_values(record: dict[str, Any], facet: str) -> list[Any]:
    if facet == "dataset":
        return list(record.get("datasets") or [])
    if facet == "tag":
        return list(record.get("tags") or [])
    value = record.get(facet)
    return [] if value in (None, "") else [value]


def _facet_column(records: Sequence[dict[str, Any]], facet: str) -> tuple[dict[str, Any], list[list[Any]]]:
    counts: Counter[Any] = Counter()
    labels: dict[Any, str] = {}
    per_doc = []
    for record in records:
        values = list(dict.fromkeys(_facet_values(record, facet)))
        per_doc.append(values)
        counts.update(values)
        if facet == "task":
            labels.setdefault(record["task"], record.get("task_title") or record["task"])
    # Values by count, then by value: index 0 is the most common.
    ordered = sorted(counts, key=lambda v: (-counts[v], str(v)))
    position = {v: i for i, v in enumerate(ordered)}
    multi = facet in ("dataset", "tag")
    column: list[Any] = [[position[v] for v in values] if multi else (position[values[0]] if values else -1)
                         for values in per_doc]
    data = {"values": ordered, "labels": [labels.get(v, str(v)) for v in ordered], "counts": [counts[v] for v in ordered],
            "multi": multi, "col": column}
    top = [[v, labels.get(v, str(v)), counts[v]] for v in ordered[:TOP_VALUES]]
    return data, top


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}")
    return value


def _metric_files(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by_name: dict[str, dict[str, Any]] = {}
    for doc, record in enumerate(records):
        for metric in record.get("metrics") or []:
            value = metric.get("measured", metric["value"])
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            info = METRICS.get(metric["name"])
            data = by_name.setdefault(metric["name"], {
                "name": metric["name"], "title": info.title if info else metric["name"],
                "higher": info.higher_is_better if info else True, "datasets": [], "doc": [], "ds": [], "tier": [], "value": []})
            dataset = metric.get("dataset") or ""
            if dataset not in data.setdefault("_ds", {}):
                data["_ds"][dataset] = len(data["datasets"])
                data["datasets"].append(dataset)
            data["doc"].append(doc)
            data["ds"].append(data["_ds"][dataset])
            data["tier"].append(TIERS.index(metric.get("tier") or "claimed"))
            data["value"].append(value)
    for data in by_name.values():
        data.pop("_ds")
    return by_name


def build_index(records: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Site path -> JSON text of the sharded index of these search records (see the module docstring)."""
    records = sorted(records, key=lambda r: (str(r["name"]).lower(), r["id"]))
    files: dict[str, str] = {}

    # Postings: term -> [(doc, mask)] in doc order, grouped by shard.
    shards: dict[str, dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    for doc, record in enumerate(records):
        for term, mask in _document_terms(record).items():
            shards[shard_key(term)][term].append((doc, mask))
    for key, terms in shards.items():
        ordered = sorted(terms)
        docs, masks = [], []
        for term in ordered:
            postings = terms[term]
            previous = 0
            deltas = []
            for doc, _mask in postings:
                deltas.append(doc - previous)
                previous = doc
            docs.append(deltas)
            masks.append([mask for _doc, mask in postings])
        files[f"search/t/{key}.json"] = _dumps({"terms": ordered, "docs": docs, "masks": masks})

    for start in range(0, len(records), CHUNK):
        files[f"search/d/{start // CHUNK}.json"] = _dumps([_card(r) for r in records[start:start + CHUNK]])

    facets: dict[str, Any] = {}
    for facet in FACETS:
        data, top = _facet_column(records, facet)
        if not data["values"]:
            continue
        files[f"search/c/{facet}.json"] = _dumps(data)
        facets[facet] = {"top": top, "distinct": len(data["values"])}

    ranges: dict[str, list[Any]] = {}
    for name in NUMERIC:
        column = [_round(r.get(name)) for r in records]
        present = [v for v in column if isinstance(v, (int, float))]
        if not present:
            continue
        files[f"search/c/{name}.json"] = _dumps({"col": column})
        ranges[name] = [min(present), max(present)]

    metrics = []
    for name, data in sorted(_metric_files(records).items()):
        files[f"search/m/{shard_key(name)}{name.encode().hex()}.json"] = _dumps(data)
        metrics.append({"name": name, "title": data["title"], "higher": data["higher"], "count": len(data["doc"]),
                        "file": f"m/{shard_key(name)}{name.encode().hex()}.json"})

    manifest = {"format": FORMAT, "count": len(records), "chunk": CHUNK, "shards": sorted(shards),
                "fields": list(FIELD_BITS), "tiers": list(TIERS), "facets": facets, "ranges": ranges, "metrics": metrics,
                "permissive": sorted(PERMISSIVE_LICENSES), "stop_words": sorted(STOP_WORDS)}
    files["search/manifest.json"] = _dumps(manifest)
    return files


def build_search(entries: list[ModelEntry]) -> dict[str, str]:
    """Site path -> text of every search file: each model once, at its latest version (yanked ones not at all)."""
    entries = [e for e in entries if e.is_latest]
    records = [search_record(e) for e in entries]
    files = build_index(records)
    if len(records) <= LUNR_MAX_MODELS:
        files["search/index.json"] = _lunr_index(records, [e.card.description for e in entries])
        files["search/docs.json"] = _dumps({"models": records})
    return files
