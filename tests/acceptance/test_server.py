"""The model inference server (`modelshelf serve ORG/NAME`): answers, validation, limits, slow clients, load."""
from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import deploy_site
from modelshelf.catalog.client import download as client
from modelshelf.catalog.runtime import predictor as runtime
from modelshelf.catalog.runtime.server import BackgroundServer, Limits

MODEL = deploy_site.MODEL_ID


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deploy_site.build_site(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def runner(site: Path, tmp_path_factory: pytest.TempPathFactory) -> runtime.Runner:
    c = client.client(site.as_uri(), cache_dir=tmp_path_factory.mktemp("home"))
    entry, path = c.model(MODEL)
    return runtime.Runner(runtime.config_from_entry(entry), path)


@pytest.fixture(scope="module")
def server(runner: runtime.Runner) -> Iterator[BackgroundServer]:
    with BackgroundServer(runner, limits=Limits(max_body_bytes=64 * 1024, head_timeout=1.0, body_timeout=1.0)) as s:
        yield s


def post(url: str, body: bytes | str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_examples_over_http(server: BackgroundServer, runner: runtime.Runner) -> None:
    for example in runner.config["examples"]:
        status, answer = post(f"{server.url}/v1/predict", json.dumps({"inputs": example["inputs"]}))
        assert status == 200, answer
        assert answer["outputs"]["label"] == example["outputs"]["label"]
        assert np.allclose(answer["outputs"]["scores"], example["outputs"]["scores"], atol=example["tolerance"])
        assert answer["postprocessed"]["top"][0][0]["label"] == runner.config["labels"][example["outputs"]["label"][0]]
    # Raw values get the card's preprocessing (scale 0.5) first.
    status, answer = post(f"{server.url}/v1/predict", json.dumps({"raw": {"x": [2, 4, 6, 8]}}))
    assert status == 200 and answer["outputs"]["label"] == runner.config["examples"][0]["outputs"]["label"]


def test_health_readiness_signature_and_openapi(server: BackgroundServer) -> None:
    assert get(f"{server.url}/healthz") == (200, {"status": "ok"})
    assert get(f"{server.url}/readyz") == (200, {"status": "ready", "model": MODEL, "version": deploy_site.VERSION})
    status, sig = get(f"{server.url}/v1/signature")
    assert status == 200 and sig["inputs"] == [{"name": "x", "dtype": "float32", "shape": ["batch", 4]}]
    status, doc = get(f"{server.url}/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    x = doc["components"]["schemas"]["PredictRequest"]["properties"]["inputs"]["properties"]["x"]
    assert x["items"] == {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}
    # 500 (the model failed on this input) and 504 (time limit) came with bounded inference (issue 12).
    assert set(doc["paths"]["/v1/predict"]["post"]["responses"]) == {"200", "400", "408", "413", "500", "503", "504"}


EXPECTED = {"inputs": [{"name": "x", "dtype": "float32", "shape": ["batch", 4]}]}


BAD_REQUESTS: list[tuple[str | bytes, str]] = [
    ('{"inputs": {}}', "missing input 'x'"),
    ('{"inputs": {"x": [[1, 2, 3, 4]], "y": [1]}}', "unexpected input 'y'; the model takes 'x'"),
    ('{"inputs": {"x": [["a", "b", "c", "d"]]}}', "input 'x' must hold float32 values, got text"),
    ('{"inputs": {"x": [[true, false, true, false]]}}', "input 'x' must hold float32 values, got true/false"),
    ('{"inputs": {"x": [[1, 2, 3]]}}', "input 'x' must have shape [batch, 4], got [1, 3]"),
    ('{"inputs": {"x": [1, 2, 3, 4]}}', "input 'x' must have shape [batch, 4], got [4]"),
    ('{"inputs": {"x": [[1, 2], [3, 4, 5, 6]]}}', "is not a rectangular array"),
    ('{"x": [[1, 2, 3, 4]]}', 'must be a JSON object with "inputs"'),
    ('[1, 2]', 'must be a JSON object with "inputs"'),
    ('{"inputs": ', "the body is not JSON"),
    (b'\xff\xfe not utf-8', "the body is not JSON"),
]


@pytest.mark.parametrize("body, message", BAD_REQUESTS)
def test_bad_requests_get_400_with_the_signature(server: BackgroundServer, body: str | bytes, message: str) -> None:
    status, answer = post(f"{server.url}/v1/predict", body)
    assert status == 400, answer
    assert message in answer["error"]
    assert answer["expected"] == EXPECTED


def test_oversized_requests_get_413(server: BackgroundServer) -> None:
    big = json.dumps({"inputs": {"x": [[1.0, 2.0, 3.0, 4.0]] * 5000}})
    assert len(big) > 64 * 1024
    status, answer = post(f"{server.url}/v1/predict", big)
    assert status == 413 and "larger than 65536 bytes" in answer["error"]
    # Without a Content-Length (chunked), the cap applies while reading.
    # A raw socket, because the server may answer and close before the body ends: http.client would
    # then die of a broken pipe while still sending. We read the answer as soon as it is there.
    import select

    response = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        try:
            for i in range(0, len(big), 8192):
                chunk = big[i:i + 8192].encode()
                s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                if select.select([s], [], [], 0.05)[0]:
                    break
            else:
                s.sendall(b"0\r\n\r\n")
            while data := s.recv(65536):
                response += data
                if b"\r\n\r\n" in response:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert get(f"{server.url}/healthz")[0] == 200


def test_slow_clients_are_cut_off(server: BackgroundServer) -> None:
    # Nothing but half a request line: the connection is closed after head_timeout (1 s here).
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"POST /v1/pre")
        start = time.monotonic()
        assert s.recv(1024) == b""
        assert 0.5 < time.monotonic() - start < 5
    # Headers, then a body that never finishes: 408 after body_timeout.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"inputs\"")
        reply = s.recv(4096)
        assert reply.startswith(b"HTTP/1.1 408"), reply
    assert get(f"{server.url}/healthz")[0] == 200


class SlowRunner:
    """The real runner, 50 ms slower per prediction, so concurrent requests really overlap."""

    def __init__(self, runner: runtime.Runner) -> None:
        self.runner = runner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runner, name)

    def predict(self, request: Any) -> dict[str, Any]:
        time.sleep(0.05)
        return self.runner.predict(request)


def test_200_concurrent_requests_are_bounded(runner: runtime.Runner) -> None:
    body = json.dumps({"inputs": runner.config["examples"][0]["inputs"]}).encode()
    with BackgroundServer(SlowRunner(runner), limits=Limits(max_in_flight=8, workers=2)) as server:
        statuses: list[int] = []
        errors: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(200)

        def one() -> None:
            start.wait()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
                conn.request("POST", "/v1/predict", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                payload = json.loads(resp.read())
                with lock:
                    statuses.append(resp.status)
                    if resp.status == 503:
                        assert "busy" in payload["error"] and resp.getheader("Retry-After") == "1"
                conn.close()
            except Exception as exc:  # noqa: BLE001 - collected for the assertion below
                with lock:
                    errors.append(repr(exc))

        threads = [threading.Thread(target=one) for _ in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert errors == [], errors[:5]
        assert len(statuses) == 200 and set(statuses) <= {200, 503}
        assert statuses.count(503) > 0, "past the cap, requests are refused with 503"
        assert statuses.count(200) >= 8, "up to the cap, requests are served"
        # Still up and answering afterwards.
        assert get(f"{server.url}/readyz")[0] == 200
        assert post(f"{server.url}/v1/predict", body)[0] == 200


def test_each_request_is_logged(server: BackgroundServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="modelshelf.server")
    post(f"{server.url}/v1/predict", '{"inputs": {}}')
    get(f"{server.url}/healthz")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any("GET /healthz" in r.getMessage() for r in caplog.records):
        time.sleep(0.02)
    lines = [r.getMessage() for r in caplog.records if r.name == "modelshelf.server"]
    assert any('"POST /v1/predict" 400' in line and "ms" in line for line in lines), lines
    assert any('"GET /healthz" 200' in line for line in lines), lines


def test_modelshelf_serve_model_command(site: Path, tmp_path: Path) -> None:
    """`modelshelf serve ORG/NAME --port N` pulls, verifies and serves the model in its own process."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MODELSHELF_HOME": str(tmp_path / "home"), "MODELSHELF_SITE_URL": site.as_uri()}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("modelshelf")), "serve", MODEL, "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(f"http://127.0.0.1:{port}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the model server did not become ready"
            time.sleep(0.1)
        example = json.loads((site / "catalog.json").read_text())["models"][0]["card"]["examples"][1]
        status, answer = post(f"http://127.0.0.1:{port}/v1/predict", json.dumps({"inputs": example["inputs"]}))
        assert status == 200 and answer["outputs"]["label"] == example["outputs"]["label"]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    # uvicorn finishes the requests in flight, then re-raises SIGTERM (exit status -15) as a server should.
    assert proc.returncode in (0, -15), out
    assert "Application shutdown complete" in out, "SIGTERM shuts down gracefully"
    assert '"POST /v1/predict" 200' in out, "each request is logged"


# -- bounded inference (issue 12, attack class 3) ----------------------------------------------------
# `value_bomb_model` is 529 bytes and cheap on the smoke run's zeros, but its cost is set by input
# values: `shape` sizes a ConstantOfShape, `trips` counts a Loop. Before worker processes, two spin
# requests hung both server threads while /readyz said ready, and one 50-byte request raised the
# server's RSS by ~900 MB for good.

def _make_onnx() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_onnx", Path(__file__).parents[1] / "fixtures" / "onnx" / "make_onnx.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tensor(name: str, dtype: str, shape: list[Any]) -> dict[str, Any]:
    return {"name": name, "dtype": dtype, "shape": shape, "kind": None, "features": []}


def bomb_files(folder: Path) -> tuple[dict[str, Any], Path]:
    """The value bomb as a runtime config (model.json) and its file."""
    import hashlib

    data = _make_onnx().value_bomb_model().SerializeToString()
    path = folder / "model.onnx"
    path.write_bytes(data)
    config = {"format": runtime.CONFIG_FORMAT, "id": "acme/value-bomb", "version": "1.0.0", "name": "Value bomb",
              "task": "tensor", "model_file": "model.onnx", "model_sha256": hashlib.sha256(data).hexdigest(),
              "model_size": len(data), "inputs": [_tensor("shape", "int64", [2]), _tensor("trips", "int64", [1])],
              "outputs": [_tensor("total", "float32", [1]), _tensor("acc", "float32", [1])],
              "preprocessing": [], "postprocessing": [], "labels": [],
              "examples": [{"inputs": {"shape": [3, 4], "trips": [3]}, "outputs": {"total": [12.0], "acc": [8.0]},
                            "tolerance": 1e-4}]}
    return config, path


GOOD = {"inputs": {"shape": [3, 4], "trips": [3]}}  # 12 ones, 3 doublings
MEMORY_BOMB = {"inputs": {"shape": [100000, 100000], "trips": [1]}}  # 40 GB, in 55 bytes of JSON
BIG = {"inputs": {"shape": [10000, 20000], "trips": [1]}}  # 800 MB: within the limit, but must not stay
SPIN = {"inputs": {"shape": [1, 1], "trips": [10**12]}}  # hours


@pytest.fixture(scope="module")
def bomb_runner(tmp_path_factory: pytest.TempPathFactory) -> runtime.Runner:
    config, path = bomb_files(tmp_path_factory.mktemp("bomb"))
    return runtime.Runner(config, path)


def _rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def test_input_value_bombs_get_503_and_504_and_others_keep_being_served(bomb_runner: runtime.Runner) -> None:
    """Regression (issue 12): a request whose values ask for 40 GB or for hours is cut off by the memory
    and time limits with a clear body; the worker is replaced and other clients keep being served."""
    # in_process=True: the bomb must be sent to worker processes by the analysis, not only by the default.
    with BackgroundServer(bomb_runner, limits=Limits(workers=2, timeout=1.5, memory_mb=512, in_process=True)) as server:
        url = f"{server.url}/v1/predict"
        assert post(url, json.dumps(GOOD)) == (200, {"model": "acme/value-bomb", "version": "1.0.0",
                                                     "outputs": {"total": [12.0], "acc": [8.0]}})
        assert len(json.dumps(MEMORY_BOMB)) < 60
        assert post(url, json.dumps(MEMORY_BOMB)) == (503, {
            "error": "the prediction needed more than the limit of 512 MB of memory; the worker was replaced, "
                     "other requests are unaffected"})
        # A spin on one worker while another client is served by the other.
        spun: list[tuple[int, Any]] = []
        spinner = threading.Thread(target=lambda: spun.append(post(url, json.dumps(SPIN))))
        spinner.start()
        served = [post(url, json.dumps(GOOD))[0] for _ in range(5)]
        spinner.join(timeout=30)
        assert served == [200] * 5
        assert spun == [(504, {"error": "the prediction did not finish within the time limit of 1.5 s; the worker was "
                                        "replaced, other requests are unaffected"})]
        status = get(f"{server.url}/v1/status")[1]
        assert status["replaced"] == 2 and "time limit" in status["last_replacement"]
        assert status["isolation"] == "process" and not status["proof"]["proven"]
        assert "ConstantOfShape is not on the allow-list" in status["proof"]["reason"]
        deadline = time.monotonic() + 30
        while len(get(f"{server.url}/v1/status")[1]["workers"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(get(f"{server.url}/v1/status")[1]["workers"]) == 2, "the replaced workers are back"
        assert post(url, json.dumps(GOOD))[0] == 200


def test_readyz_is_not_ready_while_every_worker_is_stuck(bomb_runner: runtime.Runner) -> None:
    """Regression (issue 12): two spin requests hung both workers and /readyz still said ready."""
    with BackgroundServer(bomb_runner, limits=Limits(workers=2, timeout=4.0)) as server:
        assert get(f"{server.url}/readyz")[0] == 200
        spins = [threading.Thread(target=post, args=(f"{server.url}/v1/predict", json.dumps(SPIN))) for _ in range(2)]
        for t in spins:
            t.start()
        seen: list[Any] = []
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            status, body = get(f"{server.url}/readyz")
            if status == 503:
                seen.append(body)
                break
            time.sleep(0.1)
        assert seen and seen[0]["status"] == "not ready", "readyz says not ready while both workers are stuck"
        assert seen[0]["reason"].startswith("all 2 model workers are busy with predictions running for over")
        for t in spins:
            t.join(timeout=30)
        deadline = time.monotonic() + 30
        while get(f"{server.url}/readyz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert get(f"{server.url}/readyz")[0] == 200, "ready again once the workers are replaced"
        assert post(f"{server.url}/v1/predict", json.dumps(GOOD))[0] == 200


def test_a_large_prediction_does_not_keep_its_memory(bomb_runner: runtime.Runner) -> None:
    """Regression (issue 12): one 50-byte request raised the server's RSS to 893 MB, where it stayed."""
    with BackgroundServer(bomb_runner, limits=Limits(workers=1, memory_mb=1536)) as server:
        status, answer = post(f"{server.url}/v1/predict", json.dumps(BIG))
        assert status == 200 and answer["outputs"]["total"][0] > 1e8
        workers = get(f"{server.url}/v1/status")[1]["workers"]
        assert workers and all(_rss_mb(w["pid"]) < 400 for w in workers), [(w, _rss_mb(w["pid"])) for w in workers]


def test_requests_queue_below_saturation_and_are_shed_past_it(runner: runtime.Runner, bomb_runner: runtime.Runner) -> None:
    """Admission control: 16 clients at once on the default limits all get 200 (they queue briefly); with
    predictions of ~50 ms and a 0.1 s queue budget, 120 clients at once are partly shed with 503."""
    def burst(server: BackgroundServer, body: bytes, clients: int, each: int) -> list[int]:
        statuses: list[int] = []
        lock, start = threading.Lock(), threading.Barrier(clients)

        def one() -> None:
            start.wait()
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            for _ in range(each):
                conn.request("POST", "/v1/predict", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                payload = json.loads(resp.read())
                with lock:
                    statuses.append(resp.status)
                if resp.status == 503:
                    assert payload["error"].startswith("busy: ") and int(resp.getheader("Retry-After") or 0) >= 1
            conn.close()

        threads = [threading.Thread(target=one) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        return statuses

    example = json.dumps({"inputs": runner.config["examples"][0]["inputs"]}).encode()
    with BackgroundServer(runner) as server:
        assert burst(server, example, 16, 10) == [200] * 160
    slow = json.dumps({"inputs": {"shape": [1, 1], "trips": [75_000]}}).encode()
    with BackgroundServer(bomb_runner, limits=Limits(workers=2, max_queue_wait=0.1)) as server:
        for _ in range(10):  # the queue bound follows the observed latency: let the server see ~50 ms predictions
            assert post(f"{server.url}/v1/predict", slow)[0] == 200
        statuses = burst(server, slow, 120, 1)
        assert set(statuses) == {200, 503}, statuses
        assert get(f"{server.url}/readyz")[0] == 200


def _bundle(folder: Path) -> Path:
    """A deploy bundle of the value bomb, laid out as generator/bundle makes one: runtime/ copied verbatim."""
    import hashlib
    import shutil

    from modelshelf.catalog import runtime as runtime_package

    folder.mkdir(parents=True)
    config, path = bomb_files(folder)
    shutil.copytree(Path(runtime_package.__file__).parent, folder / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
    template = Path(__file__).parents[2] / "generator" / "bundle" / "templates" / "predict.py"
    shutil.copy(template, folder / "predict.py")
    (folder / "model.json").write_text(json.dumps(config))
    (folder / "SHA256SUMS").write_text(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  model.onnx\n")
    for name, request in [("good", GOOD), ("memory", MEMORY_BOMB), ("spin", SPIN)]:
        (folder / f"{name}.json").write_text(json.dumps(request))
    return folder


def test_predict_py_bounds_each_input(tmp_path: Path) -> None:
    """Regression (issue 12): `python predict.py` ran a spin input forever and a memory bomb until the OOM killer;
    now each input runs in a worker with --timeout and --max-memory, exit status 4, and the next input still runs."""
    bundle = _bundle(tmp_path / "bundle")
    proc = subprocess.run([sys.executable, "predict.py", "good.json", "memory.json", "spin.json", "good.json",
                           "--timeout", "1", "--max-memory", "512"], cwd=bundle, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 4, proc.stderr
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [a["outputs"] for a in answers] == [{"total": [12.0], "acc": [8.0]}] * 2
    assert "predict.py: memory.json: the prediction needed more than the limit of 512 MB of memory\n" in proc.stderr
    assert "predict.py: spin.json: the prediction did not finish within the time limit of 1 s\n" in proc.stderr
    selftest = subprocess.run([sys.executable, "predict.py", "--self-test"], cwd=bundle, capture_output=True, text=True,
                              timeout=120)
    assert selftest.returncode == 0 and json.loads(selftest.stdout)["ok"] is True, selftest.stderr


def test_modelshelf_run_bounds_each_input(tmp_path: Path) -> None:
    """Regression (issue 12): `modelshelf run` on a value bomb, through the real client from a folder site."""
    import hashlib

    from click.testing import CliRunner

    from modelshelf.catalog.client.cli import cli

    site = tmp_path / "site"
    (site / "files").mkdir(parents=True)
    config, path = bomb_files(site / "files")
    data = path.read_bytes()
    card = {"id": config["id"], "version": "1.0.0", "name": "Value bomb", "task": "tensor",
            "inputs": [{"name": "shape", "dtype": "int64", "shape": [2]}, {"name": "trips", "dtype": "int64", "shape": [1]}],
            "outputs": [{"name": "total", "dtype": "float32", "shape": [1]}, {"name": "acc", "dtype": "float32", "shape": [1]}]}
    entry = {"id": config["id"], "version": "1.0.0", "task": "tensor", "card": card, "files": [
        {"name": "model.onnx", "kind": "onnx", "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
         "url": "files/model.onnx"}]}
    (site / "catalog.json").write_text(json.dumps({"format_version": 1, "models": [entry]}))
    for name, request in [("good", GOOD), ("spin", SPIN)]:
        (tmp_path / f"{name}.json").write_text(json.dumps(request))
    result = CliRunner().invoke(cli, ["run", config["id"], str(tmp_path / "spin.json"), str(tmp_path / "good.json"),
                                      "--timeout", "1", "--site", str(site), "--cache-dir", str(tmp_path / "home")])
    assert result.exit_code == 4, result.output
    assert f"error: {tmp_path / 'spin.json'}: the prediction did not finish within the time limit of 1 s" in result.output
    assert '"outputs": {"total": [12.0], "acc": [8.0]}' in result.output


# -- the in-process path (issue 12, "Bounded, not stingy") --------------------------------------------
# A model whose cost provably follows its input shapes only (catalog/runtime/bounds.py) runs in the server
# process: no process hops, same answers, still a time limit. Everything else keeps its worker processes.

@pytest.fixture(scope="module")
def small_runner(tmp_path_factory: pytest.TempPathFactory) -> runtime.Runner:
    """The toy classifier with a 16-unit hidden layer: shape-bounded, and small enough to prove at a 1 MB body."""
    site = deploy_site.build_site(tmp_path_factory.mktemp("small"), hidden=16)
    c = client.client(site.as_uri(), cache_dir=tmp_path_factory.mktemp("small-home"))
    entry, path = c.model(MODEL)
    return runtime.Runner(runtime.config_from_entry(entry), path)


def test_a_shape_bounded_model_is_served_in_process_with_the_same_answers(small_runner: runtime.Runner) -> None:
    """The in-process path answers exactly what the worker processes answer: outputs, raw inputs, every 400, and a
    body too large for the event loop (run in a prediction thread); /v1/status says which path and why."""
    examples = [json.dumps({"inputs": e["inputs"]}) for e in small_runner.config["examples"]]
    big = json.dumps({"inputs": {"x": [[1.5, 2.0, -3.0, 4.0]] * 2000}})
    bodies = [*examples, '{"raw": {"x": [2, 4, 6, 8]}}', big, *(body for body, _ in BAD_REQUESTS)]
    with BackgroundServer(small_runner, limits=Limits(in_process=True)) as fast, \
            BackgroundServer(small_runner, limits=Limits(in_process=False)) as isolated:
        status = get(f"{fast.url}/v1/status")[1]
        assert status["isolation"] == "in-process (shape-bounded)" and status["proof"]["proven"], status
        assert "workers" not in status and 0 < status["inline_max_body"] < len(big)
        assert status["limits"]["max_elements"] == Limits().max_body_bytes // 2
        assert get(f"{isolated.url}/v1/status")[1]["isolation"] == "process"
        for body in bodies:
            assert post(f"{fast.url}/v1/predict", body) == post(f"{isolated.url}/v1/predict", body), body[:80]
        assert post(f"{fast.url}/v1/predict", examples[0])[0] == 200
        assert get(f"{fast.url}/readyz") == (200, {"status": "ready", "model": MODEL, "version": deploy_site.VERSION})


def _chain_runner(folder: Path, nodes: int, width: int = 256) -> runtime.Runner:
    """x[n, width] through `nodes` MatMuls by one constant matrix: shape-bounded, but as slow as you like."""
    import hashlib

    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.eye(width, dtype=np.float32), "w")
    names = ["x"] + [f"t{i}" for i in range(nodes - 1)] + ["y"]
    graph = helper.make_graph([helper.make_node("MatMul", [a, "w"], [b]) for a, b in zip(names, names[1:])], "chain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", width])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    data = model.SerializeToString()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    path.write_bytes(data)
    config = {"format": runtime.CONFIG_FORMAT, "id": "acme/chain", "version": "1.0.0", "name": "Chain", "task": "tensor",
              "model_file": "model.onnx", "model_sha256": hashlib.sha256(data).hexdigest(), "model_size": len(data),
              "inputs": [_tensor("x", "float32", ["n", width])], "outputs": [_tensor("y", "float32", ["n", width])],
              "preprocessing": [], "postprocessing": [], "labels": [],
              "examples": [{"inputs": {"x": [[1.0] * width]}, "outputs": {"y": [[1.0] * width]}, "tolerance": 1e-4}]}
    return runtime.Runner(config, path)


def test_the_time_limit_stops_an_in_process_prediction(tmp_path: Path) -> None:
    """In process there is no worker to kill: the watchdog sets onnxruntime's RunOptions.terminate, which stops the
    run before its next node; the request gets 504 and the server keeps serving. --max-memory still decides the path:
    the same model whose largest request could pass it runs in worker processes."""
    from modelshelf.catalog.runtime import server as server_module
    from modelshelf.catalog.runtime.workers import Bounds, WorkerPool

    runner = _chain_runner(tmp_path / "chain", nodes=300)
    slow = json.dumps({"inputs": {"x": [[0] * 256] * 1000}})  # 300 x 65 M multiply-adds: well over 50 ms
    assert len(slow) < Limits().max_body_bytes
    with BackgroundServer(runner, limits=Limits(timeout=0.05, in_process=True)) as server:
        url = f"{server.url}/v1/predict"
        assert get(f"{server.url}/v1/status")[1]["isolation"] == "in-process (shape-bounded)"
        start = time.monotonic()
        assert post(url, slow) == (504, {"error": "the prediction did not finish within the time limit of 0.05 s; it was "
                                                  "stopped, other requests are unaffected"})
        assert time.monotonic() - start < 5
        status, answer = post(url, json.dumps({"inputs": {"x": [[2.0] * 256]}}))
        assert status == 200 and answer["outputs"]["y"] == [[2.0] * 256]
        status_doc = get(f"{server.url}/v1/status")[1]
        assert status_doc["stopped"] == 1 and "time limit" in status_doc["last_stop"]
        assert get(f"{server.url}/readyz")[0] == 200
    pool = server_module.choose_pool(runner, Limits(memory_mb=512, in_process=True), Bounds(memory_mb=512))
    assert isinstance(pool, WorkerPool) and "more than the memory limit of 512 MB" in pool.proof.reason


def test_in_process_inputs_larger_than_the_proof_are_refused(small_runner: runtime.Runner) -> None:
    """The proof holds for inputs of at most `max_elements` elements; the card's preprocessing could, in principle,
    make a larger one from a small body: such a request gets 413 and is not run."""
    import asyncio
    import concurrent.futures

    from modelshelf.catalog.runtime import bounds
    from modelshelf.catalog.runtime.workers import InferenceLimitError, InProcessPool

    proof = bounds.analyse(small_runner.model_path.read_bytes(), max_elements=4)
    pool = InProcessPool(small_runner.config, small_runner.model_path, proof=proof, max_elements=4, inline_max_body=1 << 20)

    async def two_requests() -> tuple[Any, Any]:
        await pool.start()
        try:
            ok = await pool.run(b'{"inputs": {"x": [[1, 2, 3, 4]]}}')
            try:
                await pool.run(b'{"inputs": {"x": [[1, 2, 3, 4], [5, 6, 7, 8]]}}')
            except InferenceLimitError as exc:
                return ok, exc
            return ok, None
        finally:
            await pool.close()

    # In a thread of its own: the session's Playwright browser runs an event loop in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool_thread:
        ok, refused = pool_thread.submit(asyncio.run, two_requests()).result()
    assert ok[0]["kind"] == "ok"
    assert isinstance(refused, InferenceLimitError) and refused.status == 413
    assert str(refused) == "input 'x' has 8 elements after preprocessing (its dimensions multiplied), more than the 4 this " \
                           "server accepts"
