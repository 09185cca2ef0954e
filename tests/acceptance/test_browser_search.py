"""The home-page search in a real browser, against the site built from models/.

Covers site_theme/assets/javascripts/search.js (loader), search/page.js, dom.js, load.js and
generator/render/templates/home.md.j2:
instant results, facets, state kept in the URL, the click through to a model page whose
SHA-256 matches the file it links to, and robustness against lunr's query syntax.
"""
from __future__ import annotations

import hashlib
import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect

IRIS = "modelshelf/iris-logreg"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.fixture(scope="session")
def models(built_site: Path) -> list[dict[str, Any]]:
    """The catalog as the site publishes it (search/docs.json)."""
    return json.loads((built_site / "search" / "docs.json").read_text(encoding="utf-8"))["models"]


def _by_name(models: list[dict[str, Any]]) -> list[str]:
    return [m["id"] for m in sorted(models, key=lambda m: (m["name"].lower(), m["id"]))]


def _open_home(page: Any, site_url: str, query: str = "") -> None:
    page.goto(site_url + query)
    page.wait_for_selector("#ms-search.ms-home--ready")


def _result_ids(page: Any) -> list[str]:
    return page.locator(".ms-results__list .ms-card__id").all_text_contents()


def _wait_for_results(page: Any, ids: list[str]) -> None:
    """Wait until the result list shows exactly `ids`, in this order."""
    cards = page.locator(".ms-results__list .ms-card__id")
    expect(cards).to_have_text(ids)
    label = f"{len(ids)} model" + ("" if len(ids) == 1 else "s")
    expect(page.locator(".ms-results__count")).to_have_text(label)


def _wait_for_url_param(page: Any, pattern: str) -> None:
    page.wait_for_function("p => new RegExp(p).test(location.search)", arg=pattern)


def _checked(page: Any, group: str) -> list[str]:
    return page.eval_on_selector_all(
        f'.ms-facet input[name="{group}"]:checked', "boxes => boxes.map(b => b.value)"
    )


def test_catalog_holds_the_bundled_models(models: list[dict[str, Any]]) -> None:
    ids = {m["id"] for m in models}
    assert {IRIS, "modelshelf/breast-cancer-forest", "modelshelf/diabetes-ridge", "modelshelf/digits-cnn"} <= ids


def test_empty_query_lists_every_model_by_name(
    page: Any, site_url: str, models: list[dict[str, Any]], page_log: Any
) -> None:
    _open_home(page, site_url)
    _wait_for_results(page, _by_name(models))
    expect(page.locator(".ms-empty")).to_be_hidden()
    assert page_log.errors == []
    assert page_log.unexpected_external_requests() == []


def test_typing_a_query_puts_the_matching_model_first(page: Any, site_url: str, page_log: Any) -> None:
    _open_home(page, site_url)
    page.locator("#ms-q").press_sequentially("iris", delay=30)
    expect(page.locator(".ms-results__list .ms-card__id").first).to_have_text(IRIS)
    first = page.locator(".ms-results__list .ms-result").first
    expect(first.locator(".ms-card__name")).to_have_attribute("href", re.compile(r"/models/modelshelf/iris-logreg/$"))
    _wait_for_url_param(page, r"(^|[?&])q=iris(&|$)")
    assert page_log.errors == []


def test_a_prefix_finds_the_model_while_typing(page: Any, site_url: str) -> None:
    _open_home(page, site_url)
    page.locator("#ms-q").press_sequentially("diabe", delay=30)
    expect(page.locator(".ms-results__list .ms-card__id").first).to_have_text("modelshelf/diabetes-ridge")


def test_task_facets_filter_and_survive_a_reload(
    page: Any, site_url: str, models: list[dict[str, Any]], page_log: Any
) -> None:
    _open_home(page, site_url)
    _wait_for_results(page, _by_name(models))

    regression = [m for m in models if m["task"] == "tabular-regression"]
    assert "modelshelf/diabetes-ridge" in {m["id"] for m in regression}
    page.locator('.ms-facet input[name="task"][value="tabular-regression"]').check()
    _wait_for_results(page, _by_name(regression))

    # OR within a group: a second task adds its models.
    image = [m for m in models if m["task"] == "image-classification"]
    assert "modelshelf/digits-cnn" in {m["id"] for m in image}
    page.locator('.ms-facet input[name="task"][value="image-classification"]').check()
    expected = _by_name(regression + image)
    _wait_for_results(page, expected)

    # The other groups' counts follow the result set.
    count_of = page.locator('.ms-facet input[name="task"][value="tabular-classification"]').locator(
        "xpath=ancestor::label"
    ).locator(".ms-facet__count")
    tabular = [m for m in models if m["task"] == "tabular-classification"]
    expect(count_of).to_have_text(str(len(tabular)))

    _wait_for_url_param(page, r"task=tabular-regression.*task=image-classification")
    page.reload()
    page.wait_for_selector("#ms-search.ms-home--ready")
    _wait_for_results(page, expected)
    assert sorted(_checked(page, "task")) == ["image-classification", "tabular-regression"]
    assert page_log.errors == []


def test_a_shared_url_restores_query_and_facets(
    page: Any, site_url: str, models: list[dict[str, Any]]
) -> None:
    iris = next(m for m in models if m["id"] == IRIS)
    _open_home(page, site_url, f"?q=iris&task={iris['task']}&license={iris['license']}")
    expect(page.locator("#ms-q")).to_have_value("iris")
    assert _checked(page, "task") == [iris["task"]]
    assert _checked(page, "license") == [iris["license"]]
    expect(page.locator(".ms-results__list .ms-card__id").first).to_have_text(IRIS)
    # AND across groups: every result has both the task and the licence.
    for model_id in _result_ids(page):
        model = next(m for m in models if m["id"] == model_id)
        assert (model["task"], model["license"]) == (iris["task"], iris["license"])


def test_a_query_that_matches_nothing_shows_the_empty_state(page: Any, site_url: str) -> None:
    _open_home(page, site_url, "?q=zzzqqqxxx")
    expect(page.locator(".ms-empty")).to_be_visible()
    expect(page.locator(".ms-results__count")).to_have_text("0 models")
    assert _result_ids(page) == []


@pytest.mark.parametrize(
    "query",
    ["iris:", "name:iris", "+iris -forest", "ir*s", "^~", ":^~+-*", "iris~2", "\\", '"iris', "-", "*"],
)
def test_lunr_query_syntax_does_not_break_the_page(
    page: Any, site_url: str, query: str, page_log: Any
) -> None:
    _open_home(page, site_url)
    page.locator("#ms-q").fill(query)
    # Regression: the count was read before the next frame rendered this query's results (flaky under load).
    expect(page.locator("#ms-search")).to_have_attribute("data-rendered-query", query)
    count = page.locator(".ms-results__count")
    expect(count).to_have_text(re.compile(r"^\d+ models?$"))
    shown = len(_result_ids(page))
    if count.text_content() == "0 models":
        expect(page.locator(".ms-empty")).to_be_visible()
    else:
        assert shown > 0
        expect(page.locator(".ms-empty")).to_be_hidden()
    # The page still answers an ordinary query afterwards.
    page.locator("#ms-q").fill("iris")
    expect(page.locator(".ms-results__list .ms-card__id").first).to_have_text(IRIS)
    assert page_log.errors == []


def test_clicking_a_result_opens_a_model_page_whose_sha256_matches_its_file(
    page: Any, site_url: str, page_log: Any
) -> None:
    _open_home(page, site_url)
    page.locator("#ms-q").press_sequentially("iris", delay=30)
    first = page.locator(".ms-results__list .ms-card__name").first
    expect(page.locator(".ms-results__list .ms-card__id").first).to_have_text(IRIS)
    first.click()
    page.wait_for_url(re.compile(r"/models/modelshelf/iris-logreg/(index\.html)?$"))
    page.wait_for_load_state("load")

    shas = {s.strip().lower() for s in page.locator(".ms-sha").all_text_contents()}
    assert shas, "the model page shows no .ms-sha"
    onnx_links = page.eval_on_selector_all(
        "article a[href]", "links => links.map(a => a.href).filter(h => /\\.onnx([?#]|$)/.test(h))"
    )
    assert onnx_links, "the model page links to no .onnx file"
    for href in set(onnx_links):
        assert href.startswith(site_url), href
        with urllib.request.urlopen(href, timeout=30) as response:
            digest = hashlib.sha256(response.read()).hexdigest()
        assert digest in shas, f"{href} hashes to {digest}, the page shows {sorted(shas)}"
    assert page_log.errors == []


def test_enter_opens_the_first_result_and_slash_focuses_the_box(page: Any, site_url: str) -> None:
    _open_home(page, site_url)
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("/")
    expect(page.locator("#ms-q")).to_be_focused()
    page.keyboard.type("iris", delay=30)
    expect(page.locator(".ms-results__list .ms-card__id").first).to_have_text(IRIS)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/models/modelshelf/iris-logreg/(index\.html)?$"))


def test_a_model_page_logs_no_console_errors(page: Any, site_url: str, page_log: Any) -> None:
    page.goto(site_url + "models/modelshelf/iris-logreg/")
    page.wait_for_load_state("load")
    page.wait_for_timeout(500)  # give late scripts (search.js, widgets) a chance to fail
    expect(page.locator(".ms-sha").first).to_be_visible()
    assert page_log.errors == []
    assert page_log.unexpected_external_requests() == []


def test_without_javascript_the_home_page_links_to_task_pages(browser: Any, site_url: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(site_url)
        expect(page.locator("#ms-q")).to_be_hidden()
        links = page.eval_on_selector_all(".ms-tasks a.ms-tasktile", "links => links.map(a => a.href)")
        assert links, "no task links in the no-JS fallback"
        for href in links:
            with urllib.request.urlopen(href, timeout=30) as response:
                assert response.status == 200, href
    finally:
        context.close()


def test_screenshots(page: Any, site_url: str) -> None:
    """Saves what a visitor sees, for a human to look at (build/screenshots/)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    _open_home(page, site_url)
    page.locator("#ms-q").press_sequentially("classif", delay=30)
    expect(page.locator(".ms-results__count")).not_to_have_text("0 models")
    page.screenshot(path=str(SCREENSHOTS / "home.png"))
    page.goto(site_url + "models/modelshelf/iris-logreg/")
    page.wait_for_load_state("load")
    page.screenshot(path=str(SCREENSHOTS / "model.png"))


@pytest.mark.browser
def test_results_mark_metrics_the_build_recomputed(page: Any, site_url: str, models: list[dict[str, Any]]) -> None:
    """A result shows '✓ verified' exactly when search/docs.json says the build recomputed its first metric."""
    _open_home(page, site_url, "?q=iris")
    iris = next(m for m in models if m["id"] == "modelshelf/iris-logreg")
    assert iris["metrics"][0]["verified"] is True
    first = page.locator(".ms-results__list .ms-card").first
    expect(first.locator(".ms-card__id")).to_have_text("modelshelf/iris-logreg")
    expect(first.locator(".ms-card__verified")).to_have_text("✓ verified")
    by_id = {m["id"]: m for m in models}
    cards = page.locator(".ms-results__list .ms-card").all()
    for card in cards:
        metrics = by_id[card.locator(".ms-card__id").text_content()]["metrics"]
        verified = bool(metrics) and metrics[0].get("verified") is True
        assert card.locator(".ms-card__verified").count() == (1 if verified else 0)
