"""`modelshelf validate` checks a card against its ONNX file when the file is at hand (issue 9, item 3).

"N cards valid" must mean the build will accept them: a wrong example value, a wrong input name and a
wrong shape each fail `validate` at the card's line, with the value the model gave, as the build does.
A recipe that has not run yet is reported as not checked against a file.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelshelf.generator.cli import main
from modelshelf.generator.site.build import SiteBuildFailed, build_site
from test_build import CARD, REPO, make_project

VALID = REPO / "tests" / "fixtures" / "cards" / "valid" / "models"


def _validate(cwd: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(main, ["validate", "--cache-dir", str(cwd / "cache")], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda t: t.replace("      y: [[1.0, 1.0]]", "      y: [[1.0, 2.0]]"),
     "card.yaml:46:10: $.examples[0].outputs.y: example 1 ('zeros'): the published model gives y = [[1.0, 1.0]], "
     "which differs from the card by up to 1"),
    (lambda t: t.replace("  - name: x\n", "  - name: features\n").replace("      x: [[0.0, 0.0]]", "      features: [[0.0, 0.0]]"),
     "card.yaml:23:3: $.inputs: inputs ['features'] do not match the ONNX graph's ['x']\n"
     "  hint: list the graph's inputs in its order: x"),
    (lambda t: t.replace("    shape: [batch, 2]\n    kind: tabular", "    shape: [batch, 3]\n    kind: tabular"),
     "card.yaml:25:12: $.inputs[0].shape: x has shape [batch, 2] in the ONNX graph, not ['batch', 3]\n"
     "  hint: set shape: [batch, 2]"),
])
def test_a_card_that_disagrees_with_its_file_fails_validate_and_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                           edit, expected: str) -> None:
    shutil.copytree(VALID, tmp_path / "models")
    card = tmp_path / "models" / "acme" / "tiny-add" / "card.yaml"
    card.write_text(edit(card.read_text()))
    code, output = _validate(tmp_path, monkeypatch)
    assert code == 1 and expected in output, output
    config = make_project(tmp_path / "proj", tmp_path / "models", cache=tmp_path / "cache")
    with pytest.raises(SiteBuildFailed) as err:
        build_site(config, site_dir=tmp_path / "site")
    assert expected in str(err.value), "validate and the build report the same problem at the same place"


def test_valid_says_what_was_checked_and_what_was_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(VALID, tmp_path / "models")
    folder = tmp_path / "models" / "acme" / "relu"
    folder.mkdir()
    (folder / "card.yaml").write_text(CARD)  # acme/relu, source: {recipe: recipe.py}
    (folder / "recipe.py").write_text("raise SystemExit('not run by validate')\n")
    code, output = _validate(tmp_path, monkeypatch)
    assert code == 0, output
    assert output.splitlines() == [
        "2 cards valid",
        "  checked against their ONNX file (signature, examples): 1",
        "  not checked against a file: acme/relu@1.0.0: its recipe has not run here yet (`modelshelf export` or a build runs it)",
    ]
