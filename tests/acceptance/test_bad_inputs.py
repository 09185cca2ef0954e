"""Bad inputs, kind by kind (issue 12): each gets its exact message, and nothing is written or left behind.

Every table below is one surface: cards (one build of one project that holds a bad card per kind, as the
build reports them: all at once), model files (one build, a bad model per kind), catalogs and versions
(`modelshelf pull` against folder sites), requests (`modelshelf serve`'s server, and input files given
to a bundle's predict.py, the code `modelshelf run` runs too) and archives (`modelshelf verify` on a
bundle zip, and predict.py on a damaged bundle folder). docs/reference/bad-inputs.md is the inventory of
every kind, here and elsewhere; `test_the_inventory_names_real_tests` keeps it true.

Expected texts use `{card}` for `models/<kind>/tiny-add/card.yaml` and `{folder}` for its folder: each
card kind lives in its own org, so one build reports every kind at once and each report names its kind.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner

from modelshelf.catalog import runtime as runtime_package
from modelshelf.catalog.client import download
from modelshelf.catalog.client.cli import cli as client_cli
from modelshelf.catalog.runtime import predictor as runtime
from modelshelf.catalog.validate import FETCHABLE_VERSION
from modelshelf.generator.site.build import SiteBuildFailed, build_site
from test_build import make_project

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
VALID = FIXTURES / "cards" / "valid" / "models" / "acme" / "tiny-add"
INVALID = FIXTURES / "cards" / "invalid"
INVENTORY = REPO / "docs" / "reference" / "bad-inputs.md"


def _module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def make() -> ModuleType:
    """tests/fixtures/onnx/make_onnx.py: the hostile and broken ONNX models."""
    return _module("make_onnx", FIXTURES / "onnx" / "make_onnx.py")


def files_under(root: Path) -> set[str]:
    """Every file and link under root, as relative paths (bytecode caches aside: Python writes them on import)."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if (p.is_file() or p.is_symlink()) and "__pycache__" not in p.parts}


def build_fails(config: Path, site: Path) -> str:
    """Build; it must fail and leave neither the site nor a staging folder beside it. Returns the message."""
    with pytest.raises(SiteBuildFailed) as err:
        build_site(config, site_dir=site)
    assert not site.exists(), "a failed build writes no site"
    assert [p.name for p in site.parent.iterdir() if ".building-" in p.name or ".old-" in p.name] == []
    return str(err.value)


def plugin_option(config: Path, option: str) -> None:
    """Set one option of the modelshelf plugin in a project's mkdocs.yml (e.g. `max_model_mb: 1`)."""
    config.write_text(config.read_text().replace("      models_dir: models\n", f"      models_dir: models\n      {option}\n"))


def problem_blocks(text: str) -> list[str]:
    """The problems of a build's message, each `file:line:col: $...: message` with its hint lines."""
    blocks: list[str] = []
    for line in text.splitlines():
        if re.match(r"^models/\S+:\d+:\d+: \$", line):
            blocks.append(line)
        elif blocks and line.startswith("  "):
            blocks[-1] += "\n" + line
    return blocks


# ================================================================ cards, Markdown, file references, versions
# One project, one bad card per kind (in its own org), one build: the build must name every one of them and
# write nothing. The committed fixtures of tests/fixtures/cards/invalid/ (also checked one by one by
# tests/unit/test_invalid_cards.py) come first, then the defects made at test time there, then the kinds below.

@dataclass(frozen=True)
class CardKind:
    """A copy of the valid fixture card with `old` replaced by `new` (and `setup` run on its folder)."""

    category: str
    old: str
    new: str
    expected: str
    setup: Callable[[Path], None] | None = None


def _drop_description(folder: Path) -> None:
    card = folder / "card.yaml"
    text = card.read_text(encoding="utf-8")
    card.write_text(text[:text.index("description: |\n")] + text[text.index("task:"):], encoding="utf-8")


def _readme(text: str) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        _drop_description(folder)
        (folder / "README.md").write_text(text, encoding="utf-8")
    return setup


def _readme_symlink(folder: Path) -> None:
    _drop_description(folder)
    secret = folder.parents[2] / "secret.txt"
    secret.write_text("the build machine's secret\n")
    (folder / "README.md").symlink_to(secret)


def _card_symlink(folder: Path) -> None:
    elsewhere = folder.parents[2] / "elsewhere.yaml"
    (folder / "card.yaml").rename(elsewhere)
    (folder / "card.yaml").symlink_to(elsewhere)


def _sparse_model(folder: Path) -> None:
    with (folder / "model.onnx").open("r+b") as fh:
        fh.truncate(11 * 1024 * 1024)  # sparse: costs no disk


HINT_VERSION = '  hint: write MAJOR.MINOR.PATCH in quotes, e.g. version: "1.0.0"'
HINT_LONG_VERSION = ('  hint: write a shorter one, e.g. version: "1.0.0"; '
                     '`modelshelf pull ORG/NAME@VERSION` takes no longer ones')
TOO_LONG = ("is too long for a version: MAJOR, MINOR and PATCH have at most 9 digits, "
            "a -pre-release or +build suffix at most 40 characters")
HINT_HTML = "  hint: contributor HTML is sanitised; remove it and use Markdown for formatting"
HINT_OUTSIDE = "  hint: give a path relative to the card, inside its folder"
DESCRIPTION_LINE = "  It exists so that tests have a real, valid model to point at."

NEW_CARD_KINDS: dict[str, CardKind] = {
    # -- card
    "card-raw-control-character": CardKind("card", "summary: Adds", "summary: \x1b[31mAdds", """\
{card}:5:10: $: the card contains the control character U+001B, which YAML does not allow
  hint: remove it: cards hold printable text (tabs and line breaks are fine)"""),
    "card-raw-nul": CardKind("card", "name: Tiny add", "name: Tiny\x00add", """\
{card}:3:11: $: the card contains the control character U+0000, which YAML does not allow
  hint: remove it: cards hold printable text (tabs and line breaks are fine)"""),
    "card-source-as-list": CardKind("card", "source:\n  file: model.onnx", "source: [model.onnx]", """\
{card}:20:9: $.source: source must have exactly one of file, recipe or url (url needs sha256 and size)
  hint: e.g. source: {recipe: recipe.py}"""),
    "card-number-key": CardKind("card", "license: MIT", "license: MIT\n1: x", """\
{card}:13:1: $: key '1' is read as a number, not text
  hint: quote it: "1\""""),
    "card-nested-too-deep": CardKind("card", "tags: [test, tiny]", "tags: " + "[" * 40 + "x" + "]" * 40, """\
{card}:11:8: $.tags[0]: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[None]]]]]]]]]]]]]]]]]]]]]]... is not a valid tag
  hint: use lower case letters, digits and '-', e.g. tabular
{card}:11:39: $.tags""" + "[0]" * 32 + """: nesting deeper than 32 levels
  hint: cards are shallow; flatten this value"""),
    "card-symlink": CardKind("card", "name: Tiny add", "name: Tiny add", """\
{card}:1:1: $: card.yaml is a symbolic link
  hint: commit the card itself, not a link""", _card_symlink),
    # -- versions
    "version-unquoted-number": CardKind("version", 'version: "1.0.0"', "version: 1.0", """\
{card}:4:10: $.version: 1.0 is not a semantic version
""" + HINT_VERSION),
    "version-leading-zero": CardKind("version", 'version: "1.0.0"', 'version: "01.0.0"', """\
{card}:4:10: $.version: '01.0.0' is not a semantic version
""" + HINT_VERSION),
    "version-empty-prerelease": CardKind("version", 'version: "1.0.0"', 'version: "1.0.0-"', """\
{card}:4:10: $.version: '1.0.0-' is not a semantic version
""" + HINT_VERSION),
    "version-path": CardKind("version", 'version: "1.0.0"', 'version: "../1"', """\
{card}:4:10: $.version: '../1' is not a semantic version
""" + HINT_VERSION),
    "version-empty": CardKind("version", 'version: "1.0.0"', "version:", """\
{card}:4:9: $.version: an empty value is not a semantic version
""" + HINT_VERSION),
    "version-too-long": CardKind("version", 'version: "1.0.0"', 'version: "1234567890123.0.0"', f"""\
{{card}}:4:10: $.version: '1234567890123.0.0' {TOO_LONG}
""" + HINT_LONG_VERSION),
    "version-long-suffix": CardKind("version", 'version: "1.0.0"', 'version: "1.0.0-' + "a" * 60 + '"', f"""\
{{card}}:4:10: $.version: '1.0.0-{"a" * 50}... {TOO_LONG}
""" + HINT_LONG_VERSION),
    # -- file references
    "file-absolute-path": CardKind("file reference", "file: model.onnx", "file: /tmp/model.onnx", """\
{card}:21:9: $.source.file: '/tmp/model.onnx' points outside the model folder
""" + HINT_OUTSIDE),
    "file-drive-letter": CardKind("file reference", "file: model.onnx", 'file: "C:/models/model.onnx"', """\
{card}:21:9: $.source.file: 'C:/models/model.onnx' points outside the model folder
""" + HINT_OUTSIDE),
    "file-dotdot-inside-path": CardKind("file reference", "file: model.onnx", "file: sub/../model.onnx", """\
{card}:21:9: $.source.file: 'sub/../model.onnx' points outside the model folder
""" + HINT_OUTSIDE),
    "file-is-a-folder": CardKind("file reference", "file: model.onnx", "file: sub.onnx", """\
{card}:21:9: $.source.file: 'sub.onnx' is a folder, not a file
  hint: give the path of the file itself, relative to the card""", lambda folder: (folder / "sub.onnx").mkdir()),
    "file-empty-path": CardKind("file reference", "file: model.onnx", 'file: ""', """\
{card}:21:9: $.source.file: '' is not an .onnx file
  hint: point at the model's .onnx file beside the card
{card}:21:9: $.source.file: '' names no file
  hint: give the path of a file beside the card, relative to it"""),
    "file-recipe-missing": CardKind("file reference", "  file: model.onnx", "  recipe: recipe.py", """\
{card}:21:11: $.source.recipe: file 'recipe.py' does not exist beside the card
  hint: add recipe.py to {folder}/ or fix the path"""),
    "file-evaluation-script-outside": CardKind(
        "file reference", "examples:", "evaluation: {script: ../evaluate.py, metrics: [mae]}\nexamples:", """\
{card}:41:22: $.evaluation.script: '../evaluate.py' points outside the model folder
""" + HINT_OUTSIDE),
    "file-committed-too-large": CardKind("file reference", "file: model.onnx", "file: model.onnx", """\
{card}:21:9: $.source.file: 'model.onnx' is 11534336 bytes, more than the 10485760 that may be committed
  hint: host the file elsewhere and use source: {url, sha256, size}""", _sparse_model),
    "file-readme-symlink": CardKind("file reference", "name: Tiny add", "name: Tiny add", """\
{folder}/README.md:1:1: $.description: README.md is a symbolic link
  hint: commit the README itself, not a link""", _readme_symlink),
    # -- Markdown
    "markdown-iframe-in-readme": CardKind("Markdown", "name: Tiny add", "name: Tiny add", """\
{folder}/README.md:5:1: $.description: <iframe> is not allowed in README.md
""" + HINT_HTML, _readme("# Tiny add\n\nAdds one.\n\n<iframe src=\"https://example.org/\"></iframe>\n")),
    "markdown-data-link": CardKind("Markdown", DESCRIPTION_LINE, "  ![x](data:text/html;base64,PHNjcmlwdD4=)", """\
{card}:9:8: $.description: a data: link is not allowed in the description
""" + HINT_HTML),
    "markdown-vbscript-link": CardKind("Markdown", DESCRIPTION_LINE, '  <a href="vbscript:msgbox(1)">x</a>', """\
{card}:9:12: $.description: a vbscript: link is not allowed in the description
""" + HINT_HTML),
    "markdown-style": CardKind("Markdown", DESCRIPTION_LINE, "  <style>body{display:none}</style>", """\
{card}:9:3: $.description: <style> is not allowed in the description
""" + HINT_HTML),
    "markdown-svg-onload": CardKind("Markdown", DESCRIPTION_LINE, '  <svg onload="alert(1)"></svg>', """\
{card}:9:3: $.description: <svg> is not allowed in the description
""" + HINT_HTML + """
{card}:9:8: $.description: the event handler attribute 'onload' is not allowed in the description
""" + HINT_HTML),
    "markdown-hidden-javascript-link": CardKind("Markdown", DESCRIPTION_LINE, "  [x](java&#10;script:alert(1))", """\
{card}:6:1: $.description: a javascript: link is not allowed in the description
""" + HINT_HTML),
}


@functools.cache
def _invalid_cards_module() -> ModuleType:
    """tests/unit/test_invalid_cards.py, for its defects made at test time (symbolic links, a 300 KB card, Latin-1)."""
    return _module("invalid_cards_fixtures", REPO / "tests" / "unit" / "test_invalid_cards.py")


MADE_AT_TEST_TIME = sorted(_invalid_cards_module().MADE_AT_TEST_TIME)
FIXTURE_KINDS = sorted(p.name for p in INVALID.iterdir() if p.is_dir())
CARD_KINDS = FIXTURE_KINDS + MADE_AT_TEST_TIME + list(NEW_CARD_KINDS)


def _in_org(text: str, kind: str) -> str:
    """A fixture's text (card or expected output) with the model moved from acme/ to the org `kind`."""
    return text.replace("models/acme/", f"models/{kind}/").replace("acme/tiny-add", f"{kind}/tiny-add")


def _add_card_kind(models: Path, kind: str) -> str:
    """Write the model(s) of one kind under models/<kind>/; returns the problems the build must report for it."""
    if kind in FIXTURE_KINDS:
        shutil.copytree(INVALID / kind / "models" / "acme", models / kind)
        for path in (models / kind).rglob("*"):
            if path.name in ("card.yaml", "card.yml", "README.md"):
                path.write_bytes(_in_org(path.read_text(encoding="utf-8"), kind).encode())
        expected = (INVALID / kind / "expected.txt").read_text(encoding="utf-8")
        return _in_org(expected, kind)
    folder = models / kind / "tiny-add"
    shutil.copytree(VALID, folder)
    card = folder / "card.yaml"
    card.write_text(_in_org(card.read_text(encoding="utf-8"), kind), encoding="utf-8")
    if kind in MADE_AT_TEST_TIME:
        make_defect, expected = _invalid_cards_module().MADE_AT_TEST_TIME[kind]
        make_defect(folder)
        return _in_org(expected, kind)
    spec = NEW_CARD_KINDS[kind]
    text = card.read_text(encoding="utf-8")
    assert text.count(spec.old) == 1, (kind, spec.old)
    card.write_text(text.replace(spec.old, spec.new, 1), encoding="utf-8")
    if spec.setup is not None:
        spec.setup(folder)
    return spec.expected.replace("{card}", f"models/{kind}/tiny-add/card.yaml").replace("{folder}", f"models/{kind}/tiny-add")


@dataclass(frozen=True)
class BuildResult:
    message: str
    expected: dict[str, list[str]]  # kind -> its problem blocks
    root: Path


@pytest.fixture(scope="module")
def card_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuildResult]:
    root = tmp_path_factory.mktemp("bad-cards")
    config = make_project(root / "proj", cache=root / "cache")
    expected = {kind: problem_blocks(_add_card_kind(root / "proj" / "models", kind)) for kind in CARD_KINDS}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root / "proj")  # problems name files relative to the working folder, as `modelshelf build` run there
        message = build_fails(config, root / "site")
    yield BuildResult(message, expected, root)


@pytest.mark.parametrize("kind", CARD_KINDS)
def test_bad_card(card_build: BuildResult, kind: str) -> None:
    """The build reports exactly this kind's problems, at its file, line, column and field, with the hint."""
    reported = [b for b in problem_blocks(card_build.message) if b.startswith(f"models/{kind}/")]
    assert reported == card_build.expected[kind]


def test_one_build_reports_every_bad_card_and_writes_nothing(card_build: BuildResult) -> None:
    blocks = problem_blocks(card_build.message)
    assert sorted(blocks) == sorted(b for kind in CARD_KINDS for b in card_build.expected[kind])
    files = {b.split(":", 1)[0] for b in blocks}
    assert card_build.message.splitlines()[0] == "the catalog has problems; nothing was written:"
    assert card_build.message.splitlines()[-2:] == [
        f"{len(blocks)} problems in {len(files)} files",
        f"Build aborted: no site was written; {card_build.root / 'site'} is unchanged."]
    assert sorted(p.name for p in card_build.root.iterdir()) == ["proj"], "no site, no staging folder, no cache"


# ================================================================ model files
# One project, one model per kind, one build: every check that needs no run of the model (generator/export/
# safety.py and the signature) reports all models at once. The smoke run's kinds have a build of their own.

MODEL_CARD = textwrap.dedent('''\
    id: acme/KIND
    name: Guarded
    version: "1.0.0"
    summary: A model for the bad-input tests.
    description: A test model.
    task: tabular-regression
    license: MIT
    authors: [{name: Test}]
    framework: onnx
    source: {file: model.onnx}
    inputs: [{name: x, dtype: float32, shape: [2, 3]}]
    outputs: [{name: y, dtype: float32, shape: [2, 3]}]
''')

HINT_PUBLISH = "  hint: publish the exported .onnx file itself (torch.onnx.export, skl2onnx, ...)"
HINT_CORRUPT = "  hint: the file is corrupt or was edited by hand; re-export the model"
NOT_VALID = "$.source: the ONNX file is not a valid model: "


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x04K\x01.")
    return buffer.getvalue()


def _external(location: str) -> dict[str, str]:
    return {"location": location, "offset": "0", "length": "24"}


def _edited(make: ModuleType, edit: Callable[[Any], None]) -> bytes:
    model = make.add_model()
    edit(model)
    return model.SerializeToString()


def _rename_input(model: Any) -> None:
    model.graph.input[0].name = "input"
    model.graph.node[0].input[0] = "input"


def _set_dim(value: int) -> Callable[[Any], None]:
    def edit(model: Any) -> None:
        model.graph.initializer[0].dims[0] = value
    return edit


@dataclass(frozen=True)
class ModelKind:
    """A model folder: its files (from make_onnx; `outside` is a file beside the project), then `link` run on
    the folder in the project (copying the project would have replaced links by plain files)."""

    category: str
    files: Callable[[ModuleType, Path], dict[str, bytes]]
    expected: str  # {card} and {outside} filled in
    link: Callable[[Path, Path], None] | None = None


HINT_EXTERNAL = ("  hint: keep external data files in the model's folder and name them by a relative path without '..' "
                 "(onnx.save_model(..., location='model.onnx.data'))")
HINT_INCONSISTENT = "  hint: the initializer is inconsistent (truncated, or edited without its dims); re-export the model"
HINT_PARSE = "  hint: re-export or re-download the model; compare its size and SHA-256 with the original"
PARSE_ERROR = ("its protobuf cannot be parsed (Error parsing message with type 'onnx.ModelProto': Wire format was corrupt); "
               "the file is truncated or corrupt\n")


def _with_external(location: Callable[[Path], str], **extra: bytes) -> Callable[[ModuleType, Path], dict[str, bytes]]:
    return lambda m, outside: {"model.onnx": m.add_model(_external(location(outside))).SerializeToString(), **extra}


def _symlink_data(folder: Path, outside: Path) -> None:
    (folder / "w.bin").symlink_to(outside)


def _hardlink_data(folder: Path, outside: Path) -> None:
    os.link(outside, folder / "w.bin")


MODEL_KINDS: dict[str, ModelKind] = {
    "model-python-pickle": ModelKind("model file", lambda m, o: {
        "model.onnx": b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s."},
        "{card}:10:9: " + NOT_VALID + "the file is a Python pickle, not an ONNX model; "
        "pickles can run code and are never loaded\n" + HINT_PUBLISH),
    "model-git-lfs-pointer": ModelKind("model file", lambda m, o: {
        "model.onnx": b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n"},
        "{card}:10:9: " + NOT_VALID + "the file is a Git LFS pointer, not the model: "
        "fetch it with `git lfs pull` or use source: {url, sha256, size}\n" + HINT_PUBLISH),
    "model-zip-checkpoint": ModelKind("model file", lambda m, o: {"model.onnx": _zip_bytes()},
        "{card}:10:9: " + NOT_VALID + "the file is a zip archive (a PyTorch checkpoint?), not an "
        "ONNX model; export it with torch.onnx.export\n" + HINT_PUBLISH),
    "model-empty-file": ModelKind("model file", lambda m, o: {"model.onnx": b""},
                                  "{card}:10:9: " + NOT_VALID + "the file is empty\n" + HINT_PUBLISH),
    "model-html-page": ModelKind("model file", lambda m, o: {
        "model.onnx": b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n"},
        "{card}:10:9: " + NOT_VALID + PARSE_ERROR + HINT_PARSE),
    "model-truncated": ModelKind("model file", lambda m, o: {"model.onnx": m.add_model().SerializeToString()[:-20]},
                                 "{card}:10:9: " + NOT_VALID + PARSE_ERROR + HINT_PARSE),
    "model-too-large": ModelKind("model file", lambda m, o: {"model.onnx": bytes(range(256)) * 6144},  # 1.5 MB > max_model_mb 1
        "{card}:10:9: $.source: the ONNX file is 1.5 MB, more than the 1 MB the build accepts\n"
        "  hint: make the model smaller (e.g. quantise it) or raise max_model_mb in mkdocs.yml"),
    "model-inconsistent-initializer": ModelKind("model file", lambda m, o: {
        "model.onnx": m.inconsistent_model().SerializeToString()},
        "{card}:10:9: $.source: initializer 'w' has 12 bytes of data, but its shape [2, 3] of float32 needs 24\n"
        + HINT_INCONSISTENT),
    "model-negative-dimension": ModelKind("model file", lambda m, o: {"model.onnx": _edited(m, _set_dim(-2))},
        "{card}:10:9: $.source: initializer 'w' has a negative dimension in its shape [-2, 3]\n" + HINT_CORRUPT),
    "model-huge-dimension": ModelKind("model file", lambda m, o: {"model.onnx": _edited(m, _set_dim(1 << 40))},
        "{card}:10:9: $.source: initializer 'w' has shape [1099511627776, 3], with a dimension over 2147483647\n"
        + HINT_CORRUPT),
    "model-custom-operator-domain": ModelKind("model file", lambda m, o: {
        "model.onnx": m.custom_domain_model().SerializeToString()},
        "{card}:10:9: $.source: the graph uses operators from the custom domain 'org.acme' (Frobnicate), which "
        "onnxruntime does not know\n  hint: export with standard operators (ai.onnx, ai.onnx.ml, com.microsoft); "
        "the build loads no custom-operator libraries"),
    "model-input-name-mismatch": ModelKind("model file", lambda m, o: {"model.onnx": _edited(m, _rename_input)},
        "{card}:11:9: $.inputs: inputs ['x'] do not match the ONNX graph's ['input']\n"
        "  hint: list the graph's inputs in its order: input"),
    # -- where a model keeps its external data: a file reference inside the model file
    "model-external-data-dotdot": ModelKind("file reference", _with_external(lambda o: "../x.bin"),
        "{card}:10:9: $.source: initializer 'w' keeps its data at '../x.bin', outside the model's folder\n" + HINT_EXTERNAL),
    "model-external-data-absolute": ModelKind("file reference", _with_external(str),
        "{card}:10:9: $.source: initializer 'w' keeps its data at the absolute path '{outside}'\n" + HINT_EXTERNAL),
    "model-external-data-symlink": ModelKind("file reference", _with_external(lambda o: "w.bin"),
        "{card}:10:9: $.source: initializer 'w' keeps its data in 'w.bin', which is a symbolic link\n"
        "  hint: write the data file itself into the model's folder, not a link to it", _symlink_data),
    "model-external-data-hardlink": ModelKind("file reference", _with_external(lambda o: "w.bin"),
        "{card}:10:9: $.source: initializer 'w' keeps its data in 'w.bin', a file with 2 hard links\n"
        "  hint: write a fresh file; a hard link can expose a file from elsewhere on the machine", _hardlink_data),
    "model-external-data-missing": ModelKind("file reference", _with_external(lambda o: "w.bin"),
        "{card}:10:9: $.source: initializer 'w' keeps its data in 'w.bin', which does not exist beside the model\n"
        "  hint: ship the external data file with the model, or save the model without external data"),
    "model-external-data-short": ModelKind("file reference", _with_external(lambda o: "w.bin", **{"w.bin": bytes(10)}),
        "{card}:10:9: $.source: initializer 'w' needs bytes 0 to 24 of 'w.bin', which has only 10\n"
        "  hint: the external data file is truncated or belongs to another export; re-export the model"),
    "model-external-data-folder": ModelKind("file reference", _with_external(lambda o: "w.bin", **{"w.bin/keep": b""}),
        "{card}:10:9: $.source: initializer 'w' keeps its data in 'w.bin', which is not a regular file\n"
        "  hint: re-export the model"),
}


@pytest.fixture(scope="module")
def model_build(make: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    root = tmp_path_factory.mktemp("bad-models")
    outside = root / "outside.bin"
    outside.write_bytes(bytes(24))
    src = root / "src" / "acme"
    for kind, spec in MODEL_KINDS.items():
        (src / kind).mkdir(parents=True)
        (src / kind / "card.yaml").write_text(MODEL_CARD.replace("KIND", kind))
        for name, data in spec.files(make, outside).items():
            (src / kind / name).parent.mkdir(exist_ok=True)
            (src / kind / name).write_bytes(data)
    config = make_project(root / "proj", root / "src", cache=root / "cache")
    for kind, spec in MODEL_KINDS.items():
        if spec.link is not None:
            spec.link(root / "proj" / "models" / "acme" / kind, outside)
    plugin_option(config, "max_model_mb: 1")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root / "proj")
        message = build_fails(config, root / "site")
    expected = {kind: problem_blocks(spec.expected.replace("{card}", f"models/acme/{kind}/card.yaml")
                                     .replace("{outside}", str(outside))) for kind, spec in MODEL_KINDS.items()}
    return BuildResult(message, expected, root)


@pytest.mark.parametrize("kind", list(MODEL_KINDS))
def test_bad_model_file(model_build: BuildResult, kind: str) -> None:
    reported = [b for b in problem_blocks(model_build.message) if b.startswith(f"models/acme/{kind}/")]
    assert reported == model_build.expected[kind]


def test_one_build_reports_every_bad_model_and_writes_nothing(model_build: BuildResult) -> None:
    assert sorted(problem_blocks(model_build.message)) == sorted(b for bs in model_build.expected.values() for b in bs)
    assert sorted(p.name for p in model_build.root.iterdir()) == ["outside.bin", "proj", "src"], \
        "no site, staging folder or cache"


def test_bad_model_file_that_never_finishes(make: ModuleType, tmp_path: Path) -> None:
    """A Loop of 10**15 trips: valid and tiny, cut off by the smoke run's time limit (smoke_seconds, 2 s here)."""
    src = tmp_path / "src" / "acme" / "model-never-finishes"
    src.mkdir(parents=True)
    (src / "card.yaml").write_text(MODEL_CARD.replace("KIND", "model-never-finishes").replace("[2, 3]", "[1]"))
    (src / "model.onnx").write_bytes(make.spin_model().SerializeToString())
    config = make_project(tmp_path / "proj", tmp_path / "src", cache=tmp_path / "cache")
    plugin_option(config, "smoke_seconds: 2")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path / "proj")
        message = build_fails(config, tmp_path / "site")
    assert problem_blocks(message) == [
        "models/acme/model-never-finishes/card.yaml:10:9: $.source: the model did not finish one run within 2 s "
        "(limit of the smoke run)\n"
        "  hint: look for loops and huge shapes in the graph; if the model really is that slow, "
        "raise smoke_seconds in mkdocs.yml"]
    assert not [p for p in (tmp_path / "cache").rglob("*") if ".tmp" in p.name], "no half-written cache entry"


# ================================================================ catalogs
# catalog.json is written by whoever controls the site. `modelshelf pull` against a folder site: the exact
# error, exit 1, and nothing in the cache but what is whole (a parsed catalog, a lock file).

BLOB = b"model bytes " * 10
SHA = hashlib.sha256(BLOB).hexdigest()


def _entry(model_id: str = "evil/m", version: str = "1.0.0", **file: Any) -> dict[str, Any]:
    f = {"name": "m.onnx", "kind": "onnx", "size": len(BLOB), "sha256": SHA, "url": "files/m.onnx", **file}
    return {"id": model_id, "version": version, "task": "t", "card": {"name": "M", "summary": "a model"}, "files": [f]}


def _catalog(*models: dict[str, Any]) -> bytes:
    return json.dumps({"format_version": 1, "models": list(models)}).encode()


# kind -> (catalog.json bytes, or None for none; what to pull; the error, with {site} for the site's file URL)
CATALOG_KINDS: dict[str, tuple[bytes | None, str, str]] = {
    "catalog-html-page": (b"<!DOCTYPE html><html><body>Not Found</body></html>", "evil/m",
                          "{site}catalog.json is not JSON (Expecting value: line 1 column 1 (char 0)); "
                          "is {site} a Modelshelf site?"),
    "catalog-not-utf8": (b'{"format_version": 1, "models": [], "x": "\xe9"}', "evil/m",
                         "{site}catalog.json is not JSON ('utf-8' codec can't decode byte 0xe9 in position 42: "
                         "invalid continuation byte); is {site} a Modelshelf site?"),
    "catalog-newer-format": (json.dumps({"format_version": 2, "models": []}).encode(), "evil/m",
                             "{site}catalog.json has format_version 2; this client reads 1. "
                             "Please retry with an up-to-date modelshelf"),
    "catalog-no-models-list": (json.dumps({"format_version": 1}).encode(), "evil/m",
                               "{site}catalog.json is not a Modelshelf catalog (no models list)"),
    "catalog-missing": (None, "evil/m",
                        "cannot fetch {site}catalog.json: [Errno 2] No such file or directory: '{path}catalog.json'. "
                        "Check the site address (--site / MODELSHELF_SITE_URL), or use --offline"),
    "catalog-entry-with-bad-id": (_catalog(_entry("Evil/M")), "evil/m",
                                  "{site} has no model evil/m; `modelshelf search` lists what is there"),
    "catalog-script-url": (_catalog(_entry(url="javascript:alert(1)")), "evil/m",
                           "refusing to download m.onnx from javascript:alert(1): only http(s) and file URLs are used"),
    "catalog-no-file-of-the-kind": (_catalog(_entry(kind="bundle")), "evil/m",
                                    "evil/m@1.0.0 has no onnx file on {site}; it has: bundle"),
    "catalog-size-too-large": (_catalog(_entry(size=len(BLOB) + 5)), "evil/m",
                               "evil/m@1.0.0 m.onnx from {site}files/m.onnx: received 120 bytes, but catalog.json "
                               "declares 125. Nothing was stored; please retry (the site may be mid-deploy), "
                               "or tell its operator"),
    "catalog-wrong-sha256": (_catalog(_entry(sha256="0" * 64)), "evil/m",
                             f"evil/m@1.0.0 m.onnx from {{site}}files/m.onnx: the downloaded bytes have SHA-256 {SHA}, "
                             f"but catalog.json declares {'0' * 64}. Nothing was stored; please retry (the site may be "
                             "mid-deploy), or tell its operator"),
}


def _folder_site(root: Path, catalog: bytes | None) -> Path:
    site = root / "site"
    (site / "files").mkdir(parents=True)
    (site / "files" / "m.onnx").write_bytes(BLOB)
    if catalog is not None:
        (site / "catalog.json").write_bytes(catalog)
    return site


def _pull(ref: str, site: Path, home: Path) -> tuple[int, list[str]]:
    """`modelshelf pull REF --site SITE --cache-dir HOME`: its exit code and its `error: ` lines."""
    result = CliRunner().invoke(client_cli, ["pull", ref, "--site", str(site), "--cache-dir", str(home)])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, [line for line in result.output.splitlines() if line.startswith("error: ")]


def nothing_cached(home: Path) -> None:
    """No model file, no ref, no temp file: only what is whole (a parsed catalog, lock files) may be there."""
    if not home.exists():
        return
    assert {p.name for p in home.iterdir()} <= {"blobs", "catalogs", "locks"}, list(home.iterdir())
    assert not (home / "blobs").exists() or not any((home / "blobs").iterdir()), list((home / "blobs").iterdir())
    assert not [p for p in home.rglob("*") if ".tmp" in p.name]


@pytest.mark.parametrize("kind", list(CATALOG_KINDS))
def test_bad_catalog(tmp_path: Path, kind: str) -> None:
    catalog, ref, message = CATALOG_KINDS[kind]
    site = _folder_site(tmp_path, catalog)
    code, errors = _pull(ref, site, tmp_path / "home")
    assert (code, errors) == (1, ["error: " + message.replace("{site}", site.as_uri() + "/").replace("{path}", f"{site}/")])
    nothing_cached(tmp_path / "home")
    assert {p.name for p in tmp_path.iterdir()} <= {"home", "site"}, "nothing is written outside the cache"


def test_a_card_id_with_dots_and_underscores_in_its_org_can_be_pulled(tmp_path: Path) -> None:
    """Regression (issue 12): the card schema allows `acme_labs/m`, but the client refused it as 'not a model id'."""
    site = _folder_site(tmp_path, _catalog(_entry("acme_labs.ai/m")))
    result = CliRunner().invoke(client_cli, ["pull", "acme_labs.ai/m", "--site", str(site),
                                             "--cache-dir", str(tmp_path / "home")])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(SHA)


def test_card_and_client_agree_on_versions() -> None:
    """A card's version must be one `modelshelf pull ORG/NAME@VERSION` accepts (catalog/validate.py cannot import
    the client's pattern, so it keeps a copy)."""
    assert FETCHABLE_VERSION.pattern == download._VERSION.pattern


# ================================================================ versions asked for on the command line

VERSION_ERROR = "is not a version; versions look like 1.0.0 (MAJOR.MINOR.PATCH), e.g. modelshelf/iris-logreg@1.0.0"
PULL_VERSION_KINDS: dict[str, tuple[str, str]] = {
    "pull-version-two-numbers": ("evil/m@1.0", f"'1.0' {VERSION_ERROR}"),
    "pull-version-leading-zero": ("evil/m@01.0.0", f"'01.0.0' {VERSION_ERROR}"),
    "pull-version-empty-prerelease": ("evil/m@1.0.0-", f"'1.0.0-' {VERSION_ERROR}"),
    "pull-version-path": ("evil/m@../1", f"'../1' {VERSION_ERROR}"),
    "pull-version-very-long": ("evil/m@" + "1" * 300 + ".0.0", "'" + "1" * 55 + f"...' (304 characters) {VERSION_ERROR}"),
    "pull-version-escape-sequence": ("evil/m@1.0.0\x1b[2J", f"'1.0.0\\x1b[2J' {VERSION_ERROR}"),
    "pull-version-empty": ("evil/m@", "'evil/m@' has no version after '@'; give one, e.g. evil/m@1.0.0, or write evil/m "
                                      "for the latest"),
    "pull-version-not-published": ("evil/m@2.0.0", "evil/m has no version 2.0.0 on {site}; available: 1.0.0"),
}


@pytest.mark.parametrize("kind", list(PULL_VERSION_KINDS))
def test_bad_version_to_pull(tmp_path: Path, kind: str) -> None:
    ref, message = PULL_VERSION_KINDS[kind]
    site = _folder_site(tmp_path, _catalog(_entry()))
    code, errors = _pull(ref, site, tmp_path / "home")
    assert (code, errors) == (1, ["error: " + message.replace("{site}", site.as_uri() + "/")])
    nothing_cached(tmp_path / "home")


# ================================================================ requests to `modelshelf serve`

def _model_config(data: bytes) -> dict[str, Any]:
    tensor = {"dtype": "float32", "shape": [2, 3], "kind": None, "features": []}
    return {"format": runtime.CONFIG_FORMAT, "id": "acme/guarded", "version": "1.0.0", "name": "Guarded",
            "task": "tabular-regression", "model_file": "model.onnx", "model_sha256": hashlib.sha256(data).hexdigest(),
            "model_size": len(data), "inputs": [{"name": "x", **tensor}], "outputs": [{"name": "y", **tensor}],
            "preprocessing": [], "postprocessing": [], "labels": [],
            "examples": [{"inputs": {"x": [[0, 0, 0], [1, 1, 1]]}, "outputs": {"y": [[1, 1, 1], [2, 2, 2]]},
                          "tolerance": 1e-4}]}


GOOD_REQUEST = b'{"inputs": {"x": [[0, 0, 0], [1, 1, 1]]}}'
GOOD_ANSWER = {"model": "acme/guarded", "version": "1.0.0", "outputs": {"y": [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]}}
SIGNATURE = {"inputs": [{"name": "x", "dtype": "float32", "shape": [2, 3]}]}


def _input_error(message: str) -> tuple[int, dict[str, Any]]:
    return 400, {"error": message, "expected": SIGNATURE}


def _nested(depth: int) -> bytes:
    return b'{"inputs": {"x": ' + b"[" * depth + b"]" * depth + b"}}"


NOT_JSON = (415, {"error": "send the request as JSON, with the header Content-Type: application/json"})

# kind -> (method, body, content type; the status and JSON answer)
REQUEST_KINDS: dict[str, tuple[str, bytes | None, str, tuple[int, Any]]] = {
    "request-form-encoded-body": ("POST", b"x=1&y=2", "application/x-www-form-urlencoded", NOT_JSON),
    # A cross-site page can send text/plain without a CORS preflight: JSON in it is refused all the same.
    "request-json-as-text-plain": ("POST", GOOD_REQUEST, "text/plain", NOT_JSON),
    "request-empty-body": ("POST", b"", "application/json",
                           _input_error("the body is not JSON: Expecting value: line 1 column 1 (char 0)")),
    "request-nan": ("POST", b'{"inputs": {"x": [[NaN, 0, 0], [1, 1, 1]]}}', "application/json",
                    _input_error("input 'x' holds NaN, Infinity or a number too large for float32; give finite numbers")),
    "request-infinity": ("POST", b'{"inputs": {"x": [[-Infinity, 0, 0], [1, 1, 1]]}}', "application/json",
                         _input_error("input 'x' holds NaN, Infinity or a number too large for float32; "
                                      "give finite numbers")),
    "request-number-too-large-for-float32": (
        "POST", b'{"inputs": {"x": [[1e39, 0, 0], [1, 1, 1]]}}', "application/json",
        _input_error("input 'x' holds NaN, Infinity or a number too large for float32; give finite numbers")),
    "request-nested-too-deep": ("POST", _nested(50), "application/json",
                                _input_error("input 'x' is nested more than 2 levels deep; it must be float32 with "
                                             "shape [2, 3]")),
    "request-inputs-and-raw": ("POST", b'{"inputs": {"x": [[0, 0, 0], [1, 1, 1]]}, "raw": {"x": [[0, 0, 0], [1, 1, 1]]}}',
                               "application/json", _input_error("input 'x' is given both as a tensor and as a raw value")),
    "request-inputs-not-an-object": ("POST", b'{"inputs": [[0, 0, 0], [1, 1, 1]]}', "application/json",
                                     _input_error('"inputs" and "raw" must be JSON objects mapping input names to '
                                                  "values")),
    "request-numbers-as-text": ("POST", b'{"inputs": {"x": [["0", "0", "0"], [1, 1, 1]]}}', "application/json",
                                _input_error("input 'x' must hold float32 values, got text")),
    "request-scalar-for-a-tensor": ("POST", b'{"inputs": {"x": 5}}', "application/json",
                                    _input_error("input 'x' must have shape [2, 3], got []")),
    "request-get-on-predict": ("GET", None, "", (405, "Method Not Allowed")),
    "request-body-too-large": ("POST", b'{"inputs": {"x": [' + b"[1, 2, 3], " * 7000 + b"[1, 2, 3]]}}",
                               "application/json", (413, {"error": "the request body is larger than 65536 bytes"})),
    # the kinds of tests/acceptance/test_server.py, here with their whole answer
    "request-missing-input": ("POST", b'{"inputs": {}}', "application/json", _input_error("missing input 'x'")),
    "request-unknown-input": ("POST", b'{"inputs": {"x": [[0, 0, 0], [1, 1, 1]], "y": [1]}}', "application/json",
                              _input_error("unexpected input 'y'; the model takes 'x'")),
    "request-booleans-for-floats": ("POST", b'{"inputs": {"x": [[true, false, true], [false, true, false]]}}', "application/json",
                                    _input_error("input 'x' must hold float32 values, got true/false")),
    "request-wrong-shape": ("POST", b'{"inputs": {"x": [[0, 0, 0]]}}', "application/json",
                            _input_error("input 'x' must have shape [2, 3], got [1, 3]")),
    "request-ragged-rows": ("POST", b'{"inputs": {"x": [[0, 0], [1, 1, 1]]}}', "application/json",
                            _input_error("input 'x' is not a rectangular array (rows of different lengths?); it must be "
                                         "float32 with shape [2, 3]")),
    "request-no-inputs-field": ("POST", b'{"x": [[0, 0, 0], [1, 1, 1]]}', "application/json",
                                _input_error('the request must be a JSON object with "inputs" (model tensors by name) or '
                                             '"raw" (values for the card\'s preprocessing)')),
    "request-truncated-json": ("POST", b'{"inputs": ', "application/json",
                               _input_error("the body is not JSON: Expecting value: line 1 column 12 (char 11)")),
    "request-not-utf8-body": ("POST", b'{"inputs": {"x": "caf\xe9"}}', "application/json",
                              _input_error("the body is not JSON: 'utf-8' codec can't decode byte 0xe9 in position 21: "
                                           "invalid continuation byte")),
}


@pytest.fixture(scope="module")
def model_folder(make: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("served")
    (folder / "model.onnx").write_bytes(make.add_model().SerializeToString())
    return folder


@pytest.fixture(scope="module")
def server(model_folder: Path) -> Iterator[Any]:
    from modelshelf.catalog.runtime.server import BackgroundServer, Limits

    data = (model_folder / "model.onnx").read_bytes()
    runner = runtime.Runner(_model_config(data), model_folder / "model.onnx")
    with BackgroundServer(runner, limits=Limits(workers=1, max_body_bytes=64 * 1024)) as s:
        yield s


def _http(url: str, method: str, body: bytes | None, content_type: str) -> tuple[int, Any]:
    headers = {"Content-Type": content_type} if body is not None else {}
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            status, raw, kind = resp.status, resp.read(), resp.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        status, raw, kind = exc.code, exc.read(), exc.headers.get_content_type()
    return status, json.loads(raw) if kind == "application/json" else raw.decode()


@pytest.mark.parametrize("kind", list(REQUEST_KINDS))
def test_bad_request(server: Any, model_folder: Path, kind: str) -> None:
    method, body, content_type, answer = REQUEST_KINDS[kind]
    before = files_under(model_folder)
    assert _http(f"{server.url}/v1/predict", method, body, content_type) == answer
    assert _http(f"{server.url}/v1/predict", "POST", GOOD_REQUEST, "application/json") == (200, GOOD_ANSWER), \
        "the next request is served as if nothing happened"
    assert files_under(model_folder) == before


def test_bad_request_json_nested_too_deep_for_the_parser(server: Any) -> None:
    status, answer = _http(f"{server.url}/v1/predict", "POST", _nested(5000), "application/json")
    assert (status, answer) == _input_error("the body is nested too deeply to be a request")


# ================================================================ input files for predict.py and `modelshelf run`
# Both run Runner.predict_file in a worker process; predict.py takes all the files in one run, reports each
# on stderr and exits 2.

def _bundle(folder: Path, make: ModuleType) -> Path:
    """A deploy bundle laid out as generator/bundle makes one: the model, runtime/ verbatim, predict.py,
    model.json and SHA256SUMS over every file."""
    folder.mkdir(parents=True)
    data = make.add_model().SerializeToString()
    (folder / "model.onnx").write_bytes(data)
    shutil.copytree(Path(runtime_package.__file__).parent, folder / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "generator" / "bundle" / "templates" / "predict.py", folder / "predict.py")
    (folder / "model.json").write_text(json.dumps(_model_config(data)))
    (folder / "examples").mkdir()
    (folder / "examples" / "1.json").write_text(GOOD_REQUEST.decode())
    sums = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in sorted(files_under(folder))}
    (folder / "SHA256SUMS").write_text("".join(f"{digest}  {name}\n" for name, digest in sums.items()))
    return folder


@pytest.fixture(scope="module")
def bundle(make: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _bundle(tmp_path_factory.mktemp("bundle") / "guarded-1.0.0", make)


def _predict(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "predict.py", *args], cwd=folder, capture_output=True, text=True, timeout=120)


EXPECTED_LINE = "expected: " + json.dumps(SIGNATURE)
# kind -> (file name, its bytes or None for nothing there; what predict.py says after `predict.py: <path>: `)
INPUT_FILE_KINDS: dict[str, tuple[str, bytes | None, str]] = {
    "input-file-missing": ("missing.json", None, "no such file"),
    "input-file-is-a-folder": ("folder.json", b"", "a folder, not an input file"),
    "input-file-not-json": ("broken.json", b'{"inputs": ', "broken.json is not valid JSON (Expecting value: line 1 column "
                                                           "12 (char 11))\n" + EXPECTED_LINE),
    "input-file-not-utf8": ("latin1.json", b'{"inputs": {"x": [[0, 0, 0], [1, 1, 1]]}, "n": "caf\xe9"}',
                            "latin1.json: not UTF-8 text (byte 0xe9 at offset 51); save it as UTF-8\n" + EXPECTED_LINE),
    "input-file-nested-too-deep": ("deep.json", _nested(100_000), "deep.json is nested too deeply to be a request\n"
                                   + EXPECTED_LINE),
    "input-file-nan": ("nan.json", b'{"inputs": {"x": [[NaN, 0, 0], [1, 1, 1]]}}',
                       "input 'x' holds NaN, Infinity or a number too large for float32; give finite numbers\n"
                       + EXPECTED_LINE),
    "input-file-unsupported-type": ("photo.png", b"\x89PNG\r\n\x1a\n", "cannot read photo.png for input 'x' (kind "
                                    "unspecified); give a JSON request, a CSV file or an NPY array\n" + EXPECTED_LINE),
    "input-file-csv-with-text": ("rows.csv", b"1,2,3\n4,five,6\n", "rows.csv: row 2, column 2: 'five' is not a number\n"
                                 + EXPECTED_LINE),
    "input-file-csv-header-only": ("header.csv", b"a,b,c\n", "header.csv: the file has a header row but no rows of values\n"
                                   + EXPECTED_LINE),
}


@pytest.fixture(scope="module")
def input_files_run(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    inputs = tmp_path_factory.mktemp("inputs")
    for name, data, _ in INPUT_FILE_KINDS.values():
        if name == "folder.json":
            (inputs / name).mkdir()
        elif data is not None:
            (inputs / name).write_bytes(data)
    before = files_under(bundle)
    result = _predict(bundle, *[str(inputs / name) for name, _, _ in INPUT_FILE_KINDS.values()], "examples/1.json")
    assert files_under(bundle) == before, "predict.py writes nothing into its bundle"
    return inputs, result


@pytest.mark.parametrize("kind", list(INPUT_FILE_KINDS))
def test_bad_input_file(input_files_run: tuple[Path, subprocess.CompletedProcess[str]], kind: str) -> None:
    inputs, result = input_files_run
    name, _, message = INPUT_FILE_KINDS[kind]
    path = inputs / name
    said = f"predict.py: {path}: " + message.replace("{path}", str(path))
    assert said + "\n" in result.stderr, result.stderr


def test_bad_input_files_do_not_stop_the_good_one(input_files_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    inputs, result = input_files_run
    assert result.returncode == 2, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [GOOD_ANSWER]
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in inputs.iterdir()) == sorted(n for n, d, _ in INPUT_FILE_KINDS.values() if d is not None)


# ================================================================ archives: `modelshelf verify BUNDLE.zip`

def _zip(folder: Path, path: Path, *, skip: tuple[str, ...] = (), extra: Callable[[zipfile.ZipFile], None] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files_under(folder)):
            if name not in skip:
                zf.write(folder / name, f"{folder.name}/{name}")
        if extra is not None:
            extra(zf)
    return path


def _symlink_member(zf: zipfile.ZipFile) -> None:
    info = zipfile.ZipInfo("guarded-1.0.0/examples/2.json")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, "/etc/passwd")


def _bomb_member(zf: zipfile.ZipFile) -> None:
    # 64 MB of zeros in about 64 KB: a listed file, so verify must hash it (in a stream) and say it changed.
    zf.writestr("guarded-1.0.0/model.onnx", bytes(64 << 20), compress_type=zipfile.ZIP_DEFLATED)


def _duplicate_member(zf: zipfile.ZipFile) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name: that is the point
        zf.writestr("guarded-1.0.0/predict.py", "import os; os.system('id')\n")


HEAD = "bundle {zip}: {listed} files listed in SHA256SUMS"
UNSIGNED = "signature: unsigned: no SHA256SUMS.sig: the publisher did not sign this"


def _changed(name: str, data: bytes, listed: Path) -> str:
    return (f"changed  {name}  (SHA-256 {hashlib.sha256(data).hexdigest()} ({len(data)} bytes), SHA256SUMS lists "
            f"{hashlib.sha256(listed.read_bytes()).hexdigest()})")


# kind -> (how to make the zip from the bundle folder; exit code; the report, or the error line)
ARCHIVE_KINDS: dict[str, tuple[Callable[[Path, Path], Path], int, Callable[[Path, Path], list[str]]]] = {
    "archive-path-traversal-member": (
        lambda b, z: _zip(b, z, extra=lambda zf: zf.writestr("guarded-1.0.0/../../evil.py", "print('hi')\n")), 1,
        lambda b, z: [HEAD, "extra    ../../evil.py  (not listed in SHA256SUMS; its path leaves the bundle's folder, "
                            "so unzip could write it elsewhere)", UNSIGNED, "FAILED: 1 extra"]),
    "archive-absolute-member": (
        lambda b, z: _zip(b, z, extra=lambda zf: zf.writestr("/tmp/evil.py", "print('hi')\n")), 1,
        lambda b, z: [HEAD, "extra    (outside guarded-1.0.0/) /tmp/evil.py  (not listed in SHA256SUMS; its path leaves "
                            "the bundle's folder, so unzip could write it elsewhere)", UNSIGNED, "FAILED: 1 extra"]),
    "archive-symlink-member": (
        lambda b, z: _zip(b, z, extra=_symlink_member), 1,
        lambda b, z: [HEAD, "extra    examples/2.json  (not listed in SHA256SUMS; a symbolic link to '/etc/passwd', "
                            "which unzip would recreate)", UNSIGNED, "FAILED: 1 extra"]),
    "archive-zip-bomb-member": (
        lambda b, z: _zip(b, z, skip=("model.onnx",), extra=_bomb_member), 1,
        lambda b, z: [HEAD, _changed("model.onnx", bytes(64 << 20), b / "model.onnx"), UNSIGNED, "FAILED: 1 changed"]),
    "archive-modified-model": (
        lambda b, z: _zip(b, z, skip=("model.onnx",), extra=lambda zf: zf.writestr(
            "guarded-1.0.0/model.onnx", (b / "model.onnx").read_bytes()[:-1] + b"\0")), 1,
        lambda b, z: [HEAD, _changed("model.onnx", (b / "model.onnx").read_bytes()[:-1] + b"\0", b / "model.onnx"),
                      UNSIGNED, "FAILED: 1 changed"]),
    "archive-duplicate-member": (
        lambda b, z: _zip(b, z, extra=_duplicate_member), 1,
        lambda b, z: [HEAD, _changed("predict.py", b"import os; os.system('id')\n", b / "predict.py"), UNSIGNED,
                      "FAILED: 1 changed"]),
    "archive-without-sha256sums": (
        lambda b, z: _zip(b, z, skip=("SHA256SUMS",)), 2,
        lambda b, z: [f"error: {z} has no SHA256SUMS; is it a Modelshelf site or deploy bundle (sites built before "
                      "SHA256SUMS was published have none)?"]),
    "archive-not-a-zip": (
        lambda b, z: (z.write_bytes(b"<!DOCTYPE html><html>404</html>"), z)[1], 2,
        lambda b, z: [f"error: {z}: not a readable zip file (File is not a zip file)"]),
    "archive-truncated-zip": (
        lambda b, z: (z.write_bytes(_zip(b, z).read_bytes()[:5000]), z)[1], 2,
        lambda b, z: [f"error: {z}: not a readable zip file (File is not a zip file)"]),
}


@pytest.fixture(scope="module")
def no_signers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An allowed-signers file with no key (a bundle carries no signature anyway)."""
    path = tmp_path_factory.mktemp("keys") / "allowed_signers"
    path.write_text("# no keys\n")
    return path


@pytest.mark.parametrize("kind", list(ARCHIVE_KINDS))
def test_bad_bundle_zip(bundle: Path, no_signers: Path, tmp_path: Path, kind: str) -> None:
    make_zip, code, report = ARCHIVE_KINDS[kind]
    target = make_zip(bundle, tmp_path / "guarded-1.0.0-bundle.zip")
    result = CliRunner().invoke(client_cli, ["verify", str(target), "--allowed-signers", str(no_signers)])
    listed = len((bundle / "SHA256SUMS").read_text().splitlines())
    lines = [line.replace("{zip}", str(target)).replace("{listed}", str(listed)) for line in report(bundle, target)]
    assert (result.exit_code, result.output.splitlines()) == (code, lines)
    assert [p.name for p in tmp_path.iterdir()] == [target.name], "verify extracts nothing"


# ================================================================ archives: predict.py in a damaged bundle folder

def _edit(name: str, change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        (folder / name).write_bytes(change((folder / name).read_bytes()))
    return edit


def _remove(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


# kind -> (what is done to the unzipped bundle; what predict.py says, with {folder})
BUNDLE_KINDS: dict[str, tuple[Callable[[Path], None], str]] = {
    "bundle-without-sha256sums": (_remove("SHA256SUMS"), "refusing to run: {folder}/SHA256SUMS is missing, so "
                                                         "model.onnx cannot be verified"),
    "bundle-sha256sums-not-utf8": (_edit("SHA256SUMS", lambda b: b"\xe9\n" + b),
                                   "refusing to run: {folder}/SHA256SUMS cannot be read ('utf-8' codec can't decode byte "
                                   "0xe9 in position 0: invalid continuation byte), so model.onnx cannot be verified"),
    "bundle-model-not-listed": (_edit("SHA256SUMS", lambda b: b"".join(line for line in b.splitlines(True)
                                                                       if not line.endswith(b"  model.onnx\n"))),
                                "refusing to run: SHA256SUMS does not list model.onnx, so it cannot be verified"),
    "bundle-model-listed-with-another-sha256": (
        _edit("SHA256SUMS", lambda b: re.sub(rb"^[0-9a-f]{64}(  model\.onnx)$", b"0" * 64 + rb"\1", b, flags=re.M)),
        "refusing to run: SHA256SUMS lists " + "0" * 64 + " for model.onnx, model.json {sha256}"),
    "bundle-model-modified": (_edit("model.onnx", lambda b: b[:-1] + bytes([b[-1] ^ 1])),
                              "refusing to run: {folder}/model.onnx has SHA-256 {changed}, but the model's published "
                              "SHA-256 is {sha256}; download it again"),
    "bundle-model-missing": (_remove("model.onnx"), "refusing to run: {folder}/model.onnx is missing; download it "
                                                    "(see README.md) and check it with `sha256sum -c SHA256SUMS`"),
    "bundle-without-model-json": (_remove("model.json"), "refusing to run: {folder}/model.json is missing; run "
                                                         "predict.py from an unzipped deploy bundle, with every file it "
                                                         "came with"),
    "bundle-model-json-not-json": (_edit("model.json", lambda b: b"{not json"),
                                   "refusing to run: {folder}/model.json cannot be read (Expecting property name enclosed "
                                   "in double quotes: line 1 column 2 (char 1)); unzip the bundle again"),
    "bundle-model-json-not-a-mapping": (_edit("model.json", lambda b: b"[]"),
                                        "model.json has format None; this predict.py reads 1"),
    "bundle-model-file-outside": (_edit("model.json", lambda b: b.replace(b'"model.onnx"', b'"../../../etc/passwd"')),
                                  "refusing to run: model.json names no model file in this folder (model_file "
                                  "'../../../etc/passwd'); unzip the bundle again"),
}


@pytest.mark.parametrize("kind", list(BUNDLE_KINDS))
def test_bad_bundle_folder(bundle: Path, tmp_path: Path, kind: str) -> None:
    damage, message = BUNDLE_KINDS[kind]
    folder = Path(shutil.copytree(bundle, tmp_path / bundle.name))
    sha256 = hashlib.sha256((bundle / "model.onnx").read_bytes()).hexdigest()
    damage(folder)
    changed = hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest() if (folder / "model.onnx").exists() else ""
    before = files_under(folder)
    result = _predict(folder, "examples/1.json")
    said = message.replace("{folder}", str(folder)).replace("{sha256}", sha256).replace("{changed}", changed)
    assert (result.returncode, result.stdout, result.stderr) == (3, "", f"predict.py: {said}\n")
    assert files_under(folder) == before, "predict.py writes nothing into its bundle"


# ================================================================ the inventory stays true

_NODE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)(?:\[([^\]`]+)\])?`")
CATEGORIES = ("card", "Markdown", "model file", "file reference", "catalog", "request", "archive", "version")


def _inventory_rows() -> list[list[str]]:
    rows = []
    for line in INVENTORY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 5 and cells[0] in CATEGORIES:
            rows.append(cells)
    return rows


def test_the_inventory_names_real_tests() -> None:
    """docs/reference/bad-inputs.md: every test it names exists (a grep of the test files, with the parameter id
    found in the file or among the fixture folders), every kind of this module is listed, and the counts add up."""
    rows = _inventory_rows()
    missing = []
    for row in rows:
        nodes = _NODE.findall(row[4])
        assert nodes, f"no test named for {row[1]}"
        for path, func, param in nodes:
            file = REPO / path
            text = file.read_text(encoding="utf-8") if file.is_file() else ""
            if f"def {func}(" not in text:
                missing.append(f"{path}::{func}")
            elif param and f'"{param}"' not in text and not (INVALID / param).is_dir() \
                    and f'"{param}"' not in (REPO / "tests/unit/test_invalid_cards.py").read_text(encoding="utf-8"):
                missing.append(f"{path}::{func}[{param}]")
    assert not missing, "the inventory names tests that do not exist:\n" + "\n".join(missing)

    named = {(func, param) for row in rows for _, func, param in _NODE.findall(row[4])}
    ours = ([("test_bad_card", k) for k in CARD_KINDS] + [("test_bad_model_file", k) for k in MODEL_KINDS]
            + [("test_bad_catalog", k) for k in CATALOG_KINDS] + [("test_bad_version_to_pull", k) for k in PULL_VERSION_KINDS]
            + [("test_bad_request", k) for k in REQUEST_KINDS] + [("test_bad_input_file", k) for k in INPUT_FILE_KINDS]
            + [("test_bad_bundle_zip", k) for k in ARCHIVE_KINDS] + [("test_bad_bundle_folder", k) for k in BUNDLE_KINDS])
    assert [node for node in ours if node not in named] == [], "kinds tested here but missing from the inventory"

    listed = {row[1].strip("`"): row[0] for row in rows}
    for kind, spec in {**NEW_CARD_KINDS, **MODEL_KINDS}.items():
        assert listed.get(kind) == spec.category, f"{kind} is a {spec.category} kind"

    text = INVENTORY.read_text(encoding="utf-8")
    counts = {c: sum(1 for r in rows if r[0] == c) for c in CATEGORIES}
    for category, count in counts.items():
        assert count >= 3, f"{category}: only {count} kinds"
        assert f"| {category} | {count} |" in text, f"the count of {category} kinds is not {count}"
    assert f"| total | {len(rows)} |" in text
    assert len(rows) >= 60
    assert len({r[1] for r in rows}) == len(rows), "each kind is listed once"
