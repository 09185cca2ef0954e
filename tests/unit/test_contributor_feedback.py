"""Feedback where contributors look (issue 11, item 4): GitHub annotations, warnings for scaffold placeholders and
task-family pitfalls, the serve error page, and the pull request's job summary.

Regressions named in the issue: the scaffold's author "Your Name" was published without a word; `task: classification`
on a tabular card suggested text-classification; errors reached a pull request only as log lines.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from modelshelf.catalog.catalog import load_catalog
from modelshelf.catalog.loader import load_yaml_file
from modelshelf.catalog.problems import Problem, format_problems, warning
from modelshelf.catalog.validate import (SCAFFOLD_AUTHOR, SCAFFOLD_DESCRIPTION, SCAFFOLD_SUMMARY, card_warnings, lint_cards,
                                         tasks)
from modelshelf.generator import scaffold
from modelshelf.generator.site.preview import PREVIEW_JS, BuildFailure, _is_page, error_page

REPO = Path(__file__).resolve().parents[2]
VALID = REPO / "tests" / "fixtures" / "cards" / "valid" / "models"


def _summary_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("pr_summary", REPO / "scripts" / "pr_summary.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pr_summary"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- formats

def test_github_format_is_a_workflow_command_with_escaped_properties_and_data() -> None:
    p = Problem("models/a,b/x:y/card.yaml", 12, 3, "$.license", "50% of 'MIT '\r\nis wrong", "use MIT, or Apache-2.0")
    assert p.format_github() == (
        "::error file=models/a%2Cb/x%3Ay/card.yaml,line=12,col=3,title=modelshelf%3A $.license::"
        "50%25 of 'MIT '%0D%0Ais wrong%0Ahint: use MIT, or Apache-2.0")
    assert warning(p).format_github().startswith("::warning file=models/a%2Cb/")


def test_github_format_lists_errors_and_warnings_then_a_tally() -> None:
    items = [Problem("m/card.yaml", 2, 1, "$.a", "bad"), warning(Problem("m/card.yaml", 1, 1, "$.b", "odd", "fix"))]
    assert format_problems(items, "github").splitlines() == [
        "::warning file=m/card.yaml,line=1,col=1,title=modelshelf%3A $.b::odd%0Ahint: fix",
        "::error file=m/card.yaml,line=2,col=1,title=modelshelf%3A $.a::bad",
        "1 warning in 1 file", "1 problem in 1 file"]


def test_text_format_of_errors_is_unchanged_and_warnings_are_marked() -> None:
    error = Problem("m/card.yaml", 12, 3, "$.license", "'MIT ' is not a known SPDX id", "use MIT")
    assert format_problems([error]) == ("m/card.yaml:12:3: $.license: 'MIT ' is not a known SPDX id\n  hint: use MIT\n"
                                        "1 problem in 1 file")
    assert format_problems([warning(error)]).splitlines()[0] == (
        "m/card.yaml:12:3: warning: $.license: 'MIT ' is not a known SPDX id")


def test_json_format_keeps_warnings_apart() -> None:
    data = json.loads(format_problems([Problem("f", 1, 1, "$", "e"), warning(Problem("f", 2, 1, "$.x", "w"))], "json"))
    assert data["count"] == 1 and data["warning_count"] == 1
    assert [p["message"] for p in data["problems"]] == ["e"] and [p["message"] for p in data["warnings"]] == ["w"]
    assert set(data["warnings"][0]) == {"file", "line", "col", "path", "message", "hint"}


# ---------------------------------------------------------------- warnings

def _card(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "models" / "acme" / "x"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "card.yaml").write_text(textwrap.dedent(text))
    return folder / "card.yaml"


def _warnings(card: Path) -> list[Problem]:
    doc, problems = load_yaml_file(card, str(card))
    assert doc is not None, problems
    return card_warnings(doc, card)


def test_every_scaffold_placeholder_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = scaffold.new_model("acme/fresh", Path("models"))
    text = (folder / "card.yaml").read_text()
    assert SCAFFOLD_SUMMARY in text and SCAFFOLD_DESCRIPTION in text and SCAFFOLD_AUTHOR in text
    result = load_catalog([Path("models")], root=Path("models"))
    assert result.ok, format_problems(result.problems)  # placeholders are not errors: the scaffold still validates
    found = lint_cards([folder / "card.yaml"])
    assert [(p.path, p.line, p.severity) for p in found] == [
        ("$.summary", 5, "warning"), ("$.description", 6, "warning"), ("$.authors[0].name", 12, "warning")]
    assert "Your Name" in found[2].message and "modelshelf new" in found[2].message
    # Filled in, the card has nothing to warn about.
    (folder / "card.yaml").write_text(text.replace(SCAFFOLD_SUMMARY, "Iris species from four measurements.")
                                      .replace(SCAFFOLD_DESCRIPTION, "Logistic regression on iris.")
                                      .replace(SCAFFOLD_AUTHOR, "Ada Lovelace"))
    assert lint_cards([folder / "card.yaml"]) == []


def test_placeholder_kept_inside_a_longer_description_still_warns(tmp_path: Path) -> None:
    card = _card(tmp_path, f"""\
        description: |
          Trained on iris.
          {SCAFFOLD_DESCRIPTION}
        authors: [{{name: your name}}]
        """)
    assert [p.path for p in _warnings(card)] == ["$.description", "$.authors[0].name"]


def test_task_of_the_wrong_family_names_the_fitting_task(tmp_path: Path) -> None:
    card = _card(tmp_path, """\
        task: text-classification
        inputs: [{name: x, dtype: float32, shape: [null, 4], kind: tabular}]
        """)
    (found,) = _warnings(card)
    assert (found.path, found.line, found.col, found.severity) == ("$.task", 1, 7, "warning")
    assert found.message == "task 'text-classification' is for text input, but the card's inputs are tabular"
    assert found.hint.startswith("did you mean 'tabular-classification'?")


@pytest.mark.parametrize("task,kind", [("image-classification", "tabular"),  # flattened pixels (digits-logreg-pipeline)
                                       ("sentence-similarity", "text"), ("tabular-regression", "tensor")])
def test_a_task_that_fits_the_inputs_does_not_warn(tmp_path: Path, task: str, kind: str) -> None:
    card = _card(tmp_path, f"task: {task}\ninputs: [{{name: x, dtype: float32, shape: [null, 4], kind: {kind}}}]\n")
    assert _warnings(card) == []


def test_unknown_task_suggests_one_for_the_cards_input_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`task: classification` on a tabular card suggested text-classification (issue 11)."""
    shutil.copytree(VALID, tmp_path / "models")
    monkeypatch.chdir(tmp_path)
    card = Path("models/acme/tiny-add/card.yaml")
    for kind, wanted in (("tabular", "tabular-classification"), ("text", "text-classification"),
                         ("image", "image-classification"), ("audio", "audio-classification")):
        card.write_text(yaml.safe_dump({**yaml.safe_load((VALID / "acme/tiny-add/card.yaml").read_text()),
                                        "task": "classification",
                                        "inputs": [{"name": "x", "dtype": "float32", "shape": ["batch", 2], "kind": kind}]}))
        problems = [p for p in load_catalog([Path("models")]).problems if p.path == "$.task"]
        assert [p.hint for p in problems] == [f"did you mean {wanted!r}?"], kind


def test_every_task_family_has_a_task() -> None:
    assert {t["input"] for t in tasks()} == {"tabular", "image", "text", "bytes", "audio"}


def test_the_real_catalog_has_no_warnings() -> None:
    cards = sorted((REPO / "models").rglob("card.yaml"))
    assert cards
    assert lint_cards(cards) == []


# ---------------------------------------------------------------- serve error page

def test_error_page_lists_every_field_escaped_and_loads_only_its_own_script() -> None:
    p = Problem("models/acme/x/card.yaml", 12, 10, "$.license", "'<b>MITT</b>' is not a known SPDX licence id",
                "did you mean 'MIT'?")
    page = error_page(BuildFailure("the catalog has problems", (p,)), epoch=5, request_id=7).decode()
    for text in ("models/acme/x/card.yaml", "<td>12</td>", "<td>10</td>", "$.license", "did you mean &#x27;MIT&#x27;?",
                 "&lt;b&gt;MITT&lt;/b&gt;"):
        assert text in page, text
    assert "<b>MITT" not in page
    scripts = [line for line in page.splitlines() if "<script" in line]
    assert scripts == [f'<script src="{PREVIEW_JS}" data-epoch="5" data-request-id="7"></script>']
    assert "script-src 'self' 'wasm-unsafe-eval';" in page  # the site's policy, no inline script allowed


def test_error_page_without_card_problems_shows_the_message() -> None:
    page = error_page(BuildFailure("RecipeError: <recipe> failed"), epoch=1, request_id=1).decode()
    assert "&lt;recipe&gt; failed" in page and "<table>" not in page


@pytest.mark.parametrize("path,is_page", [("/", True), ("/models/acme/x/", True), ("/index.html", True), ("/tasks", True),
                                          ("/assets/app.js", False), ("/catalog.json", False)])
def test_which_requests_get_the_error_page(path: str, is_page: bool) -> None:
    assert _is_page(path) is is_page


# ---------------------------------------------------------------- job summary

def _write_card(models: Path, ident: str, version: str = "1.0.0", claim: float = 0.9, extra: str = "") -> None:
    folder = models / ident
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "card.yaml").write_text(f"id: {ident}\nversion: \"{version}\"\n"
                                      f"metrics: [{{name: accuracy, value: {claim}, dataset: d}}]\n{extra}")


def test_pr_summary_lists_added_changed_and_removed_models_with_metrics_and_problems(tmp_path: Path) -> None:
    pr_summary = _summary_module()
    base, head = tmp_path / "base" / "models", tmp_path / "head" / "models"
    for models in (base, head):
        _write_card(models, "acme/same")
        _write_card(models, "acme/changed")
    _write_card(base, "acme/gone")
    (head / "acme" / "changed" / "recipe.py").write_text("print('new')\n")  # a changed file beside the card counts
    _write_card(head, "acme/new/1.0.0", version="1.0.0", claim=0.97)
    (head / "acme" / "new" / "1.0.0" / "card.yaml").write_text(
        (head / "acme" / "new" / "1.0.0" / "card.yaml").read_text().replace("id: acme/new/1.0.0", "id: acme/new"))
    changes = pr_summary.changed_cards(base, head)
    assert [(c.folder, c.status) for c in changes] == [("acme/changed", "changed"), ("acme/new/1.0.0", "added"),
                                                       ("acme/gone", "removed")]
    catalog = {"models": [{"id": "acme/new", "version": "1.0.0",
                           "evaluation": {"claims": [{"name": "accuracy", "recomputed": 0.9666667, "tier": "verified"}]}}]}
    problems = {"problems": [], "warnings": [{"file": "models/acme/new/1.0.0/card.yaml", "line": 12, "col": 11,
                                              "path": "$.authors[0].name", "message": "author 'Your Name' | placeholder",
                                              "hint": "put a name"}]}
    text = pr_summary.summary(changes, catalog=catalog, problems=problems)
    assert "| acme/new | 1.0.0 | added | accuracy: claimed 0.97, build 0.9667 (verified) |" in text
    assert "| acme/changed | 1.0.0 | changed | accuracy: claimed 0.9, build not in the built site |" in text
    assert "| acme/gone | 1.0.0 | removed |" in text
    assert ("| warning | `models/acme/new/1.0.0/card.yaml:12:11` | `$.authors[0].name` | author 'Your Name' \\| placeholder "
            "| put a name |") in text
    assert "acme/same" not in text


def test_pr_summary_command_without_a_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pr_summary = _summary_module()
    base, head = tmp_path / "base", tmp_path / "head"
    base.mkdir()
    _write_card(head, "acme/a")
    (head / "acme" / "broken").mkdir(parents=True)
    (head / "acme" / "broken" / "card.yaml").write_text("id: [unclosed\n")
    assert pr_summary.main(["--base", str(base), "--head", str(head), "--catalog", str(tmp_path / "none.json")]) == 0
    out = capsys.readouterr().out
    assert "The site was not built" in out
    assert "| acme/a | 1.0.0 | added | accuracy: claimed 0.9, build not computed |" in out
    assert "| acme/broken |   | added | the card does not load: while parsing a flow sequence |" in out
    assert "`modelshelf validate` did not report" in out


def test_cli_reference_documents_the_new_options() -> None:
    from modelshelf.generator.render.pages import cli_reference

    page = cli_reference()
    for text in ("--strict", "github", "error page"):
        assert text in page, text
