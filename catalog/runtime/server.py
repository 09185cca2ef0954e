"""The model inference server: one model behind a JSON HTTP API (Starlette on uvicorn).

Meant to sit behind a load balancer:

- `POST /v1/predict` takes `{"inputs": {name: tensor}}` (or `"raw"` values for the card's
  preprocessing) and answers the outputs plus the card's postprocessing. A request that does not
  fit the model's signature (missing, extra, wrong dtype, wrong shape, not JSON) gets 400 with the
  expected signature.
- Every prediction runs in a worker process (`workers.py`) with a time limit (504 past it) and a
  memory limit (503 past it); the worker is then killed and replaced while the others keep serving.
  Except for a model `bounds.analyse` proves shape-bounded (its tensors and work follow from the input
  shapes, which the body limit caps, never from input values): it runs in the server process
  (`workers.InProcessPool`), small requests on the event loop, with the time limit applied between
  onnxruntime nodes. `GET /v1/status` says which ("isolation") and why ("proof").
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
import dataclasses
import gc
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h11
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .bounds import Model, Proof, analyse, preprocessing_is_bounded, read_model
from .workers import Bounds, BusyError, InferenceLimitError, InProcessPool, WorkerPool

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
    # Run a model proven shape-bounded in the server process (opt-in: an onnxruntime crash would then take the server
    # down, and it measured no faster at 16 clients on 2 CPUs; it halves latency at low load). False: worker processes.
    in_process: bool = False


# The in-process path runs a request on the event loop when its body is at most this large and the proof
# bounds its onnxruntime work by INLINE_WORK multiply-adds (a millisecond or so); larger ones run in threads.
INLINE_MAX_BODY = 16 << 10
INLINE_WORK = 5_000_000
# What the Python side of one in-process request may hold besides onnxruntime's tensors, per element: the parsed
# body and its arrays (a JSON number becomes a float and a list slot, plus numpy copies), and the answer (lists of
# floats, the postprocessing's values and top-k dicts), plus the answer's JSON text twice (str and bytes), which
# Bounds.max_answer_bytes caps. Measured: a 1 MB iris-logreg request adds ~115 MB of RSS; this estimates 380 MB.
HOST_BYTES_PER_INPUT_ELEMENT = 64
HOST_BYTES_PER_OUTPUT_ELEMENT = 400


def host_bytes(proof: Proof, bounds: Bounds) -> int:
    """An upper estimate of one in-process request's memory outside onnxruntime (see HOST_BYTES_PER_*)."""
    return (proof.max_elements * HOST_BYTES_PER_INPUT_ELEMENT + proof.output_elements * HOST_BYTES_PER_OUTPUT_ELEMENT
            + 2 * bounds.max_answer_bytes)


# -- helpers ---------------------------------------------------------------------------------------

def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data, separators=(",", ":")), status_code=status, media_type="application/json", headers=headers)


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


def _is_json(content_type: bytes | None) -> bool:
    """application/json, with parameters (charset) or not."""
    return content_type is not None and content_type.split(b";")[0].strip().lower() == b"application/json"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def _read_body(scope: Scope, receive: Receive, limits: Limits) -> bytes:
    length = _header(scope, b"content-length")
    if length is not None and (not length.isdigit() or int(length) > limits.max_body_bytes):
        raise _TooLarge
    chunks, size = [], 0
    async with asyncio.timeout(limits.body_timeout):
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limits.max_body_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


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
        "postprocessed": {"type": "object", "description": "the card's postprocessing (values, top-k with labels)"},
        "non_finite": {"type": "object", "description": "present only when an output held NaN or an infinity, which JSON "
                       "cannot write: those values are null in `outputs`, and this counts them per output",
                       "additionalProperties": {"type": "object", "properties": {
                           "nan": {"type": "integer"}, "inf": {"type": "integer"}, "-inf": {"type": "integer"}}}}}}

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
        self.pool: WorkerPool | InProcessPool | None = None


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def choose_pool(runner: Any, limits: Limits, bounds: Bounds) -> WorkerPool | InProcessPool:
    """The in-process pool when the model is proven shape-bounded for the largest body `limits` admits, else
    worker processes. A JSON number takes at least two bytes ("0,"), so a body of B bytes holds at most B / 2
    elements an input; the in-process pool refuses (413) a request whose inputs are larger after preprocessing."""
    max_elements = max(1, limits.max_body_bytes // 2)
    model: Model | None = None
    reason = None if limits.in_process else "in-process predictions are turned off"
    reason = reason or preprocessing_is_bounded(runner.config.get("preprocessing") or [])
    if reason is None:
        data = Path(runner.model_path).read_bytes()
        proof = analyse(data, max_elements=max_elements, memory_bytes=limits.memory_mb << 20)
        if proof.safe and proof.peak_bytes + host_bytes(proof, bounds) > limits.memory_mb << 20:
            need = (proof.peak_bytes + host_bytes(proof, bounds)) >> 20
            proof = dataclasses.replace(proof, safe=False, reason=(
                f"the largest request ({max_elements} elements an input) could need {need} MB with its JSON and "
                f"postprocessing, more than the memory limit of {limits.memory_mb} MB"))
        if proof.safe and _sha256(data) != runner.config.get("model_sha256"):
            proof = Proof(False, "the model file does not match its SHA-256", max_elements)
        if proof.safe:
            model = read_model(data)
    else:
        proof = Proof(False, reason, max_elements)
    options: dict[str, Any] = {"size": limits.workers, "bounds": bounds, "max_queue_wait": limits.max_queue_wait,
                               "max_in_flight": limits.max_in_flight, "proof": proof}
    if model is None:
        log.info("%s runs in worker processes: %s", runner.model_id, proof.reason)
        return WorkerPool(runner.config, runner.model_path, **options)
    inline = 0
    for size in (INLINE_MAX_BODY >> shift for shift in range(6)):
        if size <= limits.max_body_bytes and analyse(model, max_elements=size // 2).total_work <= INLINE_WORK:
            inline = size
            break
    log.info("%s is shape-bounded: it runs in the server process (%d elements an input: at most %.1f MB of tensors "
             "and %.0f MB for JSON and postprocessing, %.3g multiply-adds in one node; bodies up to %d bytes on the event "
             "loop)", runner.model_id, max_elements, proof.peak_bytes / (1 << 20), host_bytes(proof, bounds) / (1 << 20),
             proof.max_node_work, inline)
    return InProcessPool(runner.config, runner.model_path, max_elements=max_elements, inline_max_body=inline, **options)


_PAYLOAD_STATUS = {"ok": 200, "input": 400, "bad": 400, "error": 500}


def create_app(runner: Any, limits: Limits = Limits()) -> ASGIApp:
    """The ASGI app serving `runner` (its model is loaded by the worker processes at startup),
    wrapped in one-line-per-request logging."""
    state = _State()
    openapi = json.dumps(openapi_document(runner), separators=(",", ":"))
    bounds = Bounds(timeout=limits.timeout, memory_mb=limits.memory_mb, threads=limits.threads)

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
        pool = await asyncio.to_thread(choose_pool, runner, limits, bounds)
        await pool.start()  # each worker (or the in-process pool) loads the model and runs the first example
        state.pool = pool
        state.ready = True
        log.info("ready: %s %s (%s, %d %s, %g s and %d MB per prediction)", runner.model_id, runner.version, pool.isolation,
                 limits.workers, "workers" if isinstance(pool, WorkerPool) else "prediction threads", limits.timeout,
                 limits.memory_mb)
        try:
            yield
        finally:
            state.ready = False
            await pool.close()

    predict = _Predict(state, limits)
    app = Starlette(routes=[
        Route("/", index), Route("/v1/predict", predict, methods=["POST"]), Route("/predict", predict, methods=["POST"]),
        Route("/v1/signature", signature), Route("/openapi.json", openapi_json), Route("/v1/status", status),
        Route("/healthz", healthz), Route("/readyz", readyz),
    ], lifespan=lifespan)
    return _AccessLog(app, predict)


_Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]  # status, JSON body, extra headers


def _error(status: int, message: str, retry_after: int | None = None, close: bool = False) -> _Answer:
    headers = [(b"retry-after", str(retry_after).encode())] if retry_after is not None else []
    if close:
        headers.append((b"connection", b"close"))
    return status, json.dumps({"error": message}, separators=(",", ":")).encode(), headers


class _Predict:
    """POST /v1/predict as a plain ASGI app: admission, the body (413, 408), the pool, the answer. It is the hot
    path, so `_AccessLog` calls `answer` directly, without Starlette's routing, Request and Response objects;
    the Starlette route (the same object) is what answers other methods with 405."""

    def __init__(self, state: _State, limits: Limits) -> None:
        self.state, self.limits = state, limits

    async def answer(self, scope: Scope, receive: Receive) -> _Answer:
        state, limits = self.state, self.limits
        pool = state.pool
        if not _is_json(_header(scope, b"content-type")):
            # A browser page on any site could otherwise POST text/plain or form data here without a CORS
            # preflight (a "simple request") and use the model; JSON needs a preflight, which this server never grants.
            return _error(415, "send the request as JSON, with the header Content-Type: application/json", close=True)
        if pool is None or not state.ready:
            return _error(503, "not ready: the model is still loading", retry_after=1)
        capacity = pool.capacity()
        if state.in_flight >= capacity:
            return _error(503, f"busy: {state.in_flight} requests in flight (the cap is {capacity}); retry shortly",
                          retry_after=pool.retry_after())
        state.in_flight += 1
        try:
            try:
                body = await _read_body(scope, receive, limits)
            except _TooLarge:
                return _error(413, f"the request body is larger than {limits.max_body_bytes} bytes", close=True)
            except TimeoutError:
                return _error(408, f"the request body was not received within {limits.body_timeout:g} s", close=True)
            try:
                head, payload = await pool.run(body)
            except BusyError as exc:
                return _error(503, str(exc), retry_after=exc.retry_after)
            except InferenceLimitError as exc:
                return _error(exc.status, f"{exc}; {exc.aftermath}")
            return _PAYLOAD_STATUS.get(head["kind"], 500), payload, []
        finally:
            state.in_flight -= 1

    @staticmethod
    async def send(send: Send, answer: _Answer) -> None:
        status, body, headers = answer
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json"), *headers]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with contextlib.suppress(_Disconnected):
            await self.send(send, await self.answer(scope, receive))


_PREDICT_PATHS = frozenset({"/v1/predict", "/predict"})


class _AccessLog:
    """Logs one line per request (client, method, path, status, bytes, ms); uvicorn's access log is off.
    POST /v1/predict goes straight to `predict`."""

    def __init__(self, app: ASGIApp, predict: _Predict | None = None) -> None:
        self.app, self.predict = app, predict

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status, size = 500, 0
        if self.predict is not None and scope["method"] == "POST" and scope["path"] in _PREDICT_PATHS:
            try:
                answer = await self.predict.answer(scope, receive)
                status, size = answer[0], len(answer[1])
                await self.predict.send(send, answer)
            except _Disconnected:
                status = 499  # the client went away before sending its whole body (nginx's code for it)
            finally:
                self._log(scope, status, size, start)
            return

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
            self._log(scope, status, size, start)

    @staticmethod
    def _log(scope: Scope, status: int, size: int, start: float) -> None:
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
