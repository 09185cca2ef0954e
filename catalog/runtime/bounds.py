"""Which models may run in the server process: a conservative proof that a model's cost is set by its input SHAPES.

A model whose tensor shapes or work can follow input *values* (a ConstantOfShape sized by an input,
a Loop counted by one, a Reshape/Expand/Tile/Range/TopK/OneHot/Resize whose size comes from a
computed tensor, ...) can turn a 50-byte request into gigabytes or hours, so the server runs it in
worker processes (`workers.py`). A model built only from operators whose output shapes and work
follow from their input shapes and the model's constants cannot: its cost grows with the size of
the request, which the body limit bounds. `analyse` tries to prove that, by abstract interpretation
of the graph over shapes:

- every graph input must declare its rank; a fixed dimension is enforced by onnxruntime, a dynamic
  one is only known to be at most `max_elements` (over the product of the input's dimensions, each
  counted as at least 1: the server checks exactly that before running a request);
- every node must be on an allow-list (`_RULES`) whose rule computes its outputs' shapes from its
  inputs' shapes, and reads a tensor's values only when it is a constant of the model (an
  initializer that is not also a graph input, or a `Constant` node); an operator that is not on the
  list, a subgraph (Loop, Scan, If), a model-local function or a domain other than ai.onnx and
  ai.onnx.ml makes the model unproven;
- a dynamic dimension is tracked as `Dyn`: an upper bound, and when possible the input axes whose
  product (times `scale`) it cannot exceed, so that a tensor's element count is bounded by the
  inputs' sizes (linear in the request) and an outer product of two requests' dimensions is seen as
  the square it is;
- the proof then bounds the memory of every tensor a request creates (8 bytes an element, plus
  convolution buffers) and the work of each node (about one multiply-add a unit), at the largest
  request the body limit admits.

Anything the rules do not understand is refused: a model that is not proven still runs, in worker
processes, as before. This module needs neither the onnx package nor protobuf: deploy bundles copy
the runtime verbatim and install only numpy and onnxruntime, so the ONNX file is read by the small
protobuf wire-format reader below (the fields of onnx.proto it needs, by number).
"""
from __future__ import annotations

import logging
import math
import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

log = logging.getLogger(__name__)

__all__ = ["Dyn", "ModelFormatError", "Proof", "analyse", "preprocessing_is_bounded", "read_model",
           "ELEMENT_BYTES", "NODE_WORK_LIMIT"]

ELEMENT_BYTES = 8  # the widest numeric element onnxruntime's CPU kernels use here (int64, double)
NODE_WORK_LIMIT = 10**9  # multiply-adds one node may need on the largest request (about a second on one core)
# Preprocessing steps whose output is no larger than their input, or of a size the card fixes (byte_sample);
# `resize` is not one: it blows a 1 x 1 x N "image" up to width x height x N.
BOUNDED_PREPROCESSING = frozenset({"scale", "normalize", "cast", "layout", "grayscale", "byte_sample"})


class ModelFormatError(ValueError):
    """Raised by `read_model` when the bytes are not a protobuf message this reader can follow."""


# -- protobuf wire format --------------------------------------------------------------------------

def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ModelFormatError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ModelFormatError("varint longer than 10 bytes")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _fields(buf: memoryview) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value): an int for varints, a memoryview for the other wire types."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ModelFormatError(f"unsupported protobuf wire type {wire}")
        if pos > end:
            raise ModelFormatError("truncated field")
        yield number, wire, value


def _ints(wire: int, value: Any) -> list[int]:
    """A repeated integer field's values in one occurrence, packed or not."""
    if wire == 0:
        return [_signed(value)]
    if wire != 2:
        raise ModelFormatError("an integer field with a non-integer wire type")
    out, pos = [], 0
    while pos < len(value):
        item, pos = _varint(value, pos)
        out.append(_signed(item))
    return out


def _floats(wire: int, value: Any) -> list[float]:
    if wire == 5:
        return [struct.unpack("<f", value)[0]]
    if wire == 2 and len(value) % 4 == 0:
        return list(struct.unpack(f"<{len(value) // 4}f", value))
    raise ModelFormatError("a float field with an unexpected wire type")


def _text(value: Any) -> str:
    return bytes(value).decode("utf-8", "replace")


# -- the parts of onnx.proto the proof reads -------------------------------------------------------

_INT_TYPES = {7: "q", 6: "i", 5: "h", 3: "b", 2: "B", 4: "H", 12: "I", 13: "Q", 9: "?"}  # TensorProto.DataType -> struct
STRING = 8  # TensorProto.STRING


@dataclass
class Tensor:
    """A TensorProto's name, dims and type; `values` holds the integers of a small integer tensor stored in the file."""

    name: str = ""
    dims: tuple[int, ...] = ()
    data_type: int = 0
    values: tuple[int, ...] | None = None
    external: bool = False


def _tensor(buf: memoryview, small: int = 4096) -> Tensor:
    dims: list[int] = []
    t = Tensor()
    raw: memoryview | None = None
    listed: list[int] = []
    for number, wire, value in _fields(buf):
        if number == 1:
            dims += _ints(wire, value)
        elif number == 2:
            t.data_type = value
        elif number == 8:
            t.name = _text(value)
        elif number == 9:
            raw = value
        elif number in (5, 7, 11):  # int32_data, int64_data, uint64_data
            listed += _ints(wire, value)
        elif number in (13, 14):  # external_data, data_location
            t.external = t.external or number == 13 or value == 1
    t.dims = tuple(dims)
    count = math.prod(t.dims)
    code = _INT_TYPES.get(t.data_type)
    if code is not None and count <= small and not t.external:
        if raw is not None and len(raw) == count * struct.calcsize(code):
            t.values = tuple(int(v) for v in struct.unpack(f"<{count}{code}", raw))
        elif raw is None and len(listed) == count:
            t.values = tuple(listed)
    return t


@dataclass
class Attribute:
    name: str = ""
    i: int | None = None
    f: float | None = None
    s: bytes | None = None
    t: Tensor | None = None
    ints: list[int] = field(default_factory=list)
    floats: list[float] = field(default_factory=list)
    strings: list[bytes] = field(default_factory=list)
    tensors: int = 0
    subgraph: bool = False  # g or graphs: the node runs a graph of its own
    other: bool = False  # a reference to a function's attribute, a sparse tensor, a type: not modelled


def _attribute(buf: memoryview) -> Attribute:
    a = Attribute()
    for number, wire, value in _fields(buf):
        if number == 1:
            a.name = _text(value)
        elif number == 2:
            a.f = _floats(wire, value)[0]
        elif number == 3:
            a.i = _signed(value)
        elif number == 4:
            a.s = bytes(value)
        elif number == 5:
            a.t = _tensor(value)
        elif number in (6, 11):
            a.subgraph = True
        elif number == 7:
            a.floats += _floats(wire, value)
        elif number == 8:
            a.ints += _ints(wire, value)
        elif number == 9:
            a.strings.append(bytes(value))
        elif number == 10:
            a.tensors += 1
        elif number in (14, 15, 21, 22, 23):
            a.other = True
    return a


@dataclass
class Node:
    op_type: str = ""
    domain: str = ""
    name: str = ""
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    attrs: dict[str, Attribute] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.op_type} node {self.name!r}" if self.name else f"{self.op_type} node (outputs {', '.join(self.outputs)})"

    def i(self, name: str, default: int) -> int:
        a = self.attrs.get(name)
        return default if a is None or a.i is None else a.i

    def ints(self, name: str, default: Sequence[int] | None = None) -> list[int] | None:
        a = self.attrs.get(name)
        return list(default) if a is None and default is not None else (None if a is None else list(a.ints))

    def s(self, name: str, default: str) -> str:
        a = self.attrs.get(name)
        return default if a is None or a.s is None else a.s.decode("utf-8", "replace")

    def count(self, name: str) -> int:
        """How many values a list attribute holds (ints, floats or strings)."""
        a = self.attrs.get(name)
        return 0 if a is None else len(a.ints) + len(a.floats) + len(a.strings)


def _node(buf: memoryview) -> Node:
    n = Node()
    for number, _wire, value in _fields(buf):
        if number == 1:
            n.inputs.append(_text(value))
        elif number == 2:
            n.outputs.append(_text(value))
        elif number == 3:
            n.name = _text(value)
        elif number == 4:
            n.op_type = _text(value)
        elif number == 5:
            a = _attribute(value)
            n.attrs[a.name] = a
        elif number == 7:
            n.domain = _text(value)
    return n


@dataclass
class ValueInfo:
    """A graph input or output: `shape` is None when it is not a tensor with a declared rank; a dim is None when dynamic."""

    name: str = ""
    elem_type: int = 0
    tensor: bool = False
    shape: tuple[int | None, ...] | None = None


def _value_info(buf: memoryview) -> ValueInfo:
    v = ValueInfo()
    for number, _wire, value in _fields(buf):
        if number == 1:
            v.name = _text(value)
        elif number == 2:
            for tnum, _w, tval in _fields(value):
                if tnum == 1:  # TypeProto.tensor_type; any other (sequence, map, optional, sparse) is not a tensor
                    v.tensor = True
                    for num, _w2, val in _fields(tval):
                        if num == 1:
                            v.elem_type = val
                        elif num == 2:
                            dims: list[int | None] = []
                            for dnum, _w3, dval in _fields(val):
                                if dnum == 1:
                                    dim: int | None = None
                                    for knum, _w4, kval in _fields(dval):
                                        if knum == 1:
                                            dim = _signed(kval)
                                    dims.append(dim)
                            v.shape = tuple(dims)
    return v


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    initializers: dict[str, Tensor] = field(default_factory=dict)
    sparse_initializers: list[str] = field(default_factory=list)
    inputs: list[ValueInfo] = field(default_factory=list)
    outputs: list[ValueInfo] = field(default_factory=list)


@dataclass
class Model:
    graph: Graph
    opsets: dict[str, int]
    functions: int = 0


def read_model(data: bytes | memoryview) -> Model:
    """The parts of an ONNX ModelProto the proof needs. Raises ModelFormatError on bytes it cannot follow."""
    buf = memoryview(data)
    graph: Graph | None = None
    opsets: dict[str, int] = {}
    functions = 0
    for number, _wire, value in _fields(buf):
        if number == 7:
            graph = _graph(value)
        elif number == 8:
            domain, version = "", 0
            for num, _w, val in _fields(value):
                if num == 1:
                    domain = _text(val)
                elif num == 2:
                    version = val
            opsets[domain] = version
        elif number == 25:
            functions += 1
    if graph is None:
        raise ModelFormatError("the file has no graph")
    return Model(graph, opsets, functions)


def _graph(buf: memoryview) -> Graph:
    g = Graph()
    for number, _wire, value in _fields(buf):
        if number == 1:
            g.nodes.append(_node(value))
        elif number == 5:
            t = _tensor(value)
            g.initializers[t.name] = t
        elif number == 15:
            for num, _w, val in _fields(value):
                if num in (1, 2):  # values / indices: a TensorProto with the name
                    name = _tensor(val).name
                    if name:
                        g.sparse_initializers.append(name)
        elif number == 11:
            g.inputs.append(_value_info(value))
        elif number == 12:
            g.outputs.append(_value_info(value))
    return g


# -- shapes ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dyn:
    """A dimension known only up to `bound`; when `factor` is set, it is also at most `scale` times the product of
    those input axes' sizes (each counted as at least 1). An empty `factor` with `scale` k means "at most k"."""

    bound: int
    factor: frozenset[tuple[str, int]] | None = None
    scale: int = 1


Dim = int | Dyn
Shape = tuple[Dim, ...]


def _upto(n: int) -> Dyn:
    return Dyn(max(0, n), frozenset(), max(0, n))


def _bound(d: Dim) -> int:
    return d if isinstance(d, int) else d.bound


def _shrink(d: Dim) -> Dim:
    """A dimension that is at most `d` (a slice of it, a pooled size without padding)."""
    return _upto(d) if isinstance(d, int) else d


def _grow(d: Dim, extra: int) -> Dim:
    """A dynamic dimension plus at most `extra` (padding): still linear, since each factor counts at least 1."""
    if extra <= 0:
        return d
    if isinstance(d, int):
        return _upto(d + extra)
    return Dyn(d.bound + extra, d.factor, d.scale + extra)


def _same(dims: Sequence[Dim]) -> Dim:
    """Dimensions onnxruntime requires to be equal (a contraction, Concat's other axes): any one bounds them all."""
    ints = [d for d in dims if isinstance(d, int)]
    if ints:
        return ints[0]
    dyns = [d for d in dims if isinstance(d, Dyn)]
    tight = min(dyns, key=lambda d: (d.factor is None, d.bound))
    return Dyn(min(d.bound for d in dyns), tight.factor, tight.scale)


def _either(dims: Sequence[Dim]) -> Dim:
    """Dimensions broadcast together: each is 1 or the result."""
    big = [d for d in dims if isinstance(d, int) and d != 1]
    if big:
        return max(big)
    dyns = [d for d in dims if isinstance(d, Dyn)]
    if not dyns:
        return 1
    bound = max(d.bound for d in dyns)
    if all(d.factor == dyns[0].factor for d in dyns) and dyns[0].factor is not None:
        return Dyn(bound, dyns[0].factor, max(d.scale for d in dyns))
    return Dyn(bound)


def _broadcast(shapes: Sequence[Shape]) -> Shape:
    rank = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    return tuple(_either([s[i] for s in padded]) for i in range(rank))


def _joint(dyns: Sequence[Dyn]) -> frozenset[tuple[str, int]] | None:
    """The input axes that bound these dimensions together: the union of their factors when each has one and no
    input axis appears twice (else None: their product may be a square)."""
    union: set[tuple[str, int]] = set()
    count = 0
    for d in dyns:
        if d.factor is None:
            return None
        union |= d.factor
        count += len(d.factor)
    return frozenset(union) if count == len(union) else None


def _product_dim(dims: Sequence[Dim], elements: Callable[[Shape], int]) -> Dim:
    """One dimension that is the product of `dims` (Flatten, the indices of ArrayFeatureExtractor)."""
    if all(isinstance(d, int) for d in dims):
        return math.prod(d for d in dims if isinstance(d, int))
    dyns = [d for d in dims if isinstance(d, Dyn)]
    ints = math.prod(d for d in dims if isinstance(d, int))
    joint = _joint(dyns)
    if joint is not None:
        return Dyn(elements(tuple(dims)), joint, ints * math.prod(d.scale for d in dyns))
    return Dyn(elements(tuple(dims)))


# -- the proof -------------------------------------------------------------------------------------

class Unproven(Exception):
    """Raised inside `analyse` when a node or input is outside what the rules can bound; the message says why."""


@dataclass(frozen=True)
class Proof:
    """What `analyse` found. `safe` models may run in the server process; `reason` says why a model is not safe."""

    safe: bool
    reason: str
    max_elements: int  # the request size (elements, per input) the numbers below are for
    peak_bytes: int = 0  # every tensor a request creates, summed (an upper bound on what onnxruntime holds at once)
    max_node_work: int = 0  # multiply-adds of the most expensive node
    total_work: int = 0  # multiply-adds of the whole graph
    nodes: int = 0
    output_elements: int = 0  # elements of the graph's outputs, summed (what the answer holds)

    def as_dict(self) -> dict[str, Any]:
        return {"proven": self.safe, "reason": self.reason, "max_elements": self.max_elements,
                "peak_mb": round(self.peak_bytes / (1 << 20), 1), "max_node_work": self.max_node_work,
                "total_work": self.total_work, "nodes": self.nodes, "output_elements": self.output_elements}


class _Analysis:
    def __init__(self, model: Model, max_elements: int) -> None:
        self.model, self.max_elements = model, max_elements
        self.shapes: dict[str, Shape] = {}
        self.consts: dict[str, Tensor] = {}
        self.budget: dict[str, int] = {}
        self.bytes = self.max_work = self.total_work = 0

    def elements(self, shape: Shape) -> int:
        """An upper bound on the element count of a tensor of this shape."""
        ints = math.prod(d for d in shape if isinstance(d, int))
        dyns = [d for d in shape if isinstance(d, Dyn)]
        if not dyns or ints == 0:
            return ints
        loose = math.prod(d.bound for d in dyns)
        joint = _joint(dyns)
        if joint is not None:
            inputs = {name for name, _axis in joint}
            tight = math.prod(d.scale for d in dyns) * math.prod(self.budget[name] for name in inputs)
            return ints * min(loose, tight)
        return ints * loose

    def const(self, name: str) -> tuple[int, ...] | None:
        """The integer values of a model constant (None for a computed tensor, or one too large to read)."""
        t = self.consts.get(name)
        return None if t is None else t.values

    def run(self, memory_bytes: int | None, node_work_limit: int) -> Proof:
        g = self.model.graph
        E = self.max_elements
        if self.model.functions:
            raise Unproven("the model defines local functions")
        if g.sparse_initializers:
            raise Unproven("the model has sparse initializers")
        for name, t in g.initializers.items():
            self.shapes[name] = t.dims
            self.consts[name] = t
        for v in g.inputs:
            if v.name in self.consts:  # a graph input with a default: a request may replace it
                del self.consts[v.name]
            if not v.tensor or v.shape is None:
                raise Unproven(f"input {v.name!r} is not a tensor with a declared rank")
            if v.elem_type == STRING:
                raise Unproven(f"input {v.name!r} holds strings (their sizes are not counted)")
            fixed = math.prod(max(d, 1) for d in v.shape if d is not None)
            self.budget[v.name] = E // fixed
            self.shapes[v.name] = tuple(d if d is not None else Dyn(E // fixed, frozenset({(v.name, axis)}))
                                        for axis, d in enumerate(v.shape))
            self.bytes += self.elements(self.shapes[v.name]) * ELEMENT_BYTES
        for node in g.nodes:
            self._node(node)
        for v in g.outputs:
            if v.name not in self.shapes:
                raise Unproven(f"output {v.name!r} is not computed by the graph")
        outputs = sum(self.elements(self.shapes[v.name]) for v in g.outputs)
        proof = Proof(True, "", E, self.bytes, self.max_work, self.total_work, len(g.nodes), outputs)
        if memory_bytes is not None and self.bytes > memory_bytes:
            return Proof(False, f"the largest request ({E} elements an input) could need {self.bytes >> 20} MB of tensors, "
                         f"more than the memory limit of {memory_bytes >> 20} MB", **_numbers(proof))
        if self.max_work > node_work_limit:
            return Proof(False, f"one node could need {self.max_work:.3g} multiply-adds on the largest request "
                         f"({E} elements an input), more than {node_work_limit:.3g}", **_numbers(proof))
        return proof

    def _node(self, node: Node) -> None:
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        rule = _RULES.get((domain, node.op_type))
        if rule is None:
            raise Unproven(f"{node.label}: {(domain + '.') if domain else ''}{node.op_type} is not on the allow-list of "
                           "operators whose output shapes and work follow from their input shapes")
        for a in node.attrs.values():
            if a.subgraph:
                raise Unproven(f"{node.label} runs a subgraph")
            if a.other:
                raise Unproven(f"{node.label} has an attribute of a kind the proof does not read ({a.name!r})")
        ins: list[Shape | None] = []
        for name in node.inputs:
            if not name:
                ins.append(None)
            elif name in self.shapes:
                ins.append(self.shapes[name])
            else:
                raise Unproven(f"{node.label} reads {name!r}, which no earlier node computes")
        if not ins or ins[0] is None:
            if node.op_type != "Constant":
                raise Unproven(f"{node.label} has no first input")
        outs, work, extra = rule(self, node, ins)
        named = [o for o in node.outputs if o]
        if len(node.outputs) > len(outs) and any(node.outputs[len(outs):]):
            raise Unproven(f"{node.label} has outputs the proof does not model")
        for name, shape in zip(node.outputs, outs):
            if name:
                self.shapes[name] = shape
                self.bytes += self.elements(shape) * ELEMENT_BYTES
        self.bytes += extra
        work = max(work, sum(self.elements(s) for s in outs[:len(named)]))
        self.max_work = max(self.max_work, work)
        self.total_work += work


def _numbers(proof: Proof) -> dict[str, int]:
    return {"max_elements": proof.max_elements, "peak_bytes": proof.peak_bytes, "max_node_work": proof.max_node_work,
            "total_work": proof.total_work, "nodes": proof.nodes, "output_elements": proof.output_elements}


def analyse(model: Model | bytes, *, max_elements: int, memory_bytes: int | None = None,
            node_work_limit: int = NODE_WORK_LIMIT) -> Proof:
    """Prove that every request of at most `max_elements` elements an input (each dimension counted as at least 1)
    makes onnxruntime create at most `memory_bytes` of tensors and no node do more than `node_work_limit`
    multiply-adds. Never raises: a model it cannot read or bound gets `Proof(safe=False, reason=...)`."""
    try:
        parsed = model if isinstance(model, Model) else read_model(model)
        return _Analysis(parsed, max_elements).run(memory_bytes, node_work_limit)
    except Unproven as exc:
        return Proof(False, str(exc), max_elements)
    except (ModelFormatError, struct.error, ValueError, KeyError, IndexError, TypeError, ZeroDivisionError,
            OverflowError, RecursionError) as exc:
        log.debug("bounds: cannot analyse the model", exc_info=True)
        return Proof(False, f"the model could not be analysed ({type(exc).__name__}: {exc})", max_elements)


def preprocessing_is_bounded(steps: Sequence[Mapping[str, Any]]) -> str | None:
    """None when the card's preprocessing makes tensors no larger than the request (or of a size the card fixes);
    else which step does not."""
    for step in steps:
        if step.get("op") not in BOUNDED_PREPROCESSING:
            return f"the card's preprocessing step {step.get('op')!r} can make a tensor larger than the request"
    return None


# -- the rules: (analysis, node, input shapes) -> (output shapes, work, extra bytes) ---------------

Rule = Callable[[_Analysis, Node, list[Any]], tuple[list[Shape], int, int]]


def _need(shape: Shape | None, node: Node, what: str = "input") -> Shape:
    if shape is None:
        raise Unproven(f"{node.label} lacks its {what}")
    return shape


def _axis(axis: int, rank: int, node: Node) -> int:
    if not -rank <= axis < rank:
        raise Unproven(f"{node.label} has axis {axis} outside rank {rank}")
    return axis % rank


def _elementwise(outputs: int = 1, cost: int = 1) -> Rule:
    def rule(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
        x = _need(ins[0], node)
        return [x] * outputs, cost * a.elements(x), 0
    return rule


def _cast(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    if node.i("to", 1) == STRING:
        raise Unproven(f"{node.label} casts to strings (their sizes are not counted)")
    return [_need(ins[0], node)], a.elements(ins[0]), 0


def _normalization(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    if node.i("training_mode", 0):
        raise Unproven(f"{node.label} runs in training mode")
    x = _need(ins[0], node)
    return [x], 4 * a.elements(x), 0


def _broadcasting(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    shapes = [_need(s, node) for s in ins]
    out = _broadcast(shapes)
    return [out], a.elements(out) * max(1, len(shapes) - 1), 0


def _matmul(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    x, w = _need(ins[0], node), _need(ins[1], node)
    if not x or not w:
        raise Unproven(f"{node.label} multiplies a scalar")
    x2 = x if len(x) >= 2 else (1, *x)
    w2 = w if len(w) >= 2 else (*w, 1)
    out = _broadcast([x2[:-2], w2[:-2]]) + ((x2[-2],) if len(x) >= 2 else ()) + ((w2[-1],) if len(w) >= 2 else ())
    k = _same([x2[-1], w2[-2]])
    return [out], a.elements(out) * _bound(k), 0


def _gemm(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    x, w = _need(ins[0], node), _need(ins[1], node)
    if len(x) != 2 or len(w) != 2:
        raise Unproven(f"{node.label} needs two matrices")
    m, k = (x[1], x[0]) if node.i("transA", 0) else (x[0], x[1])
    k2, n = (w[1], w[0]) if node.i("transB", 0) else (w[0], w[1])
    out: Shape = (m, n)
    return [out], a.elements(out) * (_bound(_same([k, k2])) + 1), 0


def _window(node: Node, spatial: Sequence[Dim], kernel: Sequence[int], with_dilations: bool) -> list[Dim]:
    """Output sizes of a convolution or pooling window over `spatial`."""
    rank = len(spatial)
    strides = node.ints("strides", [1] * rank) or [1] * rank
    dilations = (node.ints("dilations", [1] * rank) or [1] * rank) if with_dilations else [1] * rank
    pads = node.ints("pads", [0] * (2 * rank)) or [0] * (2 * rank)
    auto_pad = node.s("auto_pad", "NOTSET")
    ceil_mode = node.i("ceil_mode", 0)
    if len(strides) != rank or len(dilations) != rank or len(pads) != 2 * rank or len(kernel) != rank:
        raise Unproven(f"{node.label}: kernel, strides, dilations or pads do not fit the input's rank")
    if min(strides) < 1 or min(dilations) < 1 or min(kernel) < 1 or min(pads) < 0:
        raise Unproven(f"{node.label}: a stride, dilation or kernel size below 1, or a negative pad")
    out: list[Dim] = []
    for i, d in enumerate(spatial):
        reach = dilations[i] * (kernel[i] - 1) + 1
        pad = pads[i] + pads[i + rank]
        if isinstance(d, int):
            if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
                out.append(-(-d // strides[i]))
            else:
                span = d + (pad if auto_pad == "NOTSET" else 0) - reach
                if ceil_mode:  # onnxruntime may drop the last window when it starts in the padding
                    out.append(_upto(max(0, -(-span // strides[i]) + 1)))
                else:
                    out.append(max(0, span // strides[i] + 1))
        elif auto_pad == "NOTSET":
            out.append(_grow(d, pad - reach + 1 + ceil_mode))
        else:
            out.append(_grow(d, ceil_mode))
    return out


def _conv(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    x, w = _need(ins[0], node), _need(ins[1], node)
    if len(x) < 3 or len(w) != len(x) or not all(isinstance(d, int) for d in w):
        raise Unproven(f"{node.label} needs an N x C x ... input and weights of fixed shape")
    wi = [d for d in w if isinstance(d, int)]
    kernel = node.ints("kernel_shape", wi[2:]) or wi[2:]
    spatial = _window(node, x[2:], kernel, with_dilations=True)
    out: Shape = (x[0], wi[0], *spatial)
    per_output = wi[1] * math.prod(kernel)
    columns = per_output * a.elements(tuple(spatial)) * ELEMENT_BYTES  # one image's im2col buffer
    return [out], a.elements(out) * per_output, columns


def _pool(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    x = _need(ins[0], node)
    kernel = node.ints("kernel_shape")
    if len(x) < 3 or not kernel:
        raise Unproven(f"{node.label} needs an N x C x ... input and a kernel_shape")
    out: Shape = (x[0], x[1], *_window(node, x[2:], kernel, with_dilations=node.op_type == "MaxPool"))
    return [out, out], a.elements(out) * math.prod(kernel), 0


def _global_pool(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    x = _need(ins[0], node)
    if len(x) < 3:
        raise Unproven(f"{node.label} needs an N x C x ... input")
    return [(x[0], x[1], *([1] * (len(x) - 2)))], a.elements(x), 0


def _flatten(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    x = _need(ins[0], node)
    axis = node.i("axis", 1)
    axis = axis + len(x) if axis < 0 else axis
    if not 0 <= axis <= len(x):
        raise Unproven(f"{node.label} has axis {axis} outside rank {len(x)}")
    out: Shape = (_product_dim(x[:axis], a.elements), _product_dim(x[axis:], a.elements))
    return [out], a.elements(x), 0


def _transpose(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    x = _need(ins[0], node)
    perm = node.ints("perm") or list(reversed(range(len(x))))
    if sorted(perm) != list(range(len(x))):
        raise Unproven(f"{node.label} has a perm that is not a permutation of the input's axes")
    return [tuple(x[p] for p in perm)], a.elements(x), 0


def _const_input(a: _Analysis, node: Node, index: int, attr: str | None = None) -> list[int] | None:
    """An integer list given as constant input `index` (or, for older opsets, as attribute `attr`); None if absent.
    A computed (non-constant) one cannot be bounded: Unproven."""
    if index < len(node.inputs) and node.inputs[index]:
        values = a.const(node.inputs[index])
        if values is None:
            raise Unproven(f"{node.label} takes {node.inputs[index]!r} as a shape or axes, and it is not a constant "
                           "of the model (its values could come from the request)")
        return list(values)
    return node.ints(attr) if attr else None


def _reshape(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    x = _need(ins[0], node)
    target = _const_input(a, node, 1, "shape")
    if target is None:
        raise Unproven(f"{node.label} has no shape")
    allowzero = node.i("allowzero", 0)
    copied = {i for i, v in enumerate(target) if v == 0 and not allowzero}
    if any(i >= len(x) for i in copied) or target.count(-1) > 1 or any(v < -1 for v in target):
        raise Unproven(f"{node.label} has a shape the proof does not model")
    out: list[Dim] = [x[i] if i in copied else v for i, v in enumerate(target)]
    if -1 in target:
        hole = target.index(-1)
        # The hole holds what the copied dims (which cancel out) and the fixed ones leave of the input.
        fixed = math.prod(v for i, v in enumerate(target) if i not in copied and v != -1)
        rest = [d for i, d in enumerate(x) if i not in copied]
        rest_dyn = [d for d in rest if isinstance(d, Dyn)]
        rest_int = math.prod(d for d in rest if isinstance(d, int))
        joint = _joint(rest_dyn)
        if not rest_dyn:
            out[hole] = rest_int // fixed if fixed else 0
        elif joint is not None:
            scale = math.ceil(rest_int * math.prod(d.scale for d in rest_dyn) / max(1, fixed))
            out[hole] = Dyn(a.elements(tuple(rest)) // max(1, fixed), joint, scale)
        else:
            out[hole] = Dyn(a.elements(tuple(rest)) // max(1, fixed))
    return [tuple(out)], a.elements(x), 0


def _squeeze(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    x = _need(ins[0], node)
    axes = _const_input(a, node, 1, "axes")
    if not axes:
        if any(isinstance(d, Dyn) for d in x):
            raise Unproven(f"{node.label} squeezes every size-1 axis of a tensor with dynamic axes (its rank is unknown)")
        return [tuple(d for d in x if d != 1)], 0, 0
    drop = {_axis(i, len(x), node) for i in axes}
    return [tuple(d for i, d in enumerate(x) if i not in drop)], 0, 0


def _unsqueeze(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    x = _need(ins[0], node)
    axes = _const_input(a, node, 1, "axes")
    if not axes:
        raise Unproven(f"{node.label} has no axes")
    rank = len(x) + len(axes)
    added = {_axis(i, rank, node) for i in axes}
    it = iter(x)
    return [tuple(1 if i in added else next(it) for i in range(rank))], 0, 0


def _concat(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    shapes = [_need(s, node) for s in ins]
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes) or rank == 0:
        raise Unproven(f"{node.label} joins tensors of different ranks")
    axis = _axis(node.i("axis", 0), rank, node)
    along = [s[axis] for s in shapes]
    joined: Dim
    if all(isinstance(d, int) for d in along):
        joined = sum(d for d in along if isinstance(d, int))
    else:
        dyns = [d for d in along if isinstance(d, Dyn)]
        total = sum(_bound(d) for d in along)
        if dyns[0].factor is not None and all(d.factor == dyns[0].factor for d in dyns):
            joined = Dyn(total, dyns[0].factor, sum(d.scale if isinstance(d, Dyn) else d for d in along))
        else:
            joined = Dyn(total)
    out = tuple(joined if i == axis else _same([s[i] for s in shapes]) for i in range(rank))
    return [out], a.elements(out), 0


def _gather(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    data, indices = _need(ins[0], node), _need(ins[1], node)
    axis = _axis(node.i("axis", 0), len(data), node)
    out = (*data[:axis], *indices, *data[axis + 1:])
    return [out], a.elements(out), 0


def _slice(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    x = _need(ins[0], node)
    starts = ends = axes = steps = None
    try:
        starts, ends = _const_input(a, node, 1, "starts"), _const_input(a, node, 2, "ends")
        axes, steps = _const_input(a, node, 3, "axes"), _const_input(a, node, 4)
    except Unproven:
        starts = None  # computed bounds: every axis is at most what it was
    if starts is None or ends is None or len(starts) != len(ends):
        return [tuple(_shrink(d) for d in x)], a.elements(x), 0
    axes = axes or list(range(len(starts)))
    steps = steps or [1] * len(starts)
    out = list(x)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        i = _axis(axis, len(x), node)
        if step == 0:
            raise Unproven(f"{node.label} has a step of 0")
        d = x[i]
        out[i] = len(range(d)[start:end:step]) if isinstance(d, int) else d
    return [tuple(out)], a.elements(x), 0


def _pad(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    x = _need(ins[0], node)
    pads = _const_input(a, node, 1, "pads")
    axes = _const_input(a, node, 3)
    if pads is None:
        raise Unproven(f"{node.label} has no pads")
    axes = [_axis(i, len(x), node) for i in axes] if axes else list(range(len(x)))
    if len(pads) != 2 * len(axes):
        raise Unproven(f"{node.label}: pads do not fit the axes")
    out = list(x)
    for j, i in enumerate(axes):
        extra = pads[j] + pads[j + len(axes)]
        d = x[i]
        out[i] = max(0, d + extra) if isinstance(d, int) else _grow(d, extra)
    shape = tuple(out)
    return [shape], a.elements(shape), 0


def _reduce(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    x = _need(ins[0], node)
    keep = node.i("keepdims", 1)
    if node.op_type in ("ArgMax", "ArgMin"):
        axes: list[int] | None = [node.i("axis", 0)]
    else:
        axes = _const_input(a, node, 1, "axes")
    if not axes:
        if node.i("noop_with_empty_axes", 0):
            return [x], a.elements(x), 0
        axes = list(range(len(x)))
    drop = {_axis(i, len(x), node) for i in axes} if x else set()
    out = tuple(1 if i in drop else d for i, d in enumerate(x)) if keep else tuple(d for i, d in enumerate(x) if i not in drop)
    return [out], 2 * a.elements(x), 0


def _shape(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    x = _need(ins[0], node)
    start, end = node.i("start", 0), node.i("end", len(x))
    return [(len(range(len(x))[start:end]),)], 1, 0


def _size(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    _need(ins[0], node)
    return [()], 1, 0


def _constant(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    if len(node.attrs) != 1:
        raise Unproven(f"{node.label} has not exactly one value attribute")
    (name, attr), = node.attrs.items()
    t: Tensor
    if name == "value" and attr.t is not None:
        t = attr.t
    elif name in ("value_int", "value_float", "value_string"):
        t = Tensor(dims=(), data_type=7 if name == "value_int" else 1, values=(attr.i,) if attr.i is not None else None)
    elif name in ("value_ints", "value_floats", "value_strings"):
        count = len(attr.ints) + len(attr.floats) + len(attr.strings)
        t = Tensor(dims=(count,), data_type=7 if name == "value_ints" else 1,
                   values=tuple(attr.ints) if name == "value_ints" else None)
    else:
        raise Unproven(f"{node.label} has a {name!r} value the proof does not read")
    if node.outputs and node.outputs[0]:
        a.consts[node.outputs[0]] = t
    return [t.dims], 0, 0


# ai.onnx.ml: rows x features in, one label per row and one score per class out.

def _rows(node: Node, x: Shape) -> tuple[Dim, Dim]:
    if len(x) == 1:
        return 1, x[0]
    if len(x) == 2:
        return x[0], x[1]
    raise Unproven(f"{node.label} needs a [N, C] or [C] input")


def _label_bytes(a: _Analysis, node: Node, rows: Dim) -> int:
    labels = node.attrs.get("classlabels_strings")
    if labels is None or not labels.strings:
        return 0
    return a.elements((rows,)) * (64 + max(len(s) for s in labels.strings))


def _classes(node: Node) -> int:
    return max(node.count("classlabels_ints"), node.count("classlabels_strings"))


def _linear_classifier(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    n, c = _rows(node, _need(ins[0], node))
    classes = max(2, _classes(node), node.count("intercepts"))
    return [(n,), (n, _upto(classes))], a.elements((n, c)) * classes, _label_bytes(a, node, n)


def _linear_regressor(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    n, c = _rows(node, _need(ins[0], node))
    targets = node.i("targets", 1)
    return [(n, targets)], a.elements((n, c)) * max(1, targets), 0


def _tree_nodes(node: Node) -> int:
    return max(node.count("nodes_nodeids"), node.count("nodes_featureids"), 1) + max(
        node.count("class_ids"), node.count("target_ids"), node.count("leaf_targetids"), 0)


def _tree_classifier(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    n, _c = _rows(node, _need(ins[0], node))
    classes = max(2, _classes(node))
    return [(n,), (n, _upto(classes))], a.elements((n,)) * (_tree_nodes(node) + classes), _label_bytes(a, node, n)


def _tree_regressor(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    n, _c = _rows(node, _need(ins[0], node))
    targets = max(1, node.i("n_targets", 1))
    return [(n, targets)], a.elements((n,)) * (_tree_nodes(node) + targets), 0


def _svm(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    n, c = _rows(node, _need(ins[0], node))
    work = a.elements((n,)) * (node.count("support_vectors") + node.count("coefficients") + _bound(c) + 1)
    if node.op_type == "SVMRegressor":
        return [(n, 1)], work, 0
    classes = max(2, _classes(node))
    return [(n,), (n, _upto(classes * (classes + 1) // 2))], work, _label_bytes(a, node, n)


def _feature_extractor(a: _Analysis, node: Node, ins: list[Any]) -> tuple[list[Shape], int, int]:
    x, indices = _need(ins[0], node), _need(ins[1], node)
    picked = _product_dim(indices, a.elements) if indices else 1
    out: Shape = (1, picked) if len(x) == 1 else (*x[:-1], picked)
    return [out], a.elements(out), 0


_UNARY = ("Abs Acos Acosh Asin Asinh Atan Atanh BitwiseNot Ceil Celu Clip Cos Cosh Elu Erf Exp Floor Gelu HardSigmoid "
          "HardSwish Identity IsInf IsNaN LeakyRelu Log Mish Neg Not Reciprocal Relu Round Selu Shrink Sigmoid Sign Sin "
          "Sinh Softplus Softsign Sqrt Tan Tanh ThresholdedRelu").split()
_BROADCASTING = ("Add And BitShift BitwiseAnd BitwiseOr BitwiseXor Div Equal Greater GreaterOrEqual Less LessOrEqual "
                 "Max Mean Min Mod Mul Or PRelu Pow Sub Sum Where Xor").split()
_REDUCING = ("ArgMax ArgMin ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd "
             "ReduceSum ReduceSumSquare").split()

_RULES: dict[tuple[str, str], Rule] = {
    **{("", op): _elementwise() for op in _UNARY},
    **{("", op): _broadcasting for op in _BROADCASTING},
    **{("", op): _reduce for op in _REDUCING},
    ("", "Cast"): _cast, ("", "CastLike"): _cast, ("", "Dropout"): _elementwise(outputs=2),
    ("", "Softmax"): _elementwise(cost=4), ("", "LogSoftmax"): _elementwise(cost=4), ("", "Hardmax"): _elementwise(cost=2),
    ("", "LRN"): _elementwise(cost=8), ("", "BatchNormalization"): _normalization,
    ("", "InstanceNormalization"): _normalization, ("", "LayerNormalization"): _normalization,
    ("", "MeanVarianceNormalization"): _normalization,
    ("", "MatMul"): _matmul, ("", "Gemm"): _gemm, ("", "Conv"): _conv,
    ("", "MaxPool"): _pool, ("", "AveragePool"): _pool, ("", "LpPool"): _pool,
    ("", "GlobalAveragePool"): _global_pool, ("", "GlobalMaxPool"): _global_pool, ("", "GlobalLpPool"): _global_pool,
    ("", "Flatten"): _flatten, ("", "Transpose"): _transpose, ("", "Reshape"): _reshape,
    ("", "Squeeze"): _squeeze, ("", "Unsqueeze"): _unsqueeze, ("", "Concat"): _concat, ("", "Gather"): _gather,
    ("", "Slice"): _slice, ("", "Pad"): _pad, ("", "Shape"): _shape, ("", "Size"): _size, ("", "Constant"): _constant,
    ("ai.onnx.ml", "LinearClassifier"): _linear_classifier, ("ai.onnx.ml", "LinearRegressor"): _linear_regressor,
    ("ai.onnx.ml", "Normalizer"): _elementwise(cost=2), ("ai.onnx.ml", "Scaler"): _elementwise(cost=2),
    ("ai.onnx.ml", "Binarizer"): _elementwise(), ("ai.onnx.ml", "Imputer"): _elementwise(),
    ("ai.onnx.ml", "TreeEnsembleClassifier"): _tree_classifier, ("ai.onnx.ml", "TreeEnsembleRegressor"): _tree_regressor,
    ("ai.onnx.ml", "TreeEnsemble"): _tree_regressor,
    ("ai.onnx.ml", "SVMClassifier"): _svm, ("ai.onnx.ml", "SVMRegressor"): _svm,
    ("ai.onnx.ml", "ArrayFeatureExtractor"): _feature_extractor,
}
