"""Leaderboard pages, their index and the compare page (issue 13); the boards come from enrich/leaderboards.py.

Pages: `leaderboards/` (every board, by task), `leaderboards/<task>/` (one per documented task, so task and model
pages can link it by the task id alone), `leaderboards/<task>/<dataset slug>/<metric>/` (one per board) and
`compare/` (filled in the browser by site_theme/assets/javascripts/compare.js from catalog.json). Each board page
carries two SVG scatter charts (metric against ONNX size and against latency, log-scale x, the Pareto front drawn)
with a <title>, <desc> and aria-label; the table beside them is the full text alternative. Every contributor string
reaches the SVG through `escape.page_text`, as the templates' `finalize` does for the rest of the page.
"""
from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

from modelshelf.catalog.validate import tasks

from modelshelf.generator.enrich.leaderboards import Board, Row, leaderboards, parameter_count
from modelshelf.generator.enrich.stage import ModelEntry, human_size
from modelshelf.generator.evaluate.metrics import METRICS
from modelshelf.generator.render.escape import page_text
from modelshelf.generator.render.pages import _env, rel_root

log = logging.getLogger(__name__)

COMPARE_MAX = 4
MAX_POINTS = 300
# Chart geometry (viewBox units; CSS scales the chart to its column).
_W, _H = 440.0, 280.0
_LEFT, _RIGHT, _TOP, _BOTTOM = 56.0, 28.0, 14.0, 40.0


def value_text(value: float | None) -> str:
    """A metric value as printed: 4 significant digits (catalog.json keeps 6 decimals; data-value carries those)."""
    if value is None:
        return ""
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"


def latency_text(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms * 1000:.3g} µs" if ms < 1 else f"{ms:.3g} ms"


@dataclass(frozen=True)
class RowView:
    """What a board's table prints for one row (Python computes, the template prints)."""

    row: Row
    value: str
    value_exact: str  # the value as catalog.json has it (rounded to 6 decimals), for tests and machines
    claimed: str
    size: str
    latency: str
    parameters: str
    compare_href: str  # relative to the site root
    front: bool


def _compare_href(refs: Sequence[str]) -> str:
    return "compare/?m=" + ",".join(refs[:COMPARE_MAX])


def _row_views(board: Board) -> list[RowView]:
    leader = board.ranked[0].ref if board.ranked else None
    views = []
    for r in board.rows:
        pair = [r.ref] if leader in (None, r.ref) else [leader, r.ref]
        views.append(RowView(
            row=r, value=value_text(r.value), value_exact="" if r.value is None else repr(round(r.value, 6)),
            claimed=value_text(r.claimed), size=human_size(r.size), latency=latency_text(r.latency_ms),
            parameters=f"{r.parameters:,}" if r.parameters is not None else "", compare_href=_compare_href(pair),
            front=r.front_size or r.front_latency))
    return views


# ---------------------------------------------------------------- charts

def _decimal_size(size: float) -> str:
    """A size tick (a power of ten bytes) in decimal units: 10 kB, 1 MB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size:g} B"


def _ticks_log(lo: float, hi: float) -> list[float]:
    start, stop = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    return [10.0 ** k for k in range(start, stop + 1)]


def _nice(lo: float, hi: float) -> tuple[float, float, list[float]]:
    """A y range padded around [lo, hi] and about five round ticks inside it."""
    if hi == lo:
        pad = abs(hi) * 0.05 or 0.05
        lo, hi = lo - pad, hi + pad
    span = hi - lo
    lo, hi = lo - span * 0.1, hi + span * 0.1
    step = 10 ** math.floor(math.log10((hi - lo) / 4))
    for mult in (1, 2, 5, 10):
        if (hi - lo) / (step * mult) <= 5:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    ticks = []
    t = first
    while t <= hi + 1e-12:
        ticks.append(round(t, 12))
        t += step
    return lo, hi, ticks


def _f(x: float) -> str:
    return f"{x:.1f}"


def scatter_svg(board: Board, *, axis: str, cost: Callable[[Row], float | None], cost_text: Callable[[float], str],
                front: Callable[[Row], bool], tick_text: Callable[[float], str] | None = None) -> Markup | None:
    """Metric (y) against a cost (x, log scale): a point per ranked model, labelled by rank, the Pareto front as a line."""
    # A board of thousands of models: the chart draws the best MAX_POINTS and the whole front; the table lists all.
    points = [(r, cost(r)) for i, r in enumerate(board.ranked) if i < MAX_POINTS or front(r)]
    pts = [(r, c) for r, c in points if c is not None and c > 0]
    if not pts:
        return None
    xs = [c for _, c in pts]
    ys = [r.value for r, _ in pts if r.value is not None]
    xticks = _ticks_log(min(xs), max(xs))
    x_lo, x_hi = math.log10(xticks[0]), math.log10(xticks[-1])
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
        xticks = [10 ** x_lo, 10 ** (x_lo + 1), 10 ** x_hi]
    y_lo, y_hi, yticks = _nice(min(ys), max(ys))
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def px(c: float) -> float:
        return _LEFT + (math.log10(c) - x_lo) / (x_hi - x_lo) * pw

    def py(v: float) -> float:
        return _TOP + (y_hi - v) / (y_hi - y_lo) * ph

    metric = board.metric_title
    better = "higher is better" if board.higher_is_better else "lower is better"
    title = f"{metric} against {axis} on {board.dataset}"
    drawn = "" if len(board.ranked) <= MAX_POINTS else f" The best {MAX_POINTS} models and the Pareto front are drawn."
    desc = f"{title} ({better}; {axis} on a log scale).{drawn} " + "; ".join(
        f"{r.rank}. {r.name}: {value_text(r.value)} at {cost_text(c)}{', on the Pareto front' if front(r) else ''}"
        for r, c in pts) + "."
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ms-lb-chart" viewBox="0 0 {_W:.0f} {_H:.0f}" role="img"'
        f' aria-label="{page_text(desc)}" font-size="11" fill="currentColor" data-axis="{page_text(axis)}">',
        f"<title>{page_text(title)}</title><desc>{page_text(desc)}</desc>",
        f'<rect class="ms-lb-chart__plot" x="{_f(_LEFT)}" y="{_f(_TOP)}" width="{_f(pw)}" height="{_f(ph)}" fill="none"/>',
    ]
    for t in yticks:
        y = py(t)
        parts.append(f'<line class="ms-lb-chart__grid" x1="{_f(_LEFT)}" x2="{_f(_LEFT + pw)}" y1="{_f(y)}" y2="{_f(y)}"/>'
                     f'<text class="ms-lb-chart__tick" x="{_f(_LEFT - 4)}" y="{_f(y + 4)}" text-anchor="end">'
                     f"{page_text(f'{t:.4g}')}</text>")
    for t in xticks:
        x = px(t)
        parts.append(f'<line class="ms-lb-chart__grid" x1="{_f(x)}" x2="{_f(x)}" y1="{_f(_TOP)}" y2="{_f(_TOP + ph)}"/>'
                     f'<text class="ms-lb-chart__tick" x="{_f(x)}" y="{_f(_TOP + ph + 14)}" text-anchor="middle">'
                     f"{page_text((tick_text or cost_text)(t))}</text>")
    parts.append(f'<text class="ms-lb-chart__axis" x="{_f(_LEFT + pw / 2)}" y="{_f(_H - 6)}" text-anchor="middle">'
                 f"{page_text(axis)} (log scale)</text>")
    parts.append(f'<text class="ms-lb-chart__axis" transform="translate(12 {_f(_TOP + ph / 2)}) rotate(-90)"'
                 f' text-anchor="middle">{page_text(board.metric)} ({better})</text>')
    on_front = sorted(((c, r.value) for r, c in pts if front(r)), key=lambda p: p[0])
    if len(on_front) > 1:
        # A step line: from each front point, level to the next one's cost, then up (or down) to its value.
        path = [f"M{_f(px(on_front[0][0]))} {_f(py(on_front[0][1]))}"]  # type: ignore[arg-type]
        for c, v in on_front[1:]:
            path.append(f"H{_f(px(c))} V{_f(py(v))}")  # type: ignore[arg-type]
        parts.append(f'<path class="ms-lb-chart__front" d="{" ".join(path)}" fill="none"/>')
    for r, c in sorted(pts, key=lambda p: -(p[0].rank or 0)):  # the best drawn last, on top
        assert r.value is not None
        cls = "ms-lb-chart__point ms-lb-chart__point--front" if front(r) else "ms-lb-chart__point"
        x, y = px(c), py(r.value)
        anchor, dx = ("end", -7) if x > _LEFT + pw - 24 else ("start", 7)
        parts.append(f'<g class="ms-lb-chart__model" data-model="{page_text(r.ref)}">'
                     f"<title>{page_text(f'{r.rank}. {r.name} ({r.id}): {value_text(r.value)}, {cost_text(c)}')}</title>"
                     f'<circle class="{cls}" cx="{_f(x)}" cy="{_f(y)}" r="5"/>'
                     f'<text class="ms-lb-chart__label" x="{_f(x + dx)}" y="{_f(y - 6)}" text-anchor="{anchor}">'
                     f"{r.rank}</text></g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def _charts(board: Board) -> list[Markup]:
    charts = [
        scatter_svg(board, axis="ONNX size", cost=lambda r: float(r.size), cost_text=lambda b: human_size(int(b)),
                    tick_text=_decimal_size,
                    front=lambda r: r.front_size),
        scatter_svg(board, axis="latency", cost=lambda r: r.latency_ms, cost_text=latency_text,
                    front=lambda r: r.front_latency),
    ]
    return [c for c in charts if c is not None]


# ---------------------------------------------------------------- pages

def _task_titles() -> dict[str, str]:
    return {t["id"]: t["title"] for t in tasks()}


def render_leaderboards(entries: Sequence[ModelEntry]) -> dict[str, str]:
    """Every leaderboard page, the index pages and the compare page: src_uri -> Markdown text."""
    env = _env()
    boards = leaderboards(entries)
    pages: dict[str, str] = {}
    for board in boards:
        pages[board.src_uri] = env.get_template("leaderboard.md.j2").render(
            board=board, rows=_row_views(board), charts=_charts(board), root=rel_root(board.src_uri),
            compare_top=_compare_href([r.ref for r in board.ranked]), better="higher" if board.higher_is_better else "lower")
    by_task: dict[str, list[Board]] = defaultdict(list)
    for board in boards:
        by_task[board.task].append(board)
    titles = _task_titles()
    groups = [{"id": t, "title": titles.get(t, t), "boards": by_task.get(t, [])} for t in titles]
    for group in groups:
        src = f"leaderboards/{group['id']}/index.md"
        pages[src] = env.get_template("leaderboards.md.j2").render(groups=[group], single=True, root=rel_root(src))
    pages["leaderboards/index.md"] = env.get_template("leaderboards.md.j2").render(
        groups=[g for g in groups if g["boards"]], single=False, root=rel_root("leaderboards/index.md"))
    pages["compare.md"] = env.get_template("compare.md.j2").render(root=rel_root("compare.md"), most=COMPARE_MAX)
    return pages


def compare_data(entries: Sequence[ModelEntry]) -> str:
    """compare/data.json: what compare.js needs beyond catalog.json (parameter counts, metric directions)."""
    params = {f"{e.card.id}@{e.card.version}": parameter_count(e) for e in entries}
    lower = sorted(name for name, info in METRICS.items() if not info.higher_is_better)
    return json.dumps({"parameters": {k: v for k, v in sorted(params.items()) if v is not None}, "lower_is_better": lower},
                      indent=1, sort_keys=True)
