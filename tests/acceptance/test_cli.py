"""The `modelshelf` command as a contributor uses it: scaffold, validate, build."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelshelf.generator.cli import main

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> "CliRunner.invoke":
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_validate_real_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = run("validate")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    cards = len(list((REPO / "models").glob("*/*/card.yaml")) + list((REPO / "models").glob("*/*/*/card.yaml")))
    assert cards >= 10 and lines[0] == f"{cards} cards valid", result.output
    # Every file is at hand from the committed store or the cache, but the MiniLM cards' fp32 file (kept out
    # of git) before any build has run its recipe here.
    checked = int(lines[1].removeprefix("  checked against their ONNX file (signature, examples): "))
    minilm = len(list((REPO / "models" / "sentence-transformers" / "all-minilm-l6-v2").glob("*/card.yaml")))
    assert checked >= cards - minilm and checked + len(lines[2:]) == cards, result.output


def test_new_scaffolds_a_card_that_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("new", "acme/iris-tree")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "models" / "acme" / "iris-tree" / "recipe.py").is_file()
    result = run("validate", "models")
    assert result.exit_code == 0, result.output
    assert "1 card valid" in result.output


def test_new_scaffold_recipe_really_writes_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scaffolded recipe is a working starting point, not a stub."""
    monkeypatch.chdir(tmp_path)
    run("new", "acme/iris-tree")
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run([sys.executable, str(tmp_path / "models/acme/iris-tree/recipe.py"), str(out)], check=True)
    import onnxruntime as ort
    import numpy as np

    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    label, probabilities = session.run(None, {"float_input": np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)})
    assert label.tolist() == [0] and probabilities.shape == (1, 3)


@pytest.mark.parametrize("bad, message", [
    ("Acme/X", "is not a model id"),
    ("acme", "is not a model id"),
    ("../etc/passwd", "is not a model id"),
])
def test_new_refuses_bad_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("new", bad)
    assert result.exit_code == 1
    assert message in result.output
    assert not (tmp_path / "models").exists()


def test_new_refuses_existing_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run("new", "acme/x")
    card = (tmp_path / "models/acme/x/card.yaml").read_text()
    result = run("new", "acme/x")
    assert result.exit_code == 1 and "already exists" in result.output
    assert (tmp_path / "models/acme/x/card.yaml").read_text() == card, "an existing card is never overwritten"


def test_validate_reports_every_problem_as_text_and_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run("new", "acme/a")
    run("new", "acme/b")
    a = tmp_path / "models/acme/a/card.yaml"
    a.write_text(a.read_text().replace("license: Apache-2.0", "license: Apache 2"))
    b = tmp_path / "models/acme/b/card.yaml"
    b.write_text(b.read_text().replace('version: "0.1.0"', "version: 0.1"))
    result = run("validate")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "models/acme/a/card.yaml:10:10: $.license: 'Apache 2' is not a known SPDX licence id" in lines
    assert "  hint: did you mean 'Apache-2.0'?" in lines
    assert "models/acme/b/card.yaml:4:10: $.version: 0.1 is not a semantic version" in lines
    assert lines[-1] == "2 problems in 2 files"

    result = run("validate", "--format", "json")
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert payload["count"] == 2
    assert {p["path"] for p in payload["problems"]} == {"$.license", "$.version"}
    assert all(p["hint"] for p in payload["problems"])


def test_validate_missing_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("validate", "nowhere")
    assert result.exit_code == 1
    assert "nowhere:1:1: $: no such file or folder" in result.output


def test_console_script_help_matches_click() -> None:
    """The installed `modelshelf` entry point is this click group (docs are generated from it)."""
    out = subprocess.run([str(Path(sys.executable).parent / "modelshelf"), "--help"], capture_output=True, text=True, check=True)
    for command in ("validate", "new", "build", "serve"):
        assert command in out.stdout


def test_serve_serves_the_site_on_loopback(tmp_path: Path) -> None:
    """`modelshelf serve` builds and answers HTTP on 127.0.0.1 (the README's first command ends here)."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(Path(sys.executable).parent / "modelshelf"), "serve", "--no-livereload", "-a", f"127.0.0.1:{port}"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        body = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                    body = resp.read().decode()
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.5)
        assert "ms-q" in body, "the home page with its search box is served"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/catalog.json", timeout=5) as resp:
            assert json.load(resp)["models"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
