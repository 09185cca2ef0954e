"""Recomputed metrics, latency and insight, end to end: real builds of small throwaway catalogs.

The models are trained here (scikit-learn on iris, well under a second) and committed into the
throwaway model folders as `source: {file: model.onnx}`, so no recipe has to run.
"""
from __future__ import annotations

import json
import logging
import re
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from modelshelf.generator.site.build import SiteBuildFailed, build_site

from test_build import REPO, make_project

HOSTILE_FEATURE = "<script>alert('feature')</script>"
HOSTILE_LABEL = "<img src=x onerror=alert('label')>"


def _skl_onnx(model, width: int) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onx = convert_sklearn(model, initial_types=[("X", FloatTensorType([None, width]))], target_opset=17,
                          options={id(model): {"zipmap": False}})
    versions: dict[str, int] = {}
    for op in onx.opset_import:
        versions[op.domain] = max(versions.get(op.domain, 0), op.version)
    del onx.opset_import[:]
    for domain, version in sorted(versions.items()):
        onx.opset_import.add(domain=domain, version=version)
    return onx.SerializeToString()


@pytest.fixture(scope="module")
def iris_models() -> dict[str, tuple[bytes, float]]:
    """A weak (one-split tree) and a good (logistic regression) iris classifier: ONNX bytes and true test accuracy."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    out = {}
    for name, clf in (("weak", DecisionTreeClassifier(max_depth=1, random_state=0)), ("good", LogisticRegression(max_iter=1000))):
        clf.fit(X_train, y_train)
        out[name] = (_skl_onnx(clf, 4), float(np.mean(clf.predict(X_test) == y_test)))
    return out


def iris_card(claim: float | None, *, ident: str = "acme/iris-check", evaluation: str | None = None,
              variants: str = "", metric: str = "accuracy") -> str:
    evaluation = evaluation if evaluation is not None else textwrap.dedent("""\
        evaluation:
          dataset: sklearn/iris
          split: {test_size: 0.3, seed: 0, stratify: true}
          metrics: [accuracy, f1_macro]
        """)
    metrics = "" if claim is None else textwrap.dedent(f"""\
        metrics:
          - name: {metric}
            value: {claim:.4f}
            dataset: sklearn/iris
            split: test
        """)
    return textwrap.dedent(f"""\
        id: {ident}
        name: Iris check
        version: "1.0.0"
        summary: An iris classifier whose claims the build checks.
        description: A test model.
        task: tabular-classification
        license: MIT
        authors: [{{name: Test}}]
        datasets: [{{id: sklearn/iris}}]
        framework: scikit-learn
        source: {{file: model.onnx}}
        inputs:
          - name: X
            dtype: float32
            shape: [null, 4]
            kind: tabular
            features: ["{HOSTILE_FEATURE}", sepal width, petal length, petal width]
        outputs:
          - {{name: label, dtype: int64, shape: [null], kind: label}}
          - {{name: probabilities, dtype: float32, shape: [null, 3], kind: scores}}
        labels: ["{HOSTILE_LABEL}", versicolor, virginica]
        examples:
          - inputs: {{X: [[5.1, 3.5, 1.4, 0.2]]}}
        """) + metrics + evaluation + variants


RELU = textwrap.dedent("""\
    id: acme/relu-script
    name: Relu with an evaluation script
    version: "1.0.0"
    summary: Clips negatives to zero; evaluated by its own script.
    description: A test model.
    task: tabular-regression
    license: MIT
    authors: [{name: Test}]
    datasets: [{id: acme/pairs}]
    framework: onnx
    source: {file: model.onnx}
    inputs: [{name: x, dtype: float32, shape: [null, 2]}]
    outputs: [{name: y, dtype: float32, shape: [null, 2]}]
    examples: [{inputs: {x: [[1.0, -1.0]]}}]
    metrics:
      - {name: cosine_agreement, value: 1.0, dataset: acme/pairs}
    evaluation:
      script: evaluate.py
      metrics: [cosine_agreement, mae]
    """)

EVAL_SCRIPT = textwrap.dedent("""\
    import os, sys
    from pathlib import Path
    import numpy as np
    print("ran")  # the sandbox keeps a script from writing anywhere else than its OUTDIR
    x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    x[:, 0] = np.abs(x[:, 0]) + 0.1  # no all-negative row: a zero vector has no direction (cosine 0, as in sklearn)
    y = np.maximum(x, 0)
    np.savez(Path(sys.argv[1]) / "eval.npz", **{"input.x": x, "target": y, "reference": y})
    """)


def _relu_onnx() -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _write(folder: Path, files: dict[str, str | bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())


def _position(card_text: str, line_start: str) -> tuple[int, int]:
    """1-based line and column of the value after `line_start` (e.g. '    value: ')."""
    for i, line in enumerate(card_text.splitlines(), start=1):
        if line.startswith(line_start):
            return i, len(line_start) + 1
    raise AssertionError(f"{line_start!r} not in the card")


def _evaluated(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "modelshelf.generator.evaluate.stage" and r.getMessage().startswith("evaluated ")]


def test_overclaim_fails_the_build_then_a_true_claim_passes_from_the_cache(
        tmp_path: Path, iris_models: dict[str, tuple[bytes, float]], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    weak, truth = iris_models["weak"]
    good, good_truth = iris_models["good"]
    src = tmp_path / "src"
    variants = "variants:\n  - {name: logreg, file: model.logreg.onnx, description: logistic regression, tolerance: 1.0}\n"
    card = iris_card(truth + 0.2, variants=variants)
    _write(src / "acme" / "iris-check", {"card.yaml": card, "model.onnx": weak, "model.logreg.onnx": good})
    _write(src / "acme" / "relu-script", {"card.yaml": RELU, "model.onnx": _relu_onnx(), "evaluate.py": EVAL_SCRIPT})
    config = make_project(tmp_path / "proj", src, cache=tmp_path / "cache")
    caplog.set_level(logging.INFO)

    # 1. Claimed accuracy 0.2 above the truth: the build fails, names both numbers at the claim's line, writes nothing.
    with pytest.raises(SiteBuildFailed) as err:
        build_site(config, site_dir=tmp_path / "site")
    line, col = _position(card, "    value: ")
    expected = (f"card.yaml:{line}:{col}: $.metrics[0].value: claimed accuracy {truth + 0.2:.4f} but the build measured "
                f"{truth:.4f} on sklearn/iris (test, 45 rows)\n  hint: set value: {truth:.4f} or fix the model")
    assert expected in str(err.value)
    assert not (tmp_path / "site").exists()
    assert [p.name for p in tmp_path.iterdir() if ".building-" in p.name] == []
    assert len(_evaluated(caplog)) == 3, _evaluated(caplog)  # the main file, its variant, the script model
    assert caplog.text.count("evaluation script of acme/relu-script took") == 1

    # 2. The true claim passes; nothing is evaluated again (claims are not part of the cache key).
    caplog.clear()
    (tmp_path / "proj" / "models" / "acme" / "iris-check" / "card.yaml").write_text(iris_card(truth, variants=variants))
    site = build_site(config, site_dir=tmp_path / "site")
    assert _evaluated(caplog) == []
    assert "evaluation: 0 files evaluated, 3 from the cache" in caplog.text
    assert "evaluation script of acme/relu-script took" not in caplog.text, "the evaluation script's output comes from the cache"

    html = (site / "models" / "acme" / "iris-check" / "index.html").read_text()
    assert f'data-metric="accuracy">{truth:.4f}</span>' in html
    assert "✓ verified" in html
    assert f'data-metric="f1_macro">' in html  # measured though not claimed
    assert "Measured on the build machine" in html and "ms-latency-median" in html
    # Insight: operator chart, importance with the card's feature names, confusion matrix with its labels; all escaped.
    assert html.count('role="img"') == 3
    assert "Permutation feature importance" in html and "Confusion matrix" in html
    assert "&lt;script&gt;alert(&#x27;feature&#x27;)&lt;/script&gt;" in html
    assert "<script>alert('feature')" not in html and "<img src=x" not in html
    # Variants side by side: the variant's accuracy and its difference from the main file.
    assert "Variants" in html and "logreg" in html
    assert f"{good_truth:.4f} ({good_truth - truth:+.4f})" in html

    relu = (site / "models" / "acme" / "relu-script" / "index.html").read_text()
    assert 'data-metric="cosine_agreement">1.0000</span>' in relu
    assert 'data-metric="mae">0.0000</span>' in relu
    assert "the data of evaluate.py (64 rows)" in relu

    catalog = {m["id"]: m for m in json.loads((site / "catalog.json").read_text())["models"]}
    iris = catalog["acme/iris-check"]
    assert iris["evaluation"]["metrics"]["accuracy"] == pytest.approx(truth, abs=1e-6)
    assert iris["evaluation"]["claims_verified"] == [True]
    assert iris["evaluation"]["variants"]["logreg"]["metrics"]["accuracy"] == pytest.approx(good_truth, abs=1e-6)
    assert iris["latency"]["median_ms"] > 0 and iris["latency"]["threads"] == 1
    docs = {d["id"]: d for d in json.loads((site / "search" / "docs.json").read_text())["models"]}
    assert docs["acme/iris-check"]["metrics"][0]["verified"] is True
    assert docs["acme/relu-script"]["verified_metrics"]["cosine_agreement"] == pytest.approx(1.0)


def test_every_evaluation_problem_is_reported_in_one_run(tmp_path: Path, iris_models: dict[str, tuple[bytes, float]]) -> None:
    good, truth = iris_models["good"]
    src = tmp_path / "src"
    cards = {
        # a claim on packaged data that the card gives the build no way to verify
        "no-eval": iris_card(truth, ident="acme/no-eval", evaluation=""),
        # a dataset the build does not know
        "typo": iris_card(None, ident="acme/typo", evaluation="evaluation:\n  dataset: sklearn/irsi\n  metrics: [accuracy]\n"),
        # a metric that does not fit: binary F1 on three classes
        "f1": iris_card(None, ident="acme/f1", evaluation="evaluation:\n  dataset: sklearn/iris\n  metrics: [accuracy, f1]\n"),
    }
    for name, text in cards.items():
        _write(src / "acme" / name, {"card.yaml": text, "model.onnx": good})
    config = make_project(tmp_path / "proj", src, cache=tmp_path / "cache")
    with pytest.raises(SiteBuildFailed) as err:
        build_site(config, site_dir=tmp_path / "site")
    text = str(err.value)
    line, col = _position(cards["no-eval"], "  - name: accuracy")
    col = 5
    assert (f"no-eval/card.yaml:{line}:{col}: $.metrics[0]: accuracy on sklearn/iris is claimed but the card has no "
            "evaluation, so the build cannot verify it") in text
    assert ("hint: add evaluation: {dataset: sklearn/iris, split: {test_size: 0.3, seed: 0, stratify: true}, metrics: [accuracy]} "
            "with the split the model was tested on") in text
    assert "$.evaluation.dataset: 'sklearn/irsi' is not a built-in evaluation dataset\n  hint: did you mean 'sklearn/iris'?" in text
    assert ("$.evaluation.metrics[1]: f1 is for two classes (0 and 1, with 1 positive); the targets and predictions hold 3 classes\n"
            "  hint: these metrics are for two classes; for more, use f1_macro or accuracy") in text
    assert not (tmp_path / "site").exists()


def test_builtin_datasets_split_and_shape_as_the_recipes_do() -> None:
    """The digits CNN takes [N, 1, 8, 8] scaled by 1/16; the card's scale step and shape say so."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from modelshelf.catalog.model import Card, Step, Tensor
    from modelshelf.generator.evaluate.datasets import Split, load_builtin

    def card(shape: tuple, steps: tuple = ()) -> Card:
        return Card(id="a/b", name="b", version="1.0.0", summary="", description="", task="image-classification",
                    license="MIT", authors=(), framework="pytorch", source=None, inputs=(Tensor("image", "float32", shape),),
                    outputs=(), folder=Path("."), card_path=Path("card.yaml"), preprocessing=steps)

    split = Split(0.3, 0, True)
    cnn = load_builtin(card(("batch", 1, 8, 8), (Step("scale", (("factor", 0.0625),)),)), "sklearn/digits", split)
    data = load_digits()
    X = (data.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    _, X_test, _, y_test = train_test_split(X, data.target, test_size=0.3, stratify=data.target, random_state=0)
    assert cnn.inputs["image"].shape == (540, 1, 8, 8) and cnn.inputs["image"].dtype == np.float32
    assert np.array_equal(cnn.inputs["image"], X_test) and np.array_equal(cnn.target, y_test)
    assert cnn.label == "sklearn/digits (test, 540 rows)"
    flat = load_builtin(card((None, 64)), "sklearn/digits", split)
    assert flat.inputs["image"].shape == (540, 64) and flat.inputs["image"].max() == 16.0


def test_error_reference_documents_the_evaluation_messages() -> None:
    doc = (REPO / "docs" / "reference" / "errors.md").read_text()
    for phrase in ["but the build measured", "is claimed but the card has no evaluation", "is not a built-in evaluation dataset",
                   "is for two classes", "evaluation needs a dataset or a script", "wrote no eval.npz"]:
        assert phrase in doc, phrase
    assert re.search(r"sklearn/diabetes-scaled", doc)
