"""The core install, as a deployer gets it: a wheel built from this repository, installed without extras
(`pip install modelshelf`) into a fresh virtual environment. `modelshelf pull`, `run` and `serve ORG/NAME`
work against a site served on 127.0.0.1 and import none of the build's packages; a build command says
which extra it needs instead of failing with a traceback.

The test prints the size of that environment and how long `modelshelf pull --help` takes there.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import deploy_site
from conftest import free_port, say, wait_until_ready

REPO = Path(__file__).resolve().parents[2]
MODEL = deploy_site.MODEL_ID
# Top-level modules of the `build` extra and its dependencies; onnxruntime is core, the onnx package is not.
BUILD_PACKAGES = {"mkdocs", "material", "jsonschema", "nh3", "lunr", "onnx", "jinja2", "markdown"}


def _build_wheel(out: Path, scratch: Path) -> Path:
    """A wheel of this repository, built from a clean copy (nothing written into the work tree)."""
    src = scratch / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for folder in ("catalog", "generator"):
        shutil.copytree(REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(src)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("modelshelf-*.whl")
    return wheel


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A fresh venv holding the core install only (pip's cache makes a second run quick)."""
    root = tmp_path_factory.mktemp("core-install")
    wheel = _build_wheel(root / "wheels", root)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    started = time.monotonic()
    result = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                             str(wheel), "-c", str(REPO / "constraints.txt")], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    size_mb = int(subprocess.run(["du", "-sm", str(venv)], capture_output=True, text=True, check=True).stdout.split()[0])
    say(request.config, f"\ncore install: {wheel.name} -> fresh venv of {size_mb} MB (pip install took {time.monotonic() - started:.0f} s)")
    return venv


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    site = deploy_site.build_site(tmp_path_factory.mktemp("core-site"))
    with deploy_site.serve_folder(site) as (url, _handler):
        yield url, site


def _env(home: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "MODELSHELF_HOME": str(home), "MODELSHELF_SITE_URL": url}


def _imported(importtime_output: str) -> set[str]:
    """Top-level module names from `python -X importtime` output."""
    names = set()
    for line in importtime_output.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name.split(".")[0])
    return names


def _modelshelf(venv: Path, *args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`modelshelf ARGS` in `venv`, with -X importtime (its lines go to stderr)."""
    return subprocess.run([str(venv / "bin" / "python"), "-X", "importtime", str(venv / "bin" / "modelshelf"), *args],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def _example(site: Path) -> dict[str, Any]:
    return json.loads((site / "catalog.json").read_text())["models"][0]["card"]["examples"][0]


def test_core_install_has_no_build_packages(core_venv: Path) -> None:
    code = f"import importlib.util as u; print(sorted(m for m in {sorted(BUILD_PACKAGES)!r} if u.find_spec(m)))"
    out = subprocess.run([str(core_venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"the core install pulled in build packages: {out}"


def test_pull_and_run_in_the_core_install(core_venv: Path, site_url: tuple[str, Path], tmp_path: Path) -> None:
    url, site = site_url
    env = _env(tmp_path / "home", url)
    pulled = _modelshelf(core_venv, "pull", MODEL, env=env, cwd=tmp_path)
    assert pulled.returncode == 0, pulled.stderr[-3000:]
    assert pulled.stdout.strip().endswith(deploy_site.catalog_file(site)["sha256"])
    assert not _imported(pulled.stderr) & BUILD_PACKAGES

    example = _example(site)
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"inputs": example["inputs"]}))
    ran = _modelshelf(core_venv, "run", MODEL, str(request), env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert json.loads(ran.stdout)["outputs"]["label"] == example["outputs"]["label"]
    imported = _imported(ran.stderr)
    assert "onnxruntime" in imported and not imported & BUILD_PACKAGES, sorted(imported & BUILD_PACKAGES)


def test_serve_a_model_in_the_core_install(core_venv: Path, site_url: tuple[str, Path], tmp_path: Path) -> None:
    url, site = site_url
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(core_venv / "bin" / "python"), "-X", "importtime", str(core_venv / "bin" / "modelshelf"),
                                 "serve", MODEL, "--port", str(port)], env=_env(tmp_path / "home", url), cwd=tmp_path,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(port, proc, log.read_text)
        example = _example(site)
        body = json.dumps({"inputs": example["inputs"]}).encode()
        post = urllib.request.Request(f"http://127.0.0.1:{port}/v1/predict", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(post, timeout=30) as resp:
            assert resp.status == 200
            assert json.loads(resp.read())["outputs"]["label"] == example["outputs"]["label"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    imported = _imported(log.read_text())
    assert {"uvicorn", "starlette"} <= imported and not imported & BUILD_PACKAGES, sorted(imported & BUILD_PACKAGES)


def test_build_commands_name_the_missing_extra(core_venv: Path, tmp_path: Path) -> None:
    """Regression: without the build extra, `modelshelf build` must say what to install, not print a traceback."""
    for command in (["build"], ["validate"], ["serve"], ["export"], ["new", "acme/x"]):
        result = subprocess.run([str(core_venv / "bin" / "modelshelf"), *command], cwd=tmp_path, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"modelshelf {command[0]} needs the build tools: pip install 'modelshelf[build]'" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "models").exists()


def test_help_lists_both_groups_and_starts_quickly(core_venv: Path, request: pytest.FixtureRequest) -> None:
    modelshelf = str(core_venv / "bin" / "modelshelf")
    out = subprocess.run([modelshelf, "--help"], capture_output=True, text=True, check=True).stdout
    assert "Use models" in out and "Build a catalog" in out
    for command in ("pull", "run", "serve ORG/NAME", "search", "list", "info", "validate", "new", "build", "export"):
        assert f"  {command} " in out, out
    times = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([modelshelf, "pull", "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    say(request.config, f"\ncore install: `modelshelf pull --help` takes {statistics.median(times) * 1000:.0f} ms "
                         f"(median of 5; min {min(times) * 1000:.0f} ms)")


def test_client_commands_import_no_build_package_even_when_installed(site_url: tuple[str, Path], tmp_path: Path) -> None:
    """In the development venv the build's packages are installed: `pull` and `run` still leave them alone."""
    url, site = site_url
    venv = Path(sys.executable).parent.parent
    env = _env(tmp_path / "home", url)
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"inputs": _example(site)["inputs"]}))
    for args in (["pull", MODEL], ["run", MODEL, str(request)], ["info", MODEL], ["search", "toy"], ["list"]):
        result = _modelshelf(venv, *args, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        assert not _imported(result.stderr) & BUILD_PACKAGES, (args, sorted(_imported(result.stderr) & BUILD_PACKAGES))
