"""What a killed build leaves (issue 12, class 8) is removed by the next build, and only that.

Real processes stand in for builds and recipes: a process that has exited (a killed build) and one
still running with its working directory inside a sandbox folder (a recipe of a concurrent build)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from modelshelf.generator.site.cleanup import remove_leftovers


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def old(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "out.txt").write_text("x")
    past = time.time() - 3600
    os.utime(path, (past, past))
    return path


def test_leftovers_of_dead_builds_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    target = tmp_path / "site"
    tmp = tmp_path / "tmp"
    dead = dead_pid()
    stale_staging = old(tmp_path / f".site.building-{dead}-abc")
    stale_old = old(tmp_path / f".site.old-{dead}")
    live_staging = old(tmp_path / f".site.building-{os.getpid()}-abc")
    other_site = old(tmp_path / f".other.building-{dead}-abc")
    stale_run = old(tmp / "modelshelf-run-abc")
    stale_smoke = old(tmp / "modelshelf-smoke-abc")
    fresh_run = tmp / "modelshelf-run-fresh"
    fresh_run.mkdir(parents=True)
    busy_run = old(tmp / "modelshelf-run-busy")
    (busy_run / "src").mkdir()
    os.utime(busy_run, (time.time() - 3600,) * 2)
    unrelated = old(tmp / "someone-else")
    recipe = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=busy_run / "src")
    try:
        removed = remove_leftovers(target, tmp_dir=tmp)
        assert recipe.poll() is None
    finally:
        recipe.kill()
        recipe.wait()
    assert sorted(removed) == sorted([stale_staging, stale_old, stale_run, stale_smoke])
    for kept in (live_staging, other_site, fresh_run, busy_run, unrelated):
        assert kept.is_dir(), kept
    assert remove_leftovers(target, tmp_dir=tmp) == [busy_run], "once its process is gone, the folder is stale"
