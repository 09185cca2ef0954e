"""Model insight: what the graph is made of, which features matter, where a classifier errs.

The numbers (operator histogram, parameter count, permutation importance, confusion counts) are
computed by the evaluation stage and cached; `insight_view` turns them into what the page shows,
with the card's feature names and labels, drawing the charts with `charts`.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from markupsafe import Markup

from modelshelf.catalog.model import Card

from modelshelf.generator.evaluate import charts

log = logging.getLogger(__name__)

MAX_IMPORTANCE_FEATURES = 256  # wider inputs (images, embeddings) get no importance chart
SHOWN_FEATURES = 15
SHOWN_OPERATORS = 20
MAX_CONFUSION_CLASSES = 30


# ---------------------------------------------------------------- graph summary

def _op_name(node: onnx.NodeProto) -> str:
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.op_type} ({node.domain})"


def _walk(graph: onnx.GraphProto, ops: Counter, counts: dict[str, int]) -> None:
    for init in graph.initializer:
        counts["params"] += int(np.prod(init.dims)) if init.dims else 1
    for sparse in graph.sparse_initializer:
        counts["params"] += int(np.prod(sparse.values.dims)) if sparse.values.dims else 0
    for node in graph.node:
        ops[_op_name(node)] += 1
        counts["nodes"] += 1
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                _walk(attr.g, ops, counts)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    _walk(g, ops, counts)
            elif attr.type == onnx.AttributeProto.TENSOR:
                counts["params"] += int(np.prod(attr.t.dims)) if attr.t.dims else 1
            elif attr.type == onnx.AttributeProto.FLOATS and node.domain == "ai.onnx.ml":
                # Classic ML operators (trees, linear models, scalers) keep their learned values in float attributes.
                counts["params"] += len(attr.floats)


def graph_summary(path: Path) -> dict[str, Any]:
    """Operator histogram (most used first), node and parameter counts, opsets by domain. Reads no external data."""
    model = onnx.load(str(path), load_external_data=False)
    ops: Counter = Counter()
    counts = {"params": 0, "nodes": 0}
    _walk(model.graph, ops, counts)
    return {
        "operators": sorted(([name, n] for name, n in ops.items()), key=lambda kv: (-kv[1], kv[0])),
        "nodes": counts["nodes"], "params": counts["params"], "ir_version": model.ir_version,
        "opsets": sorted([o.domain or "ai.onnx", o.version] for o in model.opset_import),
    }


# ---------------------------------------------------------------- permutation importance and confusion counts

def permutation_importance(score: Callable[[np.ndarray], np.ndarray], X: np.ndarray, *, higher_is_better: bool,
                           repeats: int, seed: int) -> tuple[float, list[tuple[float, float]]]:
    """(base score, [(mean drop, std of drop) per feature]) over `repeats` seeded shuffles of each column.

    `score` takes a stack of K row-blocks (K*N rows) and returns one score per block, so all
    shuffles of a feature cost one model run. A drop is how much worse the main metric gets.
    """
    n, width = X.shape
    base = float(score(X)[0])
    rng = np.random.default_rng(seed)
    out: list[tuple[float, float]] = []
    for j in range(width):
        blocks = np.concatenate([X] * repeats, axis=0)
        for k in range(repeats):
            blocks[k * n:(k + 1) * n, j] = X[rng.permutation(n), j]
        scores = np.asarray(score(blocks), dtype=np.float64)
        drops = base - scores if higher_is_better else scores - base
        out.append((float(drops.mean()), float(drops.std())))
    return base, out


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> list[list[int]]:
    m = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true, dtype=np.int64).reshape(-1), np.asarray(y_pred, dtype=np.int64).reshape(-1)), 1)
    return m.tolist()


# ---------------------------------------------------------------- what the page shows

@dataclass(frozen=True)
class InsightView:
    """entry.insight, printed by sections/insight.md.j2: every string and chart is ready."""

    facts: tuple[tuple[str, str], ...] = ()  # (term, value) of the graph summary
    io_text: str = ""
    operators_svg: Markup | None = None
    operators_note: str = ""
    importance_svg: Markup | None = None
    importance_note: str = ""
    confusion_svg: Markup | None = None
    confusion_note: str = ""


def _count(n: int) -> str:
    return f"{n:,}"


def _feature_names(card: Card, width: int) -> list[str]:
    given = list(card.inputs[0].features) if card.inputs else []
    return [given[i] if i < len(given) else f"feature {i}" for i in range(width)]


def _label_names(card: Card, classes: int) -> list[str]:
    return [card.labels[i] if i < len(card.labels) else str(i) for i in range(classes)]


def insight_view(card: Card, *, size_text: str, io_text: str, graph: dict[str, Any] | None,
                 importance: dict[str, Any] | None, confusion: dict[str, Any] | None, data_label: str | None) -> InsightView:
    view: dict[str, Any] = {}  # InsightView's fields
    if graph:
        opsets = ", ".join(f"{d} {v}" for d, v in graph["opsets"])
        view["facts"] = (("Parameters", _count(graph["params"])), ("Nodes", _count(graph["nodes"])),
                         ("File size", size_text), ("Opsets", opsets), ("IR version", str(graph["ir_version"])))
        view["io_text"] = io_text
        ops = graph["operators"]
        shown = ops[:SHOWN_OPERATORS]
        view["operators_svg"] = Markup(charts.bar_chart([(name, n) for name, n in shown], title="Operators in the graph",
                                                        value_text=lambda v: f"{v:.0f}"))
        view["operators_note"] = (f"{len(ops)} operator types, {graph['nodes']} nodes"
                                  + (f"; the {SHOWN_OPERATORS} most used are shown" if len(ops) > SHOWN_OPERATORS else ""))
    if importance:
        names = _feature_names(card, len(importance["features"]))
        ranked = sorted(zip(names, importance["features"]), key=lambda nf: -nf[1][0])
        shown = ranked[:SHOWN_FEATURES]
        metric = importance["metric"]
        view["importance_svg"] = Markup(charts.bar_chart(
            [(name, mean) for name, (mean, _) in shown], title=f"Permutation feature importance (drop in {metric})",
            value_text=lambda v: f"{v:+.3f}"))
        view["importance_note"] = (f"How much {metric} drops when one feature's column is shuffled, averaged over "
                                   f"{importance['repeats']} seeded shuffles (seed {importance['seed']}) on {data_label}; "
                                   f"{metric} without shuffling: {importance['base']:.4f}."
                                   + (f" The {SHOWN_FEATURES} most important of {len(ranked)} features are shown."
                                      if len(ranked) > SHOWN_FEATURES else ""))
    if confusion:
        matrix = confusion["matrix"]
        labels = _label_names(card, len(matrix))
        view["confusion_svg"] = Markup(charts.confusion_chart(matrix, labels, title="Confusion matrix"))
        wrong = sum(v for i, row in enumerate(matrix) for j, v in enumerate(row) if i != j)
        view["confusion_note"] = (f"Rows are the true classes, columns the predicted ones, on {data_label}; "
                                  f"{wrong} of {sum(map(sum, matrix))} cases are off the diagonal.")
    return InsightView(**view)
