"""modelshelf.catalog.validate: targeted checks that the fixture folders do not pin down one by one.

Each test edits the valid fixture card in a scratch copy (`tmp_catalog`) and compares the exact
problems, so a change of wording or position shows up here.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from modelshelf.catalog.catalog import load_catalog
from modelshelf.catalog.loader import load_yaml_text
from modelshelf.catalog.validate import check_card, cross_card_problems, validate_document

CARD = Path("models/acme/tiny-add/card.yaml")


def problems_after(folder: Path, old: str, new: str) -> list[str]:
    """Replace `old` (exactly once) in the scratch card, then load and validate it; the problems as text."""
    card = folder / "card.yaml"
    text = card.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    card.write_text(text.replace(old, new), encoding="utf-8")
    _, problems = check_card(CARD)
    return [p.format_text() for p in sorted(problems)]


def test_the_valid_fixture_has_no_problems(tmp_catalog: Path) -> None:
    doc, problems = check_card(CARD)
    assert problems == [] and doc is not None


def test_licence_case_typo_suggests_the_spdx_id(tmp_catalog: Path) -> None:
    assert problems_after(tmp_catalog, "license: MIT", "license: mit") == [
        "models/acme/tiny-add/card.yaml:12:10: $.license: 'mit' is not a known SPDX licence id\n"
        "  hint: did you mean 'MIT'?"
    ]


def test_licence_with_a_trailing_space_suggests_the_spdx_id(tmp_catalog: Path) -> None:
    """The house-style example: a quoted 'MIT ' (a plain scalar would lose the trailing space)."""
    assert problems_after(tmp_catalog, "license: MIT", 'license: "MIT "') == [
        "models/acme/tiny-add/card.yaml:12:10: $.license: 'MIT ' is not a known SPDX licence id\n"
        "  hint: did you mean 'MIT'?"
    ]


def test_misspelt_field_suggests_the_right_one(tmp_catalog: Path) -> None:
    # Renaming a required field also makes it missing: two problems, both pointing the same way.
    assert problems_after(tmp_catalog, "license: MIT", "licence: MIT") == [
        "models/acme/tiny-add/card.yaml:2:1: $.license: missing required field 'license'\n"
        "  hint: add license: to this mapping (see the card reference)",
        "models/acme/tiny-add/card.yaml:12:1: $.licence: unknown field 'licence'\n"
        "  hint: did you mean 'license'?",
    ]


def test_enum_typos_suggest_the_value(tmp_catalog: Path) -> None:
    assert problems_after(tmp_catalog, "framework: onnx", "framework: pytorh") == [
        "models/acme/tiny-add/card.yaml:19:12: $.framework: 'pytorh' is not one of the allowed values\n"
        "  hint: did you mean 'pytorch'?"
    ]


def test_source_with_both_file_and_recipe(tmp_catalog: Path) -> None:
    (tmp_catalog / "recipe.py").write_text("# writes model.onnx\n")
    assert problems_after(tmp_catalog, "  file: model.onnx\n", "  file: model.onnx\n  recipe: recipe.py\n") == [
        "models/acme/tiny-add/card.yaml:21:3: $.source: source must have exactly one of file, recipe or url "
        "(url needs sha256 and size)\n"
        "  hint: e.g. source: {recipe: recipe.py}"
    ]


def test_source_url_needs_sha256_and_size(tmp_catalog: Path) -> None:
    assert problems_after(tmp_catalog, "  file: model.onnx\n", "  url: https://example.org/model.onnx\n") == [
        "models/acme/tiny-add/card.yaml:21:3: $.source: source must have exactly one of file, recipe or url "
        "(url needs sha256 and size)\n"
        "  hint: e.g. source: {recipe: recipe.py}"
    ]


def test_license_other_needs_name_and_link(tmp_catalog: Path) -> None:
    assert problems_after(tmp_catalog, "license: MIT", "license: other") == [
        "models/acme/tiny-add/card.yaml:12:10: $.license: license: other needs license_link\n"
        "  hint: add license_link: with a link to the licence text",
        "models/acme/tiny-add/card.yaml:12:10: $.license: license: other needs license_name\n"
        "  hint: add license_name: with the licence's name",
    ]


def test_license_other_with_name_and_link_is_valid(tmp_catalog: Path) -> None:
    other = "license: other\nlicense_name: Acme Model Licence\nlicense_link: https://example.org/licence"
    assert problems_after(tmp_catalog, "license: MIT", other) == []


def test_license_link_must_be_an_address(tmp_catalog: Path) -> None:
    """Regression: `license_link: see LICENSE` passed, because jsonschema's 'uri' checker needs an optional package.

    jsonschema skips formats whose checker library is absent, silently; catalog.validate registers its own.
    """
    other = "license: other\nlicense_name: Acme Model Licence\nlicense_link: see LICENSE"
    problems = problems_after(tmp_catalog, "license: MIT", other)
    assert len(problems) == 1 and "$.license_link" in problems[0]


def test_every_problem_is_reported_in_one_run(tmp_catalog: Path) -> None:
    card = tmp_catalog / "card.yaml"
    text = card.read_text(encoding="utf-8")
    for old, new in [("license: MIT", "license: mit"), ('version: "1.0.0"', 'version: "1.0"'),
                     ("task: tabular-regression", "task: tabular-regresion")]:
        text = text.replace(old, new)
    card.write_text(text, encoding="utf-8")
    _, problems = check_card(CARD)
    assert [(p.line, p.path) for p in sorted(problems)] == [(4, "$.version"), (10, "$.task"), (12, "$.license")]


def test_ids_that_differ_only_by_case_are_duplicates() -> None:
    text = (Path(__file__).parents[1] / "fixtures/cards/valid" / CARD).read_text(encoding="utf-8")
    paths = {"models/acme/tiny-add/card.yaml": "acme/tiny-add", "models/Acme/Tiny-Add/card.yaml": "Acme/Tiny-Add"}
    docs = {}
    for path, ident in paths.items():
        doc, problems = load_yaml_text(text.replace("id: acme/tiny-add", f"id: {ident}"), path)
        assert problems == [] and doc is not None
        docs[Path(path)] = doc
    # Paths sort upper case first, so the lower-case card is the one reported.
    assert [p.format_text() for p in cross_card_problems(docs)] == [
        "models/acme/tiny-add/card.yaml:2:5: $.id: id 'acme/tiny-add' differs only by case from 'Acme/Tiny-Add' "
        "(also in models/Acme/Tiny-Add/card.yaml)\n"
        "  hint: every model needs its own id; rename one of them"
    ]


def test_a_card_that_is_not_a_mapping() -> None:
    doc, problems = load_yaml_text("- a\n- b\n", "card.yaml")
    assert problems == [] and doc is not None
    assert [p.format_text() for p in validate_document(doc, Path("models/acme/x/card.yaml"))] == [
        "card.yaml:1:1: $: a card must be a YAML mapping of fields\n  hint: start from `modelshelf new ORG/NAME`"
    ]


def test_card_nested_too_deep_is_refused(tmp_catalog: Path) -> None:
    """Regression: models/mirror/acme/tiny-add/card.yaml was accepted as acme/tiny-add (only the last two folders were read)."""
    import shutil

    shutil.copytree(tmp_catalog, Path("models") / "mirror" / "acme" / "tiny-add")
    problems = [p.format_text() for p in load_catalog([Path("models")], root=Path("models")).problems]
    assert problems == [
        "models/mirror/acme/tiny-add/card.yaml:1:1: $: cards live at models/<org>/<name>/card.yaml (or <org>/<name>/<version>/card.yaml), not 3 folders deep\n"
        "  hint: move the model folder to <org>/<name> directly under the models folder"
    ]


def test_a_lone_surrogate_is_refused(tmp_catalog: Path) -> None:
    """Regression (issue 12): "\\ud835\\udc23" loaded as two unpaired surrogates and crashed the bundle writer."""
    assert problems_after(tmp_catalog, "name: Tiny add", 'name: "Tiny \\ud835\\udc23"') == [
        "models/acme/tiny-add/card.yaml:3:7: $.name: text contains U+D835, half of a UTF-16 surrogate pair\n"
        "  hint: write the character itself, or \\U0001D423 with eight hex digits in double quotes"
    ]


@pytest.mark.parametrize("link", ["[x](java&#10;script:alert(1))", '<a href="&#1;javascript:alert(1)">x</a>',
                                  '<a href="jav&#x09;ascript:alert(1)">x</a>'])
def test_script_links_hidden_by_character_references_are_found(link: str) -> None:
    """Regression (issue 12): control characters inside or before the scheme hid javascript: links from the check."""
    from modelshelf.catalog.validate import unsafe_html
    assert ("a javascript: link", "javascript:") in unsafe_html(f"Some text {link} more.")
