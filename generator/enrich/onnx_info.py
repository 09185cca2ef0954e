"""Read what the site shows about an ONNX file, and check it against the card's declared signature."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from modelshelf.catalog.model import Card, Tensor
from modelshelf.catalog.runtime.dtypes import card_dtype

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int | str | None, ...]

    @property
    def shape_text(self) -> str:
        return "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"


@dataclass(frozen=True)
class Signature:
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    opset: int
    ir_version: int
    producer: str


def _tensor_info(value: onnx.ValueInfoProto) -> TensorInfo:
    ttype = value.type.tensor_type
    dims: list[int | str | None] = []
    for dim in ttype.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(dim.dim_value)
        elif dim.HasField("dim_param"):
            dims.append(dim.dim_param)
        else:
            dims.append(None)
    return TensorInfo(value.name, card_dtype(ttype.elem_type), tuple(dims))


def read_signature(path: Path) -> Signature:
    """Inputs (without initializers), outputs, opset and producer of an ONNX file; raises onnx errors on bad files."""
    model = onnx.load(str(path), load_external_data=False)
    initializers = {init.name for init in model.graph.initializer}
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    return Signature(
        inputs=tuple(_tensor_info(v) for v in model.graph.input if v.name not in initializers),
        outputs=tuple(_tensor_info(v) for v in model.graph.output),
        opset=opset, ir_version=model.ir_version,
        producer=f"{model.producer_name} {model.producer_version}".strip(),
    )


class NotAnOnnxFile(ValueError):
    """Raised by check_model when the file is plainly something else (a pickle, a Git LFS pointer, empty)."""


def sniff(head: bytes) -> str | None:
    """Name what a file that is not ONNX is, from its first bytes; None if it may be ONNX."""
    if not head:
        return "the file is empty"
    if head.startswith(b"version https://git-lfs"):
        return "the file is a Git LFS pointer, not the model: fetch it with `git lfs pull` or use source: {url, sha256, size}"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "the file is a Python pickle, not an ONNX model; pickles can run code and are never loaded"
    if head.startswith(b"PK\x03\x04"):
        return "the file is a zip archive (a PyTorch checkpoint?), not an ONNX model; export it with torch.onnx.export"
    return None


def check_model(path: Path) -> None:
    """Refuse files that are plainly not ONNX, then onnx.checker on the file (by path, so external data is handled)."""
    with path.open("rb") as fh:
        what = sniff(fh.read(64))
    if what:
        raise NotAnOnnxFile(what)
    onnx.checker.check_model(str(path))


INVALID_MODEL_HINT = ("re-export the model; "
                      "`python -c \"import onnx; onnx.checker.check_model('model.onnx')\"` shows the details")


def checked_signature(path: Path) -> tuple[Signature | None, str]:
    """(the file's signature, "") after check_model, or (None, why it is not a valid model) for INVALID_MODEL_HINT."""
    try:
        check_model(path)
        return read_signature(path), ""
    except (onnx.checker.ValidationError, DecodeError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"the ONNX file is not a valid model: {first}"


def _dims_compatible(declared: tuple[int | str | None, ...], actual: tuple[int | str | None, ...]) -> bool:
    if len(declared) != len(actual):
        return False
    return all(not isinstance(d, int) or not isinstance(a, int) or d == a for d, a in zip(declared, actual))


def signature_mismatches(card: Card, sig: Signature) -> list[tuple[tuple[str | int, ...], str, str]]:
    """(card path, message, hint) for each way the card's inputs/outputs disagree with the ONNX graph."""
    out: list[tuple[tuple[str | int, ...], str, str]] = []
    for kind, declared, actual in (("inputs", card.inputs, sig.inputs), ("outputs", card.outputs, sig.outputs)):
        actual_names = [t.name for t in actual]
        if [t.name for t in declared] != actual_names:
            out.append(((kind,), f"{kind} {[t.name for t in declared]} do not match the ONNX graph's {actual_names}",
                        f"list the graph's {kind} in its order: {', '.join(actual_names)}"))
            continue
        for i, (d, a) in enumerate(zip(declared, actual)):
            if d.dtype != a.dtype:
                out.append(((kind, i, "dtype"), f"{d.name} is {a.dtype} in the ONNX graph, not {d.dtype}",
                            f"set dtype: {a.dtype}"))
            if a.shape and not _dims_compatible(d.shape, a.shape):
                shape = "[" + ", ".join("null" if x is None else str(x) for x in a.shape) + "]"
                out.append(((kind, i, "shape"), f"{d.name} has shape {shape} in the ONNX graph, not {list(d.shape)}",
                            f"set shape: {shape}"))
    return out


def declared_tensor(t: Tensor) -> TensorInfo:
    return TensorInfo(t.name, t.dtype, t.shape)
