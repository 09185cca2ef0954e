"""Every kind of card error: a card with one defect, and the exact report a contributor sees.

tests/fixtures/cards/invalid/<kind>/ holds models/acme/<name>/card.yaml (the valid fixture card
with one defect) and expected.txt: the exact output of `modelshelf validate`, i.e.
`format_problems(load_catalog([Path("models")]).problems)`, run from inside that folder.
Defects that cannot be committed (symbolic links, a 300 KB card, a non-UTF-8 byte) are made at
test time from a scratch copy of the valid card, with their expected output below.

After a deliberate change of wording, rewrite the expected.txt files from the new output, check
each file:line:col by eye against the card, and update docs/reference/errors.md to match.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Callable

import pytest

from modelshelf.catalog.catalog import load_catalog
from modelshelf.catalog.problems import format_problems

CARDS = Path(__file__).parents[1] / "fixtures" / "cards"
INVALID = CARDS / "invalid"
ERRORS_DOC = Path(__file__).parents[2] / "docs" / "reference" / "errors.md"
KINDS = sorted(p.name for p in INVALID.iterdir() if p.is_dir())

# Kinds whose one defect inherently yields two problems; every other kind yields exactly one.
TWO_PROBLEMS = {
    "duplicate-id": "a copied folder keeps the old id: it neither matches its folder nor is unique",
    "example-input-mismatch": "a misspelt input name is both unknown and leaves the real input without a value",
}

# Known validator bugs: expected.txt holds the right output. Delete the entry once the bug is fixed.
KNOWN_BUGS: dict[str, str] = {}

_HEAD = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<rest>\$.*)$")


def report(fmt: str = "text") -> str:
    """What `modelshelf validate` prints for ./models."""
    return format_problems(load_catalog([Path("models")]).problems, fmt)


def expected(kind: str) -> str:
    return (INVALID / kind / "expected.txt").read_text(encoding="utf-8").removesuffix("\n")


def _kind_params() -> list[object]:
    return [pytest.param(k, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[k])) if k in KNOWN_BUGS else k
            for k in KINDS]


# ---------------------------------------------------------------- committed fixtures

@pytest.mark.parametrize("kind", _kind_params())
def test_invalid_card_report_is_exact(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(INVALID / kind)
    assert report() == expected(kind)


@pytest.mark.parametrize("kind", KINDS)
def test_json_report_has_every_field(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(INVALID / kind)
    data = json.loads(report("json"))
    problems = data["problems"]
    assert data["count"] == len(problems) >= 1
    for p in problems:
        assert set(p) == {"file", "line", "col", "path", "message", "hint"}, p
        assert isinstance(p["line"], int) and p["line"] >= 1 and isinstance(p["col"], int) and p["col"] >= 1, p
        assert p["file"].startswith("models/") and p["path"].startswith("$"), p
        assert p["message"] and p["hint"], p
    # The two formats tell the same story.
    heads = [f"{p['file']}:{p['line']}:{p['col']}: {p['path']}: {p['message']}" for p in problems]
    assert heads == [line for line in report().splitlines()[:-1] if not line.startswith("  hint: ")]


@pytest.mark.parametrize("kind", KINDS)
def test_each_fixture_has_one_defect(kind: str) -> None:
    """An invalid fixture shows one problem, so its expected.txt documents exactly that problem."""
    count = 2 if kind in TWO_PROBLEMS else 1
    heads = [line for line in expected(kind).splitlines() if _HEAD.match(line)]
    assert len(heads) == count, heads
    assert expected(kind).splitlines()[-1] == f"{count} problem{'s' if count > 1 else ''} in 1 file"


def test_every_fixture_folder_is_complete() -> None:
    for kind in KINDS:
        assert (INVALID / kind / "expected.txt").is_file(), kind
        assert (INVALID / kind / "models").is_dir(), kind
    assert set(TWO_PROBLEMS) <= set(KINDS) and set(KNOWN_BUGS) <= set(KINDS)


def test_the_valid_fixture_catalog_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CARDS / "valid")
    result = load_catalog([Path("models")])
    assert result.ok, format_problems(result.problems)
    assert [c.id for c in result.cards] == ["acme/tiny-add"]
    assert report() == "0 problems in 0 files"


def test_committed_onnx_files_are_what_the_script_makes() -> None:
    spec = importlib.util.spec_from_file_location("make_tiny_onnx", CARDS / "make_tiny_onnx.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    data = script.tiny_model().SerializeToString()
    targets = script.targets(CARDS)
    assert CARDS / "valid/models/acme/tiny-add/model.onnx" in targets
    for path in targets:
        assert path.read_bytes() == data, f"{path} is stale: run python {CARDS / 'make_tiny_onnx.py'}"
    assert not (INVALID / "missing-file/models/acme/tiny-add/model.onnx").exists()


# ---------------------------------------------------------------- defects made at test time

def _symlink_outside(folder: Path) -> None:
    outside = folder.parents[2] / "outside.onnx"
    (folder / "model.onnx").rename(outside)
    (folder / "model.onnx").symlink_to(outside)


def _symlink_inside(folder: Path) -> None:
    (folder / "model.onnx").rename(folder / "real.onnx")
    (folder / "model.onnx").symlink_to("real.onnx")


def _oversized(folder: Path) -> None:
    card = folder / "card.yaml"
    text = card.read_text(encoding="utf-8")
    padding = "# " + "x" * 97 + "\n"  # 100 bytes a line
    lines, rest = divmod(300_000 - len(text.encode()), len(padding))
    card.write_text(text + padding * lines + "#" * (rest - 1) + "\n", encoding="utf-8")
    assert card.stat().st_size == 300_000


def _bad_encoding(folder: Path) -> None:
    card = folder / "card.yaml"
    raw = card.read_bytes()
    assert raw.count(b"name: Tiny add\n") == 1
    card.write_bytes(raw.replace(b"name: Tiny add\n", b"name: Tiny caf\xe9\n"))  # Latin-1, not UTF-8


MADE_AT_TEST_TIME: dict[str, tuple[Callable[[Path], None], str]] = {
    "symlink-outside": (_symlink_outside, """\
models/acme/tiny-add/card.yaml:21:9: $.source.file: 'model.onnx' resolves outside the model folder (through a symbolic link)
  hint: replace the link with the file itself
1 problem in 1 file"""),
    "symlink-inside": (_symlink_inside, """\
models/acme/tiny-add/card.yaml:21:9: $.source.file: 'model.onnx' is a symbolic link
  hint: commit the file itself, not a link
1 problem in 1 file"""),
    "oversized-card": (_oversized, """\
models/acme/tiny-add/card.yaml:1:1: $: the card is 300000 bytes, more than the 262144 allowed
  hint: keep the card small: move long prose into README.md beside it
1 problem in 1 file"""),
    "bad-encoding": (_bad_encoding, """\
models/acme/tiny-add/card.yaml:3:15: $: byte 0xe9 is not valid UTF-8
  hint: save the card as UTF-8
1 problem in 1 file"""),
}


@pytest.mark.parametrize("kind", sorted(MADE_AT_TEST_TIME))
def test_defect_made_at_test_time_report_is_exact(kind: str, tmp_catalog: Path) -> None:
    make, text = MADE_AT_TEST_TIME[kind]
    if "symlink" in kind and not hasattr(os, "symlink"):
        pytest.skip("no symbolic links here")
    make(tmp_catalog)
    assert report() == text
    assert json.loads(report("json"))["count"] == 1


def _drop_description(folder: Path) -> None:
    card = folder / "card.yaml"
    text = card.read_text(encoding="utf-8")
    start, end = text.index("description: |\n"), text.index("task:")
    card.write_text(text[:start] + text[end:], encoding="utf-8")


def test_readme_symlink_outside_is_refused(tmp_catalog: Path) -> None:
    """Regression: a README.md that links outside the model folder is published as the description.

    A pull request could link README.md to any file the build machine can read; the build then puts
    its text on the site. README.md should get the same check as source.file.
    """
    secret = tmp_catalog.parents[2] / "secret.txt"
    secret.write_text("the build machine's secret\n")
    _drop_description(tmp_catalog)
    (tmp_catalog / "README.md").symlink_to(secret)
    result = load_catalog([Path("models")])
    assert not result.ok
    assert any("README.md" in p.file + p.message and "link" in p.message for p in result.problems)


def test_card_symlink_is_refused(tmp_catalog: Path) -> None:
    """Regression: a card.yaml that is a symbolic link is followed and read.

    Linked to a YAML file elsewhere on the machine, its contents leak through the error messages
    (`unknown field 'secret_token'`). The card itself should be refused as a link.
    """
    secret = tmp_catalog.parents[2] / "secrets.yaml"
    secret.write_text("secret_token: hunter2\n")
    (tmp_catalog / "card.yaml").unlink()
    (tmp_catalog / "card.yaml").symlink_to(secret)
    text = report()
    assert "secret_token" not in text
    assert "symbolic link" in text


# ---------------------------------------------------------------- the errors page stays in sync

def _all_expected_outputs() -> dict[str, str]:
    outputs = {kind: expected(kind) for kind in KINDS}
    outputs.update({kind: text for kind, (_, text) in MADE_AT_TEST_TIME.items()})
    return outputs


def test_every_message_and_hint_is_on_the_errors_page() -> None:
    """docs/reference/errors.md quotes each message (from `$` on) and each hint exactly."""
    page = ERRORS_DOC.read_text(encoding="utf-8")
    missing = []
    for kind, text in _all_expected_outputs().items():
        for line in text.splitlines():
            head = _HEAD.match(line)
            quoted = head.group("rest") if head else line.strip() if line.startswith("  hint: ") else None
            if quoted and quoted not in page:
                missing.append(f"{kind}: {quoted}")
    assert not missing, "not on docs/reference/errors.md:\n" + "\n".join(missing)
