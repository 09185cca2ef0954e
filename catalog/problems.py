"""Problem records: what is wrong with a card, where, and how to fix it."""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

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
