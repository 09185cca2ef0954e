"""Ranking, Pareto fronts and slugs of the leaderboards (generator/enrich/leaderboards.py), and their charts."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from modelshelf.generator.enrich.leaderboards import (Board, Row, _with_fronts, dataset_slug, higher_is_better,
                                                      pareto_front, rank, unique_slugs)
from modelshelf.generator.render.leaderboard_pages import scatter_svg


def _row(id: str, value: float | None, size: int = 100, latency: float | None = 1.0, name: str | None = None) -> Row:
    return Row(id=id, version="1.0.0", name=name or id, url=f"models/{id}/", value=value, claimed=value, tier="verified",
               size=size, latency_ms=latency, parameters=None, license="MIT")


def test_direction_follows_the_metric_definitions() -> None:
    assert higher_is_better("accuracy") and higher_is_better("r2") and higher_is_better("roc_auc")
    for metric in ("rmse", "mae", "mse", "log_loss"):
        assert not higher_is_better(metric), metric


def test_rank_higher_is_better_with_ties_and_claimed_last() -> None:
    rows = rank([_row("a/x", 0.9), _row("a/y", 0.95), _row("a/z", None), _row("a/w", 0.9)], higher=True)
    assert [(r.id, r.rank) for r in rows] == [("a/y", 1), ("a/w", 2), ("a/x", 2), ("a/z", None)]


def test_rank_lower_is_better_for_errors() -> None:
    rows = rank([_row("a/x", 44.6), _row("a/y", 40.1), _row("a/z", 50.0)], higher=False)
    assert [r.id for r in rows] == ["a/y", "a/x", "a/z"]
    assert [r.rank for r in rows] == [1, 2, 3]


def test_pareto_front_higher_is_better() -> None:
    # (cost, value): the cheapest, the best, and one between that is better than everything cheaper than it.
    points = [(10.0, 0.90), (100.0, 0.95), (1000.0, 0.99), (500.0, 0.93), (10.0, 0.85)]
    assert pareto_front(points, higher=True) == [True, True, True, False, False]


def test_pareto_front_lower_is_better_and_equal_points() -> None:
    points = [(10.0, 50.0), (20.0, 40.0), (30.0, 45.0), (10.0, 50.0)]
    # Two identical points do not dominate each other; (30, 45) is dominated by (20, 40).
    assert pareto_front(points, higher=False) == [True, True, False, True]


def test_pareto_front_matches_the_definition_on_random_points() -> None:
    import random

    rng = random.Random(0)
    for _ in range(200):
        points = [(float(rng.randint(1, 6)), float(rng.randint(1, 6))) for _ in range(rng.randint(1, 9))]
        for higher in (True, False):
            slow = [not any(j != i and c <= ci and (v >= vi if higher else v <= vi) and (c < ci or v != vi)
                            for j, (c, v) in enumerate(points)) for i, (ci, vi) in enumerate(points)]
            assert pareto_front(points, higher) == slow, (points, higher)


def test_fronts_are_set_per_axis() -> None:
    rows = rank([_row("a/big", 0.99, size=1000, latency=0.5), _row("a/small", 0.90, size=10, latency=5.0),
                 _row("a/mid", 0.95, size=100, latency=10.0)], higher=True)
    flagged = {r.id: (r.front_size, r.front_latency) for r in _with_fronts(rows, True)}
    assert flagged == {"a/big": (True, True), "a/small": (True, False), "a/mid": (True, False)}


def test_dataset_slugs_are_safe_and_unique() -> None:
    assert dataset_slug("sklearn/digits") == "sklearn--digits"
    assert dataset_slug("Org/My.Data_set-1") == "org--my.data_set-1"
    slugs = unique_slugs(["Sklearn/Iris", "sklearn/iris", "sklearn/wine"])
    assert slugs["sklearn/wine"] == "sklearn--wine"
    assert slugs["Sklearn/Iris"] != slugs["sklearn/iris"]
    assert all(s.startswith("sklearn--iris-") for k, s in slugs.items() if k.lower() == "sklearn/iris")


def test_chart_has_a_text_alternative_a_point_per_model_and_escapes_names() -> None:
    rows = _with_fronts(rank([_row("a/x", 0.9, size=1000, name="<script>x</script> [a](b)"), _row("a/y", 0.95, size=50_000),
                              _row("a/z", None)], higher=True), True)
    board = Board("image-classification", "Image classification", "sklearn/digits", "accuracy", "Accuracy", True,
                  "sklearn--digits", tuple(rows))
    svg = scatter_svg(board, axis="ONNX size", cost=lambda r: float(r.size), cost_text=lambda b: f"{b:.0f} B",
                      front=lambda r: r.front_size)
    assert svg is not None
    assert "<script" not in svg and "[a](b)" not in svg
    root = ET.fromstring(str(svg))  # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    assert root.get("role") == "img" and root.get("aria-label")
    assert root.find(f"{ns}title") is not None and root.find(f"{ns}desc") is not None
    models = root.findall(f"{ns}g[@class='ms-lb-chart__model']")
    assert sorted(g.get("data-model") for g in models) == ["a/x@1.0.0", "a/y@1.0.0"]  # the claimed-only row has no point
    assert root.find(f"{ns}path[@class='ms-lb-chart__front']") is not None


def test_a_board_page_prints_contributor_strings_as_inert_text() -> None:
    from modelshelf.generator.render.leaderboard_pages import _charts, _row_views
    from modelshelf.generator.render.pages import _env

    hostile = '<img src=x onerror=alert(1)> [x](javascript:alert(1)){: onclick="y"}'
    row = Row(id="a/x", version="1.0.0", name=hostile, url="models/a/x/", value=0.9, claimed=0.9, tier="verified",
              size=1000, latency_ms=0.5, parameters=12, license=hostile)
    board = Board("image-classification", "Image classification", "sklearn/digits", "accuracy", "Accuracy", True,
                  "sklearn--digits", tuple(_with_fronts(rank([row], True), True)))
    text = _env().get_template("leaderboard.md.j2").render(
        board=board, rows=_row_views(board), charts=_charts(board), root="../../../../", compare_top="compare/?m=a/x@1.0.0",
        better="higher")
    assert "<img" not in text
    assert "[x](javascript" not in text and "{: onclick" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
