"""The sharded search index (generator/render/search_index.py) against a full scan of the same records.

2,000 synthetic records (bench/bench_search.py, from scripts/gen_synthetic.py's cards): every word's shard holds
exactly the models a full scan finds, and the browser's engine (search/engine.js, run in Node over the written
files) returns for a query exactly the models a full scan of the records returns.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from modelshelf.generator.render.search_index import (
    CHUNK,
    PERMISSIVE_LICENSES,
    STOP_WORDS,
    _document_terms,
    build_index,
    shard_key,
    tokens,
)

REPO = Path(__file__).resolve().parents[2]
JS = REPO / "site_theme" / "assets" / "javascripts"
QUERIES = ["fraud", "forest", "cla", "agri", "churn gbm", "resnet retail", "apache", "Apache-2.0", "mlp", "spee",
           "health data", "tabular classification", "xgb", "the forest", "sen", "botany", "zzzz-nothing", "ima cnn"]


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    spec = importlib.util.spec_from_file_location("bench_search", REPO / "bench" / "bench_search.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    found = module.synthetic_records(2000, seed=3)
    # Name order, as build_index numbers the models.
    return sorted(found, key=lambda r: (str(r["name"]).lower(), r["id"]))


@pytest.fixture(scope="module")
def files(records: list[dict[str, Any]]) -> dict[str, str]:
    return build_index(records)


@pytest.fixture(scope="module")
def site(files: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("search-site")
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _scan(records: list[dict[str, Any]], query: str) -> set[int] | None:
    """The models a full scan finds: for every word (2+ letters, no stop word unless only those), a term of the
    model that is the word or starts with it (engine.js `expand` without typos)."""
    words = [w for w in tokens(query) if len(w) > 1 and w not in STOP_WORDS] or [w for w in tokens(query) if len(w) > 1]
    if not words:
        return None
    terms = [set(_document_terms(r)) for r in records]
    return {doc for doc, mine in enumerate(terms) if all(any(t.startswith(w) for t in mine) for w in words)}


def test_every_term_is_in_its_shard_with_the_models_a_scan_finds(records: list[dict[str, Any]], files: dict[str, str]) -> None:
    expected: dict[str, list[tuple[int, int]]] = {}
    for doc, record in enumerate(records):
        for term, mask in _document_terms(record).items():
            expected.setdefault(term, []).append((doc, mask))
    manifest = json.loads(files["search/manifest.json"])
    assert manifest["count"] == len(records)
    assert set(manifest["shards"]) == {shard_key(t) for t in expected}
    seen = 0
    for key in manifest["shards"]:
        shard = json.loads(files[f"search/t/{key}.json"])
        for term, deltas, masks in zip(shard["terms"], shard["docs"], shard["masks"]):
            docs, doc = [], 0
            for delta in deltas:
                doc += delta
                docs.append(doc)
            assert list(zip(docs, masks)) == expected[term], term
            assert shard_key(term) == key
            seen += 1
    assert seen == len(expected)


def test_cards_columns_and_manifest_follow_the_records(records: list[dict[str, Any]], files: dict[str, str]) -> None:
    manifest = json.loads(files["search/manifest.json"])
    assert manifest["permissive"] == sorted(PERMISSIVE_LICENSES)  # the one list, carried to the browser
    for doc in (0, 1, CHUNK, len(records) - 1):
        card = json.loads(files[f"search/d/{doc // CHUNK}.json"])[doc % CHUNK]
        assert card[0] == records[doc]["id"]
    task = json.loads(files["search/c/task.json"])
    assert [task["values"][i] for i in task["col"]] == [r["task"] for r in records]
    counts = Counter(r["license"] for r in records)
    assert manifest["facets"]["license"]["top"][0][2] == max(counts.values())
    tags = json.loads(files["search/c/tag.json"])
    assert [sorted(tags["values"][i] for i in row) for row in tags["col"]] == [sorted(set(r["tags"])) for r in records]
    size = json.loads(files["search/c/size.json"])["col"]
    assert size == [r["size"] for r in records]
    accuracy = next(m for m in manifest["metrics"] if m["name"] == "accuracy")
    data = json.loads(files["search/" + accuracy["file"]])
    claims = sorted((doc, m["measured"]) for doc, r in enumerate(records) for m in r["metrics"] if m["name"] == "accuracy")
    assert sorted(zip(data["doc"], data["value"])) == claims


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_browser_engine_returns_what_a_full_scan_returns(records: list[dict[str, Any]], site: Path, tmp_path: Path) -> None:
    # engine.js and load.js as ES modules for Node, fetch() reading the written files.
    js = tmp_path / "js"
    (js / "assets" / "javascripts" / "search").mkdir(parents=True)
    shutil.copy(JS / "load.js", js / "assets" / "javascripts" / "load.js")
    shutil.copy(JS / "search" / "engine.js", js / "assets" / "javascripts" / "search" / "engine.js")
    (js / "package.json").write_text('{"type": "module"}', encoding="utf-8")
    (js / "run.js").write_text(
        'import fs from "node:fs";\n'
        'import { openIndex } from "./assets/javascripts/search/engine.js";\n'
        'globalThis.fetch = async (url) => ({ ok: true, json: async () => JSON.parse(fs.readFileSync(new URL(url), "utf8")) });\n'
        'const [base, queries] = [process.argv[2], JSON.parse(process.argv[3])];\n'
        'const index = await openIndex(base);\n'
        'const out = {};\n'
        'for (const q of queries) { const r = await index.search(q); out[q] = r ? Array.from(r.docs) : null; }\n'
        'console.log(JSON.stringify(out));\n', encoding="utf-8")
    base = (site / "search").as_uri() + "/"
    result = subprocess.run(["node", str(js / "run.js"), base, json.dumps(QUERIES + ["digts", "agricultre"])],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    for query in QUERIES:
        expected = _scan(records, query)
        got = found[query]
        assert (None if got is None else set(got)) == expected, query
        assert got is None or len(got) == len(set(got))
    assert found["forest"], "a common word finds models"
    assert found["zzzz-nothing"] == []
    # Name hits first: the best "forest" result has the word in its name.
    assert "forest" in records[found["forest"][0]]["name"].lower()
    # One typo is forgiven when no word starts so ("agricultre" -> agriculture).
    assert set(found["agricultre"]) == _scan(records, "agriculture")
