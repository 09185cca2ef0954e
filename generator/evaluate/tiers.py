"""How far the build vouches for a metric claim: three tiers, computed by the build, never written by the contributor.

- `verified`: recomputed here on the published file with a dataset loader of the project's registry
  (`datasets.BUILTINS`), and the claim names that dataset and split;
- `reproduced`: recomputed here on the rows a contributor's evaluation script wrote (eval.npz,
  whose SHA-256 and row count are published; the card's authors supplied them);
- `claimed`: not computed here.

A claim of a metric the build evaluated must describe the evaluated data (`mismatch`): its
`dataset` names the registry dataset (aliases allowed) and its `split` starts with the evaluated
split (`test`, the held-out part of evaluation.split, or `all`); a claim on a script's data must
not name a registry dataset (the build would load that itself). In both cases a whole number in
`split` (`all 41`, `1,733 frames`, `validation, 50,000 images`; not `30%` nor `0.5`) is read as
a row count and must equal the rows evaluated.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from modelshelf.catalog.model import Metric

from modelshelf.generator.evaluate.datasets import builtin_name

log = logging.getLogger(__name__)

VERIFIED = "verified"
REPRODUCED = "reproduced"
CLAIMED = "claimed"

# (short label, explanation) of each tier: the page's chip and its title, the search result's label.
TIER_TEXT: dict[str, tuple[str, str]] = {
    VERIFIED: ("✓ verified", "Verified: recomputed by this build on the published ONNX file, with a dataset loader "
                             "of the project's registry, on the dataset and split the claim names"),
    REPRODUCED: ("reproduced", "Reproduced: recomputed by this build on the published ONNX file, on data the model's "
                               "contributors supplied (their evaluation script's eval.npz, whose SHA-256 and rows are "
                               "published); the project did not choose these rows"),
    CLAIMED: ("claimed", "Claimed: reported by the contributor; this build did not recompute it"),
}

_ROWS = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+)(?![\d.%]|,\d)")


@dataclass(frozen=True)
class Evaluated:
    """What the build evaluated: `origin` "registry" or "script", the dataset (registry name or script), split, rows."""

    origin: str
    dataset: str
    split: str  # "test" or "all" for registry data; "" for a script's
    rows: int
    label: str  # e.g. "sklearn/iris (test, 45 rows)"

    @property
    def tier(self) -> str:
        return VERIFIED if self.origin == "registry" else REPRODUCED


def stated_rows(split: str | None) -> int | None:
    """The first whole number of a claim's split text, read as a row count (None: it states none)."""
    found = _ROWS.search(split or "")
    return int(found.group(1).replace(",", "")) if found else None


def split_word(split: str | None) -> str:
    """The first word of a claim's split, lower-cased: `test` of "test", "Test (45 rows)", "test, seed 0"."""
    words = re.findall(r"[a-z]+", (split or "").lower())
    return words[0] if words else ""


def mismatch(metric: Metric, done: Evaluated) -> tuple[str, str, str] | None:
    """(field of the claim, message, hint) when the claim does not describe the evaluated data; None when it does."""
    name = metric.name
    if done.origin == "registry":
        if builtin_name(metric.dataset) != done.dataset:
            return ("dataset", f"{name} is claimed on {metric.dataset} but the evaluation runs on {done.label}",
                    f"claim the metric on the data the build evaluates (dataset: {done.dataset}, split: {done.split}), "
                    "or evaluate on the dataset the claim names")
        if not metric.split:
            return ("", f"{name} on {metric.dataset} names no split, and the evaluation runs on its {done.split} split "
                        f"({done.rows} rows)", f"add split: {done.split}")
        if split_word(metric.split) != done.split:
            return ("split", f"{name} is claimed on the split {metric.split!r} but the evaluation runs on {done.label}",
                    f"set split: {done.split} if the claim is about these rows, or change evaluation.split")
    elif builtin_name(metric.dataset) is not None:
        canonical = builtin_name(metric.dataset)
        return ("dataset", f"{name} is claimed on {metric.dataset} but the evaluation runs on {done.label}, "
                           "which its script wrote",
                f"use evaluation: {{dataset: {canonical}, ...}} so the build loads {canonical} itself, "
                "or name the data the script writes")
    stated = stated_rows(metric.split)
    if stated is not None and stated != done.rows:
        return ("split", f"{name} is claimed on {metric.split!r} ({stated:,} rows) but the evaluation runs on {done.label}",
                f"state the {done.rows:,} rows the build evaluates, or evaluate on the whole split the claim names")
    return None
