"""Contributor Markdown to safe HTML: render, then keep only an allow-list of tags and attributes (nh3).

Images: a description may only show images at a relative path (served from this site). A remote
image (`http(s)://`, protocol-relative `//host/...`, or any other absolute form) would be fetched on
every page view and tell a third party who read the page (a tracking pixel), so it is not loaded:
it becomes a link to the image, labelled with its alt text, that a visitor may choose to follow.
The site's Content-Security-Policy (`img-src 'self' data:`) blocks remote images as well.
"""
from __future__ import annotations

import html
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
_SCHEMES = {"http", "https", "mailto"}
_HEADING = re.compile(r"<(/?)h([1-6])\b")
# An empty header cell says nothing to a screen reader (axe: empty-table-header); it is a plain cell.
_EMPTY_TH = re.compile(r"<th((?:\s[^>]*)?)>\s*</th>")
# A header row with no text at all (a Markdown table used for layout) is dropped rather than shown as an empty row.
_EMPTY_HEAD = re.compile(r"<thead>\s*<tr>(?:\s*<th(?:\s[^>]*)?>\s*</th>)+\s*</tr>\s*</thead>\s*")
_IMG = re.compile(r"<img\b([^>]*)>")
_ATTR = re.compile(r'([a-z]+)="([^"]*)"')
# A path on this site: no scheme, no host (`//`, `\\`, `/\`), no leading slash (pages move, the site may live in a sub-folder).
_LOCAL_SRC = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9._~/-]*(?:\?[A-Za-z0-9._~=&-]*)?")


def _image(match: re.Match[str]) -> str:
    attrs = {name: value for name, value in _ATTR.findall(match.group(1))}
    src = html.unescape(attrs.get("src", ""))
    if _LOCAL_SRC.fullmatch(src) and ".." not in src.split("/"):
        return match.group(0)
    label = attrs.get("alt") or "image"
    if not src:
        return label
    # nh3 has already limited src to the allowed schemes; the link is followed only if the visitor clicks it.
    return (f'<a href="{attrs["src"]}" rel="noopener noreferrer nofollow" class="ms-remote-image">'
            f"{label} (remote image, not loaded)</a>")


def clean_html(html_text: str) -> str:
    """The allow-list sanitiser, then remote images turned into links."""
    clean = nh3.clean(html_text, tags=_TAGS, attributes=_ATTRS, url_schemes=_SCHEMES,
                      link_rel="noopener noreferrer nofollow", strip_comments=True)
    return _IMG.sub(_image, clean)


def render_markdown(text: str, *, top_heading: int = 3) -> str:
    """Render contributor Markdown to sanitised HTML. Headings move so that the highest one is an h`top_heading`
    (the page's own h2 section holds them; a skipped level confuses screen-reader navigation), keeping their
    relative levels; an empty header row is dropped and other empty header cells become plain cells."""
    html_text = markdown.markdown(text, extensions=["tables", "fenced_code", "sane_lists"], output_format="html")
    clean = _EMPTY_TH.sub(r"<td\1></td>", _EMPTY_HEAD.sub("", clean_html(html_text)))
    levels = [int(level) for _, level in _HEADING.findall(clean)]
    shift = top_heading - min(levels) if levels else 0
    if shift:
        clean = _HEADING.sub(lambda m: f"<{m.group(1)}h{max(1, min(6, int(m.group(2)) + shift))}", clean)
    return clean
