#!/usr/bin/env python3
"""Serving benchmark (issue 12, "Bounded, not stingy"), in one run, all on 127.0.0.1:

`modelshelf serve ORG/NAME` with its default options (worker processes with time and memory limits;
admission control) against a
minimal Starlette + uvicorn app that calls `session.run` on the same ONNX file, at the same number of
concurrent keep-alive clients (default 16), for each model. The minimal app comes in two flavours:
`async` (session.run on the event loop) and `thread` (a sync endpoint, which Starlette runs in its
thread pool); the better of the two is the baseline. For a model proven shape-bounded, one more row
serves it with `--in-process` (in the server process), for comparison.

    .venv/bin/python bench/bench_serve.py [--site DIR] [--models A,B] [--clients 16] [--seconds 10]

Without --site the real catalog is built first (`modelshelf build`). The load generator runs in its
own process (threads with http.client, one keep-alive connection per client), so the server under
test and the generator share the machine the same way for every row. Targets: successful
throughput >= 0.8x the baseline's, no 503 (below saturation), p99 <= 1.5x the baseline's. Results
are printed as Markdown and written to bench/results/serve-<time>.json. This is a script, not a test.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODELS = "modelshelf/iris-logreg,sentence-transformers/all-minilm-l6-v2"

MINIMAL_APP = '''
import sys
import numpy as np, onnxruntime as ort, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
types = {i.name: {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
                  "tensor(int32)": np.int32, "tensor(string)": np.str_, "tensor(bool)": np.bool_}[i.type]
         for i in session.get_inputs()}
names = [o.name for o in session.get_outputs()]

def run(body):
    outputs = session.run(None, {k: np.asarray(v, dtype=types[k]) for k, v in body["inputs"].items()})
    return JSONResponse({"outputs": {n: v.tolist() for n, v in zip(names, outputs)}})

async def predict_async(request):
    return run(await request.json())

async def predict_thread(request):
    body = await request.json()
    from starlette.concurrency import run_in_threadpool
    return await run_in_threadpool(run, body)

app = Starlette(routes=[Route("/v1/predict", predict_async if sys.argv[3] == "async" else predict_thread, methods=["POST"]),
                        Route("/readyz", lambda r: JSONResponse({"status": "ready"}))])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
'''

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not become ready")
        time.sleep(0.1)


# -- the load generator (its own process) ----------------------------------------------------------

def load(port: int, body: bytes, seconds: float, clients: int) -> dict[str, Any]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    statuses: list[dict[int, int]] = [{} for _ in range(clients)]
    errors = [0] * clients
    stop = time.perf_counter() + seconds
    barrier = threading.Barrier(clients + 1)

    def work(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        barrier.wait()
        while time.perf_counter() < stop:
            start = time.perf_counter()
            try:
                conn.request("POST", "/v1/predict", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
            except OSError:
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            latencies[i].append(time.perf_counter() - start)
            statuses[i][resp.status] = statuses[i].get(resp.status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    begin = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - begin
    flat = sorted(x for lst in latencies for x in lst)
    counts: dict[str, int] = {}
    for s in statuses:
        for code, n in s.items():
            counts[str(code)] = counts.get(str(code), 0) + n

    def pct(q: float) -> float:
        return flat[min(len(flat) - 1, int(q / 100 * len(flat)))] * 1000 if flat else float("nan")

    return {"seconds": elapsed, "requests": len(flat), "ok_rps": counts.get("200", 0) / elapsed, "statuses": counts,
            "connection_errors": sum(errors), "p50_ms": pct(50), "p99_ms": pct(99)}


def run_load(port: int, body: bytes, seconds: float, clients: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        fh.write(body)
    try:
        out = subprocess.run([sys.executable, __file__, "--load", str(port), fh.name, str(seconds), str(clients)],
                             check=True, capture_output=True, text=True)
    finally:
        os.unlink(fh.name)
    return dict(json.loads(out.stdout))


# -- the servers -----------------------------------------------------------------------------------

def measure(cmd: list[str], port: int, body: bytes, seconds: float, clients: int, env: dict[str, str] | None = None,
            status: bool = False) -> dict[str, Any]:
    """Start a server, warm it up, load it; with `status`, also record its GET /v1/status (which path it uses)."""
    import urllib.request

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
        run_load(port, body, 2.0, clients)  # warm up
        result = run_load(port, body, seconds, clients)
        if status:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/status", timeout=10) as resp:
                doc = json.loads(resp.read())
            result["isolation"] = doc.get("isolation")
            result["proof"] = doc.get("proof")
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def bench_model(site: Path, model: str, seconds: float, clients: int, work: Path) -> dict[str, Any]:
    catalog = json.loads((site / "catalog.json").read_text())
    entry = next(m for m in catalog["models"] if m["id"] == model)
    onnx_file = next(f for f in entry["files"] if f["kind"] == "onnx")  # the file `serve` runs
    model_path = site / onnx_file["url"]
    body = json.dumps({"inputs": entry["card"]["examples"][0]["inputs"]}).encode()
    app = work / "minimal_app.py"
    app.write_text(MINIMAL_APP)
    results: dict[str, Any] = {"model": model, "file_bytes": onnx_file["size"], "request_bytes": len(body)}
    for flavour in ("async", "thread"):
        port = free_port()
        results[f"minimal_{flavour}"] = measure([sys.executable, str(app), str(model_path), str(port), flavour], port, body,
                                                seconds, clients)
    port = free_port()
    env = {**os.environ, "MODELSHELF_HOME": str(work / "home"), "MODELSHELF_SITE_URL": site.resolve().as_uri()}
    results["serve"] = measure([str(BIN / "modelshelf"), "serve", model, "--port", str(port)], port, body, seconds, clients, env,
                               status=True)
    port = free_port()
    in_process = measure([str(BIN / "modelshelf"), "serve", model, "--port", str(port), "--in-process"], port, body, seconds,
                         clients, env, status=True)
    if in_process.get("isolation") != "process":  # only a model proven shape-bounded runs in process
        results["serve_in_process"] = in_process
    base = max((results["minimal_async"], results["minimal_thread"]), key=lambda r: r["ok_rps"])
    serve = results["serve"]
    results["baseline"] = "minimal_async" if base is results["minimal_async"] else "minimal_thread"
    results["throughput_ratio"] = serve["ok_rps"] / base["ok_rps"]
    results["p99_ratio"] = serve["p99_ms"] / base["p99_ms"]
    results["serve_503"] = serve["statuses"].get("503", 0)
    results["targets_met"] = results["throughput_ratio"] >= 0.8 and results["serve_503"] == 0 and results["p99_ratio"] <= 1.5
    if "serve_in_process" in results:
        results["in_process_throughput_ratio"] = results["serve_in_process"]["ok_rps"] / base["ok_rps"]
        results["in_process_p99_ratio"] = results["serve_in_process"]["p99_ms"] / base["p99_ms"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=None, help="a built site (default: build the real catalog first)")
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--load", nargs=4, metavar=("PORT", "BODY", "SECONDS", "CLIENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        port, body, seconds, clients = args.load
        print(json.dumps(load(int(port), Path(body).read_bytes(), float(seconds), int(clients))))
        return
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        work = Path(tmp)
        site = args.site
        if site is None:
            site = work / "site"
            subprocess.run([str(BIN / "modelshelf"), "build", "--site-dir", str(site)], cwd=REPO, check=True)
        rows = [bench_model(site, m, args.seconds, args.clients, work) for m in args.models.split(",")]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    doc = {"cpus": os.cpu_count(), "clients": args.clients, "seconds": args.seconds, "models": rows}
    (out / f"serve-{stamp}.json").write_text(json.dumps(doc, indent=1))
    print(f"\n{args.clients} concurrent keep-alive clients, {args.seconds:g} s per row, {os.cpu_count()} CPUs\n")
    print("| model | server | successful req/s | p50 ms | p99 ms | statuses |")
    print("|---|---|---:|---:|---:|---|")
    for r in rows:
        for key, label in [("minimal_async", "minimal app, async"), ("minimal_thread", "minimal app, thread pool"),
                           ("serve", f"`modelshelf serve` (defaults: {r['serve'].get('isolation')})"),
                           ("serve_in_process", "`modelshelf serve --in-process`")]:
            if key not in r:
                continue
            m = r[key]
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(m["statuses"].items()))
            print(f"| {r['model']} | {label} | {m['ok_rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {statuses} |")
    print()
    for r in rows:
        print(f"- {r['model']}: serve / {r['baseline'].replace('_', ' ')}: throughput {r['throughput_ratio']:.2f}x "
              f"(target >= 0.8), p99 {r['p99_ratio']:.2f}x (target <= 1.5), 503s: {r['serve_503']} (target 0) -> "
              f"{'met' if r['targets_met'] else 'NOT met'} ({r['serve'].get('isolation')})")
        if "serve_in_process" in r:
            print(f"  - --in-process: throughput {r['in_process_throughput_ratio']:.2f}x, "
                  f"p99 {r['in_process_p99_ratio']:.2f}x")


if __name__ == "__main__":
    main()
