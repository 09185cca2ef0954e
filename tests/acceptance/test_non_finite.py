"""A model output of NaN or an infinity is valid JSON everywhere (issue 9, item 5): null in `outputs`, and a
`non_finite` count per output, from the runtime's `predict`, from `serve` over HTTP and from a bundle's predict.py.

The model is y = log(x): finite inputs -1, 0 and 1 give NaN, -inf and 0.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from onnx import TensorProto, helper

from modelshelf.catalog import runtime as runtime_package
from modelshelf.catalog.runtime import predictor as runtime
from test_build import REPO

REQUEST = {"inputs": {"x": [[-1.0, 0.0, 1.0]]}}
EXPECTED = {"model": "acme/log", "version": "1.0.0", "outputs": {"y": [[None, None, 0.0]]},
            "non_finite": {"y": {"nan": 1, "-inf": 1}}}


def _config(data: bytes) -> dict:
    tensor = {"dtype": "float32", "shape": [1, 3], "kind": None, "features": []}
    return {"format": runtime.CONFIG_FORMAT, "id": "acme/log", "version": "1.0.0", "name": "Log", "task": "tabular-regression",
            "model_file": "model.onnx", "model_sha256": hashlib.sha256(data).hexdigest(), "model_size": len(data),
            "inputs": [{"name": "x", **tensor}], "outputs": [{"name": "y", **tensor}], "preprocessing": [],
            "postprocessing": [], "labels": [], "examples": []}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("log")
    graph = helper.make_graph([helper.make_node("Log", ["x"], ["y"])], "log",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    data = model.SerializeToString()
    (folder / "model.onnx").write_bytes(data)
    shutil.copytree(Path(runtime_package.__file__).parent, folder / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "generator" / "bundle" / "templates" / "predict.py", folder / "predict.py")
    (folder / "model.json").write_text(json.dumps(_config(data)))
    (folder / "request.json").write_text(json.dumps(REQUEST))
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    (folder / "SHA256SUMS").write_text("".join(f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in names))
    return folder


def test_the_runtime_answers_null_and_counts_them(bundle: Path) -> None:
    runner = runtime.load_bundle(bundle)
    answer = runner.predict(REQUEST)
    assert json.loads(json.dumps(answer, allow_nan=False)) == EXPECTED


def test_serve_answers_valid_json(bundle: Path) -> None:
    from modelshelf.catalog.runtime.server import BackgroundServer, Limits

    with BackgroundServer(runtime.load_bundle(bundle), limits=Limits(workers=1)) as server:
        request = urllib.request.Request(f"{server.url}/v1/predict", data=json.dumps(REQUEST).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            raw = resp.read()
    assert b"NaN" not in raw and b"Infinity" not in raw
    assert json.loads(raw) == EXPECTED


def test_predict_py_prints_valid_json(bundle: Path) -> None:
    result = subprocess.run([sys.executable, "predict.py", "request.json"], cwd=bundle, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "NaN" not in result.stdout and json.loads(result.stdout) == EXPECTED
