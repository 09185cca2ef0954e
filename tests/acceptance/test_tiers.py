"""Metric tiers end to end: verified (registry data the claim names), reproduced (a script's eval.npz), claimed.

Real builds of small throwaway catalogs, with the iris models and helpers of test_evaluate.py.
"""
from __future__ import annotations

import hashlib
import json
import logging
import textwrap
from pathlib import Path

import pytest

from modelshelf.generator.site.build import SiteBuildFailed, build_site

from test_build import make_project
from test_evaluate import _position, _relu_onnx, _write, iris_card, iris_models  # noqa: F401 - iris_models is a fixture

DEFAULT = 0.005
CUSTOM = 0.02
# Offsets of a claim from the measured value: just inside and just outside a tolerance (4-decimal claims).
INSIDE, OUTSIDE = 0.9, 1.1

# Relu on 64 rows whose targets are the outputs plus 0.1: mae is 0.1 (to float32 rounding), on the script's own rows.
OFFSET_SCRIPT = textwrap.dedent("""\
    import sys
    from pathlib import Path
    import numpy as np
    x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    np.savez(Path(sys.argv[1]) / "eval.npz", **{"input.x": x, "target": np.maximum(x, 0) + np.float32(0.1)})
    """)
TRUE_MAE = 0.1


def relu_card(ident: str, claim: float, *, tolerance: float | None = None, dataset: str = "acme/pairs",
              split: str = "all 64 rows", authors: str = "[{name: Ada Example}]") -> str:
    tol = f"  tolerance: {tolerance}\n" if tolerance is not None else ""
    return textwrap.dedent(f"""\
        id: {ident}
        name: Relu offset
        version: "1.0.0"
        summary: Clips negatives to zero; evaluated on its authors' rows.
        description: A test model.
        task: tabular-regression
        license: MIT
        authors: {authors}
        datasets: [{{id: {dataset}}}]
        framework: onnx
        source: {{file: model.onnx}}
        inputs: [{{name: x, dtype: float32, shape: [null, 2]}}]
        outputs: [{{name: y, dtype: float32, shape: [null, 2]}}]
        examples: [{{inputs: {{x: [[1.0, -1.0]]}}}}]
        metrics:
          - name: mae
            value: {claim:.4f}
            dataset: {dataset}
            split: "{split}"
        evaluation:
          script: evaluate.py
          metrics: [mae]
        """) + tol


def iris_eval(tolerance: float | None = None) -> str:
    tol = f"  tolerance: {tolerance}\n" if tolerance is not None else ""
    return ("evaluation:\n  dataset: sklearn/iris\n  split: {test_size: 0.3, seed: 0, stratify: true}\n"
            "  metrics: [accuracy, f1_macro]\n" + tol)


def _claims(truth: float, where: str) -> dict[str, tuple[float, float | None]]:
    """name -> (claimed value, custom tolerance or None): just inside / outside the default and a custom tolerance."""
    factor = INSIDE if where == "inside" else OUTSIDE
    return {f"default-up-{where}": (truth + factor * DEFAULT, None), f"default-down-{where}": (truth - factor * DEFAULT, None),
            f"custom-up-{where}": (truth + factor * CUSTOM, CUSTOM), f"custom-down-{where}": (truth - factor * CUSTOM, CUSTOM)}


def _catalog(site: Path) -> dict[str, dict]:
    return {m["id"]: m for m in json.loads((site / "catalog.json").read_text())["models"]}


def _docs(site: Path) -> dict[str, dict]:
    return {d["id"]: d for d in json.loads((site / "search" / "docs.json").read_text())["models"]}


def test_verified_claims_inside_the_tolerance_pass_and_outside_fail(
        tmp_path: Path, iris_models: dict[str, tuple[bytes, float]]) -> None:  # noqa: F811
    """Registry data the claim names: verified within the default (0.005) or the card's tolerance, an error beyond it."""
    model, truth = iris_models["weak"]  # accuracy 2/3: room on both sides
    for where in ("inside", "outside"):
        src = tmp_path / where / "src"
        cards = {name: iris_card(claim, ident=f"acme/{name}", evaluation=iris_eval(tol))
                 for name, (claim, tol) in _claims(truth, where).items()}
        for name, text in cards.items():
            _write(src / "acme" / name, {"card.yaml": text, "model.onnx": model})
        config = make_project(tmp_path / where / "proj", src, cache=tmp_path / "cache")
        if where == "inside":
            site = build_site(config, site_dir=tmp_path / "site")
            catalog, docs = _catalog(site), _docs(site)
            for name in cards:
                assert catalog[f"acme/{name}"]["evaluation"]["claims"][0]["tier"] == "verified", name
                assert docs[f"acme/{name}"]["metrics"][0]["tier"] == "verified"
                assert docs[f"acme/{name}"]["metrics"][0]["verified"] is True
            html = (site / "models" / "acme" / "default-up-inside" / "index.html").read_text()
            assert 'data-tier="verified"' in html and "✓ verified" in html
            continue
        with pytest.raises(SiteBuildFailed) as err:
            build_site(config, site_dir=tmp_path / "site-outside")
        text = str(err.value)
        for name, text_card in cards.items():
            claim, tol = _claims(truth, where)[name]
            line, col = _position(text_card, "    value: ")
            assert (f"{name}/card.yaml:{line}:{col}: $.metrics[0].value: claimed accuracy {claim:.4f} but the build "
                    f"measured {truth:.4f} on sklearn/iris (test, 45 rows)") in text, name
        assert text.count("claimed accuracy") == 4


@pytest.fixture()
def relu_project(tmp_path: Path):
    def make(cards: dict[str, str], name: str = "proj") -> Path:
        src = tmp_path / name / "src"
        for ident, text in cards.items():
            _write(src / "acme" / ident, {"card.yaml": text, "model.onnx": _relu_onnx(), "evaluate.py": OFFSET_SCRIPT})
        return make_project(tmp_path / name / "proj", src, cache=tmp_path / "cache")
    return make


def test_reproduced_claims_inside_the_tolerance_pass_and_outside_fail(tmp_path: Path, relu_project) -> None:
    """A script's data: reproduced (never verified) within the tolerance, an error beyond it; SHA-256 and rows published."""
    inside = {name: relu_card(f"acme/{name}", claim, tolerance=tol) for name, (claim, tol) in _claims(TRUE_MAE, "inside").items()}
    site = build_site(relu_project({n: t for n, t in inside.items()}, "inside"), site_dir=tmp_path / "site")
    # The SHA-256 of the eval.npz each card's script wrote (the build's data cache holds them).
    written = {hashlib.sha256(npz.read_bytes()).hexdigest() for npz in (tmp_path / "cache" / "eval-data").glob("*/eval.npz")}
    catalog, docs = _catalog(site), _docs(site)
    for name in inside:
        ev = catalog[f"acme/{name}"]["evaluation"]
        assert ev["claims"] == [{"name": "mae", "tier": "reproduced", "recomputed": pytest.approx(TRUE_MAE, abs=1e-6)}]
        assert ev["claims_verified"] == [False]
        assert ev["evaluated_data"]["sha256"] in written
        assert ev["evaluated_data"] == {"origin": "script", "rows": 64, "sha256": ev["evaluated_data"]["sha256"],
                                        "supplied_by": "the card's authors", "authors": ["Ada Example"]}
        assert docs[f"acme/{name}"]["metrics"][0]["tier"] == "reproduced"
        assert docs[f"acme/{name}"]["metrics"][0]["verified"] is False
    html = (site / "models" / "acme" / "default-up-inside" / "index.html").read_text()
    assert 'data-tier="reproduced"' in html and "✓ verified" not in html
    sha = catalog["acme/default-up-inside"]["evaluation"]["evaluated_data"]["sha256"]
    assert sha in html and "supplied by the card's authors, Ada Example, not chosen" in html

    outside = {name: relu_card(f"acme/{name}", claim, tolerance=tol)
               for name, (claim, tol) in _claims(TRUE_MAE, "outside").items()}
    with pytest.raises(SiteBuildFailed) as err:
        build_site(relu_project(outside, "outside"), site_dir=tmp_path / "site-outside")
    text = str(err.value)
    for name, card in outside.items():
        claim, _ = _claims(TRUE_MAE, "outside")[name]
        line, col = _position(card, "    value: ")
        assert (f"{name}/card.yaml:{line}:{col}: $.metrics[0].value: claimed mae {claim:.4f} but the build measured "
                f"{TRUE_MAE:.4f} on the data of evaluate.py (64 rows)") in text, name
    assert text.count("claimed mae") == 4


def test_a_script_evaluated_claim_is_reproduced_not_verified(tmp_path: Path, relu_project) -> None:
    """Regression (issue 10): a script writes both inputs and targets, so its claims came out `verified`."""
    site = build_site(relu_project({"honest": relu_card("acme/honest", TRUE_MAE, split="all 64")}), site_dir=tmp_path / "site")
    ev = _catalog(site)["acme/honest"]["evaluation"]
    assert ev["claims"][0]["tier"] == "reproduced" and ev["tiers"] == {"mae": "reproduced"}
    assert _docs(site)["acme/honest"]["metrics"][0] == {"name": "mae", "value": TRUE_MAE, "dataset": "acme/pairs",
                                                        "split": "all 64", "verified": False, "tier": "reproduced",
                                                        "measured": TRUE_MAE}


def test_a_claim_on_other_data_than_evaluated_fails_at_its_line(
        tmp_path: Path, relu_project, iris_models: dict[str, tuple[bytes, float]]) -> None:  # noqa: F811
    """Regression (issue 10): "accuracy on imagenet-1k (validation, 50,000 images)" from a 41-row script came out verified."""
    model, truth = iris_models["good"]
    imagenet = (iris_card(truth, ident="acme/imagenet")
                .replace("dataset: sklearn/iris\n    split: test", "dataset: imagenet-1k\n    split: test")
                .replace("datasets: [{id: sklearn/iris}]", "datasets: [{id: sklearn/iris}, {id: imagenet-1k}]"))
    train = iris_card(truth, ident="acme/train").replace("    split: test", "    split: train")
    src = tmp_path / "iris" / "src"
    for name, text in (("imagenet", imagenet), ("train", train)):
        _write(src / "acme" / name, {"card.yaml": text, "model.onnx": model})
    with pytest.raises(SiteBuildFailed) as err:
        build_site(make_project(tmp_path / "iris" / "proj", src, cache=tmp_path / "cache"), site_dir=tmp_path / "site")
    text = str(err.value)
    line, col = _position(imagenet, "    dataset: ")
    assert (f"imagenet/card.yaml:{line}:{col}: $.metrics[0].dataset: accuracy is claimed on imagenet-1k but the evaluation "
            "runs on sklearn/iris (test, 45 rows)\n  hint: claim the metric on the data the build evaluates "
            "(dataset: sklearn/iris, split: test), or evaluate on the dataset the claim names") in text
    line, col = _position(train, "    split: ")
    assert (f"train/card.yaml:{line}:{col}: $.metrics[0].split: accuracy is claimed on the split 'train' but the evaluation "
            "runs on sklearn/iris (test, 45 rows)\n  hint: set split: test") in text

    big = relu_card("acme/big", TRUE_MAE, dataset="imagenet-1k", split="validation, 50,000 images")
    packaged = relu_card("acme/packaged", TRUE_MAE, dataset="sklearn/iris", split="test")
    with pytest.raises(SiteBuildFailed) as err:
        build_site(relu_project({"big": big, "packaged": packaged}, "relu"), site_dir=tmp_path / "site")
    text = str(err.value)
    line, col = _position(big, "    split: ")
    assert (f"big/card.yaml:{line}:{col}: $.metrics[0].split: mae is claimed on 'validation, 50,000 images' (50,000 rows) "
            "but the evaluation runs on the data of evaluate.py (64 rows)\n  hint: state the 64 rows the build evaluates, "
            "or evaluate on the whole split the claim names") in text
    line, col = _position(packaged, "    dataset: ")
    assert (f"packaged/card.yaml:{line}:{col}: $.metrics[0].dataset: mae is claimed on sklearn/iris but the evaluation "
            "runs on the data of evaluate.py (64 rows), which its script wrote") in text


def test_a_cache_entry_that_fails_its_schema_is_recomputed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
        iris_models: dict[str, tuple[bytes, float]]) -> None:  # noqa: F811
    """An evaluation cache entry is used only if it passes ENTRY_SCHEMA; other evaluation code means another key."""
    model, truth = iris_models["good"]
    src = tmp_path / "src"
    _write(src / "acme" / "iris-check", {"card.yaml": iris_card(truth), "model.onnx": model})
    config = make_project(tmp_path / "proj", src, cache=tmp_path / "cache")
    caplog.set_level(logging.INFO)
    build_site(config, site_dir=tmp_path / "site")
    (entry,) = (tmp_path / "cache" / "evaluations").glob("*.json")
    damaged = json.loads(entry.read_text())
    damaged["metrics"] = {"accuracy": "0.9778"}  # a string where the schema wants a number
    entry.write_text(json.dumps(damaged))
    caplog.clear()
    site = build_site(config, site_dir=tmp_path / "site")
    assert "evaluation cache entry of acme/iris-check ignored" in caplog.text
    assert "$.metrics.accuracy: '0.9778' is not of type 'number'" in caplog.text
    assert "evaluation: 1 files evaluated, 0 from the cache" in caplog.text
    assert json.loads(entry.read_text())["metrics"]["accuracy"] == pytest.approx(truth, abs=1e-6)  # replaced
    assert _catalog(site)["acme/iris-check"]["evaluation"]["claims"][0]["tier"] == "verified"

    caplog.clear()
    build_site(config, site_dir=tmp_path / "site")
    assert "evaluation: 0 files evaluated, 1 from the cache" in caplog.text
    # Other evaluation code (its hash is part of the key): recomputed, with no number to bump.
    monkeypatch.setattr("modelshelf.generator.evaluate.stage.code_hash", lambda: "f" * 64)
    caplog.clear()
    build_site(config, site_dir=tmp_path / "site")
    assert "evaluation: 1 files evaluated, 0 from the cache" in caplog.text
