"""The download cache on its own: where it lives, how a blob gets in, and what is left after a failure."""
from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from modelshelf.catalog.client.cache import Cache, Ref, default_cache_root
from modelshelf.catalog.client.errors import CacheWriteError, DownloadError, HashMismatch, IncompleteDownload, ModelNotFound, NotInCache

DATA = b"model bytes " * 1000
SHA = hashlib.sha256(DATA).hexdigest()


def chunks(data: bytes, size: int = 1000):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def leftovers(cache: Cache) -> list[str]:
    return sorted(p.name for p in cache.blobs.iterdir()) if cache.blobs.exists() else []


def test_cache_root_precedence(tmp_path: Path) -> None:
    assert default_cache_root({"MODELSHELF_HOME": str(tmp_path / "a"), "XDG_CACHE_HOME": str(tmp_path / "x")}) == tmp_path / "a"
    assert default_cache_root({"XDG_CACHE_HOME": str(tmp_path / "x")}) == tmp_path / "x" / "modelshelf"
    assert default_cache_root({}) == Path.home() / ".cache" / "modelshelf"


def test_blob_is_verified_renamed_into_place_and_read_only(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    seen: list[int] = []
    path = cache.write_blob(SHA, len(DATA), chunks(DATA), seen.append)
    assert path == tmp_path / "blobs" / SHA and path.read_bytes() == DATA
    assert seen[-1] == len(DATA)
    assert not os.access(path, os.W_OK) or os.geteuid() == 0
    assert path.stat().st_mode & 0o777 == 0o444
    assert leftovers(cache) == [SHA]
    assert cache.verified_blob(SHA, len(DATA)) == path


@pytest.mark.parametrize("data, error, message", [
    (DATA[:-10], IncompleteDownload, f"received {len(DATA) - 10} bytes, but catalog.json declares {len(DATA)}"),
    (DATA + b"extra", IncompleteDownload, f"more than the {len(DATA)} bytes"),
    (DATA[:-1] + b"X", HashMismatch, f"but catalog.json declares {SHA}"),
])
def test_bad_bytes_leave_nothing_behind(tmp_path: Path, data: bytes, error: type[Exception], message: str) -> None:
    cache = Cache(tmp_path)
    with pytest.raises(error, match=message) as exc:
        cache.write_blob(SHA, len(DATA), chunks(data))
    assert isinstance(exc.value, OSError), "download errors can be caught as OSError"
    assert leftovers(cache) == []


def test_failing_source_leaves_no_temp_file(tmp_path: Path) -> None:
    cache = Cache(tmp_path)

    def broken():
        yield DATA[:5000]
        raise IncompleteDownload("the connection broke after 5000 bytes")

    with pytest.raises(IncompleteDownload):
        cache.write_blob(SHA, len(DATA), broken())
    assert leftovers(cache) == []


def test_disk_full_is_a_clear_oserror_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulated ENOSPC in the middle of a download: CacheWriteError (an OSError with errno ENOSPC), no temp file."""
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, f) -> None:
            self.f, self.written = f, 0

        def write(self, data) -> int:
            if self.written >= 4000:
                raise OSError(errno.ENOSPC, "No space left on device")
            n = self.f.write(data)
            self.written += n
            return n

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            self.f.close()

    monkeypatch.setattr(os, "fdopen", lambda *a, **k: FullDisk(real_fdopen(*a, **k)))
    cache = Cache(tmp_path)
    with pytest.raises(CacheWriteError, match="no space left on the disk") as exc:
        cache.write_blob(SHA, len(DATA), chunks(DATA))
    assert exc.value.errno == errno.ENOSPC
    assert isinstance(exc.value, (OSError, DownloadError))
    monkeypatch.undo()
    assert leftovers(cache) == []


def test_tampered_blob_is_detected_and_removed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = Cache(tmp_path)
    path = cache.write_blob(SHA, len(DATA), chunks(DATA))
    os.chmod(path, 0o644)
    path.write_bytes(DATA[:-1] + b"!")  # same size, different bytes
    assert cache.verified_blob(SHA, len(DATA)) is None
    assert not path.exists()
    assert "does not match its SHA-256" in caplog.text


def test_refs_round_trip(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    ref = Ref("acme/m", "1.0.0", "onnx", "m.onnx", SHA, len(DATA), "http://127.0.0.1/x/m.onnx")
    cache.write_ref(ref)
    assert cache.read_ref("acme/m", "1.0.0", "onnx") == ref
    assert cache.read_ref("acme/m", "2.0.0", "onnx") is None
    assert cache.refs() == [ref] and cache.refs("acme/m") == [ref] and cache.refs("acme/other") == []
    assert [p for p in (tmp_path / "refs").rglob(".tmp-*")] == []


def test_blob_names_must_be_hashes(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Cache(tmp_path).blob_path("../../etc/passwd")


def test_errors_inherit_stdlib_types() -> None:
    assert issubclass(ModelNotFound, LookupError)
    assert issubclass(NotInCache, FileNotFoundError)
    assert issubclass(CacheWriteError, OSError) and issubclass(HashMismatch, OSError)
