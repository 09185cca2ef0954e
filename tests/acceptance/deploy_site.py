"""A small catalog for the deploy tests (client, bundles, server), built into a real site and served
from 127.0.0.1 by a file server that can inject faults.

`acme/toy-classifier` is a two-layer classifier (4 features -> 3 classes) with preprocessing
(scale), postprocessing (softmax, top-2 with labels) and card examples whose outputs were computed
with onnxruntime when the card was written. Its hidden layer makes the file about 1.6 MB, big
enough to be caught mid-download. Run as a script, this module serves a folder in its own process
(`python deploy_site.py DIR PORTFILE [--throttle SECONDS] [--log FILE]`), so a test can kill the server.
"""
from __future__ import annotations

import functools
import http.server
import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

MODEL_ID = "acme/toy-classifier"
VERSION = "1.2.0"
HIDDEN = 100_000

CARD = """\
id: acme/toy-classifier
name: Toy classifier
version: "1.2.0"
summary: Sorts four numbers into three made-up classes; a fixture for the deploy tests.
description: A two-layer perceptron with random weights. It exists so the deploy tests have a real model.
task: tabular-classification
tags: [test, deploy]
license: MIT
authors: [{name: Acme Labs}]
framework: onnx
source: {file: model.onnx}
inputs:
  - {name: x, dtype: float32, shape: [batch, 4], kind: tabular, features: [a, b, c, d]}
outputs:
  - {name: label, dtype: int64, shape: [batch], kind: label}
  - {name: scores, dtype: float32, shape: [batch, 3], kind: scores}
preprocessing:
  - {op: scale, factor: 0.5}
postprocessing:
  - {op: softmax}
  - {op: topk, k: 2}
labels: [apple, banana, cherry]
"""

EXAMPLE_INPUTS = [[[1.0, 2.0, 3.0, 4.0]], [[-1.0, 0.5, 2.0, -3.0]], [[0.0, 0.0, 0.0, 0.0]]]


def classifier_model(hidden: int = HIDDEN, seed: int = 0) -> bytes:
    """x[batch,4] -> Gemm -> Relu -> Gemm -> scores[batch,3], label = ArgMax(scores)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array((rng.standard_normal((4, hidden)) / 2).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.standard_normal(hidden).astype(np.float32) / 4, "b1")
    w2 = numpy_helper.from_array((rng.standard_normal((hidden, 3)) / np.sqrt(hidden)).astype(np.float32), "w2")
    b2 = numpy_helper.from_array(np.array([0.1, -0.2, 0.05], dtype=np.float32), "b2")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]), helper.make_node("Relu", ["h"], ["hr"]),
         helper.make_node("Gemm", ["hr", "w2", "b2"], ["scores"]),
         helper.make_node("ArgMax", ["scores"], ["label"], axis=1, keepdims=0)],
        "toy_classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 3])],
        initializer=[w1, b1, w2, b2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="modelshelf-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_models(models: Path, hidden: int = HIDDEN) -> list[dict[str, Any]]:
    """Write models/acme/toy-classifier (card + ONNX); returns the card's examples (outputs from onnxruntime)."""
    import onnxruntime as ort
    import yaml

    folder = models / "acme" / "toy-classifier"
    folder.mkdir(parents=True, exist_ok=True)
    data = classifier_model(hidden)
    (folder / "model.onnx").write_bytes(data)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    examples = []
    for i, x in enumerate(EXAMPLE_INPUTS):
        label, scores = session.run(None, {"x": np.array(x, dtype=np.float32)})
        examples.append({"name": f"row {i + 1}", "inputs": {"x": x},
                         "outputs": {"label": label.tolist(), "scores": np.round(scores.astype(np.float64), 6).tolist()},
                         "tolerance": 1e-4})
    (folder / "card.yaml").write_text(CARD + yaml.safe_dump({"examples": examples}, sort_keys=False))
    return examples


def build_site(root: Path, hidden: int = HIDDEN, site_url: str | None = None) -> Path:
    """Build a project holding only the toy classifier into root/site; returns the site folder."""
    import os

    from modelshelf.generator.site.build import build_site as _build
    from test_build import make_project  # tests/acceptance is on sys.path (pytest's rootdir-relative import)

    models = root / "src"
    write_models(models, hidden)
    config = make_project(root / "proj", models, cache=root / "cache")
    old = os.environ.get("MODELSHELF_SITE_URL")
    if site_url:
        os.environ["MODELSHELF_SITE_URL"] = site_url
    try:
        return _build(config, site_dir=root / "site")
    finally:
        if site_url:
            if old is None:
                os.environ.pop("MODELSHELF_SITE_URL", None)
            else:
                os.environ["MODELSHELF_SITE_URL"] = old


# -- a file server that can misbehave ------------------------------------------------------------

class FaultyHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; `faults` maps a path suffix to what goes wrong when it is requested:

    short     -- declares the full Content-Length, sends half, closes the connection
    truncated -- declares and sends only half (an honest but short file)
    corrupt   -- sends the full length with one byte changed
    redirect  -- 302 to the same path on http://localhost:PORT (another host name)
    same-host -- 302 to the same path with ?moved=1 on this host (must be followed)
    throttle  -- sends the file in 8 pieces, `throttle` seconds apart
    """

    faults: dict[str, str] = {}
    requests: list[str] = []
    throttle = 0.2
    log_file: Path | None = None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _fault(self) -> str | None:
        path = self.path.split("?")[0]
        return next((mode for suffix, mode in self.faults.items() if path.endswith(suffix)), None)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self.requests.append(self.path)
        if self.log_file is not None:
            with self.log_file.open("a") as fh:
                fh.write(self.path + "\n")
        mode = self._fault()
        if mode in ("redirect", "same-host") and "moved=1" not in self.path:
            host = f"localhost:{self.server.server_address[1]}" if mode == "redirect" else self.headers["Host"]
            self.send_response(302)
            self.send_header("Location", f"http://{host}{self.path}?moved=1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode in (None, "redirect", "same-host"):
            if "?moved=1" in self.path:
                self.path = self.path.replace("?moved=1", "")
            return super().do_GET()
        file = Path(self.translate_path(self.path))
        data = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if mode == "corrupt":
            data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
        self.send_header("Content-Length", str(len(data) // 2 if mode == "truncated" else len(data)))
        self.end_headers()
        if mode in ("short", "truncated"):
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if mode == "throttle":
            step = len(data) // 8 + 1
            for i in range(0, len(data), step):
                self.wfile.write(data[i:i + step])
                self.wfile.flush()
                time.sleep(self.throttle)
            return
        self.wfile.write(data)


@contextmanager
def serve_folder(folder: Path) -> Iterator[tuple[str, type[FaultyHandler]]]:
    """(base URL, handler class) of a ThreadingHTTPServer on 127.0.0.1 serving `folder`."""
    handler = type("Handler", (FaultyHandler,), {"faults": {}, "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def catalog_file(site: Path, kind: str = "onnx") -> dict[str, Any]:
    doc = json.loads((site / "catalog.json").read_text())
    model = next(m for m in doc["models"] if m["id"] == MODEL_ID)
    return next(f for f in model["files"] if f["kind"] == kind)


if __name__ == "__main__":
    # python deploy_site.py FOLDER PORTFILE [--throttle SECONDS]: serve FOLDER (model files throttled) until killed.
    folder, port_file = Path(sys.argv[1]), Path(sys.argv[2])
    handler = type("Handler", (FaultyHandler,), {"faults": {}, "requests": []})
    if "--throttle" in sys.argv:
        handler.faults = {".onnx": "throttle"}
        handler.throttle = float(sys.argv[sys.argv.index("--throttle") + 1])
    if "--log" in sys.argv:
        handler.log_file = Path(sys.argv[sys.argv.index("--log") + 1])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    server.daemon_threads = True
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(server.server_address[1]))
    tmp.replace(port_file)
    server.serve_forever()
