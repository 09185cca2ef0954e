"""The shape-bounds proof (catalog/runtime/bounds.py, issue 12): which models may run in the server process.

The proof must be conservative: every model whose cost can follow input VALUES is refused (the value
bombs of tests/fixtures/onnx/make_onnx.py first), and for a proven model the bound on every tensor
must hold for every input within the element budget, which `test_bounds_hold_for_real_runs` checks
against onnxruntime itself.
"""
from __future__ import annotations

import importlib.util
import itertools
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from modelshelf.catalog.runtime import bounds

E = 1 << 19  # elements an input: what a 1 MB body holds at two bytes a number


def _make_onnx() -> Any:
    path = Path(__file__).parents[1] / "fixtures" / "onnx" / "make_onnx.py"
    spec = importlib.util.spec_from_file_location("make_onnx", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
          initializers: Sequence[onnx.TensorProto] = (), ml: bool = False, opset: int = 17) -> bytes:
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("ai.onnx.ml", 3)] if ml else [])
    m = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, list(initializers)), opset_imports=opsets)
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m.SerializeToString()


def tensor(name: str, shape: list[Any], elem: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def const(name: str, values: Any, dtype: Any = np.int64) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name=name)


def prove(data: bytes, max_elements: int = E, memory_mb: int | None = 2048) -> bounds.Proof:
    return bounds.analyse(data, max_elements=max_elements, memory_bytes=None if memory_mb is None else memory_mb << 20)


# -- the reader ------------------------------------------------------------------------------------

def test_the_reader_agrees_with_onnx() -> None:
    """The wire-format reader sees the same nodes, attributes, initializers and input shapes as the onnx package."""
    mk = _make_onnx()
    for m in [mk.value_bomb_model(), mk.reflect_pad_model(), mk.add_model(), onnx.load_from_string(_conv_net())]:
        data = m.SerializeToString()
        got = bounds.read_model(data)
        assert [(n.op_type, n.domain, n.inputs, n.outputs) for n in got.graph.nodes] == [
            (n.op_type, n.domain, list(n.input), list(n.output)) for n in m.graph.node]
        for mine, theirs in zip(got.graph.nodes, m.graph.node):
            for attr in theirs.attribute:
                a = mine.attrs[attr.name]
                assert (a.i, list(a.ints), a.subgraph) == (attr.i if attr.HasField("i") else None, list(attr.ints),
                                                          attr.HasField("g") or len(attr.graphs) > 0)
        assert {t.name: t.dims for t in got.graph.initializers.values()} == {
            t.name: tuple(t.dims) for t in m.graph.initializer}
        for t in m.graph.initializer:
            if t.data_type in (TensorProto.INT64, TensorProto.INT32):
                assert got.graph.initializers[t.name].values == tuple(numpy_helper.to_array(t).ravel().tolist())
        assert [(v.name, v.shape) for v in got.graph.inputs] == [
            (v.name, tuple(d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim))
            for v in m.graph.input]
        assert got.opsets == {o.domain: o.version for o in m.opset_import}


def test_the_reader_reads_integers_stored_without_raw_data() -> None:
    shape = helper.make_tensor("s", TensorProto.INT64, [2], [-1, 3])  # int64_data, not raw_data
    data = model([helper.make_node("Reshape", ["x", "s"], ["y"])], [tensor("x", [None, 3])], [tensor("y", [None, 3])], [shape])
    assert bounds.read_model(data).graph.initializers["s"].values == (-1, 3)
    assert prove(data).safe


def test_garbage_is_unproven_not_an_error() -> None:
    for data in [b"", b"\xff" * 20, b"\x0a\x05abc", _conv_net()[:100]]:
        proof = prove(data)
        assert not proof.safe and proof.reason


# -- what must be refused --------------------------------------------------------------------------

def test_the_value_bombs_are_unproven() -> None:
    """Regression (issue 12): the fixtures whose cost follows input values never run in the server process."""
    mk = _make_onnx()
    for make, op in [(mk.value_bomb_model, "ConstantOfShape"), (mk.bomb_model, "Expand"), (mk.spin_model, "Loop"),
                     (mk.custom_domain_model, "org.acme.Frobnicate")]:
        proof = prove(make().SerializeToString())
        assert not proof.safe, make.__name__
        assert f"{op} is not on the allow-list" in proof.reason, proof.reason


X = tensor("x", ["n", 4])
N = tensor("n", [1], TensorProto.INT64)  # a request-given integer


@pytest.mark.parametrize("nodes, inputs, initializers, reason", [
    ([helper.make_node("Range", ["a", "b", "c"], ["y"])],
     [tensor("a", [], TensorProto.INT64), tensor("b", [], TensorProto.INT64), tensor("c", [], TensorProto.INT64)], [],
     "Range is not on the allow-list"),
    ([helper.make_node("Tile", ["x", "r"], ["y"])], [X, tensor("r", [2], TensorProto.INT64)], [], "Tile is not"),
    ([helper.make_node("Expand", ["x", "s"], ["y"])], [X], [const("s", [1000, 1000, 4])], "Expand is not"),
    ([helper.make_node("Reshape", ["x", "s"], ["y"])], [X, tensor("s", [2], TensorProto.INT64)], [],
     "takes 's' as a shape or axes, and it is not a constant"),
    ([helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Reshape", ["x", "s"], ["y"])], [X], [],
     "takes 's' as a shape or axes, and it is not a constant"),
    ([helper.make_node("Pad", ["x", "p"], ["y"])], [X, tensor("p", [4], TensorProto.INT64)], [], "not a constant"),
    ([helper.make_node("TopK", ["x", "n"], ["y", "i"])], [X, N], [], "TopK is not"),
    ([helper.make_node("OneHot", ["n", "d", "v"], ["y"])], [N, tensor("d", [], TensorProto.INT64), tensor("v", [2])], [],
     "OneHot is not"),
    ([helper.make_node("NonZero", ["x"], ["y"])], [X], [], "NonZero is not"),
    ([helper.make_node("Unique", ["x"], ["y"])], [X], [], "Unique is not"),
    ([helper.make_node("Resize", ["x", "", "sc"], ["y"])], [X, tensor("sc", [2])], [], "Resize is not"),
    ([helper.make_node("ConstantOfShape", ["n"], ["y"])], [N], [], "ConstantOfShape is not"),
    ([helper.make_node("Unsqueeze", ["x", "n"], ["y"])], [X, N], [], "not a constant"),
    ([helper.make_node("ReduceSum", ["x", "n"], ["y"], keepdims=0)], [X, N], [], "not a constant"),
    ([helper.make_node("Squeeze", ["x"], ["y"])], [X], [], "its rank is unknown"),
    ([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.STRING)], [X], [], "casts to strings"),
])
def test_shapes_from_values_are_unproven(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto],
                                         initializers: list[onnx.TensorProto], reason: str) -> None:
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_value_info("y", onnx.TypeProto())], initializers)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proof = prove(m.SerializeToString())
    assert not proof.safe
    assert reason in proof.reason, proof.reason


def test_subgraphs_functions_and_undeclared_inputs_are_unproven() -> None:
    body = helper.make_graph([helper.make_node("Identity", ["x"], ["z"])], "b", [], [tensor("z", ["n", 4])])
    node = helper.make_node("If", ["c"], ["y"], then_branch=body, else_branch=body)
    m = helper.make_model(helper.make_graph([node], "g", [tensor("c", [], TensorProto.BOOL), X], [tensor("y", ["n", 4])]))
    assert "If is not on the allow-list" in prove(m.SerializeToString()).reason
    # An allowed op given a subgraph attribute anyway is refused for the subgraph.
    sneaky = helper.make_node("Relu", ["x"], ["y"])
    sneaky.attribute.append(helper.make_attribute("body", body))
    m = helper.make_model(helper.make_graph([sneaky], "g", [X], [tensor("y", ["n", 4])]))
    assert "runs a subgraph" in prove(m.SerializeToString()).reason
    m = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                                            [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)], [tensor("y", None)]))
    assert "is not a tensor with a declared rank" in prove(m.SerializeToString()).reason
    m = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                                            [tensor("x", ["n"], TensorProto.STRING)], [tensor("y", ["n"], TensorProto.STRING)]))
    assert "holds strings" in prove(m.SerializeToString()).reason


def test_squares_of_the_request_are_unproven() -> None:
    """Shape-determined is not enough: an outer product of two request dims is quadratic in the body."""
    outer = model([helper.make_node("Add", ["a", "b"], ["y"])], [tensor("a", ["n", 1]), tensor("b", [1, "m"])],
                  [tensor("y", ["n", "m"])])
    proof = prove(outer)
    assert not proof.safe and "more than the memory limit" in proof.reason, proof.reason
    matmul = model([helper.make_node("MatMul", ["a", "b"], ["y"])], [tensor("a", ["n", "k"]), tensor("b", ["k", "m"])],
                   [tensor("y", ["n", "m"])])
    assert not prove(matmul).safe
    # x^T x: the same input axis twice.
    gram = model([helper.make_node("Gemm", ["x", "x"], ["y"], transA=1)], [tensor("x", ["n", "k"])], [tensor("y", ["k", "k"])])
    assert not prove(gram).safe


def test_limits_decide() -> None:
    """A proven graph is still refused when the largest request would pass --max-memory or the per-node work limit."""
    chain = _matmul_chain(40, 256)
    ok = prove(chain)
    assert ok.safe and 0 < ok.peak_bytes <= 2048 << 20
    small = prove(chain, memory_mb=64)
    assert not small.safe and "more than the memory limit of 64 MB" in small.reason
    assert not bounds.analyse(chain, max_elements=E, node_work_limit=10**6).safe


def test_preprocessing_that_grows_is_refused() -> None:
    assert bounds.preprocessing_is_bounded([{"op": "scale", "factor": 2}, {"op": "layout", "from": "HWC", "to": "CHW"}]) is None
    reason = bounds.preprocessing_is_bounded([{"op": "resize", "width": 224, "height": 224}])
    assert reason and "'resize'" in reason


# -- what is proven, and that its bounds hold --------------------------------------------------------

def _conv_net() -> bytes:
    """digits-cnn's shape: Conv, Relu, MaxPool, Flatten, Gemm, Softmax over [batch, 1, 8, 8]."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "w")
    g = numpy_helper.from_array(rng.standard_normal((4 * 4 * 4, 10)).astype(np.float32), "g")
    return model([helper.make_node("Conv", ["image", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
                  helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
                  helper.make_node("Flatten", ["p"], ["f"]), helper.make_node("Gemm", ["f", "g"], ["logits"]),
                  helper.make_node("Softmax", ["logits"], ["y"])],
                 [tensor("image", ["batch", 1, 8, 8])], [tensor("y", ["batch", 10])], [w, g])


def _linear_classifier() -> bytes:
    """iris-logreg's shape: Scaler, LinearClassifier, Normalizer (ai.onnx.ml)."""
    nodes = [helper.make_node("Scaler", ["x"], ["s"], domain="ai.onnx.ml", offset=[0.0] * 4, scale=[1.0] * 4),
             helper.make_node("LinearClassifier", ["s"], ["label", "raw"], domain="ai.onnx.ml", coefficients=[0.1] * 12,
                              intercepts=[0.0, 0.1, 0.2], classlabels_ints=[0, 1, 2], multi_class=1),
             helper.make_node("Normalizer", ["raw"], ["probabilities"], domain="ai.onnx.ml", norm="L1")]
    outputs = [tensor("label", [None], TensorProto.INT64), tensor("probabilities", [None, 3])]
    return model(nodes, [tensor("x", [None, 4])], outputs, ml=True)


def _matmul_chain(nodes: int, width: int) -> bytes:
    w = numpy_helper.from_array(np.full((width, width), 1 / width, dtype=np.float32), "w")
    names = ["x"] + [f"t{i}" for i in range(nodes - 1)] + ["y"]
    return model([helper.make_node("MatMul", [a, "w"], [b]) for a, b in zip(names, names[1:])],
                 [tensor("x", ["n", width])], [tensor("y", ["n", width])], [w])


def _shapes_net() -> bytes:
    """Reshape with -1 and 0, Transpose, Concat along a dynamic axis, constant Slice and Pad, Unsqueeze, Gather,
    broadcasting to a higher rank."""
    return model([
        helper.make_node("Reshape", ["x", "s"], ["r"]),  # [n, 6] -> [n*3, 2]
        helper.make_node("Transpose", ["r"], ["t"]),  # [2, n*3]
        helper.make_node("Concat", ["t", "t"], ["c"], axis=1),  # [2, n*6]
        helper.make_node("Slice", ["c", "st", "en", "ax"], ["sl"]),  # [2, <= n*6 - 1]
        helper.make_node("Pad", ["sl", "pads"], ["pd"]),  # [4, <= n*6 + 2]
        helper.make_node("Unsqueeze", ["pd", "ax0"], ["u"]),  # [1, 4, ...]
        helper.make_node("Gather", ["x", "idx"], ["g"], axis=1),  # [n, 2, 2]
        helper.make_node("Reshape", ["x", "keep"], ["k"]),  # [n, 3, 2] (0 copies n)
        helper.make_node("Flatten", ["k"], ["f"], axis=0),  # [1, n*6]
        helper.make_node("ReduceSum", ["f", "ax1"], ["y"], keepdims=1),
        helper.make_node("ArgMax", ["x"], ["am"], axis=1, keepdims=0),
        helper.make_node("Slice", ["x", "st", "last", "ax"], ["xs"]),  # [n, 4]
        helper.make_node("Add", ["xs", "row"], ["b"]),  # [3, n, 4]
    ], [tensor("x", ["n", 6])], [tensor("u", [1, 4, None]), tensor("g", [None, 2, 2]), tensor("y", [1, 1]),
                                 helper.make_tensor_value_info("am", TensorProto.INT64, [None])],
       [const("s", [-1, 2]), const("st", [1]), const("en", [10**9]), const("ax", [1]), const("pads", [1, 1, 1, 1]),
        const("ax0", [0]), const("idx", [[0, 5], [1, 2]]), const("keep", [0, 3, 2]), const("ax1", [1]), const("last", [-1]),
        const("row", np.ones((3, 1, 4)), np.float32)], opset=18)


@pytest.mark.parametrize("make", [_conv_net, _linear_classifier, _shapes_net, lambda: _matmul_chain(3, 8),
                                  lambda: _make_onnx().add_model().SerializeToString(),
                                  lambda: _make_onnx().reflect_pad_model().SerializeToString()])
def test_bounds_hold_for_real_runs(make: Any) -> None:
    """For requests of up to `max_elements` elements (each dim counted as at least 1), every tensor onnxruntime
    computes is within the proof's bound: checked on every intermediate tensor, for many input shapes."""
    data = make()
    budget = 400
    analysis = bounds._Analysis(bounds.read_model(data), budget)
    proof = analysis.run(None, bounds.NODE_WORK_LIMIT)
    assert proof.safe, proof.reason
    m = onnx.load_from_string(data)
    inferred = onnx.shape_inference.infer_shapes(m)
    types = {v.name: v.type.tensor_type.elem_type for v in list(inferred.graph.value_info) + list(m.graph.output)}
    computed = [o for n in m.graph.node for o in n.output if o]
    del m.graph.output[:]
    m.graph.output.extend(helper.make_tensor_value_info(name, types.get(name, TensorProto.FLOAT), None) for name in computed)
    session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    (x,) = [i for i in m.graph.input if i.name not in {t.name for t in m.graph.initializer}]
    declared = [d.dim_value if d.HasField("dim_value") else None for d in x.type.tensor_type.shape.dim]
    fixed = math.prod(d for d in declared if d)
    free = [i for i, d in enumerate(declared) if d is None]
    runs = 0
    for sizes in itertools.product(range(0, budget + 1), repeat=len(free)):
        if fixed * math.prod(max(s, 1) for s in sizes) > budget:
            continue
        shape = list(declared)
        for i, s in zip(free, sizes):
            shape[i] = s
        try:
            outputs = session.run(None, {x.name: np.ones(shape, dtype=np.float32)})
        except Exception:  # noqa: BLE001 - shapes the model itself refuses (reflect pad below 3) are not a bound's business
            continue
        runs += 1
        for name, value in zip(computed, outputs):
            bound = analysis.elements(analysis.shapes[name])
            assert np.asarray(value).size <= bound, (name, shape, np.asarray(value).shape, analysis.shapes[name])
    assert runs >= (3 if free else 1)


def test_proven_costs_grow_linearly() -> None:
    """The bounds of a proven model are linear in the request: twice the elements, at most about twice the bytes."""
    for data in [_conv_net(), _linear_classifier(), _shapes_net()]:
        small, large = prove(data, max_elements=1 << 14, memory_mb=None), prove(data, max_elements=1 << 15, memory_mb=None)
        assert small.safe and large.safe
        assert large.peak_bytes <= 2 * small.peak_bytes + 4096
        assert large.total_work <= 2 * small.total_work + 4096


def test_the_catalog_kinds_of_models() -> None:
    """iris-logreg's kind of graph is proven with a small footprint at a 1 MB body, and so is a small conv net."""
    linear = prove(_linear_classifier())
    assert linear.safe and linear.peak_bytes < 64 << 20 and linear.nodes == 3
    conv = prove(_conv_net())
    assert conv.safe and conv.max_node_work > 0
