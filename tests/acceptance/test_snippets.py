"""Issue 9, item 4 "Snippets that run": every "Use it" snippet of every model page, copied out of the built HTML
and run on a raw file of the model's input kind, prints the answer `modelshelf run` gives for that file.

The four snippets of a page (Python with onnxruntime, the `modelshelf` CLI, curl to `modelshelf serve`, Node
with onnxruntime-web) are found by their block's class `ms-snippet-<kind>` (generator/render/pages.py `snippet`),
their text is the Pygments-highlighted code with the tags stripped and the entities unescaped.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import free_port, wait_until_ready

REPO = Path(__file__).resolve().parents[2]

RAW = REPO / "tests" / "fixtures" / "raw"
MODELSHELF = Path(sys.executable).with_name("modelshelf")
NODE_MODULES = REPO / "node_modules"
KINDS = ("python", "cli", "curl", "js")
# One corpus file per input kind (and per model for the tabular ones, whose columns differ).
SAMPLES = {"image": "image/seven-64x64-black-on-white.png", "audio": "audio/speech-44100hz-stereo-pcm16.wav",
           "text": "text/en-paragraph.txt", "bytes": "bytes/inventory.py"}
TIMEOUT = 120


def _catalog(site: Path) -> list[dict[str, Any]]:
    return json.loads((site / "catalog.json").read_text(encoding="utf-8"))["models"]


def _latest(site: Path) -> list[dict[str, Any]]:
    """The latest version of every model (the one its page without a version shows)."""
    return [m for m in _catalog(site) if m["page"].rstrip("/").count("/") == 2]


def _sample(entry: dict[str, Any]) -> Path:
    """A raw corpus file for the model: the first listed for its id, else the first of its input kind."""
    corpus = json.loads((RAW / "corpus.json").read_text(encoding="utf-8"))["files"]
    kinds = [t.get("kind") for t in entry["card"]["inputs"]]
    kind = next((k for k in kinds if k in ("tabular", "image", "audio", "text", "bytes")), "tabular")
    for f in corpus:
        if entry["id"] in (f.get("models") or []) and f["path"].endswith((".csv", ".png")) and f["kind"] == kind:
            return RAW / f["path"]
    return RAW / SAMPLES[kind]


def snippets(page: str) -> dict[str, str]:
    """{kind: code} of the page's "Use it" snippets, as a visitor would copy them."""
    found = {}
    for kind in KINDS:
        match = re.search(rf'<div class="ms-snippet-{kind} highlight"><pre>(.*?)</pre></div>', page, re.S)
        assert match, f"no ms-snippet-{kind} block"
        code = re.sub(r"<[^>]+>", "", match.group(1))
        found[kind] = html.unescape(code)
    return found


def _last_json(text: str) -> dict[str, Any]:
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


def _answer(answer: dict[str, Any], card: dict[str, Any]) -> list[str]:
    """The runtime's JSON answer as the snippets' printed lines ("top: LABEL", "value: ...", ...), for comparing."""
    outputs = card["outputs"]
    scored = next((t for t in outputs if t.get("kind") in ("scores", "embedding")),
                  next((t for t in outputs if t["dtype"].startswith("float")), outputs[0]))
    post, labels = answer.get("postprocessed") or {}, card.get("labels") or []
    if "segments" in post:
        return ["speech: " + (", ".join(f"{a:.3f}-{b:.3f} s" for a, b in post["segments"]) or "none")]
    values = post.get("values", answer["outputs"][scored["name"]])
    if scored.get("kind") == "embedding":
        flat = _flat(values)
        return [f"embedding: {len(flat)} values, " + " ".join(f"{v:.4f}" for v in flat[:3])]
    if "top" in post:
        return [f"top: {row[0]['label']}" for row in post["top"]]
    if scored.get("kind") == "scores" or labels:
        rows = [_flat(row) for row in values]
        return [f"top: {labels[r.index(max(r))] if r.index(max(r)) < len(labels) else r.index(max(r))}" for r in rows]
    return ["value: " + " ".join(f"{v:.4f}" for v in _flat(row)) for row in values]


def _flat(value: Any) -> list[float]:
    return [x for v in value for x in _flat(v)] if isinstance(value, list) else [float(value)]


def _printed(stdout: str) -> list[str]:
    """The snippet's answer lines, with a top label's score dropped (onnxruntime-web may differ in the last digits)."""
    lines = [line for line in stdout.splitlines() if line.startswith(("top:", "value:", "embedding:", "speech:"))]
    return [line.rsplit(" ", 1)[0] if line.startswith("top:") else line for line in lines]


def _close(got: list[str], want: list[str]) -> bool:
    """Lines equal, numbers within 2e-3 (float32 in Node and Python, printed to 4 decimals)."""
    if len(got) != len(want):
        return False
    for a, b in zip(got, want):
        num = r"-?\d+\.\d+"
        if re.sub(num, "#", a) != re.sub(num, "#", b):
            return False
        if any(abs(float(x) - float(y)) > 2e-3 for x, y in zip(re.findall(num, a), re.findall(num, b))):
            return False
    return True


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per model of models/ (models/ORG/NAME/card.yaml or models/ORG/NAME/VERSION/card.yaml)."""
    if "model_id" in metafunc.fixturenames:
        ids = {"/".join(p.relative_to(REPO / "models").parts[:2]) for p in (REPO / "models").rglob("card.yaml")}
        metafunc.parametrize("model_id", sorted(ids))


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_use_it_snippets_run(built_site: Path, site_url: str, model_id: str, tmp_path: Path) -> None:
    """Each of the four snippets runs (exit 0) on a raw file and prints the answer `modelshelf run` gives."""
    entry = next(m for m in _latest(built_site) if m["id"] == model_id)
    ref = f"{entry['id']}@{entry['version']}"
    page = (built_site / entry["page"] / "index.html").read_text(encoding="utf-8")
    code = snippets(page)
    file_name = re.search(r"^# (\S+): ", code["cli"], re.M).group(1)  # type: ignore[union-attr]
    sample = _sample(entry)
    env = {**os.environ, "MODELSHELF_SITE_URL": site_url, "MODELSHELF_HOME": str(tmp_path / "cache"),
           "MODELSHELF_CACHE_DIR": str(tmp_path / "cache"), "NODE_PATH": str(NODE_MODULES),
           "PATH": f"{MODELSHELF.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    work = {}
    for kind, text in code.items():
        folder = tmp_path / kind
        folder.mkdir()
        shutil.copy(sample, folder / file_name)
        script = {"python": "use.py", "cli": "use.sh", "curl": "use.sh", "js": "use.js"}[kind]
        (folder / script).write_text(text, encoding="utf-8")
        work[kind] = folder

    # What the runtime answers for the file: the reference every snippet is held to.
    expected = subprocess.run([str(MODELSHELF), "run", ref, str(sample)], env=env, capture_output=True, text=True,
                              timeout=TIMEOUT)
    assert expected.returncode == 0, expected.stderr
    want = _answer(_last_json(expected.stdout), entry["card"])

    port = free_port()
    server = subprocess.Popen([str(MODELSHELF), "serve", ref, "--port", str(port)], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        commands = {"python": [sys.executable, "use.py"], "cli": ["bash", "-e", "use.sh"], "js": ["node", "use.js"]}
        running = {kind: subprocess.Popen(cmd, cwd=work[kind], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True) for kind, cmd in commands.items()}
        wait_until_ready(port, server, lambda: server.stderr.read() if server.poll() is not None and server.stderr else "")
        running["curl"] = subprocess.Popen(["bash", "-e", "-o", "pipefail", "use.sh"], cwd=work["curl"],
                                           env={**env, "PORT": str(port)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           text=True)
        results = {kind: (p.communicate(timeout=TIMEOUT), p.returncode) for kind, p in running.items()}
    finally:
        server.terminate()
        server.wait(timeout=30)
    for kind in KINDS:
        (stdout, stderr), status = results[kind]
        assert status == 0, f"{kind} snippet of {ref} exited {status}:\n{code[kind]}\n--- stderr\n{stderr[-3000:]}"
        if kind in ("cli", "curl"):
            got = _answer(_last_json(stdout), entry["card"])
        else:
            got = _printed(stdout)
        assert got and _close(got, want), \
            f"{kind} snippet of {ref} printed {got}, `modelshelf run` gives {want}\n{stdout[-2000:]}"
