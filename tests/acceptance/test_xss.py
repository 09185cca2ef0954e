"""Stored XSS and copy-paste injection through card fields (issue 12, classes 1 and 5).

One fixture catalog carries the corpus of tests/fixtures/xss/payloads.json: card k puts payload k into
every free-text field (name, summary, licence name, author name, dataset split, base model, input and
output descriptions, feature names, metric split, example name), card 0 also lists every payload as
features, a few cards use payloads as input and output tensor names (their models are made
with those names), and URL fields get URL-shaped payloads. Every card is valid: the build must succeed,
or the test would prove nothing. The site is served on 127.0.0.1 and each page type is opened in
Chromium (model pages, home with a search that returns the models, task, licences, try-it panel opened):
no dialog, no event-handler attribute, no script URL, no request to the marker host.
Then the sanitiser is swapped for the identity function and the same detector must fire.
"""
from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper

from modelshelf.catalog import validate
from modelshelf.catalog.validate import unsafe_html
from modelshelf.generator.enrich import sanitize
from modelshelf.generator.site.build import build_site
from conftest import VIEWPORT, _QuietHandler
from test_build import make_project

REPO = Path(__file__).resolve().parents[2]
CORPUS = json.loads((REPO / "tests" / "fixtures" / "xss" / "payloads.json").read_text())
MARKER = CORPUS["marker_host"]
PAYLOADS: list[str] = [p for family in CORPUS["families"].values() for p in family]
URL_PAYLOADS = [
    'https://example.org/"onmouseover="alert(1)', "https://example.org/'><script>alert(1)</script>",
    "https://example.org/?q=<img/src=x/onerror=alert(1)>", "https://example.org/#{:onclick=alert(1)}",
    "https://example.org/$(touch${IFS}pwned)", "https://example.org/';alert(1);'",
]
# Valid Markdown that only the sanitiser stops: remote images (tracking pixels) become plain links.
DESCRIPTION = f"A test model.\n\n![pixel](https://{MARKER}/description.png)\n\n![protocol relative](//{MARKER}/description2.png)\n"
# A script link written so that it survives Markdown: validation refuses it, so the sanitiser is tested alone below.
SCRIPT_LINK = "[click me](java&#10;script:alert(1))"
NAMED_TENSOR_CARDS = 4  # cards whose input and output tensors are named by their payload (each needs its own model)

# Every element and attribute on the page that could run script or load from the marker host.
DETECT = """(marker) => {
  const found = [];
  const urlAttrs = ["href", "src", "action", "formaction", "xlink:href", "poster", "data", "background", "srcset"];
  const loads = new Set(["IMG", "SCRIPT", "IFRAME", "FRAME", "EMBED", "OBJECT", "LINK", "SOURCE", "VIDEO",
                         "AUDIO", "INPUT", "IMAGE"]);
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      const value = attr.value.replace(/[\\u0000-\\u0020\\u007f]+/g, "").toLowerCase();
      if (name.startsWith("on")) found.push(`${el.tagName} has the handler ${name}`);
      const isUrl = urlAttrs.includes(name);
      if (isUrl && /^(javascript|vbscript|data:text\\/html)/.test(value)) found.push(`${el.tagName} ${name}=${value}`);
      if (isUrl && value.includes(marker) && loads.has(el.tagName)) found.push(`${el.tagName} loads ${attr.value}`);
      if (name === "style" && value.includes(marker)) found.push(`${el.tagName} style loads ${attr.value}`);
    }
    const inline = el.tagName === "SCRIPT" && !el.src && el.type !== "application/json";
    if (inline && el.closest("article")) found.push("inline script in content");
  }
  return found;
}"""


def _model(path: Path, x: str = "x", y: str = "y") -> None:
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], np.ones(1, np.float32).tobytes(), raw=True)
    graph = helper.make_graph([helper.make_node("Add", [x, "one"], [y])], "g",
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["batch", 2])],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, ["batch", 2])], initializer=[one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="modelshelf-tests")
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())


def _card(k: int, payload: str) -> dict[str, Any]:
    text = payload[:100]
    x, y = (f"in {text}"[:100], f"out {text}"[:100]) if k < NAMED_TENSOR_CARDS else ("x", "y")
    url = URL_PAYLOADS[k % len(URL_PAYLOADS)]
    everything = [p[:100] for p in PAYLOADS] if k == 0 else []
    return {
        "id": f"acme/xss-{k:02d}", "name": text, "version": "1.0.0", "summary": f"xss {payload}"[:200],
        "description": DESCRIPTION + (f"\n{payload}\n" if not unsafe_html(payload) else ""),
        "task": "tabular-regression", "tags": ["xss"], "license": "other", "license_name": text, "license_link": url,
        "authors": [{"name": text, "url": url}],
        "datasets": [{"id": "acme/pairs", "split": text, "url": url}], "base_model": payload[:200],
        "framework": "onnx", "source": {"file": "model.onnx"},
        "inputs": [{"name": x, "dtype": "float32", "shape": ["batch", 2], "kind": "tabular",
                    "description": f"{payload}\nimport os; os.system('touch pwned')"[:500],
                    "features": [text, "right", *everything[1:]] if everything else [text, "right"]}],
        "outputs": [{"name": y, "dtype": "float32", "shape": ["batch", 2], "kind": "value", "description": payload[:500]}],
        "metrics": [{"name": "mae", "value": 0.0, "dataset": "acme/pairs", "split": text}],
        "examples": [{"name": text, "inputs": {x: [[0.0, 0.0]]}, "outputs": {y: [[1.0, 1.0]]}}],
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("xss")
    src = root / "src"
    for k, payload in enumerate(PAYLOADS):
        card = _card(k, payload)
        folder = src / "acme" / f"xss-{k:02d}"
        folder.mkdir(parents=True)
        (folder / "card.yaml").write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")  # JSON is YAML
        _model(folder / "model.onnx", card["inputs"][0]["name"], card["outputs"][0]["name"])
    return make_project(root / "proj", src, cache=root / "cache")


@pytest.fixture(scope="module")
def site(project: Path) -> Path:
    return build_site(project, site_dir=project.parent / "site")


def _serve(folder: Path) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def chromium(browser: Any) -> Any:
    """The run's one Chromium (conftest's session browser); a second Playwright cannot start beside it."""
    return browser


class Visit:
    """A browser context on one served site that records dialogs, marker requests and CSP violations."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport=VIEWPORT)
        self.context.set_default_timeout(20_000)
        self.context.route(lambda url: not url.startswith(base), self._outside)
        self.page = self.context.new_page()
        self.page.on("dialog", self._dialog)
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _outside(self, route: Any) -> None:
        self.requests.append(route.request.url)
        route.abort()

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self, path: str) -> list[str]:
        self.page.goto(self.base + path)
        self.page.wait_for_load_state("load")
        self.page.mouse.move(300, 300)  # hover handlers, if any got through
        return self.findings()

    def findings(self) -> list[str]:
        found: list[str] = self.page.evaluate(DETECT, MARKER)
        return found + [f"dialog: {m}" for m in self.dialogs] + [f"request: {u}" for u in self.requests]

    def csp_violations(self) -> list[str]:
        return [e for e in self.errors if "Content Security Policy" in e]


@pytest.fixture(scope="module")
def visit(site: Path, chromium: Any) -> Iterator[Visit]:
    for base in _serve(site):
        v = Visit(chromium, base)
        try:
            yield v
        finally:
            v.context.close()


def _text(value: str) -> str:
    return " ".join(value.replace("\u2028", " ").split())


def test_corpus_is_large_and_every_card_is_valid(site: Path) -> None:
    assert len(PAYLOADS) >= 40 and len(CORPUS["families"]) >= 8
    catalog = json.loads((site / "catalog.json").read_text())
    assert len(catalog["models"]) == len(PAYLOADS), "every payload card passed validation and was built"


def test_model_pages_show_every_payload_as_text(visit: Visit) -> None:
    for k, payload in enumerate(PAYLOADS):
        found = visit.open(f"models/acme/xss-{k:02d}/")
        assert found == [], f"card {k} ({payload!r}): {found}"
        page = visit.page
        assert _text(page.locator("article h1").first.text_content() or "").rstrip("¶ ") == _text(payload[:100]), payload
        assert _text(page.locator(".ms-lead p").first.text_content() or "") == _text(f"xss {payload}"[:200])
        assert _text(page.locator(".ms-authors a").first.text_content() or "") == _text(payload[:100])
        assert page.locator(".ms-description a.ms-remote-image").count() >= 2, "remote images become links"
        assert page.locator(".ms-description img").count() == 0
    # Card 0 lists every payload as a feature: each one is text in the page.
    visit.open("models/acme/xss-00/")
    features = [_text(t) for t in visit.page.locator(".ms-features li").all_text_contents()]
    assert {_text(p[:100]) for p in PAYLOADS} <= set(features)
    assert visit.csp_violations() == [], "the theme's own scripts run under the policy"


def test_home_search_task_and_licence_pages(visit: Visit) -> None:
    assert visit.open("") == []
    visit.page.wait_for_selector(".ms-searchbox:not([hidden])")
    visit.page.fill("#ms-q", "xss")
    visit.page.locator(".ms-results__list .ms-card__id").first.wait_for()  # (wait_for_function would need unsafe-eval)
    visit.page.mouse.move(400, 400)
    assert visit.findings() == []
    shown = " ".join(visit.page.locator(".ms-results__list").all_text_contents())
    assert "<script>alert(1)</script>" in shown, "search results print card text as text"
    assert visit.open("tasks/tabular-regression/") == []
    assert visit.open("licenses/") == []
    assert visit.open("tasks/") == []
    assert visit.csp_violations() == []


def test_tryit_panel_with_payload_labels(visit: Visit) -> None:
    for k in (0, 1):  # card 0: every payload as a feature; card 1: payload tensor names
        assert visit.open(f"models/acme/xss-{k:02d}/") == []
        visit.page.click(".ms-tryit__open")
        visit.page.wait_for_selector(".ms-tryit__body:not([hidden])")
        visit.page.wait_for_timeout(500)
        visit.page.mouse.move(500, 500)
        assert visit.findings() == [], k
    assert visit.csp_violations() == [], "onnxruntime-web runs under the policy"


def test_snippets_and_bundle_readme_keep_payloads_on_one_line(site: Path) -> None:
    """Class 5: a newline in an input description must not become a line of the Python snippet or README."""
    import zipfile

    page = (site / "models" / "acme" / "xss-05" / "index.html").read_text()
    assert "\nimport os; os.system" not in page
    bundle = next((site / "files" / "acme" / "xss-05").rglob("*-bundle.zip"))
    with zipfile.ZipFile(bundle) as zf:
        readme = zf.read(next(n for n in zf.namelist() if n.endswith("README.md"))).decode()
    assert not any(line.startswith("import os") for line in readme.splitlines())


def _script_link_project(tmp_path: Path) -> Path:
    """A one-card project (payload card 1) whose description also carries SCRIPT_LINK."""
    src = tmp_path / "src"
    card = _card(1, PAYLOADS[1])
    card["description"] = f"{SCRIPT_LINK}\n\n{card['description']}"
    folder = src / "acme" / "xss-01"
    folder.mkdir(parents=True)
    (folder / "card.yaml").write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    _model(folder / "model.onnx", card["inputs"][0]["name"], card["outputs"][0]["name"])
    return make_project(tmp_path / "proj", src, cache=tmp_path / "cache")


@pytest.mark.parametrize("swap", ["clean_html", "nh3.clean"])
def test_detector_fires_without_the_sanitiser(chromium: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              swap: str) -> None:
    """A build whose sanitiser is the identity function must fail this module's checks (else they prove nothing).

    The card also carries a script link that validation refuses; validation's HTML check is switched off here
    so that the sanitiser is the only layer left, as it would be for anything validation misses.
    """
    project = _script_link_project(tmp_path)
    assert unsafe_html(SCRIPT_LINK), "validation refuses the script link on its own"
    monkeypatch.setattr(validate, "unsafe_html", lambda text: [])
    if swap == "clean_html":
        monkeypatch.setattr(sanitize, "clean_html", lambda html: html)
    else:
        monkeypatch.setattr(sanitize.nh3, "clean", lambda html, **_: html)
    site = build_site(project, site_dir=tmp_path / "site")
    for base in _serve(site):
        v = Visit(chromium, base)
        try:
            found = v.open("models/acme/xss-01/")
        finally:
            v.context.close()
    assert any("javascript" in f for f in found), found
    if swap == "clean_html":
        assert any(MARKER in f for f in found), found


def test_sanitiser_alone_stops_the_script_link(chromium: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The same card with validation's HTML check off and the real sanitiser on: nothing found."""
    project = _script_link_project(tmp_path)
    monkeypatch.setattr(validate, "unsafe_html", lambda text: [])
    site = build_site(project, site_dir=tmp_path / "site")
    assert "click me" in (site / "models" / "acme" / "xss-01" / "index.html").read_text()
    for base in _serve(site):
        v = Visit(chromium, base)
        try:
            assert v.open("models/acme/xss-01/") == []
        finally:
            v.context.close()
