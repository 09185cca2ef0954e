"""generator/export/safety.py and generator/export/stage.py on single files: exact findings, smoke runs in a child process.

(Named test_safety_checks.py, not test_safety.py: tests/ has no __init__.py files, so two test
modules with the same basename under unit/ and acceptance/ cannot be collected together.)
"""
from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest

from modelshelf.generator.export.stage import Parity, compare_outputs, example_feeds
from modelshelf.generator.enrich.onnx_info import TensorInfo, Signature
from modelshelf.generator.export.safety import Finding, Limits, check_file, smoke_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def make():
    spec = importlib.util.spec_from_file_location("make_onnx", REPO / "tests" / "fixtures" / "onnx" / "make_onnx.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def save(model: onnx.ModelProto, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def messages(findings: list[Finding]) -> list[str]:
    return [f.message for f in findings]


def external(location: str, offset: int = 0, length: int = 24) -> dict[str, str]:
    return {"location": location, "offset": str(offset), "length": str(length)}


# ---------------------------------------------------------------- check_file: external data

def test_clean_external_data_passes(make, tmp_path: Path) -> None:
    model = tmp_path / "m"
    save(make.add_model(external("w.bin")), model / "model.onnx")
    (model / "w.bin").write_bytes(np.ones(6, np.float32).tobytes())
    assert check_file(model / "model.onnx", model) == []


@pytest.mark.parametrize("location, message", [
    ("../x.bin", "initializer 'w' keeps its data at '../x.bin', outside the model's folder"),
    ("sub/../../x.bin", "initializer 'w' keeps its data at 'sub/../../x.bin', outside the model's folder"),
    ("..\\x.bin", "initializer 'w' keeps its data at '..\\\\x.bin', outside the model's folder"),
    ("/etc/passwd", "initializer 'w' keeps its data at the absolute path '/etc/passwd'"),
    ("C:/x.bin", "initializer 'w' keeps its data at the absolute path 'C:/x.bin'"),
    ("nope.bin", "initializer 'w' keeps its data in 'nope.bin', which does not exist beside the model"),
])
def test_external_data_location_must_stay_inside(make, tmp_path: Path, location: str, message: str) -> None:
    model = tmp_path / "m"
    save(make.add_model(external(location)), model / "model.onnx")
    (tmp_path / "x.bin").write_bytes(bytes(24))
    assert messages(check_file(model / "model.onnx", model)) == [message]


def test_symlinked_external_data(make, tmp_path: Path) -> None:
    model = tmp_path / "m"
    save(make.add_model(external("w.bin")), model / "model.onnx")
    (tmp_path / "secret").write_bytes(bytes(24))
    (model / "w.bin").symlink_to(tmp_path / "secret")
    assert messages(check_file(model / "model.onnx", model)) == ["initializer 'w' keeps its data in 'w.bin', which is a symbolic link"]


def test_external_data_through_a_symlinked_folder(make, tmp_path: Path) -> None:
    model = tmp_path / "m"
    save(make.add_model(external("data/w.bin")), model / "model.onnx")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "w.bin").write_bytes(bytes(24))
    (model / "data").symlink_to(tmp_path / "elsewhere")
    assert messages(check_file(model / "model.onnx", model)) == ["initializer 'w' keeps its data in 'data/w.bin', which is a symbolic link"]


def test_hard_linked_external_data(make, tmp_path: Path) -> None:
    model = tmp_path / "m"
    save(make.add_model(external("w.bin")), model / "model.onnx")
    (tmp_path / "secret").write_bytes(bytes(24))
    os.link(tmp_path / "secret", model / "w.bin")
    assert messages(check_file(model / "model.onnx", model)) == ["initializer 'w' keeps its data in 'w.bin', a file with 2 hard links"]


def test_external_data_range_and_length(make, tmp_path: Path) -> None:
    model = tmp_path / "m"
    (tmp_path / "m").mkdir()
    (model / "w.bin").write_bytes(bytes(24))
    save(make.add_model(external("w.bin", offset=8)), model / "model.onnx")
    assert messages(check_file(model / "model.onnx", model)) == ["initializer 'w' needs bytes 8 to 32 of 'w.bin', which has only 24"]
    save(make.add_model(external("w.bin", length=12)), model / "model.onnx")
    assert messages(check_file(model / "model.onnx", model)) == [
        "initializer 'w' has 12 bytes of data in 'w.bin', but its shape [2, 3] of float32 needs 24"]


# ---------------------------------------------------------------- check_file: tensors, dims, domains, size

def test_inconsistent_initializer(make, tmp_path: Path) -> None:
    path = save(make.inconsistent_model(), tmp_path / "model.onnx")
    [finding] = check_file(path, tmp_path)
    assert finding.message == "initializer 'w' has 12 bytes of data, but its shape [2, 3] of float32 needs 24"
    assert "inconsistent" in finding.hint


def test_typed_data_count_must_match_dims(make, tmp_path: Path) -> None:
    model = make.add_model()
    w = model.graph.initializer[0]
    w.ClearField("raw_data")
    w.float_data.extend([1.0] * 5)
    assert messages(check_file(save(model, tmp_path / "model.onnx"), tmp_path)) == [
        "initializer 'w' has 5 values in float_data, but its shape [2, 3] of float32 needs 6"]


def test_insane_dims(make, tmp_path: Path) -> None:
    model = make.add_model()
    model.graph.initializer[0].dims[:] = [2, -3]
    assert messages(check_file(save(model, tmp_path / "a.onnx"), tmp_path)) == ["initializer 'w' has a negative dimension in its shape [2, -3]"]
    model.graph.initializer[0].dims[:] = [1 << 40, 3]
    assert messages(check_file(save(model, tmp_path / "b.onnx"), tmp_path)) == [
        f"initializer 'w' has shape [{1 << 40}, 3], with a dimension over 2147483647"]
    model.graph.initializer[0].dims[:] = [1 << 20, 1 << 20]
    assert messages(check_file(save(model, tmp_path / "c.onnx"), tmp_path)) == [
        f"initializer 'w' has shape [1048576, 1048576]: {1 << 40} elements, more than the 2147483648 allowed"]


def test_insane_graph_input_dims(make, tmp_path: Path) -> None:
    model = make.add_model()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1 << 33
    assert messages(check_file(save(model, tmp_path / "model.onnx"), tmp_path)) == [
        f"graph input 'x' has a dimension outside 0..2147483647 in [{1 << 33}, 3]"]


def test_custom_domain_is_refused(make, tmp_path: Path) -> None:
    assert messages(check_file(save(make.custom_domain_model(), tmp_path / "model.onnx"), tmp_path)) == [
        "the graph uses operators from the custom domain 'org.acme' (Frobnicate), which onnxruntime does not know"]


def test_known_domains_pass(make, tmp_path: Path) -> None:
    model = make.add_model()
    model.graph.node[0].domain = "com.microsoft"  # registered by onnxruntime (the checker needs no opset for the test)
    assert check_file(save(model, tmp_path / "model.onnx"), tmp_path) == []


def test_size_cap(make, tmp_path: Path) -> None:
    path = save(make.add_model(), tmp_path / "model.onnx")
    [finding] = check_file(path, tmp_path, Limits(max_file_bytes=100))
    assert finding.message.startswith("the ONNX file is 0.0 MB, more than the 0 MB the build accepts")
    assert check_file(path, tmp_path, Limits(max_file_bytes=1000)) == []


def test_truncated_file(make, tmp_path: Path) -> None:
    data = make.add_model().SerializeToString()
    path = tmp_path / "model.onnx"
    path.write_bytes(data[:-20])
    [finding] = check_file(path, tmp_path)
    assert finding.message.startswith("the ONNX file is not a valid model: its protobuf cannot be parsed")
    assert finding.message.endswith("the file is truncated or corrupt")


def test_many_bad_tensors_are_capped(make, tmp_path: Path) -> None:
    model = make.add_model()
    for i in range(20):
        t = model.graph.initializer.add()
        t.CopyFrom(model.graph.initializer[0])
        t.name = f"w{i}"
        t.raw_data = b"x"
    found = messages(check_file(save(model, tmp_path / "model.onnx"), tmp_path))
    assert len(found) == 9 and found[-1] == "... and 12 more problems of this file"


# ---------------------------------------------------------------- smoke run

def test_smoke_run_returns_outputs(make, tmp_path: Path) -> None:
    path = save(make.add_model(), tmp_path / "model.onnx")
    result = smoke_run(path, [{"x": np.zeros((2, 3), np.float32)}, {"x": np.ones((2, 3), np.float32)}])
    assert result.ok, result.finding
    assert [o["y"].tolist() for o in result.outputs] == [[[1.0] * 3] * 2, [[2.0] * 3] * 2]
    assert result.peak_mb and result.peak_mb < 2048


def test_bomb_fails_cleanly_under_the_memory_limit(make, tmp_path: Path) -> None:
    path = save(make.bomb_model(), tmp_path / "bomb.onnx")
    assert path.stat().st_size < 200, "the bomb is tiny"
    assert check_file(path, tmp_path) == [], "nothing in the file itself is wrong"
    start = time.monotonic()
    result = smoke_run(path, [{"x": np.zeros(1, np.float32)}], describe=["the first example"])
    assert time.monotonic() - start < 30
    assert result.finding is not None
    assert result.finding.message == ("the model needs more than 2048 MB when run on the first example "
                                      "(limit of the smoke run: 2048 MB); it asked for 16.0 GB at once")


def test_endless_model_hits_the_time_limit(make, tmp_path: Path) -> None:
    path = save(make.spin_model(), tmp_path / "spin.onnx")
    start = time.monotonic()
    result = smoke_run(path, [{"x": np.zeros(1, np.float32)}], Limits(seconds=1))
    assert time.monotonic() - start < 10
    assert result.finding is not None
    assert result.finding.message == "the model did not finish one run within 1 s (limit of the smoke run)"


def test_run_error_is_reported_with_the_input(make, tmp_path: Path) -> None:
    path = save(make.add_model(), tmp_path / "model.onnx")
    result = smoke_run(path, [{"x": np.zeros((5, 3), np.float32)}], describe=["example 1 ('zeros')"])
    assert result.finding is not None
    assert result.finding.message.startswith("onnxruntime failed to run the model on example 1 ('zeros'): Got invalid dimensions for input: x")


def test_load_error_is_reported(make, tmp_path: Path) -> None:
    path = save(make.custom_domain_model(), tmp_path / "model.onnx")
    result = smoke_run(path, [{"x": np.zeros((2, 3), np.float32)}])
    assert result.finding is not None and result.finding.message.startswith("onnxruntime cannot load the model:")


# ---------------------------------------------------------------- inputs and comparisons

def test_example_feeds_use_the_graph_dtypes_and_fall_back_to_zeros(tmp_catalog: Path) -> None:
    from modelshelf.catalog.catalog import load_catalog

    card = load_catalog([tmp_catalog]).cards[0]
    sig = Signature((TensorInfo("x", "float32", ("batch", 2)),), (TensorInfo("y", "float32", ("batch", 2)),), 17, 8, "")
    feeds, names = example_feeds(card, sig)
    assert names == ["example 1 ('zeros')"] and feeds[0]["x"].dtype == np.float32 and feeds[0]["x"].shape == (1, 2)
    from dataclasses import replace
    feeds, names = example_feeds(replace(card, examples=()), sig)
    assert names == ["zeros of the declared input shapes"] and feeds[0]["x"].shape == (1, 2)


def test_compare_outputs() -> None:
    main = [{"y": np.array([[1.0, 2.0]], np.float32), "label": np.array([1, 2])}]
    same = [{"y": np.array([[1.0, 2.0]], np.float32), "label": np.array([1, 2])}]
    assert compare_outputs(main, same, ["e1"]) == (0.0, 1.0, "output 'label' on e1")
    off = [{"y": np.array([[1.0, 2.5]], np.float32), "label": np.array([1, 1])}]
    diff, agreement, where = compare_outputs(main, off, ["e1"])
    assert (diff, agreement, where) == (1.0, 0.5, "output 'label' on e1")
    nan = [{"y": np.array([[np.nan, 2.0]], np.float32), "label": np.array([1, 2])}]
    assert compare_outputs(main, nan, ["e1"])[0] == float("inf")


def test_parity_ok() -> None:
    assert Parity("scikit-learn", 1e-7, 1e-4, 1.0, 1.0).ok
    assert not Parity("scikit-learn", 0.5, 1e-4).ok
    assert not Parity("scikit-learn", 0.0, 1e-4, 0.9, 1.0).ok
