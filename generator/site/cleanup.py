"""What a killed build leaves behind, removed by the next build.

A build killed with SIGKILL (or by the machine going down) cannot clean up: it leaves its staging
folder beside the site (`.site.building-<pid>-*`, `.site.old-<pid>`) and the sandbox's temporary
folders (`$TMPDIR/modelshelf-run-*`, `-smoke-*`, `-sandbox-*`). A staging folder names the build's
process id, so it is stale once that process is gone. A sandbox folder carries no id: it is stale
when it is older than `grace` seconds and no process of ours has its working directory, root or an
open file inside it (found through /proc; elsewhere such folders are left alone).
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

SANDBOX_PREFIXES = ("modelshelf-run-", "modelshelf-smoke-", "modelshelf-sandbox-")
GRACE_SECONDS = 120.0  # time between a sandbox folder's creation and its child starting; never in use during it
_STAGING = re.compile(r"^\.(?P<site>.+)\.(?:building|old)-(?P<pid>[0-9]+)(?:-.*)?$")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def stale_staging_folders(target: Path) -> list[Path]:
    """Staging and old-site folders beside `target` whose build process is gone."""
    if not target.parent.is_dir():
        return []
    found = []
    for path in target.parent.iterdir():
        m = _STAGING.match(path.name)
        if m and m.group("site") == target.name and path.is_dir() and not path.is_symlink() \
                and int(m.group("pid")) != os.getpid() and not pid_alive(int(m.group("pid"))):
            found.append(path)
    return sorted(found)


def _inodes(folder: Path) -> set[tuple[int, int]]:
    found = set()
    for root, dirs, files in os.walk(folder):
        for name in [".", *dirs, *files]:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            found.add((st.st_dev, st.st_ino))
    return found


def _in_use(inodes: set[tuple[int, int]]) -> bool:
    """True if a process of this user has its cwd, root or an open file among `inodes` (or /proc cannot tell)."""
    proc = Path("/proc")
    if not (proc / "self" / "fd").is_dir():
        return True  # no /proc: cannot tell, so leave the folder alone
    uid = os.getuid()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            links = [entry / "cwd", entry / "root", *(entry / "fd").iterdir()]
        except OSError:
            continue  # gone, or not ours to look at
        for link in links:
            try:
                st = os.stat(link)  # follows the magic link to the file itself, also across mount namespaces
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in inodes:
                return True
    return False


def stale_sandbox_folders(tmp_dir: Path | None = None, grace: float = GRACE_SECONDS) -> list[Path]:
    """The sandbox's temporary folders (see SANDBOX_PREFIXES) of this user that no live process uses."""
    base = Path(tmp_dir or tempfile.gettempdir())
    now = time.time()
    candidates = []
    try:
        entries = list(base.iterdir())
    except OSError:
        return []
    for path in entries:
        if not path.name.startswith(SANDBOX_PREFIXES):
            continue
        try:
            st = path.lstat()
        except OSError:
            continue
        if path.is_dir() and not path.is_symlink() and st.st_uid == os.getuid() and now - st.st_mtime > grace:
            candidates.append(path)
    return sorted(p for p in candidates if not _in_use(_inodes(p)))


def remove_leftovers(target: Path, *, tmp_dir: Path | None = None, grace: float = GRACE_SECONDS) -> list[Path]:
    """Remove what killed builds left (see the module docstring); returns what was removed."""
    removed = []
    for path in [*stale_staging_folders(target), *stale_sandbox_folders(tmp_dir, grace)]:
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            log.info("removed %s, left by a build that was killed", path)
            removed.append(path)
    return removed


__all__ = ["GRACE_SECONDS", "SANDBOX_PREFIXES", "remove_leftovers", "stale_sandbox_folders", "stale_staging_folders"]
