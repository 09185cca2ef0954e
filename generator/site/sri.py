"""Subresource Integrity for the site's own scripts and stylesheets (issue 12).

Run by the plugin's `on_post_build` after every other file is written and before SHA256SUMS, so the
hashes are those of the final bytes on disk. For each HTML page of the site folder, in one pass:

- every `<script src>`, `<link rel="stylesheet">` and `<link rel="modulepreload">` whose URL points at
  a file of the site (relative, root-relative, or absolute under `site_url`; resolved against the page
  as a browser would) gets `integrity="sha384-..."`. No `crossorigin` is added: the files are same-origin,
  where integrity needs none. A URL that points at no file of the site fails the build, naming the page
  and the URL. Absolute URLs to other hosts (and `data:` and the like) are left alone; the site loads
  none (no CDN: it must work offline).
- the scripts the site's own code loads at run time (`dynamic_scripts`: every script of the theme folder
  and the vendored libraries) are listed in an import map, `<script type="importmap">` with an
  "integrity" section, written right after the Content-Security-Policy meta. Chromium (since 127; Debian's
  is 156) then checks every ES module the page imports, statically or by `import()`: search/page.js,
  tryit/panel.js, their imports and widgets, and onnxruntime-web's ort-wasm-simd-threaded.mjs (which
  ort.wasm.min.js imports by URL when it is same-origin). load.js reads the same map to set
  `script.integrity` on the classic scripts it adds (lunr, processing.js, tokenizer.js, onnxruntime-web's
  ort.wasm.min.js); the map's `data-root` attribute is the page's way to the site root, so a key without
  it is a path in the site. The map is an inline script written after csp.add_csp ran: its hash is added
  to the page's policy (csp.allow_inline_script); scripts in the page content are still never hashed.
  A browser without import-map integrity loads these modules unchecked (it ignores the section).
- onnxruntime-web's WebAssembly (ort-wasm-simd-threaded.wasm, 14 MB), which the runtime would fetch itself
  where neither an attribute nor an import map reaches, is fetched by tryit/runtime.js, checked against the
  map's integrity with SubtleCrypto (counting bytes for the panel's progress), kept in Cache Storage for later
  visits (checked again when read) and handed to the runtime as `ort.env.wasm.wasmBinary`.

Not covered:
- The model file the "Try it" panel downloads is not checked in the browser (the client checks every
  download against catalog.json's SHA-256), nor are search/*.json.
- `<link rel="icon">` cannot carry integrity. Tags inside `<article>` (the page content) are never read or
  rewritten: the scan stops at the theme's `<article>` and resumes at its last `</article>`.
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import logging
import os
import posixpath
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from modelshelf.generator.errors import BuildError
from modelshelf.generator.site.csp import allow_inline_script
from modelshelf.generator.site.vendor import VENDORED

log = logging.getLogger(__name__)

_ALGORITHM = "sha384"
_SCRIPT_SUFFIXES = (".js", ".mjs")
# A host no URL of the site can name: relative URLs are resolved against it as a browser resolves them against the page.
_HOST = "site.invalid"


class IntegrityError(BuildError):
    """Raised by add_integrity when a page points at a file the site lacks, or carries an integrity that does not match."""


@dataclass(frozen=True)
class IntegrityReport:
    pages: int
    tags: int
    assets: int
    seconds: float


class Digests:
    """`sha384-...` of files of the site folder, each hashed once; raises IntegrityError for a file the site lacks."""

    def __init__(self, site_dir: Path) -> None:
        self.site_dir = site_dir.resolve()
        self._known: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._known)

    def integrity(self, rel: str, *, why: str) -> str:
        if rel not in self._known:
            path = (self.site_dir / rel).resolve()
            if not path.is_relative_to(self.site_dir) or not path.is_file():
                raise IntegrityError(f"{why}, which is not a file of the site")
            digest = hashlib.new(_ALGORITHM)
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
            self._known[rel] = f"{_ALGORITHM}-" + base64.b64encode(digest.digest()).decode("ascii")
        return self._known[rel]


def dynamic_scripts(theme_dir: Path | None) -> list[str]:
    """Site paths of the scripts the site's own code may load at run time: every .js/.mjs of the theme folder, and the
    vendored ones (generator/site/vendor.py), with onnxruntime-web's .wasm. The theme folder's files land at the same
    path in the site."""
    found: list[str] = []
    if theme_dir is not None and theme_dir.is_dir():
        found += sorted(p.relative_to(theme_dir).as_posix() for p in theme_dir.rglob("*")
                        if p.suffix in _SCRIPT_SUFFIXES and p.is_file())
    # The vendored .wasm too: no module loads it, but tryit/runtime.js reads its integrity from the map and fetches it
    # with that integrity before handing the bytes to onnxruntime-web (which would otherwise fetch it unchecked).
    found += [dest for _package, _name, dest in VENDORED if dest.endswith((*_SCRIPT_SUFFIXES, ".wasm"))]
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class _Tag:
    start: int  # offset of its "<" in the page
    text: str  # the start tag as written
    name: str
    attrs: dict[str, str]


class _StopAtArticle(Exception):
    """Raised by _TagScanner at the theme's <article>: what follows is the page content, not read."""


class _TagScanner(HTMLParser):
    """The start tags of a piece of a page, with their offsets; stops at an <article> start tag when asked."""

    def __init__(self, text: str, *, stop_at_article: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.stop_at_article = stop_at_article
        self.tags: list[_Tag] = []
        self.article_at: int | None = None
        # HTMLParser counts lines by "\n" alone (not str.splitlines' other breaks).
        self._line_starts = [0, *itertools.accumulate(len(line) + 1 for line in text.split("\n"))]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line, column = self.getpos()  # the tag's start, while its handler runs
        start = self._line_starts[line - 1] + column
        if tag == "article" and self.stop_at_article:
            self.article_at = start
            raise _StopAtArticle
        if tag in ("script", "link", "meta", "head"):
            text = self.get_starttag_text() or ""
            self.tags.append(_Tag(start, text, tag, {k: v or "" for k, v in attrs}))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def _scan(text: str, offset: int, *, stop_at_article: bool) -> tuple[list[_Tag], int | None]:
    scanner = _TagScanner(text, stop_at_article=stop_at_article)
    try:
        scanner.feed(text)
        scanner.close()
    except _StopAtArticle:
        pass
    tags = [_Tag(t.start + offset, t.text, t.name, t.attrs) for t in scanner.tags]
    return tags, None if scanner.article_at is None else scanner.article_at + offset


def _outside_article(html: str) -> list[_Tag]:
    """The page's start tags before its first <article> and after its last </article> (the theme's; the content
    is inside it and may hold nested ones, but never a raw `</article>` after the theme's own)."""
    head, article_at = _scan(html, 0, stop_at_article=True)
    if article_at is None:
        return head
    end = html.rfind("</article>")
    if end < article_at:
        return head
    tail, _ = _scan(html[end:], end, stop_at_article=False)
    return head + tail


def _subresource_url(tag: _Tag) -> str | None:
    if tag.name == "script":
        return tag.attrs.get("src") or None
    if tag.name == "link":
        rel = tag.attrs.get("rel", "").lower().split()
        if "stylesheet" in rel or "modulepreload" in rel:
            return tag.attrs.get("href") or None
    return None


@dataclass(frozen=True)
class _Site:
    base_path: str  # the site root's path on its host, "/" or "/repo/"
    site_url: str  # absolute URL of the site root ending in "/", or "" when unknown


def _site_path(url: str, page: str, site: _Site) -> tuple[str | None, bool]:
    """(path in the site, whether the URL is root-relative) of `url` on `page`; None for another host or scheme."""
    if site.site_url and url.startswith(site.site_url):
        url = site.base_path + url[len(site.site_url):]
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return None, False
    # Resolved as a browser resolves it against the page (query and fragment dropped, "../" above the host clamped).
    path = unquote(urlsplit(urljoin(f"http://{_HOST}{site.base_path}{page}", url)).path)
    if not path.startswith(site.base_path):
        raise IntegrityError(f"{page}: URL {url!r} points outside the site (its root is {site.base_path!r})")
    return posixpath.normpath(path[len(site.base_path):] or "."), url.startswith("/")


def _with_attribute(tag_text: str, attribute: str) -> str:
    """`tag_text` (a start tag as written) with `attribute` added before its end (`>`, or `/>` after a space or quote)."""
    closing = "/>" if tag_text.endswith("/>") and tag_text[-3:-2] in (" ", '"', "'") else ">"
    head = tag_text[:-len(closing)].rstrip()
    return f"{head} {attribute}{' ' if closing == '/>' else ''}{closing}"


def import_map(prefix: str, integrities: dict[str, str]) -> tuple[str, str]:
    """The <script type="importmap"> element, and its body, for a page whose way to the site root is `prefix`
    ("./", "../../", or the root's path "/repo/" for a page written with root-relative URLs, such as 404.html)."""
    body = json.dumps({"integrity": {prefix + rel: value for rel, value in sorted(integrities.items())}},
                      separators=(",", ":"), ensure_ascii=True).replace("<", "\\u003c")
    return f'<script type="importmap" data-root="{prefix}">{body}</script>', body


def _page_prefix(page: str, root_relative: bool, site: _Site) -> str:
    if root_relative:
        return site.base_path
    depth = page.count("/")
    return "../" * depth if depth else "./"


def _import_map_edit(tags: list[_Tag], page: str, digests: Digests, scripts: Sequence[str], prefix: str,
                     ) -> tuple[tuple[int, int, str], str] | None:
    """The edit that inserts the import map of `scripts` right after the page's policy (else after <head>), and its body;
    None when the page has one already or no <head> tag to put it after."""
    if any(t.name == "script" and t.attrs.get("type", "").lower() == "importmap" for t in tags):
        return None
    # Right after the policy: the map then governs every script, and an import map must precede the first module load.
    anchor = next((t for t in tags if t.name == "meta" and t.attrs.get("http-equiv", "").lower() == "content-security-policy"),
                  next((t for t in tags if t.name == "head"), None))
    if anchor is None:
        return None
    integrities = {rel: digests.integrity(rel, why=f"{page}: the import map lists {rel!r}") for rel in scripts}
    element, body = import_map(prefix, integrities)
    at = anchor.start + len(anchor.text)
    return (at, at, element), body


def page_with_integrity(html: str, page: str, digests: Digests, *, dynamic_scripts: Sequence[str] = (),
                        site_url: str = "") -> tuple[str, int]:
    """`html` (the page at site path `page`) with integrity on its own subresources and, when it loads a script of the
    site, the import map of `dynamic_scripts` (site paths); and the number of tags given integrity."""
    site = _site(site_url)
    tags = _outside_article(html)
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement) in the page
    first_script_root_relative: bool | None = None
    for tag in tags:
        url = _subresource_url(tag)
        if url is None:
            continue
        rel, root_relative = _site_path(url, page, site)
        if rel is None:
            continue
        value = digests.integrity(rel, why=f"{page}: <{tag.name}> URL {url!r} points at {rel!r}")
        if tag.name == "script" and first_script_root_relative is None:
            first_script_root_relative = root_relative
        if "integrity" in tag.attrs:
            if tag.attrs["integrity"].split() != [value]:
                raise IntegrityError(f"{page}: <{tag.name}> URL {url!r} has integrity {tag.attrs['integrity']!r}, "
                                     f"but the file's is {value!r}")
            continue
        edits.append((tag.start, tag.start + len(tag.text), _with_attribute(tag.text, f'integrity="{value}"')))
    tagged = len(edits)
    added = None
    if dynamic_scripts and first_script_root_relative is not None:
        # Keys in the form of the page's own script URLs: relative, or root-relative in 404.html (served at any path).
        prefix = _page_prefix(page, first_script_root_relative, site)
        added = _import_map_edit(tags, page, digests, dynamic_scripts, prefix)
        if added is not None:
            edits.append(added[0])
    out: list[str] = []
    done = 0
    for start, stop, replacement in sorted(edits):
        out += [html[done:start], replacement]
        done = stop
    out.append(html[done:])
    result = "".join(out)
    return (allow_inline_script(result, added[1]) if added is not None else result), tagged


def _site(site_url: str) -> _Site:
    if not site_url:
        return _Site("/", "")
    root = site_url if site_url.endswith("/") else site_url + "/"
    path = urlsplit(root).path or "/"
    return _Site(path, root)


def _html_pages(site_dir: Path) -> Iterable[tuple[Path, str]]:
    for folder, _dirs, files in os.walk(site_dir):
        for name in sorted(files):
            if name.endswith(".html"):
                path = Path(folder) / name
                yield path, path.relative_to(site_dir).as_posix()


def add_integrity(site_dir: Path, *, dynamic_scripts: Sequence[str] = (), site_url: str = "") -> IntegrityReport:
    """Give every HTML page of `site_dir` integrity on its own scripts and stylesheets, and the import map of
    `dynamic_scripts` (site paths of the scripts loaded at run time); raise IntegrityError naming the page and URL of a
    missing file."""
    started = time.perf_counter()
    digests = Digests(site_dir)
    pages = tags = 0
    for path, page in _html_pages(site_dir):
        html = path.read_bytes().decode("utf-8")
        new, tagged = page_with_integrity(html, page, digests, dynamic_scripts=dynamic_scripts, site_url=site_url)
        if new != html:
            path.write_bytes(new.encode("utf-8"))
        pages += 1
        tags += tagged
    report = IntegrityReport(pages, tags, len(digests), time.perf_counter() - started)
    log.info("modelshelf: integrity on %d tags of %d pages (%d files hashed) in %.2f s",
             report.tags, report.pages, report.assets, report.seconds)
    return report
