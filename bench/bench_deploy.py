#!/usr/bin/env python3
"""Deploy benchmark (issue 5), in one run, all on 127.0.0.1:

1. `pull` throughput against `curl` on the same URL (a 64 MB file served by `python -m http.server`
   in its own process), and against `curl` + `sha256sum`, which does the same work as pull;
2. cached `pull` latency: pinned version (no network), unpinned (fetches catalog.json), and the
   `modelshelf pull` command as a process;
3. `predict.py` overhead against a bare onnxruntime `session.run` loop: per call in process
   (request validation, processing, JSON-ready output) and per process (start, hash check, load);
4. `modelshelf serve` throughput and p50/p99 latency at 1 and 16 concurrent keep-alive clients,
   against the same bare loop run by 1 and 16 threads.

    .venv/bin/python bench/bench_deploy.py [--site DIR] [--model ORG/NAME] [--seconds 5]

Without --site the real catalog is built first (`modelshelf build`). Results are printed as a
Markdown table and written to bench/results/deploy-<time>.json. This is a script, not a test.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from modelshelf.catalog.client import download as client  # noqa: E402
from modelshelf.catalog.runtime import predictor as runtime  # noqa: E402

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def median_time(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


# -- 1 and 2: pull -----------------------------------------------------------------------------------

def bench_pull(work: Path, size_mb: int = 64) -> dict[str, Any]:
    site = work / "pullsite"
    (site / "files").mkdir(parents=True)
    data = np.random.default_rng(0).bytes(size_mb << 20)
    (site / "files" / "big.onnx").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    catalog = {"format_version": 1, "models": [{"id": "bench/big", "version": "1.0.0", "task": "bench", "card": {},
                                                 "files": [{"name": "big.onnx", "kind": "onnx", "size": len(data), "sha256": sha,
                                                            "url": "files/big.onnx"}]}]}
    (site / "catalog.json").write_text(json.dumps(catalog))
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(site), str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    try:
        wait_http(base + "catalog.json")
        out = work / "curl.out"

        def curl() -> None:
            subprocess.run(["curl", "-sf", "-o", str(out), base + "files/big.onnx"], check=True)

        def curl_sha() -> None:
            curl()
            subprocess.run(["sha256sum", str(out)], check=True, stdout=subprocess.DEVNULL)

        def pull() -> None:
            home = work / "home-pull"
            shutil.rmtree(home, ignore_errors=True)
            client.pull("bench/big", base_url=base, cache_dir=home)

        runs = 5
        curl(), pull()  # warm the page cache and the server
        t_curl, t_curl_sha, t_pull = median_time(curl, runs), median_time(curl_sha, runs), median_time(pull, runs)
        mb = len(data) / 1e6
        cached_home = work / "home-pull"
        pinned = median_time(lambda: client.pull("bench/big@1.0.0", base_url=base, cache_dir=cached_home), 20)
        unpinned = median_time(lambda: client.pull("bench/big", base_url=base, cache_dir=cached_home), 20)
        env = {**os.environ, "MODELSHELF_HOME": str(cached_home)}
        cli = median_time(lambda: subprocess.run([str(BIN / "modelshelf"), "pull", "bench/big@1.0.0", "--site", base],
                                                 env=env, check=True, capture_output=True), 5)
        # Cached pulls re-hash the blob (tampering is detected on every use): show what a small model costs.
        small = work / "home-small"
        (site / "files" / "small.onnx").write_bytes(data[:200_000])
        catalog["models"].append({"id": "bench/small", "version": "1.0.0", "task": "bench", "card": {}, "files": [
            {"name": "small.onnx", "kind": "onnx", "size": 200_000, "sha256": hashlib.sha256(data[:200_000]).hexdigest(),
             "url": "files/small.onnx"}]})
        (site / "catalog.json").write_text(json.dumps(catalog))
        client.pull("bench/small", base_url=base, cache_dir=small)
        pinned_small = median_time(lambda: client.pull("bench/small@1.0.0", base_url=base, cache_dir=small), 50)
    finally:
        server.terminate()
        server.wait()
    return {
        "file_mb": round(mb, 1),
        "curl_s": t_curl, "curl_MBps": mb / t_curl,
        "curl_sha256sum_s": t_curl_sha, "curl_sha256sum_MBps": mb / t_curl_sha,
        "pull_s": t_pull, "pull_MBps": mb / t_pull,
        "cached_pinned_ms": pinned * 1000, "cached_unpinned_ms": unpinned * 1000,
        "cached_pinned_small_ms": pinned_small * 1000, "cached_cli_process_ms": cli * 1000,
    }


# -- 3: predict.py ---------------------------------------------------------------------------------

def bare_loop(session: Any, feeds: dict[str, np.ndarray], seconds: float, threads: int) -> dict[str, float]:
    latencies: list[list[float]] = [[] for _ in range(threads)]
    stop = time.perf_counter() + seconds

    def work(i: int) -> None:
        out = latencies[i]
        while time.perf_counter() < stop:
            start = time.perf_counter()
            session.run(None, feeds)
            out.append(time.perf_counter() - start)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    begin = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - begin
    flat = [x for lst in latencies for x in lst]
    return {"rps": len(flat) / elapsed, "p50_ms": pct(flat, 50) * 1000, "p99_ms": pct(flat, 99) * 1000, "n": len(flat)}


def bench_predict(folder: Path, seconds: float) -> tuple[dict[str, Any], Any, dict[str, np.ndarray], dict[str, Any]]:
    runner = runtime.load_bundle(folder)
    example = runner.config["examples"][0]
    request = {"inputs": example["inputs"]}
    feeds = runner.feeds(request)
    session = runner.session
    n = 3000
    for _ in range(100):
        session.run(None, feeds)
        runner.predict(request)
    bare = [0.0] * n
    for i in range(n):
        s = time.perf_counter()
        session.run(None, feeds)
        bare[i] = time.perf_counter() - s
    full = [0.0] * n
    for i in range(n):
        s = time.perf_counter()
        json.dumps(runner.predict(request))
        full[i] = time.perf_counter() - s
    bare_script = ("import sys, numpy as np, onnxruntime as ort, json; c = json.load(open('model.json'));"
                   "s = ort.InferenceSession(c['model_file'], providers=['CPUExecutionProvider']);"
                   "ex = c['examples'][0]['inputs']; inp = {t['name']: t['dtype'] for t in c['inputs']};"
                   "print(s.run(None, {k: np.array(v, dtype=inp[k]) for k, v in ex.items()}))")
    proc_bare = median_time(lambda: subprocess.run([sys.executable, "-c", bare_script], cwd=folder, check=True, capture_output=True), 5)
    proc_predict = median_time(lambda: subprocess.run([sys.executable, "predict.py", "examples/1.json"], cwd=folder, check=True,
                                                      capture_output=True), 5)
    return ({"model_bytes": runner.config["model_size"],
             "bare_run_us_p50": pct(bare, 50) * 1e6, "predict_us_p50": pct(full, 50) * 1e6,
             "bare_run_us_p99": pct(bare, 99) * 1e6, "predict_us_p99": pct(full, 99) * 1e6,
             "process_bare_ms": proc_bare * 1000, "process_predict_py_ms": proc_predict * 1000},
            session, feeds, request)


# -- 4: serve --------------------------------------------------------------------------------------

def load_clients(port: int, body: bytes, seconds: float, clients: int) -> dict[str, float]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop = time.perf_counter() + seconds

    def work(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < stop:
            start = time.perf_counter()
            conn.request("POST", "/v1/predict", body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                errors[i] += 1
            latencies[i].append(time.perf_counter() - start)
        conn.close()

    ts = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    begin = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - begin
    flat = [x for lst in latencies for x in lst]
    return {"rps": len(flat) / elapsed, "p50_ms": pct(flat, 50) * 1000, "p99_ms": pct(flat, 99) * 1000, "n": len(flat),
            "non_200": sum(errors)}


def bench_serve(model: str, site_url: str, home: Path, request: dict[str, Any], session: Any, feeds: dict[str, np.ndarray],
                seconds: float) -> dict[str, Any]:
    port = free_port()
    env = {**os.environ, "MODELSHELF_HOME": str(home), "MODELSHELF_SITE_URL": site_url}
    proc = subprocess.Popen([str(BIN / "modelshelf"), "serve", model, "--port", str(port), "--max-in-flight", "64"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    body = json.dumps(request).encode()
    results: dict[str, Any] = {}
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz")
        load_clients(port, body, 1.0, 4)  # warm up
        for clients in (1, 16):
            results[f"serve_{clients}"] = load_clients(port, body, seconds, clients)
            results[f"bare_{clients}"] = bare_loop(session, feeds, seconds, clients)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=None, help="an already built site (default: build models/ now)")
    parser.add_argument("--model", default="modelshelf/iris-logreg")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each throughput measurement")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    try:
        site = args.site
        if site is None:
            site = work / "site"
            subprocess.run([str(BIN / "modelshelf"), "build", "--site-dir", str(site)], cwd=REPO, check=True, capture_output=True)
        home = work / "home"
        site_url = site.resolve().as_uri() + "/"
        bundle = client.pull(args.model, base_url=site_url, cache_dir=home, kind="bundle")
        with zipfile.ZipFile(bundle) as zf:
            zf.extractall(work / "bundle")
        folder = next((work / "bundle").iterdir())

        pull = bench_pull(work)
        predict, session, feeds, request = bench_predict(folder, args.seconds)
        serve = bench_serve(args.model, site_url, home, request, session, feeds, args.seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"model": args.model, "cpus": os.cpu_count(), "pull": pull, "predict": predict, "serve": serve}
    out = REPO / "bench" / "results" / f"deploy-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))

    p, q, s = pull, predict, serve
    print(f"## Deploy benchmark ({args.model}, {os.cpu_count()} cores, 127.0.0.1)\n")
    print("| measure | modelshelf | baseline |\n|---|---|---|")
    print(f"| download {p['file_mb']} MB | pull {p['pull_MBps']:.0f} MB/s ({p['pull_s']:.3f} s) | curl {p['curl_MBps']:.0f} MB/s "
          f"({p['curl_s']:.3f} s); curl + sha256sum {p['curl_sha256sum_MBps']:.0f} MB/s |")
    print(f"| cached pull, pinned version (re-hashes {p['file_mb']} MB) | {p['cached_pinned_ms']:.1f} ms | |")
    print(f"| cached pull, pinned, 200 KB model | {p['cached_pinned_small_ms']:.2f} ms | |")
    print(f"| cached pull, unpinned (fetches catalog.json) | {p['cached_unpinned_ms']:.1f} ms | |")
    print(f"| `modelshelf pull` process, cached | {p['cached_cli_process_ms']:.0f} ms | |")
    print(f"| one prediction in process (p50 / p99) | Runner.predict {q['predict_us_p50']:.0f} / {q['predict_us_p99']:.0f} µs "
          f"| session.run {q['bare_run_us_p50']:.0f} / {q['bare_run_us_p99']:.0f} µs |")
    print(f"| one prediction as a process | predict.py {q['process_predict_py_ms']:.0f} ms | bare script {q['process_bare_ms']:.0f} ms |")
    for c in (1, 16):
        sv, bl = s[f"serve_{c}"], s[f"bare_{c}"]
        print(f"| {c} client{'s' if c > 1 else ''}: throughput, p50 / p99 | serve {sv['rps']:.0f} req/s, {sv['p50_ms']:.2f} / "
              f"{sv['p99_ms']:.2f} ms ({sv['non_200']} non-200) | session.run x{c} threads {bl['rps']:.0f} /s, "
              f"{bl['p50_ms']:.3f} / {bl['p99_ms']:.3f} ms |")
    print(f"\nwritten to {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
