"""scripts/gen_synthetic.py writes cards that validate, a tiny ONNX model that matches them, and a usable mkdocs.yml."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml

from modelshelf.catalog.catalog import load_catalog
from modelshelf.generator.enrich.onnx_info import read_signature, signature_mismatches

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_synthetic", REPO / "scripts" / "gen_synthetic.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def project(gen, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    gen.write_project(out, 20, seed=7)
    return out


def test_twenty_cards_validate(project: Path) -> None:
    result = load_catalog([project / "models"])
    assert result.problems == []
    assert len(result.cards) == 20
    assert len({c.id for c in result.cards}) == 20
    assert len({c.task for c in result.cards}) >= 10  # the first cards cycle through every task
    for card in result.cards:
        assert 800 <= len(card.description.encode()) <= 2500
        assert card.source.file == "model.onnx"


def test_onnx_files_match_the_cards(project: Path) -> None:
    result = load_catalog([project / "models"])
    for card in result.cards:
        path = card.folder / "model.onnx"
        onnx.checker.check_model(str(path))
        assert signature_mismatches(card, read_signature(path)) == []


def test_examples_are_real_outputs(gen, project: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    sessions = {}
    for card in load_catalog([project / "models"]).cards[:6]:
        path = str(card.folder / "model.onnx")
        session = sessions.setdefault(path, ort.InferenceSession(path, providers=["CPUExecutionProvider"]))
        for example in card.examples:
            feeds = {k: np.asarray(v, dtype=np.float32) for k, v in example.inputs}
            got = session.run(None, feeds)
            for (name, expected), value in zip(example.outputs, got):
                assert np.abs(np.asarray(expected) - value).max() <= example.tolerance, (card.id, name)


def test_generation_is_deterministic(gen, tmp_path: Path) -> None:
    gen.write_models(tmp_path / "a", 5, seed=3)
    gen.write_models(tmp_path / "b", 5, seed=3)
    a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a" / "models").rglob("card.yaml"))
    b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b" / "models").rglob("card.yaml"))
    assert a == b
    assert all((tmp_path / "a" / p).read_bytes() == (tmp_path / "b" / p).read_bytes() for p in a)


def test_mkdocs_yml_points_back_into_the_repository(project: Path) -> None:
    text = (project / "mkdocs.yml").read_text(encoding="utf-8")
    # The repository's mkdocs.yml may use !ENV; skip custom tags when reading it back here.
    loader = type("L", (yaml.SafeLoader,), {})
    loader.add_multi_constructor("!", lambda ld, suffix, node: None)
    config = yaml.load(text, Loader=loader)  # noqa: S506
    assert Path(config["docs_dir"]).is_absolute() and Path(config["docs_dir"]) == REPO / "docs"
    assert Path(config["theme"]["custom_dir"]) == REPO / "site_theme"
    options = next(p["modelshelf"] for p in config["plugins"] if isinstance(p, dict) and "modelshelf" in p)
    assert options["models_dir"] == "models"
    assert Path(options["node_modules"]) == REPO / "node_modules"


def test_trivial_baseline(gen, tmp_path: Path) -> None:
    pages = gen.write_trivial(tmp_path, 12)
    assert len(pages) == 12
    config = yaml.safe_load((tmp_path / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["theme"]["name"] == "material"
    assert "modelshelf" not in str(config["plugins"])
    assert len(config["nav"]) == 4 and config["not_in_nav"].strip() == "/pages/"
    assert all((tmp_path / "docs" / next(iter(item.values()))).is_file() for item in config["nav"])
