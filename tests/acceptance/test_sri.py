"""Subresource Integrity on the site's own scripts and stylesheets (issue 12; generator/site/sri.py).

- On the built site, every <script src> and <link rel="stylesheet"> of the site's own files carries an
  integrity that matches the file's bytes; each page's import map lists the scripts loaded at run time
  with theirs, and the page's Content-Security-Policy allows that import map; SHA256SUMS hashes the
  pages as rewritten.
- In Chromium, a copy of the site with one script or stylesheet changed after the build (a comment
  appended) is refused: the console names the integrity check and the feature does not start, while
  the same copy untampered searches and runs a model.
- The rewriter on small pages: relative, root-relative and site-absolute URLs, a missing file, other
  hosts left alone, and nothing inside <article> read or rewritten.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from modelshelf.generator.site.csp import add_csp
from modelshelf.generator.site.sri import Digests, IntegrityError, add_integrity, page_with_integrity
from conftest import InstantHandler, _QuietHandler

try:
    from playwright.sync_api import expect
except ImportError:  # the browser tests skip through conftest's `browser` fixture; the others need no browser
    expect = None

IRIS = "modelshelf/iris-logreg"
PAGES = ("index.html", f"models/{IRIS}/index.html", "404.html")
# Scripts the site loads at run time, by way of the import map (modules) or load.js (classic scripts).
RUNTIME = ("assets/javascripts/search/page.js", "assets/javascripts/tryit/panel.js", "assets/javascripts/load.js",
           "assets/javascripts/tryit/widgets/tabular.js", "assets/vendor/lunr/lunr.min.js",
           "assets/vendor/onnxruntime-web/ort.wasm.min.js", "assets/vendor/onnxruntime-web/ort-wasm-simd-threaded.mjs")


def _sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def _csp_hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


class _Tags(HTMLParser):
    """Every start tag of a page with its attributes, and the bodies of inline scripts (a parser of the test's own)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[tuple[dict[str, str], str]] = []
        self._open: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        if tag == "script":
            self._open = attributes
            self.scripts.append((attributes, ""))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            attrs, body = self.scripts[-1]
            self.scripts[-1] = (attrs, body + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None


def _parse(html: str) -> _Tags:
    tags = _Tags()
    tags.feed(html)
    tags.close()
    return tags


def _file_of(site: Path, page: str, url: str) -> Path:
    path = urlsplit(urljoin(f"http://site.test/{page}", url)).path
    return site / path.lstrip("/")


# ---------------------------------------------------------------- the built site


@pytest.mark.parametrize("page", PAGES)
def test_own_scripts_and_stylesheets_carry_the_integrity_of_their_bytes(built_site: Path, page: str) -> None:
    tags = _parse((built_site / page).read_text(encoding="utf-8"))
    checked = []
    for name, attrs in tags.tags:
        stylesheet = name == "link" and "stylesheet" in attrs.get("rel", "").split()
        url = attrs.get("src") if name == "script" else attrs.get("href") if stylesheet else None
        if not url:
            continue
        assert not urlsplit(url).scheme, f"{page} loads {url} from elsewhere"
        file = _file_of(built_site, page, url)
        assert attrs.get("integrity") == _sri(file.read_bytes()), f"{page}: {url}"
        assert "crossorigin" not in attrs
        checked.append(file.name)
    assert {"search.js", "tryit.js", "modelshelf.css"} <= set(checked)
    assert any(n.startswith("bundle.") for n in checked) and any(n.startswith("main.") for n in checked)


@pytest.mark.parametrize("page", PAGES)
def test_the_import_map_lists_the_runtime_scripts_and_the_policy_allows_it(built_site: Path, page: str) -> None:
    html = (built_site / page).read_text(encoding="utf-8")
    tags = _parse(html)
    maps = [(attrs, body) for attrs, body in tags.scripts if attrs.get("type") == "importmap"]
    assert len(maps) == 1, maps
    attrs, body = maps[0]
    integrity = json.loads(body)["integrity"]
    listed = set()
    for key, value in integrity.items():
        assert key.startswith(attrs["data-root"]), key
        file = _file_of(built_site, page, key)
        assert value == _sri(file.read_bytes()), key
        listed.add(file.relative_to(built_site).as_posix())
    assert set(RUNTIME) <= listed
    # It comes right after the policy, before every other script, and the policy allows exactly it.
    first_script = next(i for i, (t, _) in enumerate(tags.tags) if t == "script")
    assert tags.tags[first_script - 1][1].get("http-equiv") == "Content-Security-Policy"
    assert tags.tags[first_script][1].get("type") == "importmap"
    policy = next(a["content"] for t, a in tags.tags if a.get("http-equiv") == "Content-Security-Policy")
    script_src = next(d for d in policy.split("; ") if d.startswith("script-src "))
    assert _csp_hash(body) in script_src.split()


def test_sha256sums_hashes_the_pages_as_rewritten(built_site: Path) -> None:
    sums = dict(reversed(line.split(None, 1)) for line in (built_site / "SHA256SUMS").read_text(encoding="utf-8").splitlines())
    for page in PAGES:
        assert sums[page] == hashlib.sha256((built_site / page).read_bytes()).hexdigest(), page


# ---------------------------------------------------------------- in Chromium: a changed file is refused


class _InstantHandler(InstantHandler):
    """conftest's InstantHandler, with the site under /sub/ (as on GitHub Pages under a repository's name)."""

    site_path = "/sub/"

    def translate_path(self, path: str) -> str:
        return super().translate_path(path[len("/sub"):] if path.startswith("/sub/") else "/not-in-the-site/")


@contextmanager
def _serving(folder: Path, *, instant: bool = False) -> Iterator[str]:
    handler = functools.partial(_InstantHandler if instant else _QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/" + ("sub/" if instant else "")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _site_copy(built_site: Path, dest: Path, tamper: str | None = None) -> Path:
    """A copy of the built site (hard links where possible: 140 MB of models), with `tamper` changed by one appended
    comment. The changed file is written anew, never through its link, so the session's site stays as built."""
    shutil.copytree(built_site, dest, copy_function=_link_or_copy)
    if tamper is not None:
        target = dest / tamper
        data = target.read_bytes()
        target.unlink()
        target.write_bytes(data + b"\n/* changed after the build */\n")
    return dest


@contextmanager
def _visit(browser: Any, site: Path, *, instant: bool = False) -> Iterator[tuple[Any, str, list[str]]]:
    """A page on `site`, served on 127.0.0.1; the list collects console errors and warnings."""
    messages: list[str] = []
    with _serving(site, instant=instant) as url:
        context = browser.new_context()
        context.set_default_timeout(30_000)
        context.route(lambda u: not u.startswith(url), lambda route: route.abort())
        page = context.new_page()
        page.on("console", lambda m: messages.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda exc: messages.append(f"uncaught: {exc}"))
        try:
            yield page, url, messages
        finally:
            context.close()


def _integrity_refusal(messages: list[str], name: str) -> list[str]:
    return [m for m in messages if "integrity" in m.lower() and name in m]


@pytest.mark.browser
def test_the_untampered_copy_searches_and_runs_a_model(browser: Any, built_site: Path, tmp_path: Path) -> None:
    """The control for the tests below: the same copy and server, unchanged, work and log nothing."""
    with _visit(browser, _site_copy(built_site, tmp_path / "site")) as (page, url, messages):
        page.goto(url)
        expect(page.locator("#ms-search")).to_have_class(re.compile(r"\bms-home--ready\b"))
        expect(page.locator(".ms-results__list .ms-result").first).to_be_visible()
        page.goto(f"{url}models/{IRIS}/")
        page.locator(".ms-tryit__open").click()
        expect(page.locator("#ms-tryit")).to_have_attribute("data-runs", re.compile(r"^[1-9]"), timeout=60_000)
        expect(page.locator(".ms-tryit__error")).to_be_hidden()
    assert messages == []


@pytest.mark.browser
@pytest.mark.parametrize("tamper", [
    "assets/javascripts/search.js",  # a <script src> of the page
    "assets/javascripts/search/page.js",  # an ES module import()ed by search.js: the import map
    "assets/javascripts/dom.js",  # a module page.js imports statically: the import map
])
def test_a_changed_search_module_is_refused(browser: Any, built_site: Path, tmp_path: Path, tamper: str) -> None:
    with _visit(browser, _site_copy(built_site, tmp_path / "site", tamper)) as (page, url, messages):
        # A refused <script src> is the end of it; a refused module makes search.js report that its import failed.
        last = "integrity" if tamper == "assets/javascripts/search.js" else "could not be loaded"
        with page.expect_console_message(lambda m: last in m.text.lower(), timeout=15_000):
            page.goto(url)
        expect(page.locator(".ms-searchbox")).to_be_hidden()
        expect(page.locator("#ms-search")).not_to_have_class(re.compile(r"\bms-home--ready\b"))
    assert _integrity_refusal(messages, tamper.rsplit("/", 1)[-1]), messages


@pytest.mark.browser
def test_a_changed_search_engine_is_refused(browser: Any, built_site: Path, tmp_path: Path) -> None:
    """search/engine.js, which search/page.js imports, takes its integrity from the import map: changed, search does not start."""
    with _visit(browser, _site_copy(built_site, tmp_path / "site", "assets/javascripts/search/engine.js")) as (page, url, messages):
        with page.expect_console_message(lambda m: "could not be loaded" in m.text.lower(), timeout=15_000):
            page.goto(url)
        expect(page.locator("#ms-search")).not_to_have_class(re.compile(r"\bms-home--ready\b"))
    assert _integrity_refusal(messages, "engine.js"), messages


def _follow(page: Any, href: str) -> None:
    """Follow an in-site link as a visitor would; with navigation.instant the document stays, only its URL changes."""
    page.evaluate("() => { window.__sameDocument = true; }")
    page.evaluate("""href => { const a = document.createElement('a'); a.href = href; a.textContent = 'next';
        document.querySelector('.md-content').appendChild(a); a.click(); }""", href)
    expect(page).to_have_url(href)


@pytest.mark.browser
@pytest.mark.parametrize("tamper", [None, "assets/javascripts/search/engine.js", "assets/javascripts/processing.js"])
def test_load_js_finds_the_integrity_after_instant_navigation(browser: Any, built_site: Path, tmp_path: Path,
                                                               tamper: str | None) -> None:
    """The site served under /sub/ with navigation.instant: after an instant navigation (same document, new URL) from a
    model page to the home page, the search engine module is still checked against its file; and from the home page
    to a model page, processing.js (a classic script that load.js adds). (mkdocs-material swaps the head's import map element for the new page's, which
    the browser does not process again; load.js reads whichever is there, with its data-root.)"""
    with _visit(browser, _site_copy(built_site, tmp_path / "site", tamper), instant=True) as (page, url, messages):
        page.goto(f"{url}models/{IRIS}/")
        search = page.locator("#ms-search")
        if "engine" in str(tamper):
            with page.expect_console_message(lambda m: "could not be loaded" in m.text.lower(), timeout=15_000):
                _follow(page, url)
            expect(search).not_to_have_class(re.compile(r"\bms-home--ready\b"))
        else:
            _follow(page, url)
            expect(search).to_have_class(re.compile(r"\bms-home--ready\b"))
        assert page.evaluate("() => window.__sameDocument") is True, "no instant navigation happened"

        page.goto(url)  # a new document, whose import map has keys relative to the home page
        _follow(page, f"{url}models/{IRIS}/")
        page.locator(".ms-tryit__open").click()
        expect(page.locator("#ms-tryit")).to_have_class(re.compile(r"\bms-tryit--(ready|failed)\b"), timeout=60_000)
        if "processing" in str(tamper):
            expect(page.locator(".ms-tryit__error")).to_be_visible()
        else:
            expect(page.locator(".ms-tryit__error")).to_be_hidden()
        assert page.evaluate("() => window.__sameDocument") is True, "no instant navigation happened"
    refused = {name for name in ("engine.js", "processing.js") if _integrity_refusal(messages, name)}
    assert refused == ({tamper.rsplit("/", 1)[-1]} if tamper else set()), messages


@pytest.mark.browser
def test_a_changed_panel_module_leaves_the_try_it_button_disabled(browser: Any, built_site: Path, tmp_path: Path) -> None:
    site = _site_copy(built_site, tmp_path / "site", "assets/javascripts/tryit/panel.js")
    with _visit(browser, site) as (page, url, messages):
        with page.expect_console_message(lambda m: "the panel could not be loaded" in m.text, timeout=15_000):
            page.goto(f"{url}models/{IRIS}/")
        expect(page.locator(".ms-tryit__open")).to_be_disabled()
    assert _integrity_refusal(messages, "panel.js"), messages


@pytest.mark.browser
@pytest.mark.parametrize("tamper, shown", [
    ("assets/javascripts/tryit/widgets/tabular.js", "widget could not be loaded"),  # import() inside a module
    ("assets/javascripts/processing.js", "could not load"),  # classic, load.js
    ("assets/vendor/onnxruntime-web/ort.wasm.min.js", "onnxruntime-web could not be loaded"),  # classic, load.js
    ("assets/vendor/onnxruntime-web/ort-wasm-simd-threaded.mjs", "WebAssembly runtime could not be started"),  # import() by ort
    ("assets/vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm", "WebAssembly runtime could not be started"),  # SubtleCrypto, runtime.js
])
def test_a_changed_runtime_file_stops_the_panel(browser: Any, built_site: Path, tmp_path: Path, tamper: str, shown: str) -> None:
    with _visit(browser, _site_copy(built_site, tmp_path / "site", tamper)) as (page, url, messages):
        page.goto(f"{url}models/{IRIS}/")
        page.locator(".ms-tryit__open").click()
        error = page.locator(".ms-tryit__error")
        expect(error).to_be_visible()
        expect(error).to_contain_text(shown)
        assert page.get_attribute("#ms-tryit", "data-runs") is None
    assert _integrity_refusal(messages, tamper.rsplit("/", 1)[-1]), messages


@pytest.mark.browser
def test_a_changed_stylesheet_is_refused(browser: Any, built_site: Path, tmp_path: Path) -> None:
    site = _site_copy(built_site, tmp_path / "site", "assets/stylesheets/modelshelf.css")
    with _visit(browser, site) as (page, url, messages):
        page.goto(url)
        expect(page.locator("#ms-search")).to_have_class(re.compile(r"\bms-home--ready\b"))  # scripts still run
        assert page.evaluate("() => document.querySelector('link[href$=\"modelshelf.css\"]').sheet") is None
    assert _integrity_refusal(messages, "modelshelf.css"), messages


# ---------------------------------------------------------------- the rewriter on small pages

_SITE_URL = "https://owner.github.io/repo/"


def _page(head: str = "", body: str = "") -> str:
    return (f'<!doctype html><html><head>\n<meta http-equiv="Content-Security-Policy" content="modelshelf-csp">\n{head}\n'
            f'</head><body>\n{body}\n</body></html>\n')


@pytest.fixture
def small_site(tmp_path: Path) -> Path:
    for rel, text in {"assets/a.js": "a()", "assets/b.css": "b{}", "assets/mod.js": "export {}",
                      "models/x/y/index.html": ""}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    return tmp_path


def _rewrite(site: Path, html: str, page: str = "models/x/y/index.html", dynamic: tuple[str, ...] = ()) -> str:
    return page_with_integrity(html, page, Digests(site), dynamic_scripts=dynamic, site_url=_SITE_URL)[0]


def test_relative_root_relative_and_site_absolute_urls_get_integrity(small_site: Path) -> None:
    a, b = _sri(b"a()"), _sri(b"b{}")
    html = _page(head='<link rel="stylesheet" href="../../../assets/b.css" />\n'
                      '<script src="/repo/assets/a.js?v=1#x"></script>\n'
                      '<script defer src="https://owner.github.io/repo/assets/a.js"></script>\n'
                      '<link rel="icon" href="../../../assets/b.css">')
    out = _rewrite(small_site, html)
    assert f'<link rel="stylesheet" href="../../../assets/b.css" integrity="{b}" />' in out
    assert f'<script src="/repo/assets/a.js?v=1#x" integrity="{a}"></script>' in out
    assert f'<script defer src="https://owner.github.io/repo/assets/a.js" integrity="{a}"></script>' in out
    assert '<link rel="icon" href="../../../assets/b.css">' in out  # icons cannot carry integrity
    assert _rewrite(small_site, out) == out  # a second pass changes nothing


def test_other_hosts_and_schemes_are_left_alone(small_site: Path) -> None:
    html = _page(head='<script src="https://cdn.example/x.js"></script><script src="//cdn.example/y.js"></script>'
                      '<link rel="stylesheet" href="data:text/css,b{}">')
    assert _rewrite(small_site, html) == html


def test_a_missing_file_names_the_page_and_the_url(small_site: Path) -> None:
    with pytest.raises(IntegrityError) as caught:
        _rewrite(small_site, _page(head='<script src="../../../assets/gone.js"></script>'))
    assert str(caught.value) == ("models/x/y/index.html: <script> URL '../../../assets/gone.js' points at 'assets/gone.js', "
                                 "which is not a file of the site")
    with pytest.raises(IntegrityError) as caught:
        _rewrite(small_site, _page(head='<script src="/elsewhere/a.js"></script>'))
    assert str(caught.value) == "models/x/y/index.html: URL '/elsewhere/a.js' points outside the site (its root is '/repo/')"


def test_an_integrity_that_does_not_match_fails_the_build(small_site: Path) -> None:
    with pytest.raises(IntegrityError, match=r"has integrity 'sha384-AAAA', but the file's is 'sha384-"):
        _rewrite(small_site, _page(head='<script src="/repo/assets/a.js" integrity="sha384-AAAA"></script>'))


def test_nothing_inside_the_article_is_read_or_rewritten(small_site: Path) -> None:
    """Content is inside the theme's <article>, nested ones included; so are tag-like strings in inline scripts."""
    content = ('<article class="md-content__inner"><script src="../../../assets/a.js"></script>'
               '<article><link rel="stylesheet" href="../../../assets/gone.css"></article>'
               '<p>&lt;script src="../../../assets/a.js"&gt;&lt;/script&gt;</p></article>')
    html = _page(head='<script>var s = \'<script src="../../../assets/gone.js">\';</script>',
                 body=content + '<script src="../../../assets/a.js"></script>')
    out = _rewrite(small_site, html)
    assert content in out
    assert '\'<script src="../../../assets/gone.js">\'' in out
    assert out.endswith(f'{content}<script src="../../../assets/a.js" integrity="{_sri(b"a()")}"></script>\n</body></html>\n')


def test_the_import_map_follows_the_policy_which_allows_it_but_no_content_script(small_site: Path) -> None:
    content = '<script>alert(1)</script>'
    html = add_csp(_page(head="<script>theme()</script>",
                         body=f'<article>{content}</article><script src="../../../assets/a.js"></script>'), content)
    out = _rewrite(small_site, html, dynamic=("assets/mod.js", "assets/a.js"))
    element = re.search(r'<script type="importmap" data-root="\.\./\.\./\.\./">(.*?)</script>', out)
    assert element is not None
    assert json.loads(element.group(1)) == {"integrity": {"../../../assets/a.js": _sri(b"a()"),
                                                          "../../../assets/mod.js": _sri(b"export {}")}}
    assert re.search(r'<meta http-equiv="Content-Security-Policy" content="[^"]*">\n?<script type="importmap"', out)
    policy = re.search(r'content="([^"]*)"', out).group(1)  # type: ignore[union-attr]
    assert _csp_hash(element.group(1)) in policy and _csp_hash("theme()") in policy
    assert _csp_hash("alert(1)") not in policy
    # A page written with root-relative URLs (404.html, served at any path) gets root-relative keys.
    out = _rewrite(small_site, _page(head='<script src="/repo/assets/a.js"></script>'), page="404.html", dynamic=("assets/a.js",))
    assert '<script type="importmap" data-root="/repo/">{"integrity":{"/repo/assets/a.js":' in out


def test_add_integrity_rewrites_every_page_and_hashes_each_file_once(small_site: Path) -> None:
    (small_site / "index.html").write_text(_page(head='<script src="assets/a.js"></script>'), encoding="utf-8")
    (small_site / "models/x/y/index.html").write_text(_page(head='<script src="../../../assets/a.js"></script>'),
                                                      encoding="utf-8")
    report = add_integrity(small_site, dynamic_scripts=("assets/mod.js",))
    assert (report.pages, report.tags, report.assets) == (2, 2, 2)
    for page in ("index.html", "models/x/y/index.html"):
        assert _sri(b"a()") in (small_site / page).read_text(encoding="utf-8")
