"""Bounded inference: every prediction runs in a worker process with a time limit and a memory limit.

A model's cost can depend on the *values* of its inputs (a shape read from an input tensor, a
loop count, ...), so a 50-byte request can ask onnxruntime for gigabytes or for hours. Such a
request must not take the server down with it, so predictions never run in the serving process:

- a worker is a child process (`python -m <this package>.workers FD`) that loads the model,
  verifies its SHA-256, runs the first card example, then limits its own address space to what it
  holds plus `Bounds.memory_mb` (RLIMIT_AS): an allocation past it fails inside the worker, which
  answers "memory" and is replaced;
- the parent waits `Bounds.timeout` seconds for each answer, then kills the worker (SIGKILL) and
  starts another; a worker that dies (OOM killer, crash) is replaced too;
- onnxruntime's memory arena is off in workers, so a large request's memory goes back to the
  system; a worker whose resident memory still grew by more than half its budget is recycled
  after answering.

`Worker` is the synchronous handle (`modelshelf run`, `predict.py`); `WorkerPool` is the server's
asynchronous pool with its admission control: requests queue for a worker while the expected wait
(queue length x observed latency / workers) stays under `max_queue_wait`, and only past that are
they refused (503 with Retry-After).

`InProcessPool` is the server's other pool, with the same interface, for a model `bounds.analyse`
proved shape-bounded: its cost follows the request's size, which the body limit caps, so it runs in
the server process, without the two process hops; onnxruntime's RunOptions.terminate, set by a
watchdog thread, enforces the time limit between nodes.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import resource
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable, Mapping

log = logging.getLogger("modelshelf.workers")


@dataclass(frozen=True)
class Bounds:
    """What one inference may use. The defaults match the build's smoke run in spirit (2 GB), with a shorter clock."""

    timeout: float = 10.0  # seconds per prediction (504 past it; the worker is killed and replaced)
    memory_mb: int = 2048  # MB of address space a prediction may add to the loaded model (503 past it)
    max_answer_bytes: int = 64 << 20  # a larger JSON answer is refused (503)
    threads: int | None = None  # onnxruntime intra-op threads per worker (None: the CPUs divided among the workers)
    start_timeout: float = 120.0  # seconds for a worker to load the model and run the warm-up example


class InferenceLimitError(RuntimeError):
    """Raised by `Worker`, `WorkerPool` and `InProcessPool` when a prediction exceeded a limit or its worker stopped.

    `status` is the HTTP status the server answers: 504 for the time limit, 503 otherwise (413 for a request
    larger than the in-process path is proven for); `aftermath` says what became of the worker or prediction.
    """

    def __init__(self, message: str, status: int = 503,
                 aftermath: str = "the worker was replaced, other requests are unaffected") -> None:
        super().__init__(message)
        self.status = status
        self.aftermath = aftermath


class BusyError(RuntimeError):
    """Raised by `WorkerPool` when a request cannot get a worker soon enough; `retry_after` is in seconds."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WorkerStartError(RuntimeError):
    """Raised by `Worker.start` when the worker process could not load the model."""


# -- the worker process ----------------------------------------------------------------------------

class _Rss:
    """The process's resident memory, read with one pread of a kept-open /proc/self/statm (every answer carries it)."""

    def __init__(self) -> None:
        self.page = os.sysconf("SC_PAGE_SIZE")
        try:
            self.fd: int | None = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            self.fd = None

    def __call__(self) -> int:
        if self.fd is not None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                return int(os.pread(self.fd, 128, 0).split()[1]) * self.page
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


_rss_bytes = _Rss()


def _vm_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _is_memory_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or "bad_alloc" in text or "failed to allocate" in text or "out of memory" in text


def _watch_parent(parent: int) -> None:
    # A worker spinning in onnxruntime does not read its socket: stop when the server is gone.
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


_KIND_CODES = {"ok": b"o", "input": b"i", "bad": b"b", "error": b"e", "memory": b"m", "large": b"l", "failed": b"f"}
_KINDS = {code[0]: kind for kind, code in _KIND_CODES.items()}
_HEAD = struct.Struct(">cQ")  # kind code, resident bytes


def _reply(conn: Connection, kind: str, payload: bytes = b"", **extra: Any) -> None:
    """One answer: a JSON header line when there is more to say (ready), else a 9-byte header (every request)."""
    if extra or kind not in _KIND_CODES:
        conn.send_bytes(json.dumps({"kind": kind, "rss": _rss_bytes(), **extra}).encode() + b"\n" + payload)
    else:
        conn.send_bytes(_HEAD.pack(_KIND_CODES[kind], _rss_bytes()) + payload)


def _error(message: str, expected: Any = None) -> bytes:
    data: dict[str, Any] = {"error": message}
    if expected is not None:
        data["expected"] = expected
    return json.dumps(data, separators=(",", ":")).encode()


def worker_main(fd: int, parent: int) -> None:
    """The worker process: load the model, warm up, bound memory, then answer requests until EOF."""
    from . import predictor

    conn = Connection(fd)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    setup = json.loads(conn.recv_bytes())
    try:
        runner = predictor.Runner(setup["config"], Path(setup["model_path"]), threads=setup["threads"], memory_arena=False)
        examples = runner.config.get("examples") or []
        for _ in range(2):  # the second run's time is the first latency estimate (the first one initialises)
            start = time.perf_counter()
            if examples:
                with contextlib.suppress(Exception):
                    runner.predict({"inputs": examples[0]["inputs"]})
        warm = time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises WorkerStartError
        _reply(conn, "failed", str(exc).encode())
        return
    limit = _vm_bytes() + int(setup["memory_mb"]) * (1 << 20)
    if _vm_bytes():
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    _reply(conn, "ready", pid=os.getpid(), warm=warm)
    answer = _Answerer(conn, runner, int(setup["memory_mb"]), int(setup["max_answer_bytes"]))
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        op, payload = message[:1], message[1:]
        if op == b"B":  # several HTTP request bodies, answered one by one, in order
            pos = 0
            while pos < len(payload):
                (size,) = struct.unpack_from(">I", payload, pos)
                answer(b"J", payload[pos + 4:pos + 4 + size])
                pos += 4 + size
        else:
            answer(op, payload)


class _Answerer:
    """One request in the worker: run it and send exactly one reply (never raises for a bad request or model)."""

    def __init__(self, conn: Connection, runner: Any, memory_mb: int, max_answer: int) -> None:
        self.conn, self.runner, self.memory_mb, self.max_answer = conn, runner, memory_mb, max_answer

    def __call__(self, op: bytes, payload: bytes) -> None:
        _reply(self.conn, *answer(self.runner, op, payload, self.memory_mb, self.max_answer))


def answer(runner: Any, op: bytes, payload: bytes, memory_mb: int, max_answer: int,
           predict: Callable[[Any], Any] | None = None) -> tuple[str, bytes]:
    """One request (`op` J: an HTTP body, S: JSON from stdin, F: a file name, T: the self-test) as (answer kind,
    payload); `predict` replaces `runner.predict` for HTTP bodies. Raises only InferenceLimitError (from `predict`)."""
    from . import predictor

    try:
        if op == b"J":  # an HTTP request body
            try:
                request = json.loads(payload)
            except ValueError as exc:
                return "input", _error(f"the body is not JSON: {exc}", {"inputs": runner.signature()["inputs"]})
            except RecursionError:  # valid JSON, but deeper than the parser goes (and than any tensor a model takes)
                return "input", _error("the body is nested too deeply to be a request", {"inputs": runner.signature()["inputs"]})
            result: Any = (predict or runner.predict)(request)
        elif op == b"S":  # a JSON request from standard input
            try:
                request = json.loads(payload)
            except ValueError as exc:
                raise runner._error(f"- is not valid JSON ({exc})") from None
            except RecursionError:
                raise runner._error("- is nested too deeply to be a request") from None
            result = runner.predict_request(request)
        elif op == b"F":  # a file named by the command line
            result = runner.predict_file(Path(payload.decode("utf-8")))
        elif op == b"T":  # the card's examples
            ok, reports = predictor.self_test(runner)
            result = {"ok": ok, "examples": reports}
        else:
            return "failed", b"unknown operation"
        body = json.dumps(result, separators=(",", ":"), allow_nan=False).encode()  # the answer is JSON or an error
        if len(body) > max_answer:
            return "large", f"the answer would be {len(body)} bytes, more than the limit of {max_answer}".encode()
        return "ok", body
    except predictor.InputError as exc:
        return "input", _error(str(exc), exc.expected)
    except InferenceLimitError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes an answer; the worker lives on
        if _is_memory_error(exc):
            return "memory", f"the prediction needed more than the limit of {memory_mb} MB of memory".encode()
        if isinstance(exc, (OSError, ValueError)):
            return "bad", _error(str(exc))
        return "error", _error(f"the model failed on this input: {exc}")


# -- the parent's handle ---------------------------------------------------------------------------

def _default_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


@dataclass(eq=False)
class Worker:
    """One worker process, started by `start()`; `call()` sends it one request and waits (the CLI's way);
    `WorkerPool` drives it from an event loop instead."""

    config: Mapping[str, Any]
    model_path: Path
    bounds: Bounds = Bounds()
    threads: int = 1
    proc: subprocess.Popen[bytes] | None = None
    conn: Connection | None = None
    pid: int = 0
    rss: int = 0
    base_rss: int = 0
    warm: float = 0.0
    busy_since: float | None = None
    served: int = 0
    # The pool's bookkeeping: the loop its socket is registered with, the requests sent to it in order
    # (the first is running since busy_since).
    loop: asyncio.AbstractEventLoop | None = None
    jobs: deque[_Job] = field(default_factory=deque)

    def start(self) -> Worker:
        package = __package__ or "runtime"
        parent_sock, child_sock = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        try:
            self.proc = subprocess.Popen(
                # The parent's interpreter flags (-X importtime, -O, ...), as multiprocessing passes them.
                [sys.executable, *subprocess._args_from_interpreter_flags(), "-m", f"{package}.workers",  # type: ignore[attr-defined]
                 str(child_sock.fileno()), str(os.getpid())],
                pass_fds=[child_sock.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                start_new_session=True, env=env)
        finally:
            child_sock.close()
        self.conn = Connection(parent_sock.detach())
        self.conn.send_bytes(json.dumps({
            "config": dict(self.config), "model_path": str(self.model_path), "threads": self.threads,
            "memory_mb": self.bounds.memory_mb, "max_answer_bytes": self.bounds.max_answer_bytes}).encode())
        try:
            if not self.conn.poll(self.bounds.start_timeout):
                raise WorkerStartError(f"the model worker did not load the model within {self.bounds.start_timeout:g} s")
            head, payload = self._parse(self.conn.recv_bytes())
        except (EOFError, OSError) as exc:
            self.kill()
            raise WorkerStartError(f"the model worker stopped while loading the model ({self._exit_text()})") from exc
        except WorkerStartError:
            self.kill()
            raise
        if head["kind"] != "ready":
            self.kill()
            raise WorkerStartError(payload.decode("utf-8", "replace"))
        self.pid, self.base_rss, self.rss, self.warm = head["pid"], head["rss"], head["rss"], float(head["warm"])
        return self

    @staticmethod
    def _parse(message: bytes) -> tuple[dict[str, Any], bytes]:
        if message[:1] == b"{":
            head, _, payload = message.partition(b"\n")
            return json.loads(head), payload
        code, rss = _HEAD.unpack_from(message)
        return {"kind": _KINDS[code[0]], "rss": rss}, message[_HEAD.size:]

    def _exit_text(self) -> str:
        code = self.proc.poll() if self.proc else None
        if code is None:
            return "no exit status"
        return f"killed by signal {-code}" if code < 0 else f"exit status {code}"

    def _limit_error(self, head: dict[str, Any], payload: bytes) -> InferenceLimitError | None:
        if head["kind"] in ("memory", "large"):
            return InferenceLimitError(payload.decode("utf-8", "replace"), 503)
        return None

    def _timeout_error(self) -> InferenceLimitError:
        return InferenceLimitError(f"the prediction did not finish within the time limit of {self.bounds.timeout:g} s", 504)

    def _died_error(self) -> InferenceLimitError:
        return InferenceLimitError(f"the model worker stopped during the prediction ({self._exit_text()})", 503)

    def call(self, message: bytes) -> tuple[dict[str, Any], bytes]:
        """Send one request and wait for the answer; past the time limit the worker is killed (not restarted)."""
        assert self.conn is not None
        try:
            self.conn.send_bytes(message)
            if not self.conn.poll(self.bounds.timeout):
                self.kill()
                raise self._timeout_error()
            head, payload = self._parse(self.conn.recv_bytes())
        except (EOFError, OSError):
            self.kill()
            raise self._died_error() from None
        self.rss = head["rss"]
        return head, payload

    def _unregister(self) -> None:
        if self.loop is not None and self.conn is not None:
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self.conn.fileno())
        self.loop = None

    def kill(self) -> None:
        self._unregister()
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.close()
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)

    def stop(self) -> None:
        """Close the socket (the worker exits at EOF); kill it if it does not."""
        self._unregister()
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.close()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def grown(self) -> bool:
        """Resident memory grew by more than half the budget: recycle this worker after its answer."""
        return self.rss - self.base_rss > self.bounds.memory_mb * (1 << 20) // 2

    # -- what `modelshelf run` and predict.py call --

    def answer(self, message: bytes) -> Any:
        """The decoded answer to one request; raises InputError/ValueError/RuntimeError like the Runner would."""
        from .predictor import InputError

        head, payload = self.call(message)
        limit = self._limit_error(head, payload)
        if limit is not None:
            self.kill()
            raise limit
        if head["kind"] == "ok":
            return json.loads(payload)
        data: dict[str, Any] = json.loads(payload) if payload.startswith(b"{") else {"error": payload.decode("utf-8", "replace")}
        if head["kind"] == "input":
            raise InputError(str(data["error"]), dict(data.get("expected") or {}))
        if head["kind"] == "bad":
            raise ValueError(data["error"])
        raise RuntimeError(data["error"])


class BoundedRunner:
    """The Runner's file and self-test API, each call in a worker process with `bounds`; a worker that
    exceeded a limit is replaced before the next call. Use as a context manager."""

    def __init__(self, runner: Any, bounds: Bounds = Bounds()) -> None:
        self.runner, self.bounds = runner, bounds
        self.worker: Worker | None = None

    def _worker(self) -> Worker:
        if self.worker is None or self.worker.proc is None or self.worker.proc.poll() is not None:
            threads = self.bounds.threads or getattr(self.runner, "threads", None) or (os.cpu_count() or 1)
            self.worker = Worker(self.runner.config, self.runner.model_path, self.bounds, threads).start()
        return self.worker

    def predict_file(self, path: Path) -> Any:
        if str(path) == "-":
            return self._worker().answer(b"S" + sys.stdin.buffer.read())
        return self._worker().answer(b"F" + str(Path(path).absolute()).encode("utf-8"))

    def self_test(self) -> tuple[bool, list[dict[str, Any]]]:
        answer = self._worker().answer(b"T")
        return bool(answer["ok"]), list(answer["examples"])

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def __enter__(self) -> BoundedRunner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# -- the server's pool -----------------------------------------------------------------------------

@dataclass(eq=False)
class _Job:
    """One HTTP request body waiting for, or sent to, a worker."""

    body: bytes
    future: asyncio.Future[tuple[dict[str, Any], bytes]]
    since: float = 0.0  # when it was queued (again)


def _settle(job: _Job, result: tuple[dict[str, Any], bytes] | None = None, error: BaseException | None = None) -> None:
    if not job.future.done():
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)  # type: ignore[arg-type]


class WorkerPool:
    """`size` workers behind a FIFO queue, for one event loop (not thread-safe; every method runs on the loop).

    Admission: a request is admitted while the requests already in flight fit in `capacity()`: the
    workers plus as many queued requests as they can answer within `max_queue_wait` seconds at the
    observed latency (an exponential moving average), at least one per worker, at most `max_queue`;
    `max_in_flight`, when given, is a hard cap on top.

    Dispatch: a free worker takes the oldest queued requests, up to its share of the queue (at most
    `batch_max`), in one message, and answers them one by one in order: under load this saves a
    process wake-up per request. Each request still has the whole time limit from when the one before
    it was answered; when one exceeds a limit, the worker is replaced and the requests behind it go back
    to the front of the queue.
    """

    isolation = "process"

    def __init__(self, config: Mapping[str, Any], model_path: Path, *, size: int = 2, bounds: Bounds = Bounds(),
                 max_queue_wait: float = 0.5, max_queue: int = 1024, max_in_flight: int | None = None,
                 batch_max: int = 8, proof: Any = None) -> None:
        self.config, self.model_path, self.size, self.bounds = config, Path(model_path), max(1, size), bounds
        self.proof = proof  # why the model is not proven shape-bounded (bounds.Proof), shown by status()
        self.max_queue_wait, self.max_queue, self.max_in_flight = max_queue_wait, max_queue, max_in_flight
        self.batch_max = max(1, batch_max)
        self.threads = bounds.threads or _default_threads(self.size)
        self.workers: list[Worker] = []
        self.idle: deque[Worker] = deque()
        self.queue: deque[_Job] = deque()
        self.starting = 0
        self.latency = 0.01  # seconds; replaced by the warm-up time, then by what is observed
        self.replaced = 0
        self.last_limit: str | None = None
        self.closed = False
        self._tasks: set[asyncio.Task[None]] = set()

    def _new_worker(self) -> Worker:
        return Worker(self.config, self.model_path, self.bounds, self.threads)

    async def start(self) -> None:
        """Start every worker (in threads, concurrently); raises WorkerStartError if the model cannot load."""
        workers = await asyncio.gather(*(asyncio.to_thread(self._new_worker().start) for _ in range(self.size)))
        self.latency = max(1e-4, min(w.warm for w in workers))
        for w in workers:
            self._add(w)
        task = asyncio.get_running_loop().create_task(self._watch())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self) -> None:
        """The clock for every limit (one task, not a timer per request): stop the prediction that exceeded
        the time limit, and refuse requests that waited too long in the queue."""
        tick = min(0.1, self.bounds.timeout / 10)
        while not self.closed:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for worker in list(self.workers):
                if worker.busy_since is not None and now - worker.busy_since > self.bounds.timeout:
                    self._lost(worker, worker._timeout_error())
            wait = self.queue_timeout
            while self.queue and (self.queue[0].future.done() or now - self.queue[0].since > wait):
                job = self.queue.popleft()
                _settle(job, error=BusyError(f"busy: no model worker became free within {wait:g} s; retry shortly",
                                             self.retry_after()))

    @property
    def queue_timeout(self) -> float:
        return max(self.max_queue_wait * 4, self.bounds.timeout)

    def _add(self, worker: Worker) -> None:
        assert worker.conn is not None
        worker.loop = asyncio.get_running_loop()
        worker.loop.add_reader(worker.conn.fileno(), self._readable, worker)
        self.workers.append(worker)
        self.idle.append(worker)
        self._dispatch()

    async def close(self) -> None:
        self.closed = True
        for task in list(self._tasks):
            task.cancel()
        for w in self.workers:
            w._unregister()  # on the loop's thread, before the workers are stopped in threads
        await asyncio.gather(*(asyncio.to_thread(w.stop) for w in self.workers))
        self.workers.clear()
        self.idle.clear()

    # -- admission --

    def capacity(self) -> int:
        queue = int(self.size * self.max_queue_wait / max(self.latency, 1e-4))
        cap = self.size + min(self.max_queue, max(self.size, queue))
        return cap if self.max_in_flight is None else min(cap, self.max_in_flight)

    def retry_after(self) -> int:
        return max(1, math.ceil(len(self.queue) * self.latency / self.size))

    async def run(self, body: bytes) -> tuple[dict[str, Any], bytes]:
        """One request body on the next free worker: (answer header, payload); raises InferenceLimitError or BusyError."""
        job = _Job(body, asyncio.get_running_loop().create_future(), since=time.monotonic())
        self.queue.append(job)
        self._dispatch()
        return await job.future

    # -- dispatch and answers --

    def _dispatch(self) -> None:
        while self.idle and self.queue:
            worker = self.idle.popleft()
            share = max(1, min(self.batch_max, math.ceil(len(self.queue) / (len(self.idle) + 1))))
            jobs: list[_Job] = []
            while self.queue and len(jobs) < share:
                job = self.queue.popleft()
                if not job.future.done():
                    jobs.append(job)
            if not jobs:
                self.idle.appendleft(worker)
                continue
            self._send(worker, jobs)

    def _send(self, worker: Worker, jobs: list[_Job]) -> None:
        assert worker.conn is not None and worker.loop is not None
        worker.jobs.extend(jobs)
        if len(jobs) == 1:
            message = b"J" + jobs[0].body
        else:
            message = b"B" + b"".join(struct.pack(">I", len(j.body)) + j.body for j in jobs)
        worker.busy_since = time.monotonic()
        try:
            worker.conn.send_bytes(message)
        except OSError:
            self._lost(worker, worker._died_error())

    def _readable(self, worker: Worker) -> None:
        try:
            assert worker.conn is not None
            data = worker.conn.recv_bytes()
        except (EOFError, OSError, AssertionError):
            with contextlib.suppress(subprocess.TimeoutExpired):
                if worker.proc is not None:
                    worker.proc.wait(timeout=0.05)  # for the exit status in the message
            self._lost(worker, worker._died_error())
            return
        if not worker.jobs:
            return
        head, payload = worker._parse(data)
        worker.rss = head["rss"]
        job = worker.jobs.popleft()
        now = time.monotonic()
        self.latency = 0.9 * self.latency + 0.1 * (now - (worker.busy_since or now))
        worker.served += 1
        limit = worker._limit_error(head, payload)
        if limit is not None:
            _settle(job, error=limit)
            self._lost(worker, limit, culprit_settled=True)
            return
        _settle(job, (head, payload))
        if worker.jobs:
            worker.busy_since = now  # the next request's time limit starts now
            return
        worker.busy_since = None
        if worker.grown:
            self._replace(worker, f"its memory grew to {worker.rss >> 20} MB")
        else:
            self.idle.append(worker)
        self._dispatch()

    def _lost(self, worker: Worker, error: InferenceLimitError, culprit_settled: bool = False) -> None:
        """The worker exceeded a limit or died: fail the request it was running, requeue the others, replace it."""
        if worker.jobs and not culprit_settled:
            _settle(worker.jobs.popleft(), error=error)
        now = time.monotonic()
        for job in reversed(worker.jobs):
            job.since = now
            self.queue.appendleft(job)
        worker.jobs.clear()
        self._replace(worker, str(error))
        self._dispatch()

    def _replace(self, worker: Worker, reason: str) -> None:
        log.warning("replacing model worker %d: %s", worker.pid, reason)
        self.last_limit = reason
        self.replaced += 1
        worker.busy_since = None
        worker.kill()
        if worker in self.workers:
            self.workers.remove(worker)
        if worker in self.idle:
            self.idle.remove(worker)
        if self.closed:
            return
        self.starting += 1
        task = asyncio.get_running_loop().create_task(self._restart())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _restart(self) -> None:
        delay = 0.5
        try:
            while not self.closed:
                try:
                    worker = await asyncio.to_thread(self._new_worker().start)
                except WorkerStartError as exc:
                    log.error("could not start a model worker: %s; retrying in %g s", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                if self.closed:
                    worker.stop()
                    return
                self._add(worker)
                return
        finally:
            self.starting -= 1

    # -- health --

    def not_ready(self) -> str | None:
        """Why the pool cannot serve now (None when it can): no worker alive, or every worker stuck."""
        if not self.workers:
            return f"no model worker is running ({self.starting} starting)"
        stall = min(self.bounds.timeout, max(1.0, 10 * self.latency))
        now = time.monotonic()
        stuck = [w for w in self.workers if w.busy_since is not None and now - w.busy_since > stall]
        if len(stuck) == len(self.workers):
            return f"all {len(stuck)} model workers are busy with predictions running for over {stall:g} s"
        return None

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        return {
            "isolation": self.isolation, **({"proof": self.proof.as_dict()} if self.proof is not None else {}),
            "workers": [{"pid": w.pid, "rss_mb": round(w.rss / (1 << 20), 1), "served": w.served,
                         "busy_s": None if w.busy_since is None else round(now - w.busy_since, 3)} for w in self.workers],
            "starting": self.starting, "replaced": self.replaced, "last_replacement": self.last_limit,
            "queued": len(self.queue), "capacity": self.capacity(), "latency_ms": round(self.latency * 1000, 3),
            "limits": {"timeout_s": self.bounds.timeout, "memory_mb": self.bounds.memory_mb, "threads": self.threads,
                       "max_queue_wait_s": self.max_queue_wait},
        }


# -- the server's in-process path, for models proven shape-bounded ---------------------------------

class _Watchdog:
    """One thread that stops in-process predictions past the time limit: it sets their onnxruntime
    `RunOptions.terminate`, which onnxruntime checks before each node (a node already running finishes)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.running: dict[int, tuple[float, Any]] = {}  # id(run options) -> (deadline, run options)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="inference-watchdog")
        self.thread.start()

    def _loop(self) -> None:
        tick = min(0.05, self.timeout / 10)
        while not self.stopped.wait(tick):
            now = time.monotonic()
            for deadline, options in self.running.copy().values():
                if now > deadline:
                    options.terminate = True

    def close(self) -> None:
        self.stopped.set()


class InProcessPool:
    """The server's pool for a model that `bounds.analyse` proved shape-bounded: no worker processes, every
    prediction runs in the server process (the same interface as `WorkerPool`).

    What still bounds a prediction: its tensors and work are proven linear in the request, which the body
    limit caps (`proof` is for requests of up to `max_elements` elements an input; a larger one, possible only
    through the card's preprocessing, gets 413); `Bounds.timeout` stops onnxruntime between two nodes
    (`_Watchdog`); `Bounds.memory_mb` was checked against the proof's peak, plus an estimate of the request's
    JSON and postprocessing, when the path was chosen (`server.choose_pool`). Bodies up
    to `inline_max_body` bytes (proven to need little work) run on the event loop, as the simplest app would;
    larger ones run in `size` threads, so the loop keeps serving; at most `size` + 1 predictions run at once.
    """

    isolation = "in-process (shape-bounded)"

    def __init__(self, config: Mapping[str, Any], model_path: Path, *, proof: Any, max_elements: int,
                 inline_max_body: int = 0, size: int = 2, bounds: Bounds = Bounds(), max_queue_wait: float = 0.5,
                 max_queue: int = 1024, max_in_flight: int | None = None) -> None:
        self.config, self.model_path, self.proof = config, Path(model_path), proof
        self.max_elements, self.inline_max_body = max_elements, inline_max_body
        self.size, self.bounds = max(1, size), bounds
        self.max_queue_wait, self.max_queue, self.max_in_flight = max_queue_wait, max_queue, max_in_flight
        self.threads = bounds.threads or 1  # the event loop, the answers' JSON and onnxruntime share the CPUs
        self.runner: Any = None
        self.session: Any = None
        self.run_options: Any = None
        self.watchdog: _Watchdog | None = None
        self.executor: Any = None
        self.busy: dict[int, float] = {}  # prediction threads: id -> when it started
        self.slots = 0
        self.queue: deque[tuple[float, asyncio.Future[None]]] = deque()
        self.latency = 0.001
        self.served = self.stopped = 0
        self.last_limit: str | None = None
        self.closed = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Load the model (SHA-256 check, session, the card's first example twice); raises WorkerStartError."""
        from concurrent.futures import ThreadPoolExecutor

        await asyncio.to_thread(self._load)
        self.watchdog = _Watchdog(self.bounds.timeout)
        self.executor = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="inference")
        task = asyncio.get_running_loop().create_task(self._watch())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _load(self) -> None:
        import onnxruntime

        from . import predictor

        try:
            self.runner = predictor.Runner(self.config, self.model_path, threads=self.threads)
            self.session = self.runner.session
            examples = self.runner.config.get("examples") or []
            for _ in range(2):  # the second run's time is the first latency estimate (the first one initialises)
                start = time.perf_counter()
                if examples:
                    with contextlib.suppress(Exception):
                        self.runner.predict({"inputs": examples[0]["inputs"]})
            self.latency = max(1e-5, time.perf_counter() - start)
        except Exception as exc:  # the server reports it and does not start, as when a worker cannot load the model
            raise WorkerStartError(str(exc)) from exc
        self.run_options = onnxruntime.RunOptions

    async def close(self) -> None:
        self.closed = True
        for task in list(self._tasks):
            task.cancel()
        if self.watchdog is not None:
            self.watchdog.close()
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)

    async def _watch(self) -> None:
        """Refuse requests that waited too long for a prediction thread."""
        while not self.closed:
            await asyncio.sleep(0.1)
            now, wait = time.monotonic(), self.queue_timeout
            while self.queue and (self.queue[0][1].done() or now - self.queue[0][0] > wait):
                _since, waiter = self.queue.popleft()
                if not waiter.done():
                    waiter.set_exception(BusyError(f"busy: no prediction thread became free within {wait:g} s; "
                                                   "retry shortly", self.retry_after()))

    @property
    def queue_timeout(self) -> float:
        return max(self.max_queue_wait * 4, self.bounds.timeout)

    # -- admission (as WorkerPool's) --

    def capacity(self) -> int:
        queue = int(self.size * self.max_queue_wait / max(self.latency, 1e-4))
        cap = self.size + min(self.max_queue, max(self.size, queue))
        return cap if self.max_in_flight is None else min(cap, self.max_in_flight)

    def retry_after(self) -> int:
        return max(1, math.ceil(len(self.queue) * self.latency / self.size))

    # -- predictions --

    def _predict(self, request: Any) -> Any:
        """feeds -> onnxruntime (stopped by the watchdog past the time limit) -> the answer, like Runner.predict."""
        runner = self.runner
        feeds = runner.feeds(request)
        for name, array in feeds.items():
            size = math.prod(max(d, 1) for d in array.shape)
            if size > self.max_elements:
                raise InferenceLimitError(
                    f"input {name!r} has {size} elements after preprocessing (its dimensions multiplied), more than "
                    f"the {self.max_elements} this server accepts", 413, "the model was not run")
        options = self.run_options()
        key = id(options)
        assert self.watchdog is not None
        self.watchdog.running[key] = (time.monotonic() + self.bounds.timeout, options)
        try:
            outputs = self.session.run(runner.output_names, feeds, options)
        except Exception:
            if options.terminate:
                raise InferenceLimitError(f"the prediction did not finish within the time limit of {self.bounds.timeout:g} s",
                                          504, "it was stopped, other requests are unaffected") from None
            raise
        finally:
            self.watchdog.running.pop(key, None)
        return runner.result(feeds, dict(zip(runner.output_names, outputs)))

    def _answer(self, body: bytes) -> tuple[dict[str, Any], bytes]:
        start = time.perf_counter()
        try:
            kind, payload = answer(self.runner, b"J", body, self.bounds.memory_mb, self.bounds.max_answer_bytes,
                                   self._predict)
        except InferenceLimitError as exc:
            if exc.status == 504:
                self.stopped += 1
                self.last_limit = str(exc)
            raise
        finally:
            self.latency = 0.9 * self.latency + 0.1 * (time.perf_counter() - start)
            self.served += 1
        if kind in ("memory", "large"):
            raise InferenceLimitError(payload.decode("utf-8", "replace"), 503, "other requests are unaffected")
        return {"kind": kind}, payload

    async def run(self, body: bytes) -> tuple[dict[str, Any], bytes]:
        """One request body: (answer header, payload); raises InferenceLimitError or BusyError."""
        if len(body) <= self.inline_max_body:
            return self._answer(body)  # proven cheap: on the event loop, no thread hop
        loop = asyncio.get_running_loop()
        if self.slots < self.size and not self.queue:
            self.slots += 1
        else:
            waiter: asyncio.Future[None] = loop.create_future()
            self.queue.append((time.monotonic(), waiter))
            try:
                await waiter  # resolved with a slot reserved for this request
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._release()
                raise
        future = loop.run_in_executor(self.executor, self._threaded, body)
        future.add_done_callback(lambda _f: self._release())
        return await future

    def _threaded(self, body: bytes) -> tuple[dict[str, Any], bytes]:
        key = threading.get_ident()
        self.busy[key] = time.monotonic()
        try:
            return self._answer(body)
        finally:
            self.busy.pop(key, None)

    def _release(self) -> None:
        self.slots -= 1
        while self.queue and self.slots < self.size:
            _since, waiter = self.queue.popleft()
            if not waiter.done():
                self.slots += 1
                waiter.set_result(None)

    # -- health --

    def not_ready(self) -> str | None:
        if self.session is None:
            return "the model is not loaded"
        stall = min(self.bounds.timeout, max(1.0, 10 * self.latency))
        now = time.monotonic()
        stuck = [t for t in self.busy.copy().values() if now - t > stall]
        if len(stuck) >= self.size:
            return f"all {self.size} prediction threads are busy with predictions running for over {stall:g} s"
        return None

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        return {
            "isolation": self.isolation, "proof": self.proof.as_dict(), "inline_max_body": self.inline_max_body,
            "threads_busy_s": [round(now - t, 3) for t in self.busy.copy().values()], "served": self.served,
            "stopped": self.stopped, "last_stop": self.last_limit,
            "queued": len(self.queue), "capacity": self.capacity(), "latency_ms": round(self.latency * 1000, 3),
            "limits": {"timeout_s": self.bounds.timeout, "memory_mb": self.bounds.memory_mb, "threads": self.threads,
                       "prediction_threads": self.size, "max_elements": self.max_elements,
                       "max_queue_wait_s": self.max_queue_wait},
        }


if __name__ == "__main__":
    worker_main(int(sys.argv[1]), int(sys.argv[2]))
