"""Artifact stores: where the locked bytes of published versions live between builds.

A store is content-addressed: a blob is named by its SHA-256, so it can be shared by versions and
checked on every read. `FolderStore` (the default, `store/` beside mkdocs.yml) keeps blobs as
`sha256/<first two hex digits>/<sha256>`. Blobs larger than `git_max_bytes` are listed in the
store's `.gitignore`, so git carries only the small ones; a fresh clone gets a large blob back from
a recipe run whose output is byte-identical to the lock (generator/lock/stage.py), or from another
store.

Every write goes to a temporary file in the store, is hashed while it is copied, and is renamed into
place only when its hash is the one asked for: a store never holds a blob under a wrong name.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

CHUNK = 1 << 20
GIT_MAX_BYTES = 5 * 1024 * 1024


class StoreError(Exception):
    """A blob could not be written or read back intact; the message says which and why."""


def _copy_hashed(src: Path, dest_dir: Path) -> tuple[Path, str, int]:
    h = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
            while chunk := inp.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
                out.write(chunk)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp), h.hexdigest(), size


class FolderStore:
    def __init__(self, root: Path, *, git_max_bytes: int = GIT_MAX_BYTES) -> None:
        self.root = root
        self.git_max_bytes = git_max_bytes

    def __str__(self) -> str:
        return f"the artifact store {self.root}"

    def path(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256

    def has(self, sha256: str, size: int) -> bool:
        path = self.path(sha256)
        return path.is_file() and path.stat().st_size == size

    def put(self, src: Path, sha256: str) -> None:
        """Add `src`, which must hash to `sha256`; a blob already present is kept."""
        dest = self.path(sha256)
        if dest.is_file():
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp, actual, size = _copy_hashed(src, dest.parent)
        if actual != sha256:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"{src} changed while it was stored (SHA-256 {actual[:12]}, expected {sha256[:12]})")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
        if size > self.git_max_bytes:
            self._ignore(dest)

    def get(self, sha256: str, size: int, dest: Path) -> None:
        """Copy the blob to `dest`, checking its size and hash; raises StoreError if it is missing or damaged."""
        src = self.path(sha256)
        if not src.is_file():
            raise StoreError(f"{self} has no blob {sha256[:12]}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp, actual, actual_size = _copy_hashed(src, dest.parent)
        if (actual, actual_size) != (sha256, size):
            tmp.unlink(missing_ok=True)
            raise StoreError(f"{self}: blob {sha256[:12]} is damaged (its bytes hash to {actual[:12]}, {actual_size} bytes); "
                             f"delete {src} and run `modelshelf lock` where the locked bytes are")
        os.replace(tmp, dest)

    def _ignore(self, blob: Path) -> None:
        ignore = self.root / ".gitignore"
        rel = "/" + blob.relative_to(self.root).as_posix()
        lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else [
            f"# Blobs over {self.git_max_bytes // (1024 * 1024)} MB stay out of git: a fresh clone gets them from a recipe run",
            "# that reproduces them byte for byte, or from another store (docs/contributing.md, 'Versions and the lock').",
        ]
        if rel not in lines:
            ignore.write_text("\n".join([*lines, rel]) + "\n", encoding="utf-8")
