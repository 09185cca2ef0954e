"""The documented metrics, written with numpy only, so the numbers on a page do not depend on a library's defaults.

Each metric is a plain function of numpy arrays. `METRICS` says what each one needs from the
model's outputs (predicted labels, class scores, class probabilities, values, or a reference)
and whether a higher value is better (which permutation importance needs to read a drop).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

log = logging.getLogger(__name__)

# The smallest probability log_loss takes the log of (as sklearn's log_loss does for float64 input).
_EPS = float(np.finfo(np.float64).eps)


class MetricError(ValueError):
    """Raised by a metric when the model's outputs or the targets do not fit it (e.g. f1 on three classes)."""


def _labels(y: np.ndarray) -> np.ndarray:
    return np.asarray(y).reshape(-1)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = _labels(y_true), _labels(y_pred)
    return float(np.mean(y_true == y_pred))


def _binary_counts(y_true: np.ndarray, y_pred: np.ndarray, name: str) -> tuple[int, int, int]:
    y_true, y_pred = _labels(y_true), _labels(y_pred)
    classes = np.unique(np.concatenate([y_true, y_pred]))
    if not set(classes.tolist()) <= {0, 1}:
        raise MetricError(f"{name} is for two classes (0 and 1, with 1 positive); the targets and predictions hold "
                          f"{len(classes)} classes")
    tp = int(np.sum((y_true == 1) & (y_pred == 1)))
    fp = int(np.sum((y_true != 1) & (y_pred == 1)))
    fn = int(np.sum((y_true == 1) & (y_pred != 1)))
    return tp, fp, fn


def _ratio(num: float, den: float) -> float:
    # sklearn's zero_division default: an undefined ratio counts as 0.
    return float(num / den) if den else 0.0


def precision(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    tp, fp, _ = _binary_counts(y_true, y_pred, "precision")
    return _ratio(tp, tp + fp)


def recall(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    tp, _, fn = _binary_counts(y_true, y_pred, "recall")
    return _ratio(tp, tp + fn)


def f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    tp, fp, fn = _binary_counts(y_true, y_pred, "f1")
    return _ratio(2 * tp, 2 * tp + fp + fn)


def f1_macro(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted mean of the per-class F1 over every class in the targets or the predictions (as sklearn)."""
    y_true, y_pred = _labels(y_true), _labels(y_pred)
    scores = []
    for c in np.unique(np.concatenate([y_true, y_pred])):
        tp = np.sum((y_true == c) & (y_pred == c))
        fp = np.sum((y_true != c) & (y_pred == c))
        fn = np.sum((y_true == c) & (y_pred != c))
        scores.append(_ratio(2 * tp, 2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their average rank."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    boundaries = np.flatnonzero(np.diff(sorted_x)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(x)]])
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + 1 + e) / 2.0
    return ranks


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Binary ROC AUC from the score of class 1 (the Mann-Whitney U statistic, ties counted half)."""
    y_true = _labels(y_true)
    score = np.asarray(score, dtype=np.float64).reshape(-1)
    classes = set(np.unique(y_true).tolist())
    if not classes <= {0, 1}:
        raise MetricError(f"roc_auc is for two classes (0 and 1); the targets hold {len(classes)} classes")
    n_pos = int(np.sum(y_true == 1))
    n_neg = len(y_true) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise MetricError("roc_auc needs both classes among the targets; only one is present")
    ranks = _average_ranks(score)
    return float((ranks[y_true == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Mean negative log probability of the true class; probabilities are clipped to [eps, 1]."""
    y_true = _labels(y_true).astype(np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2:
        raise MetricError("log_loss needs one row of class probabilities per case")
    if y_true.min() < 0 or y_true.max() >= proba.shape[1]:
        raise MetricError(f"log_loss: a target class is outside the {proba.shape[1]} probability columns")
    picked = np.clip(proba[np.arange(len(y_true)), y_true], _EPS, 1.0)
    return float(-np.mean(np.log(picked)))


def top5_accuracy(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Share of cases whose true class is among the five highest scores (ties broken by the lower class)."""
    y_true = _labels(y_true).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise MetricError("top5_accuracy needs one row of class scores per case")
    k = min(5, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == y_true[:, None], axis=1)))


def _values(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        raise MetricError(f"the model gives {p.size} values for {t.size} targets")
    return t, p


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    t, p = _values(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    t, p = _values(y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.sqrt(mse(y_true, y_pred)))


def r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    t, p = _values(y_true, y_pred)
    ss_res = float(np.sum((t - p) ** 2))
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else 0.0
    return 1.0 - ss_res / ss_tot


def cosine_agreement(reference: np.ndarray, output: np.ndarray) -> float:
    """Mean cosine similarity of each output row with the same row of the reference."""
    ref = np.asarray(reference, dtype=np.float64)
    out = np.asarray(output, dtype=np.float64)
    ref = ref.reshape(len(ref), -1)
    out = out.reshape(len(out), -1)
    if ref.shape != out.shape:
        raise MetricError(f"the model's output rows {list(out.shape)} do not match the reference {list(ref.shape)}")
    num = np.sum(ref * out, axis=1)
    den = np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1)
    return float(np.mean(np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)))


@dataclass(frozen=True)
class MetricInfo:
    """`needs`: what the metric is computed from; "labels", "score1" (score of class 1), "scores",
    "proba", "values" or "reference"."""

    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    needs: str
    higher_is_better: bool
    title: str


METRICS: dict[str, MetricInfo] = {m.name: m for m in [
    MetricInfo("accuracy", accuracy, "labels", True, "Accuracy"),
    MetricInfo("f1", f1, "labels", True, "F1 (class 1 positive)"),
    MetricInfo("f1_macro", f1_macro, "labels", True, "F1, macro average"),
    MetricInfo("precision", precision, "labels", True, "Precision (class 1 positive)"),
    MetricInfo("recall", recall, "labels", True, "Recall (class 1 positive)"),
    MetricInfo("roc_auc", roc_auc, "score1", True, "ROC AUC"),
    MetricInfo("log_loss", log_loss, "proba", False, "Log loss"),
    MetricInfo("top5_accuracy", top5_accuracy, "scores", True, "Top-5 accuracy"),
    MetricInfo("r2", r2, "values", True, "R²"),
    MetricInfo("mae", mae, "values", False, "Mean absolute error"),
    MetricInfo("mse", mse, "values", False, "Mean squared error"),
    MetricInfo("rmse", rmse, "values", False, "Root mean squared error"),
    MetricInfo("cosine_agreement", cosine_agreement, "reference", True, "Cosine agreement with the reference"),
]}

CLASSIFICATION_NEEDS = {"labels", "score1", "scores", "proba"}


def softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def looks_like_probabilities(x: np.ndarray, tol: float = 1e-3) -> bool:
    x = np.asarray(x, dtype=np.float64)
    return x.ndim == 2 and bool(np.all(x >= -tol)) and bool(np.all(np.abs(x.sum(axis=1) - 1.0) <= tol))
