"""The rules behind metric tiers, the dataset registry, the shared split helper and the evaluation cache's key and schema."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelshelf.catalog.model import Card, Metric, Tensor
from modelshelf.generator.evaluate import cache, splits
from modelshelf.generator.evaluate.datasets import BUILTINS, Split, load_builtin, registry_markdown
from modelshelf.generator.evaluate.tiers import Evaluated, mismatch, split_word, stated_rows

REPO = Path(__file__).resolve().parents[2]
IRIS = Evaluated("registry", "sklearn/iris", "test", 45, "sklearn/iris (test, 45 rows)")
SCRIPT = Evaluated("script", "eval.py", "", 41, "the data of eval.py (41 rows)")


@pytest.mark.parametrize(("split", "rows"), [
    ("all 41", 41), ("all 1,733 frames, threshold 0.5", 1733), ("all 200, against sentence-transformers in PyTorch", 200),
    ("validation, 50,000 images", 50000), ("test", None), (None, None), ("test (30%, seed 0)", 0), ("threshold 0.5", None),
    ("30% held out", None)])
def test_a_whole_number_in_a_split_is_its_row_count(split: str | None, rows: int | None) -> None:
    assert stated_rows(split) == rows


def test_the_first_word_of_a_split_names_it() -> None:
    assert [split_word(s) for s in ("test", "Test (45 rows)", "test, seed 0", "all 41", "", None)] == \
        ["test", "test", "test", "all", "", ""]


@pytest.mark.parametrize(("metric", "done", "expected"), [
    (Metric("accuracy", 0.97, "sklearn/iris", "test"), IRIS, None),
    (Metric("accuracy", 0.97, "sklearn/iris", "test, 45 rows"), IRIS, None),
    (Metric("accuracy", 0.97, "sklearn/breast_cancer", "test"),
     Evaluated("registry", "sklearn/breast-cancer", "test", 171, "x"), None),  # an alias names the same loader
    (Metric("accuracy", 0.97, "sklearn/wine", "test"), IRIS, "dataset"),
    (Metric("accuracy", 0.97, "imagenet-1k", "test"), IRIS, "dataset"),
    (Metric("accuracy", 0.97, "sklearn/iris", "train"), IRIS, "split"),
    (Metric("accuracy", 0.97, "sklearn/iris", "test, 100 rows"), IRIS, "split"),
    (Metric("accuracy", 0.97, "sklearn/iris", None), IRIS, ""),
    (Metric("accuracy", 1.0, "modelshelf/magika-smoke-files-41", "all 41"), SCRIPT, None),
    (Metric("accuracy", 1.0, "acme/files", None), SCRIPT, None),
    (Metric("accuracy", 0.991, "imagenet-1k", "validation, 50,000 images"), SCRIPT, "split"),
    (Metric("accuracy", 1.0, "sklearn/iris", "test"), SCRIPT, "dataset"),
])
def test_a_claim_must_describe_the_evaluated_data(metric: Metric, done: Evaluated, expected: str | None) -> None:
    found = mismatch(metric, done)
    assert (found[0] if found else None) == expected, found


def test_every_registry_loader_names_its_source_licence_rows_and_split_rule() -> None:
    for name, entry in BUILTINS.items():
        canonical, X, y = splits.load_rows(name)
        assert canonical == name and len(X) == len(y) == entry.rows, name
        assert entry.source and entry.licence and entry.split_rule, name


def test_the_registry_reference_page_is_in_sync() -> None:
    """docs/reference/datasets.md is generated from the registry; regenerate it with the command it names."""
    page = REPO / "docs" / "reference" / "datasets.md"
    assert page.read_text(encoding="utf-8") == registry_markdown(), \
        "run .venv/bin/python -m modelshelf.generator.evaluate.datasets > docs/reference/datasets.md"


def test_the_split_helper_gives_recipes_the_rows_the_build_evaluates() -> None:
    card = Card(id="a/b", name="b", version="1.0.0", summary="", description="", task="tabular-classification",
                license="MIT", authors=(), framework="scikit-learn", source=None,
                inputs=(Tensor("X", "float64", (None, 4)),), outputs=(), folder=Path("."), card_path=Path("card.yaml"))
    evaluated = load_builtin(card, "sklearn/iris", Split(0.3, 0, True))
    X_train, X_test, y_train, y_test = splits.train_test("sklearn/iris", test_size=0.3, seed=0, stratify=True)
    assert np.array_equal(evaluated.inputs["X"], X_test) and np.array_equal(evaluated.target, y_test)
    assert len(X_train) + len(X_test) == 150
    # No training row is an evaluation row (iris has one duplicate pair, so compare positions, not values).
    _, X, _ = splits.load_rows("sklearn/iris")
    index = np.arange(len(X))
    train_idx, test_idx, _, _ = splits.split_rows(index, X[:, 0], 0.3, 0, False)
    assert not set(train_idx) & set(test_idx)


def test_the_cache_key_covers_the_evaluation_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = {p.name for p in cache.code_files()}
    assert {"stage.py", "metrics.py", "datasets.py", "tiers.py", "cache.py", "processing.py"} <= names
    files = [tmp_path / "metrics.py", tmp_path / "processing.py"]
    for f in files:
        f.write_text("x = 1\n")
    monkeypatch.setattr(cache, "code_files", lambda: files)
    before = cache.code_hash()
    files[0].write_text("x = 2\n")
    assert cache.code_hash() != before


def _entry(key: str, code: str) -> dict:
    return {"code": code, "key": key, "onnx_sha256": "0" * 64, "graph": None, "data_label": "sklearn/iris (test, 45 rows)",
            "rows": 45, "split_detail": "", "metrics": {"accuracy": 0.97}, "importance": None, "confusion": None,
            "latency": {"median_ms": 0.1, "p95_ms": 0.2, "runs": 10, "input_from": "a test row"},
            "data": {"origin": "registry", "dataset": "sklearn/iris", "split": "test", "rows": 45, "sha256": ""}}


def test_a_cache_entry_must_pass_its_schema() -> None:
    key, code = "a" * 64, "b" * 64
    assert cache.entry_problem(_entry(key, code), key, code) is None
    assert cache.entry_problem(_entry(key, code), key, "c" * 64) == "it was computed by other evaluation code"
    assert cache.entry_problem(_entry(key, code), "c" * 64, code) == "it is stored under another key"
    broken = _entry(key, code)
    del broken["latency"]["runs"]
    assert cache.entry_problem(broken, key, code) == "$.latency: 'runs' is a required property"
    no_data = _entry(key, code)
    del no_data["data"]
    assert cache.entry_problem(no_data, key, code) == "$: 'data' is a required property"
    assert cache.entry_problem([], key, code) == "$: [] is not of type 'object'"
