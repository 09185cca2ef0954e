"""Problem records: what is wrong with a card, where, and how to fix it."""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

if TYPE_CHECKING:  # the loader imports this module
    from modelshelf.catalog.loader import Document, Position

PathPart = str | int
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def json_path(parts: Sequence[PathPart]) -> str:
    """Render a path into the card as `$.inputs[0].name` (keys that are not identifiers get `['...']`)."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}"
        else:
            out += "[" + json.dumps(part) + "]"
    return out


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with one file: where it is (1-based line and column), what, and how to fix it."""

    file: str
    line: int
    col: int
    path: str
    message: str
    hint: str = ""
    # "error" fails validate and the build; "warning" (almost certainly a mistake, e.g. scaffold placeholder text)
    # is reported and fails only `modelshelf validate --strict`.
    severity: str = "error"

    @property
    def is_warning(self) -> bool:
        return self.severity == "warning"

    def format_text(self) -> str:
        level = "warning: " if self.is_warning else ""
        head = f"{self.file}:{self.line}:{self.col}: {level}{self.path}: {self.message}"
        return head + (f"\n  hint: {self.hint}" if self.hint else "")

    def format_github(self) -> str:
        """A GitHub Actions workflow command: an annotation on this line of the file in a pull request."""
        props = ",".join(f"{k}={_escape_property(str(v))}" for k, v in
                         (("file", self.file), ("line", self.line), ("col", self.col), ("title", f"modelshelf: {self.path}")))
        text = self.message + (f"\nhint: {self.hint}" if self.hint else "")
        return f"::{self.severity} {props}::{_escape_data(text)}"

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        del data["severity"]  # the JSON report keeps errors and warnings in separate lists
        return data


def warning(problem: Problem) -> Problem:
    """The same problem as a warning."""
    return Problem(problem.file, problem.line, problem.col, problem.path, problem.message, problem.hint, "warning")


# GitHub's escaping of workflow commands (actions/toolkit, core/src/command.ts): data escapes % CR LF,
# a property also , and : (they separate properties and end the property list).
def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def format_problems(problems: Iterable[Problem], fmt: str = "text") -> str:
    """Render problems for people (`text`), programs (`json`) or GitHub Actions annotations (`github`).

    Warnings (severity "warning") are marked as such: `warning:` before the JSON path in text, a separate
    `warnings` list in JSON, `::warning` in GitHub's format.
    """
    items = sorted(problems, key=lambda p: (p.file, p.line, p.col, p.path, p.message, p.hint))
    errors = [p for p in items if not p.is_warning]
    warnings = [p for p in items if p.is_warning]
    if fmt == "json":
        return json.dumps({"problems": [p.to_dict() for p in errors], "count": len(errors),
                           "warnings": [p.to_dict() for p in warnings], "warning_count": len(warnings)}, indent=2)
    # The last line counts the errors as it always has; warnings get their own line before it (alone if no errors).
    tally = [f"{_count(len(warnings), 'warning')} in {_count(len({p.file for p in warnings}), 'file')}"] if warnings else []
    if errors or not warnings:
        tally.append(f"{_count(len(errors), 'problem')} in {_count(len({p.file for p in errors}), 'file')}")
    if fmt == "github":
        return "\n".join([p.format_github() for p in items] + tally)
    return "\n".join([p.format_text() for p in items] + tally)


class CardReporter:
    """Collects the problems of one card, each at the line and column of the field it names.

    `document` is the card as the loader read it (None when there is none, e.g. for a card built
    in code): a field's position comes from it, else the problem points at line 1 of `card_path`.
    Every stage that finds something wrong with a card (validation, enrich, export, evaluation)
    reports through one of these.
    """

    def __init__(self, document: Document | None, card_path: str | Path) -> None:
        self.document = document
        self.file = document.file if document is not None else str(card_path)
        self.items: list[Problem] = []

    def add(self, path: Sequence[PathPart], message: str, hint: str = "", *, key: bool = False,
            where: Position | None = None) -> None:
        """A problem at `path` (`key=True`: at the mapping key rather than its value; `where`: at that position)."""
        path = tuple(path)
        pos = where or (self.document.position(path, key=key) if self.document is not None else None)
        self.items.append(Problem(self.file, pos.line if pos else 1, pos.col if pos else 1, json_path(path), message, hint))


def closest(value: str, choices: Iterable[str]) -> str | None:
    """The choice a misspelt `value` most likely meant, for a "did you mean ...?" hint; None if none is close.

    The same word in other case (or with stray spaces) first, then the closest by difflib's ratio,
    then the first choice that starts with `value`.
    """
    options = list(choices)
    wanted = value.strip().lower()
    lowered = {c.lower(): c for c in options}
    if wanted in lowered:
        return lowered[wanted]
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    if close:
        return close[0]
    prefixed = sorted(c for c in options if wanted and c.lower().startswith(wanted))
    return prefixed[0] if prefixed else None
