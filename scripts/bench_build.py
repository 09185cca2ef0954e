#!/usr/bin/env python3
"""Measure how the site build scales: wall time and peak RSS of each build, in one run.

    .venv/bin/python scripts/bench_build.py [--sizes 1000,10000] [--out FILE.md] [--profile N]

Builds, each in a fresh child process:
  * the real catalog (the repository's mkdocs.yml; a first untimed build warms the recipe cache),
  * a sample of cards whose examples are all distinct (--verify-sample, default 50), cold then
    warm: what verifying one model (smoke run, evaluation, bundle) costs,
  * for each size N: the baseline, a plain mkdocs-material project of N trivial pages
    (`mkdocs build`), and a synthetic catalog of N cards (scripts/gen_synthetic.py, whose
    examples come from a shared pool so the content-addressed checks are mostly cache hits),
    built with `modelshelf build` on an empty cache and again on the warm cache,
and prints a Markdown table with the ratio of each modelshelf build to the baseline of equal
size, and the sizes of search/index.json and docs.json (raw and gzip). Peak RSS comes from
`/usr/bin/time -v` when it exists, otherwise from getrusage(RUSAGE_CHILDREN) in a fresh
intermediate process per build. Results go to bench/results/ (gitignored) and, with --out, to
FILE.md as well. With --profile N a warm synthetic build of N cards is also run under cProfile
and the functions of generator/ and catalog/ that take the time are listed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import platform
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
GEN = REPO / "scripts" / "gen_synthetic.py"
TIME = Path("/usr/bin/time")

# Runs a command and reports the child's peak RSS: used when /usr/bin/time is missing. A fresh
# process per build, because RUSAGE_CHILDREN's ru_maxrss is the maximum over all waited-for children.
RUSAGE_RUNNER = """
import json, resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as fh:
    json.dump({"rc": rc, "maxrss_kb": ru.ru_maxrss}, fh)
sys.exit(rc)
"""

PROFILE_RUNNER = """
import cProfile, sys
from modelshelf.generator.cli import main
out = sys.argv[1]
prof = cProfile.Profile()
prof.enable()
try:
    main(sys.argv[2:], standalone_mode=False)
finally:
    prof.disable()
    prof.dump_stats(out)
"""

# Times each stage of one build in-process: every function generator/site/plugin.py imports from generator/ or
# catalog/ (load_catalog, enrich, ..., build_search), the plugin's hooks, and mkdocs' per-page steps,
# with the resident memory after each stage. Found by introspection, so it follows renames.
PHASES_RUNNER = """
import functools, inspect, json, sys, time
from pathlib import Path
import mkdocs.commands.build as mb
import modelshelf.generator.site.plugin as gp
from modelshelf.generator.site import build as site

def mem():
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS", "VmHWM")):
            key, value = line.split(":")
            out[key] = int(value.split()[0]) // 1024
    return out

rows, totals = [], {}
def wrap(owner, name, label, accumulate=False):
    func = getattr(owner, name)
    @functools.wraps(func)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            took = time.perf_counter() - start
            if accumulate:
                t = totals.setdefault(label, [0.0, 0]); t[0] += took; t[1] += 1
            else:
                rows.append({"stage": label, "seconds": round(took, 2), **mem()})
    setattr(owner, name, timed)

for name, obj in list(vars(gp).items()):
    if inspect.isfunction(obj) and obj.__module__.startswith(("modelshelf.generator.", "modelshelf.catalog.")) and obj.__module__ != gp.__name__:
        wrap(gp, name, name)
for hook in ("on_config", "on_files"):
    wrap(gp.ModelshelfPlugin, hook, "plugin." + hook)
for name in ("_populate_page", "_build_page"):
    if hasattr(mb, name):
        wrap(mb, name, "mkdocs." + name.lstrip("_") + " (all pages)", accumulate=True)
start = time.perf_counter()
site.build_site(Path(sys.argv[2]), site_dir=Path(sys.argv[3]))
for label, (took, calls) in totals.items():
    rows.append({"stage": label, "seconds": round(took, 2), "calls": calls})
rows.append({"stage": "total", "seconds": round(time.perf_counter() - start, 2), **mem()})
Path(sys.argv[1]).write_text(json.dumps(rows))
"""


@dataclass
class Measurement:
    wall_s: float
    maxrss_mb: float
    rc: int
    method: str
    log_tail: str = ""


@dataclass
class Row:
    label: str
    kind: str  # real | modelshelf | baseline | verify
    cache: str  # cold | warm | "" (baseline)
    size: int  # models (modelshelf) or pages (baseline)
    m: Measurement
    html_pages: int = 0
    site_mb: float = 0.0
    avg_page_kb: float = 0.0
    files: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (raw, gzip)
    generate_s: float = 0.0


def tool(name: str) -> str:
    """An executable of the project's environment (beside this Python, else .venv/bin, else PATH)."""
    for folder in (Path(sys.executable).parent, REPO / ".venv" / "bin"):
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if not found:
        sys.exit(f"{name} not found: run scripts/setup, then use .venv/bin/python scripts/bench_build.py")
    return found


def build_env() -> dict[str, str]:
    env = dict(os.environ)
    env["NO_MKDOCS_2_WARNING"] = "1"
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def measure(cmd: list[str], *, cwd: Path, timeout: float) -> Measurement:
    """Run one build in a fresh child process: wall time and peak RSS."""
    env = build_env()
    with tempfile.TemporaryDirectory(prefix="bench-measure-") as tmp:
        report = Path(tmp) / "report"
        if TIME.exists():
            full, method = [str(TIME), "-v", "-o", str(report), *cmd], "/usr/bin/time -v"
        else:
            full, method = [sys.executable, "-c", RUSAGE_RUNNER, str(report), *cmd], "getrusage(RUSAGE_CHILDREN)"
        start = time.perf_counter()
        proc = subprocess.run(full, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - start
        rss_kb = 0
        if report.exists():
            text = report.read_text()
            if method.startswith("/usr/bin/time"):
                for line in text.splitlines():
                    if "Maximum resident set size" in line:
                        rss_kb = int(line.rsplit(":", 1)[1])
            else:
                rss_kb = json.loads(text)["maxrss_kb"]
    tail = "\n".join((proc.stderr + proc.stdout).strip().splitlines()[-12:])
    return Measurement(round(wall, 2), round(rss_kb / 1024, 1), proc.returncode, method, tail)


def site_stats(row: Row, site: Path) -> None:
    html = list(site.rglob("*.html"))
    row.html_pages = len(html)
    total = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    row.site_mb = round(total / 2**20, 1)
    if html:
        row.avg_page_kb = round(sum(p.stat().st_size for p in html) / len(html) / 1024, 1)
    for name in ("search/index.json", "search/docs.json", "catalog.json"):
        path = site / name
        if path.is_file():
            data = path.read_bytes()
            row.files[name] = (len(data), len(gzip.compress(data, compresslevel=6)))


def generate(outdir: Path, count: int, *, trivial: bool, seed: int, example_pool: int | None = None) -> float:
    start = time.perf_counter()
    cmd = [sys.executable, str(GEN), str(outdir), "--count", str(count), "--seed", str(seed)]
    cmd += ["--trivial"] if trivial else []
    cmd += ["--example-pool", str(example_pool)] if example_pool is not None else []
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return round(time.perf_counter() - start, 1)


def run_build(row_label: str, kind: str, cache: str, size: int, cmd: list[str], site: Path, cwd: Path, timeout: float,
              generate_s: float = 0.0) -> Row:
    print(f"[bench] {row_label} ({size:,}, {cache or 'no'} cache): building ...", file=sys.stderr, flush=True)
    m = measure(cmd, cwd=cwd, timeout=timeout)
    row = Row(row_label, kind, cache, size, m, generate_s=generate_s)
    if m.rc == 0:
        site_stats(row, site)
        print(f"[bench] {row_label} ({size:,}, {cache or 'no'} cache): {m.wall_s:.1f} s, {m.maxrss_mb:.0f} MB peak RSS, {row.html_pages} HTML pages",
              file=sys.stderr, flush=True)
    else:
        print(f"[bench] {row_label}: FAILED (exit {m.rc})\n{m.log_tail}", file=sys.stderr, flush=True)
    return row


def profile_build(project: Path, out: Path, timeout: float) -> str:
    """cProfile of one modelshelf build (of a project already built once: a warm cache, so the time spent in
    recipe, smoke-run and evaluation child processes, which cProfile cannot see into, is out of the picture);
    returns the report text (the top functions of generator/ and catalog/, and the top functions overall)."""
    prof = out.with_suffix(".prof")
    cmd = [sys.executable, "-c", PROFILE_RUNNER, str(prof), "build", "-f", str(project / "mkdocs.yml"),
           "--site-dir", str(project / "site-profile")]
    print(f"[bench] profiling a warm build of {project.name} ...", file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=REPO, env=build_env(), capture_output=True, text=True, timeout=timeout)
    if not prof.exists():
        return "profile failed: no stats written"
    import io

    buf = io.StringIO()
    stats = pstats.Stats(str(prof), stream=buf)
    buf.write("### Cumulative time, project code (generator/, catalog/)\n\n```text\n")
    stats.sort_stats("cumulative").print_stats(r"(generator|catalog)/.*\.py", 30)
    buf.write("```\n\n### Own time, everything\n\n```text\n")
    stats.sort_stats("tottime").print_stats(25)
    buf.write("```\n")
    text = buf.getvalue()
    # Shorten site-packages paths for reading.
    text = text.replace(str(REPO) + "/", "")
    out.write_text(text, encoding="utf-8")
    return text


def phases_build(project: Path, out: Path, timeout: float) -> str:
    """Stage-by-stage wall time and memory of one build (warm cache), as a Markdown table."""
    data = out.with_suffix(".json")
    print(f"[bench] timing the stages of a warm build of {project.name} ...", file=sys.stderr, flush=True)
    proc = subprocess.run([sys.executable, "-c", PHASES_RUNNER, str(data), str(project / "mkdocs.yml"),
                           str(project / "site-phases")], cwd=REPO, env=build_env(), capture_output=True, text=True,
                          timeout=timeout)
    if not data.exists():
        return "stage timing failed:\n```text\n" + "\n".join(proc.stderr.splitlines()[-10:]) + "\n```\n"
    rows = json.loads(data.read_text())
    total = next((r["seconds"] for r in rows if r["stage"] == "total"), 0) or 1
    lines = [f"### Stages of a warm build of {project.name.split('-')[-1]} cards", "",
             "| stage | wall (s) | share | RSS after (MB) | peak RSS so far (MB) |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        calls = f" ({r['calls']:,} calls)" if "calls" in r else ""
        lines.append(f"| `{r['stage']}`{calls} | {r['seconds']:.1f} | {100 * r['seconds'] / total:.0f}% "
                     f"| {r.get('VmRSS', '')} | {r.get('VmHWM', '')} |")
    lines.append("")
    lines.append("`plugin.on_config` contains the stages listed before it; the mkdocs rows are summed over all pages.")
    text = "\n".join(lines) + "\n"
    out.write_text(text, encoding="utf-8")
    return text


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        mem = f", {kb / 2**20:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("mkdocs", "mkdocs-material", "lunr", "onnx", "jsonschema"):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return ", ".join(out)


def kb(n: int) -> str:
    return f"{n / 1024:,.0f} KB" if n < 10 * 2**20 else f"{n / 2**20:,.1f} MB"


def table(rows: list[Row]) -> str:
    base = {r.size: r for r in rows if r.kind == "baseline"}
    lines = [
        "| build | cache | size | wall (s) | peak RSS (MB) | × baseline wall | × baseline RSS | HTML pages | site (MB) "
        "| avg page (KB) | index.json raw / gzip | docs.json raw / gzip |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        if r.m.rc != 0:
            lines.append(f"| {r.label} | {r.cache} | {r.size:,} | failed (exit {r.m.rc}) after {r.m.wall_s} s | | | | | | | | |")
            continue
        b = base.get(r.size) if r.kind in ("modelshelf", "verify") else None
        ratio_w = f"{r.m.wall_s / b.m.wall_s:.1f}×" if b and b.m.rc == 0 and b.m.wall_s else ""
        ratio_r = f"{r.m.maxrss_mb / b.m.maxrss_mb:.1f}×" if b and b.m.rc == 0 and b.m.maxrss_mb else ""
        idx = r.files.get("search/index.json")
        docs = r.files.get("search/docs.json")
        lines.append(
            f"| {r.label} | {r.cache} | {r.size:,} | {r.m.wall_s:.1f} | {r.m.maxrss_mb:.0f} | {ratio_w} | {ratio_r} | {r.html_pages:,} "
            f"| {r.site_mb:,.1f} | {r.avg_page_kb:.1f} | {f'{kb(idx[0])} / {kb(idx[1])}' if idx else ''} "
            f"| {f'{kb(docs[0])} / {kb(docs[1])}' if docs else ''} |")
    return "\n".join(lines)


def per_model_note(rows: list[Row]) -> str:
    """What a full verification costs per model: (cold - warm) / N of the distinct-examples sample."""
    cold = next((r for r in rows if r.kind == "verify" and r.cache == "cold" and r.m.rc == 0), None)
    warm = next((r for r in rows if r.kind == "verify" and r.cache == "warm" and r.m.rc == 0), None)
    if not (cold and warm and cold.size):
        return ""
    per = (cold.m.wall_s - warm.m.wall_s) / cold.size
    return (f"Full verification (smoke run, evaluation, bundle on a cold cache) costs about {per:.2f} s per distinct model "
            f"(({cold.m.wall_s:.1f} s cold - {warm.m.wall_s:.1f} s warm) / {cold.size} cards with distinct examples): "
            f"a cold build of 10,000 distinct models would spend about {per * 10_000 / 3600:.1f} h on it.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated catalog sizes (default 1000,10000)")
    parser.add_argument("--out", type=Path, help="also write the Markdown report to this file")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic catalogs")
    parser.add_argument("--no-real", action="store_true", help="skip the real catalog")
    parser.add_argument("--no-warm", action="store_true", help="build each synthetic catalog once (cold cache) only")
    parser.add_argument("--verify-sample", type=int, default=50, metavar="N",
                        help="also build N cards whose examples are all distinct, cold then warm, to measure what a full "
                             "verification costs per model (default 50; 0 to skip)")
    parser.add_argument("--profile", type=int, metavar="N", help="also profile a warm synthetic build of N cards (cProfile)")
    parser.add_argument("--phases", type=int, metavar="N",
                        help="also time each stage of a warm synthetic build of N cards (must be one of --sizes)")
    parser.add_argument("--workdir", type=Path, help="where to write the projects and sites (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds allowed per build (default 4 h)")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]

    RESULTS.mkdir(parents=True, exist_ok=True)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="modelshelf-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    modelshelf, mkdocs = tool("modelshelf"), tool("mkdocs")
    started = dt.datetime.now().astimezone()
    rows: list[Row] = []
    profile_text = phases_text = ""

    def modelshelf_build(label: str, kind: str, cache: str, n: int, project: Path, gen_s: float = 0.0) -> None:
        rows.append(run_build(label, kind, cache, n, [modelshelf, "build", "-f", str(project / "mkdocs.yml"),
                                                      "--site-dir", str(project / "site")],
                              project / "site", project, args.timeout, gen_s))

    try:
        if not args.no_real:
            print("[bench] real catalog: warm-up build (runs recipes on a cold cache) ...", file=sys.stderr, flush=True)
            warm = measure([modelshelf, "build", "-f", str(REPO / "mkdocs.yml"), "--site-dir", str(work / "real-warm")],
                           cwd=REPO, timeout=args.timeout)
            if warm.rc != 0:
                print(f"[bench] warm-up failed (exit {warm.rc}):\n{warm.log_tail}", file=sys.stderr)
            shutil.rmtree(work / "real-warm", ignore_errors=True)
            site = work / "real-site"
            row = run_build("real catalog", "real", "warm", 0, [modelshelf, "build", "-f", str(REPO / "mkdocs.yml"),
                            "--site-dir", str(site)], site, REPO, args.timeout)
            if (site / "search/docs.json").is_file():
                row.size = len(json.loads((site / "search/docs.json").read_text())["models"])
            rows.append(row)
            shutil.rmtree(site, ignore_errors=True)
        if args.verify_sample:
            n = args.verify_sample
            ver = work / f"distinct-{n}"
            gen_s = generate(ver, n, trivial=False, seed=args.seed, example_pool=0)
            modelshelf_build("modelshelf synthetic, distinct examples", "verify", "cold", n, ver, gen_s)
            modelshelf_build("modelshelf synthetic, distinct examples", "verify", "warm", n, ver)
            shutil.rmtree(ver, ignore_errors=True)
        for n in sizes:
            triv = work / f"trivial-{n}"
            gen_s = generate(triv, n, trivial=True, seed=args.seed)
            rows.append(run_build("plain mkdocs baseline", "baseline", "", n,
                                  [mkdocs, "build", "-q", "-f", str(triv / "mkdocs.yml"), "-d", str(triv / "site")],
                                  triv / "site", triv, args.timeout, gen_s))
            shutil.rmtree(triv, ignore_errors=True)
            syn = work / f"synthetic-{n}"
            gen_s = generate(syn, n, trivial=False, seed=args.seed)
            modelshelf_build("modelshelf synthetic", "modelshelf", "cold", n, syn, gen_s)
            if not args.no_warm:
                modelshelf_build("modelshelf synthetic", "modelshelf", "warm", n, syn)
            if args.phases == n:
                phases_text = phases_build(syn, RESULTS / f"phases-{n}.md", args.timeout)
            if args.profile == n:
                profile_text = profile_build(syn, RESULTS / f"profile-{n}.txt", args.timeout)
            if not args.keep:
                shutil.rmtree(syn, ignore_errors=True)
        if args.profile and args.profile not in sizes:
            syn = work / f"synthetic-{args.profile}"
            generate(syn, args.profile, trivial=False, seed=args.seed)
            measure([modelshelf, "build", "-f", str(syn / "mkdocs.yml"), "--site-dir", str(syn / "site")],
                    cwd=syn, timeout=args.timeout)  # fill the cache
            profile_text = profile_build(syn, RESULTS / f"profile-{args.profile}.txt", args.timeout)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    method = rows[0].m.method if rows else ""
    gen_times = ", ".join(f"{r.size:,}: {r.generate_s} s" for r in rows if r.kind == "modelshelf" and r.cache == "cold")
    report = "\n".join([
        f"## Build benchmark, {started:%Y-%m-%d %H:%M %Z}",
        "",
        f"- Machine: {machine()}",
        f"- Tools: {versions()}",
        f"- Peak RSS measured with {method}; one fresh process per build; wall time includes Python start-up.",
        "- Baseline: plain mkdocs-material, N trivial pages (~1.4 KB of Markdown each), explicit nav of 4 pages, "
        "the rest `not_in_nav`, no search plugin.",
        f"- Synthetic: N cards from `scripts/gen_synthetic.py --seed {args.seed}`, each with a tiny committed ONNX file "
        "(3 distinct files, hard-linked), the repository's theme and mkdocs.yml. Their examples come from a shared pool, "
        "so the content-addressed checks (smoke runs, evaluations) run a few dozen times and are then cache hits: "
        "these rows measure how the build scales with the catalog. *cold* = empty `.modelshelf/cache`, *warm* = the "
        "same build again. The *distinct examples* rows give every card its own examples, so each is verified in full.",
        "",
        table(rows),
        "",
        per_model_note(rows),
        "",
        "Sizes are of the built files; gzip at level 6 (what a web server sends). Generating the synthetic cards is "
        f"not timed ({gen_times}).",
        "",
    ])
    if phases_text:
        report += "\n" + phases_text
    if profile_text:
        report += "\n" + profile_text
    stamp = started.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"bench-{stamp}.md").write_text(report, encoding="utf-8")
    (RESULTS / f"bench-{stamp}.json").write_text(json.dumps([asdict(r) for r in rows], indent=1), encoding="utf-8")
    (RESULTS / "latest.md").write_text(report, encoding="utf-8")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report, encoding="utf-8")
    print(report)
    return 0 if all(r.m.rc == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
