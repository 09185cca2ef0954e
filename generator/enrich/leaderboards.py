"""Leaderboards (issue 13): one board per (task, dataset, metric) that at least one model has a value for.

Each board ranks the latest version of every model by the value the build recomputed (tier `verified`
or `reproduced`, evaluate/tiers.py) in the metric's direction (evaluate/metrics.py `higher_is_better`:
log_loss, mae, mse and rmse are better lower); models with only a claimed value follow, unranked. The
Pareto front marks the models no other model beats on both the metric and the size (or the latency).
Everything here is plain data; render/leaderboard_pages.py prints it.
"""
from __future__ import annotations

import hashlib
import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from modelshelf.generator.enrich.stage import ModelEntry
from modelshelf.generator.evaluate.datasets import builtin_name
from modelshelf.generator.evaluate.metrics import METRICS
from modelshelf.generator.evaluate.tiers import CLAIMED

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^a-z0-9._-]+")


@dataclass(frozen=True)
class Row:
    """One model on one board: its recomputed value (None when only claimed), claim, tier and cost."""

    id: str
    version: str
    name: str
    url: str  # the model's page, relative to the site root
    value: float | None  # recomputed by the build (verified or reproduced)
    claimed: float | None
    tier: str  # verified / reproduced / claimed
    size: int  # bytes of the ONNX file
    latency_ms: float | None  # median, batch 1, one thread, on the build machine
    parameters: int | None
    license: str
    rank: int | None = None  # 1 for the best; None for claimed-only rows
    front_size: bool = False  # on the Pareto front of the metric against size
    front_latency: bool = False  # ... against latency

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"


@dataclass(frozen=True)
class Board:
    task: str
    task_title: str
    dataset: str
    metric: str
    metric_title: str
    higher_is_better: bool
    slug: str  # the dataset's path segment: safe, unique within the task
    rows: tuple[Row, ...] = field(default_factory=tuple)

    @property
    def url(self) -> str:
        return f"leaderboards/{self.task}/{self.slug}/{self.metric}/"

    @property
    def src_uri(self) -> str:
        return f"leaderboards/{self.task}/{self.slug}/{self.metric}.md"

    @property
    def ranked(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.rank is not None)


def higher_is_better(metric: str) -> bool:
    """The metric's direction from evaluate/metrics.py; an unknown name is read from its words (loss, error)."""
    info = METRICS.get(metric)
    if info is not None:
        return info.higher_is_better
    return not any(word in metric.lower() for word in ("loss", "error", "mae", "mse", "rmse"))


def dataset_slug(dataset: str) -> str:
    """A path segment for a dataset id (which holds a slash): lower-case letters, digits, '.', '_', '-'."""
    slug = _UNSAFE.sub("--", dataset.lower()).strip("-.") or "dataset"
    return slug


def unique_slugs(datasets: Sequence[str]) -> dict[str, str]:
    """dataset -> slug, with a short hash added to every slug two different ids would share (Sklearn/X, sklearn/x)."""
    by_slug: dict[str, set[str]] = defaultdict(set)
    for d in datasets:
        by_slug[dataset_slug(d)].add(d)
    out = {}
    for slug, ids in by_slug.items():
        for d in ids:
            out[d] = slug if len(ids) == 1 else f"{slug}-{hashlib.sha256(d.encode()).hexdigest()[:8]}"
    return out


def rank(rows: Sequence[Row], higher: bool) -> list[Row]:
    """Rows with a value first, best first (ties share a rank, then by id), then claimed-only rows by id."""
    valued = sorted((r for r in rows if r.value is not None),
                    key=lambda r: (-r.value if higher else r.value, r.id))  # type: ignore[operator]
    out: list[Row] = []
    for i, r in enumerate(valued):
        tied = out and out[-1].value == r.value
        out.append(replace(r, rank=out[-1].rank if tied else i + 1))
    out += sorted((r for r in rows if r.value is None), key=lambda r: r.id)
    return out


def pareto_front(points: Sequence[tuple[float, float]], higher: bool) -> list[bool]:
    """For each (cost, value): True when no other point is at most as costly and at least as good, and better on one.

    One sort and one sweep (a board may list thousands of models): cheapest first, best value first within a cost;
    a point is on the front when it is the best of its cost and strictly better than every cheaper point.
    """
    def key(v: float) -> float:
        return -v if higher else v

    order = sorted(range(len(points)), key=lambda i: (points[i][0], key(points[i][1])))
    flags = [False] * len(points)
    best: float | None = None  # the best value among strictly cheaper points, as key()
    start = 0
    while start < len(order):
        end = start
        while end < len(order) and points[order[end]][0] == points[order[start]][0]:
            end += 1
        group_best = key(points[order[start]][1])
        for i in order[start:end]:
            flags[i] = key(points[i][1]) == group_best and (best is None or group_best < best)
        best = group_best if best is None else min(best, group_best)
        start = end
    return flags


def parameter_count(entry: ModelEntry) -> int | None:
    """The parameter count of the graph summary (evaluate/insight.py), when the build read the ONNX file."""
    if entry.insight is None:
        return None
    for term, value in entry.insight.facts:
        if term == "Parameters":
            digits = value.replace(",", "").strip()
            return int(digits) if digits.isdigit() else None
    return None


def _license(entry: ModelEntry) -> str:
    card = entry.card
    return (card.license_name or card.license) if card.license == "other" else card.license


def _values(entry: ModelEntry) -> dict[tuple[str, str], tuple[float | None, float | None, str]]:
    """(dataset, metric) -> (recomputed value, claimed value, tier) of one model version."""
    card, ev = entry.card, entry.evaluation
    out: dict[tuple[str, str], tuple[float | None, float | None, str]] = {}
    for i, m in enumerate(card.metrics):
        tier = ev.claim_tier(i) if ev else CLAIMED
        value = ev.metrics.get(m.name) if ev and tier != CLAIMED else None
        key = (builtin_name(m.dataset) or m.dataset, m.name)
        if key not in out or out[key][0] is None:
            out[key] = (value, m.value, tier)
    if ev is not None and ev.origin:
        # Measured metrics nobody claimed: on the dataset the build evaluated (a registry name), or the card's
        # first dataset for a script's data.
        claimed = {name for (_, name) in out}
        dataset = _evaluated_dataset(entry)
        for name, value in ev.metrics.items():
            if name not in claimed and dataset:
                out.setdefault((dataset, name), (value, None, ev.measured_tier))
    return out


def _evaluated_dataset(entry: ModelEntry) -> str:
    spec = entry.card.evaluation
    named = spec.dataset if spec is not None else None
    if named:
        return builtin_name(named) or named
    return entry.card.datasets[0].id if entry.card.datasets else ""


def leaderboards(entries: Sequence[ModelEntry]) -> list[Board]:
    """Every board, by task, dataset and metric; each lists the latest version of each model with a value."""
    cells: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    titles: dict[str, str] = {}
    for e in entries:
        if not e.is_latest:
            continue
        titles[e.card.task] = e.task_title
        params = parameter_count(e)
        for (dataset, metric), (value, claimed, tier) in _values(e).items():
            cells[(e.card.task, dataset, metric)].append(Row(
                id=e.card.id, version=e.card.version, name=e.card.name, url=e.url, value=value, claimed=claimed,
                tier=tier, size=e.onnx.size, latency_ms=e.latency.median_ms if e.latency else None,
                parameters=params, license=_license(e)))
    boards = []
    for task in sorted({t for t, _, _ in cells}):
        keys = sorted(k for k in cells if k[0] == task)
        slugs = unique_slugs(sorted({d for _, d, _ in keys}))
        for _, dataset, metric in keys:
            higher = higher_is_better(metric)
            ranked = rank(cells[(task, dataset, metric)], higher)
            ranked = _with_fronts(ranked, higher)
            title = METRICS[metric].title if metric in METRICS else metric
            boards.append(Board(task, titles[task], dataset, metric, title, higher, slugs[dataset], tuple(ranked)))
    return boards


def _with_fronts(rows: list[Row], higher: bool) -> list[Row]:
    valued = [i for i, r in enumerate(rows) if r.value is not None]
    by_size = pareto_front([(float(rows[i].size), rows[i].value) for i in valued], higher)  # type: ignore[misc]
    timed = [i for i in valued if rows[i].latency_ms is not None]
    by_latency = pareto_front([(rows[i].latency_ms, rows[i].value) for i in timed], higher)  # type: ignore[misc]
    out = list(rows)
    for i, flag in zip(valued, by_size):
        out[i] = replace(out[i], front_size=flag)
    for i, flag in zip(timed, by_latency):
        out[i] = replace(out[i], front_latency=flag)
    return out
