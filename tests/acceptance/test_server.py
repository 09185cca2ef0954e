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
    assert set(doc["paths"]["/v1/predict"]["post"]["responses"]) == {"200", "400", "408", "413", "503"}


EXPECTED = {"inputs": [{"name": "x", "dtype": "float32", "shape": ["batch", 4]}]}


@pytest.mark.parametrize("body, message", [
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
])
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
