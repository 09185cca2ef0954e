"""`modelshelf validate` as contributors meet it (issue 11, item 4): --format github, --strict, and the ZipMap pitfall.

Regression: a classifier converted with skl2onnx's ZipMap on led through an outputs-name error, then a dtype error
whose hint (`set dtype: type0`) validate itself rejects, and nothing mentioned zipmap.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from modelshelf.catalog.validate import SCAFFOLD_AUTHOR, SCAFFOLD_DESCRIPTION, SCAFFOLD_SUMMARY, ZIPMAP_HINT
from modelshelf.generator.cli import main


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`modelshelf new acme/iris` in an empty folder (the working directory); returns the card."""
    monkeypatch.chdir(tmp_path)
    result = run("new", "acme/iris")
    assert result.exit_code == 0, result.output
    return tmp_path / "models" / "acme" / "iris" / "card.yaml"


def _fill_in(card: Path) -> None:
    text = card.read_text()
    card.write_text(text.replace(SCAFFOLD_SUMMARY, "Iris species from four measurements.")
                    .replace(SCAFFOLD_DESCRIPTION, "Logistic regression on iris.").replace(SCAFFOLD_AUTHOR, "Ada Lovelace"))


def test_scaffold_placeholders_warn_and_fail_only_with_strict(fresh: Path) -> None:
    result = run("validate", "--cards-only")
    assert result.exit_code == 0, result.output
    assert "models/acme/iris/card.yaml:12:11: warning: $.authors[0].name: author 'Your Name' is the placeholder" in result.output
    assert "1 card valid (3 warnings)" in result.output
    strict = run("validate", "--cards-only", "--strict")
    assert strict.exit_code == 1, strict.output
    _fill_in(fresh)
    assert run("validate", "--cards-only", "--strict").exit_code == 0


def test_github_format_annotates_errors_and_warnings(fresh: Path) -> None:
    fresh.write_text(fresh.read_text().replace("license: Apache-2.0", "license: MITT"))
    result = run("validate", "--cards-only", "--format", "github")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert ("::error file=models/acme/iris/card.yaml,line=10,col=10,title=modelshelf%3A $.license::"
            "'MITT' is not a known SPDX licence id%0Ahint: did you mean 'MIT'?") in lines
    assert any(line.startswith("::warning file=models/acme/iris/card.yaml,line=12,col=11,") for line in lines)
    assert lines[-2:] == ["3 warnings in 1 file", "1 problem in 1 file"]


def test_text_format_of_a_plain_error_is_unchanged(fresh: Path) -> None:
    _fill_in(fresh)
    fresh.write_text(fresh.read_text().replace("license: Apache-2.0", "license: MITT"))
    result = run("validate", "--cards-only")
    assert result.output == ("models/acme/iris/card.yaml:10:10: $.license: 'MITT' is not a known SPDX licence id\n"
                             "  hint: did you mean 'MIT'?\n1 problem in 1 file\n")


def _zipmap_model(folder: Path) -> None:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=500).fit(x, y)
    onx = to_onnx(clf, x[:1].astype(np.float32), target_opset=17)  # ZipMap on: skl2onnx's default for classifiers
    onx.graph.input[0].name = "float_input"
    for node in onx.graph.node:
        node.input[:] = ["float_input" if name == "X" else name for name in node.input]
    (folder / "model.onnx").write_bytes(onx.SerializeToString())


def test_zipmap_left_on_is_named_with_the_option_that_fixes_it(fresh: Path) -> None:
    _fill_in(fresh)
    _zipmap_model(fresh.parent)
    fresh.write_text(fresh.read_text().replace("  recipe: recipe.py", "  file: model.onnx"))
    for outputs in (None, ("output_label", "output_probability")):  # as scaffolded, then as the old hint said
        if outputs is not None:
            fresh.write_text(fresh.read_text().replace("name: label", f"name: {outputs[0]}")
                             .replace("name: probabilities", f"name: {outputs[1]}"))
        result = run("validate")
        assert result.exit_code == 1, result.output
        assert result.output.splitlines()[0] == (
            "models/acme/iris/card.yaml:27:3: $.outputs: the ONNX graph's output 'output_probability' is a sequence of maps "
            "(skl2onnx's ZipMap), not a tensor: neither a card nor onnxruntime-web in the browser can read it")
        assert f"  hint: {ZIPMAP_HINT}" in result.output
        assert 'options={id(model): {"zipmap": False}}' in result.output and "type0" not in result.output
        assert result.output.splitlines()[-1] == "1 problem in 1 file"
