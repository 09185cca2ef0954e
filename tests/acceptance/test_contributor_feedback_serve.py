"""`modelshelf serve` shows a broken card in the browser (issue 11, item 4), in real Chromium.

Regression: while a card had an error, a page load waited for a rebuild that never finished (15 s and more)
and the problem was only in the terminal; and the livereload script mkdocs injects inline was blocked by the
site's Content-Security-Policy, so no page ever reloaded by itself.
"""
from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import CHROMIUM, _modelshelf_command, free_port
from test_build import make_project

CARDS = Path(__file__).resolve().parents[1] / "fixtures" / "cards" / "valid" / "models"


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.fixture
def preview(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    """`modelshelf serve` of a one-card catalog on a free port: (base URL, the card, the process)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    config = make_project(tmp_path / "proj", CARDS, cache=tmp_path / "cache")
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([*_modelshelf_command(), "serve", "-f", str(config), "-a", f"127.0.0.1:{port}"],
                            cwd=config.parent, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if _status(url) == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("modelshelf serve did not answer:\n" + (tmp_path / "serve.log").read_text())
        yield url, config.parent / "models" / "acme" / "tiny-add" / "card.yaml", proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _edit(card: Path, old: str, new: str) -> None:
    text = card.read_text()
    assert old in text
    card.write_text(text.replace(old, new))


def test_serve_shows_card_problems_in_the_browser_and_recovers(browser: Any, preview: tuple[str, Path, Any]) -> None:
    url, card, _ = preview
    context = browser.new_context()
    page = context.new_page()
    csp_errors: list[str] = []
    page.on("console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    try:
        page.goto(url)
        assert page.locator("h1").first.is_visible()
        assert "could not be built" not in page.content()

        # Break the card: the open page reloads itself into the error page (livereload works under the CSP).
        _edit(card, "license: MIT\n", "license: MITT\n")
        page.wait_for_selector("text=The site could not be built", timeout=60_000)

        # A fresh page load answers at once (no waiting for a build that never finishes) with every detail.
        started = time.monotonic()
        response = page.goto(url, timeout=5_000)
        assert response is not None and response.status == 500
        assert time.monotonic() - started < 5
        row = page.locator("tbody tr").first
        cells = [c.strip() for c in row.locator("td").all_inner_texts()]
        assert cells == ["models/acme/tiny-add/card.yaml", "12", "10", "$.license", "'MITT' is not a known SPDX licence id",
                         "did you mean 'MIT'?"]
        assert page.get_by_role("columnheader", name="How to fix it").is_visible()

        # Fix it: the error page reloads itself into the site.
        _edit(card, "license: MITT\n", "license: MIT\n")
        page.wait_for_function("() => document.body && document.querySelector('.md-header') !== null", timeout=60_000)
        assert _status(url) == 200
        assert csp_errors == [], "the livereload script was blocked by the Content-Security-Policy"
    finally:
        context.close()
