"""Export with proof: a smoke run, parity and an export record for every ONNX file the build publishes.

Runs after `enrich`, which has already run the recipes and checked each main file with
`safety.check_file` and `onnx.checker`. For each model whose ONNX file is on disk:

- the smoke run (`safety.smoke_run`: a child process under a memory and time limit) on the card's
  examples, or on zeros of the declared shapes when it has none; cached by the file's SHA-256;
- parity with the source framework, from the `parity.json` the recipe wrote, against the card's
  `parity` block (defaults: max abs diff 1e-4, top-1 agreement 1.0);
- each `variants` entry (the recipe's `model.<name>.onnx`, or the variant's committed `file`):
  the same checks, a hash, its outputs compared with the main model's on the same inputs;
- an `ExportRecord` per file (opset, IR version, producer, signature, parameters, operators,
  size, SHA-256, parity, smoke-run cost).

Results: `check_exports` returns new entries whose `export` is an `ExportReport` and whose
`added_files` end with the variant files. Every problem of every model is collected, then raised as one
`CatalogInvalid` (before anything is written).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import math
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError

from modelshelf.catalog.catalog import load_catalog
from modelshelf.catalog.loader import Document
from modelshelf.catalog.model import Card, Variant
from modelshelf.catalog.problems import CardReporter, Problem
from modelshelf.catalog.validate import MAX_COMMITTED_ONNX_BYTES

from modelshelf.generator.enrich.stage import Artifact, ModelEntry, artifact_for, enrich, human_size
from modelshelf.generator.errors import BuildError, CatalogInvalid
from modelshelf.generator.enrich.onnx_info import Signature, TensorInfo, check_model, read_signature
from modelshelf.catalog.runtime.dtypes import feed_dtype
from modelshelf.catalog.runtime.predictor import compare
from modelshelf.generator.export.safety import Finding, Limits, SmokeResult, check_file, has_external_data, smoke_run

log = logging.getLogger(__name__)

DEFAULT_PARITY_TOLERANCE = 1e-4
DEFAULT_TOP1_AGREEMENT = 1.0
DEFAULT_VARIANT_TOLERANCE = 1e-4
SMOKE_CACHE_PROTOCOL = 2
ZEROS = "zeros of the declared input shapes"  # what the smoke run feeds a card without usable examples


@dataclass(frozen=True)
class Parity:
    """How closely a file matches what it should: its source framework (from parity.json) or, for a variant, the main model."""

    against: str  # e.g. "scikit-learn" or "the main model"
    max_abs_diff: float
    tolerance: float
    top1_agreement: float | None = None
    min_top1_agreement: float | None = None
    n: int | None = None  # inputs compared

    @property
    def ok(self) -> bool:
        top1_ok = self.top1_agreement is None or self.min_top1_agreement is None or self.top1_agreement >= self.min_top1_agreement
        return self.max_abs_diff <= self.tolerance and top1_ok

    @property
    def text(self) -> str:
        out = f"max diff {self.max_abs_diff:.3g}"
        if self.top1_agreement is not None:
            out += f", top-1 {self.top1_agreement:.3g}"
        return out


@dataclass(frozen=True)
class ExportRecord:
    """What the build proved about one ONNX file. `variant` is None for the main file."""

    filename: str
    variant: str | None
    size: int
    sha256: str
    opset: int
    opsets: tuple[tuple[str, int], ...]  # (domain, version), "ai.onnx" for the default domain
    ir_version: int
    producer: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    parameters: int  # elements of initializers and Constant tensors, and weights held in ai.onnx.ml node attributes
    operators: Counter[str] = field(hash=False)  # op_type, prefixed "domain:" outside the default domain
    parity: Parity | None = None
    smoke_seconds: float = 0.0
    smoke_peak_mb: float | None = None
    smoke_cached: bool = False
    smoke_input: str = ""  # "3 examples", or ZEROS
    smoke_note: str | None = None  # set when onnxruntime refused the made-up zeros (the model loaded; not a failure)

    @property
    def size_text(self) -> str:
        return human_size(self.size)

    @property
    def operator_histogram(self) -> tuple[tuple[str, int], ...]:
        """(operator, count), most used first."""
        return tuple(sorted(self.operators.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass(frozen=True)
class ExportReport:
    """entry.export: the main file's record and one per variant, in the card's order."""

    main: ExportRecord
    variants: tuple[ExportRecord, ...] = ()
    recipe_cached: bool | None = None  # None for committed files

    @property
    def records(self) -> tuple[ExportRecord, ...]:
        return (self.main, *self.variants)

    @property
    def cached(self) -> bool:
        """True when this build did no export work for the model (recipe and smoke runs from the cache)."""
        return self.recipe_cached is not False and all(r.smoke_cached for r in self.records)


# ---------------------------------------------------------------- inputs

def _example_array(value: Any, info: TensorInfo) -> np.ndarray | None:
    try:
        arr = np.array(value, dtype=feed_dtype(info.dtype))
    except (ValueError, TypeError, OverflowError):
        return None
    if info.shape and arr.ndim == len(info.shape) - 1:
        arr = arr[np.newaxis]  # an example written as one row of a batched input
    return arr


def _zeros(info: TensorInfo, declared: Mapping[str, Any]) -> np.ndarray | None:
    shape = info.shape or declared.get(info.name, ())
    dims = [d if isinstance(d, int) else 1 for d in shape]
    try:
        dtype = feed_dtype(info.dtype)
    except TypeError:
        return None
    return np.full(dims, "", dtype=object) if dtype is object else np.zeros(dims, dtype=dtype)


def example_indices(card: Card, signature: Signature) -> list[int]:
    """The indices of the card's examples that example_feeds turns into model inputs, in its order."""
    return [i for i, example in enumerate(card.examples)
            if all(_example_array(dict(example.inputs).get(t.name), t) is not None for t in signature.inputs)]


def example_feeds(card: Card, signature: Signature) -> tuple[list[dict[str, np.ndarray]], list[str]]:
    """Model inputs from the card's examples (in the graph's dtypes), or zeros of the declared shapes; and their names."""
    feeds: list[dict[str, np.ndarray]] = []
    names: list[str] = []
    for i, example in enumerate(card.examples):
        values = dict(example.inputs)
        feed = {t.name: _example_array(values.get(t.name), t) for t in signature.inputs}
        if all(v is not None for v in feed.values()):
            feeds.append(feed)  # type: ignore[arg-type]
            names.append(f"example {i + 1}" + (f" ({example.name!r})" if example.name else ""))
        else:
            log.debug("%s: example %d does not convert to the graph's inputs; not used for the smoke run", card.id, i + 1)
    if not feeds:
        declared = {t.name: t.shape for t in card.inputs}
        zeros = {t.name: _zeros(t, declared) for t in signature.inputs}
        if all(v is not None for v in zeros.values()):
            feeds.append(zeros)  # type: ignore[arg-type]
            names.append(ZEROS)
    return feeds, names


def _retype(feeds: Sequence[Mapping[str, np.ndarray]], signature: Signature) -> list[dict[str, np.ndarray]]:
    """The same values in another file's input dtypes (a variant may take other types than the main file)."""
    types = {t.name: t for t in signature.inputs}
    out = []
    for feed in feeds:
        out.append({name: (value.astype(feed_dtype(types[name].dtype)) if name in types and value.dtype != object else value)
                    for name, value in feed.items()})
    return out


# ---------------------------------------------------------------- smoke run, cached

def _feeds_digest(feeds: Sequence[Mapping[str, np.ndarray]]) -> str:
    h = hashlib.sha256()
    for feed in feeds:
        for name in sorted(feed):
            value = feed[name]
            data = value.astype(str) if value.dtype == object else value
            h.update(f"{name}\0{data.dtype.str}\0{data.shape}\0".encode())
            h.update(np.ascontiguousarray(data).tobytes())
    return h.hexdigest()


def _smoke(path: Path, model: onnx.ModelProto, sha256: str, feeds: Sequence[Mapping[str, np.ndarray]], names: Sequence[str],
           cache_dir: Path | None, limits: Limits) -> tuple[SmokeResult, bool]:
    """The smoke run of a file, from the cache when this file ran on these inputs under these limits before."""
    folder = None
    if cache_dir is not None and not has_external_data(model):  # external data is not covered by the file's hash
        key = hashlib.sha256(json.dumps({
            "protocol": SMOKE_CACHE_PROTOCOL, "model": sha256, "feeds": _feeds_digest(feeds), "names": list(names),
            "onnxruntime": importlib.metadata.version("onnxruntime"),
            "memory_mb": int(limits.memory_mb), "seconds": float(limits.seconds),
        }, sort_keys=True).encode()).hexdigest()
        folder = cache_dir / "smoke" / key
        if (folder / "result.json").is_file():
            try:
                meta = json.loads((folder / "result.json").read_text(encoding="utf-8"))
                finding = Finding(**meta["finding"]) if meta.get("finding") else None
                outputs: tuple[dict[str, np.ndarray], ...] = ()
                if finding is None:
                    with np.load(folder / "outputs.npz", allow_pickle=False) as stored:
                        outputs = tuple({name: stored[f"f{i}_{name}"] for name in meta["outputs"][i]} for i in range(len(feeds)))
                return SmokeResult(finding, meta["seconds"], meta.get("peak_mb"), outputs, meta.get("kind")), True
            except (OSError, ValueError, KeyError, IndexError):
                log.warning("ignoring a damaged smoke-run cache entry %s", folder)
    result = smoke_run(path, feeds, limits, describe=names)
    # An error onnxruntime raised on these inputs is as repeatable as a success; limits and crashes are run again.
    if (result.ok or result.kind == "run") and folder is not None:
        _store_smoke(folder, result)
    return result, False


def _store_smoke(folder: Path, result: SmokeResult) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        arrays = {f"f{i}_{name}": value for i, outputs in enumerate(result.outputs) for name, value in outputs.items()}
        # allow_pickle is the default, named so that mypy knows no array is taken for it
        np.savez(staged / "outputs.npz", allow_pickle=True, **arrays)
        (staged / "result.json").write_text(json.dumps({
            "seconds": result.seconds, "peak_mb": result.peak_mb, "outputs": [sorted(o) for o in result.outputs],
            "finding": asdict(result.finding) if result.finding else None, "kind": result.kind,
        }), encoding="utf-8")
        os.replace(staged, folder)
    except OSError:  # another build stored the same key meanwhile
        shutil.rmtree(staged, ignore_errors=True)


# ---------------------------------------------------------------- records

def _operators(graph: onnx.GraphProto, counts: Counter[str]) -> int:
    """Count the operators of a graph and its subgraphs into `counts`; return the weights its nodes hold."""
    weights = 0
    for node in graph.node:
        counts[node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}:{node.op_type}"] += 1
        for attr in node.attribute:
            if node.op_type == "Constant" and attr.HasField("t"):
                weights += math.prod(attr.t.dims)
            elif node.domain == "ai.onnx.ml" and attr.type == onnx.AttributeProto.FLOATS:
                weights += len(attr.floats)  # coefficients, intercepts, tree thresholds and leaf values
            if attr.HasField("g"):
                weights += _operators(attr.g, counts)
            for g in attr.graphs:
                weights += _operators(g, counts)
    return weights


def _smoke_outcome(smoke: SmokeResult, names: Sequence[str]) -> tuple[Finding | None, str | None]:
    """(problem, note). onnxruntime refusing made-up zeros is a note: the model loaded, and zeros may be no valid input."""
    if smoke.finding is None:
        return None, None
    if smoke.kind == "run" and list(names) == [ZEROS]:
        return None, smoke.finding.message
    return smoke.finding, None


def _record(model: onnx.ModelProto, filename: str, variant: str | None, size: int, sha256: str, signature: Signature,
            smoke: SmokeResult, smoke_cached: bool, parity: Parity | None, names: Sequence[str]) -> ExportRecord:
    counts: Counter[str] = Counter()
    parameters = _operators(model.graph, counts)
    parameters += sum(math.prod(t.dims) for t in model.graph.initializer)
    parameters += sum(math.prod(s.values.dims) for s in model.graph.sparse_initializer)
    opsets = tuple(sorted((o.domain or "ai.onnx", o.version) for o in model.opset_import))
    return ExportRecord(filename=filename, variant=variant, size=size, sha256=sha256, opset=signature.opset, opsets=opsets,
                        ir_version=signature.ir_version, producer=signature.producer, inputs=signature.inputs,
                        outputs=signature.outputs, parameters=parameters, operators=counts, parity=parity,
                        smoke_seconds=round(smoke.seconds, 3), smoke_peak_mb=smoke.peak_mb, smoke_cached=smoke_cached,
                        smoke_input=ZEROS if list(names) == [ZEROS] else f"{len(names)} example{'s' if len(names) != 1 else ''}",
                        smoke_note=_smoke_outcome(smoke, names)[1])


# ---------------------------------------------------------------- parity

def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _recipe_parity(entry: ModelEntry, report: CardReporter) -> Parity | None:
    """Check parity.json from the recipe's output folder against the card's parity block."""
    card = entry.card
    spec = card.parity
    where: tuple[str | int, ...] = ("parity",) if spec is not None else ("source",)
    file = entry.recipe_dir / "parity.json" if entry.recipe_dir is not None else None
    if card.source.file:
        # A committed model file carries the parity record its export wrote, committed beside it.
        file = (card.folder / card.source.file).parent / "parity.json"
    if file is None or not file.is_file():
        if spec is not None:
            if card.source.recipe:
                report.add(where, "the card sets parity, but the recipe wrote no parity.json",
                           'write OUTDIR/parity.json ({"max_abs_diff": ..., "top1_agreement": ..., "n": ...}) '
                           "from fixed inputs in the recipe")
            else:
                report.add(where, "the card sets parity, but no parity.json records it (a recipe writes one; "
                                  "a committed file needs its parity.json committed beside it)",
                           "remove parity:, commit the parity.json your export wrote beside the model file, "
                           "or produce the model with a recipe that compares it with its source")
        return None
    hint_file = 'the recipe writes parity.json as {"max_abs_diff": 1.2e-07, "top1_agreement": 1.0, "n": 45}'
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        report.add(where, f"the parity.json the recipe wrote is not JSON: {exc}", hint_file)
        return None
    if not isinstance(data, dict):
        report.add(where, "the parity.json the recipe wrote is not a JSON object", hint_file)
        return None
    diff, top1, n = _number(data.get("max_abs_diff")), data.get("top1_agreement"), data.get("n")
    if diff is None or not math.isfinite(diff) or diff < 0:
        report.add(where, f"the parity.json the recipe wrote has no usable max_abs_diff ({data.get('max_abs_diff')!r})",
                   hint_file)
        return None
    if top1 is not None and (_number(top1) is None or not 0 <= float(top1) <= 1):
        report.add(where, f"the parity.json the recipe wrote has top1_agreement {top1!r}, not a number from 0 to 1", hint_file)
        return None
    tolerance = spec.tolerance if spec is not None and spec.tolerance is not None else DEFAULT_PARITY_TOLERANCE
    min_top1 = spec.min_top1_agreement if spec is not None and spec.min_top1_agreement is not None else DEFAULT_TOP1_AGREEMENT
    parity = Parity(against=card.framework, max_abs_diff=diff, tolerance=float(tolerance),
                    top1_agreement=_number(top1), min_top1_agreement=float(min_top1),
                    n=n if isinstance(n, int) and not isinstance(n, bool) else None)
    on = f" on {parity.n} inputs" if parity.n else ""
    if parity.max_abs_diff > parity.tolerance:
        report.add(where, f"the ONNX model differs from its {card.framework} source by up to {parity.max_abs_diff:.3g}{on} "
                          f"(max_abs_diff in parity.json), more than the tolerance {parity.tolerance:g}",
                   "fix the export (opset, dtypes, preprocessing inside the graph); if the difference is expected, "
                   "raise parity.tolerance in the card")
    if (parity.top1_agreement is not None and parity.min_top1_agreement is not None
            and parity.top1_agreement < parity.min_top1_agreement):
        of = f"of {parity.n} inputs" if parity.n else "of the inputs"
        report.add(where, f"the ONNX model agrees with its {card.framework} source on the top-1 class "
                          f"for {parity.top1_agreement:.4g} "
                          f"{of} (top1_agreement in parity.json), less than min_top1_agreement {parity.min_top1_agreement:g}",
                   "fix the export; if some disagreement is expected, lower parity.min_top1_agreement in the card")
    return parity


def compare_outputs(main: Sequence[Mapping[str, np.ndarray]], other: Sequence[Mapping[str, np.ndarray]],
                    names: Sequence[str]) -> tuple[float, float | None, str]:
    """(max abs diff, label agreement or None, where the largest difference is) between two runs on the same feeds."""
    worst, where = 0.0, ""
    same = total = 0
    for i, (a_out, b_out) in enumerate(zip(main, other)):
        for name in sorted(set(a_out) & set(b_out)):
            a, b = a_out[name], b_out[name]
            place = f"output {name!r} on {names[i] if i < len(names) else f'feed {i}'}"
            if a.shape != b.shape:
                return math.inf, None, f"{place}: shape {list(b.shape)} instead of {list(a.shape)}"
            if a.dtype.kind in "USO" or b.dtype.kind in "USO":
                diff = 0.0 if np.array_equal(a.astype(str), b.astype(str)) else math.inf
            else:
                if a.dtype.kind in "iub":
                    same += int(np.sum(a == b))
                    total += a.size
                a64, b64 = a.astype(np.float64), b.astype(np.float64)
                with np.errstate(invalid="ignore"):
                    delta = np.where(np.isnan(a64) & np.isnan(b64), 0.0, np.abs(a64 - b64))
                diff = float(np.nan_to_num(delta, nan=np.inf).max()) if delta.size else 0.0
            if not where or diff > worst:
                worst, where = diff, place
    return worst, (same / total if total else None), where


# ---------------------------------------------------------------- variants

def _variant_path(entry: ModelEntry, index: int, spec: Variant, report: CardReporter) -> tuple[Path, Path] | None:
    """Where the variant's file is, and the folder its external data must stay in."""
    card, name = entry.card, spec.name
    rel = spec.file
    if rel is not None:
        pure = PurePosixPath(rel)
        if pure.is_absolute() or rel.startswith("\\") or ":" in pure.parts[0] or ".." in pure.parts:
            report.add(("variants", index, "file"), f"{rel!r} points outside the model folder",
                       "give a path relative to the card, inside its folder")
            return None
        path = card.folder / pure
        if path.is_symlink() or not path.resolve().is_relative_to(card.folder.resolve()):
            report.add(("variants", index, "file"), f"{rel!r} is a symbolic link", "commit the file itself, not a link")
            return None
        if not path.is_file():
            report.add(("variants", index, "file"), f"file {rel!r} does not exist beside the card",
                       f"add {rel} to the model's folder or fix the path")
            return None
        if path.stat().st_size > MAX_COMMITTED_ONNX_BYTES:
            report.add(("variants", index, "file"),
                       f"{rel!r} is {path.stat().st_size} bytes, more than the {MAX_COMMITTED_ONNX_BYTES} that may be committed",
                       "produce the variant with the model's recipe instead")
            return None
        return path, card.folder
    if entry.recipe_dir is None:
        report.add(("variants", index), f"variant {name!r} has no file",
                   "add file: (a committed .onnx beside the card), or produce the model and its variants with a recipe")
        return None
    path = entry.recipe_dir / f"model.{name}.onnx"
    if not path.is_file():
        report.add(("variants", index), f"variant {name!r}: the recipe wrote no model.{name}.onnx",
                   f"write OUTDIR/model.{name}.onnx in the recipe, or remove the variant")
        return None
    return path, entry.recipe_dir


def _check_variant(entry: ModelEntry, index: int, spec: Variant, feeds: Sequence[Mapping[str, np.ndarray]],
                   names: Sequence[str], main_smoke: SmokeResult, report: CardReporter, cache_dir: Path | None,
                   limits: Limits) -> tuple[ExportRecord, Artifact] | None:
    """The variant's record and its published file, or None after reporting what is wrong with it."""
    card, name = entry.card, spec.name
    where: tuple[str | int, ...] = ("variants", index)
    found = _variant_path(entry, index, spec, report)
    if found is None:
        return None
    path, root = found
    unsafe = check_file(path, root, limits)
    for finding in unsafe:
        report.add(where, f"variant {name!r}: {finding.message}", finding.hint)
    if unsafe:
        return None
    try:
        check_model(path)
        signature = read_signature(path)
    except (onnx.checker.ValidationError, DecodeError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        report.add(where, f"variant {name!r}: the ONNX file is not a valid model: {first}", "re-export the variant")
        return None
    main_io = ([t.name for t in entry.signature.inputs], [t.name for t in entry.signature.outputs])
    io = ([t.name for t in signature.inputs], [t.name for t in signature.outputs])
    if io != main_io:
        report.add(where, f"variant {name!r} has inputs {io[0]} and outputs {io[1]}, "
                          f"but the main model {main_io[0]} and {main_io[1]}",
                   "a variant is the same model in another form: keep the names of its inputs and outputs")
        return None
    artifact = artifact_for(card, path, f"{card.short_name}.{name}.onnx", "onnx")
    model = onnx.load_model(str(path), load_external_data=False)
    smoke, cached = _smoke(path, model, artifact.sha256, _retype(feeds, signature), names, cache_dir, limits)
    problem, _ = _smoke_outcome(smoke, names)
    if problem is not None:
        report.add(where, f"variant {name!r}: {problem.message}", problem.hint)
        return None
    if not main_smoke.outputs or not smoke.outputs:
        report.add(where, f"variant {name!r} cannot be compared with the main model: the card has no example, "
                          "and onnxruntime refuses zeros as input",
                   "add an example under examples: so the build can compare the variant's outputs with the main model's")
        return None
    tolerance = float(spec.tolerance if spec.tolerance is not None else DEFAULT_VARIANT_TOLERANCE)
    diff, agreement, place = compare_outputs(main_smoke.outputs, smoke.outputs, names)
    parity = Parity(against="the main model", max_abs_diff=diff, tolerance=tolerance, top1_agreement=agreement, n=len(feeds))
    if diff > tolerance:
        hint = ("fix the variant's export, or set tolerance: on the variant to what it really achieves"
                if spec.tolerance is not None else
                f"the default tolerance is {DEFAULT_VARIANT_TOLERANCE:g}; "
                "if a larger difference is expected (e.g. int8), set tolerance: on the variant")
        report.add(where, f"variant {name!r} differs from the main model by {diff:.3g} ({place}), "
                          f"more than its tolerance {tolerance:g}", hint)
        return None
    return _record(model, artifact.filename, name, artifact.size, artifact.sha256, signature,
                   smoke, cached, parity, names), artifact


# ---------------------------------------------------------------- examples

def _check_examples(card: Card, signature: Signature, smoke: SmokeResult, report: CardReporter) -> None:
    """Every example the card gives outputs for must be reproduced by the published file, within its tolerance.

    The smoke run already ran the examples on the file; a model whose examples it did not reproduce
    (a recipe that trained other weights on this machine, a hand-edited value) is never published.
    """
    for feed_index, example_index in enumerate(example_indices(card, signature)):
        example = card.examples[example_index]
        if not example.outputs or feed_index >= len(smoke.outputs):
            continue
        got = smoke.outputs[feed_index]
        result = compare(got, dict(example.outputs), example.tolerance)
        if result["match"]:
            continue
        wanted = dict(example.outputs)
        for name in result["mismatched"]:
            diff = result["max_abs_diff"].get(name)
            where: tuple[str | int, ...] = ("examples", example_index, "outputs", name)
            label = f"example {example_index + 1}" + (f" ({example.name!r})" if example.name else "")
            if name not in got:
                report.add(where, f"{label}: the model has no output {name!r} (it has {sorted(got)})",
                           "name the example's outputs after the model's outputs")
            elif name in result["max_abs_diff"] and diff is None:
                report.add(where, f"{label}: output {name!r} has shape {list(np.shape(got[name]))}, "
                                  f"but the card gives shape {list(np.shape(np.asarray(wanted[name], dtype=object)))}",
                           "give the output exactly as the model returns it, batch axis included")
            elif diff is not None:
                text = _short(np.asarray(got[name]))
                report.add(where, f"{label}: the published model gives {name} = {text}, which differs from the card "
                                  f"by up to {diff:.4g} (tolerance {example.tolerance:g})",
                           "update the example's outputs from the model the build made (`modelshelf export` shows the file), "
                           "or fix the model; the build never publishes a model whose examples it did not reproduce")
            else:
                report.add(where, f"{label}: the published model gives {name} = {_short(np.asarray(got[name]))}",
                           "update the example's outputs to what the model returns")


def _short(value: np.ndarray, limit: int = 160) -> str:
    """An output as JSON with floats to 4 significant digits, cut at `limit` characters."""
    if value.dtype.kind == "f":
        value = np.vectorize(lambda v: float(f"{v:.4g}"), otypes=[object])(value) if value.size else value
    text = json.dumps(value.tolist())
    return text if len(text) <= limit else text[:limit] + "…"


# ---------------------------------------------------------------- the stage

@dataclass(frozen=True)
class SmokedExamples:
    """A file's smoke run on the card's examples (or zeros of the declared shapes), and what it ran on."""

    model: onnx.ModelProto
    feeds: list[dict[str, np.ndarray]]
    names: list[str]
    smoke: SmokeResult
    cached: bool


def smoke_examples(card: Card, path: Path, sha256: str, signature: Signature, report: CardReporter,
                   cache_dir: Path | None, limits: Limits) -> SmokedExamples | None:
    """Run the file on the card's examples in a child process and check every example's outputs (at its line);
    None, with the problem reported, when the file cannot be run. The build and `validate` both call this."""
    feeds, names = example_feeds(card, signature)
    if not feeds:
        report.add(("inputs",), "the build cannot make an input for the smoke run from the graph's input types",
                   "give an example under examples: with a value for every input")
        return None
    model = onnx.load_model(str(path), load_external_data=False)
    smoke, cached = _smoke(path, model, sha256, feeds, names, cache_dir, limits)
    problem, note = _smoke_outcome(smoke, names)
    if problem is not None:
        report.add(("source",), problem.message, problem.hint)
        return None
    if note:
        log.warning("%s: the model loads, but onnxruntime refused the made-up input (%s); add an example to the card "
                    "so the build can run it for real", card.id, note)
    if names != [ZEROS]:
        _check_examples(card, signature, smoke, report)
    return SmokedExamples(model, feeds, names, smoke, cached)


def _check_entry(entry: ModelEntry, report: CardReporter, cache_dir: Path | None, limits: Limits) -> ModelEntry:
    """The entry with its ExportReport and variant files; unchanged when its file was not checked."""
    card = entry.card
    path = entry.onnx.local
    if path is None:
        log.info("%s: the ONNX file is hosted at %s; not downloaded, so not smoke-run", card.id, entry.onnx.url)
        return entry
    run = smoke_examples(card, path, entry.onnx.sha256, entry.signature, report, cache_dir, limits)
    if run is None:
        return entry
    model, feeds, names, smoke, cached = run.model, run.feeds, run.names, run.smoke, run.cached
    parity = _recipe_parity(entry, report)
    main = _record(model, entry.onnx.filename, None, entry.onnx.size, entry.onnx.sha256, entry.signature,
                   smoke, cached, parity, names)
    variants: list[ExportRecord] = []
    files: list[Artifact] = []
    for index, spec in enumerate(card.variants):
        checked = _check_variant(entry, index, spec, feeds, names, smoke, report, cache_dir, limits)
        if checked is not None:
            variants.append(checked[0])
            files.append(checked[1])
    log.info("%s: smoke run %.2f s%s", card.id, smoke.seconds, " (cached)" if cached else "")
    return replace(entry, export=ExportReport(main, tuple(variants), entry.recipe_cached),
                   added_files=entry.added_files + tuple(files))


def check_exports(entries: Sequence[ModelEntry], documents: Mapping[str, Document], *,
                  cache_dir: Path | None, limits: Limits = Limits()) -> list[ModelEntry]:
    """Smoke runs, parity and variants for every entry; returns the entries with `export` and the variant files.

    Raises CatalogInvalid with every problem of every model.
    """
    problems: list[Problem] = []
    checked: list[ModelEntry] = []
    for entry in entries:
        report = CardReporter(documents.get(entry.card.ref), entry.card.card_path)
        checked.append(_check_entry(entry, report, cache_dir, limits))
        problems += report.items
    if problems:
        raise CatalogInvalid(sorted(problems))
    return checked


def export_models(models_dir: Path, model_id: str | None = None, *, cache_dir: Path,
                  limits: Limits = Limits()) -> list[ModelEntry]:
    """`modelshelf export`: recipes, safety checks, smoke runs and parity for one model or all, without building the site."""
    paths = [models_dir]
    if model_id is not None:
        if (not re.fullmatch(r"[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*", model_id)
                or not (models_dir / model_id / "card.yaml").is_file()):
            raise BuildError(f"no model {model_id!r} in {models_dir} (expected {models_dir}/{model_id}/card.yaml)")
        paths = [models_dir / model_id]
    result = load_catalog(paths, root=models_dir)
    if not result.ok:
        raise CatalogInvalid(result.problems)
    entries = enrich(result.cards, result.documents, cache_dir=cache_dir, site_url="http://127.0.0.1:8000/", limits=limits)
    return check_exports(entries, result.documents, cache_dir=cache_dir, limits=limits)


def _rows(entry: ModelEntry) -> Iterator[list[str]]:
    report = entry.export
    if report is None:
        yield [entry.onnx.filename, human_size(entry.onnx.size), entry.onnx.sha256[:12],
               "-", "-", "not checked (hosted file)", "-", "-"]
        return
    for record in report.records:
        cached = "yes" if record.smoke_cached and report.recipe_cached is not False else "no"
        yield [record.filename, record.size_text, record.sha256[:12], str(record.opset), f"{record.parameters:,}",
               record.parity.text if record.parity else "-", f"{record.smoke_seconds:.2f} s", cached]


def format_report(entries: Sequence[ModelEntry]) -> str:
    """A table per model: file, size, sha256[:12], opset, parameters, parity, smoke run, cached."""
    header = ["file", "size", "sha256", "opset", "params", "parity", "smoke", "cached"]
    blocks = []
    for entry in entries:
        rows = [header, *_rows(entry)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = [entry.card.id] + ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        blocks.append("\n".join(lines))
    done = sum(1 for e in entries if e.export is not None)
    blocks.append(f"{len(entries)} model{'s' if len(entries) != 1 else ''} exported, {done} smoke-run and checked")
    return "\n\n".join(blocks)
