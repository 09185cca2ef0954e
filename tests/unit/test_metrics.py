"""modelshelf.generator.evaluate.metrics against sklearn.metrics on random data, and the errors a metric gives when it does not fit."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from modelshelf.generator.evaluate import metrics as m

RNG = np.random.default_rng(12345)


def _binary(n: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = RNG.integers(0, 2, n)
    score = np.clip(y * 0.3 + RNG.random(n) * 0.7, 0, 1)
    score[::7] = 0.5  # ties
    return y, (score > 0.5).astype(int), score


def _multiclass(n: int = 400, k: int = 7) -> tuple[np.ndarray, np.ndarray]:
    y = RNG.integers(0, k, n)
    logits = RNG.normal(size=(n, k))
    logits[np.arange(n), y] += 1.0
    return y, logits


@pytest.mark.parametrize("ours, theirs", [
    (m.accuracy, skm.accuracy_score),
    (m.f1, skm.f1_score),
    (m.precision, skm.precision_score),
    (m.recall, skm.recall_score),
    (m.f1_macro, lambda t, p: skm.f1_score(t, p, average="macro")),
])
def test_label_metrics_match_sklearn_binary(ours, theirs) -> None:
    y, pred, _ = _binary()
    assert ours(y, pred) == pytest.approx(theirs(y, pred), abs=1e-12)


def test_label_metrics_match_sklearn_multiclass() -> None:
    y, logits = _multiclass()
    pred = logits.argmax(axis=1)
    pred[:5] = 9  # a class that never occurs in the targets counts in the macro average, as in sklearn
    assert m.accuracy(y, pred) == pytest.approx(skm.accuracy_score(y, pred))
    assert m.f1_macro(y, pred) == pytest.approx(skm.f1_score(y, pred, average="macro"))


def test_roc_auc_matches_sklearn_with_ties() -> None:
    y, _, score = _binary()
    assert m.roc_auc(y, score) == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
    rounded = np.round(score, 1)  # many ties
    assert m.roc_auc(y, rounded) == pytest.approx(skm.roc_auc_score(y, rounded), abs=1e-12)


def test_log_loss_and_top5_match_sklearn() -> None:
    y, logits = _multiclass()
    proba = m.softmax(logits)
    assert m.log_loss(y, proba) == pytest.approx(skm.log_loss(y, proba, labels=range(7)), rel=1e-9)
    assert m.top5_accuracy(y, logits) == pytest.approx(skm.top_k_accuracy_score(y, logits, k=5, labels=range(7)))
    assert m.looks_like_probabilities(proba) and not m.looks_like_probabilities(logits)


@pytest.mark.parametrize("ours, theirs", [
    (m.r2, skm.r2_score),
    (m.mae, skm.mean_absolute_error),
    (m.mse, skm.mean_squared_error),
    (m.rmse, lambda t, p: np.sqrt(skm.mean_squared_error(t, p))),
])
def test_regression_metrics_match_sklearn(ours, theirs) -> None:
    t = RNG.normal(150, 50, 200)
    p = t + RNG.normal(0, 30, 200)
    assert ours(t, p.astype(np.float32).reshape(-1, 1)) == pytest.approx(theirs(t, p.astype(np.float32)), rel=1e-9)


def test_cosine_agreement_is_the_mean_row_cosine() -> None:
    ref = RNG.normal(size=(50, 16))
    out = ref + RNG.normal(scale=0.3, size=ref.shape)
    expected = np.mean(np.diag(skm.pairwise.cosine_similarity(ref, out)))
    assert m.cosine_agreement(ref, out) == pytest.approx(expected, rel=1e-12)
    assert m.cosine_agreement(ref, ref) == pytest.approx(1.0)


@pytest.mark.parametrize("metric", [m.f1, m.precision, m.recall])
def test_binary_metrics_refuse_three_classes(metric) -> None:
    with pytest.raises(m.MetricError, match="is for two classes"):
        metric(np.array([0, 1, 2]), np.array([0, 1, 2]))


def test_roc_auc_needs_both_classes() -> None:
    with pytest.raises(m.MetricError, match="both classes"):
        m.roc_auc(np.array([1, 1, 1]), np.array([0.2, 0.4, 0.9]))
