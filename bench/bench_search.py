#!/usr/bin/env python3
"""Search benchmark: our sharded index against a single lunr index and Pagefind, on the same synthetic catalogs.

    .venv/bin/pip install -c constraints.txt -e '.[bench]'        # Pagefind's binary, once
    .venv/bin/python bench/bench_search.py                         # 1,000 and 10,000 models
    .venv/bin/python bench/bench_search.py --sizes 1000,10000,100000 --readme bench/README.md

For each size N it makes N synthetic search records (scripts/gen_synthetic.py's cards, plus a file size, a
latency, an opset and metric tiers drawn at random), then builds, each in a fresh child process (wall time and
peak RSS of that process):

- **ours**: `generator/render/search_index.build_index` (manifest, term shards, card chunks, columns), served
  inside a copy of the real built site, so the real home page (page.js, engine.js, the theme) runs against it;
- **lunr**: one prebuilt lunr index (lunr.py, the fields and boosts of the former home page) plus one docs file,
  queried as the former page.js did (each word whole or as a prefix, all words required);
- **Pagefind**: one HTML page per model with the same text, indexed by the `pagefind` binary of the PyPI package
  `pagefind[extended]`, queried with its JS API (`search`, then `data()` of the first 20 results).

Every engine indexes the same text: name, id, tags, datasets, task, licence, framework and summary (no long
description). mkdocs-material's own search is not run (not built here; the issue's anchor, 4.5 s to first
results at 10,000 pages, is quoted instead).

All three are served by one HTTP server on 127.0.0.1 that gzips text files as GitHub Pages does, and opened in
headless Chromium (Playwright, /usr/bin/chromium). Per engine and size:

- *bytes before first result*: bytes (as sent, gzip) of every request from navigation to the first query's
  results on screen; *search bytes* counts only the search's own files and code;
- *first result*: from navigation to the first query's results on screen, and from typing it to its results;
- *query median / p95*: over a fixed list of queries (words, prefixes, two words, typos, dataset ids), from
  setting the query to the first 20 results in the DOM (for ours: page.js's own timing of render(), which
  excludes the wait for the next animation frame; that wait is in "typing to first result").

Writes a Markdown report (--out, default bench/results/search-latest.md) and, with --readme, replaces the
section between `<!-- search-bench:start -->` and `<!-- search-bench:end -->` of that file.
"""
from __future__ import annotations

import argparse
import gzip
import http.server
import importlib.util
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
GZIP_SUFFIXES = {".html", ".js", ".mjs", ".css", ".json", ".svg", ".xml", ".txt"}
QUERIES = ["fraud", "cla", "forest", "agriculture", "churn gbm", "resnet", "retail", "defect", "mlp", "spee",
           "digts", "agricultre", "health", "transformer", "credit forest", "ima", "energy", "lstm", "botany",
           "Apache-2.0", "logistics", "knn", "species", "sen", "cnn", "marine", "fault", "ridge", "climate", "xgb"]
FIRST_QUERY = "forest"
SECTION = ("<!-- search-bench:start -->", "<!-- search-bench:end -->")


# ---- synthetic records -------------------------------------------------------------------------------------

def _gen() -> Any:
    spec = importlib.util.spec_from_file_location("gen_synthetic", REPO / "scripts" / "gen_synthetic.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def synthetic_records(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """`count` search records (the shape of search_index.search_record) from gen_synthetic's cards."""
    gen = _gen()
    rng = random.Random(seed)
    extra = random.Random(seed + 1)
    tasks = gen._task_list()
    orgs = gen._orgs(rng, count)
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(orgs))]
    records = []
    for i in range(count):
        task = tasks[i % len(tasks)] if i < len(tasks) else rng.choice(tasks)
        org = rng.choices(orgs, weights=weights)[0]
        card = gen.make_card(rng, i, task, org, 4)
        metrics = []
        for m in card["metrics"]:
            tier = extra.choices(["verified", "reproduced", "claimed"], weights=[4, 2, 4])[0]
            measured = m["value"] if tier == "claimed" else round(m["value"] + extra.uniform(-0.003, 0.003), 6)
            metrics.append({"name": m["name"], "value": m["value"], "dataset": m["dataset"], "split": m["split"],
                            "verified": tier == "verified", "tier": tier, "measured": measured})
        records.append({
            "id": card["id"], "name": card["name"], "version": card["version"], "summary": card["summary"],
            "task": card["task"], "task_title": task["title"], "license": card["license"], "framework": card["framework"],
            "datasets": [d["id"] for d in card["datasets"]], "tags": card["tags"], "url": f"models/{card['id']}/",
            "metrics": metrics, "verified_metrics": {},
            "size": int(math.exp(extra.uniform(math.log(300), math.log(200e6)))),
            "latency": round(math.exp(extra.uniform(math.log(0.005), math.log(500))), 4),
            "opset": extra.choice([11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]),
        })
    return records


def _text(record: dict[str, Any]) -> str:
    return " ".join([record["name"], record["id"], " ".join(record["tags"]), " ".join(record["datasets"]),
                     record["task"], record["task_title"], record["license"], record["framework"], record["summary"]])


# ---- index builds (each in a child process) ----------------------------------------------------------------

def _write(files: dict[str, str], root: Path) -> int:
    total = 0
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        path.write_bytes(data)
        total += len(data)
    return total


def child_build(engine: str, count: int, out: Path, seed: int) -> dict[str, Any]:
    """Runs in the child: make the records, build one engine's index into `out`, report seconds."""
    records = synthetic_records(count, seed)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if engine == "ours":
        sys.path.insert(0, str(REPO))
        from modelshelf.generator.render.search_index import build_index

        files = build_index(records)
        seconds = time.perf_counter() - start
        size = _write(files, out)
        return {"seconds": seconds, "files": len(files), "bytes": size}
    if engine == "lunr":
        from lunr import lunr

        fields = [{"field_name": "name", "boost": 10}, {"field_name": "id", "boost": 5}, {"field_name": "tags", "boost": 5},
                  {"field_name": "task", "boost": 3}, {"field_name": "datasets", "boost": 3},
                  {"field_name": "summary", "boost": 2},
                  {"field_name": "other", "boost": 1}]
        docs = [{"id": r["id"], "name": r["name"], "tags": " ".join(r["tags"]), "task": f"{r['task']} {r['task_title']}",
                 "datasets": " ".join(d.replace("/", " ") for d in r["datasets"]), "summary": r["summary"],
                 "other": f"{r['license']} {r['framework']}"} for r in records]
        serialized = lunr(ref="id", fields=fields, documents=docs).serialize()
        serialized["invertedIndex"] = sorted(serialized["invertedIndex"], key=lambda item: item[0].encode("utf-16-be"))
        files = {"index.json": json.dumps(serialized, separators=(",", ":")),
                 "docs.json": json.dumps([[r["id"], r["name"], r["summary"]] for r in records], separators=(",", ":"))}
        seconds = time.perf_counter() - start
        size = _write(files, out)
        shutil.copy(REPO / "node_modules" / "lunr" / "lunr.min.js", out / "lunr.min.js")
        return {"seconds": seconds, "files": 3, "bytes": size}
    if engine == "pagefind":
        pages = out / "pages"
        for i, r in enumerate(records):
            folder = pages / str(i // 1000)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}.html").write_text(
                f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_esc(r['name'])}</title></head>"
                f"<body><main data-pagefind-body><h1>{_esc(r['name'])}</h1><p>{_esc(r['id'])}</p>"
                f"<p>{_esc(_text(r))}</p></main></body></html>", encoding="utf-8")
        written = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "pagefind", "--site", str(pages), "--output-path", str(out / "pagefind")],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(result.stdout[-2000:] + result.stderr[-2000:])
        seconds = time.perf_counter() - written
        size = sum(p.stat().st_size for p in (out / "pagefind").rglob("*") if p.is_file())
        return {"seconds": seconds, "files": sum(1 for _ in (out / "pagefind").rglob("*")), "bytes": size}
    raise ValueError(engine)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build(engine: str, count: int, out: Path, seed: int, timeout: float) -> dict[str, Any]:
    """Build in a fresh child; adds its peak RSS in MB (the larger of the child and, for Pagefind, its binary)."""
    code = ("import json, resource, sys; sys.path.insert(0, %r); import bench_search as b; from pathlib import Path; "
            "r = b.child_build(%r, %d, Path(%r), %d); "
            "g = resource.getrusage; "
            "r['rss_mb'] = max(g(resource.RUSAGE_SELF).ru_maxrss, g(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024; "
            "print(json.dumps(r))"
            % (str(Path(__file__).parent), engine, count, str(out), seed))
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if result.returncode != 0:
        raise RuntimeError(f"{engine} build at {count} failed:\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["wall"] = time.perf_counter() - started
    return report


# ---- serving -----------------------------------------------------------------------------------------------

class Meter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[tuple[str, int]] = []

    def reset(self) -> None:
        with self.lock:
            self.log = []

    def add(self, path: str, n: int) -> None:
        with self.lock:
            self.log.append((path, n))

    def total(self, prefixes: tuple[str, ...] = ()) -> int:
        with self.lock:
            return sum(n for path, n in self.log if not prefixes or any(p in path for p in prefixes))


def serve(root: Path, meter: Meter) -> tuple[http.server.ThreadingHTTPServer, str]:
    cache: dict[str, bytes] = {}

    class Handler(http.server.SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as any real host; HTTP/1.0 costs a TCP connection per file

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def send_head(self):
            path = Path(self.translate_path(self.path))
            if path.is_dir():
                path = path / "index.html"
            if path.suffix not in GZIP_SUFFIXES or "gzip" not in self.headers.get("Accept-Encoding", "") or not path.is_file():
                return super().send_head()
            key = str(path)
            if key not in cache:
                cache[key] = gzip.compress(path.read_bytes(), 6)
            data = cache[key]
            self.send_response(200)
            self.send_header("Content-Type", self.guess_type(str(path)))
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            import io

            return io.BytesIO(data)

        def copyfile(self, source, outputfile):
            data = source.read()
            meter.add(self.path, len(data))
            outputfile.write(data)

    # Compressed once before any measurement, as a CDN keeps them: the server's gzip time is not the engine's.
    for path in root.rglob("*"):
        if path.suffix in GZIP_SUFFIXES and path.is_file() and "/pagefind/pages/" not in path.as_posix():
            cache[str(path)] = gzip.compress(path.read_bytes(), 6)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


LUNR_PAGE = """<!doctype html><html lang=en><head><meta charset=utf-8><title>lunr</title></head><body>
<input id=q><p id=count></p><ol id=list></ol>
<script src="lunr.min.js"></script>
<script>
var idx = null, docs = null, byId = new Map();
function search(query) {
  var terms = query.toLowerCase().split(/[\\s\\-\\/]+/)
    .map(function (t) { return t.replace(/^\\W+|\\W+$/g, ""); }).filter(Boolean);
  if (!terms.length) return [];
  var total = null;
  terms.forEach(function (term) {
    var hits = idx.query(function (q) {
      q.term(term, {boost: 10, usePipeline: true});
      q.term(term, {boost: 1, usePipeline: false, wildcard: lunr.Query.wildcard.TRAILING});
    });
    var scores = new Map(hits.map(function (h) { return [h.ref, h.score]; }));
    if (total === null) { total = scores; return; }
    var next = new Map();
    total.forEach(function (s, ref) { if (scores.has(ref)) next.set(ref, s + scores.get(ref)); });
    total = next;
  });
  return Array.from(total.entries()).sort(function (a, b) { return b[1] - a[1]; }).map(function (e) { return e[0]; });
}
function run(query) {
  var t0 = performance.now();
  var refs = search(query);
  var list = document.getElementById("list");
  list.replaceChildren.apply(list, refs.slice(0, 20).map(function (ref) {
    var li = document.createElement("li"); var d = byId.get(ref); li.textContent = d[1] + " " + d[0] + " " + d[2]; return li;
  }));
  document.getElementById("count").textContent = refs.length + " models";
  return performance.now() - t0;
}
window.ready = Promise.all([fetch("index.json").then(function (r) { return r.json(); }),
                            fetch("docs.json").then(function (r) { return r.json(); })])
  .then(function (parts) { idx = lunr.Index.load(parts[0]); parts[1].forEach(function (d) { byId.set(d[0], d); }); });
</script></body></html>"""

PAGEFIND_PAGE = """<!doctype html><html lang=en><head><meta charset=utf-8><title>pagefind</title></head><body>
<input id=q><p id=count></p><ol id=list></ol>
<script type=module>
var pf = null;
window.ready = Promise.resolve();
window.run = async function (query) {
  var t0 = performance.now();
  if (!pf) { pf = await import("./pagefind/pagefind.js"); await pf.options({}); }
  var search = await pf.search(query);
  var data = await Promise.all(search.results.slice(0, 20).map(function (r) { return r.data(); }));
  var list = document.getElementById("list");
  list.replaceChildren.apply(list, data.map(function (d) {
    var li = document.createElement("li"); li.textContent = d.meta.title + " " + d.excerpt; return li;
  }));
  document.getElementById("count").textContent = search.results.length + " models";
  return performance.now() - t0;
};
</script></body></html>"""

# Bytes (as sent: gzip body sizes) of the page and every resource that finished by `until` (performance.now()).
BYTES_UNTIL = """(until) => {
  const entries = performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource"));
  let all = 0, search = 0;
  const prefixes = SEARCH_PREFIXES;
  for (const e of entries) {
    if (e.responseEnd > until) continue;
    const n = e.encodedBodySize || e.transferSize || 0;
    all += n;
    if (prefixes.some((p) => e.name.includes(p))) search += n;
  }
  return [all, search];
}"""

OURS_RUN = """async (query) => {
  const root = document.getElementById("ms-search");
  const input = document.getElementById("ms-q");
  const t0 = performance.now();
  const done = new Promise((resolve) => {
    const observer = new MutationObserver(() => {
      if (root.dataset.renderedQuery === query) { observer.disconnect(); resolve(); }
    });
    observer.observe(root, {attributes: true, attributeFilter: ["data-rendered-query"]});
  });
  input.value = query;
  input.dispatchEvent(new Event("input", {bubbles: true}));
  await done;
  return {typing: performance.now() - t0, at: performance.now(), query: parseFloat(root.dataset.renderMs || "NaN"),
          steps: root.dataset.renderSteps,
          count: document.querySelector(".ms-results__count").textContent};
}"""

OTHER_RUN = """async (query) => {
  await window.ready;
  const t0 = performance.now();
  const ms = await window.run(query);
  return {typing: performance.now() - t0, at: performance.now(), query: ms, count: document.getElementById("count").textContent};
}"""


def measure(browser: Any, url: str, engine: str, meter: Meter, search_prefixes: tuple[str, ...]) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    meter.reset()
    start = time.perf_counter()
    page.goto(url)
    if engine == "ours":
        page.wait_for_selector("#ms-search.ms-home--ready, #ms-search.ms-home--failed", timeout=120_000)
        if page.locator("#ms-search.ms-home--failed").count():
            raise RuntimeError(f"{url}: the search did not load")
    else:
        page.evaluate("() => window.ready")
    run = OURS_RUN if engine == "ours" else OTHER_RUN
    first = page.evaluate(run, FIRST_QUERY)
    load_to_first = (time.perf_counter() - start) * 1000
    if engine == "ours":
        # Resource Timing, read in the page: exactly what had arrived when the first results were on screen (the
        # server's count would also catch the facet columns, fetched right after them).
        bytes_first, search_first = page.evaluate(BYTES_UNTIL.replace("SEARCH_PREFIXES", json.dumps(list(search_prefixes))),
                                                  first["at"])
    else:
        # The server's count: Pagefind fetches from a web worker, which the page's Resource Timing does not see, and
        # neither it nor lunr fetches anything after its first results.
        bytes_first, search_first = meter.total(), meter.total(search_prefixes)
    times, typing = [], []
    counts = {}
    for query in QUERIES:
        result = page.evaluate(run, query)
        times.append(result["query"])
        typing.append(result["typing"])
        counts[query] = [result["count"], result.get("steps")]
    # As a person types: every keystroke of every query (from its second character), in a fresh page.
    page.goto(url)
    if engine == "ours":
        page.wait_for_selector("#ms-search.ms-home--ready", timeout=120_000)
    else:
        page.evaluate("() => window.ready")
    keystrokes = []
    for query in QUERIES:
        for end in range(2, len(query) + 1):
            keystrokes.append(page.evaluate(run, query[:end])["query"])
    context.close()
    keystrokes.sort()
    times.sort()
    return {"bytes_first": bytes_first, "search_bytes_first": search_first, "load_to_first_ms": load_to_first,
            "typing_to_first_ms": first["typing"], "median_ms": statistics.median(times),
            "p95_ms": _p95(times),
            "typing_median_ms": statistics.median(typing), "errors": errors, "counts": counts,
            "key_median_ms": statistics.median(keystrokes), "key_p95_ms": _p95(keystrokes)}


# ---- report ------------------------------------------------------------------------------------------------

def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def _top_level(site: Path, names: tuple[str, ...]) -> Any:
    """A copytree ignore function that leaves out these names at the top of `site` only."""
    top = str(site)
    return lambda folder, found: [n for n in found if folder == top and n in names]


def _kb(n: float) -> str:
    return f"{n / 1024:,.0f} KB" if n >= 10 * 1024 else f"{n / 1024:,.1f} KB"


def _ms(x: float) -> str:
    return f"{x:,.1f} ms" if x < 100 else f"{x:,.0f} ms"


def _ratio(ours: float, other: float) -> str:
    if not other or not ours:
        return "–"
    return f"{other / ours:,.1f}x"


def report(results: dict[int, dict[str, dict[str, Any]]], builds: dict[int, dict[str, dict[str, Any]]], notes: list[str]) -> str:
    lines = ["## Search benchmark (bench/bench_search.py)", "",
             f"Run {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, headless Chromium "
             f"({CHROMIUM}), 127.0.0.1, gzip. Queries: {len(QUERIES)} ({', '.join(QUERIES[:8])}, ...); "
             f"first query \"{FIRST_QUERY}\". \"x\" columns: how many times the anchor's number is ours "
             "(above 1: ours is smaller or faster).", "",
             "| models | engine | bytes before first result (all / search only) | load → first result | typing → first result "
             "| query median / p95 (each query new) | keystroke median / p95 (typed letter by letter) "
             "| × ours (search bytes, first result, query median, keystroke median) |",
             "|---:|---|---:|---:|---:|---:|---:|---|"]
    for size, engines in results.items():
        ours = engines.get("ours")
        for engine, r in engines.items():
            if "error" in r:
                lines.append(f"| {size:,} | {engine} | {r['error']} | | | | | |")
                continue
            ratio = "" if engine == "ours" or not ours or "error" in ours else " / ".join([
                _ratio(ours["search_bytes_first"], r["search_bytes_first"]),
                _ratio(ours["load_to_first_ms"], r["load_to_first_ms"]),
                _ratio(ours["median_ms"], r["median_ms"]), _ratio(ours["key_median_ms"], r["key_median_ms"])])
            lines.append(f"| {size:,} | {engine} | {_kb(r['bytes_first'])} / {_kb(r['search_bytes_first'])} | "
                         f"{_ms(r['load_to_first_ms'])} | {_ms(r['typing_to_first_ms'])} | "
                         f"{_ms(r['median_ms'])} / {_ms(r['p95_ms'])} | "
                         f"{_ms(r['key_median_ms'])} / {_ms(r['key_p95_ms'])} | {ratio} |")
    lines += ["", "Index builds (fresh child process each; records generated in the same process, so peak RSS includes them):",
              "",
              "| models | engine | build time | peak RSS | files | size on disk |", "|---:|---|---:|---:|---:|---:|"]
    for size, engines in builds.items():
        for engine, b in engines.items():
            if "error" in b:
                lines.append(f"| {size:,} | {engine} | {b['error']} | | | |")
                continue
            lines.append(f"| {size:,} | {engine} | {b['seconds']:.1f} s | {b['rss_mb']:,.0f} MB | {b['files']:,} | "
                         f"{b['bytes'] / 1e6:,.1f} MB |")
    lines += [""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--engines", default="ours,lunr,pagefind")
    parser.add_argument("--site", type=Path, help="a built site (modelshelf build -d DIR); built into the workdir if absent")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/modelshelf-search-bench"))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "search-latest.md")
    parser.add_argument("--readme", type=Path, help="replace the search-bench section of this Markdown file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--reuse", action="store_true", help="measure the indexes a previous run built (and its build numbers)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = args.engines.split(",")
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)

    site = args.site
    if "ours" in engines and site is None:
        site = work / "site"
        if not (site / "index.html").is_file():
            exe = Path(sys.executable).with_name("modelshelf")
            subprocess.run([str(exe), "build", "-d", str(site)], cwd=REPO, check=True, capture_output=True)

    builds: dict[int, dict[str, dict[str, Any]]] = {}
    for size in sizes:
        builds[size] = {}
        for engine in engines:
            out = work / str(size) / engine
            saved = out / ".build.json"
            if args.reuse and saved.is_file():
                builds[size][engine] = json.loads(saved.read_text())
                print(f"reusing {engine} at {size}", flush=True)
                continue
            if out.exists():
                shutil.rmtree(out)
            if engine == "ours":
                # The real site with its search/ folder replaced: the real home page runs against N models.
                shutil.copytree(site, out, ignore=_top_level(site, ("search", "files", "models")))
            target = out  # build_index's paths start with search/
            try:
                builds[size][engine] = build(engine, size, target, args.seed, args.timeout)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                builds[size][engine] = {"error": str(exc).splitlines()[0][:120]}
            if engine == "lunr":
                (out / "index.html").write_text(LUNR_PAGE, encoding="utf-8")
            if engine == "pagefind":
                (out / "index.html").write_text(PAGEFIND_PAGE, encoding="utf-8")
            saved.write_text(json.dumps(builds[size][engine]), encoding="utf-8")
            print(f"built {engine} at {size}: {builds[size][engine]}", flush=True)

    from playwright.sync_api import sync_playwright

    meter = Meter()
    server, base = serve(work, meter)
    results: dict[int, dict[str, dict[str, Any]]] = {}
    search_files = {"ours": ("/search/", "/assets/javascripts/search", "/assets/javascripts/load.js",
                             "/assets/javascripts/dom.js"),
                    "lunr": ("/lunr/",), "pagefind": ("/pagefind/",)}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            for size in sizes:
                results[size] = {}
                for engine in engines:
                    if "error" in builds[size].get(engine, {}):
                        results[size][engine] = {"error": "build failed"}
                        continue
                    url = f"{base}{size}/{engine}/"
                    results[size][engine] = measure(browser, url, engine, meter, search_files[engine])
                    print(f"{engine} at {size}: " + json.dumps({k: v for k, v in results[size][engine].items() if k != 'counts'}),
                          flush=True)
            browser.close()
    finally:
        server.shutdown()

    notes = ["mkdocs-material's search was not measured in this run; the issue's anchor at 10,000 pages: 3 MB (gzip) "
             "index, 4.5 s to first results.",
             "ours: the first query's results need the manifest, the shard of its first two letters and the card chunks of "
             "the first 20 results; facet columns load after the first results (for the counts), metric and sort columns "
             "when a filter or sort asks for them."]
    text = report(results, builds, notes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    (args.out.with_suffix(".json")).write_text(json.dumps({"results": results, "builds": builds}, indent=1), encoding="utf-8")
    if args.readme:
        readme = args.readme.read_text(encoding="utf-8")
        block = f"{SECTION[0]}\n{text}\n{SECTION[1]}"
        if SECTION[0] in readme and SECTION[1] in readme:
            head, rest = readme.split(SECTION[0], 1)
            readme = head + block + rest.split(SECTION[1], 1)[1]
        else:
            readme = readme.rstrip("\n") + "\n\n" + block + "\n"
        args.readme.write_text(readme, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
