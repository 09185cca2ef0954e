"""Safe YAML loading that remembers where every value came from.

Cards are untrusted. We never construct Python objects from tags, refuse anchors and aliases
(the "billion laughs" bomb and merge keys), refuse duplicate keys, and resolve plain scalars by
the YAML 1.2 core schema, except that the YAML 1.1 booleans (yes/no/on/off) are errors: they
silently turn a country code or a licence name into `False`.
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modelshelf.catalog.problems import PathPart, Problem, json_path

log = logging.getLogger(__name__)

MAX_CARD_BYTES = 256 * 1024
MAX_DEPTH = 32

_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null", "seq", "map")}
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_YAML11_BOOL = re.compile(r"^(?:yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF)$")
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    col: int  # 1-based


@dataclass
class Document:
    """A loaded YAML file: its plain data and the position of every value and mapping key."""

    file: str
    data: Any
    values: dict[tuple[PathPart, ...], Position] = field(default_factory=dict)
    keys: dict[tuple[PathPart, ...], Position] = field(default_factory=dict)
    block: set[tuple[PathPart, ...]] = field(default_factory=set)  # values written as | or > block scalars
    refused: set[tuple[PathPart, ...]] = field(default_factory=set)  # values the loader already reported
    lines: list[str] = field(default_factory=list)  # the source text, to point inside long values

    def position(self, path: tuple[PathPart, ...], *, key: bool = False) -> Position:
        """Where `path` is; falls back to the nearest ancestor that exists (for missing fields)."""
        table = self.keys if key else self.values
        if path in table:
            return table[path]
        while path:
            path = path[:-1]
            if path in self.values:
                return self.values[path]
        return Position(1, 1)


# libyaml's parser when PyYAML was built with it (about 10x faster); errors are re-read with the
# pure-Python parser so a contributor sees the same message on every machine.
_FAST = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Refused(Exception):
    """Raised inside _compose when the event stream holds something a card may never contain."""


def _compose(text: str, loader_cls: type, conv: "_Converter") -> yaml.Node | None:
    """One pass over the parser's events: build the node tree, refusing anchors, aliases and extra documents.

    Refusing aliases here, before any tree is walked, defuses the "billion laughs" bomb. Each node
    records whether its tag was written in the card (`explicit_tag`).
    """
    loader = loader_cls(text)
    stack: list[yaml.Node] = []
    pending: list[yaml.Node | None] = []  # per open mapping: a key waiting for its value
    root: yaml.Node | None = None
    documents = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                conv.problem(_pos(event.start_mark), (), "YAML anchors and aliases (&name, *name, <<) are not allowed",
                             "write each value out in full; cards must read the same to people and parsers")
                raise _Refused
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    conv.problem(_pos(event.start_mark), (), "more than one YAML document in the card",
                                 "remove the '---' line and what follows")
                    raise _Refused
                continue
            if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                stack.pop()
                if isinstance(event, yaml.MappingEndEvent):
                    pending.pop()
                continue
            explicit = getattr(event, "tag", None) not in (None, "!")
            if isinstance(event, yaml.ScalarEvent):
                node: yaml.Node = yaml.ScalarNode(event.tag if explicit else _CORE + "str", event.value,
                                                  event.start_mark, event.end_mark, style=event.style or None)
            elif isinstance(event, yaml.SequenceStartEvent):
                node = yaml.SequenceNode(event.tag if explicit else _CORE + "seq", [], event.start_mark, event.end_mark)
            elif isinstance(event, yaml.MappingStartEvent):
                node = yaml.MappingNode(event.tag if explicit else _CORE + "map", [], event.start_mark, event.end_mark)
            else:
                continue
            node.explicit_tag = explicit
            if not stack:
                root = node
            elif isinstance(stack[-1], yaml.SequenceNode):
                stack[-1].value.append(node)
            elif pending[-1] is None:
                pending[-1] = node
            else:
                stack[-1].value.append((pending[-1], node))
                pending[-1] = None
            if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)):
                stack.append(node)
                if isinstance(node, yaml.MappingNode):
                    pending.append(None)
    finally:
        loader.dispose()
    return root


def _pos(mark: yaml.Mark) -> Position:
    return Position(mark.line + 1, mark.column + 1)


class _Converter:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.doc = Document(file=file, data=None)

    def problem(self, where: Position, path: tuple[PathPart, ...], message: str, hint: str) -> None:
        self.doc.refused.add(path)
        self.problems.append(Problem(self.file, where.line, where.col, json_path(path), message, hint))

    def convert(self, node: yaml.Node, path: tuple[PathPart, ...], depth: int = 0) -> Any:
        where = _pos(node.start_mark)
        self.doc.values[path] = where
        if depth > MAX_DEPTH:
            self.problem(where, path, f"nesting deeper than {MAX_DEPTH} levels", "cards are shallow; flatten this value")
            return None
        explicit = getattr(node, "explicit_tag", True)
        if node.tag not in _ALLOWED_TAGS and (explicit or not isinstance(node, yaml.ScalarNode)):
            self.problem(
                where, path, f"YAML tag {node.tag.replace(_CORE, '!!')!r} is not allowed",
                "cards hold plain data only: remove the tag",
            )
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        return self._scalar(node, path, where)

    def _mapping(self, node: yaml.MappingNode, path: tuple[PathPart, ...], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_where = _pos(key_node.start_mark)
            tagged = key_node.tag not in _ALLOWED_TAGS and getattr(key_node, "explicit_tag", True)
            if not isinstance(key_node, yaml.ScalarNode) or tagged:
                self.problem(key_where, path, "mapping keys must be plain text", "write the key as a plain word")
                continue
            key = self._scalar(key_node, path, key_where)
            if not isinstance(key, str):
                kinds = {bool: "a boolean", int: "a number", float: "a number"}
                kind = "null" if key is None else kinds.get(type(key), "a value")
                self.problem(
                    key_where, path, f"key {key_node.value!r} is read as {kind}, not text",
                    f'quote it: "{key_node.value}"',
                )
                continue
            if key in out:
                first = self.doc.keys[path + (key,)]
                self.problem(
                    key_where, path + (key,), f"duplicate key {key!r} (first defined at line {first.line})",
                    "remove one of the two; YAML would silently keep only the last",
                )
                continue
            self.doc.keys[path + (key,)] = key_where
            out[key] = self.convert(value_node, path + (key,), depth + 1)
        return out

    def _scalar(self, node: yaml.ScalarNode, path: tuple[PathPart, ...], where: Position) -> Any:
        text = node.value
        if node.style in ("|", ">"):
            self.doc.block.add(path)
        if node.style is not None:  # quoted or block scalar: always text
            return text
        tagged = getattr(node, "explicit_tag", False)  # a standard tag written in the card, such as !!str
        if (not tagged or node.tag in (_CORE + "int", _CORE + "float")) and len(text) > _MAX_NUMBER_CHARS \
                and (_INT.match(text) or _OCT.match(text) or _HEX.match(text)):
            # Converted, a number this long would crash Python's int-to-text limit (4,300 digits) or eat memory.
            self.problem(where, path, f"{_abbreviate(text)} is too large: a card's whole numbers must fit in 64 bits",
                         "write a smaller number, or quote it if you mean the text")
            return None
        if tagged:
            value = _construct_tagged(node.tag, text)
            if value is _BAD:
                self.problem(where, path, f"{text!r} cannot be read as {node.tag.replace(_CORE, '!!')}",
                             "remove the tag or fix the value")
                return None
            return self._checked_number(value, text, path, where)
        if _YAML11_BOOL.match(text):
            self.problem(
                where, path, f"{text!r} is a YAML 1.1 boolean, ambiguous in a card",
                f'quote it ("{text}") if you mean the text, or write true/false',
            )
            return text
        return self._checked_number(_resolve_plain(text), text, path, where)

    def _checked_number(self, value: Any, text: str, path: tuple[PathPart, ...], where: Position) -> Any:
        """Numbers a card may hold: whole numbers in 64 bits, finite floats (NaN breaks JSON, and every comparison)."""
        if isinstance(value, float) and math.isinf(value) and not _INF.match(text):
            self.problem(where, path, f"{_abbreviate(text)} is too large: it overflows to infinity",
                         "write a smaller number, or quote it if you mean the text")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.problem(where, path, f"{_abbreviate(text)} is not a finite number",
                         "cards hold finite numbers only (no .nan or .inf); quote it if you mean the text")
            return None
        if isinstance(value, int) and not isinstance(value, bool) and not _INT_MIN <= value <= _INT_MAX:
            self.problem(where, path, f"{_abbreviate(text)} is too large: a card's whole numbers must fit in 64 bits",
                         "write a smaller number, or quote it if you mean the text")
            return None
        return value


_BAD = object()
_MAX_NUMBER_CHARS = 32  # longer than any 64-bit whole number in decimal, octal or hex
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1  # int64 and uint64 tensors both fit


def _abbreviate(text: str) -> str:
    """A number as the card wrote it, shortened when long: '123456789012...' (5001 characters)."""
    return repr(text) if len(text) <= 24 else f"'{text[:12]}...' ({len(text)} characters)"


def _construct_tagged(tag: str, text: str) -> Any:
    if tag == _CORE + "str":
        return text
    value = _resolve_plain(text)
    if tag == _CORE + "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tag == _CORE + "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tag == _CORE + "bool" and isinstance(value, bool):
        return value
    if tag == _CORE + "null" and value is None:
        return None
    return _BAD


def _resolve_plain(text: str) -> Any:
    """Resolve a plain scalar by the YAML 1.2 core schema (no sexagesimals, no dates, no 010 octals)."""
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        return int(text)
    if _OCT.match(text):
        return int(text[2:], 8)
    if _HEX.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.match(text):
        return math.nan
    return text


def load_yaml_text(text: str, file: str) -> tuple[Document | None, list[Problem]]:
    """Load one YAML document; returns the document (None if it could not be parsed) and every problem found.

    Problems such as duplicate keys still yield a document, so validation can report the rest too.
    """
    conv = _Converter(file)
    try:
        try:
            node = _compose(text, _FAST, conv)
        except yaml.MarkedYAMLError:
            if _FAST is yaml.SafeLoader:
                raise
            node = _compose(text, yaml.SafeLoader, conv)  # for PyYAML's own wording of the error
    except _Refused:
        return None, conv.problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _pos(mark) if mark else Position(1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        conv.problem(where, (), f"YAML syntax error: {what}", "check the indentation and quoting on this line and the one above")
        return None, conv.problems
    except yaml.reader.ReaderError:
        # A raw control character (ESC, NUL, DEL, ...) typed into the file: point at it, as for an escaped one.
        found = yaml.reader.Reader.NON_PRINTABLE.search(text)
        at = found.start() if found else 0
        code = ord(text[at]) if found else 0
        what = "the control character" if code < 0x20 or 0x7F <= code < 0xA0 else "the character"
        line, col = text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1
        conv.problem(Position(line, col), (), f"the card contains {what} U+{code:04X}, which YAML does not allow",
                     "remove it: cards hold printable text (tabs and line breaks are fine)")
        return None, conv.problems
    except yaml.YAMLError as exc:
        conv.problem(Position(1, 1), (), f"YAML error: {exc}", "check that the file is a YAML mapping")
        return None, conv.problems
    if node is None:
        conv.problem(Position(1, 1), (), "the card is empty", "start from `modelshelf new ORG/NAME`")
        return None, conv.problems
    conv.doc.lines = text.splitlines()
    conv.doc.data = conv.convert(node, ())
    return conv.doc, conv.problems


def load_yaml_file(path: Path, display: str | None = None,
                   max_bytes: int = MAX_CARD_BYTES) -> tuple[Document | None, list[Problem]]:
    """Read and load a card file, refusing oversized files and bad encodings before parsing."""
    file = display or str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return None, [Problem(file, 1, 1, "$", f"the card is {size} bytes, more than the {max_bytes} allowed",
                                  "keep the card small: move long prose into README.md beside it")]
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Problem(file, 1, 1, "$", f"cannot read the card: {exc.strerror}", "check the file exists and is readable")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [Problem(file, line, col, "$", f"byte 0x{raw[exc.start]:02x} is not valid UTF-8", "save the card as UTF-8")]
    if text.startswith("\ufeff"):
        text = text[1:]
    return load_yaml_text(text, file)
