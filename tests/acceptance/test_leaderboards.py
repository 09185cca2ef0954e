"""Leaderboards and the compare page (issue 13), in a real browser on the real catalog.

The expected rankings are recomputed here from catalog.json (the latest version of each model, its recomputed value
on the board's dataset, the metric's direction), independently of generator/enrich/leaderboards.py.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

LOWER_IS_BETTER = {"log_loss", "mae", "mse", "rmse"}
DIGITS_BOARD = "leaderboards/image-classification/sklearn--digits/accuracy/"
PHONE = {"width": 360, "height": 800}


@pytest.fixture(scope="module")
def catalog(built_site: Path) -> list[dict[str, Any]]:
    return json.loads((built_site / "catalog.json").read_text(encoding="utf-8"))["models"]


def _boards(built_site: Path) -> list[str]:
    """Every board page's URL path (leaderboards/<task>/<dataset>/<metric>/), from the built site."""
    pages = sorted((built_site / "leaderboards").glob("*/*/*/index.html"))
    return [str(p.parent.relative_to(built_site)) + "/" for p in pages]


def _expected(catalog: list[dict[str, Any]], task: str, dataset: str, metric: str) -> list[tuple[str, float]]:
    """(model@version, recomputed value) of the latest versions with a value on this board, best first."""
    found = []
    for m in catalog:
        ev = m["evaluation"]
        if not m["latest"] or m["task"] != task or not ev:
            continue
        value = None
        for claim, recomputed in zip(m["card"].get("metrics", []), ev["claims"]):
            if claim["name"] == metric and claim["dataset"] == dataset and recomputed["tier"] != "claimed":
                value = recomputed["recomputed"]
        evaluated = (m["card"].get("evaluation") or {}).get("dataset") or m["card"]["datasets"][0]["id"]
        if value is None and evaluated == dataset and metric in ev["metrics"]:
            value = ev["metrics"][metric]
        if value is not None:
            found.append((f"{m['id']}@{m['version']}", value))
    lower = metric in LOWER_IS_BETTER
    return sorted(found, key=lambda kv: (kv[1] if lower else -kv[1], kv[0]))


def test_the_catalog_has_boards_and_an_index_linking_them(built_site: Path, page: Any, site_url: str, page_log: Any) -> None:
    boards = _boards(built_site)
    assert DIGITS_BOARD in boards and "leaderboards/tabular-regression/sklearn--diabetes/mae/" in boards
    page.goto(site_url + "leaderboards/")
    linked = page.eval_on_selector_all("a.ms-lb-link", "links => links.map(a => new URL(a.href).pathname)")
    assert sorted(p.lstrip("/") for p in linked) == sorted(boards)
    assert page_log.errors == []


def test_every_board_ranks_like_catalog_json(built_site: Path, catalog: list[dict[str, Any]], page: Any,
                                             site_url: str, page_log: Any) -> None:
    for board in _boards(built_site):
        page.goto(site_url + board)
        root = page.locator(".ms-lb")
        task, dataset, metric = (root.get_attribute(f"data-{k}") for k in ("task", "dataset", "metric"))
        assert task and dataset and metric
        rows = page.eval_on_selector_all(
            ".ms-lb-row[data-rank]:not([data-rank=''])", "rows => rows.map(r => [r.dataset.model, Number(r.dataset.value)])")
        assert [tuple(r) for r in rows] == _expected(catalog, task, dataset, metric), board
        assert root.get_attribute("data-better") == ("lower" if metric in LOWER_IS_BETTER else "higher")
    assert page_log.errors == []


def test_a_board_shows_claim_tier_size_and_latency_from_the_catalog(catalog: list[dict[str, Any]], page: Any,
                                                                     site_url: str) -> None:
    page.goto(site_url + DIGITS_BOARD)
    by_ref = {f"{m['id']}@{m['version']}": m for m in catalog}
    rows = page.locator(".ms-lb-row")
    assert rows.count() == 2
    for i in range(rows.count()):
        row = rows.nth(i)
        model = by_ref[row.get_attribute("data-model")]
        claim = next(c for c in model["card"]["metrics"] if c["name"] == "accuracy")
        assert row.locator(".ms-lb-claimed").inner_text() == f"{claim['value']:.4g}"
        assert row.locator("[data-tier]").get_attribute("data-tier") == "verified"
        assert row.locator("[data-bytes]").get_attribute("data-bytes") == str(model["files"][0]["size"])
        assert row.locator(".ms-lb-add").get_attribute("href").startswith("../../../../compare/?m=")


def test_the_charts_have_a_text_alternative_and_a_point_per_model(page: Any, site_url: str) -> None:
    page.goto(site_url + DIGITS_BOARD)
    ranked = page.eval_on_selector_all(".ms-lb-row[data-rank]:not([data-rank=''])", "rows => rows.map(r => r.dataset.model)")
    charts = page.locator("svg.ms-lb-chart")
    assert charts.count() == 2  # against size and against latency
    for i in range(charts.count()):
        chart = charts.nth(i)
        assert chart.get_attribute("role") == "img"
        label = chart.get_attribute("aria-label") or ""
        assert "accuracy" in label.lower() or "Accuracy" in label
        assert chart.locator(":scope > title").count() == 1 and chart.locator(":scope > desc").count() == 1
        points = chart.locator("g.ms-lb-chart__model").evaluate_all("gs => gs.map(g => g.dataset.model)")
        assert sorted(points) == sorted(ranked)
        assert chart.locator("circle").count() == len(ranked)
        # Readable in either palette: the chart's text takes the theme's colours, not a fixed black.
        fill = chart.locator("text.ms-lb-chart__label").first.evaluate("t => getComputedStyle(t).fill")
        assert fill not in ("rgb(0, 0, 0)", "#000000")


def test_the_chart_text_follows_the_dark_palette(page: Any, site_url: str) -> None:
    page.goto(site_url + DIGITS_BOARD)
    light = page.locator("text.ms-lb-chart__label").first.evaluate("t => getComputedStyle(t).fill")
    page.evaluate("document.body.setAttribute('data-md-color-scheme', 'slate')")
    dark = page.locator("text.ms-lb-chart__label").first.evaluate("t => getComputedStyle(t).fill")
    assert light != dark


def test_task_and_model_pages_link_the_leaderboards_and_compare(page: Any, site_url: str) -> None:
    page.goto(site_url + "tasks/image-classification/")
    page.locator("a.ms-lb-link").click()
    page.wait_for_url("**/leaderboards/image-classification/")
    page.locator("a.ms-lb-link", has_text="Accuracy").click()
    page.wait_for_url("**/" + DIGITS_BOARD)
    page.goto(site_url + "models/modelshelf/digits-cnn/")
    assert page.locator(".ms-lb-links a.ms-lb-link").get_attribute("href").endswith("leaderboards/image-classification/")
    page.locator("a.ms-compare-add").click()
    page.wait_for_url(re.compile(r"/compare/\?m="))
    assert parse_qs(urlsplit(page.url).query)["m"] == ["modelshelf/digits-cnn@1.1.0"]
    page.locator(".ms-compare-table").wait_for()


def _compare_models(page: Any) -> list[str]:
    return page.eval_on_selector_all(".ms-compare-table thead th[data-model]", "ths => ths.map(t => t.dataset.model)")


def test_compare_shows_the_selected_models_values(catalog: list[dict[str, Any]], page: Any, site_url: str,
                                                  page_log: Any) -> None:
    page.goto(site_url + "compare/?m=modelshelf/digits-cnn@1.1.0,modelshelf/digits-logreg-pipeline")
    page.locator(".ms-compare-table").wait_for()
    assert _compare_models(page) == ["modelshelf/digits-cnn@1.1.0", "modelshelf/digits-logreg-pipeline@1.0.0"]
    by_ref = {f"{m['id']}@{m['version']}": m for m in catalog}
    cells = page.eval_on_selector_all(".ms-compare-table tbody tr", """rows => Object.fromEntries(rows.map(r =>
        [r.dataset.field, [...r.querySelectorAll('td')].map(td => ({text: td.innerText.trim(),
         bytes: (td.querySelector('[data-bytes]') || {}).dataset?.bytes,
         value: (td.querySelector('[data-value]') || {}).dataset?.value,
         tier: (td.querySelector('[data-tier]') || {}).dataset?.tier}))]))""")
    for i, ref in enumerate(_compare_models(page)):
        model = by_ref[ref]
        assert cells["Size (ONNX)"][i]["bytes"] == str(model["files"][0]["size"])
        assert cells["Opset"][i]["text"] == str(model["signature"]["opset"])
        assert cells["Licence"][i]["text"] == model["card"]["license"]
        assert cells["Task"][i]["text"] == model["task"]
        accuracy = cells["accuracy · sklearn/digits"][i]
        assert float(accuracy["value"]) == model["evaluation"]["metrics"]["accuracy"]
        assert accuracy["tier"] == "verified"
        assert model["signature"]["inputs"][0]["name"] in cells["Inputs"][i]["text"]
        assert model["signature"]["outputs"][0]["name"] in cells["Outputs"][i]["text"]
        assert cells["Parameters"][i]["text"].replace(",", "").isdigit()
    assert page.locator(".ms-compare__different").count() == 1  # an image tensor against a tabular row
    assert page_log.errors == []


def test_the_compare_selection_round_trips_through_the_url(page: Any, site_url: str) -> None:
    page.goto(site_url + "compare/?m=modelshelf/iris-logreg")
    page.locator(".ms-compare-table").wait_for()
    page.locator(".ms-compare__select").select_option("modelshelf/wine-gradient-boosting")
    page.locator(".ms-compare__add").click()
    page.wait_for_function("() => location.search.includes('wine-gradient-boosting')")
    assert parse_qs(urlsplit(page.url).query)["m"] == ["modelshelf/iris-logreg,modelshelf/wine-gradient-boosting"]
    page.reload()
    page.locator(".ms-compare-table").wait_for()
    assert _compare_models(page) == ["modelshelf/iris-logreg@1.0.0", "modelshelf/wine-gradient-boosting@1.0.0"]
    page.get_by_role("button", name="Remove modelshelf/iris-logreg from the comparison").click()
    page.wait_for_function("() => !location.search.includes('iris')")
    assert parse_qs(urlsplit(page.url).query)["m"] == ["modelshelf/wine-gradient-boosting"]
    assert _compare_models(page) == ["modelshelf/wine-gradient-boosting@1.0.0"]


def test_compatible_inputs_offer_the_same_input_on_each_try_it(page: Any, site_url: str) -> None:
    page.goto(site_url + "compare/?m=modelshelf/digits-cnn@1.0.0,modelshelf/digits-cnn@1.1.0")
    note = page.locator(".ms-compare__same")
    note.wait_for()
    links = note.locator("a.ms-compare__try")
    assert links.count() == 2
    hrefs = [links.nth(i).get_attribute("href") for i in range(2)]
    assert all(h.endswith("#try-it") for h in hrefs) and hrefs[0] != hrefs[1]


def test_an_unknown_model_is_reported_not_fatal(page: Any, site_url: str, page_log: Any) -> None:
    page.goto(site_url + "compare/?m=nobody/nothing,modelshelf/iris-logreg")
    page.locator(".ms-compare-table").wait_for()
    assert "nobody/nothing" in page.locator(".ms-compare__status").inner_text()
    assert page_log.errors == []


@pytest.mark.parametrize("path", [DIGITS_BOARD, "leaderboards/", "compare/?m=modelshelf/digits-cnn,modelshelf/iris-logreg,"
                                  "modelshelf/wine-gradient-boosting,snakers4/silero-vad"])
def test_no_horizontal_overflow_on_a_phone(browser: Any, site_url: str, path: str) -> None:
    context = browser.new_context(viewport=PHONE)
    try:
        phone = context.new_page()
        phone.goto(site_url + path)
        if path.startswith("compare/"):
            phone.locator(".ms-compare-table").wait_for()
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        context.close()


def test_add_to_compare_keeps_the_models_already_compared(page: Any, site_url: str) -> None:
    page.goto(site_url + "compare/?m=modelshelf/iris-logreg,modelshelf/wine-gradient-boosting")
    page.locator(".ms-compare-table").wait_for()
    page.goto(site_url + DIGITS_BOARD)
    page.locator(".ms-lb-row", has=page.locator("text=modelshelf/digits-logreg-pipeline@")).locator("a.ms-lb-add").click()
    page.wait_for_url(re.compile(r"/compare/\?m="))
    page.locator(".ms-compare-table").wait_for()
    # The remembered two, then the leader and this row (at most four; beyond that the oldest give way).
    assert _compare_models(page) == ["modelshelf/iris-logreg@1.0.0", "modelshelf/wine-gradient-boosting@1.0.0",
                                     "modelshelf/digits-cnn@1.1.0", "modelshelf/digits-logreg-pipeline@1.0.0"]
