"""Published means locked (issue 10): the lock, the folder artifact store, `modelshelf lock` and `reproduce`.

Each test makes a throwaway project with one recipe-built model (acme/relu), locks it with the real
`modelshelf lock` command, then changes one thing and builds again. Two recipes: a deterministic one
(its bytes are the same on every run, like a wheel's ONNX file) and a noisy one (random weights on
every run, standing in for training on another CPU).
"""
from __future__ import annotations

import json
import logging
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelshelf.generator.cli import main
from modelshelf.generator.site.build import SiteBuildFailed, build_site
from test_build import CARD, RECIPE, make_project, sha256

NOISY_RECIPE = textwrap.dedent('''
    import os, sys
    from pathlib import Path
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    bias = np.frombuffer(os.urandom(2), dtype=np.uint8).astype(np.float32).reshape(1, 2) / 1e4  # differs on every run
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["r", "b"], ["y"])], "noisy",
                              [x], [y], initializer=[numpy_helper.from_array(bias, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(Path(sys.argv[1]) / "model.onnx"))
''')
EXAMPLE = "examples:\n  - name: one row\n    inputs: {x: [[1.0, -1.0]]}\n    outputs: {y: [[1.0, 0.0]]}\n    tolerance: 0.05\n"


def _project(tmp_path: Path, recipe: str = RECIPE) -> Path:
    folder = tmp_path / "src" / "acme" / "relu"
    folder.mkdir(parents=True)
    (folder / "card.yaml").write_text(CARD + EXAMPLE)
    (folder / "recipe.py").write_text(recipe)
    return make_project(tmp_path / "proj", tmp_path / "src", cache=tmp_path / "cache")


def _lock(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["lock", "-f", str(config), *args], catch_exceptions=False)
    return result.exit_code, result.output


def _onnx_in(site: Path) -> Path:
    return next((site / "files").rglob("relu.onnx"))


def _card(config: Path) -> Path:
    return config.parent / "models" / "acme" / "relu" / "card.yaml"


def test_lock_then_build_from_the_store_without_running_the_recipe(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = _project(tmp_path, NOISY_RECIPE)
    assert _lock(config, "--check") == (1, "not locked: acme/relu@1.0.0\n1 version(s) not locked\n")
    code, out = _lock(config)
    assert code == 0, out
    assert "locked acme/relu@1.0.0" in out
    lock = json.loads((config.parent / "modelshelf.lock").read_text())
    entry = lock["versions"]["acme/relu@1.0.0"]
    assert set(entry["outputs"]) == {"model.onnx"} and set(entry["folder"]) == {"recipe.py"}
    assert {"source", "inputs", "outputs", "examples"} <= set(entry["fields"])
    locked_sha = entry["outputs"]["model.onnx"]["sha256"]
    assert (config.parent / "store" / "sha256" / locked_sha[:2] / locked_sha).is_file()
    assert _lock(config, "--check") == (0, "every version is locked\n")

    # A fresh machine: no cache. The noisy recipe would make other bytes; the build takes the locked ones.
    shutil.rmtree(tmp_path / "cache")
    caplog.set_level(logging.INFO)
    site = build_site(config, site_dir=tmp_path / "site")
    assert "running recipe of acme/relu" not in caplog.text
    assert sha256(_onnx_in(site)) == locked_sha
    catalog = json.loads((site / "catalog.json").read_text())
    assert catalog["models"][0]["files"][0]["sha256"] == locked_sha


@pytest.mark.parametrize(("edit", "field", "line"), [
    (lambda text: text.replace("shape: [null, 2]}]\noutputs", "shape: [null, 3]}]\noutputs"), "inputs", 12),
    (lambda text: text.replace("[[1.0, 0.0]]", "[[1.0, 0.01]]"), "examples", 15),
    (lambda text: text.replace("license: MIT", "license: Apache-2.0"), "license", 8),
])
def test_a_changed_locked_field_fails_at_its_line_with_the_bump_hint(tmp_path: Path, edit, field: str, line: int) -> None:
    config = _project(tmp_path)
    assert _lock(config)[0] == 0
    card = _card(config)
    card.write_text(edit(card.read_text()))
    with pytest.raises(SiteBuildFailed) as err:
        build_site(config, site_dir=tmp_path / "site")
    message = str(err.value)
    assert f"card.yaml:{line}:" in message and f"$.{field}: `{field}` differs from what acme/relu@1.0.0 published" in message
    assert "hint: a published version never changes" in message and "raise `version`" in message
    assert not (tmp_path / "site").exists()


def test_presentation_fields_may_change_and_a_bump_builds(tmp_path: Path) -> None:
    config = _project(tmp_path)
    assert _lock(config)[0] == 0
    card = _card(config)
    card.write_text(card.read_text().replace("Clips negatives to zero.", "Sets every negative value to zero."))
    build_site(config, site_dir=tmp_path / "site1")  # the summary is not locked

    card.write_text(card.read_text().replace("[[1.0, 0.0]]", "[[1.0, 0.01]]").replace('version: "1.0.0"', 'version: "1.0.1"'))
    build_site(config, site_dir=tmp_path / "site2")
    assert _lock(config, "--check")[1] == "not locked: acme/relu@1.0.1\n1 version(s) not locked\n"
    code, out = _lock(config)
    assert code == 0 and "locked acme/relu@1.0.1" in out
    lock = json.loads((config.parent / "modelshelf.lock").read_text())
    assert set(lock["versions"]) == {"acme/relu@1.0.0", "acme/relu@1.0.1"}, "the old version's record stays"


def test_a_changed_recipe_or_folder_file_fails(tmp_path: Path) -> None:
    config = _project(tmp_path)
    assert _lock(config)[0] == 0
    folder = _card(config).parent
    (folder / "recipe.py").write_text(RECIPE + "\n# tuned\n")
    (folder / "weights.npz").write_bytes(b"new")
    with pytest.raises(SiteBuildFailed) as err:
        build_site(config, site_dir=tmp_path / "site")
    message = str(err.value)
    assert "$.source: recipe.py changed since acme/relu@1.0.0 was published" in message
    assert "$.source: weights.npz was added since acme/relu@1.0.0 was published" in message


def test_missing_blob_is_reproduced_only_when_byte_identical(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    steady = _project(tmp_path / "steady")
    assert _lock(steady)[0] == 0
    shutil.rmtree(steady.parent / "store")
    shutil.rmtree(tmp_path / "steady" / "cache")
    caplog.set_level(logging.INFO)
    site = build_site(steady, site_dir=tmp_path / "steady-site")
    assert "running the recipe to reproduce them byte for byte" in caplog.text
    locked = json.loads((steady.parent / "modelshelf.lock").read_text())["versions"]["acme/relu@1.0.0"]["outputs"]["model.onnx"]
    assert sha256(_onnx_in(site)) == locked["sha256"]
    assert (steady.parent / "store" / "sha256" / locked["sha256"][:2] / locked["sha256"]).is_file(), "the store is refilled"

    noisy = _project(tmp_path / "noisy", NOISY_RECIPE)
    assert _lock(noisy)[0] == 0
    shutil.rmtree(noisy.parent / "store")
    shutil.rmtree(tmp_path / "noisy" / "cache")
    with pytest.raises(SiteBuildFailed) as err:
        build_site(noisy, site_dir=tmp_path / "noisy-site")
    assert "the locked bytes of model.onnx (locked" in str(err.value)
    assert "the recipe run on this machine made different bytes" in str(err.value)
    assert not (tmp_path / "noisy-site").exists()
    assert not list((tmp_path / "noisy" / "cache" / "locked").iterdir()), "no half-made locked folder is left"


def test_a_damaged_blob_is_not_used(tmp_path: Path) -> None:
    config = _project(tmp_path, NOISY_RECIPE)
    assert _lock(config)[0] == 0
    lock = json.loads((config.parent / "modelshelf.lock").read_text())
    sha = lock["versions"]["acme/relu@1.0.0"]["outputs"]["model.onnx"]["sha256"]
    blob = config.parent / "store" / "sha256" / sha[:2] / sha
    blob.write_bytes(blob.read_bytes()[:-1] + b"\0")
    shutil.rmtree(tmp_path / "cache")
    with pytest.raises(SiteBuildFailed) as err:
        build_site(config, site_dir=tmp_path / "site")
    assert "made different bytes" in str(err.value), "the damaged blob was refused, then the run did not match"


def test_reproduce_reports_identical_and_different_outputs(tmp_path: Path) -> None:
    steady = _project(tmp_path / "steady")
    assert _lock(steady)[0] == 0
    result = CliRunner().invoke(main, ["reproduce", "acme/relu@1.0.0", "-f", str(steady)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("acme/relu@1.0.0: the recipe reproduces the locked bytes\n  same     model.onnx")

    noisy = _project(tmp_path / "noisy", NOISY_RECIPE)
    assert _lock(noisy)[0] == 0
    result = CliRunner().invoke(main, ["reproduce", "acme/relu@1.0.0", "-f", str(noisy)], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "does not reproduce the locked bytes (1 of 1 files differ)" in result.output
    diff = float(result.output.split("y: largest absolute difference ")[1].split()[0])
    assert 0 < diff <= 0.0256, result.output  # two random biases of at most 255e-4 each

    result = CliRunner().invoke(main, ["reproduce", "acme/relu@2.0.0", "-f", str(noisy)], catch_exceptions=False)
    assert result.exit_code == 1 and "acme/relu has no card of version 2.0.0 in" in result.output
    assert "it has 1.0.0" in result.output


def test_an_unreadable_lock_names_the_file_and_writes_nothing(tmp_path: Path) -> None:
    config = _project(tmp_path)
    (config.parent / "modelshelf.lock").write_text('{"format": 1, "versions": {"acme/relu@1.0.0": {"outputs": {"model.onnx": '
                                                   '{"sha256": "abc", "size": 1}}}}}\n')
    with pytest.raises(SiteBuildFailed) as err:
        build_site(config, site_dir=tmp_path / "site")
    assert "modelshelf.lock: versions.acme/relu@1.0.0.outputs.model.onnx must be {sha256: 64 hex digits, size: bytes}" \
        in str(err.value)
    assert not (tmp_path / "site").exists()
