"""The evaluation split of a registry dataset, for recipes and the evaluator alike.

A recipe that trains on a dataset of the registry (`generator/evaluate/datasets.py`) takes its
rows from here, so it trains on exactly the rows the build does not evaluate:

    from modelshelf.generator.evaluate.splits import train_test
    X_train, X_test, y_train, y_test = train_test("sklearn/iris", test_size=0.3, seed=0, stratify=True)

with the same numbers as the card's `evaluation.split`. The evaluator (`datasets.load_builtin`)
calls `split_rows` with the card's split, so `X_test` is, row for row, what it evaluates (before
the card's preprocessing and reshaping). Raw values: float64 features, the dataset's targets.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


class RegistryMismatch(ValueError):
    """Raised by `load_rows` when a registry loader gives another number of rows than its entry declares."""


def load_rows(name: str) -> tuple[str, np.ndarray, np.ndarray]:
    """(canonical name, X, y): every row of a registry dataset, checked against the registry's row count."""
    from modelshelf.generator.evaluate.datasets import BUILTINS, builtin_name  # not at import: datasets imports this module

    canonical = builtin_name(name)
    if canonical is None:
        raise KeyError(f"{name!r} is not a dataset of the registry (one of {', '.join(BUILTINS)})")
    entry = BUILTINS[canonical]
    X, y = entry.load()
    if len(X) != entry.rows or len(y) != entry.rows:
        raise RegistryMismatch(f"{canonical} gave {len(y)} rows but the registry declares {entry.rows}; "
                               "the installed package's copy differs from the reviewed one")
    return canonical, X, y


def split_rows(X: np.ndarray, y: np.ndarray, test_size: float, seed: int, stratify: bool
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The registry's split rule: (X_train, X_test, y_train, y_test), scikit-learn's train_test_split."""
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed,
                                                        stratify=y if stratify else None)
    return X_train, X_test, y_train, y_test


def train_test(name: str, *, test_size: float, seed: int = 0, stratify: bool = False
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, X_test, y_train, y_test) of a registry dataset; the test part is what the build evaluates
    for a card with `evaluation: {dataset: NAME, split: {test_size: TEST_SIZE, seed: SEED, stratify: STRATIFY}}`."""
    _, X, y = load_rows(name)
    return split_rows(X, y, test_size, seed, stratify)


SPLIT_FILE = "evaluation_split.json"


def split_indices(name: str, *, test_size: float, seed: int = 0, stratify: bool = False) -> tuple[list[int], list[int]]:
    """(train rows, test rows) of a registry dataset by row number: `split_rows` applied to the row numbers, so
    X[test] is, row for row, the X_test the evaluator uses."""
    _, X, y = load_rows(name)
    train, test, _, _ = split_rows(np.arange(len(X)), y, test_size, seed, stratify)
    return [int(i) for i in train], [int(i) for i in test]


def split_file(dataset: str, *, test_size: float, seed: int, stratify: bool) -> bytes:
    """The evaluation_split.json the build puts beside a recipe whose card evaluates on `dataset` (recipes.py)."""
    canonical, X, _ = load_rows(dataset)
    train, test = split_indices(canonical, test_size=test_size, seed=seed, stratify=stratify)
    doc: dict[str, Any] = {
        "about": "Given to the recipe by the build: train on the `train` rows only. The build evaluates the "
                 "published model on the `test` rows (the card's evaluation.split).",
        "dataset": canonical, "rows": len(X), "test_size": test_size, "seed": seed, "stratify": stratify,
        "train": train, "test": test,
    }
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode()
