"""Validation: every problem of every card, each with file, line, column, JSON path and a hint.

Schema checks come from `schema/card.schema.json` (JSON Schema 2020-12); the checks a schema
cannot express (the id matches the folder, files stay inside the model folder, SPDX ids, safe
Markdown, references between fields, ids unique across the catalog) live here.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import markdown
import yaml
from jsonschema.exceptions import ValidationError, best_match

from modelshelf.catalog import DATA_DIR, SCHEMA_PATH
from modelshelf.catalog.loader import Document, Position, load_yaml_file
from modelshelf.catalog.problems import CardReporter, PathPart, Problem, closest, warning

log = logging.getLogger(__name__)

MAX_COMMITTED_ONNX_BYTES = 10 * 1024 * 1024
CARD_FILE = "card.yaml"
# The versions `modelshelf pull` can fetch and cache: the same pattern as `_VERSION` in catalog/client/download.py
# (the client does not import this module; tests/acceptance/test_bad_inputs.py checks that the two agree).
FETCHABLE_VERSION = re.compile(r"^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})"
                               r"(-[0-9A-Za-z.-]{1,40})?(\+[0-9A-Za-z.-]{1,40})?$")

# Step parameters: which each op needs and which it may take.
STEP_PARAMS: dict[str, tuple[set[str], set[str]]] = {
    "scale": ({"factor"}, set()),
    "normalize": ({"mean", "std"}, set()),
    "resize": ({"width", "height"}, set()),
    "grayscale": (set(), set()),
    "layout": ({"from", "to"}, set()),
    "cast": ({"dtype"}, set()),
    "softmax": (set(), set()),
    "topk": ({"k"}, set()),
    "threshold": ({"value"}, set()),
    "sigmoid": (set(), set()),
    "mean_pool": ({"mask"}, set()),
    "l2_normalize": (set(), set()),
    "byte_sample": ({"begin", "end"}, {"block", "padding", "strip"}),
    "decide": (set(), {"default", "thresholds", "overwrite", "fallback", "text_fallback", "text_labels"}),
}

_UNSAFE_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "style", "link", "meta",
                "base", "form", "input", "button", "textarea", "select", "svg", "math", "template", "noscript"}
_URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "srcset", "poster", "background"}


@functools.cache
def card_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _is_web_address(value: object) -> bool:
    if not isinstance(value, str):
        return True
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in value)


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = card_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    # Our own "uri" check: jsonschema's needs optional packages, and cards only link to web pages.
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("uri")(_is_web_address)
    return jsonschema.Draft202012Validator(schema, format_checker=checker)


@functools.cache
def spdx_ids() -> frozenset[str]:
    lines = (DATA_DIR / "spdx.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@functools.cache
def tasks() -> tuple[dict[str, str], ...]:
    """The documented tasks (catalog/data/tasks.yaml, our own trusted file)."""
    return tuple(yaml.safe_load((DATA_DIR / "tasks.yaml").read_text(encoding="utf-8")))


def task_ids() -> list[str]:
    return [t["id"] for t in tasks()]


# ---------------------------------------------------------------- schema errors

def _schema_problems(rep: CardReporter, doc: Document) -> None:
    for error in _validator().iter_errors(doc.data):
        path = tuple(error.absolute_path)
        if any(path[: len(r)] == r for r in doc.refused):
            continue  # the loader already reported this value
        _report_schema_error(rep, error)


def _fmt(template: str, value: Any) -> str:
    # A card value quoted in a message: shortened (a 40-level list is one line), and an empty field said in words.
    return template.replace("{value!r}", "{value}").format(value="an empty value" if value is None else _short(value))


def _report_schema_error(rep: CardReporter, error: ValidationError) -> None:
    path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(error.schema.get("properties", {}))
        for extra in sorted(set(error.instance) - set(known)):
            guess = closest(extra, known)
            hint = f"did you mean {guess!r}?" if guess else f"remove it; allowed here: {', '.join(known)}"
            rep.add(path + (extra,), f"unknown field {extra!r}", hint, key=True)
        return
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        rep.add(path + (missing,), f"missing required field {missing!r}",
                f"add {missing}: to this mapping (see the card reference)")
        return
    message = _fmt(schema["x-message"], error.instance) if "x-message" in schema else None
    hint = schema.get("x-hint", "")
    if message is None and error.validator in ("oneOf", "anyOf") and error.context:
        _report_schema_error(rep, best_match(error.context))
        return
    if message is None:
        message, hint = _describe(error, hint)
    rep.add(path, message, hint)


def _describe(error: ValidationError, hint: str) -> tuple[str, str]:
    value = error.instance
    v = error.validator
    if v == "type":
        names = {"string": "text", "array": "list", "object": "mapping", "integer": "whole number",
                 "number": "number", "boolean": "boolean (true or false)", "null": "null"}
        wanted_list = [error.validator_value] if isinstance(error.validator_value, str) else list(error.validator_value)
        wanted = " or ".join(names.get(w, w) for w in wanted_list)
        got = "null" if value is None else {bool: "a boolean", int: "a number", float: "a number", str: "text",
                                            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)
        shown = "" if value is None or isinstance(value, (list, dict)) else f" {_short(value)}"
        examples = {"array": "write a list: [a, b], or one '- item' per line", "object": "write a mapping of 'key: value' lines",
                    "string": "quote the value", "integer": "write a whole number such as 3",
                    "number": "write a number such as 0.97", "boolean": "write true or false"}
        hint = hint or examples.get(wanted_list[0], f"write {wanted} here")
        return f"expected {wanted}, got {got}{shown}", hint
    if v == "enum":
        options = [str(o) for o in error.validator_value]
        guess = closest(str(value), options) if isinstance(value, str) else None
        hint = f"did you mean {guess!r}?" if guess else "use one of: " + ", ".join(options)
        return f"{_short(value)} is not one of the allowed values", hint
    if v == "format" and error.validator_value == "uri":
        return f"{_short(value)} is not a web address", hint or "write a full address such as https://example.org/"
    if v == "format":
        return f"{_short(value)} is not a valid {error.validator_value}", hint
    if v == "pattern":
        if str(error.validator_value).startswith("^http"):
            return f"{_short(value)} is not a web address", hint or "write a full address such as https://example.org/"
        return f"{_short(value)} does not have the expected form", hint or f"it must match {error.validator_value}"
    if v in ("maxLength", "minLength"):
        n = error.validator_value
        return (f"text is {len(value)} characters, more than the {n} allowed" if v == "maxLength"
                else f"text must have at least {n} character{'s' if n != 1 else ''}"), hint or "shorten or fill it in"
    if v in ("maxItems", "minItems"):
        n = error.validator_value
        return (f"list has {len(value)} items, more than the {n} allowed" if v == "maxItems"
                else f"list needs at least {n} item{'s' if n != 1 else ''}"), hint or "adjust the list"
    if v == "uniqueItems":
        return "list has repeated items", hint or "remove the duplicates"
    if v in ("minimum", "maximum"):
        return f"{value} is out of range ({v} {error.validator_value})", hint or "use a value in range"
    return error.message, hint


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------- characters

# Control characters other than tab and line breaks hide text or drive a terminal (ESC sequences reach
# `modelshelf search`); bidi controls reorder what a reader sees (a name that displays as another model's).
_CONTROL = {chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0))}
_INVISIBLE = {"\u2028", "\u2029", "\ufeff", "\ufff9", "\ufffa", "\ufffb"}
_BIDI = {"\u061c", "\u200e", "\u200f", *(chr(c) for c in range(0x202A, 0x202F)), *(chr(c) for c in range(0x2066, 0x206A))}


def _bad_character(text: str) -> str | None:
    """What is wrong with the first character a card string may not hold, or None."""
    for char in text:
        if "\ud800" <= char <= "\udfff":
            return f"text contains U+{ord(char):04X}, half of a UTF-16 surrogate pair"
        if char in _CONTROL:
            return f"text contains the control character U+{ord(char):04X}"
        if char in _INVISIBLE:
            return f"text contains the invisible character U+{ord(char):04X} ({unicodedata.name(char, 'unnamed')})"
        if char in _BIDI:
            return (f"text contains U+{ord(char):04X} ({unicodedata.name(char, 'unnamed')}), "
                    "which makes text display differently from what it is")
    return None


def _character_problems(rep: CardReporter, doc: Document) -> None:
    """Every string and mapping key of the card holds printable text (tabs and line breaks allowed)."""
    stack: list[tuple[tuple[PathPart, ...], Any]] = [((), doc.data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and (what := _bad_character(key)):
                    rep.add(path + (key,), what.replace("text", "the key", 1), "remove it: a key is a plain name", key=True)
                    doc.refused.add(path + (key,))
                stack.append((path + (key,), item))
        elif isinstance(value, list):
            stack.extend((path + (i,), item) for i, item in enumerate(value))
        elif isinstance(value, str) and (what := _bad_character(value)):
            if "display" in what:
                hint = "remove it: text in either direction displays correctly without direction controls"
            elif "surrogate" in what:
                hint = "write the character itself, or \\U0001D423 with eight hex digits in double quotes"
            else:
                hint = "remove it: cards hold printable text (tabs and line breaks are fine)"
            rep.add(path, what, hint)
            doc.refused.add(path)  # one problem per string: not also "does not have the expected form"


# ---------------------------------------------------------------- semantic checks

def _semantic_problems(rep: CardReporter, doc: Document, card_path: Path, expected_id: str | None) -> None:
    data = doc.data
    folder = card_path.parent
    ident = data.get("id")
    if isinstance(ident, str) and expected_id is not None and ident != expected_id:
        rep.add(("id",), f"{ident!r} does not match the card's folder {expected_id!r}",
                f"set id: {expected_id}, or move the card to models/{ident}/card.yaml")

    version = data.get("version")
    if isinstance(version, str) and re.fullmatch(card_schema()["properties"]["version"]["pattern"], version) \
            and not FETCHABLE_VERSION.fullmatch(version):
        rep.add(("version",), f"{_short(version)} is too long for a version: MAJOR, MINOR and PATCH have at most 9 digits, "
                "a -pre-release or +build suffix at most 40 characters",
                'write a shorter one, e.g. version: "1.0.0"; `modelshelf pull ORG/NAME@VERSION` takes no longer ones')
    if isinstance(version, str) and version_folder(folder.name) and version != folder.name:
        rep.add(("version",), f"version {version!r} does not match the card's version folder {folder.name!r}",
                f'set version: "{folder.name}", or move the card to a folder named {version}')
    status = data.get("status", "active")
    if status in ("deprecated", "yanked") and not data.get("status_reason"):
        rep.add(("status",), f"a {status} version needs status_reason", "add status_reason: with one sentence saying why")
    elif status == "active" and "status_reason" in data:
        rep.add(("status_reason",), "status_reason is only for a deprecated or yanked version",
                "remove it, or set status: deprecated (or yanked)")

    lic = data.get("license")
    if isinstance(lic, str):
        if lic == "other":
            for needed in ("license_name", "license_link"):
                if needed not in data:
                    what = "the licence's name" if needed == "license_name" else "a link to the licence text"
                    rep.add(("license",), f"license: other needs {needed}", f"add {needed}: with {what}")
        elif lic not in spdx_ids():
            guess = closest(lic, spdx_ids())
            hint = (f"did you mean {guess!r}?" if guess else
                    "use an SPDX id such as MIT or Apache-2.0, or license: other with license_name and license_link")
            rep.add(("license",), f"{lic!r} is not a known SPDX licence id", hint)

    task = data.get("task")
    if isinstance(task, str) and task not in task_ids():
        # A task for the card's kind of input first: `classification` on a tabular card means tabular-classification.
        kinds = input_kinds(data)
        guess = closest(task, [t["id"] for t in tasks() if t["input"] in kinds]) or closest(task, task_ids())
        rep.add(("task",), f"{task!r} is not a known task",
                f"did you mean {guess!r}?" if guess else "use one of: " + ", ".join(task_ids()))

    source = data.get("source")
    if isinstance(source, dict):
        for kind in ("file", "recipe"):
            if isinstance(source.get(kind), str):
                _check_local_file(rep, ("source", kind), source[kind], folder,
                                  max_bytes=MAX_COMMITTED_ONNX_BYTES if kind == "file" else None)

    _check_description(rep, doc, data, folder)

    declared = {d.get("id") for d in data.get("datasets") or [] if isinstance(d, dict)}
    for i, metric in enumerate(data.get("metrics") or []):
        if isinstance(metric, dict) and isinstance(metric.get("dataset"), str) and metric["dataset"] not in declared:
            guess = closest(metric["dataset"], [d for d in declared if isinstance(d, str)])
            rep.add(("metrics", i, "dataset"), f"dataset {metric['dataset']!r} is not declared under datasets",
                    f"did you mean {guess!r}?" if guess else f"add '- id: {metric['dataset']}' to datasets, or fix the id")

    names = {kind: [t.get("name") for t in data.get(kind) or [] if isinstance(t, dict)] for kind in ("inputs", "outputs")}
    _check_evaluation(rep, data.get("evaluation"), names["outputs"], folder)
    for kind in ("inputs", "outputs"):
        seen: set[Any] = set()  # names as the card gives them, not necessarily strings
        for i, name in enumerate(names[kind]):
            if name in seen:
                rep.add((kind, i, "name"), f"{kind[:-1]} name {name!r} is used twice", "each tensor name must be unique")
            seen.add(name)
    for i, example in enumerate(data.get("examples") or []):
        if not isinstance(example, dict):
            continue
        for kind in ("inputs", "outputs"):
            given = example.get(kind)
            if isinstance(given, dict):
                for name in given:
                    if name not in names[kind]:
                        rep.add(("examples", i, kind, name), f"{name!r} is not one of the card's {kind}",
                                f"use one of: {', '.join(str(n) for n in names[kind])}", key=True)
        if isinstance(example.get("inputs"), dict):
            for name in names["inputs"]:
                if name not in example["inputs"]:
                    rep.add(("examples", i, "inputs"), f"example gives no value for input {name!r}",
                            f"add {name}: to the example's inputs")

    for kind in ("preprocessing", "postprocessing"):
        for i, step in enumerate(data.get(kind) or []):
            if not isinstance(step, dict) or step.get("op") not in STEP_PARAMS:
                continue
            required, optional = STEP_PARAMS[step["op"]]
            for param in sorted(required - set(step)):
                rep.add((kind, i), f"step {step['op']!r} needs {param!r}", f"add {param}: to this step")
            for param in sorted(set(step) - required - optional - {"op"}):
                takes = ", ".join(sorted(required | optional)) or "no parameters"
                rep.add((kind, i, param), f"step {step['op']!r} takes no {param!r}",
                        f"remove it; {step['op']} takes {takes}", key=True)


def _check_evaluation(rep: CardReporter, evaluation: Any, outputs: list[Any], folder: Path) -> None:
    """How the build recomputes metrics: a dataset or a script (not both), an output the card declares."""
    if not isinstance(evaluation, dict):
        return
    dataset, script = evaluation.get("dataset"), evaluation.get("script")
    if dataset is None and script is None:
        rep.add(("evaluation",), "evaluation needs a dataset or a script",
                "add dataset: (a built-in dataset such as sklearn/iris) or script: (a Python file that writes eval.npz)")
    elif dataset is not None and script is not None:
        rep.add(("evaluation",), "evaluation has both a dataset and a script", "keep one of them")
    if isinstance(script, str):
        _check_local_file(rep, ("evaluation", "script"), script, folder, max_bytes=None)
        if "split" in evaluation:
            rep.add(("evaluation", "split"), "split applies to built-in datasets; a script writes the rows to evaluate",
                    "remove split, and let the script write only the rows to evaluate")
    output = evaluation.get("output")
    if isinstance(output, str) and output not in outputs:
        rep.add(("evaluation", "output"), f"{output!r} is not one of the card's outputs",
                "use one of: " + ", ".join(str(n) for n in outputs))


def _check_local_file(rep: CardReporter, path: tuple[PathPart, ...], rel: str, folder: Path, max_bytes: int | None) -> None:
    pure = PurePosixPath(rel)
    if not pure.parts:  # '', '.' or './': no file at all (and nothing for parts[0] below)
        rep.add(path, f"{rel!r} names no file", "give the path of a file beside the card, relative to it")
        return
    if pure.is_absolute() or rel.startswith("\\") or ":" in pure.parts[0] or ".." in pure.parts:
        rep.add(path, f"{rel!r} points outside the model folder", "give a path relative to the card, inside its folder")
        return
    target = folder / pure
    try:
        inside = target.resolve().is_relative_to(folder.resolve())
    except OSError:
        inside = False
    if not inside:
        rep.add(path, f"{rel!r} resolves outside the model folder (through a symbolic link)",
                "replace the link with the file itself")
        return
    if not target.is_file():
        if target.is_dir() and not target.is_symlink():
            rep.add(path, f"{rel!r} is a folder, not a file", "give the path of the file itself, relative to the card")
        else:
            # The folder as the file positions show it (relative to where the build or validate runs), not absolute.
            shown = Path(_display(folder)).as_posix()
            rep.add(path, f"file {rel!r} does not exist beside the card", f"add {rel} to {shown}/ or fix the path")
        return
    if target.is_symlink():
        rep.add(path, f"{rel!r} is a symbolic link", "commit the file itself, not a link")
        return
    if max_bytes is not None and target.stat().st_size > max_bytes:
        rep.add(path, f"{rel!r} is {target.stat().st_size} bytes, more than the {max_bytes} that may be committed",
                "host the file elsewhere and use source: {url, sha256, size}")


class _UnsafeHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []  # (what, text to look for in the source)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _UNSAFE_TAGS:
            self.found.append((f"<{tag}>", f"<{tag}"))
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append((f"the event handler attribute {name!r}", name))
            elif name in _URL_ATTRS and value:
                # As a browser reads a URL: tab and line breaks anywhere, and C0 controls and spaces at the ends, ignored.
                scheme = _url_text(value).split(":")[0]
                if ":" in value and scheme in ("javascript", "vbscript", "data"):
                    self.found.append((f"a {scheme}: link", f"{scheme}:"))


def _url_text(value: str) -> str:
    return "".join(c for c in value if c not in "\t\n\r").strip("".join(map(chr, range(0x21)))).lower()


def unsafe_html(markdown_text: str) -> list[tuple[str, str]]:
    """What in this Markdown would run script or restyle the page if it were not sanitised: (what, needle)."""
    lowered = markdown_text.lower()
    # Fast path: without '<', a character reference (java&#10;script:) or a script-capable scheme (also split by
    # whitespace), Markdown cannot produce a tag or a dangerous link.
    squeezed = "".join(lowered.split())
    if "<" not in lowered and "&" not in lowered and not any(
            scheme in squeezed for scheme in ("javascript:", "vbscript:", "data:")):
        return []
    parser = _UnsafeHTML()
    parser.feed(markdown.markdown(markdown_text))
    parser.feed(markdown_text)  # raw HTML that Markdown would have escaped still counts as an attempt
    return list(dict.fromkeys(parser.found))


def _locate(lines: list[str], needle: str, first_line: int = 1) -> Position:
    """First line at or after first_line (1-based) that contains needle, and its column."""
    for number in range(first_line, len(lines) + 1):
        col = lines[number - 1].lower().find(needle.lower())
        if col >= 0:
            return Position(number, col + 1)
    return Position(first_line, 1)


def _check_description(rep: CardReporter, doc: Document, data: dict[str, Any], folder: Path) -> None:
    text = data.get("description")
    hint = "contributor HTML is sanitised; remove it and use Markdown for formatting"
    if isinstance(text, str):
        start = doc.position(("description",))
        for what, needle in unsafe_html(text):
            rep.add(("description",), f"{what} is not allowed in the description", hint,
                    where=_locate(doc.lines, needle, start.line))
        return
    readme = folder / "README.md"
    if "description" in data:
        return
    if readme.is_symlink() or (readme.exists() and not readme.resolve().is_relative_to(folder.resolve())):
        rep.items.append(Problem(_display(readme), 1, 1, "$.description", "README.md is a symbolic link",
                                    "commit the README itself, not a link"))
        return
    if not readme.is_file():
        rep.add(("description",), "no description: the card has none and there is no README.md beside it",
                "add description: | followed by Markdown, or a README.md beside the card")
        return
    text = readme.read_text(encoding="utf-8", errors="replace")
    for what, needle in unsafe_html(text):
        where = _locate(text.splitlines(), needle)
        rep.items.append(Problem(_display(readme), where.line, where.col, "$.description",
                                    f"{what} is not allowed in README.md", hint))


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- warnings

# Text that `modelshelf new` (generator/scaffold.py) writes for the contributor to replace: field -> placeholder.
# The scaffold builds its card from these, so a placeholder left in a card is always recognised.
SCAFFOLD_SUMMARY = "One sentence that says what the model does and for whom."
SCAFFOLD_DESCRIPTION = "What the model is, how it was trained, what it is good and bad at."
SCAFFOLD_AUTHOR = "Your Name"

# Input kinds a task of each family also takes besides its own (tasks.yaml `input`): a tensor is any kind, and an
# image model may take its pixels as a row of numbers (modelshelf/digits-logreg-pipeline reads 8x8 digits as 64 features).
_ALSO_TAKES = {"image": {"tabular"}}


def input_kinds(data: dict[str, Any]) -> set[str]:
    """The `kind`s the card's inputs declare."""
    return {t["kind"] for t in data.get("inputs") or [] if isinstance(t, dict) and isinstance(t.get("kind"), str)}


def _placeholder_warnings(rep: CardReporter, data: dict[str, Any]) -> None:
    hint = "replace the text `modelshelf new` wrote with your own: the site publishes it as it is"
    for field, placeholder in (("summary", SCAFFOLD_SUMMARY), ("description", SCAFFOLD_DESCRIPTION)):
        value = data.get(field)
        if isinstance(value, str) and placeholder.lower() in " ".join(value.split()).lower():
            rep.add((field,), f"{field} still holds the placeholder {placeholder!r} from `modelshelf new`", hint)
    for i, author in enumerate(data.get("authors") or []):
        name = author.get("name") if isinstance(author, dict) else None
        if isinstance(name, str) and " ".join(name.split()).lower() == SCAFFOLD_AUTHOR.lower():
            rep.add(("authors", i, "name"), f"author {name!r} is the placeholder from `modelshelf new`",
                    "put the name of the person or organisation that made the model")


def _task_family_warnings(rep: CardReporter, data: dict[str, Any]) -> None:
    """A known task whose family (the input it is for) fits none of the card's inputs: the try-it widget and the
    task page would be wrong (`task: text-classification` on a tabular card)."""
    task = data.get("task")
    by_id = {t["id"]: t for t in tasks()}
    kinds = input_kinds(data) - {"tensor"}
    if not isinstance(task, str) or task not in by_id or not kinds:
        return
    family = by_id[task]["input"]
    if family in kinds or kinds & _ALSO_TAKES.get(family, set()):
        return
    shown = ", ".join(sorted(kinds))
    fitting = [t["id"] for t in tasks() if t["input"] in kinds]
    if not fitting:
        return
    guess = closest(task, fitting) or fitting[0]
    rep.add(("task",), f"task {task!r} is for {family} input, but the card's inputs are {shown}",
            f"did you mean {guess!r}? tasks for {shown} input: {', '.join(fitting)}")


def card_warnings(doc: Document, card_path: Path | None = None) -> list[Problem]:
    """What does not stop a build but is almost certainly a mistake (scaffold placeholders, a task of the wrong
    family), as warnings: `modelshelf validate` shows them and fails on them only with --strict."""
    rep = CardReporter(doc, card_path or doc.file)
    if isinstance(doc.data, dict):
        _placeholder_warnings(rep, doc.data)
        _task_family_warnings(rep, doc.data)
    return [warning(p) for p in dict.fromkeys(rep.items)]


ZIPMAP_HINT = ('convert the classifier with ZipMap off: to_onnx(model, X, options={id(model): {"zipmap": False}}) '
               '(or options={"zipmap": False}) in skl2onnx; the outputs are then plain tensors named label and probabilities')


def zipmap_outputs(onnx_path: Path) -> list[str]:
    """The graph outputs that are a sequence of maps (skl2onnx's ZipMap, on by default for classifiers)."""
    import onnx  # only when a card's ONNX file is at hand (`modelshelf validate`); cards alone need no onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return [o.name for o in graph.output if o.type.WhichOneof("value") == "sequence_type"
            and o.type.sequence_type.elem_type.WhichOneof("value") == "map_type"]


def explain_zipmap(problems: list[Problem], doc: Document | None, card_file: str, onnx_path: Path) -> list[Problem]:
    """The problems found checking one card against its ONNX file, with those about its outputs replaced by one that
    names the cause when the file has a ZipMap output: renaming outputs and setting dtypes cannot fix that card."""
    names = zipmap_outputs(onnx_path)
    if not names:
        return problems
    rep = CardReporter(doc, card_file)
    shown = ", ".join(repr(n) for n in names)
    rep.add(("outputs",), f"the ONNX graph's output {shown} is a sequence of maps (skl2onnx's ZipMap), not a tensor: "
            "neither a card nor onnxruntime-web in the browser can read it", ZIPMAP_HINT)
    return [p for p in problems if not (p.file == card_file and p.path.startswith("$.outputs"))] + rep.items


def lint_cards(card_paths: list[Path]) -> list[Problem]:
    """The warnings of every card that loads (a card that does not load has errors to fix first)."""
    found: list[Problem] = []
    for card_path in card_paths:
        if card_path.is_symlink():
            continue
        doc, _ = load_yaml_file(card_path, _display(card_path))
        if doc is not None:
            found.extend(card_warnings(doc, card_path))
    return found


# ---------------------------------------------------------------- entry points

def version_folder(name: str) -> bool:
    """Whether a folder name is a version (models/<org>/<name>/<version>/card.yaml)."""
    return FETCHABLE_VERSION.fullmatch(name) is not None


def expected_id_for(card_path: Path) -> str | None:
    """`org/name` from models/<org>/<name>/card.yaml or models/<org>/<name>/<version>/card.yaml (None outside such a folder)."""
    parts = card_path.resolve().parts
    if version_folder(parts[-2]) and len(parts) >= 4:
        return f"{parts[-4]}/{parts[-3]}"
    if len(parts) >= 3:
        return f"{parts[-3]}/{parts[-2]}"
    return None


def validate_document(doc: Document, card_path: Path) -> list[Problem]:
    """Schema and semantic problems of one loaded card."""
    rep = CardReporter(doc, doc.file)
    if not isinstance(doc.data, dict):
        rep.add((), "a card must be a YAML mapping of fields", "start from `modelshelf new ORG/NAME`")
        return rep.items
    _character_problems(rep, doc)
    _schema_problems(rep, doc)
    _semantic_problems(rep, doc, card_path, expected_id_for(card_path))
    # One x-message can answer several failed keywords of the same field (`source: [a list]` fails type and oneOf).
    return list(dict.fromkeys(rep.items))


def check_card(card_path: Path) -> tuple[Document | None, list[Problem]]:
    """Load and validate one card file; the document is None only when the YAML itself could not be loaded."""
    if card_path.is_symlink():
        return None, [Problem(_display(card_path), 1, 1, "$", "card.yaml is a symbolic link",
                              "commit the card itself, not a link")]
    doc, problems = load_yaml_file(card_path, _display(card_path))
    if doc is None:
        return None, problems
    return doc, problems + validate_document(doc, card_path)


def cross_card_problems(docs: dict[Path, Document]) -> list[Problem]:
    """Ids must be unique across the catalog, also when compared without case; the versions of one model live in
    the version folders of one model folder, one card per version."""
    problems: list[Problem] = []
    seen: dict[str, tuple[str, Path, Path]] = {}  # lower-case id -> (id, model folder, first card)
    versions: set[tuple[str, str]] = set()
    for card_path, doc in sorted(docs.items()):
        ident = doc.data.get("id") if isinstance(doc.data, dict) else None
        if not isinstance(ident, str):
            continue
        pos = doc.position(("id",))
        model_folder = card_path.parent.parent if version_folder(card_path.parent.name) else card_path.parent
        if ident.lower() in seen and (seen[ident.lower()][0] != ident or seen[ident.lower()][1] != model_folder):
            other_id, _, other = seen[ident.lower()]
            what = f"duplicate id {ident!r}" if other_id == ident else f"id {ident!r} differs only by case from {other_id!r}"
            problems.append(Problem(doc.file, pos.line, pos.col, "$.id", f"{what} (also in {_display(other)})",
                                    "every model needs its own id; rename one of them"))
            continue
        seen.setdefault(ident.lower(), (ident, model_folder, card_path))
        version = doc.data.get("version")
        if isinstance(version, str):
            if (ident, version) in versions:
                vpos = doc.position(("version",))
                problems.append(Problem(doc.file, vpos.line, vpos.col, "$.version", f"{ident} has two cards of version {version}",
                                        "give each version folder its own version"))
            versions.add((ident, version))
    return problems
