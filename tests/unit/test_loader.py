"""modelshelf.catalog.loader: YAML 1.2 scalars, source positions, and the refusals that keep untrusted cards safe."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from modelshelf.catalog import loader
from modelshelf.catalog.loader import MAX_DEPTH, Document, Position, load_yaml_file, load_yaml_text
from modelshelf.catalog.problems import Problem


def load(text: str) -> tuple[Document | None, list[Problem]]:
    return load_yaml_text(text, "card.yaml")


def value_of(scalar: str) -> Any:
    """What `a: <scalar>` loads as, asserting it loads without problems."""
    doc, problems = load(f"a: {scalar}\n")
    assert problems == []
    assert doc is not None
    return doc.data["a"]


def texts(problems: list[Problem]) -> list[str]:
    return [p.format_text() for p in problems]


# ---------------------------------------------------------------- YAML 1.2 scalar resolution

@pytest.mark.parametrize(
    ("scalar", "expected"),
    [
        ("1e-5", 1e-5),  # YAML 1.1 (PyYAML) needs a dot and would give the text '1e-5'
        (".5e3", 500.0),
        ("+1.5", 1.5),
        ("-.5", -0.5),
        ("1.", 1.0),
        ("010", 10),  # not 8: YAML 1.2 has no leading-zero octals
        ("0o17", 15),
        ("0x1F", 31),
        ("-7", -7),
        ("true", True),
        ("False", False),
        ("~", None),
        ("null", None),
        ("", None),
        ("1:20", "1:20"),  # not 80: no sexagesimal numbers
        ("190:20:30", "190:20:30"),
        ("1_000", "1_000"),  # no digit separators
        ("0b101", "0b101"),  # no binary ints
        ('"yes"', "yes"),  # quoted: text, and no YAML 1.1 boolean problem
        ("'010'", "010"),
        ("'~'", "~"),
    ],
)
def test_plain_scalars_resolve_by_yaml_1_2_core_schema(scalar: str, expected: Any) -> None:
    got = value_of(scalar)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize("scalar, message", [
    (".inf", "'.inf' is not a finite number"), ("-.Inf", "'-.Inf' is not a finite number"),
    (".nan", "'.nan' is not a finite number"), ("!!float .NaN", "'.NaN' is not a finite number"),
    ("1e999", "'1e999' is too large: it overflows to infinity"),
    ("1" + "0" * 5000, "'100000000000...' (5001 characters) is too large: a card's whole numbers must fit in 64 bits"),
    ("!!int 0x" + "f" * 40, "'0xffffffffff...' (42 characters) is too large: a card's whole numbers must fit in 64 bits"),
    ("-9223372036854775809", "'-9223372036854775809' is too large: a card's whole numbers must fit in 64 bits"),
])
def test_non_finite_and_huge_numbers_are_refused(scalar: str, message: str) -> None:
    """Regression (issue 12): a 5,001-digit integer crashed validate (Python's 4,300-digit limit), and .nan / .inf
    were loaded as numbers that later broke search/docs.json and the build. Each is now a located problem."""
    doc, problems = load(f"a: {scalar}\n")
    assert texts(problems) == [f"card.yaml:1:4: $.a: {message}\n  hint: " + (
        "cards hold finite numbers only (no .nan or .inf); quote it if you mean the text" if "finite" in message
        else "write a smaller number, or quote it if you mean the text")]
    assert doc is not None and doc.data == {"a": None}


def test_numbers_at_the_64_bit_edges_load() -> None:
    assert value_of("-9223372036854775808") == -(1 << 63)
    assert value_of("18446744073709551615") == (1 << 64) - 1
    assert value_of("1.7976931348623157e308") == 1.7976931348623157e308
    assert value_of('".nan"') == ".nan"
    assert not math.isnan(value_of("0.5"))


def test_plain_date_stays_text() -> None:
    """Regression: `a: 2020-01-01` is refused with "YAML tag '!!timestamp' is not allowed" and loads as None.

    The contributor wrote no tag. PyYAML's YAML 1.1 resolver tags the plain scalar !!timestamp,
    and `_Converter.convert` checks node.tag against the allowed tags before `_scalar` gets to
    re-resolve it by YAML 1.2 (where a date is plain text). Same for `a: =` (!!value).
    """
    assert value_of("2020-01-01") == "2020-01-01"
    assert value_of("2020-01-01T10:00:00") == "2020-01-01T10:00:00"


@pytest.mark.parametrize("word", ["yes", "No", "OFF", "on"])
def test_yaml_1_1_booleans_are_problems_but_stay_text(word: str) -> None:
    doc, problems = load(f"id: x\ncountry: {word}\n")
    assert doc is not None and doc.data["country"] == word
    assert texts(problems) == [
        f"card.yaml:2:10: $.country: {word!r} is a YAML 1.1 boolean, ambiguous in a card\n"
        f'  hint: quote it ("{word}") if you mean the text, or write true/false'
    ]


# ---------------------------------------------------------------- explicit tags

def test_explicit_str_tag_keeps_text() -> None:
    assert value_of("!!str 010") == "010"
    assert value_of("!!str 1.5") == "1.5"
    assert value_of("!!str ~") == "~"
    assert value_of("!!str yes") == "yes"  # explicit text, so not an ambiguous boolean


def test_explicit_str_tag_wins_over_yaml_1_2_numbers() -> None:
    """Regression: `!!str 1e-5` loads as the float 1e-05 and `!!str 0o17` as 15.

    `_scalar` detects an explicit tag by comparing node.tag with PyYAML's implicit (YAML 1.1)
    resolution; for 1e-5 and 0o17 both are !!str, so the explicit tag is lost and the 1.2 rules
    turn the text into a number. The composer knows whether the tag was explicit (the event's tag).
    """
    assert value_of("!!str 1e-5") == "1e-5"
    assert value_of("!!str 0o17") == "0o17"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ('!!python/object/apply:os.system ["echo pwned"]', "!!python/object/apply:os.system"),
        ("!!python/name:os.system", "!!python/name:os.system"),
        ("!!binary aGk=", "!!binary"),
        ("!custom x", "!custom"),
    ],
)
def test_tags_other_than_plain_data_are_refused(value: str, shown: str) -> None:
    doc, problems = load(f"id: x\nsummary: {value}\n")
    assert doc is not None and doc.data["summary"] is None  # nothing was constructed
    assert texts(problems) == [
        f"card.yaml:2:10: $.summary: YAML tag {shown!r} is not allowed\n  hint: cards hold plain data only: remove the tag"
    ]


# ---------------------------------------------------------------- positions

NESTED = """\
id: acme/x
inputs:
  - name: x
    shape: [batch, 2]
  - name: "y"
    kind: image
description: |
  Hello.
"""


def test_positions_of_nested_values_and_keys() -> None:
    doc, problems = load(NESTED)
    assert problems == [] and doc is not None
    assert doc.values[()] == Position(1, 1)
    assert doc.values[("id",)] == Position(1, 5)
    assert doc.keys[("inputs",)] == Position(2, 1)
    assert doc.values[("inputs",)] == Position(3, 3)
    assert doc.values[("inputs", 0)] == Position(3, 5)
    assert doc.keys[("inputs", 0, "name")] == Position(3, 5)
    assert doc.values[("inputs", 0, "name")] == Position(3, 11)
    assert doc.values[("inputs", 0, "shape")] == Position(4, 12)
    assert doc.values[("inputs", 0, "shape", 1)] == Position(4, 20)
    assert doc.values[("inputs", 1, "name")] == Position(5, 11)  # the opening quote
    assert doc.keys[("inputs", 1, "kind")] == Position(6, 5)
    assert doc.values[("description",)] == Position(7, 14)  # the | indicator


def test_position_of_a_missing_path_falls_back_to_the_nearest_ancestor() -> None:
    doc, _ = load(NESTED)
    assert doc is not None
    assert doc.position(("inputs", 1, "dtype")) == Position(5, 5)
    assert doc.position(("inputs", 1, "dtype"), key=True) == Position(5, 5)
    assert doc.position(("nowhere",)) == Position(1, 1)


def test_block_scalars_are_recorded() -> None:
    doc, _ = load(NESTED)
    assert doc is not None
    assert doc.block == {("description",)}
    assert doc.data["description"] == "Hello.\n"


# ---------------------------------------------------------------- refusals

def test_duplicate_key_keeps_the_first_and_reports_the_second() -> None:
    doc, problems = load("a: 1\nb:\n  c: x\n  c: y\n")
    assert doc is not None and doc.data == {"a": 1, "b": {"c": "x"}}
    assert texts(problems) == [
        "card.yaml:4:3: $.b.c: duplicate key 'c' (first defined at line 3)\n"
        "  hint: remove one of the two; YAML would silently keep only the last"
    ]


def test_keys_that_are_not_text_are_refused() -> None:
    doc, problems = load("id: x\n1: one\n")
    assert doc is not None and doc.data == {"id": "x"}
    assert texts(problems) == ["card.yaml:2:1: $: key '1' is read as a number, not text\n  hint: quote it: \"1\""]


ANCHOR_PROBLEM = ("YAML anchors and aliases (&name, *name, <<) are not allowed\n"
                  "  hint: write each value out in full; cards must read the same to people and parsers")


def test_anchor_is_refused() -> None:
    doc, problems = load("a: &x 1\nb: *x\n")
    assert doc is None
    assert texts(problems) == [f"card.yaml:1:4: $: {ANCHOR_PROBLEM}"]


def test_merge_key_is_refused() -> None:
    doc, problems = load("base: {x: 1}\nother:\n  <<: *base\n")
    assert doc is None
    assert texts(problems) == [f"card.yaml:3:7: $: {ANCHOR_PROBLEM}"]


def test_alias_bomb_is_refused_before_it_is_composed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: billion laughs. Composing 9 levels of 9 aliases builds 9**9 nodes; the loader
    must refuse the card from the event stream and never call yaml.compose."""
    bomb = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi")
    )

    def no_compose(*args: object, **kwargs: object) -> None:
        raise AssertionError("yaml.compose was called on an alias bomb")

    monkeypatch.setattr(loader.yaml, "compose", no_compose)
    doc, problems = load(bomb)
    assert doc is None
    assert texts(problems) == [f"card.yaml:1:4: $: {ANCHOR_PROBLEM}"]


def test_multiple_documents_are_refused() -> None:
    doc, problems = load("a: 1\n---\nb: 2\n")
    assert doc is None
    assert texts(problems) == ["card.yaml:2:1: $: more than one YAML document in the card\n"
                               "  hint: remove the '---' line and what follows"]


def test_one_document_with_explicit_markers_is_fine() -> None:
    doc, problems = load("---\na: 1\n...\n")
    assert problems == [] and doc is not None and doc.data == {"a": 1}


def test_depth_limit() -> None:
    deep_enough = MAX_DEPTH - 1  # `a` is level 1, so the scalar inside is at MAX_DEPTH
    doc, problems = load("a: " + "[" * deep_enough + "1" + "]" * deep_enough)
    assert problems == [] and doc is not None

    doc, problems = load("a: " + "[" * 40 + "1" + "]" * 40)
    assert doc is not None
    [problem] = problems
    assert (problem.line, problem.col) == (1, 3 + MAX_DEPTH + 1)  # the first bracket beyond the limit
    assert problem.path == "$.a" + "[0]" * MAX_DEPTH
    assert problem.message == f"nesting deeper than {MAX_DEPTH} levels"


def test_syntax_error_points_at_the_problem() -> None:
    doc, problems = load("id: x\nsummary: one: two\n")
    assert doc is None
    assert texts(problems) == ["card.yaml:2:13: $: YAML syntax error: mapping values are not allowed here\n"
                               "  hint: check the indentation and quoting on this line and the one above"]


def test_empty_card() -> None:
    doc, problems = load("# only a comment\n")
    assert doc is None
    assert texts(problems) == ["card.yaml:1:1: $: the card is empty\n  hint: start from `modelshelf new ORG/NAME`"]


# ---------------------------------------------------------------- files

def test_file_bad_byte_position(tmp_path: Path) -> None:
    card = tmp_path / "card.yaml"
    card.write_bytes(b"id: x\nname: caf\xe9\n")
    doc, problems = load_yaml_file(card, "card.yaml")
    assert doc is None
    assert texts(problems) == ["card.yaml:2:10: $: byte 0xe9 is not valid UTF-8\n  hint: save the card as UTF-8"]


def test_file_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    card = tmp_path / "card.yaml"
    card.write_bytes("\ufeffid: x\n".encode())
    doc, problems = load_yaml_file(card)
    assert problems == [] and doc is not None and doc.data == {"id": "x"}


def test_file_size_limit(tmp_path: Path) -> None:
    card = tmp_path / "card.yaml"
    card.write_text("id: x\n" + "# padding\n" * 10)
    doc, problems = load_yaml_file(card, "card.yaml", max_bytes=100)
    assert doc is None
    assert texts(problems) == ["card.yaml:1:1: $: the card is 106 bytes, more than the 100 allowed\n"
                               "  hint: keep the card small: move long prose into README.md beside it"]
