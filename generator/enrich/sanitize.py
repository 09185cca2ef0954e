"""Contributor Markdown to safe HTML: render, then keep only an allow-list of tags and attributes (nh3)."""
from __future__ import annotations

import re

import markdown
import nh3

_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "img", "table", "thead", "tbody", "tr", "th", "td", "sup", "sub", "dl", "dt", "dd",
    "del", "kbd", "abbr", "span", "div", "details", "summary",
}
_ATTRS = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"}, "abbr": {"title"},
          "th": {"align"}, "td": {"align"}, "code": {"class"}}
_HEADING = re.compile(r"<(/?)h([1-6])\b")


def render_markdown(text: str, *, shift_headings: int = 2) -> str:
    """Render contributor Markdown to sanitised HTML; headings move down so they nest under the page's own."""
    html = markdown.markdown(text, extensions=["tables", "fenced_code", "sane_lists"], output_format="html")
    clean = nh3.clean(html, tags=_TAGS, attributes=_ATTRS, url_schemes={"http", "https", "mailto"},
                      link_rel="noopener noreferrer nofollow", strip_comments=True)
    if shift_headings:
        clean = _HEADING.sub(lambda m: f"<{m.group(1)}h{min(6, int(m.group(2)) + shift_headings)}", clean)
    return clean
