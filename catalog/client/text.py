"""Catalog strings made safe for a terminal.

A site's catalog.json is not trusted: a summary or a file name may carry an escape sequence
(ESC [ ...) that recolours, retitles or rewrites the user's terminal, a carriage return that
overwrites the line before it, or a bidi control that makes text read as something else.
`printable` writes every such character as a visible escape (`\\x1b`, `\\u202e`); the JSON output of
the commands needs nothing more, as `json.dumps` escapes them already.
"""
from __future__ import annotations

import unicodedata

# Cc: C0/C1 controls and DEL; Cf: format characters (bidi controls, zero-width, BOM); Zl/Zp: line and paragraph separators.
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(value: object, *, newlines: bool = False) -> str:
    """`str(value)` with every control, format or separator character written as a visible escape.

    `newlines=True` keeps line feeds (for messages this program wrote over several lines).
    """
    text = str(value)
    if text.isprintable():  # the common case: nothing to escape (isprintable is False for all the categories above)
        return text
    return "".join(char if (char == "\n" and newlines) or (char == " ")
                   or unicodedata.category(char) not in _UNSAFE_CATEGORIES else _escape(char) for char in text)


__all__ = ["printable"]
