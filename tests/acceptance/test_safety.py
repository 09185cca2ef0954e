"""Hostile and broken models fail the build with a clear message at the card, and the build writes nothing.

Each test builds a throwaway project (test_build.make_project) holding one model. The ONNX files
come from tests/fixtures/onnx/make_onnx.py, written at test time. (The pickle renamed .onnx, the
Git LFS pointer and the 60-byte truncation are covered in test_build.py.)
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from modelshelf.generator.cli import main
from modelshelf.generator.site.build import SiteBuildFailed, build_site
from test_build import make_project

REPO = Path(__file__).resolve().parents[2]

CARD = textwrap.dedent('''\
    id: acme/guarded
    name: Guarded
    version: "1.0.0"
    summary: A model for the safety tests.
    description: A test model.
    task: tabular-regression
    license: MIT
    authors: [{name: Test}]
    framework: onnx
    source: {file: model.onnx}
    inputs: [{name: x, dtype: float32, shape: [2, 3]}]
    outputs: [{name: y, dtype: float32, shape: [2, 3]}]
''')


@pytest.fixture(scope="module")
def make():
    spec = importlib.util.spec_from_file_location("make_onnx", REPO / "tests" / "fixtures" / "onnx" / "make_onnx.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def project(tmp_path: Path, card: str, files: dict[str, bytes | str]) -> tuple[Path, Path]:
    """A project whose only model is acme/guarded with these files; returns (mkdocs.yml, the model's folder)."""
    src = tmp_path / "src" / "acme" / "guarded"
    src.mkdir(parents=True)
    (src / "card.yaml").write_text(card)
    for name, content in files.items():
        (src / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    config = make_project(tmp_path / "proj", tmp_path / "src", cache=tmp_path / "cache")
    return config, tmp_path / "proj" / "models" / "acme" / "guarded"


def build_fails(tmp_path: Path, config: Path) -> str:
    """Build, expect failure, check nothing was written; return the message."""
    with pytest.raises(SiteBuildFailed) as err:
        build_site(config, site_dir=tmp_path / "site")
    assert not (tmp_path / "site").exists(), "a failed build writes no site"
    assert not [p for p in tmp_path.iterdir() if ".building-" in p.name], "no staging folder is left behind"
    return str(err.value)


def external(location: str) -> dict[str, str]:
    return {"location": location, "offset": "0", "length": "24"}


# ---------------------------------------------------------------- what the file says

@pytest.mark.parametrize("kind, message", [
    ("dotdot", "initializer 'w' keeps its data at '../x.bin', outside the model's folder"),
    ("absolute", "initializer 'w' keeps its data at the absolute path '{outside}'"),
    ("symlink", "initializer 'w' keeps its data in 'w.bin', which is a symbolic link"),
    ("hardlink", "initializer 'w' keeps its data in 'w.bin', a file with 2 hard links"),
])
def test_external_data_must_stay_in_the_model_folder(make, tmp_path: Path, kind: str, message: str) -> None:
    outside = tmp_path / "secret.bin"
    outside.write_bytes(np.ones(6, np.float32).tobytes())
    location = {"dotdot": "../x.bin", "absolute": str(outside)}.get(kind, "w.bin")
    config, folder = project(tmp_path, CARD, {"model.onnx": make.add_model(external(location)).SerializeToString()})
    # Links are made in the project itself: copying the model folder would have replaced them with plain files.
    if kind == "dotdot":
        (folder.parent / "x.bin").write_bytes(outside.read_bytes())
    elif kind == "symlink":
        (folder / "w.bin").symlink_to(outside)
    elif kind == "hardlink":
        os.link(outside, folder / "w.bin")
    text = build_fails(tmp_path, config)
    assert f"card.yaml:10:9: $.source: {message.format(outside=outside)}" in text, text
    assert "hint: " in text


def test_inconsistent_initializer(make, tmp_path: Path) -> None:
    config, _ = project(tmp_path, CARD, {"model.onnx": make.inconsistent_model().SerializeToString()})
    text = build_fails(tmp_path, config)
    assert "card.yaml:10:9: $.source: initializer 'w' has 12 bytes of data, but its shape [2, 3] of float32 needs 24" in text, text
    assert "the initializer is inconsistent" in text


def test_truncated_file(make, tmp_path: Path) -> None:
    data = make.add_model().SerializeToString()
    config, _ = project(tmp_path, CARD, {"model.onnx": data[:-20]})
    text = build_fails(tmp_path, config)
    assert "card.yaml:10:9: $.source: the ONNX file is not a valid model: its protobuf cannot be parsed" in text, text
    assert "the file is truncated or corrupt" in text


def test_custom_domain(make, tmp_path: Path) -> None:
    config, _ = project(tmp_path, CARD, {"model.onnx": make.custom_domain_model().SerializeToString()})
    text = build_fails(tmp_path, config)
    assert "$.source: the graph uses operators from the custom domain 'org.acme' (Frobnicate), which onnxruntime does not know" in text


# ---------------------------------------------------------------- what the file does when run

BOMB_CARD = CARD.replace("shape: [2, 3]}]\noutputs", "shape: [1]}]\noutputs").replace(
    "outputs: [{name: y, dtype: float32, shape: [2, 3]}]", "outputs: [{name: y, dtype: float32, shape: [null, null]}]")


def test_tiny_model_that_needs_gigabytes_fails_cleanly(make, tmp_path: Path) -> None:
    bomb = make.bomb_model().SerializeToString()
    assert len(bomb) < 200
    config, _ = project(tmp_path, BOMB_CARD, {"model.onnx": bomb})
    start = time.monotonic()
    text = build_fails(tmp_path, config)
    assert time.monotonic() - start < 60, "the build returns within the smoke run's time limit"
    assert ("card.yaml:10:9: $.source: the model needs more than 2048 MB when run on zeros of the declared input shapes "
            "(limit of the smoke run: 2048 MB); it asked for 16.0 GB at once") in text, text
    assert "smoke_memory_mb" in text


# ---------------------------------------------------------------- parity and variants (recipes)

RELU_CARD = textwrap.dedent('''\
    id: acme/guarded
    name: Guarded
    version: "1.0.0"
    summary: A model for the safety tests.
    description: A recipe-built test model.
    task: tabular-regression
    license: MIT
    authors: [{name: Test}]
    framework: pytorch
    source: {recipe: recipe.py}
    inputs: [{name: x, dtype: float32, shape: [null, 2]}]
    outputs: [{name: y, dtype: float32, shape: [null, 2]}]
    examples:
      - name: zeros
        inputs: {x: [[0.0, 0.0]]}
      - name: mixed
        inputs: {x: [[-1.0, 2.0]]}
''')

RELU_RECIPE = textwrap.dedent('''\
    import json, sys
    from pathlib import Path
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def relu_plus(shift, producer):
        b = numpy_helper.from_array(np.full((1, 2), shift, dtype=np.float32), name="b")
        graph = helper.make_graph([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["r", "b"], ["y"])], "relu",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])], initializer=[b])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name=producer)
        model.ir_version = 8
        return model

    out = Path(sys.argv[1])
    onnx.save(relu_plus(0.0, "main"), str(out / "model.onnx"))
    VARIANTS = {}
    PARITY = None
    for name, shift in VARIANTS.items():
        onnx.save(relu_plus(shift, name), str(out / f"model.{name}.onnx"))
    if PARITY is not None:
        (out / "parity.json").write_text(json.dumps(PARITY))
''')


def relu_recipe(variants: dict[str, float] | None = None, parity: dict | None = None) -> str:
    return RELU_RECIPE.replace("VARIANTS = {}", f"VARIANTS = {variants or {}!r}").replace("PARITY = None", f"PARITY = {parity!r}")


def test_parity_worse_than_the_tolerance(tmp_path: Path) -> None:
    card = RELU_CARD + "parity: {tolerance: 0.0001}\n"
    config, _ = project(tmp_path, card, {"recipe.py": relu_recipe(parity={"max_abs_diff": 0.5, "top1_agreement": 1.0, "n": 10})})
    text = build_fails(tmp_path, config)
    assert ("card.yaml:18:9: $.parity: the ONNX model differs from its pytorch source by up to 0.5 on 10 inputs "
            "(max_abs_diff in parity.json), more than the tolerance 0.0001") in text, text


def test_parity_within_the_tolerance_is_recorded(tmp_path: Path) -> None:
    config, _ = project(tmp_path, RELU_CARD, {"recipe.py": relu_recipe(parity={"max_abs_diff": 2e-7, "n": 10})})
    site = build_site(config, site_dir=tmp_path / "site")
    assert (site / "models" / "acme" / "guarded" / "index.html").is_file()
    from modelshelf.generator.export.stage import export_models

    [entry] = export_models(tmp_path / "proj" / "models", cache_dir=tmp_path / "cache")
    report = entry.export
    assert report.main.parity.max_abs_diff == 2e-7 and report.main.parity.tolerance == 1e-4
    assert report.main.operators == {"Relu": 1, "Add": 1} and report.main.parameters == 2
    assert report.cached, "the second run of the same model does no export work"


PERTURB_CARD = textwrap.dedent('''\
    id: acme/guarded
    name: Guarded
    version: "1.0.0"
    summary: A model for the safety tests.
    description: An MLP whose exported weights were changed after training.
    task: tabular-classification
    license: MIT
    authors: [{name: Test}]
    framework: scikit-learn
    source: {recipe: recipe.py}
    inputs: [{name: float_input, dtype: float32, shape: [null, 4]}]
    outputs:
      - {name: label, dtype: int64, shape: [null]}
      - {name: probabilities, dtype: float32, shape: [null, 3]}
    examples:
      - inputs: {float_input: [[5.1, 3.5, 1.4, 0.2]]}
''')

PERTURB_RECIPE = textwrap.dedent('''\
    """Train an MLP on iris, export it, then perturb one weight matrix of the ONNX file before measuring parity."""
    import json, sys, warnings
    from pathlib import Path
    import numpy as np, onnxruntime as ort
    from onnx import numpy_helper
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier

    out = Path(sys.argv[1])
    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    warnings.simplefilter("ignore")
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0).fit(X, y)
    onx = convert_sklearn(clf, initial_types=[("float_input", FloatTensorType([None, 4]))],
                          target_opset={"": 17, "ai.onnx.ml": 3}, options={id(clf): {"zipmap": False}})
    for init in onx.graph.initializer:
        if init.name == "coefficient1":  # the output layer: nudge it towards class 0
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + np.array([0.05, 0.0, 0.0], np.float32), init.name))
    (out / "model.onnx").write_bytes(onx.SerializeToString())
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    label, proba = session.run(None, {"float_input": X})
    parity = {"max_abs_diff": float(np.max(np.abs(proba - clf.predict_proba(X)))),
              "top1_agreement": float(np.mean(label == clf.predict(X))), "n": len(X)}
    (out / "parity.json").write_text(json.dumps(parity))
''')


def test_perturbed_weights_fail_parity_with_the_source(tmp_path: Path) -> None:
    """A real export whose ONNX weights no longer match the trained scikit-learn model."""
    pytest.importorskip("skl2onnx")
    config, _ = project(tmp_path, PERTURB_CARD, {"recipe.py": PERTURB_RECIPE})
    text = build_fails(tmp_path, config)
    parity = json.loads(next((tmp_path / "cache").rglob("parity.json")).read_text())
    assert parity["max_abs_diff"] > 0.01 and parity["top1_agreement"] < 1.0
    assert (f"card.yaml:10:9: $.source: the ONNX model differs from its scikit-learn source by up to {parity['max_abs_diff']:.3g} "
            "on 150 inputs (max_abs_diff in parity.json), more than the tolerance 0.0001") in text, text
    assert (f"$.source: the ONNX model agrees with its scikit-learn source on the top-1 class for {parity['top1_agreement']:.4g} "
            "of 150 inputs (top1_agreement in parity.json), less than min_top1_agreement 1") in text, text


def test_variant_that_disagrees_with_the_main_model(tmp_path: Path) -> None:
    card = RELU_CARD + "variants:\n  - {name: same}\n  - {name: shifted, tolerance: 0.01}\n"
    config, _ = project(tmp_path, card, {"recipe.py": relu_recipe(variants={"same": 0.0, "shifted": 0.5})})
    text = build_fails(tmp_path, config)
    assert ("card.yaml:20:5: $.variants[1]: variant 'shifted' differs from the main model by 0.5 "
            "(output 'y' on example 1 ('zeros')), more than its tolerance 0.01") in text, text
    assert "variants[0]" not in text


def test_variant_that_agrees_is_published(tmp_path: Path) -> None:
    card = RELU_CARD + "variants:\n  - {name: same, description: the same graph from another producer}\n"
    config, _ = project(tmp_path, card, {"recipe.py": relu_recipe(variants={"same": 0.0})})
    site = build_site(config, site_dir=tmp_path / "site")
    files = json.loads((site / "catalog.json").read_text())["models"][0]["files"]
    assert [f["name"] for f in files if f["kind"] == "onnx"] == ["guarded.onnx", "guarded.same.onnx"]
    variant = next(f for f in files if f["name"] == "guarded.same.onnx")
    assert (site / variant["url"]).is_file() and variant["sha256"][:12] in variant["url"]


def test_missing_variant_file(tmp_path: Path) -> None:
    card = RELU_CARD + "variants:\n  - {name: int8}\n"
    config, _ = project(tmp_path, card, {"recipe.py": relu_recipe()})
    text = build_fails(tmp_path, config)
    assert "card.yaml:19:5: $.variants[0]: variant 'int8': the recipe wrote no model.int8.onnx" in text, text


# ---------------------------------------------------------------- modelshelf export

def test_export_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make) -> None:
    card = RELU_CARD + "variants:\n  - {name: same}\n"
    project(tmp_path, card, {"recipe.py": relu_recipe(variants={"same": 0.0}, parity={"max_abs_diff": 0.0, "n": 4})})
    bad = tmp_path / "proj" / "models" / "acme" / "bomb"
    bad.mkdir()
    (bad / "card.yaml").write_text(BOMB_CARD.replace("acme/guarded", "acme/bomb"))
    (bad / "model.onnx").write_bytes(make.bomb_model().SerializeToString())
    monkeypatch.chdir(tmp_path / "proj")
    args = ["export", "--cache-dir", str(tmp_path / "cache")]

    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "models/acme/bomb/card.yaml:10:9: $.source: the model needs more than 2048 MB" in result.output, result.output

    result = CliRunner().invoke(main, [*args, "acme/guarded"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "acme/guarded" in lines
    assert any(line.split()[:1] == ["guarded.onnx"] and "max diff 0" in line and line.endswith("yes") for line in lines), result.output
    assert any(line.split()[:1] == ["guarded.same.onnx"] for line in lines), result.output

    result = CliRunner().invoke(main, [*args, "acme/nope"])
    assert result.exit_code == 1 and "no model 'acme/nope'" in result.output


PAD_CARD = CARD.replace("inputs: [{name: x, dtype: float32, shape: [2, 3]}]", "inputs: [{name: x, dtype: float32, shape: [1, samples]}]").replace(
    "outputs: [{name: y, dtype: float32, shape: [2, 3]}]", "outputs: [{name: y, dtype: float32, shape: [1, samples]}]")


def test_made_up_zeros_that_the_model_refuses_are_not_a_failure(make, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Regression: silero-vad has no examples and refuses a one-sample frame of zeros; it loads fine, so the build goes on."""
    from modelshelf.generator.export.stage import ZEROS, export_models

    project(tmp_path, PAD_CARD, {"model.onnx": make.reflect_pad_model().SerializeToString()})
    [entry] = export_models(tmp_path / "proj" / "models", cache_dir=tmp_path / "cache")
    record = entry.export.main
    assert record.smoke_input == ZEROS and record.smoke_note and "Pad reflect requires axis length" in record.smoke_note
    assert "refused the made-up input" in caplog.text and "add an example" in caplog.text


def test_an_example_the_model_refuses_is_a_failure(make, tmp_path: Path) -> None:
    card = PAD_CARD + "examples:\n  - name: one sample\n    inputs: {x: [[0.5]]}\n"
    config, _ = project(tmp_path, card, {"model.onnx": make.reflect_pad_model().SerializeToString()})
    text = build_fails(tmp_path, config)
    assert "card.yaml:10:9: $.source: onnxruntime failed to run the model on example 1 ('one sample'): Pad node: " in text, text
    assert build_fails(tmp_path, config) == text, "the same failure again, from the smoke-run cache"
    assert list((tmp_path / "cache" / "smoke").iterdir())


def test_committed_variant_file_must_stay_in_the_model_folder(make, tmp_path: Path) -> None:
    card = CARD + "variants:\n  - {name: copy, file: ../elsewhere.onnx}\n  - {name: same, file: same.onnx}\n"
    model = make.add_model().SerializeToString()
    config, _ = project(tmp_path, card, {"model.onnx": model, "same.onnx": model})
    text = build_fails(tmp_path, config)
    assert "card.yaml:14:24: $.variants[0].file: '../elsewhere.onnx' points outside the model folder" in text, text
    assert "variants[1]" not in text


# ---------------------------------------------------------------- examples are reproduced

EXAMPLE = ("examples:\n"
           "  - name: ones\n"
           "    inputs: {x: [[1, 1, 1], [2, 2, 2]]}\n"
           "    outputs: {y: [[2, 2, 2], [3, 3, 3.00001]]}\n"
           "  - name: zeros\n"
           "    inputs: {x: [[0, 0, 0], [0, 0, 0]]}\n"
           "    outputs: {y: [[1, 1, 1], [1, 1, %s]]}\n"
           "    tolerance: 0.01\n")


def test_an_example_output_the_model_does_not_reproduce_fails_the_build(make, tmp_path: Path) -> None:
    """Regression (issue 8): digits-cnn retrained on another CPU was published with examples it no longer matched."""
    config, _ = project(tmp_path, CARD + EXAMPLE % "1.5", {"model.onnx": make.add_model().SerializeToString()})
    text = build_fails(tmp_path, config)
    assert ("card.yaml:19:18: $.examples[1].outputs.y: example 2 ('zeros'): the published model gives "
            "y = [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]], which differs from the card by up to 0.5 (tolerance 0.01)") in text, text
    assert "examples[0]" not in text, "an example within its tolerance is not reported"
    assert "never publishes a model whose examples it did not reproduce" in text


def test_examples_within_their_tolerance_are_published(make, tmp_path: Path) -> None:
    config, _ = project(tmp_path, CARD + EXAMPLE % "1.009", {"model.onnx": make.add_model().SerializeToString()})
    build_site(config, site_dir=tmp_path / "site")
    assert (tmp_path / "site" / "models" / "acme" / "guarded" / "index.html").is_file()
