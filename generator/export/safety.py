"""Safety checks for ONNX files beyond `onnx.checker`, and the smoke run in a child process.

Model files are untrusted input. Two checks run on every ONNX file the build publishes (main file
and variants), and the build process itself never hands one to onnxruntime:

- `check_file` reads the protobuf without its external data and refuses what could hurt the
  build machine or mislead onnxruntime: files over the size cap, external data outside the
  model's folder (absolute paths, `..`, symbolic or hard links, ranges past the end of the file),
  tensors whose data does not match their dims, absurd dims, and operators from custom domains
  that onnxruntime does not know. A pickle, LFS pointer or zip is named by `onnx_info.sniff`.
- `smoke_run` creates an onnxruntime session and runs the model once per feed in a child
  process (`python -m modelshelf.generator.export.safety WORKDIR`) started by `generator.sandbox` under an
  address-space limit (RLIMIT_AS) and a wall-clock limit. A tiny "bomb" whose graph
  builds a tensor of many gigabytes fails there, with a message, instead of taking the build down.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import signal
import stat
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto

from modelshelf.generator import sandbox
from modelshelf.generator.enrich.onnx_info import sniff

log = logging.getLogger(__name__)

MB = 1 << 20
# Domains whose operators onnxruntime's CPU provider implements; anything else needs a custom-op library.
KNOWN_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "com.microsoft.nchwc",
                           "com.microsoft.experimental", "ai.onnx.preview.training"})
MAX_FINDINGS = 8  # per file; a broken export can have thousands of bad tensors


@dataclass(frozen=True)
class Limits:
    """What a model may cost the build machine. The defaults suit GitHub-hosted runners."""

    max_file_bytes: int = 200 * MB  # model file plus its external data (committed files are capped at 10 MB earlier)
    max_dim: int = 2**31 - 1  # largest single dimension of a tensor or graph input/output
    max_elements: int = 2**31  # largest number of elements of one tensor
    memory_mb: int = 2048  # address-space limit of the smoke run
    seconds: float = 60.0  # wall-clock limit of the smoke run
    domains: frozenset[str] = KNOWN_DOMAINS


@dataclass(frozen=True)
class Finding:
    """One reason a file is refused: a message for `file:line:col: $.path: message` and a hint."""

    message: str
    hint: str


@dataclass(frozen=True)
class SmokeResult:
    """What the child process reported. `outputs[i]` maps output name to value for feed i (tensors only)."""

    finding: Finding | None
    seconds: float
    peak_mb: float | None = None
    outputs: tuple[dict[str, np.ndarray], ...] = field(default=(), compare=False)
    kind: str | None = None  # what failed: "memory", "time", "crash", "load" or "run" (an error onnxruntime raised)

    @property
    def ok(self) -> bool:
        return self.finding is None


# ---------------------------------------------------------------- static checks

_BITS = {name: bits for name, bits in (
    ("FLOAT", 32), ("UINT8", 8), ("INT8", 8), ("UINT16", 16), ("INT16", 16), ("INT32", 32), ("INT64", 64),
    ("BOOL", 8), ("FLOAT16", 16), ("DOUBLE", 64), ("UINT32", 32), ("UINT64", 64), ("COMPLEX64", 64),
    ("COMPLEX128", 128), ("BFLOAT16", 16), ("FLOAT8E4M3FN", 8), ("FLOAT8E4M3FNUZ", 8), ("FLOAT8E5M2", 8),
    ("FLOAT8E5M2FNUZ", 8), ("UINT4", 4), ("INT4", 4), ("FLOAT4E2M1", 4), ("FLOAT8E8M0", 8), ("UINT2", 2), ("INT2", 2),
)}
_TYPE_BITS = {getattr(TensorProto, name): bits for name, bits in _BITS.items() if hasattr(TensorProto, name)}
# Typed (non-raw) storage: field and values per element, for the types whose count is unambiguous.
_TYPED_FIELD: dict[int, tuple[str, int]] = {
    TensorProto.FLOAT: ("float_data", 1), TensorProto.COMPLEX64: ("float_data", 2),
    TensorProto.DOUBLE: ("double_data", 1), TensorProto.COMPLEX128: ("double_data", 2),
    TensorProto.INT64: ("int64_data", 1), TensorProto.UINT32: ("uint64_data", 1), TensorProto.UINT64: ("uint64_data", 1),
    TensorProto.STRING: ("string_data", 1),
    **{t: ("int32_data", 1) for t in (TensorProto.INT32, TensorProto.INT16, TensorProto.INT8, TensorProto.UINT16,
                                      TensorProto.UINT8, TensorProto.BOOL, TensorProto.FLOAT16, TensorProto.BFLOAT16)},
}


def _type_name(data_type: int) -> str:
    try:
        return str(onnx.helper.tensor_dtype_to_np_dtype(data_type))
    except (KeyError, ValueError, TypeError):
        try:
            return TensorProto.DataType.Name(data_type).lower()
        except ValueError:
            return f"type {data_type}"


def _label(name: str) -> str:
    return repr(name if len(name) <= 80 else name[:77] + "...")


def _shape_text(dims: Sequence[int]) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"


def _walk_graph(graph: onnx.GraphProto) -> Iterator[tuple[str, onnx.TensorProto | None, onnx.NodeProto | None]]:
    """Every tensor (with a label saying where it is) and every node of a graph and its subgraphs."""
    for t in graph.initializer:
        yield f"initializer {_label(t.name)}", t, None
    for s in graph.sparse_initializer:
        yield f"sparse initializer {_label(s.values.name)} (values)", s.values, None
        yield f"sparse initializer {_label(s.values.name)} (indices)", s.indices, None
    for node in graph.node:
        yield "", None, node
        yield from _walk_attributes(node)


def _walk_attributes(node: onnx.NodeProto) -> Iterator[tuple[str, onnx.TensorProto | None, onnx.NodeProto | None]]:
    node_label = f"node {_label(node.name or node.op_type)}"
    for attr in node.attribute:
        if attr.HasField("t"):
            yield f"tensor {_label(attr.t.name or attr.name)} of {node_label}", attr.t, None
        for t in attr.tensors:
            yield f"tensor {_label(t.name or attr.name)} of {node_label}", t, None
        if attr.HasField("sparse_tensor"):
            yield f"sparse tensor {_label(attr.name)} of {node_label}", attr.sparse_tensor.values, None
            yield f"sparse tensor {_label(attr.name)} of {node_label}", attr.sparse_tensor.indices, None
        if attr.HasField("g"):
            yield from _walk_graph(attr.g)
        for g in attr.graphs:
            yield from _walk_graph(g)


def walk_model(model: onnx.ModelProto) -> Iterator[tuple[str, onnx.TensorProto | None, onnx.NodeProto | None]]:
    """(label, tensor, None) for every tensor and ("", None, node) for every node, subgraphs and functions included."""
    yield from _walk_graph(model.graph)
    for function in model.functions:
        for node in function.node:
            yield "", None, node
            yield from _walk_attributes(node)


def _nbytes(data_type: int, elements: int) -> int | None:
    bits = _TYPE_BITS.get(data_type)
    return None if bits is None else (elements * bits + 7) // 8


def _dims_findings(label: str, dims: Sequence[int], limits: Limits) -> tuple[list[Finding], int | None]:
    """Findings for a tensor's dims, and its element count when the dims are sane."""
    if any(d < 0 for d in dims):
        return [Finding(f"{label} has a negative dimension in its shape {_shape_text(dims)}",
                        "the file is corrupt or was edited by hand; re-export the model")], None
    if any(d > limits.max_dim for d in dims):
        return [Finding(f"{label} has shape {_shape_text(dims)}, with a dimension over {limits.max_dim}",
                        "the file is corrupt or was edited by hand; re-export the model")], None
    elements = math.prod(dims)
    if elements > limits.max_elements:
        return [Finding(f"{label} has shape {_shape_text(dims)}: {elements} elements, "
                        f"more than the {limits.max_elements} allowed",
                        "no tensor of a model published here may be that large; re-export the model")], None
    return [], elements


def _data_findings(label: str, t: onnx.TensorProto, elements: int) -> list[Finding]:
    """Does the tensor's stored data have the size its dims and type say?"""
    need = _nbytes(t.data_type, elements)
    what = f"its shape {_shape_text(t.dims)} of {_type_name(t.data_type)}"
    hint = "the initializer is inconsistent (truncated, or edited without its dims); re-export the model"
    if t.raw_data:
        if need is not None and len(t.raw_data) != need:
            return [Finding(f"{label} has {len(t.raw_data)} bytes of data, but {what} needs {need}", hint)]
        return []
    typed = _TYPED_FIELD.get(t.data_type)
    if typed is None:
        return []
    name, per = typed
    have = len(getattr(t, name))
    if have != elements * per:
        return [Finding(f"{label} has {have} values in {name}, but {what} needs {elements * per}", hint)]
    return []


def _is_absolute(location: str) -> bool:
    return (location.startswith(("/", "\\")) or PurePosixPath(location).is_absolute()
            or PureWindowsPath(location).is_absolute() or bool(PureWindowsPath(location).drive))


def _external_findings(label: str, t: onnx.TensorProto, elements: int | None, base: Path,
                       root: Path) -> tuple[list[Finding], Path | None]:
    """Where a tensor's external data lives must be a plain file inside the model's folder, holding the bytes it claims."""
    info = {e.key: e.value for e in t.external_data}
    location = info.get("location", "")
    outside = ("keep external data files in the model's folder and name them by a relative path without '..' "
               "(onnx.save_model(..., location='model.onnx.data'))")
    if not location or "\0" in location:
        return [Finding(f"{label} keeps its data in an external file but names no location", "re-export the model")], None
    if _is_absolute(location):
        return [Finding(f"{label} keeps its data at the absolute path {location!r}", outside)], None
    parts = [p for p in re.split(r"[\\/]", location) if p not in ("", ".")]
    if ".." in parts:
        return [Finding(f"{label} keeps its data at {location!r}, outside the model's folder", outside)], None
    target = base.joinpath(*parts)
    step = base
    for part in parts:
        step = step / part
        if step.is_symlink():
            return [Finding(f"{label} keeps its data in {location!r}, which is a symbolic link",
                            "write the data file itself into the model's folder, not a link to it")], None
    if not Path(os.path.realpath(target)).is_relative_to(os.path.realpath(root)):
        return [Finding(f"{label} keeps its data at {location!r}, outside the model's folder", outside)], None
    try:
        st = os.lstat(target)
    except OSError:
        return [Finding(f"{label} keeps its data in {location!r}, which does not exist beside the model",
                        "ship the external data file with the model, or save the model without external data")], None
    if not stat.S_ISREG(st.st_mode):
        return [Finding(f"{label} keeps its data in {location!r}, which is not a regular file", "re-export the model")], None
    if st.st_nlink > 1:
        return [Finding(f"{label} keeps its data in {location!r}, a file with {st.st_nlink} hard links",
                        "write a fresh file; a hard link can expose a file from elsewhere on the machine")], None
    try:
        offset = int(info.get("offset", "0"))
        length = int(info["length"]) if "length" in info else None
    except ValueError:
        return [Finding(f"{label} gives a non-numeric offset or length for {location!r}", "re-export the model")], target
    need = _nbytes(t.data_type, elements) if elements is not None else None
    if offset < 0 or (length is not None and length < 0):
        return [Finding(f"{label} gives a negative offset or length for {location!r}", "re-export the model")], target
    if length is not None and need is not None and length != need:
        return [Finding(f"{label} has {length} bytes of data in {location!r}, but its shape {_shape_text(t.dims)} "
                        f"of {_type_name(t.data_type)} needs {need}",
                        "the initializer is inconsistent (truncated, or edited without its dims); re-export the model")], target
    extent = length if length is not None else need if need is not None else 0
    if offset + extent > st.st_size:
        return [Finding(f"{label} needs bytes {offset} to {offset + extent} of {location!r}, which has only {st.st_size}",
                        "the external data file is truncated or belongs to another export; re-export the model")], target
    return [], target


def _io_findings(model: onnx.ModelProto, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for kind, values in (("input", model.graph.input), ("output", model.graph.output)):
        for v in values:
            dims = [d.dim_value for d in v.type.tensor_type.shape.dim if d.HasField("dim_value")]
            if any(d < 0 or d > limits.max_dim for d in dims):
                out.append(Finding(f"graph {kind} {_label(v.name)} has a dimension outside 0..{limits.max_dim} "
                                   f"in {_shape_text(dims)}",
                                   "the file is corrupt or was edited by hand; re-export the model"))
            elif math.prod(dims) > limits.max_elements:
                out.append(Finding(f"graph {kind} {_label(v.name)} has fixed dims {_shape_text(dims)}: "
                                   f"more than {limits.max_elements} elements",
                                   "no input or output of a model published here may be that large"))
    return out


def check_file(path: Path, root: Path, limits: Limits = Limits()) -> list[Finding]:
    """Everything wrong with an ONNX file that can be seen without running it; [] if it may be loaded.

    `root` is the model's folder: external data must resolve inside it. Nothing is read beyond the
    model file itself and the size of its external data files.
    """
    try:
        with path.open("rb") as fh:
            what = sniff(fh.read(64))
    except OSError as exc:
        return [Finding(f"the ONNX file cannot be read: {exc.strerror or exc}", "check that the file exists and is readable")]
    if what:
        return [Finding(f"the ONNX file is not a valid model: {what}",
                        "publish the exported .onnx file itself (torch.onnx.export, skl2onnx, ...)")]
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        return [Finding(f"the ONNX file is {size / MB:.1f} MB, "
                        f"more than the {limits.max_file_bytes / MB:.0f} MB the build accepts",
                        "make the model smaller (e.g. quantise it) or raise max_model_mb in mkdocs.yml")]
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [Finding(f"the ONNX file is not a valid model: its protobuf cannot be parsed ({first}); "
                        "the file is truncated or corrupt",
                        "re-export or re-download the model; compare its size and SHA-256 with the original")]
    findings: list[Finding] = []
    external: set[Path] = set()
    allowed = limits.domains | {f.domain for f in model.functions}
    foreign: dict[str, set[str]] = {}
    for label, tensor, node in walk_model(model):
        if node is not None:
            if node.domain not in allowed:
                foreign.setdefault(node.domain, set()).add(node.op_type)
            continue
        assert tensor is not None
        dim_findings, elements = _dims_findings(label, tensor.dims, limits)
        findings += dim_findings
        if tensor.data_location == TensorProto.EXTERNAL:
            ext_findings, target = _external_findings(label, tensor, elements, path.parent, root)
            findings += ext_findings
            if target is not None:
                external.add(target)
        elif elements is not None:
            findings += _data_findings(label, tensor, elements)
    findings += _io_findings(model, limits)
    for domain, ops in sorted(foreign.items()):
        findings.append(Finding(f"the graph uses operators from the custom domain {domain!r} ({', '.join(sorted(ops)[:5])}), "
                                "which onnxruntime does not know",
                                "export with standard operators (ai.onnx, ai.onnx.ml, com.microsoft); "
                                "the build loads no custom-operator libraries"))
    total = size + sum(p.stat().st_size for p in external)
    if total > limits.max_file_bytes:
        findings.append(Finding(f"the ONNX file and its external data are {total / MB:.1f} MB, more than the "
                                f"{limits.max_file_bytes / MB:.0f} MB the build accepts",
                                "make the model smaller (e.g. quantise it) or raise max_model_mb in mkdocs.yml"))
    if len(findings) > MAX_FINDINGS:
        more = len(findings) - MAX_FINDINGS
        findings = findings[:MAX_FINDINGS] + [Finding(f"... and {more} more problems of this file", "fix the ones above first")]
    return findings


def has_external_data(model: onnx.ModelProto) -> bool:
    """True if any tensor of the model (loaded without its external data) keeps its data in another file."""
    return any(t is not None and t.data_location == TensorProto.EXTERNAL for _, t, _ in walk_model(model))


# ---------------------------------------------------------------- smoke run (parent side)

_MEMORY_WORDS = ("failed to allocate memory", "bad_alloc", "memoryerror", "cannot allocate memory", "out of memory")


def _first_line(text: str, width: int = 300) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= width else line[:width - 3] + "..."


def _ort_error(text: str) -> str:
    """The useful part of an onnxruntime error ("[ONNXRuntimeError] : 1 : FAIL : ... Status Message: /src/x.cc:12 f() what")."""
    line = " ".join(part.strip() for part in text.strip().splitlines() if part.strip())
    line = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", line)
    if "Status Message: " in line:
        head, _, message = line.partition("Status Message: ")
        message = re.sub(r"^\S+\.(cc|h|cpp):\d+ .*?\) ", "", message)
        node = re.search(r"running (\S+ node)", head)
        line = f"{node.group(1)}: {message}" if node else message
    return _first_line(line)


def _memory_finding(limits: Limits, when: str, detail: str) -> Finding:
    asked = re.search(r"buffer of size (\d+)", detail)
    extra = f"; it asked for {int(asked.group(1)) / MB / 1024:.1f} GB at once" if asked else ""
    return Finding(f"the model needs more than {limits.memory_mb} MB {when} "
                   f"(limit of the smoke run: {limits.memory_mb} MB){extra}",
                   "a small file whose graph builds huge tensors (ConstantOfShape, Expand, Tile, Resize) is refused; "
                   "if the model really needs more, raise smoke_memory_mb in mkdocs.yml")


def smoke_run(path: Path, feeds: Sequence[Mapping[str, np.ndarray]], limits: Limits = Limits(), *,
              describe: Sequence[str] = ()) -> SmokeResult:
    """Create an onnxruntime session for `path` and run it once per feed, in a child process under `limits`.

    Never raises for anything the model does: a crash, a memory or time limit, a load or run error
    come back as `SmokeResult.finding`. `describe[i]` names feed i in messages ("the first example").
    """
    names = [f"the feed {i}" for i in range(len(feeds))]
    names[:len(describe)] = list(describe)[:len(feeds)]
    with sandbox.clean_folder("modelshelf-smoke-") as work:
        inputs = sorted({name for feed in feeds for name in feed})
        arrays = {f"f{i}_{inputs.index(name)}": _storable(value) for i, feed in enumerate(feeds) for name, value in feed.items()}
        # allow_pickle is the default, named so that mypy knows no array is taken for it
        np.savez(work / "feeds.npz", allow_pickle=True, **arrays)
        (work / "spec.json").write_text(json.dumps({
            "model": str(path.resolve()), "inputs": inputs, "feeds": len(feeds), "memory_mb": limits.memory_mb,
        }), encoding="utf-8")
        # onnxruntime runs on one thread, so CPU time beyond twice the wall-clock limit means the build lost track of it.
        proc = sandbox.run(sandbox.python("-m", "modelshelf.generator.export.safety", str(work)), cwd=work,
                           limits=sandbox.RunLimits(seconds=limits.seconds, memory_mb=limits.memory_mb,
                                                    cpu_seconds=2 * limits.seconds + 1))
        seconds = proc.seconds
        if proc.timed_out:
            return SmokeResult(Finding(f"the model did not finish one run within {limits.seconds:g} s (limit of the smoke run)",
                                       "look for loops and huge shapes in the graph; if the model really is that slow, "
                                       "raise smoke_seconds in mkdocs.yml"), seconds, kind="time")
        result_file = work / "result.json"
        if proc.returncode != 0 or not result_file.is_file():
            finding = _crash_finding(proc.returncode, proc.stderr, limits)
            return SmokeResult(finding, seconds, kind="memory" if "needs more than" in finding.message else "crash")
        result = json.loads(result_file.read_text(encoding="utf-8"))
        peak = proc.peak_mb
        if result.get("error"):
            error = result["error"]
            what = names[result["feed"]] if result.get("feed") is not None else ""
            if any(word in error.lower() for word in _MEMORY_WORDS):
                when = f"when run on {what}" if what else "when loaded by onnxruntime"
                return SmokeResult(_memory_finding(limits, when, error), seconds, peak, kind="memory")
            if result.get("stage") == "load":
                return SmokeResult(Finding(f"onnxruntime cannot load the model: {_ort_error(error)}",
                                           "`python -c \"import onnxruntime as ort; ort.InferenceSession('model.onnx')\"` "
                                           "shows the details"),
                                   seconds, peak, kind="load")
            return SmokeResult(Finding(f"onnxruntime failed to run the model on {what}: {_ort_error(error)}",
                                       "check that the example's values have the input's shape and dtype, "
                                       "then run the model by hand with onnxruntime"), seconds, peak, kind="run")
        with np.load(work / "outputs.npz", allow_pickle=False) as stored:
            outputs = tuple({name: stored[f"f{i}_{j}"] for j, name in enumerate(result["outputs"]) if f"f{i}_{j}" in stored.files}
                            for i in range(len(feeds)))
    log.debug("smoke run of %s: %.2f s, peak %.0f MB", path, seconds, peak or 0)
    return SmokeResult(None, seconds, peak, outputs)


def _storable(value: np.ndarray) -> np.ndarray:
    # Strings travel as fixed-width unicode: .npz of object arrays would need pickle.
    return value.astype(str) if value.dtype == object else value


def _crash_finding(returncode: int, stderr: str, limits: Limits) -> Finding:
    if any(word in stderr.lower() for word in _MEMORY_WORDS):
        return _memory_finding(limits, "when loaded or run", stderr)
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return Finding(f"onnxruntime crashed ({name}) while loading or running the model under the smoke-run limits "
                       f"({limits.memory_mb} MB, {limits.seconds:g} s)",
                       "run the model by hand with onnxruntime to see where it fails; "
                       "a crash on a valid model is an onnxruntime bug")
    tail = _first_line("\n".join(stderr.strip().splitlines()[-1:])) or "no output"
    return Finding(f"the smoke run of the model failed with exit code {returncode}: {tail}",
                   "run the model by hand with onnxruntime to see the details")


# ---------------------------------------------------------------- smoke run (child side)

def _child(work: Path) -> int:
    """Runs in the child, which the sandbox has limited: load and run the model, then report in result.json."""
    spec = json.loads((work / "spec.json").read_text(encoding="utf-8"))
    result: dict[str, object] = {"error": None, "stage": "load", "feed": None, "outputs": []}
    outputs: dict[str, np.ndarray] = {}
    try:
        import onnxruntime as ort

        ort.set_default_logger_severity(4)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 4
        session = ort.InferenceSession(spec["model"], options, providers=["CPUExecutionProvider"])
        result["outputs"] = [o.name for o in session.get_outputs()]
        result["stage"] = "run"
        with np.load(work / "feeds.npz", allow_pickle=False) as feeds:
            for i in range(int(spec["feeds"])):
                result["feed"] = i
                feed = {name: feeds[f"f{i}_{j}"] for j, name in enumerate(spec["inputs"]) if f"f{i}_{j}" in feeds.files}
                feed = {k: v.astype(object) if v.dtype.kind == "U" else v for k, v in feed.items()}
                values = session.run(None, feed)
                for j, value in enumerate(values):
                    if isinstance(value, np.ndarray):
                        outputs[f"f{i}_{j}"] = value.astype(str) if value.dtype == object else value
        result["feed"] = None
        # allow_pickle is the default, named so that mypy knows no array is taken for it
        np.savez(work / "outputs.npz", allow_pickle=True, **outputs)
    except MemoryError:
        result["error"] = "MemoryError"
    except Exception as exc:  # noqa: BLE001 - every failure is reported to the parent
        result["error"] = str(exc).strip()[:2000] or type(exc).__name__
    (work / "result.json").write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(_child(Path(sys.argv[1])))
