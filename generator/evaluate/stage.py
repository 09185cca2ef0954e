"""Recompute every model's metrics on its ONNX file, measure its latency, and gather model insight.

For each model (and each variant) the build loads the card's evaluation data (a built-in
dataset or the output of its evaluation script), runs the ONNX file with onnxruntime on it, computes
the card's `evaluation.metrics`, the permutation feature importance of tabular models, the
confusion matrix of classifiers and the latency of one inference, and compares every claimed
metric with the measured one: a gap beyond the tolerance is a problem at the claim's line.

Model files are untrusted, so onnxruntime only ever runs in a child process
(`python -m modelshelf.generator.evaluate.stage WORKDIR`) that `generator.sandbox` starts under an
address-space and a wall-clock limit, as it does the safety stage's smoke run. Results are cached in
`<cache>/evaluations/<key>.json`, the key covering the file's SHA-256, the evaluation spec, the
data, the card fields that change the numbers, the tool versions and a hash of the evaluation
code (`cache.py`), so a build with nothing changed starts no child at all; an entry that fails
its schema is recomputed. Each claim gets a tier (`tiers.py`): verified, reproduced or claimed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelshelf.catalog.loader import Document
from modelshelf.catalog.model import Card, Evaluation
from modelshelf.catalog.problems import CardReporter, Problem, closest
from modelshelf.catalog.runtime.dtypes import feed_dtype

from modelshelf.generator.evaluate.cache import code_hash, entry_problem
from modelshelf.generator.evaluate.datasets import (ALIASES, BUILTINS, EvalData, SpecProblem, Split, batch_axis, builtin_name,
                                                    load_builtin, load_script_data, run_script, script_key)
from modelshelf.generator import sandbox
from modelshelf.generator.errors import CatalogInvalid
from modelshelf.generator.evaluate.metrics import CLASSIFICATION_NEEDS, METRICS, MetricError, looks_like_probabilities, softmax
from modelshelf.generator.evaluate.tiers import CLAIMED, REPRODUCED, TIER_TEXT, VERIFIED, Evaluated, mismatch

if TYPE_CHECKING:  # not imported at run time: the child process stays light
    from modelshelf.generator.enrich.onnx_info import Signature
    from modelshelf.generator.enrich.stage import ModelEntry

log = logging.getLogger(__name__)

DEFAULT_TOLERANCE = 0.005
IMPORTANCE_REPEATS = 5
BATCH_ROWS = 256
_MEMORY_WORDS = ("bad_alloc", "out of memory", "memoryerror", "failed to allocate", "cannot allocate")


@dataclass(frozen=True)
class EvalLimits:
    """What evaluating one file may cost: address space and wall-clock time of the child process."""

    memory_mb: int = 4096
    seconds: float = 900.0


# ---------------------------------------------------------------- what the page, search and catalog.json read

@dataclass(frozen=True)
class MetricRow:
    name: str
    title: str
    claimed: str  # "" when not claimed
    verified: str  # "" when not measured
    status: str  # "verified" (claim recomputed, within tolerance), "measured" (not claimed), "unverified" (not recomputed)
    where: str  # dataset and split
    rows: str
    delta: str = ""
    claim: int | None = None  # index into card.metrics, for claimed rows
    tier: str = CLAIMED  # verified / reproduced / claimed (tiers.py)

    @property
    def tier_label(self) -> str:
        return TIER_TEXT[self.tier][0]

    @property
    def tier_title(self) -> str:
        return TIER_TEXT[self.tier][1]


@dataclass(frozen=True)
class VariantRow:
    name: str
    description: str
    size: str
    latency: str
    metrics: tuple[str, ...]  # one cell per column of EvaluationResult.variant_metrics


@dataclass(frozen=True)
class EvaluationResult:
    """entry.evaluation: measured metrics, the table of claims against them, and the variants."""

    metrics: dict[str, float]  # verified values of the main file, by metric name
    data_label: str  # e.g. "sklearn/iris (test, 45 rows)"; "" without an evaluation
    split_detail: str
    rows: int
    tolerance: float
    table: tuple[MetricRow, ...]
    cached: bool
    note: str = ""  # why nothing was verified, when nothing was
    variant_metrics: tuple[str, ...] = ()
    variants: tuple[VariantRow, ...] = ()
    variant_results: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {"metrics", "latency", "size", "sha256"}
    origin: str = ""  # "registry", "script", or "" when nothing was evaluated
    data_sha256: str = ""  # SHA-256 of the script's eval.npz (origin "script")
    supplied_by: tuple[str, ...] = ()  # who supplied script data: the names of the card's authors

    def claim_tier(self, index: int) -> str:
        """The tier of card.metrics[index]: verified, reproduced or claimed (see tiers.py)."""
        return next((r.tier for r in self.table if r.claim == index), CLAIMED)

    def claim_verified(self, index: int) -> bool:
        """Whether card.metrics[index] is `verified`: recomputed on registry data, on the dataset and split it names."""
        return self.claim_tier(index) == VERIFIED

    @property
    def measured_tier(self) -> str:
        """The tier of what this evaluation measured (verified for registry data, reproduced for a script's)."""
        return {"registry": VERIFIED, "script": REPRODUCED}.get(self.origin, CLAIMED)

    @property
    def supplied_by_text(self) -> str:
        return "; ".join(self.supplied_by)

    def data_summary(self) -> dict[str, Any] | None:
        """What was evaluated: registry data by name and split, script data by SHA-256 and rows (and who supplied it)."""
        if not self.origin:
            return None
        if self.origin == "script":
            return {"origin": "script", "rows": self.rows, "sha256": self.data_sha256,
                    "supplied_by": "the card's authors", "authors": list(self.supplied_by)}
        return {"origin": "registry", "rows": self.rows, "label": self.data_label}

    def summary(self) -> dict[str, Any]:
        """The JSON form for catalog.json."""
        return {"data": self.data_label, "split": self.split_detail, "rows": self.rows, "tolerance": self.tolerance,
                "metrics": {k: round(v, 6) for k, v in self.metrics.items()},
                "tiers": {k: self.measured_tier for k in self.metrics},
                "claims": [{"name": r.name, "tier": r.tier,
                            "recomputed": round(self.metrics[r.name], 6) if r.tier != CLAIMED else None}
                           for r in self.table if r.claim is not None],  # in card order
                "claims_verified": [r.tier == VERIFIED for r in self.table if r.claim is not None],  # in card order
                "evaluated_data": self.data_summary(),
                "variants": self.variant_results}


def _fmt(value: float, tolerance: float = DEFAULT_TOLERANCE) -> str:
    """Enough decimals that a value copied from a message passes at the card's tolerance."""
    if tolerance >= 1e-4:
        digits = 4
    elif tolerance > 0:
        digits = min(10, math.ceil(-math.log10(tolerance)) + 1)
    else:
        digits = 6
    return f"{value:.{digits}f}"


# ---------------------------------------------------------------- the spec

@dataclass(frozen=True)
class Spec:
    dataset: str | None
    script: str | None
    split: Split
    output: str | None
    metrics: tuple[str, ...]
    tolerance: float
    card: Evaluation  # the card's block as given


def _spec(card: Card) -> Spec | None:
    given = card.evaluation
    if given is None:
        return None
    # catalog/validate.py has checked the rest: dataset or script (not both), the script's path, the output's name.
    dataset, script = given.dataset, given.script
    if dataset and builtin_name(dataset) is None:
        guess = closest(dataset, list(BUILTINS) + list(ALIASES))
        raise SpecProblem(("evaluation", "dataset"), f"{dataset!r} is not a built-in evaluation dataset",
                          f"did you mean {guess!r}?" if guess else "use one of " + ", ".join(BUILTINS) + ", or evaluation.script")
    return Spec(dataset, script, Split.from_spec(given.split), given.output, given.metrics,
                float(given.tolerance if given.tolerance is not None else DEFAULT_TOLERANCE), given)


# ---------------------------------------------------------------- child side: run the model, score it

class _Outputs:
    """The model's outputs on some rows, read the ways metrics need them."""

    def __init__(self, outs: dict[str, np.ndarray], plan: dict[str, Any], target: np.ndarray | None,
                 reference: np.ndarray | None) -> None:
        self.outs = outs
        self.plan = plan
        self.name = plan["output"] or plan["outputs"][0]
        self.main = outs[self.name]
        self.target = target
        self.reference_rows = reference

    def _rows(self) -> int:
        return len(self.target) if self.target is not None else len(self.main)

    def class_target(self) -> np.ndarray:
        t = np.asarray(self.target).reshape(-1)
        if t.dtype.kind == "f":
            if not np.all(np.equal(np.mod(t, 1), 0)):
                raise MetricError("needs class numbers as targets, but the targets are not whole numbers")
            t = t.astype(np.int64)
        elif t.dtype.kind not in "iub":
            raise MetricError(f"needs class numbers as targets, but the targets are {t.dtype}")
        return t

    def labels(self) -> np.ndarray:
        m = self.main
        if m.dtype.kind in "iub" and m.size == self._rows():
            return m.reshape(-1).astype(np.int64)
        if m.dtype.kind == "f" and m.ndim == 2 and m.shape[1] > 1:
            return np.argmax(m, axis=1)
        if m.dtype.kind == "f" and m.size == self._rows():
            return (m.reshape(-1) >= self.plan["threshold"]).astype(np.int64)
        raise MetricError(f"cannot read class numbers from output {self.name} ({m.dtype}, shape {list(m.shape)})")

    def scores(self) -> np.ndarray:
        m = self.main
        if m.dtype.kind == "f" and m.ndim == 2 and m.shape[1] > 1:
            return m
        if m.dtype.kind == "f" and m.size == self._rows():
            p = m.reshape(-1).astype(np.float64)
            return np.stack([1.0 - p, p], axis=1)
        candidates = [n for n in self.plan["outputs"] if n != self.name and self.outs[n].dtype.kind == "f"
                      and self.outs[n].ndim == 2 and len(self.outs[n]) == self._rows()]
        preferred = [n for n in candidates if self.plan["kinds"].get(n) == "scores"]
        if preferred or candidates:
            return self.outs[(preferred or candidates)[0]]
        raise MetricError(f"needs class scores, but output {self.name} gives only labels and no other output has scores")

    def proba(self) -> np.ndarray:
        s = self.scores()
        if looks_like_probabilities(s):
            return s
        if self.plan["softmax"]:
            return softmax(s)
        raise MetricError("needs class probabilities, but the scores are not probabilities (rows do not sum to 1) "
                          "and the card declares no softmax postprocessing step")

    def score1(self) -> np.ndarray:
        s = self.scores()
        if s.shape[1] != 2:
            raise MetricError(f"is for two classes (the score of class 1), but the model scores {s.shape[1]} classes")
        return s[:, 1]

    def values(self) -> np.ndarray:
        return self.main

    def reference(self) -> np.ndarray:
        return self.main


def _metric_hint(name: str) -> str:
    if name in ("f1", "precision", "recall", "roc_auc"):
        return "these metrics are for two classes; for more, use f1_macro or accuracy"
    if name == "cosine_agreement":
        return "the evaluation script must write a `reference` array with one row per input row"
    if name == "log_loss":
        return "name a probabilities output in evaluation.output, or add a softmax postprocessing step"
    return "check evaluation.output and the metric; the card reference lists what each metric needs"


class ManyProblems(Exception):
    """Raised by the evaluation when several fields of one card are wrong (e.g. two metrics that do not fit)."""

    def __init__(self, problems: list[SpecProblem]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


def _score(view: _Outputs, plan: dict[str, Any], names: list[str]) -> dict[str, float]:
    """Each metric of `names`; raises ManyProblems naming every metric that does not fit the model or the data."""
    out: dict[str, float] = {}
    problems: list[SpecProblem] = []
    for name in names:
        info = METRICS[name]
        where = ["evaluation", "metrics", plan["metrics"].index(name)]
        try:
            if info.needs == "reference":
                if view.reference_rows is None:
                    raise MetricError("needs a reference, but the evaluation data has none")
                out[name] = info.fn(view.reference_rows, view.reference())
            elif info.needs == "values":
                out[name] = info.fn(np.asarray(view.target, dtype=np.float64), view.values())
            else:
                out[name] = info.fn(view.class_target(), getattr(view, info.needs)())
        except MetricError as exc:
            problems.append(SpecProblem(tuple(where), str(exc) if str(exc).startswith(name) else f"{name} {exc}",
                                        _metric_hint(name)))
            continue
        if not math.isfinite(out[name]):
            problems.append(SpecProblem(tuple(where), f"{name} is not a finite number on this model's outputs ({out[name]})",
                                        "check that the model's outputs are numbers the metric can use"))
    if problems:
        raise ManyProblems(problems)
    return out


def _take(v: np.ndarray, axis: int | None, start: int, stop: int) -> np.ndarray:
    if axis is None:
        return v
    index = [slice(None)] * v.ndim
    index[axis] = slice(start, stop)
    return v[tuple(index)]


def _run(sess: Any, feeds: dict[str, np.ndarray], axes: dict[str, int | None], rows: int, batch: int | None,
         main: str | None = None) -> dict[str, np.ndarray]:
    """All outputs over all rows, in batches of BATCH_ROWS (or the graph's fixed batch size, padding the last one).

    `axes[name]` is the batch axis of each input (None: passed whole). An output is joined along
    its first axis of the batch's length; outputs that have none (e.g. a returned state of
    another layout) are dropped, unless it is `main`.
    """
    names = [o.name for o in sess.get_outputs()]
    step = batch or BATCH_ROWS
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    out_axes: dict[str, int | None] = {}
    for start in range(0, rows, step):
        n = min(step, rows - start)
        chunk = {k: _take(v, axes[k], start, start + step) for k, v in feeds.items()}
        if batch and n < batch:
            chunk = {k: v if axes[k] is None
                     else np.concatenate([v, np.repeat(_take(v, axes[k], n - 1, n), batch - n, axis=axes[k])], axis=axes[k])
                     for k, v in chunk.items()}
        for name, value in zip(names, sess.run(None, chunk)):
            if not isinstance(value, np.ndarray):
                raise SpecProblem(("outputs",), f"output {name} is not a tensor (a ZipMap or a sequence?)",
                                  "export classifiers with zipmap turned off: options={type(clf): {'zipmap': False}}")
            length = batch or n
            axis = next((i for i, d in enumerate(value.shape) if d == length), None)
            if out_axes.setdefault(name, axis) != axis:
                out_axes[name] = None
            parts[name].append(_take(value, axis, 0, n) if axis is not None else value)
    joined: dict[str, np.ndarray] = {}
    for name, p in parts.items():
        if len(p) == 1:
            joined[name] = p[0]
        elif out_axes.get(name) is not None:
            joined[name] = np.concatenate(p, axis=out_axes[name])
        elif name == main:
            raise SpecProblem(("evaluation", "output"),
                              f"output {name} does not have one entry per input row, so batches cannot be joined",
                              f"score an output with a batch axis, or evaluate at most {step} rows")
    return joined


def _evaluate_loaded(sess: Any, plan: dict[str, Any], data: dict[str, np.ndarray]) -> dict[str, Any]:
    """Metrics, importance, confusion counts and latency, from inside the child."""
    from modelshelf.generator.evaluate.insight import confusion_counts, permutation_importance
    from modelshelf.generator.evaluate.latency import measure

    result: dict[str, Any] = {"metrics": {}, "importance": None, "confusion": None, "latency": None}
    inputs = plan["inputs"]
    batch = plan["batch"]
    main_name = plan["output"] or plan["outputs"][0]
    if plan["has_data"]:
        feeds = {name: data[f"input.{i}"] for i, name in enumerate(inputs)}
        target = data["target"]
        rows = len(target)
        axes = {name: batch_axis(feeds[name].shape, tuple(plan["shapes"][i]), rows) for i, name in enumerate(inputs)}
        reference = data["reference"] if "reference" in data else None
        view = _Outputs(_run(sess, feeds, axes, rows, batch, main_name), plan, target, reference)
        result["metrics"] = _score(view, plan, plan["metrics"])
        result["rows"] = int(len(target))
        if plan["importance"]:
            main = plan["metrics"][0]
            x = feeds[inputs[0]]

            def score(blocks: np.ndarray) -> np.ndarray:
                outs = _run(sess, {inputs[0]: blocks}, {inputs[0]: 0}, len(blocks), batch, main_name)
                k = len(blocks) // rows
                return np.array([_score(_Outputs({n: v[i * rows:(i + 1) * rows] for n, v in outs.items()}, plan,
                                                 target, reference), plan, [main])[main] for i in range(k)])

            base, feats = permutation_importance(score, x, higher_is_better=METRICS[main].higher_is_better,
                                                 repeats=plan["repeats"], seed=plan["seed"])
            result["importance"] = {"metric": main, "base": base, "repeats": plan["repeats"], "seed": plan["seed"],
                                    "features": [[m, s] for m, s in feats]}
        if plan["confusion"]:
            try:
                truth, pred = view.class_target(), view.labels()
            except MetricError:
                pass  # no class labels: no confusion matrix
            else:
                if len(truth) and min(truth.min(), pred.min()) >= 0:
                    classes = max(plan["classes"] or 0, int(truth.max()) + 1, int(pred.max()) + 1)
                    if classes <= plan["max_classes"]:
                        result["confusion"] = {"matrix": confusion_counts(truth, pred, classes)}
    if plan["latency"]:
        feeds = {name: data[f"latency.{i}"] for i, name in enumerate(inputs)}
        feeds = {k: v.astype(object) if v.dtype.kind == "U" else v for k, v in feeds.items()}
        result["latency"] = measure(sess, feeds, input_from=plan["latency_from"]).to_dict()
    return result


def _problem_dict(p: SpecProblem) -> dict[str, Any]:
    return {"where": list(p.where), "message": p.message, "hint": p.hint}


def _child(work: Path) -> int:
    """Runs in the child, which the sandbox has limited: evaluate, then report in result.json (problems included)."""
    plan = json.loads((work / "plan.json").read_text(encoding="utf-8"))
    start = time.perf_counter()
    try:
        from modelshelf.generator.evaluate.latency import session

        with np.load(work / "data.npz", allow_pickle=False) as stored:
            data = {k: stored[k] for k in stored.files}
        sess = session(Path(plan["model"]))
        result = _evaluate_loaded(sess, plan, data)
    except SpecProblem as exc:
        result = {"problems": [_problem_dict(exc)]}
    except ManyProblems as exc:
        result = {"problems": [_problem_dict(p) for p in exc.problems]}
    except MemoryError:
        result = {"problems": [{"where": ["evaluation"],
                                "message": f"the model needs more than {plan['memory_mb']} MB while it is evaluated",
                                "hint": "evaluate on fewer rows (an evaluation script), or make the model smaller"}]}
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the parent as a problem
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        result = {"problems": [{"where": ["evaluation"],
                                "message": f"onnxruntime failed to run the model on {plan['data_label']}: {first[:300]}",
                                "hint": "check that the evaluation data has the inputs' shapes and dtypes, "
                                        "then run the model by hand"}]}
    result["seconds"] = round(time.perf_counter() - start, 3)
    (work / "result.json").write_text(json.dumps(result), encoding="utf-8")
    return 0


# ---------------------------------------------------------------- parent side

def _versions() -> dict[str, Any]:
    from modelshelf.generator.enrich.recipes import tool_versions

    return {**tool_versions(), "machine": platform.machine()}


def _latency_feeds(card: Card, data: EvalData | None, signature: Signature) -> tuple[dict[str, np.ndarray] | None, str]:
    """Batch-size-1 inputs for the latency runs: a test row, else the first example, else zeros."""
    if data is not None:
        shapes = {t.name: t.shape for t in card.inputs}
        return {k: _take(v, batch_axis(v.shape, shapes[k], data.rows), 0, 1) for k, v in data.inputs.items()}, "a test row"
    if card.examples:
        feeds: dict[str, np.ndarray] = {}
        given = dict(card.examples[0].inputs)
        for t in card.inputs:
            try:
                arr = np.asarray(given.get(t.name), dtype=feed_dtype(t.dtype))
            except (TypeError, ValueError):
                break
            if arr.ndim != len(t.shape) or arr.dtype == object:
                break
            feeds[t.name] = arr
        else:
            return feeds, "the first example"
    if any(t.dtype == "string" for t in card.inputs):
        return None, ""
    return {t.name: np.zeros([d if isinstance(d, int) else 1 for d in t.shape], dtype=t.dtype) for t in card.inputs}, "zeros"


def _fixed_batch(signature: Any) -> int | None:
    """The batch size the graph insists on: the first input's first dim, when it is a number."""
    first = signature.inputs[0].shape if signature.inputs else ()
    return first[0] if first and isinstance(first[0], int) and first[0] > 0 else None


def _tabular(card: Card, data: EvalData) -> bool:
    if len(card.inputs) != 1:
        return False
    t = card.inputs[0]
    x = data.inputs[t.name]
    return (x.ndim == 2 and 0 < x.shape[1] <= 256 and x.dtype.kind == "f"
            and (t.kind == "tabular" or bool(t.features)))


def _plan(card: Card, spec: Spec | None, data: EvalData | None, model: Path, signature: Any, limits: EvalLimits,
          latency_from: str, has_latency: bool) -> dict[str, Any]:
    metrics = list(spec.metrics) if spec else []
    threshold = next((float(dict(s.params)["value"]) for s in card.postprocessing if s.op == "threshold"), 0.5)
    return {
        "model": str(model.resolve()), "memory_mb": limits.memory_mb, "inputs": [t.name for t in card.inputs],
        "outputs": [t.name for t in card.outputs], "kinds": {t.name: t.kind for t in card.outputs},
        "output": spec.output if spec else None, "metrics": metrics,
        "softmax": any(s.op == "softmax" for s in card.postprocessing), "threshold": threshold,
        "classes": len(card.labels) or None, "max_classes": 30,
        "importance": bool(data is not None and metrics and METRICS[metrics[0]].needs != "reference" and _tabular(card, data)),
        "confusion": any(METRICS[m].needs in CLASSIFICATION_NEEDS for m in metrics),
        "repeats": IMPORTANCE_REPEATS, "seed": spec.split.seed if spec else 0,
        "shapes": [list(t.shape) for t in card.inputs],
        "batch": _fixed_batch(signature), "has_data": data is not None, "latency": has_latency,
        "latency_from": latency_from, "data_label": data.label if data else "the latency input",
    }


def _run_child(plan: dict[str, Any], arrays: dict[str, np.ndarray], limits: EvalLimits) -> dict[str, Any]:
    with sandbox.clean_folder("modelshelf-eval-run-") as work:
        # allow_pickle is the default, named so that mypy knows no array is taken for it
        np.savez(work / "data.npz", allow_pickle=True, **arrays)
        (work / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
        # onnxruntime runs on one thread: CPU time beyond twice the wall-clock limit means the build lost track of it.
        proc = sandbox.run(sandbox.python("-m", "modelshelf.generator.evaluate.stage", str(work)), cwd=work,
                           limits=sandbox.RunLimits(seconds=limits.seconds, memory_mb=limits.memory_mb,
                                                    cpu_seconds=2 * limits.seconds + 1))
        if proc.timed_out:
            raise SpecProblem(("evaluation",), f"evaluating the model took longer than {limits.seconds:g} s",
                              "evaluate on fewer rows (an evaluation script), or make the model faster")
        result_file = work / "result.json"
        if proc.returncode != 0 or not result_file.is_file():
            if any(w in proc.stderr.lower() for w in _MEMORY_WORDS):
                raise SpecProblem(("evaluation",), f"the model needs more than {limits.memory_mb} MB while it is evaluated",
                                  "evaluate on fewer rows (an evaluation script), or make the model smaller")
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
            raise SpecProblem(("evaluation",), f"the evaluation of the model crashed (exit code {proc.returncode}): {tail}",
                              "run the model by hand with onnxruntime on the evaluation data to see where it fails")
        result = json.loads(result_file.read_text(encoding="utf-8"))
    if result.get("problems"):
        raise ManyProblems([SpecProblem(tuple(p["where"]), p["message"], p["hint"]) for p in result["problems"]])
    return result


@dataclass
class _Context:
    cache_dir: Path
    versions: dict[str, Any]
    limits: EvalLimits
    counts: dict[str, int]
    code: str = ""  # cache.code_hash(): the evaluation code's own hash, part of every key


def _data_identity(card: Card, spec: Spec | None, ctx: _Context) -> dict[str, Any]:
    decl = [[t.name, t.dtype, list(t.shape), t.kind, len(t.features)] for t in card.inputs]
    if spec is None:
        return {"inputs": decl, "example": dict(card.examples[0].inputs) if card.examples else None}
    base = {"inputs": decl, "outputs": [[t.name, t.kind] for t in card.outputs],
            "postprocessing": [s.as_dict() for s in card.postprocessing], "labels": len(card.labels),
            "spec": {k: v for k, v in spec.card.as_dict().items() if k != "tolerance"}}
    if spec.dataset:
        return {**base, "preprocessing": [s.as_dict() for s in card.preprocessing]}
    return {**base, "script_key": script_key(card, spec.script or "", ctx.versions)}


def _load_data(card: Card, spec: Spec, ctx: _Context) -> EvalData:
    if spec.dataset:
        return load_builtin(card, spec.dataset, spec.split)
    assert spec.script
    key = script_key(card, spec.script, ctx.versions)
    return load_script_data(card, spec.script, run_script(card, spec.script, ctx.cache_dir, key))


def _measure(card: Card, spec: Spec | None, path: Path, sha: str, signature: Signature, label: str, ctx: _Context,
             loaded: dict[str, EvalData]) -> tuple[dict[str, Any], bool]:
    """The cached or freshly computed numbers for one ONNX file: (result, from_cache)."""
    from modelshelf.generator.evaluate.insight import graph_summary

    identity = {"code": ctx.code, "onnx_sha256": sha, "data": _data_identity(card, spec, ctx), "tools": ctx.versions}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    cache_file = ctx.cache_dir / "evaluations" / f"{key}.json"
    if cache_file.is_file():
        try:
            cached = json.loads(cache_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            why: str | None = f"it is not JSON ({exc.__class__.__name__})"
        else:
            why = entry_problem(cached, key, ctx.code)
        if why is None:
            log.info("evaluation cache hit: %s (%s)", label, key[:12])
            ctx.counts["cached"] += 1
            return cached, True
        # A damaged or foreign entry is never used: recomputed, then replaced.
        log.warning("evaluation cache entry of %s ignored (%s): %s", label, key[:12], why)
    start = time.perf_counter()
    data = None
    if spec is not None:
        if "data" not in loaded:
            loaded["data"] = _load_data(card, spec, ctx)
        data = loaded["data"]
    feeds, latency_from = _latency_feeds(card, data, signature)
    plan = _plan(card, spec, data, path, signature, ctx.limits, latency_from, feeds is not None)
    result = _run_child(plan, _arrays(card, data, feeds), ctx.limits) if (data is not None or feeds is not None) else {}
    for name, empty in (("metrics", {}), ("importance", None), ("confusion", None), ("latency", None)):
        result.setdefault(name, empty)
    result.update({"code": ctx.code, "key": key, "onnx_sha256": sha, "graph": graph_summary(path),
                   "data_label": data.label if data else "", "rows": data.rows if data else 0,
                   "split_detail": (spec.split.detail if spec.dataset else f"the rows {spec.script} writes") if spec else "",
                   "data": {"origin": data.origin, "dataset": data.source if data.origin == "registry" else (spec.script or ""),
                            "split": data.split if data.origin == "registry" else "", "rows": data.rows,
                            "sha256": data.sha256} if data and spec else None})
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=cache_file.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(result, fh, sort_keys=True)
    os.replace(tmp, cache_file)
    ctx.counts["evaluated"] += 1
    log.info("evaluated %s in %.1f s", label, time.perf_counter() - start)
    return result, False


def _arrays(card: Card, data: EvalData | None, feeds: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """What the child reads from data.npz; inputs are numbered (names are the card's, and may be anything)."""
    arrays: dict[str, np.ndarray] = {}
    if data is not None:
        arrays.update({f"input.{i}": data.inputs[t.name] for i, t in enumerate(card.inputs)})
        arrays["target"] = np.asarray(data.target)
        if data.reference is not None:
            arrays["reference"] = data.reference
    if feeds is not None:
        arrays.update({f"latency.{i}": np.asarray(feeds[t.name]).astype(str) if np.asarray(feeds[t.name]).dtype == object
                       else feeds[t.name] for i, t in enumerate(card.inputs)})
    return arrays


def _variant_items(entry: ModelEntry) -> list[tuple[str, str, Path, str, int]]:
    """(name, description, path, sha256, size) of each variant the export stage checked (entry.export)."""
    out: list[tuple[str, str, Path, str, int]] = []
    if entry.export is None:
        return out
    # The export stage's contract: one ExportRecord per variant, its Artifact (same SHA-256) in entry.added_files.
    files = {a.sha256: a for a in entry.added_files if a.local is not None}
    described = {v.name: v.description or "" for v in entry.card.variants}
    for record in entry.export.variants:
        artifact = files.get(record.sha256)
        if artifact is not None and artifact.local is not None:
            out.append((str(record.variant), described.get(str(record.variant), ""), artifact.local, record.sha256, record.size))
    return out


def _evaluated(spec: Spec | None, main: dict[str, Any]) -> Evaluated | None:
    """What the main file was evaluated on, from its (possibly cached) result; None when nothing was."""
    data = main.get("data")
    if spec is None or not data:
        return None
    return Evaluated(data["origin"], data["dataset"], data["split"], int(data["rows"]), main.get("data_label", ""))


def _claims(card: Card, spec: Spec | None, measured: dict[str, float], done: Evaluated | None,
            can_verify: bool) -> tuple[list[MetricRow], list[tuple[tuple[str | int, ...], str, str]]]:
    """One row per claim (with its tier) and per measured metric nobody claimed, and the claims' problems."""
    tolerance = spec.tolerance if spec else DEFAULT_TOLERANCE
    table: list[MetricRow] = []
    problems: list[tuple[tuple[str | int, ...], str, str]] = []
    evaluated = {m for m in measured if spec is not None and m in spec.metrics and done is not None}
    off = {i: mismatch(m, done) for i, m in enumerate(card.metrics) if m.name in evaluated and done is not None}
    # A claim of an evaluated metric on other data is only allowed beside one that describes the evaluated data.
    described = {m.name for i, m in enumerate(card.metrics) if i in off and off[i] is None}
    for i, m in enumerate(card.metrics):
        where = m.dataset + (f" ({m.split})" if m.split else "")
        title = METRICS[m.name].title if m.name in METRICS else m.name
        if i in off and done is not None:
            wrong = off[i]
            if wrong is None:
                value = measured[m.name]
                gap = abs(m.value - value)
                if gap > tolerance * (1 + 1e-9):
                    problems.append((("metrics", i, "value"),
                                     f"claimed {m.name} {_fmt(m.value, tolerance)} "
                                     f"but the build measured {_fmt(value, tolerance)} on {done.label}",
                                     f"set value: {_fmt(value, tolerance)} or fix the model"))
                table.append(MetricRow(m.name, title, _fmt(m.value, tolerance), _fmt(value, tolerance), "verified", where,
                                       str(done.rows), f"{m.value - value:+.4f}" if gap else "", claim=i, tier=done.tier))
                continue
            if m.name not in described:
                key, message, hint = wrong
                problems.append((("metrics", i, key) if key else ("metrics", i), message, hint))
        elif can_verify and builtin_name(m.dataset):
            # Packaged data: the build can always recompute the number, so it must.
            if spec is None:
                problems.append((("metrics", i),
                                 f"{m.name} on {m.dataset} is claimed but the card has no evaluation, "
                                 "so the build cannot verify it",
                                 f"add evaluation: {{dataset: {builtin_name(m.dataset)}, "
                                 "split: {test_size: 0.3, seed: 0, stratify: true}, "
                                 f"metrics: [{m.name}]}} with the split the model was tested on"))
            elif m.name not in spec.metrics:
                problems.append((("metrics", i, "name"), f"{m.name} is claimed but evaluation.metrics does not list it",
                                 f"add {m.name} to evaluation.metrics, or remove the claim"))
        table.append(MetricRow(m.name, title, _fmt(m.value), "", "unverified", where, "", claim=i, tier=CLAIMED))
    claimed = {r.name for r in table if r.status == "verified"}
    for name, value in measured.items():
        if name not in claimed and done is not None:
            table.append(MetricRow(name, METRICS[name].title, "", _fmt(value, tolerance), "measured",
                                   (spec.dataset or spec.script or "") if spec else "", str(done.rows), tier=done.tier))
    return table, problems


def _variant_table(spec: Spec | None, main: dict[str, Any], main_size: int,
                   variants: list[tuple[str, str, int, dict[str, Any]]]) -> tuple[tuple[str, ...], list[VariantRow]]:
    from modelshelf.generator.enrich.stage import human_size
    from modelshelf.generator.evaluate.latency import ms_text

    names = tuple(spec.metrics) if spec else ()
    tol = spec.tolerance if spec else DEFAULT_TOLERANCE

    def latency_text(res: dict[str, Any]) -> str:
        lat = res.get("latency")
        return f"{ms_text(lat['median_ms'])} (p95 {ms_text(lat['p95_ms'])})" if lat else "—"

    rows = [VariantRow("main", "the published model file", human_size(main_size), latency_text(main),
                       tuple(_fmt(main["metrics"][n], tol) if n in main.get("metrics", {}) else "—" for n in names))]
    for name, desc, size, res in variants:
        cells = []
        for n in names:
            if n in res.get("metrics", {}) and n in main.get("metrics", {}):
                delta = res["metrics"][n] - main["metrics"][n]
                cells.append(f"{_fmt(res['metrics'][n], tol)} ({delta:+.4f})")
            else:
                cells.append("—")
        ratio = f" ({size / main_size:.0%} of main)" if main_size else ""
        rows.append(VariantRow(name, desc, human_size(size) + ratio, latency_text(res), tuple(cells)))
    return names, rows


def _io_text(entry: ModelEntry) -> str:
    sig = entry.signature
    ins = ", ".join(f"{t.name} {t.dtype}{t.shape_text}" for t in sig.inputs)
    outs = ", ".join(f"{t.name} {t.dtype}{t.shape_text}" for t in sig.outputs)
    return f"in: {ins}; out: {outs}"


def evaluate_entry(entry: ModelEntry, ctx: _Context) -> tuple[ModelEntry, list[tuple[tuple[str | int, ...], str, str]]]:
    """The entry with its `evaluation`, `latency` and `insight`, and the card's problems."""
    from modelshelf.generator.evaluate.insight import insight_view
    from modelshelf.generator.evaluate.latency import Latency

    card = entry.card
    spec = _spec(card)
    path = entry.onnx.local
    loaded: dict[str, EvalData] = {}
    main: dict[str, Any] = {}
    cached = False
    if path is not None:
        main, cached = _measure(card, spec, path, entry.onnx.sha256, entry.signature, card.id, ctx, loaded)
    variants = []
    for name, desc, vpath, vsha, vsize in _variant_items(entry):
        res, _ = _measure(card, spec, vpath, vsha, entry.signature, f"{card.id} [{name}]", ctx, loaded)
        variants.append((name, desc, vsize, res))
    measured = main.get("metrics", {})
    data_label = main.get("data_label", "")
    rows = int(main.get("rows", 0))
    done = _evaluated(spec, main)
    table, problems = _claims(card, spec, measured, done, can_verify=path is not None)
    metric_names, variant_rows = _variant_table(spec, main, entry.onnx.size, variants) if variants and main else ((), [])
    note = ""
    if path is None:
        note = "The build did not evaluate this model: its file is hosted elsewhere and was not downloaded."
    elif spec is None:
        note = "The card declares no evaluation, so the build has recomputed no metric."
    evaluation = EvaluationResult(
        metrics=dict(measured), data_label=data_label, split_detail=main.get("split_detail", ""), rows=rows,
        tolerance=spec.tolerance if spec else DEFAULT_TOLERANCE, table=tuple(table), cached=cached, note=note,
        variant_metrics=metric_names, variants=tuple(variant_rows), origin=done.origin if done else "",
        data_sha256=main.get("data", {}).get("sha256", "") if done else "",
        supplied_by=tuple(a.name for a in card.authors) if done and done.origin == "script" else (),
        variant_results={name: {"metrics": {k: round(v, 6) for k, v in res.get("metrics", {}).items()}, "size": size,
                                "latency": Latency(**res["latency"]).summary() if res.get("latency") else None}
                         for name, _, size, res in variants})
    lat = main.get("latency")
    insight = insight_view(card, size_text=entry.onnx.size_text, io_text=_io_text(entry), graph=main.get("graph"),
                           importance=main.get("importance"), confusion=main.get("confusion"),
                           data_label=data_label) if main else None
    return replace(entry, evaluation=evaluation, latency=Latency(**lat) if lat else None, insight=insight), problems


def evaluate_catalog(entries: Sequence[ModelEntry], documents: Mapping[str, Document], *, cache_dir: Path,
                     limits: EvalLimits = EvalLimits()) -> list[ModelEntry]:
    """Evaluate every entry (see the module docstring); returns the entries with `evaluation`, `latency` and `insight`.

    Raises CatalogInvalid with every problem found. How many files were evaluated and how many came
    from the cache is logged.
    """
    ctx = _Context(cache_dir, _versions(), limits, {"evaluated": 0, "cached": 0}, code_hash())
    problems: list[Problem] = []
    evaluated: list[ModelEntry] = []
    start = time.perf_counter()
    for entry in entries:
        card = entry.card
        try:
            entry, found = evaluate_entry(entry, ctx)
        except SpecProblem as exc:
            found = [(exc.where, exc.message, exc.hint)]
        except ManyProblems as exc:
            found = [(p.where, p.message, p.hint) for p in exc.problems]
        evaluated.append(entry)
        report = CardReporter(documents.get(card.ref), card.card_path)
        for where, message, hint in found:
            report.add(where, message, hint)
        problems += report.items
    log.info("evaluation: %d files evaluated, %d from the cache, %.1f s", ctx.counts["evaluated"], ctx.counts["cached"],
             time.perf_counter() - start)
    if problems:
        raise CatalogInvalid(sorted(problems))
    return evaluated


if __name__ == "__main__":
    sys.exit(_child(Path(sys.argv[1])))
