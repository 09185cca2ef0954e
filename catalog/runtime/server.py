"""The model inference server: one model behind a JSON HTTP API (Starlette on uvicorn).

Meant to sit behind a load balancer:

- `POST /v1/predict` takes `{"inputs": {name: tensor}}` (or `"raw"` values for the card's
  preprocessing) and answers the outputs plus the card's postprocessing. A request that does not
  fit the model's signature (missing, extra, wrong dtype, wrong shape, not JSON) gets 400 with the
  expected signature.
- Every prediction runs in a worker process (`workers.py`) with a time limit (504 past it) and a
  memory limit (503 past it); the worker is then killed and replaced while the others keep serving.
- Admission control: requests queue for a worker while the expected wait (queue x observed
  latency / workers) stays under `Limits.max_queue_wait`; past that they get 503 with Retry-After,
  before the body is read (`max_in_flight`, if set, is a hard cap on top).
- Request bodies are capped (413), a client that is slow to send its request head or body is cut
  off (connection closed, or 408), and uvicorn's own connection cap is a backstop.
- `GET /healthz` (the process answers), `GET /readyz` (503 while starting or shutting down, while no
  worker is running, or while every worker is stuck on a long prediction), `GET /v1/status` (workers,
  queue, observed latency), `GET /v1/signature`, `GET /openapi.json` (OpenAPI 3.1).
- One log line per request: client, method, path, status, bytes, milliseconds.

The runner is duck-typed (see `predictor.Runner`): `signature()`, `model_id`, `version`, `config`,
`model_path`; the workers load their own Runner from `config` and `model_path`. This module imports nothing else from modelshelf,
so the deploy bundle carries it unchanged as `server.py`.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .workers import Bounds, BusyError, InferenceLimitError, WorkerPool

log = logging.getLogger("modelshelf.server")


@dataclass(frozen=True)
class Limits:
    """What one server process accepts. The defaults suit a small model on a small machine."""

    max_body_bytes: int = 1 << 20  # 413 past this
    max_in_flight: int | None = None  # a hard cap on requests running or queued (None: derived, see WorkerPool)
    workers: int = 2  # worker processes running onnxruntime
    timeout: float = Bounds.timeout  # seconds per prediction; 504 past it (the worker is replaced)
    memory_mb: int = Bounds.memory_mb  # MB a prediction may add to a worker's loaded model; 503 past it
    threads: int | None = None  # onnxruntime threads per worker (None: CPUs / workers)
    max_queue_wait: float = 0.5  # seconds of expected queueing accepted before shedding load (503)
    head_timeout: float = 10.0  # seconds for a client to send its request line and headers
    body_timeout: float = 10.0  # seconds to receive the whole body (408 past this)
    keep_alive: int = 5  # seconds an idle keep-alive connection stays open
    max_connections: int = 512  # uvicorn's limit_concurrency (its own 503), a backstop for floods


# -- helpers ---------------------------------------------------------------------------------------

def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data, separators=(",", ":")), status_code=status, media_type="application/json", headers=headers)


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limits: Limits) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limits.max_body_bytes):
        raise _TooLarge
    chunks, size = [], 0
    async with asyncio.timeout(limits.body_timeout):
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_body_bytes:
                raise _TooLarge
            chunks.append(chunk)
    return b"".join(chunks)


def _tensor_schema(tensor: dict[str, Any]) -> dict[str, Any]:
    leaf: dict[str, Any] = {"float16": {"type": "number"}, "float32": {"type": "number"}, "float64": {"type": "number"},
                            "bool": {"type": "boolean"}, "string": {"type": "string"}}.get(tensor["dtype"], {"type": "integer"})
    schema = leaf
    for dim in reversed(tensor["shape"]):
        schema = {"type": "array", "items": schema}
        if isinstance(dim, int):
            schema.update(minItems=dim, maxItems=dim)
    return {**schema, "description": f"{tensor['dtype']} tensor of shape "
            + "[" + ", ".join("?" if d is None else str(d) for d in tensor["shape"]) + "]"}


def openapi_document(runner: Any) -> dict[str, Any]:
    """An OpenAPI 3.1 description of the server, with request and response schemas from the model's signature."""
    sig = runner.signature()
    names = [t["name"] for t in sig["inputs"]]
    examples = runner.config.get("examples") or []
    error = {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string"}, "expected": {"type": "object", "description": "the model's input signature"}}}
    request = {"type": "object", "additionalProperties": True, "properties": {
        "inputs": {"type": "object", "additionalProperties": False,
                   "properties": {t["name"]: _tensor_schema(t) for t in sig["inputs"]},
                   "description": "model tensors by input name, as the card's examples give them"},
        "raw": {"type": "object", "description": "raw values by input name; the card's preprocessing is applied first"}}}
    response = {"type": "object", "properties": {
        "model": {"type": "string"}, "version": {"type": "string"},
        "outputs": {"type": "object", "properties": {t["name"]: _tensor_schema(t) for t in sig["outputs"]}},
        "postprocessed": {"type": "object", "description": "the card's postprocessing (values, top-k with labels)"}}}

    def err(description: str) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

    def ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    predict_request: dict[str, Any] = {
        "required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}}}
    if examples:
        predict_request["content"]["application/json"]["example"] = {"inputs": examples[0]["inputs"]}
    status = {"type": "object", "properties": {"status": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{runner.model_id} {runner.version}", "version": runner.version,
                 "description": f"Predictions of {runner.model_id} (inputs {', '.join(names)}), served by Modelshelf."},
        "paths": {
            "/v1/predict": {"post": {"summary": "Run the model", "operationId": "predict", "requestBody": predict_request,
                                     "responses": {"200": ok({"$ref": "#/components/schemas/PredictResponse"}, "the outputs"),
                                                   "400": err("not JSON, or the inputs do not fit the signature"),
                                                   "408": err("the request body was not received in time"),
                                                   "413": err("the request body is too large"),
                                                   "500": err("the model failed on this input"),
                                                   "503": err("busy (retry after Retry-After seconds), or the prediction "
                                                              "exceeded the memory limit"),
                                                   "504": err("the prediction exceeded the time limit")}}},
            "/v1/signature": {"get": {"summary": "The model's inputs and outputs", "operationId": "signature",
                                      "responses": {"200": ok({"type": "object"}, "names, dtypes and shapes")}}},
            "/healthz": {"get": {"summary": "Liveness", "operationId": "healthz",
                                 "responses": {"200": ok(status, "the process answers")}}},
            "/readyz": {"get": {"summary": "Readiness", "operationId": "readyz",
                                "responses": {"200": ok(status, "the model is loaded and warm"),
                                              "503": ok(status, "not ready")}}},
            "/v1/status": {"get": {"summary": "Workers, queue and observed latency", "operationId": "status",
                                   "responses": {"200": ok({"type": "object"}, "the worker pool's state")}}},
            "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                      "responses": {"200": ok({"type": "object"}, "OpenAPI 3.1")}}},
        },
        "components": {"schemas": {"PredictRequest": request, "PredictResponse": response, "Error": error}},
    }


# -- the app ---------------------------------------------------------------------------------------

class _State:
    """Per-app state, touched only from the event loop thread."""

    def __init__(self) -> None:
        self.ready = False
        self.in_flight = 0
        self.pool: WorkerPool | None = None


_PAYLOAD_STATUS = {"ok": 200, "input": 400, "bad": 400, "error": 500}


def create_app(runner: Any, limits: Limits = Limits()) -> ASGIApp:
    """The ASGI app serving `runner` (its model is loaded by the worker processes at startup),
    wrapped in one-line-per-request logging."""
    state = _State()
    openapi = json.dumps(openapi_document(runner), separators=(",", ":"))
    bounds = Bounds(timeout=limits.timeout, memory_mb=limits.memory_mb, threads=limits.threads)

    async def predict(request: Request) -> Response:
        pool = state.pool
        if pool is None or not state.ready:
            return _json({"error": "not ready: the model is still loading"}, 503, {"Retry-After": "1"})
        capacity = pool.capacity()
        if state.in_flight >= capacity:
            busy = f"busy: {state.in_flight} requests in flight (the cap is {capacity}); retry shortly"
            return _json({"error": busy}, 503, {"Retry-After": str(pool.retry_after())})
        state.in_flight += 1
        try:
            try:
                body = await _read_body(request, limits)
            except _TooLarge:
                return _json({"error": f"the request body is larger than {limits.max_body_bytes} bytes"},
                             413, {"Connection": "close"})
            except TimeoutError:
                return _json({"error": f"the request body was not received within {limits.body_timeout:g} s"},
                             408, {"Connection": "close"})
            try:
                head, payload = await pool.run(body)
            except BusyError as exc:
                return _json({"error": str(exc)}, 503, {"Retry-After": str(exc.retry_after)})
            except InferenceLimitError as exc:
                return _json({"error": f"{exc}; the worker was replaced, other requests are unaffected"}, exc.status)
            return Response(payload, status_code=_PAYLOAD_STATUS.get(head["kind"], 500), media_type="application/json")
        finally:
            state.in_flight -= 1

    async def healthz(request: Request) -> Response:
        return _json({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if not state.ready or state.pool is None:
            return _json({"status": "not ready"}, 503)
        reason = state.pool.not_ready()
        if reason:
            return _json({"status": "not ready", "reason": reason}, 503)
        return _json({"status": "ready", "model": runner.model_id, "version": runner.version})

    async def status(request: Request) -> Response:
        pool = state.pool
        return _json({"model": runner.model_id, "version": runner.version, "ready": state.ready,
                      "in_flight": state.in_flight, **(pool.status() if pool else {})})

    async def signature(request: Request) -> Response:
        return _json({"model": runner.model_id, "version": runner.version, **runner.signature(),
                      "preprocessing": runner.config.get("preprocessing", []),
                      "postprocessing": runner.config.get("postprocessing", []), "labels": runner.config.get("labels", [])})

    async def openapi_json(request: Request) -> Response:
        return Response(openapi, media_type="application/json")

    async def index(request: Request) -> Response:
        return _json({"model": runner.model_id, "version": runner.version,
                      "endpoints": ["POST /v1/predict", "GET /v1/signature", "GET /openapi.json", "GET /healthz", "GET /readyz",
                                    "GET /v1/status"]})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = WorkerPool(runner.config, runner.model_path, size=limits.workers, bounds=bounds,
                          max_queue_wait=limits.max_queue_wait, max_in_flight=limits.max_in_flight)
        await pool.start()  # each worker loads the model and runs the first example
        state.pool = pool
        state.ready = True
        log.info("ready: %s %s (%d workers, %g s and %d MB per prediction)", runner.model_id, runner.version,
                 limits.workers, limits.timeout, limits.memory_mb)
        try:
            yield
        finally:
            state.ready = False
            await pool.close()

    app = Starlette(routes=[
        Route("/", index), Route("/v1/predict", predict, methods=["POST"]), Route("/predict", predict, methods=["POST"]),
        Route("/v1/signature", signature), Route("/openapi.json", openapi_json), Route("/v1/status", status),
        Route("/healthz", healthz), Route("/readyz", readyz),
    ], lifespan=lifespan)
    return _AccessLog(app)


class _AccessLog:
    """Logs one line per request (client, method, path, status, bytes, ms); uvicorn's access log is off."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status, size = 500, 0

        async def logged_send(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            client = scope.get("client") or ("-", 0)
            log.info('%s "%s %s" %d %d %.1fms', client[0], scope["method"], scope["path"], status, size,
                     (time.perf_counter() - start) * 1000)


class _SlowClientProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol plus a deadline for the request head: a client that connects and then
    sends nothing, or its headers a byte at a time, is disconnected (uvicorn only times out idle keep-alives)."""

    head_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timeout_expired)

    def _head_timeout_expired(self) -> None:
        waiting_for_head = self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)
        if waiting_for_head and not self.transport.is_closing():
            log.info("%s closed: no complete request head within %g s", (self.client or ("-",))[0], self.head_timeout)
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)


def server_config(runner: Any, *, host: str, port: int, limits: Limits = Limits()) -> uvicorn.Config:
    protocol = type("SlowClientProtocol", (_SlowClientProtocol,), {"head_timeout": limits.head_timeout})
    return uvicorn.Config(create_app(runner, limits), host=host, port=port, http=protocol, lifespan="on",
                          access_log=False, log_config=None, timeout_keep_alive=limits.keep_alive,
                          limit_concurrency=limits.max_connections, timeout_graceful_shutdown=10)


def serve(runner: Any, *, host: str = "127.0.0.1", port: int = 8080, limits: Limits = Limits()) -> None:
    """Serve until interrupted (SIGINT/SIGTERM finish the requests in flight, then stop)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    log.info("serving %s %s on http://%s:%d (POST /v1/predict, GET /openapi.json)", runner.model_id, runner.version, host, port)
    # What is loaded now lives as long as the server: keep the cyclic GC from walking it again and again
    # (the `modelshelf` command has imported much more than the server needs).
    gc.collect()
    gc.freeze()
    uvicorn.Server(server_config(runner, host=host, port=port, limits=limits)).run()


class BackgroundServer:
    """The server in a thread of this process, on a free port (for tests and benchmarks)."""

    def __init__(self, runner: Any, *, host: str = "127.0.0.1", port: int = 0, limits: Limits = Limits()) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.bind((host, port))
        self.host, self.port = host, self.sock.getsockname()[1]
        self.server = uvicorn.Server(server_config(runner, host=host, port=self.port, limits=limits))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True, name="model-server")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline and self.thread.is_alive():
            time.sleep(0.01)
        if not self.server.started:
            raise RuntimeError("the model server did not start")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


__all__ = ["BackgroundServer", "Limits", "create_app", "openapi_document", "serve", "server_config"]
