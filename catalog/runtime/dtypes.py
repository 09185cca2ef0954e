"""The element types a card may declare, with what numpy and ONNX call them: Modelshelf's one dtype table.

The card schema's `dtype` enum lists the same names. ONNX element types are the plain numbers of
`onnx.TensorProto.DataType` (FLOAT = 1, ...), so the runtime, which deploy bundles copy verbatim,
does not need the onnx package.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DType", "DTYPES", "FLOATS", "INTS", "NUMERIC", "by_onnx", "card_dtype", "feed_dtype"]


@dataclass(frozen=True)
class DType:
    """One element type: its card name, numpy scalar type, ONNX element type and ONNX type-string name."""

    name: str  # as a card writes it: float32, int64, string, ...
    numpy: type  # numpy scalar type of an array of the values (np.str_ for strings)
    onnx: int  # onnx.TensorProto element type
    onnx_name: str  # as ONNX type strings write it: tensor(float), tensor(double), tensor(int64)
    kind: str  # "float", "int", "bool" or "string"


DTYPES: dict[str, DType] = {d.name: d for d in (
    DType("float32", np.float32, 1, "float", "float"),
    DType("float16", np.float16, 10, "float16", "float"),
    DType("float64", np.float64, 11, "double", "float"),
    DType("int8", np.int8, 3, "int8", "int"),
    DType("uint8", np.uint8, 2, "uint8", "int"),
    DType("int16", np.int16, 5, "int16", "int"),
    DType("int32", np.int32, 6, "int32", "int"),
    DType("int64", np.int64, 7, "int64", "int"),
    DType("bool", np.bool_, 9, "bool", "bool"),
    DType("string", np.str_, 8, "string", "string"),
)}
FLOATS = frozenset(n for n, d in DTYPES.items() if d.kind == "float")
INTS = frozenset(n for n, d in DTYPES.items() if d.kind == "int")
NUMERIC = FLOATS | INTS
_BY_ONNX = {d.onnx: d for d in DTYPES.values()}


def by_onnx(elem_type: int) -> DType | None:
    """The card type of an ONNX element type (None for types a card cannot declare, e.g. bfloat16)."""
    return _BY_ONNX.get(elem_type)


def card_dtype(elem_type: int) -> str:
    """The card's name for an ONNX element type; `typeN` for one a card cannot declare."""
    found = _BY_ONNX.get(elem_type)
    return found.name if found else f"type{elem_type}"


def feed_dtype(name: str) -> Any:
    """The numpy dtype of an onnxruntime input or output of card type `name` (strings travel as object arrays).

    Raises TypeError for a name that is not in the table.
    """
    found = DTYPES.get(name)
    if found is None:
        raise TypeError(f"{name!r} is not an element type a card can declare")
    return object if found.kind == "string" else np.dtype(found.numpy)
