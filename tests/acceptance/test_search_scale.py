"""Home-page search on the real catalog, in Chromium: filters, metric thresholds, sort, URL state, relevance, phones.

The expectations are computed from catalog.json (what the build published), never from the search files the page
reads. Timings are measured by bench/bench_search.py, not here.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect

TIER_RANK = {"claimed": 0, "reproduced": 1, "verified": 2}
LOWER_IS_BETTER = {"mae", "mse", "rmse", "log_loss"}


@pytest.fixture(scope="session")
def catalog(built_site: Path) -> list[dict[str, Any]]:
    """The models the search lists: each at its latest version, from catalog.json."""
    models = json.loads((built_site / "catalog.json").read_text(encoding="utf-8"))["models"]
    return [m for m in models if m["latest"]]


def _name_order(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(models, key=lambda m: (m["card"]["name"].lower(), m["id"]))


def _best_metric(model: dict[str, Any], metric: str, min_tier: str, dataset: str = "") -> float | None:
    """The best value of `metric` among the model's claims at `min_tier` or above: the build's number when it has one."""
    claims = (model.get("evaluation") or {}).get("claims") or []
    best = None
    for i, claim in enumerate(model["card"].get("metrics") or []):
        tier = claims[i]["tier"] if i < len(claims) else "claimed"
        if claim["name"] != metric or TIER_RANK[tier] < TIER_RANK[min_tier]:
            continue
        if dataset and claim.get("dataset") != dataset:
            continue
        recomputed = claims[i].get("recomputed") if i < len(claims) else None
        value = recomputed if recomputed is not None and tier != "claimed" else claim["value"]
        if best is None or (value < best if metric in LOWER_IS_BETTER else value > best):
            best = value
    return best


def _open(page: Any, site_url: str, query: str = "") -> None:
    page.goto(site_url + query)
    page.wait_for_selector("#ms-search.ms-home--ready")


def _ids(page: Any) -> list[str]:
    return page.locator(".ms-results__list .ms-card__id").all_text_contents()


def _expect_ids(page: Any, ids: list[str]) -> None:
    expect(page.locator(".ms-results__list .ms-card__id")).to_have_text(ids)
    expect(page.locator(".ms-results__count")).to_have_text(f"{len(ids)} model" + ("" if len(ids) == 1 else "s"))


def test_facets_metric_threshold_and_sort_give_the_models_of_catalog_json_in_order(
    page: Any, site_url: str, catalog: list[dict[str, Any]], page_log: Any
) -> None:
    tasks = ["tabular-classification", "image-classification"]
    licence = "Apache-2.0"
    query = ("?" + "&".join(f"task={t}" for t in tasks)
             + f"&license={licence}&metric=accuracy&tier=verified&metric_min=0.95&sort=metric")
    chosen = [m for m in _name_order(catalog) if m["task"] in tasks and m["card"]["license"] == licence]
    scored = [(m, _best_metric(m, "accuracy", "verified")) for m in chosen]
    expected = [m["id"] for m, v in sorted([(m, v) for m, v in scored if v is not None and v >= 0.95], key=lambda p: -p[1])]
    assert len(expected) >= 3, "the catalog should have several verified classifiers above 0.95"
    _open(page, site_url, query)
    _expect_ids(page, expected)
    # Each card shows the value it was sorted by.
    first = page.locator(".ms-results__list .ms-card").first
    expect(first.locator(".ms-card__sorted")).to_contain_text("accuracy")

    # Worst first, and a threshold that leaves fewer models.
    _open(page, site_url, query.replace("sort=metric", "sort=-metric").replace("0.95", "0.97"))
    kept = [(m, v) for m, v in scored if v is not None and v >= 0.97]
    _expect_ids(page, [m["id"] for m, v in sorted(kept, key=lambda p: p[1])])
    assert page_log.errors == []


def test_a_lower_is_better_metric_keeps_models_at_most_the_bound(page: Any, site_url: str, catalog: list[dict[str, Any]]) -> None:
    values = [(m, _best_metric(m, "mae", "claimed")) for m in _name_order(catalog)]
    with_mae = [(m, v) for m, v in values if v is not None]
    assert with_mae, "the catalog has a regression model with mae"
    bound = max(v for _m, v in with_mae) + 1
    _open(page, site_url, f"?metric=mae&metric_min={bound}&sort=metric")
    expect(page.locator(".ms-filter__bound")).to_have_text("At most")
    _expect_ids(page, [m["id"] for m, _v in sorted(with_mae, key=lambda p: p[1])])


def test_size_and_latency_ranges_and_sorts_match_catalog_json(page: Any, site_url: str, catalog: list[dict[str, Any]]) -> None:
    def size(m: dict[str, Any]) -> int:
        return next(f["size"] for f in m["files"] if f["kind"] == "onnx")

    ordered = _name_order(catalog)
    small = [m for m in ordered if size(m) <= 100 * 1024]
    assert 0 < len(small) < len(ordered)
    _open(page, site_url, "?size_max=100&sort=-size")
    _expect_ids(page, [m["id"] for m in sorted(small, key=lambda m: -size(m))])

    fast = [m for m in ordered if m["latency"] and m["latency"]["median_ms"] <= 1]
    assert 0 < len(fast) < len(ordered)
    _open(page, site_url, "?latency_max=1&sort=latency")
    _expect_ids(page, [m["id"] for m in sorted(fast, key=lambda m: m["latency"]["median_ms"])])

    _open(page, site_url, "?sort=-name")
    _expect_ids(page, [m["id"] for m in reversed(ordered)])


def test_permissive_only_and_opset_filter(page: Any, site_url: str, catalog: list[dict[str, Any]]) -> None:
    ordered = _name_order(catalog)
    _open(page, site_url, "?permissive=1")
    manifest_permissive = page.evaluate("() => fetch('search/manifest.json').then(r => r.json()).then(m => m.permissive)")
    _expect_ids(page, [m["id"] for m in ordered if m["card"]["license"] in manifest_permissive])
    assert "MIT" in manifest_permissive and "GPL-3.0-only" not in manifest_permissive
    opset = ordered[0]["signature"]["opset"]
    _open(page, site_url, f"?opset={opset}")
    _expect_ids(page, [m["id"] for m in ordered if m["signature"]["opset"] == opset])


def test_the_url_round_trips_every_control(page: Any, site_url: str, catalog: list[dict[str, Any]], page_log: Any) -> None:
    _open(page, site_url)
    page.locator("#ms-q").fill("classification")
    page.locator('.ms-facet input[name="license"][value="Apache-2.0"]').check()
    page.locator('input[name="permissive"]').check()
    page.locator('select[name="metric"]').select_option("accuracy")
    page.locator('select[name="tier"]').select_option("reproduced")
    page.locator('input[name="metric_min"]').fill("0.9")
    page.locator('input[name="size_max"]').fill("5000")
    page.locator('input[name="latency_max"]').fill("50")
    page.locator(".ms-sort__select").select_option("metric")
    page.wait_for_function("() => /sort=metric/.test(location.search) && /latency_max=50/.test(location.search)")
    expect(page.locator("#ms-search")).to_have_attribute("data-rendered-query", "classification")
    page.wait_for_timeout(400)
    before_ids = _ids(page)
    url = page.url
    params = dict(parse_qsl(urlsplit(url).query))
    assert params == {"q": "classification", "license": "Apache-2.0", "permissive": "1", "metric": "accuracy",
                      "tier": "reproduced", "metric_min": "0.9", "size_max": "5000", "latency_max": "50", "sort": "metric"}
    assert before_ids, "the combination should keep some models"

    page.goto(url)
    page.wait_for_selector("#ms-search.ms-home--ready")
    expect(page.locator("#ms-q")).to_have_value("classification")
    expect(page.locator('.ms-facet input[name="license"][value="Apache-2.0"]')).to_be_checked()
    expect(page.locator('input[name="permissive"]')).to_be_checked()
    expect(page.locator('select[name="metric"]')).to_have_value("accuracy")
    expect(page.locator('select[name="tier"]')).to_have_value("reproduced")
    expect(page.locator('input[name="metric_min"]')).to_have_value("0.9")
    expect(page.locator('input[name="size_max"]')).to_have_value("5000")
    expect(page.locator(".ms-sort__select")).to_have_value("metric")
    expect(page.locator(".ms-results__list .ms-card__id")).to_have_text(before_ids)
    page.wait_for_timeout(400)
    assert dict(parse_qsl(urlsplit(page.url).query)) == params
    assert page_log.errors == []


def test_show_more_is_in_the_url(page: Any, site_url: str, catalog: list[dict[str, Any]]) -> None:
    _open(page, site_url, "?shown=40")
    assert len(_ids(page)) == min(40, len(catalog))


@pytest.mark.parametrize("query", ["sklearn/digits", "sklearn digits"])
def test_a_dataset_id_finds_the_models_evaluated_on_it_first(
    page: Any, site_url: str, catalog: list[dict[str, Any]], query: str
) -> None:
    on_digits = {m["id"] for m in catalog if "sklearn/digits" in [d["id"] for d in m["card"]["datasets"]]}
    assert len(on_digits) >= 2
    _open(page, site_url, "?q=" + query)
    expect(page.locator(".ms-results__list .ms-card__id").first).to_be_visible()
    assert set(_ids(page)[:len(on_digits)]) == on_digits


def test_an_exact_model_id_comes_first(page: Any, site_url: str) -> None:
    _open(page, site_url, "?q=modelshelf/iris-logreg")
    expect(page.locator(".ms-results__list .ms-card__id").first).to_have_text("modelshelf/iris-logreg")


def test_a_prefix_ranks_names_before_descriptions(page: Any, site_url: str, catalog: list[dict[str, Any]]) -> None:
    """Regression (issue 13): "dig" ranked the breast-cancer model first, for the word "digitised" in its description."""
    digits = {m["id"] for m in catalog if m["card"]["name"].lower().startswith("digit") or "digits" in m["card"]["name"].lower()}
    assert digits
    _open(page, site_url)
    page.locator("#ms-q").press_sequentially("dig", delay=30)
    expect(page.locator("#ms-search")).to_have_attribute("data-rendered-query", "dig")
    ids = _ids(page)
    assert set(ids[:len(digits)]) == digits
    if "modelshelf/breast-cancer-forest" in ids:
        assert ids.index("modelshelf/breast-cancer-forest") >= len(digits)


def test_a_small_typo_is_forgiven(page: Any, site_url: str, catalog: list[dict[str, Any]]) -> None:
    digits = {m["id"] for m in catalog if "digits" in m["card"]["name"].lower()}
    _open(page, site_url, "?q=digts")
    expect(page.locator(".ms-results__list .ms-card__id").first).to_be_visible()
    assert digits <= set(_ids(page))


def test_a_licence_query_returns_only_that_licence(page: Any, site_url: str, catalog: list[dict[str, Any]]) -> None:
    """Regression (issue 13): "Apache-2.0" also returned the MIT model."""
    apache = {m["id"] for m in catalog if m["card"]["license"] == "Apache-2.0"}
    assert any(m["card"]["license"] == "MIT" for m in catalog)
    _open(page, site_url, "?q=Apache-2.0")
    expect(page.locator(".ms-results__count")).to_have_text(f"{len(apache)} models")
    assert set(_ids(page)) == apache


def test_a_facet_with_many_values_is_a_bounded_searchable_list(page: Any, site_url: str, catalog: list[dict[str, Any]]) -> None:
    datasets = sorted({d["id"] for m in catalog for d in m["card"]["datasets"]})
    assert len(datasets) > 8, "the real catalog has more datasets than a facet lists before 'more'"
    _open(page, site_url)
    facet = page.locator('.ms-facet[data-facet="dataset"]')
    expect(facet.locator(".ms-facet__option")).to_have_count(8)
    facet.locator(".ms-facet__more").click()
    expect(facet.locator(".ms-facet__option")).to_have_count(len(datasets))
    expect(facet.locator(".ms-facet__find")).to_be_focused()
    page.keyboard.type("iris")
    expect(facet.locator(".ms-facet__option")).to_have_count(1)
    # The keyboard ticks it; the count beside it is the number of models on that dataset.
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    on_iris = [m["id"] for m in _name_order(catalog) if "sklearn/iris" in [d["id"] for d in m["card"]["datasets"]]]
    _expect_ids(page, on_iris)
    expect(facet.locator(".ms-facet__option .ms-facet__count")).to_have_text(str(len(on_iris)))
    page.wait_for_function("() => /dataset=sklearn%2Firis/.test(location.search)")


def test_counts_beside_values_follow_the_query(page: Any, site_url: str, catalog: list[dict[str, Any]]) -> None:
    _open(page, site_url, "?q=digits")
    expect(page.locator(".ms-results__list .ms-card__id").first).to_be_visible()
    shown = set(_ids(page))
    licence = page.locator('.ms-facet input[name="license"][value="Apache-2.0"]').locator("xpath=ancestor::label")
    apache = sum(1 for m in catalog if m["id"] in shown and m["card"]["license"] == "Apache-2.0")
    expect(licence.locator(".ms-facet__count")).to_have_text(str(apache))


def test_on_a_360px_phone_results_come_first_and_nothing_overflows(browser: Any, site_url: str) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        _open(page, site_url, "?q=digits&task=image-classification")
        expect(page.locator(".ms-results__list .ms-card__id").first).to_be_visible()
        width = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1], f"horizontal overflow at 360 px: {width}"
        # Results first: the filters wait in a drawer; the count and the first result are on the first screen.
        expect(page.locator(".ms-facets")).to_be_hidden()
        count_box = page.locator(".ms-results__count").bounding_box()
        first_box = page.locator(".ms-results__list .ms-result").first.bounding_box()
        assert count_box and first_box and count_box["y"] < 740 and first_box["y"] < 740
        toggle = page.locator(".ms-filters-toggle")
        expect(toggle).to_contain_text("(1)")
        toggle.focus()
        page.keyboard.press("Enter")
        expect(page.locator(".ms-facets")).to_be_visible()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        width = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1], f"horizontal overflow with the filter drawer open: {width}"
        drawer = page.locator(".ms-facets").bounding_box()
        assert drawer and drawer["x"] >= 0 and drawer["x"] + drawer["width"] <= 360
        page.keyboard.press("Escape")
        expect(page.locator(".ms-facets")).to_be_hidden()
        expect(toggle).to_be_focused()
    finally:
        context.close()


def test_values_unknown_to_the_catalog_do_not_break_the_page(page: Any, site_url: str, page_log: Any) -> None:
    _open(page, site_url, "?task=no-such-task&metric=no-such-metric&sort=bogus&size_min=abc&tier=gold")
    expect(page.locator(".ms-results__count")).to_have_text(re.compile(r"^[1-9]\d* models?$"))
    # Values that match nothing the catalog has are dropped from the URL; what cannot filter, does not.
    page.wait_for_function("() => !/task=|metric=|sort=|tier=/.test(location.search)")
    assert page_log.errors == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_axe_violations_on_the_search_page(browser: Any, site_url: str, scheme: str) -> None:
    """axe-core (WCAG 2.1 A/AA and best practice) on the home page with every kind of filter in use."""
    axe = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
    if not axe.is_file():
        pytest.skip("axe-core is not installed (scripts/setup installs it)")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    try:
        page = context.new_page()
        _open(page, site_url, "?q=classification&license=Apache-2.0&permissive=1&metric=accuracy&tier=verified&metric_min=0.9"
                              "&size_max=5000&sort=metric")
        expect(page.locator(".ms-results__list .ms-card__id").first).to_be_visible()
        page.locator('.ms-facet[data-facet="dataset"] .ms-facet__more').click()
        page.evaluate(axe.read_text(encoding="utf-8"))
        violations = page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
            ".then(r => r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', ')))",
            ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"])
        assert violations == []
    finally:
        context.close()
