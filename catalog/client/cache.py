"""The local download cache: content-addressed blobs, small ref files, one lock per blob.

Layout under the cache root::

    blobs/<sha256>                          verified bytes (read-only), named by their SHA-256
    blobs/.tmp-<sha256>-<random>            a download in progress (never reused, removed on failure, and by
                                            the next pull if a killed process left it: its lock is free)
    refs/<org>/<name>/<version>/<kind>.json which blob a model version's file is, plus its name and size
    catalogs/<sha256(site url)[:16]>.json   the last catalog.json read from a site (for offline use)
    locks/<sha256>.lock                     held while a blob is downloaded

A blob only ever appears by `os.replace` of a temp file from the same folder after its size and
SHA-256 were checked (as huggingface_hub's `file_download.py` does), so an interrupted download can
never look like a cache hit. Blobs are hashed again on every use, so a tampered file is noticed;
a blob is removed only when its bytes do not match its name, never because a catalog declared
another size for it. Every path is built from names checked here (SHA-256 digests, model ids,
versions, kinds), whatever the catalog said.
"""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from filelock import FileLock, Timeout

from modelshelf.catalog.client.errors import CacheWriteError, HashMismatch, IncompleteDownload, LockTimeout

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}/[a-z0-9][a-z0-9._-]{0,63}$")  # the card schema's id pattern
_VERSION = re.compile(r"^[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}(-[0-9A-Za-z.-]{1,40})?(\+[0-9A-Za-z.-]{1,40})?$")
_KIND = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_TMP_PREFIX = ".tmp-"
_TMP_BLOB = re.compile(r"^\.tmp-([0-9a-f]{64})-")
_STALE_SECONDS = 3600  # a ref or catalog temp file lives for microseconds; one this old was left by a killed process


def default_cache_root(env: dict[str, str] | os._Environ[str] | None = None) -> Path:
    """`$MODELSHELF_HOME`, else `$XDG_CACHE_HOME/modelshelf`, else `~/.cache/modelshelf`."""
    env = os.environ if env is None else env
    if env.get("MODELSHELF_HOME"):
        return Path(env["MODELSHELF_HOME"]).expanduser()
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]).expanduser() / "modelshelf"
    return Path.home() / ".cache" / "modelshelf"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _write_error(exc: OSError, where: Path) -> CacheWriteError:
    why = "no space left on the disk" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
    return CacheWriteError(exc.errno, f"cannot write to the cache ({where}): {why}; free some space or set MODELSHELF_HOME "
                           "to another folder")


@dataclass(frozen=True)
class Ref:
    """What a cached file of a model version is: its blob, its published name and size, where it came from."""

    model_id: str
    version: str
    kind: str
    filename: str
    sha256: str
    size: int
    url: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.model_id, "version": self.version, "kind": self.kind, "name": self.filename,
                "sha256": self.sha256, "size": self.size, "url": self.url}


@dataclass(frozen=True)
class Cache:
    """A cache folder. Holds no state of its own beyond its root; every method reads the disk."""

    root: Path

    @classmethod
    def default(cls) -> Cache:
        return cls(default_cache_root())

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    def blob_path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.blobs / sha256

    # -- blobs ---------------------------------------------------------------------------------

    def verified_blob(self, sha256: str, size: int) -> Path | None:
        """The blob if it is present with the right size and hash; a blob whose bytes do not match its name is removed.

        A blob of another size than `size` is kept if its bytes match its name: then `size` is what is wrong
        (a catalog entry that pairs a known SHA-256 with a wrong size must not evict a good file).
        """
        path = self.blob_path(sha256)
        try:
            actual_size = path.stat().st_size
        except FileNotFoundError:
            return None
        if actual_size == size and sha256_of(path) == sha256:
            return path
        if actual_size != size and sha256_of(path) == sha256:
            log.warning("cached file %s has %d bytes, not the %d declared; keeping it", path, actual_size, size)
            return None
        log.warning("cached file %s does not match its SHA-256 (tampered or corrupted); removing it", path)
        self._remove(path)
        return None

    def intact_size(self, sha256: str) -> int | None:
        """The size of the blob if it is present and its bytes have its SHA-256, else None."""
        path = self.blob_path(sha256)
        try:
            return path.stat().st_size if sha256_of(path) == sha256 else None
        except FileNotFoundError:
            return None

    def write_blob(self, sha256: str, size: int, chunks: Iterable[bytes],
                   on_chunk: Callable[[int], None] | None = None) -> Path:
        """Write `chunks` to a fresh temp file beside the blobs, check size and SHA-256, then rename into place.

        Callers hold `lock(sha256)`: that is how `remove_stale_temp_files` tells a live download from a dead one.

        Raises IncompleteDownload (too few or too many bytes), HashMismatch, or CacheWriteError (the disk).
        Whatever is raised, including errors from `chunks` itself, the temp file is removed.
        """
        target = self.blob_path(sha256)
        self._mkdir(self.blobs)
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{sha256}-", dir=self.blobs)
        except OSError as exc:
            raise CacheWriteError(exc.errno, f"cannot create a file in {self.blobs}: {exc.strerror}") from exc
        tmp = Path(tmp_name)
        try:
            # Unbuffered: a failing write raises here, not later from close() with the first error lost.
            with os.fdopen(fd, "wb", buffering=0) as fh:
                got, digest = self._copy(fh, chunks, size, on_chunk)
                try:
                    fh.flush()
                    os.fsync(fh.fileno())
                except OSError as exc:
                    raise CacheWriteError(exc.errno, f"cannot write {tmp}: {exc.strerror}") from exc
            if got != size:
                raise IncompleteDownload(f"received {got} bytes, but catalog.json declares {size}")
            if digest != sha256:
                raise HashMismatch(f"the downloaded bytes have SHA-256 {digest}, but catalog.json declares {sha256}")
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        except BaseException:
            self._remove(tmp)
            raise
        return target

    def _copy(self, fh: BinaryIO, chunks: Iterable[bytes], size: int,
              on_chunk: Callable[[int], None] | None) -> tuple[int, str]:
        h = hashlib.sha256()
        got = 0
        for chunk in chunks:
            got += len(chunk)
            if got > size:
                raise IncompleteDownload(f"the server sent more than the {size} bytes catalog.json declares")
            h.update(chunk)
            try:
                view = memoryview(chunk)
                while view:
                    view = view[fh.write(view):]
            except OSError as exc:
                raise _write_error(exc, self.root) from exc
            if on_chunk is not None:
                on_chunk(got)
        return got, h.hexdigest()

    @contextmanager
    def lock(self, sha256: str, timeout: float = 600.0) -> Iterator[None]:
        """Hold the download lock of one blob (across processes), so only one process writes it."""
        locks = self.root / "locks"
        self._mkdir(locks)
        lock = FileLock(str(locks / f"{sha256}.lock"))
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise LockTimeout(f"another process has been downloading {sha256[:12]} for over {timeout:.0f} s "
                              f"(lock {locks / (sha256 + '.lock')})") from None
        try:
            yield
        finally:
            lock.release()

    def temp_files(self) -> list[Path]:
        """Downloads in progress or left by a killed process (anything but blobs in blobs/)."""
        if not self.blobs.is_dir():
            return []
        return sorted(p for p in self.blobs.iterdir() if p.name.startswith(_TMP_PREFIX))

    def remove_stale_temp_files(self, max_age: float = _STALE_SECONDS) -> list[Path]:
        """Remove the temp files of killed pulls; returns what was removed.

        A download's temp file is stale when nobody holds its blob's lock (the kernel releases the lock
        of a killed process). Temp files of refs and catalogs, and blobs' temp files named before the
        full SHA-256 was part of the name, are stale once older than `max_age` seconds.
        """
        removed = []
        now = time.time()
        for path in [*self.temp_files(), *self.root.glob(f"catalogs/{_TMP_PREFIX}*"),
                     *self.root.glob(f"refs/*/*/*/{_TMP_PREFIX}*")]:
            match = _TMP_BLOB.match(path.name) if path.parent == self.blobs else None
            try:
                if match is not None:
                    lock = FileLock(str(self.root / "locks" / f"{match.group(1)}.lock"))
                    lock.acquire(timeout=0)
                    try:
                        self._remove(path)
                    finally:
                        lock.release()
                elif now - path.stat().st_mtime > max_age:
                    self._remove(path)
                else:
                    continue
            except (Timeout, OSError):
                continue  # a live download, or already gone
            log.info("removed %s, left by a download that was interrupted", path)
            removed.append(path)
        return removed

    # -- refs ----------------------------------------------------------------------------------

    def _ref_path(self, model_id: str, version: str, kind: str) -> Path:
        # The client checks these too; here they are what keeps a ref inside refs/ whoever calls.
        if not (_MODEL_ID.match(model_id) and _VERSION.match(version) and _KIND.match(kind)):
            raise ValueError(f"not a model id, version and kind: {model_id!r} {version!r} {kind!r}")
        org, name = model_id.split("/", 1)
        return self.root / "refs" / org / name / version / f"{kind}.json"

    def write_ref(self, ref: Ref) -> None:
        self._write_atomic(self._ref_path(ref.model_id, ref.version, ref.kind),
                           json.dumps(ref.as_dict(), indent=1, sort_keys=True).encode())

    def read_ref(self, model_id: str, version: str, kind: str) -> Ref | None:
        ref = self._load_ref(self._ref_path(model_id, version, kind))
        return ref if ref is not None and (ref.model_id, ref.version, ref.kind) == (model_id, version, kind) else None

    def refs(self, model_id: str | None = None) -> list[Ref]:
        """Every ref in the cache (of one model if given), sorted by id, version and kind."""
        base = self.root / "refs"
        pattern = f"{model_id}/*/*.json" if model_id else "*/*/*/*.json"
        found = [self._load_ref(p) for p in sorted(base.glob(pattern))] if base.is_dir() else []
        return [r for r in found if r is not None]

    def _load_ref(self, path: Path) -> Ref | None:
        try:
            d = json.loads(path.read_text())
            ref = Ref(d["id"], d["version"], d["kind"], d["name"], d["sha256"], int(d["size"]), d["url"])
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return None
        fields_ok = all(isinstance(v, str) for v in (ref.model_id, ref.version, ref.kind, ref.filename, ref.sha256, ref.url))
        if not (fields_ok and _MODEL_ID.match(ref.model_id) and _VERSION.match(ref.version) and _KIND.match(ref.kind)
                and _SHA256.match(ref.sha256)):
            return None  # a damaged or hand-edited ref is no ref
        return ref

    # -- catalogs ------------------------------------------------------------------------------

    def _catalog_path(self, site_url: str) -> Path:
        return self.root / "catalogs" / f"{hashlib.sha256(site_url.encode()).hexdigest()[:16]}.json"

    def save_catalog(self, site_url: str, data: bytes) -> None:
        self._write_atomic(self._catalog_path(site_url), data)

    def load_catalog(self, site_url: str) -> bytes | None:
        try:
            return self._catalog_path(site_url).read_bytes()
        except OSError:
            return None

    # -- disk helpers --------------------------------------------------------------------------

    def _write_atomic(self, path: Path, data: bytes) -> None:
        self._mkdir(path.parent)
        fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp_name, path)
        except OSError as exc:
            self._remove(Path(tmp_name))
            raise _write_error(exc, path) from exc

    def _mkdir(self, path: Path) -> None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheWriteError(exc.errno, f"cannot create the cache folder {path}: {exc.strerror}; "
                                  "set MODELSHELF_HOME to a writable folder") from exc

    @staticmethod
    def _remove(path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except PermissionError:
            # A read-only blob in a folder we may write: make it writable, then remove it.
            os.chmod(path, 0o644)
            path.unlink(missing_ok=True)


__all__ = ["Cache", "Ref", "default_cache_root", "sha256_of"]
