"""Shared fixtures for acceptance tests that drive the built site in a real browser.

The site is built once per session with `modelshelf build --site-dir DIR`, served over
real HTTP from 127.0.0.1 (as GitHub Pages would serve it: no special headers), and
opened in Debian's Chromium through Playwright (Playwright's own browser download does
not work here).

Set MODELSHELF_TEST_SITE=/path/to/site to test an already built site instead.
"""
from __future__ import annotations

import functools
import http.server
import re
import io
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 900}
# Requests that may leave the site: mkdocs-material's repository widget (repo_url) asks the
# GitHub API for stars and forks. It is optional decoration; everything else must be local.
ALLOWED_EXTERNAL: tuple[str, ...] = ()  # the site must work offline: no request may leave 127.0.0.1


def say(config: pytest.Config, line: str) -> None:
    """A line in pytest's output even when output is captured (what capsys.disabled() does)."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        print(line, flush=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_ready(port: int, proc: subprocess.Popen[Any], why: Callable[[], str], timeout: float = 60) -> None:
    """Poll a model server's http://127.0.0.1:PORT/readyz until it answers 200; fail with `why()` (its log, say)
    when the process exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, \
            f"the model server did not become ready (exit status {proc.poll()}):\n{why()[-3000:]}"
        time.sleep(0.2)


def _modelshelf_command() -> list[str]:
    script = Path(sys.executable).with_name("modelshelf")
    if script.exists():
        return [str(script)]
    found = shutil.which("modelshelf")
    if found:
        return [found]
    return [sys.executable, "-m", "modelshelf.generator.cli"]


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real catalog (models/ of this repository) built into a temporary folder."""
    prebuilt = os.environ.get("MODELSHELF_TEST_SITE")
    if prebuilt:
        site = Path(prebuilt)
        assert (site / "index.html").is_file(), f"MODELSHELF_TEST_SITE={prebuilt} holds no built site"
        return site
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [*_modelshelf_command(), "build", "--site-dir", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, f"modelshelf build failed:\n{result.stdout}\n{result.stderr}"
    return site


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


class InstantHandler(_QuietHandler):
    """Serves a built site with mkdocs-material's navigation.instant turned on in every page's config, and the
    sitemap (which instant navigation consults) pointing at this server, under `site_path` (a subclass that serves
    the site under /sub/, as GitHub Pages does under a repository's name, sets it and maps the paths)."""

    site_path = "/"

    def send_head(self):  # type: ignore[no-untyped-def]
        path = Path(self.translate_path(self.path))
        path = path / "index.html" if path.is_dir() else path
        if path.suffix not in (".html", ".xml") or not path.is_file():
            return super().send_head()
        body = path.read_text(encoding="utf-8")
        if path.suffix == ".xml":
            body = re.sub(r"<loc>https?://[^/]+/", f"<loc>http://{self.headers['Host']}{self.site_path}", body)
        else:
            body = body.replace('"features": [', '"features": ["navigation.instant", ', 1)
        data = body.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8" if path.suffix == ".html" else "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        return io.BytesIO(data)


@pytest.fixture(scope="session")
def site_url(built_site: Path) -> Iterator[str]:
    """Base URL (ending in /) of the built site, served by a real HTTP server on a free port."""
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium, shared by the session."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class PageLog:
    """What a page reported while a test ran: console errors, uncaught exceptions, and
    requests that left 127.0.0.1 (the site must work offline)."""

    errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)

    def unexpected_external_requests(self) -> list[str]:
        return [url for url in self.external_requests if not url.startswith(ALLOWED_EXTERNAL)]


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def page(browser: Any, site_url: str, page_log: PageLog) -> Iterator[Any]:
    """A fresh 1280x900 page; console errors and page errors land in `page_log`."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(15_000)

    def _block_external(route: Any) -> None:
        page_log.external_requests.append(route.request.url)
        route.abort()

    context.route(lambda url: not url.startswith(site_url), _block_external)
    new_page = context.new_page()

    def _console(msg: Any) -> None:
        if msg.type != "error":
            return
        source = (msg.location or {}).get("url", "")
        # A blocked external request is reported in external_requests, not as a script error.
        if msg.text.startswith("Failed to load resource") and source and not source.startswith(site_url):
            return
        page_log.errors.append(f"{msg.text} ({source})" if source else msg.text)

    new_page.on("console", _console)
    new_page.on("pageerror", lambda exc: page_log.errors.append(f"uncaught: {exc}"))
    try:
        yield new_page
    finally:
        context.close()
