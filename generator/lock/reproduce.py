"""`modelshelf reproduce ORG/NAME@VERSION`: does the recipe still write the locked bytes, and if not, how far off is it?

The recipe runs in the sandbox with an empty cache (nothing is reused), and each file it writes is
compared with the lock by SHA-256. For an ONNX file that differs, both files run (each in a smoke-run
child process, as the build runs models) on the card's examples, and the report gives the largest
absolute difference of each output.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelshelf.catalog.client.cache import sha256_of
from modelshelf.catalog.model import Card

from modelshelf.generator.enrich.onnx_info import read_signature
from modelshelf.generator.enrich.recipes import run_recipe, tool_versions
from modelshelf.generator.export.safety import Limits, smoke_run
from modelshelf.generator.export.stage import example_feeds
from modelshelf.generator.lock.lockfile import LockedVersion
from modelshelf.generator.lock.stage import output_files
from modelshelf.generator.lock.store import Store, StoreError


@dataclass(frozen=True)
class FileReport:
    name: str
    locked: str | None  # SHA-256, None when the lock does not have this file
    produced: str | None  # None when this run did not write it
    differences: dict[str, float] | None = None  # output -> largest absolute difference on the examples (ONNX files)
    note: str = ""

    @property
    def same(self) -> bool:
        return self.locked == self.produced


def _outputs_diff(card: Card, locked_path: Path, new_path: Path, limits: Limits) -> tuple[dict[str, float] | None, str]:
    feeds, _ = example_feeds(card, read_signature(locked_path))
    if not feeds:
        return None, "the card has no examples to run both files on"
    old, new = smoke_run(locked_path, feeds, limits), smoke_run(new_path, feeds, limits)
    if not (old.ok and new.ok):
        return None, f"could not run both files: {(old.finding or new.finding).message}"  # type: ignore[union-attr]
    worst: dict[str, float] = {}
    for a, b in zip(old.outputs, new.outputs, strict=True):
        for name, value in a.items():
            other = b.get(name)
            if other is None or other.shape != value.shape:
                worst[name] = float("inf")
                continue
            if np.issubdtype(value.dtype, np.number):
                diff = float(np.max(np.abs(value.astype(np.float64) - other.astype(np.float64)))) if value.size else 0.0
            else:
                diff = 0.0 if np.array_equal(value, other) else float("inf")
            worst[name] = max(worst.get(name, 0.0), diff)
    return worst, f"on {len(feeds)} example(s)"


def reproduce(card: Card, locked: LockedVersion, store: Store, limits: Limits = Limits()) -> list[FileReport]:
    """Run the card's recipe afresh and compare every output with the locked one."""
    with tempfile.TemporaryDirectory(prefix="modelshelf-reproduce-") as tmp:
        out = run_recipe(card, Path(tmp) / "cache", versions=tool_versions())
        produced = output_files(out.model.parent)
        reports = []
        for name in sorted(set(produced) | set(locked.outputs)):
            path = produced.get(name)
            want = locked.outputs.get(name)
            report = FileReport(name, want.sha256 if want else None, sha256_of(path) if path else None)
            if not report.same and name.endswith(".onnx") and path is not None and want is not None:
                locked_copy = Path(tmp) / "locked" / name
                try:
                    store.get(want.sha256, want.size, locked_copy)
                except StoreError as exc:
                    report = FileReport(name, report.locked, report.produced, None,
                                        f"the locked file is not available ({exc}), so the outputs cannot be compared")
                else:
                    differences, note = _outputs_diff(card, locked_copy, path, limits)
                    report = FileReport(name, report.locked, report.produced, differences, note)
            reports.append(report)
        return reports


def format_reports(ref: str, reports: list[FileReport]) -> str:
    lines = []
    for r in reports:
        if r.same:
            lines.append(f"  same     {r.name} ({(r.locked or '')[:12]})")
            continue
        if r.locked is None:
            lines.append(f"  new      {r.name}: this run wrote it; the lock does not have it")
        elif r.produced is None:
            lines.append(f"  missing  {r.name}: locked ({r.locked[:12]}), this run did not write it")
        else:
            lines.append(f"  differs  {r.name}: locked {r.locked[:12]}, this run {r.produced[:12]}")
        if r.differences:
            lines.extend(f"           {name}: largest absolute difference {diff:.3g}"
                         for name, diff in sorted(r.differences.items()))
        if r.note:
            lines.append(f"           ({r.note})")
    same = sum(r.same for r in reports)
    verdict = ("reproduces the locked bytes" if same == len(reports)
               else f"does not reproduce the locked bytes ({len(reports) - same} of {len(reports)} files differ)")
    return f"{ref}: the recipe {verdict}\n" + "\n".join(lines)
