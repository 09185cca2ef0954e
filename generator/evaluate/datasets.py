"""Evaluation data: the built-in datasets (scikit-learn's bundled data) and contributor scripts.

A built-in dataset is split exactly as a recipe splits it, `train_test_split(X, y, test_size,
random_state=seed, stratify=y if stratify)`, and its raw values go through the card's declared
numeric preprocessing (`scale`, `normalize`, `cast`) and are reshaped to the first input's
declared shape, so `sklearn/digits` feeds both a `[N, 64]` pipeline and a `[N, 1, 8, 8]` CNN.
Anything else (several inputs, text, images that need resizing) is described by an evaluation
script: `python SCRIPT OUTDIR` in the sandbox's jail (as a recipe) writes `OUTDIR/eval.npz` with
`input.<name>` arrays, `target` and optionally `reference`; its output is cached by a hash of the
model folder and the tool versions, like a recipe's.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from modelshelf.catalog.runtime import processing
from modelshelf.catalog.runtime.dtypes import NUMERIC
from modelshelf.catalog.model import Card, EvaluationSplit, Tensor

from modelshelf.generator.evaluate import splits

from modelshelf.generator.enrich.recipes import (NO_SANDBOX_HINT, ScriptBadOutput, ScriptFailed, ScriptNotRun, ScriptTimedOut,
                                                ScriptWroteNothing, folder_key, run_in_clean_folder)

log = logging.getLogger(__name__)

DATA_PROTOCOL = 1  # the calling convention of evaluation scripts (python SCRIPT OUTDIR -> OUTDIR/eval.npz), for their data cache
SCRIPT_TIMEOUT = 900.0
# The one split rule of the registry; generator/evaluate/splits.py implements it for recipes and the evaluator alike.
SPLIT_RULE = ("evaluation.split {test_size, seed, stratify} -> sklearn.model_selection.train_test_split(X, y, test_size, "
              "random_state=seed, stratify=y if stratify); the claim's split `test` is the held-out part. "
              "Without evaluation.split every row is evaluated (split `all`)")


class SpecProblem(Exception):
    """Raised by the evaluation helpers when a card's evaluation cannot be carried out as written.

    Carries the card path of the field to blame, the message and a hint; the evaluation stage
    turns it into a Problem at that field's line.
    """

    def __init__(self, where: tuple[str | int, ...], message: str, hint: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Builtin:
    """A dataset loader that belongs to the project: reviewed like code, and the only data a claim can be `verified` on.

    `source` says where the rows come from, `licence` under which terms, `rows` how many the loader
    gives (checked at every load), `split_rule` how the evaluated part is chosen; `raw_note` says
    what its raw values are.
    """

    name: str
    load: Callable[[], tuple[np.ndarray, np.ndarray]]
    kind: str  # "classification" or "regression"
    raw_note: str
    source: str
    licence: str
    rows: int
    split_rule: str = SPLIT_RULE


def _sk(loader: str, **kwargs: Any) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    def load() -> tuple[np.ndarray, np.ndarray]:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader)(**kwargs)
        return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target)
    return load


_UCI = "CC-BY-4.0 (UCI Machine Learning Repository); the copy ships in the scikit-learn wheel (BSD-3-Clause)"
BUILTINS: dict[str, Builtin] = {b.name: b for b in [
    Builtin("sklearn/iris", _sk("load_iris"), "classification", "4 measurements in cm; 150 rows, 3 classes",
            "scikit-learn's bundled copy, sklearn.datasets.load_iris() (Fisher 1936, UCI Iris)", _UCI, 150),
    Builtin("sklearn/wine", _sk("load_wine"), "classification", "13 chemical measurements; 178 rows, 3 classes",
            "scikit-learn's bundled copy, sklearn.datasets.load_wine() (UCI Wine)", _UCI, 178),
    Builtin("sklearn/breast-cancer", _sk("load_breast_cancer"), "classification",
            "30 cell-nucleus measurements; 569 rows, classes 0 = malignant, 1 = benign",
            "scikit-learn's bundled copy, sklearn.datasets.load_breast_cancer() (UCI Breast Cancer Wisconsin, Diagnostic)",
            _UCI, 569),
    Builtin("sklearn/digits", _sk("load_digits"), "classification",
            "8x8 images as 64 counts from 0 to 16 (row-major); 1,797 rows, 10 classes",
            "scikit-learn's bundled copy, sklearn.datasets.load_digits() "
            "(the test part of UCI Optical Recognition of Handwritten Digits)", _UCI, 1797),
    Builtin("sklearn/diabetes", _sk("load_diabetes", scaled=False), "regression",
            "10 baseline variables in their original units (load_diabetes(scaled=False)); 442 rows",
            "scikit-learn's bundled copy, sklearn.datasets.load_diabetes(scaled=False) "
            "(Efron et al. 2004, Least Angle Regression)",
            "BSD-3-Clause, as part of scikit-learn (the original data states no licence of its own)", 442),
    Builtin("sklearn/diabetes-scaled", _sk("load_diabetes"), "regression",
            "10 baseline variables centred and scaled (scikit-learn's default load_diabetes()); 442 rows",
            "scikit-learn's bundled copy, sklearn.datasets.load_diabetes() (Efron et al. 2004, Least Angle Regression)",
            "BSD-3-Clause, as part of scikit-learn (the original data states no licence of its own)", 442),
]}
ALIASES = {"sklearn/breast_cancer": "sklearn/breast-cancer"}


def builtin_name(name: str) -> str | None:
    """The canonical name of a built-in dataset, or None."""
    name = ALIASES.get(name, name)
    return name if name in BUILTINS else None


@dataclass
class EvalData:
    """Rows the model is evaluated on: one array per model input, the targets, an optional reference."""

    inputs: dict[str, np.ndarray]
    target: np.ndarray
    source: str  # e.g. "sklearn/iris" or "evaluate.py"
    split: str  # e.g. "test" or "all rows"
    reference: np.ndarray | None = None
    kind: str | None = None  # "classification" / "regression" when the dataset says so
    extra: dict[str, Any] = field(default_factory=dict)
    origin: str = "registry"  # "registry" (a loader of BUILTINS) or "script" (a contributor's eval.npz)
    sha256: str = ""  # of eval.npz, for script data

    @property
    def rows(self) -> int:
        return int(len(self.target))

    @property
    def label(self) -> str:
        return f"{self.source} ({self.split + ', ' if self.split else ''}{self.rows} rows)"


@dataclass(frozen=True)
class Split:
    test_size: float | None
    seed: int
    stratify: bool

    @classmethod
    def from_spec(cls, spec: EvaluationSplit | None) -> "Split":
        """The card's evaluation.split with its defaults (seed 0, not stratified); None: every row."""
        spec = spec or EvaluationSplit()
        return cls(spec.test_size, int(spec.seed or 0), bool(spec.stratify))

    @property
    def text(self) -> str:
        return "all" if self.test_size is None else "test"

    @property
    def detail(self) -> str:
        if self.test_size is None:
            return "every row of the dataset"
        parts = [f"test_size={self.test_size:g}", f"random_state={self.seed}"]
        if self.stratify:
            parts.append("stratified")
        return "train_test_split(" + ", ".join(parts) + "), the test part"


def batch_axis(shape: tuple[int, ...], declared: tuple[int | str | None, ...], rows: int) -> int | None:
    """The axis that holds one entry per evaluated row: the first dynamic axis of that size (else axis 0 of that size).

    Most inputs are batched on axis 0; a recurrent state such as [2, batch, 128] is not. None
    means the input is not per row (a 0-d array such as a sample rate is passed whole to every batch).
    """
    for i, d in enumerate(declared):
        if not isinstance(d, int) and i < len(shape) and shape[i] == rows:
            return i
    return 0 if shape and shape[0] == rows else None


def _numeric_preprocessing(card: Card, x: np.ndarray) -> np.ndarray:
    for i, step in enumerate(card.preprocessing):
        params = dict(step.params)
        scalar = not isinstance(params.get("mean"), list) and not isinstance(params.get("std"), list)
        if step.op == "scale" or (step.op == "normalize" and scalar):
            x, _ = processing.apply_step(step.as_dict(), x)  # the same code as the deploy bundle and the browser's twin
        elif step.op == "cast" and params.get("dtype") in NUMERIC:
            continue  # the final cast to the input's dtype happens below
        else:
            raise SpecProblem(("preprocessing", i),
                              f"the build cannot apply the preprocessing step {step.op!r} to a built-in dataset",
                              "describe the evaluation data with evaluation.script instead "
                              "(it writes the input tensors themselves)")
    return x


def _fit_shape(x: np.ndarray, tensor: Tensor, name: str) -> np.ndarray:
    dims = list(tensor.shape)
    if not dims:
        raise SpecProblem(("evaluation", "dataset"), f"input {tensor.name} takes a scalar, not rows of {name}",
                          "use evaluation.script to write the input tensor")
    rest = dims[1:]
    fixed = [d for d in rest if isinstance(d, int)]
    if len(fixed) != len(rest):
        if len(rest) == 1:  # [batch, features?]: a dynamic feature count takes the rows as they are
            return x
        raise SpecProblem(("evaluation", "dataset"), f"input {tensor.name} has dynamic dims {list(tensor.shape)}; "
                          f"the build cannot tell how to shape rows of {name} for it",
                          "use evaluation.script to write the input tensor")
    size = int(np.prod(fixed)) if fixed else 1
    if size != x.shape[1]:
        shape = "[" + ", ".join("null" if d is None else str(d) for d in tensor.shape) + "]"
        raise SpecProblem(("evaluation", "dataset"),
                          f"{name} has {x.shape[1]} values per row but input {tensor.name} takes {shape}",
                          "evaluate on the dataset the model was trained on, or use evaluation.script")
    return x.reshape([len(x), *fixed]) if fixed else x.reshape(len(x))


def load_builtin(card: Card, name: str, split: Split) -> EvalData:
    """The evaluation rows of a built-in dataset, shaped for the card's first input."""
    canonical = builtin_name(name)
    assert canonical is not None
    ds = BUILTINS[canonical]
    if len(card.inputs) != 1:
        raise SpecProblem(("evaluation", "dataset"), f"{name} feeds one input, but the model has {len(card.inputs)}",
                          "write an evaluation script that gives input.<name> for each input")
    try:
        _, X, y = splits.load_rows(canonical)
    except splits.RegistryMismatch as exc:
        raise SpecProblem(("evaluation", "dataset"), str(exc),
                          "install the scikit-learn of constraints.txt, or review the registry entry") from None
    if split.test_size is not None:
        # The same function recipes call (splits.train_test), so the evaluated rows are the ones a recipe held out.
        _, X, _, y = splits.split_rows(X, y, split.test_size, split.seed, split.stratify)
    tensor = card.inputs[0]
    if tensor.dtype not in NUMERIC:
        raise SpecProblem(("evaluation", "dataset"), f"input {tensor.name} is {tensor.dtype}; {name} gives numbers",
                          "use evaluation.script to write the input tensor")
    x = _fit_shape(_numeric_preprocessing(card, X), tensor, name).astype(tensor.dtype)
    return EvalData({tensor.name: x}, np.asarray(y), canonical, split.text, kind=ds.kind)


# ---------------------------------------------------------------- evaluation scripts

def script_key(card: Card, script: str, versions: dict[str, str | None]) -> str:
    """Hash of everything that can change what the script writes (the model folder and the tools)."""
    return folder_key(card, {"protocol": DATA_PROTOCOL, "script": script, "tools": versions})


def run_script(card: Card, script: str, cache_dir: Path, key: str, *, timeout: float = SCRIPT_TIMEOUT) -> Path:
    """OUTDIR/eval.npz of the card's evaluation script, from the cache when the model folder has not changed."""
    dest = cache_dir / "eval-data" / key
    where = ("evaluation", "script")
    try:
        cached, seconds = run_in_clean_folder(card, script, dest, "eval.npz", timeout=timeout)
    except ScriptTimedOut:
        raise SpecProblem(where, f"{script} did not finish within {timeout:.0f} s",
                          "make the evaluation data smaller or the script faster") from None
    except ScriptFailed as exc:
        log.warning("evaluation script of %s failed:\n%s", card.id, "\n".join(exc.tail))
        last = exc.tail[-1] if exc.tail else "no output"
        raise SpecProblem(where, f"{script} failed with exit code {exc.returncode}: {last}",
                          f"run `python {script} OUTDIR` in the model folder to see the whole error") from None
    except ScriptWroteNothing:
        raise SpecProblem(where, f"{script} finished but wrote no eval.npz into the folder it was given",
                          "save the arrays with numpy.savez(Path(sys.argv[1]) / 'eval.npz', ...)") from None
    except ScriptBadOutput as exc:
        raise SpecProblem(where, f"{script} finished but {exc}", "write eval.npz as a regular file into OUTDIR") from None
    except ScriptNotRun as exc:
        raise SpecProblem(where, f"{script} not run: {exc}", NO_SANDBOX_HINT) from None
    if cached:
        log.info("evaluation data cache hit: %s (%s)", card.id, key[:12])
    else:
        log.info("evaluation script of %s took %.1f s", card.id, seconds)
    return dest / "eval.npz"


def load_script_data(card: Card, script: str, npz: Path) -> EvalData:
    """Read eval.npz (never with pickles) and check it against the card's inputs."""
    where = ("evaluation", "script")
    try:
        with np.load(npz, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError) as exc:
        raise SpecProblem(where, f"{script} wrote an eval.npz that numpy cannot read without pickles: {exc}",
                          "save plain numeric arrays with numpy.savez") from None
    if "target" not in arrays:
        raise SpecProblem(where, f"{script} wrote no 'target' array", "add target=... to numpy.savez")
    target = arrays["target"]
    inputs: dict[str, np.ndarray] = {}
    for t in card.inputs:
        key = f"input.{t.name}"
        if key not in arrays:
            raise SpecProblem(where, f"{script} wrote no {key!r} array", f"add one array per model input, named {key!r}")
        arr = arrays[key]
        if arr.ndim and batch_axis(arr.shape, t.shape, len(target)) is None:
            raise SpecProblem(where, f"{key} has shape {list(arr.shape)}: no batch axis of {len(target)} rows, one per target",
                              "give one target per input row, along the input's first dynamic axis (a 0-d array is passed whole)")
        inputs[t.name] = arr.astype(t.dtype) if t.dtype in NUMERIC else arr
    reference = arrays.get("reference")
    if reference is not None and len(reference) != len(target):
        raise SpecProblem(where, f"reference has {len(reference)} rows but target has {len(target)}",
                          "give one reference row per input row")
    digest = hashlib.sha256()
    with open(npz, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return EvalData(inputs, target, f"the data of {script}", "", reference=reference, origin="script", sha256=digest.hexdigest())


# ---------------------------------------------------------------- the registry's reference page

def registry_markdown() -> str:
    """docs/reference/datasets.md, generated from BUILTINS (tests/unit/test_dataset_registry.py keeps the file in sync)."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["# Evaluation datasets", "",
             "<!-- Generated from generator/evaluate/datasets.py (BUILTINS); "
             "regenerate with `python -m modelshelf.generator.evaluate.datasets > docs/reference/datasets.md`. -->", "",
             "The dataset loaders that belong to the project. A metric is **verified** only when the build",
             "recomputed it with one of these loaders and the claim's `dataset` and `split` name it; a metric",
             "computed on the rows of a contributor's evaluation script is **reproduced** (the page and",
             "`catalog.json` publish the SHA-256 and row count of its `eval.npz`); any other is **claimed**.",
             "A new loader is added by pull request and reviewed like code.", "",
             "| dataset | kind | rows | raw values | source | licence |", "|---|---|---:|---|---|---|"]
    aliases = {canonical: alias for alias, canonical in ALIASES.items()}
    for b in BUILTINS.values():
        name = f"`{b.name}`" + (f" (or `{aliases[b.name]}`)" if b.name in aliases else "")
        lines.append(f"| {name} | {b.kind} | {b.rows:,} | {cell(b.raw_note)} | {cell(b.source)} | {cell(b.licence)} |")
    rules = sorted({b.split_rule for b in BUILTINS.values()})
    lines += ["", "## Split rule", ""] + [f"- {cell(r)}" for r in rules]
    lines += ["", "A claim on one of these datasets names the split the build evaluated: `split: test` for the",
              "held-out part of `evaluation.split`, `split: all` without one. A whole number in the split",
              "(`test, 45 rows`) is read as a row count and must equal the rows evaluated.", "",
              "A recipe that trains on one of these datasets takes its rows from the same function the",
              "build evaluates with, so it cannot train on evaluation rows:", "", "```python",
              "from modelshelf.generator.evaluate.splits import train_test",
              "", "X_train, X_test, y_train, y_test = train_test(\"sklearn/iris\", test_size=0.3, seed=0, stratify=True)",
              "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    sys.stdout.write(registry_markdown())
