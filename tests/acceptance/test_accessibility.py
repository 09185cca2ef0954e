"""Accessibility, keyboard use, phones and the try-it panel's honesty, in a real browser (issue 11).

- axe-core (npm `axe-core`, a dev dependency: scripts/setup installs it) finds no WCAG 2.1 A/AA or best-practice
  violation on a model page of every input kind with the try-it panel open, a task page, the tasks index, the
  licences, deploy and card reference pages, the leaderboards, a leaderboard, the compare page and the home page
  with a query, in light and dark mode. Dark mode is the system preference
  (`prefers-color-scheme`), which the site follows (mkdocs.yml: one palette per `media`).
- Keyboard only: opening the panel moves focus into it, a file input is reached with Tab, shows focus on its
  label and opens the file chooser with Space; results are announced in a live region.
- No page is wider than a 360 px phone.
- The panel reports the runtime and model downloads separately; a repeat visit does not download the runtime
  again; a refused input clears the previous result.
- Tags and datasets link to the filtered search.
The home page (with a query and a facet), a leaderboard and the compare page are in the same lists; their own
behaviour is tested in test_search_scale.py and test_leaderboards.py.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
MEASUREMENTS = REPO / "build" / "tryit-measurements.json"
SCREENSHOTS = REPO / "build" / "screenshots"

MODELS = {  # one model page per kind of input
    "tabular": "modelshelf/iris-logreg",
    "image": "modelshelf/digits-cnn",
    "audio": "snakers4/silero-vad",
    "text": "sentence-transformers/all-minilm-l6-v2",
    "bytes": "google/magika-standard-v3-3",
}
PAGES = {
    **{f"model-{kind}": f"models/{model}/" for kind, model in MODELS.items()},
    "task": "tasks/tabular-classification/",
    "tasks-index": "tasks/",
    "licenses": "licenses/",
    "deploy": "deploy/",
    "card-reference": "reference/card/",
    "leaderboards": "leaderboards/",
    "leaderboard": "leaderboards/tabular-classification/sklearn--iris/accuracy/",
    "compare": "compare/?m=modelshelf/iris-logreg,modelshelf/wine-gradient-boosting,modelshelf/breast-cancer-forest",
    "home-with-query": "?q=digits&task=image-classification",
}
SETTLED = {"compare": ".ms-compare-table", "home-with-query": "#ms-search.ms-home--ready"}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
PANEL_SETTLED = ("() => { const n = document.querySelector('#ms-tryit');"
                 " return n.hasAttribute('data-runs') || n.classList.contains('ms-tryit--failed'); }")


def _context(browser: Any, site_url: str, **options: Any) -> Any:
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **options})
    context.set_default_timeout(20_000)
    context.route(lambda url: not url.startswith(site_url), lambda route: route.abort())
    return context


def _open_panel(page: Any) -> None:
    # A script click: on an emulated phone a pointer click can land while the page is still settling its scroll.
    page.wait_for_selector(".ms-tryit__open:enabled")
    page.locator(".ms-tryit__open").evaluate("button => button.click()")
    page.wait_for_function(PANEL_SETTLED, timeout=60_000)
    assert page.locator(".ms-tryit__error").is_hidden(), page.locator(".ms-tryit__error").text_content()


def _axe(page: Any) -> list[dict[str, Any]]:
    # Evaluated through the DevTools protocol, which the page's Content-Security-Policy does not govern.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    return page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}}).then(r => r.violations.map(v => ({"
        " id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ') + ': ' + (n.failureSummary || '').replace(/\\s+/g, ' '))})))",
        AXE_TAGS)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_axe_violations_on_any_page_type(browser: Any, site_url: str, scheme: str) -> None:
    if not AXE.is_file():
        pytest.skip("node_modules/axe-core is missing: run scripts/setup")
    context = _context(browser, site_url, color_scheme=scheme)
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        page = context.new_page()
        for name, path in PAGES.items():
            page.goto(site_url + path)
            expected = "slate" if scheme == "dark" else "default"
            assert page.get_attribute("body", "data-md-color-scheme") == expected, f"{path}: the system's {scheme} preference is ignored"
            if name.startswith("model-"):
                _open_panel(page)
            elif name in SETTLED:  # pages the browser fills in: checked once they are filled
                page.wait_for_selector(SETTLED[name])
            violations = _axe(page)
            if violations:
                found[name] = violations
    finally:
        context.close()
    assert not found, json.dumps(found, indent=1)


def test_no_page_is_wider_than_a_phone(browser: Any, site_url: str) -> None:
    context = _context(browser, site_url, viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    wide = {}
    try:
        page = context.new_page()
        for name, path in PAGES.items():
            page.goto(site_url + path)
            if name.startswith("model-"):
                _open_panel(page)
            elif name in SETTLED:
                page.wait_for_selector(SETTLED[name])
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > 360:
                wide[path] = width
            if name == "model-text":
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.locator("#ms-tryit").screenshot(path=str(SCREENSHOTS / "a11y-tryit-360.png"))
    finally:
        context.close()
    assert not wide, f"pages wider than 360 px: {wide}"


def test_keyboard_opens_the_panel_moves_focus_into_it_and_uploads(page: Any, site_url: str) -> None:
    page.goto(f"{site_url}models/{MODELS['bytes']}/")
    page.wait_for_selector(".ms-tryit__open:enabled")
    page.focus(".ms-tryit__open")
    page.keyboard.press("Enter")
    focused = page.evaluate("() => { const a = document.activeElement;"
                            " return {id: a.id, tag: a.tagName, inPanel: Boolean(a.closest('#ms-tryit'))}; }")
    assert focused["id"] == "try-it" or focused["inPanel"], f"focus after opening the panel: {focused}"
    page.wait_for_function(PANEL_SETTLED, timeout=60_000)

    # Tab from the heading reaches the hidden file input; its label shows the focus.
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.type") == "file":
            break
    else:
        pytest.fail("Tab never reached the panel's file input")
    outline = page.evaluate("getComputedStyle(document.querySelector('label[for=\"' + document.activeElement.id + '\"]')).outlineStyle")
    assert outline not in ("", "none"), "the focused file input's label shows no focus"

    runs = int(page.get_attribute("#ms-tryit", "data-runs") or 0)
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(files=[{"name": "hello.py", "mimeType": "text/x-python",
                                    "buffer": b"import os\n\ndef main():\n    print(os.getcwd())\n"}])
    page.wait_for_function(f"() => Number(document.querySelector('#ms-tryit').getAttribute('data-runs')) > {runs}")
    announced = page.text_content(".ms-tryit__announce") or ""
    assert announced.startswith("Result: ") and len(announced) > len("Result: "), announced
    assert page.get_attribute(".ms-tryit__announce", "aria-live") == "polite"


def test_back_to_top_does_not_cover_the_result(page: Any, site_url: str) -> None:
    page.goto(f"{site_url}models/{MODELS['tabular']}/")
    _open_panel(page)
    result = page.locator(".ms-tryit__result > :first-child")
    for position in ("start", "center"):
        result.evaluate(f"n => n.scrollIntoView({{block: '{position}'}})")
        page.mouse.wheel(0, -120)  # scrolling up shows "Back to top"
        page.wait_for_timeout(400)
        top = page.locator(".md-top")
        if top.is_hidden():
            continue
        a, b = top.bounding_box(), result.bounding_box()
        overlap = not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                       or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])
        assert not overlap, f"'Back to top' {a} covers the result heading {b}"


def _runtime_bytes(page: Any) -> dict[str, int]:
    """Bytes of onnxruntime-web's files that came over the network (DevTools protocol), by file name."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    urls: dict[str, str] = {}
    sizes: dict[str, int] = {}
    cdp.on("Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]))

    def finished(event: dict[str, Any]) -> None:
        url = urls.get(event["requestId"], "")
        if "/onnxruntime-web/" in url:
            name = url.rsplit("/", 1)[-1]
            sizes[name] = sizes.get(name, 0) + int(event["encodedDataLength"])

    cdp.on("Network.loadingFinished", finished)
    return sizes


def test_a_repeat_visit_does_not_download_the_runtime_again(page: Any, site_url: str) -> None:
    results = {}
    for visit in ("first", "repeat"):
        sizes = _runtime_bytes(page)
        page.goto(f"{site_url}models/{MODELS['tabular']}/") if visit == "first" else page.reload()
        _open_panel(page)
        downloads = page.evaluate("document.querySelector('#ms-tryit').msTryit.downloads")
        results[visit] = {"network_bytes": dict(sizes), "panel": downloads,
                          "first_prediction_ms": float(page.get_attribute("#ms-tryit", "data-first-prediction-ms"))}
    first, repeat = results["first"], results["repeat"]
    wasm = "ort-wasm-simd-threaded.wasm"
    assert first["network_bytes"].get(wasm, 0) > 10_000_000, first
    assert first["panel"]["runtime"]["received"] == first["panel"]["runtime"]["total"] > 10_000_000, first
    assert first["panel"]["model"]["received"] == first["panel"]["model"]["total"] > 0, first
    assert repeat["network_bytes"].get(wasm, 0) < 10_000, repeat  # not fetched (or a header-only 304)
    assert repeat["panel"]["runtime"] == {"received": 0, "total": first["panel"]["runtime"]["total"], "cached": True}, repeat
    MEASUREMENTS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(MEASUREMENTS.read_text(encoding="utf-8")) if MEASUREMENTS.is_file() else {}
    data["repeat_visit"] = {MODELS["tabular"]: results}
    MEASUREMENTS.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def test_the_status_names_the_runtime_and_the_model_download(page: Any, site_url: str) -> None:
    seen: list[str] = []
    page.expose_function("msStatus", lambda text: seen.append(text))
    page.add_init_script("new MutationObserver(() => { const s = document.querySelector('.ms-tryit__status');"
                         " if (s && s.textContent) window.msStatus(s.textContent); })"
                         ".observe(document, {subtree: true, childList: true, characterData: true});")
    page.goto(f"{site_url}models/{MODELS['tabular']}/")
    _open_panel(page)
    assert any(t.startswith("Downloading the runtime, onnxruntime-web: ") and " of " in t for t in seen), seen
    assert any(t.startswith("Downloading the model: ") for t in seen), seen
    assert not any("model" in t and "MB" in t for t in seen if t.startswith("Downloading the model")), seen


def test_a_refused_audio_file_clears_the_previous_result(page: Any, site_url: str) -> None:
    page.goto(f"{site_url}models/{MODELS['audio']}/")
    _open_panel(page)
    assert page.text_content(".ms-tryit__result").strip(), "the panel shows no first result"
    page.set_input_files("#ms-audio", files=[{"name": "noise.wav", "mimeType": "audio/wav", "buffer": b"not audio at all" * 64}])
    page.wait_for_selector(".ms-tryit__error:not([hidden])")
    assert page.text_content(".ms-tryit__result").strip() == ""
    assert page.evaluate("document.querySelector('#ms-tryit').msTryit.last") is None


def test_tags_and_datasets_link_to_the_filtered_search(page: Any, site_url: str) -> None:
    page.goto(f"{site_url}models/{MODELS['tabular']}/")
    tag = page.locator(".ms-cardinfo a.ms-chip--tag").first
    assert tag.get_attribute("href") == f"../../../?tag={tag.text_content()}"
    page.goto(f"{site_url}models/{MODELS['audio']}/")
    dataset = page.locator(".ms-cardinfo a[href*='?dataset=']").first
    assert dataset.get_attribute("href") == "../../../?dataset=modelshelf%2Fsynthetic-vad-scenes"
    assert page.locator(".ms-cardinfo a[href='#metrics']").count() >= 1  # a dataset its evaluation script makes
    page.goto(f"{site_url}models/{MODELS['tabular']}/")
    assert page.locator(".ms-cardinfo a[href$='reference/datasets/']").count() >= 1  # a built-in loader's dataset


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshot_of_the_open_panel(browser: Any, site_url: str, scheme: str) -> None:
    """Not an assertion: build/screenshots/a11y-tryit-<scheme>.png, to look at."""
    context = _context(browser, site_url, color_scheme=scheme)
    try:
        page = context.new_page()
        page.goto(f"{site_url}models/{MODELS['text']}/")
        _open_panel(page)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#ms-tryit").screenshot(path=str(SCREENSHOTS / f"a11y-tryit-{scheme}.png"))
    finally:
        context.close()
