"""Same input, same answer: every raw file of the corpus through the four ways a person can run a model.

For the latest version of every model in models/ and every file of tests/fixtures/raw/ that its
"Try it" panel accepts (pictures for an image model, WAV recordings for an audio model, text
files for a text model, CSV/TSV for a tabular model, any file for a byte model), the answer of
1. the try-it panel in Chromium, the file given to its real file input,
2. `modelshelf run ORG/NAME@VERSION FILE...` (the client, pulling from the built site over HTTP),
3. the deploy bundle's `predict.py FILE...` in a fresh venv made from the bundle's own requirements.txt,
4. `modelshelf serve ORG/NAME@VERSION` over HTTP (the file sent as {"file": {"name", "base64"}}),
is compared: the top label identical, every score, embedding value or per-frame speech probability
within the model's tolerance (the largest its card's examples declare, else 1e-4), speech
segments identical. The worst difference per model is printed (and written to
build/same-answer.json for the closing note).

Real everything: the site built once from models/, a real HTTP server, real Chromium, real
onnxruntime and onnxruntime-web, pip installing the bundle's pinned requirements from the
package index (its cache makes the second venv quick).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import _modelshelf_command, free_port, say, wait_until_ready

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect

REPO = Path(__file__).resolve().parents[2]
RAW = REPO / "tests" / "fixtures" / "raw"
CORPUS = json.loads((RAW / "corpus.json").read_text(encoding="utf-8"))
REPORT = REPO / "build" / "same-answer.json"
DEFAULT_TOLERANCE = 1e-4
# The file input of each widget, and the corpus kinds it takes.
UPLOADS = {"image": ("#ms-upload", ("image",)), "audio": ("#ms-audio", ("audio",)), "text": ("#ms-textfile", ("text",)),
           "tabular": ("#ms-csv", ("tabular",)), "bytes": ("#ms-file", ("bytes", "image", "audio", "text", "tabular"))}
# A byte model takes any file: all of bytes/ and the first file of every other kind.
_WORST: dict[str, dict[str, Any]] = {}


def _latest(built_site: Path) -> list[dict[str, Any]]:
    models = json.loads((built_site / "catalog.json").read_text(encoding="utf-8"))["models"]
    return sorted((m for m in models if m.get("latest")), key=lambda m: m["id"])


def _widget(entry: dict[str, Any]) -> str:
    kind = (entry["card"].get("inputs") or [{}])[0].get("kind")
    return kind if kind in UPLOADS else "tensor"


def _files(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The corpus files the model's panel accepts."""
    widget = _widget(entry)
    if widget not in UPLOADS:
        return []
    kinds = UPLOADS[widget][1]
    out, firsts = [], set()
    for f in CORPUS["files"]:
        if f["kind"] not in kinds:
            continue
        if widget == "bytes" and f["kind"] != "bytes":
            if f["kind"] in firsts:
                continue
            firsts.add(f["kind"])
        elif f.get("models") and entry["id"] not in f["models"]:
            continue
        out.append(f)
    return out


def _tolerance(entry: dict[str, Any]) -> float:
    declared = [float(ex["tolerance"]) for ex in entry["card"].get("examples") or [] if ex.get("tolerance") is not None]
    return max(declared, default=DEFAULT_TOLERANCE)


def _browser_tolerance(entry: dict[str, Any]) -> float:
    """The model's tolerance, or the card's measured `browser.tolerance` (onnxruntime-web against onnxruntime) if larger."""
    declared = (entry["card"].get("browser") or {}).get("tolerance")
    return max(_tolerance(entry), float(declared or 0))


# ---------------------------------------------------------------- the comparable part of an answer

def _from_python(answer: dict[str, Any], scored: str) -> dict[str, Any]:
    if "similarity" in answer:  # a sentence pair ({"texts": [a, b]})
        return {"values": [float(answer["similarity"])], "labels": None, "segments": None}
    post = answer.get("postprocessed") or {}
    if "probabilities" in post:
        return {"values": [float(v) for v in post["probabilities"]], "labels": None, "segments": post["segments"]}
    if "values" in post:
        top, decision = post.get("top"), post.get("decision")
        labels = [d["label"] for d in decision] if decision else [row[0]["label"] if row else None for row in top] if top else None
        return {"values": np.asarray(post["values"], dtype=np.float64).ravel().tolist(), "labels": labels, "segments": None}
    return {"values": np.asarray(answer["outputs"][scored], dtype=np.float64).ravel().tolist(), "labels": None, "segments": None}


_BROWSER_ANSWER = """node => {
  const last = node.msTryit.last, scored = JSON.parse(node.getAttribute('data-config')).scored_output;
  if (last.extra && last.extra.audio) return {values: Array.from(last.extra.audio.probs), labels: null, segments: last.extra.audio.segments};
  if (last.post) return {values: Array.from(last.post.values.data),
    labels: last.post.decision ? last.post.decision.map(d => d.label)
      : last.post.top ? last.post.top.map(r => (r.length ? r[0].label : null)) : null, segments: null};
  return {values: Array.from(last.outputs[scored].data), labels: null, segments: null};
}"""


def _compare(model: str, name: str, answers: dict[str, dict[str, Any]], tolerance: float,
             browser_tolerance: float) -> tuple[float, float]:
    """Assert the four answers agree (the three Python paths within `tolerance` of each other, the browser within
    `browser_tolerance` of them); the largest difference from the browser's, and among the three Python paths."""
    reference = answers["browser"]
    worst = python_worst = 0.0
    for path, got in answers.items():
        where = f"{model} {name}: {path} vs browser"
        assert len(got["values"]) == len(reference["values"]), f"{where}: {len(got['values'])} values, not {len(reference['values'])}"
        diff = float(np.max(np.abs(np.subtract(got["values"], reference["values"])))) if got["values"] else 0.0
        assert diff <= browser_tolerance, f"{where}: max difference {diff:.3g} > tolerance {browser_tolerance:g}"
        if path != "browser":  # the three Python paths run the same engine: they agree within the model's own tolerance
            run = answers["modelshelf run"]["values"]
            same = float(np.max(np.abs(np.subtract(got["values"], run)))) if run else 0.0
            assert same <= tolerance, f"{model} {name}: {path} vs modelshelf run: max difference {same:.3g} > tolerance {tolerance:g}"
            python_worst = max(python_worst, same)
        if reference["labels"] is not None:
            assert got["labels"] == reference["labels"], f"{where}: labels {got['labels']} != {reference['labels']}"
        if reference["segments"] is not None:
            assert np.allclose(got["segments"], reference["segments"]), f"{where}: segments {got['segments']} != {reference['segments']}"
        worst = max(worst, diff)
    return worst, python_worst


# ---------------------------------------------------------------- the four paths

def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _variant_args(variant: str | None) -> list[str]:
    return ["--variant", variant] if variant else []


def _cli(ref: str, files: list[Path], env: dict[str, str], variant: str | None) -> list[dict[str, Any]]:
    result = subprocess.run([*_modelshelf_command(), "run", ref, *_variant_args(variant), *map(str, files)], capture_output=True,
                            text=True, env=env, timeout=900)
    assert result.returncode == 0, f"modelshelf run {ref}: exit {result.returncode}\n{result.stderr[-3000:]}"
    answers = _json_lines(result.stdout)
    assert len(answers) == len(files), result.stderr[-2000:]
    return answers


def _venv(requirements: Path, root: Path, venvs: dict[str, Path]) -> Path:
    """A fresh venv with exactly the bundle's requirements.txt installed (one per distinct file)."""
    key = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    with _VENV_LOCK:
        return _make_venv(key, requirements, root, venvs)


_VENV_LOCK = threading.Lock()


def _make_venv(key: str, requirements: Path, root: Path, venvs: dict[str, Path]) -> Path:
    if key not in venvs:
        venv = root / f"venv-{key}"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        result = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                 "-r", str(requirements)], capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"pip install -r {requirements.name}:\n{result.stderr[-3000:]}"
        venvs[key] = venv
    return venvs[key]


def _bundle(entry: dict[str, Any], built_site: Path, files: list[Path], root: Path, venvs: dict[str, Path],
            variant: str | None) -> list[dict[str, Any]]:
    bundle = next(f for f in entry["files"] if f["kind"] == "bundle")
    folder = root / f"bundle-{entry['id'].replace('/', '-')}"
    with zipfile.ZipFile(built_site / bundle["url"]) as zf:
        zf.extractall(folder)
    (inner,) = [p for p in folder.iterdir() if p.is_dir()]
    for onnx in (f for f in entry["files"] if f["kind"] == "onnx"):
        if not (inner / onnx["name"]).is_file():  # a large model (or a variant) is fetched beside the bundle, as its README says
            shutil.copyfile(built_site / onnx["url"], inner / onnx["name"])
    venv = _venv(inner / "requirements.txt", root, venvs)
    result = subprocess.run([str(venv / "bin" / "python"), "predict.py", *_variant_args(variant), *map(str, files)], cwd=inner,
                            capture_output=True,
                            text=True, timeout=900, env={"PATH": os.environ.get("PATH", ""), "HOME": str(root)})
    assert result.returncode == 0, f"predict.py of {entry['id']}: exit {result.returncode}\n{result.stderr[-3000:]}"
    answers = _json_lines(result.stdout)
    assert len(answers) == len(files), result.stderr[-2000:]
    return answers


def _served(ref: str, files: list[Path], env: dict[str, str], root: Path, variant: str | None) -> list[dict[str, Any]]:
    port = free_port()
    log = (root / f"serve-{port}.log").open("w")
    proc = subprocess.Popen([*_modelshelf_command(), "serve", ref, "--port", str(port), *_variant_args(variant)], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(port, proc, lambda: (root / f"serve-{port}.log").read_text(), timeout=120)
        answers = []
        for path in files:
            body = path.read_bytes() if path.parent == root else json.dumps(  # a request of the test's own, or a raw file
                {"file": {"name": path.name, "base64": base64.b64encode(path.read_bytes()).decode()}}).encode()
            request = urllib.request.Request(f"{base}/v1/predict", data=body, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=120) as r:
                    answers.append(json.loads(r.read()))
            except urllib.error.HTTPError as exc:
                raise AssertionError(f"serve {ref} {path.name}: HTTP {exc.code} {exc.read()[:500]!r}") from None
        return answers
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _panel_config(page: Any, site_url: str, entry: dict[str, Any]) -> tuple[str, str | None]:
    """The model page's panel: the name of the output it scores, and the variant it runs (None: the main file)."""
    page.goto(f"{site_url}{entry['page']}")
    config = json.loads(page.get_attribute("#ms-tryit", "data-config") or "{}")
    return config["scored_output"], config["model"].get("variant")


def _browser(page: Any, entry: dict[str, Any], files: list[Path], pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The panel's answers (the page is open: _panel_config)."""
    panel = page.locator("#ms-tryit")
    page.locator(".ms-tryit__open").click()
    expect(panel).to_have_attribute("data-runs", re.compile(r"^[1-9]"), timeout=60_000)  # the first prediction is shown
    selector = UPLOADS[_widget(entry)][0]
    answers = []
    for path in files:
        page.evaluate("() => { const n = document.querySelector('#ms-tryit'); window.__before = n.msTryit.last; }")
        page.set_input_files(selector, str(path))
        page.wait_for_function("() => document.querySelector('#ms-tryit').msTryit.last !== window.__before || "
                               "!document.querySelector('.ms-tryit__error').hidden", timeout=120_000)
        error = page.locator(".ms-tryit__error")
        assert error.is_hidden(), f"{entry['id']} {path.name}: the panel says {error.text_content()}"
        answers.append(page.eval_on_selector("#ms-tryit", _BROWSER_ANSWER))
    for pair in pairs:  # the panel's two-sentence view
        similarity = page.eval_on_selector("#ms-tryit", "(n, p) => n.msTryit.compare(p.a, p.b).then(() => n.msTryit.last.extra.similarity)", pair)
        answers.append({"values": [float(similarity)], "labels": None, "segments": None})
    return answers


# ---------------------------------------------------------------- the test

@pytest.fixture(scope="module")
def venvs() -> dict[str, Path]:
    return {}


def _models() -> list[str]:
    ids = set()
    for card in [*(REPO / "models").glob("*/*/card.yaml"), *(REPO / "models").glob("*/*/*/card.yaml")]:
        ids.add("/".join(card.relative_to(REPO / "models").parts[:2]))
    return sorted(ids)


@pytest.mark.parametrize("model", _models())
def test_every_raw_file_gets_the_same_answer_four_ways(model: str, built_site: Path, site_url: str, page: Any,
                                                       tmp_path_factory: pytest.TempPathFactory, venvs: dict[str, Path],
                                                       request: pytest.FixtureRequest) -> None:
    entry = next(m for m in _latest(built_site) if m["id"] == model)
    corpus = _files(entry)
    assert corpus, f"{model}: no corpus file fits its {_widget(entry)} panel; add some to tests/fixtures/raw/"
    ref = f"{entry['id']}@{entry['version']}"
    root = tmp_path_factory.mktemp("same-answer")
    paths = [RAW / f["path"] for f in corpus]
    # A text model also compares sentence pairs: the panel's Compare, and {"texts": [a, b]} everywhere else.
    pairs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((RAW / "text" / "pairs").glob("*.json"))] \
        if _widget(entry) == "text" else []
    requests = []
    for i, pair in enumerate(pairs):
        requests.append(root / f"pair-{i + 1}.json")
        requests[-1].write_text(json.dumps({"texts": [pair["a"], pair["b"]]}), encoding="utf-8")
    env = {**os.environ, "MODELSHELF_SITE_URL": site_url, "MODELSHELF_HOME": str(tmp_path_factory.getbasetemp() / "client-home")}
    # A model too large for a browser is tried through a variant (e.g. int8): the other paths run the same variant.
    scored, variant = _panel_config(page, site_url, entry)
    inputs = paths + requests
    # The three command-line paths are separate processes: they run while the browser works through the files.
    with ThreadPoolExecutor(max_workers=3) as pool:
        cli = pool.submit(_cli, ref, inputs, env, variant)
        bundle = pool.submit(_bundle, entry, built_site, inputs, root, venvs, variant)
        served = pool.submit(_served, ref, inputs, env, root, variant)
        browser = _browser(page, entry, paths, pairs)
        by_path = {
            "browser": browser,
            "modelshelf run": [_from_python(a, scored) for a in cli.result()],
            "bundle predict.py": [_from_python(a, scored) for a in bundle.result()],
            "modelshelf serve": [_from_python(a, scored) for a in served.result()],
        }
    tolerance, browser_tolerance = _tolerance(entry), _browser_tolerance(entry)
    worst: dict[str, float] = {}
    python_worst: dict[str, float] = {}
    for i, f in enumerate(corpus + [{"kind": "sentence pair", "path": r.name} for r in requests]):
        answers = {path: got[i] for path, got in by_path.items()}
        browser_diff, python_diff = _compare(model, f["path"], answers, tolerance, browser_tolerance)
        worst[f["kind"]] = max(worst.get(f["kind"], 0.0), browser_diff)
        python_worst[f["kind"]] = max(python_worst.get(f["kind"], 0.0), python_diff)
    _WORST[ref] = {"files": len(corpus), "tolerance": tolerance, "browser_tolerance": browser_tolerance, "variant": variant,
                   "worst_by_kind": worst, "worst_between_python_paths_by_kind": python_worst}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(REPORT.read_text(encoding="utf-8")) if REPORT.is_file() else {}
    data[ref] = _WORST[ref]
    REPORT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    say(request.config, f"\nsame answer, {ref}{' --variant ' + variant if variant else ''}: {len(corpus)} files x 4 paths, "
         "worst difference from the browser " + ", ".join(f"{k} {v:.2g}" for k, v in sorted(worst.items()))
         + "; among run, predict.py and serve " + ", ".join(f"{k} {v:.2g}" for k, v in sorted(python_worst.items()))
         + f" (tolerance {tolerance:g}" + (f", browser {browser_tolerance:g}" if browser_tolerance != tolerance else "") + ")")
