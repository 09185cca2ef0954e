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

    def format_text(self) -> str:
        head = f"{self.file}:{self.line}:{self.col}: {self.path}: {self.message}"
        return head + (f"\n  hint: {self.hint}" if self.hint else "")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def format_problems(problems: Iterable[Problem], fmt: str = "text") -> str:
    """Render problems for people (`text`) or programs (`json`)."""
    items = sorted(problems)
    if fmt == "json":
        return json.dumps({"problems": [p.to_dict() for p in items], "count": len(items)}, indent=2)
    lines = [p.format_text() for p in items]
    noun = "problem" if len(items) == 1 else "problems"
    files = len({p.file for p in items})
    lines.append(f"{len(items)} {noun} in {files} file{'s' if files != 1 else ''}")
    return "\n".join(lines)


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
