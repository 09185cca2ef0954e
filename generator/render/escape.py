"""Escaping for contributor strings, one helper per output context.

Pages are Markdown with raw HTML blocks, and Jinja's HTML autoescape does not neutralise Markdown:
a card string that Python-Markdown parses can make a link (`[x](javascript:...)`), an image, an
attribute list (`{: onclick=...}`) or, after a newline, a fenced block or a heading. `page_text` is
the one escape for pages: HTML-escape, then write every character Markdown or its extensions act
on as a numeric character reference, and every line break or control character as a space, so the
string means the same in a raw HTML block, an attribute value and a Markdown line, and displays as
the contributor wrote it. `pages._env` applies it to every `{{ }}` value that is not already
`Markup` (Jinja `finalize`), so a template cannot forget it.

Snippets (shell, Python) and plain-text files (bundle README, Dockerfile) get `shell_word`,
`url_for_shell` and `one_line` instead: a contributor string is always one line and, in a shell
command, one quoted word.
"""
from __future__ import annotations

import re
import shlex
from urllib.parse import quote, urlsplit

from markupsafe import Markup

# What makes Markdown act inside a line: links and images `[` `]` `!`, attribute lists `{` `}`, code spans
# and fences `` ` ``, emphasis `*`, backslash escapes, tables `|`, heading ends `#`, toc's `[TOC]`. Characters
# that act only at the start of a line (`-`, `+`, `1.`, `=`, `:`) are safe once line breaks are gone;
# `_` is left as it is (intra-word, as in `base_model`, it is not emphasis, and emphasis carries no attribute).
_MARKDOWN_CHARS = "\\`*{}[]!#|"
# One pass over the text, HTML's five and Markdown's characters together (escaping in two passes would
# re-escape the `#` of the first pass's `&#34;`).
_PAGE_TABLE = {**{ord(c): f"&#{ord(c)};" for c in _MARKDOWN_CHARS},
               ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord('"'): "&#34;", ord("'"): "&#39;"}
# Line breaks and other controls end a Markdown line or hide text; bidi controls reorder what a visitor reads.
_LINE_OR_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]")


def one_line(text: object) -> str:
    """The text on one line: line breaks and control characters become spaces, bidi controls are dropped."""
    return _BIDI.sub("", _LINE_OR_CONTROL.sub(" ", str(text)))


def page_text(value: object) -> Markup:
    """A contributor value escaped for a page: inert as HTML (text or attribute value) and as Markdown."""
    if isinstance(value, Markup):
        return value
    if hasattr(value, "__html__"):
        return Markup(value.__html__())
    return Markup(one_line(value).translate(_PAGE_TABLE))


def finalize(value: object) -> object:
    """Jinja `finalize`: every printed value that is not already Markup goes through `page_text`."""
    if value is None or isinstance(value, (Markup, bool, int, float)):
        return value
    return page_text(value)


def web_url(value: str | None) -> str | None:
    """The URL if a page may link to it (http or https, a host, no whitespace or controls), else None."""
    if not value or _LINE_OR_CONTROL.search(value) or any(c.isspace() for c in value):
        return None
    parts = urlsplit(value)
    return value if parts.scheme in ("http", "https") and parts.netloc else None


# RFC 3986 reserved and unreserved characters minus the quote characters; everything else is %-encoded.
_URL_SAFE = "-._~:/?#[]@!$&()*+,;=%"


def url_for_shell(url: str) -> str:
    """A URL as one shell word: characters a URL may not hold literally are %-encoded, then it is quoted."""
    return shell_word(quote(url, safe=_URL_SAFE))


def shell_word(text: str) -> str:
    """One shell word, quoted when it needs to be; line breaks and control characters are %-encoded away first."""
    if _LINE_OR_CONTROL.search(text) or _BIDI.search(text):
        text = quote(text, safe=_URL_SAFE + "'\"` <>{}|\\^")
    return shlex.quote(text)
