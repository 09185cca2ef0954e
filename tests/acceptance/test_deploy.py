"""Deploy bundles and the ONNX Model Hub manifest, as the build publishes them."""
from __future__ import annotations

import hashlib
import json
import shutil
import os
import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from modelshelf.generator.bundle.stage import BUNDLE_EMBED_MAX_BYTES

import deploy_site
from modelshelf.catalog.runtime import predictor as runtime

MODEL, VERSION = deploy_site.MODEL_ID, deploy_site.VERSION
FOLDER = f"toy-classifier-{VERSION}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deploy_site.build_site(tmp_path_factory.mktemp("bundle"))


def bundle_path(site: Path) -> Path:
    return site / deploy_site.catalog_file(site, "bundle")["url"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def unpack(bundle: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(bundle) as zf:
        for info in zf.infolist():
            assert not info.filename.startswith("/") and ".." not in info.filename.split("/")
            zf.extract(info, into)
            os.chmod(into / info.filename, (info.external_attr >> 16) & 0o777)
    return into / bundle.name.removesuffix("-bundle.zip")


def test_bundle_is_listed_linked_and_published(site: Path) -> None:
    declared = deploy_site.catalog_file(site, "bundle")
    assert declared["name"] == f"{FOLDER}-bundle.zip" and declared["kind"] == "bundle"
    assert bundle_path(site).stat().st_size == declared["size"] and sha256(bundle_path(site)) == declared["sha256"]
    assert declared["sha256"][:12] in declared["url"]
    page = (site / "models" / MODEL / "index.html").read_text()
    assert f'href="../../../{declared["url"]}"' in page, "the model page links the bundle"
    assert declared["sha256"] in page and "Download the deploy bundle" in page
    text = re.sub(r"<[^>]+>", "", page)  # code blocks are highlighted: compare the text
    assert f"modelshelf pull {MODEL}@{VERSION}" in text and f"unzip {FOLDER}-bundle.zip" in text


def test_bundle_contents(site: Path) -> None:
    with zipfile.ZipFile(bundle_path(site)) as zf:
        infos = zf.infolist()
        names = [i.filename.removeprefix(FOLDER + "/") for i in infos]
        assert names == sorted(names), "members are in a fixed order"
        assert set(names) == {".dockerignore", "Dockerfile", "README.md", "SHA256SUMS", "card.yaml", "examples/1.json",
                              "examples/2.json", "examples/3.json", "model.json", "predict.py", "runtime/__init__.py",
                              "runtime/bounds.py", "runtime/dtypes.py", "runtime/media.py", "runtime/predictor.py", "runtime/processing.py",
                              "runtime/server.py",
                              "runtime/workers.py",
                              "requirements-serve.txt", "requirements.txt", "toy-classifier.onnx"}
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        modes = {i.filename.removeprefix(FOLDER + "/"): stat.S_IMODE(i.external_attr >> 16) for i in infos}
        assert modes.pop("predict.py") == 0o755 and set(modes.values()) == {0o644}
        files = {n: zf.read(f"{FOLDER}/{n}") for n in names}
    # The bundle's runtime is the runtime package itself, byte for byte.
    package = Path(runtime.__file__).parent
    for name in [n for n in names if n.startswith("runtime/")]:
        assert files[name] == (package / name.removeprefix("runtime/")).read_bytes(), name
    assert {n.removeprefix("runtime/") for n in names if n.startswith("runtime/")} == {p.name for p in package.glob("*.py")}
    sums = runtime.parse_sha256sums(files["SHA256SUMS"].decode())
    assert set(sums) == set(names) - {"SHA256SUMS"}
    assert all(hashlib.sha256(files[n]).hexdigest() == digest for n, digest in sums.items())
    assert sums["toy-classifier.onnx"] == deploy_site.catalog_file(site)["sha256"]
    requirements = files["requirements.txt"].decode()
    assert re.search(r"^onnxruntime==\d", requirements, re.M) and re.search(r"^numpy==\d", requirements, re.M)
    assert all("==" in line for line in requirements.splitlines() if line and not line.startswith("#"))
    assert "uvicorn==" in files["requirements-serve.txt"].decode() and "-r requirements.txt" in files["requirements-serve.txt"].decode()
    readme = files["README.md"].decode()
    for command in ("sha256sum -c SHA256SUMS", ".venv/bin/pip install -r requirements.txt", "predict.py examples/1.json",
                    "predict.py --serve --port 8080", "docker build"):
        assert command in readme
    assert 'CMD ["python", "predict.py", "--serve", "--host", "0.0.0.0", "--port", "8080"]' in files["Dockerfile"].decode()
    config = json.loads(files["model.json"])
    assert config["model_sha256"] == sums["toy-classifier.onnx"] and config["labels"] == ["apple", "banana", "cherry"]


def test_bundle_is_reproducible(site: Path, tmp_path: Path) -> None:
    """A second build, from scratch in another folder with another cache, gives the same bytes."""
    again = deploy_site.build_site(tmp_path / "again")
    assert bundle_path(again).read_bytes() == bundle_path(site).read_bytes()
    assert deploy_site.catalog_file(again, "bundle") == deploy_site.catalog_file(site, "bundle")


def test_bundle_refuses_a_model_that_does_not_match(site: Path, tmp_path: Path) -> None:
    folder = unpack(bundle_path(site), tmp_path)
    model = folder / "toy-classifier.onnx"
    data = bytearray(model.read_bytes())
    data[-5] ^= 1
    model.write_bytes(bytes(data))
    result = subprocess.run([sys.executable, "predict.py", "examples/1.json"], cwd=folder, capture_output=True, text=True)
    assert result.returncode == 3
    assert "refusing to run" in result.stderr and "download it again" in result.stderr
    assert result.stdout == ""


def test_onnx_hub_manifest(site: Path) -> None:
    manifest = json.loads((site / "ONNX_HUB_MANIFEST.json").read_text())
    (record,) = manifest
    assert set(record) == {"model", "model_path", "onnx_version", "opset_version", "metadata"}
    assert record["model"] == MODEL and record["opset_version"] == 17 and record["onnx_version"] == "1.12.0"
    model = site / record["model_path"]
    assert record["metadata"]["model_sha"] == sha256(model) and record["metadata"]["model_bytes"] == model.stat().st_size
    assert record["metadata"]["io_ports"] == {
        "inputs": [{"name": "x", "shape": ["batch", 4], "type": "tensor(float)"}],
        "outputs": [{"name": "label", "shape": ["batch"], "type": "tensor(int64)"},
                    {"name": "scores", "shape": ["batch", 3], "type": "tensor(float)"}]}
    assert "tabular-classification" in record["metadata"]["tags"]


def test_bundle_runs_in_a_fresh_virtualenv(site: Path, tmp_path: Path) -> None:
    """Unzip into an empty folder, make a venv from requirements.txt alone, run predict.py on the card's examples."""
    folder = unpack(bundle_path(site), tmp_path / "empty")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", "requirements.txt"],
                         cwd=folder, capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    examples = json.loads((folder / "model.json").read_text())["examples"]
    for i, example in enumerate(examples):
        result = subprocess.run([str(python), "predict.py", f"examples/{i + 1}.json"], cwd=folder, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        assert answer["expected"]["match"], answer
        assert answer["outputs"]["label"] == example["outputs"]["label"]
    result = subprocess.run([str(python), "predict.py", "--self-test"], cwd=folder, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and json.loads(result.stdout)["ok"], result.stdout + result.stderr


def test_real_catalog_bundles_pass_their_self_test(built_site: Path, tmp_path: Path) -> None:
    """Every model of models/ runs its card's examples from its bundle, with the card's processing."""
    catalog = json.loads((built_site / "catalog.json").read_text())
    checked = []
    for model in catalog["models"]:
        bundle = next(f for f in model["files"] if f["kind"] == "bundle")
        folder = unpack(built_site / bundle["url"], tmp_path / model["id"])
        onnx_file = next(f for f in model["files"] if f["kind"] == "onnx")
        model_path = folder / onnx_file["name"]
        if not model_path.exists():
            # Large models are not embedded; fetch the published file as the bundle's README says.
            assert onnx_file["size"] > BUNDLE_EMBED_MAX_BYTES, model["id"]
            shutil.copyfile(built_site / onnx_file["url"], model_path)
        runner = runtime.load_bundle(folder)
        ok, reports = runtime.self_test(runner)
        assert ok, (model["id"], reports)
        checked.append(model["id"])
    assert "modelshelf/iris-logreg" in checked


def test_large_models_are_not_copied_into_their_bundle(built_site: Path, tmp_path: Path) -> None:
    """The site would otherwise carry a 90 MB model twice; the bundle refuses to run until the file is fetched."""
    catalog = json.loads((built_site / "catalog.json").read_text())
    large = [m for m in catalog["models"] if next(f for f in m["files"] if f["kind"] == "onnx")["size"] > BUNDLE_EMBED_MAX_BYTES]
    assert large, "the real catalog has a model over the embedding limit (all-MiniLM-L6-v2)"
    for model in large:
        bundle = next(f for f in model["files"] if f["kind"] == "bundle")
        assert bundle["size"] < 1024 * 1024
        folder = unpack(built_site / bundle["url"], tmp_path / model["id"])
        with pytest.raises(runtime.IntegrityError, match="is missing; download it"):
            runtime.load_bundle(folder)
