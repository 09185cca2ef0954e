"""A card's `source: {url, sha256, size}`: the build downloads the file and checks it like a committed one.

The bytes go through the client's content-addressed cache (`catalog/client/cache.py`) under
`<build cache>/downloads/`: streamed to a temporary file, size and SHA-256 checked, renamed into place
only when both match, so a second build reads them from disk and a bad download leaves nothing.
Redirects are followed (a release asset usually redirects to a storage host) but only to https,
at most 5 times, and never from https down to http. The site links to the URL; it does not copy the file.
"""
from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

from modelshelf.catalog.client.cache import Cache
from modelshelf.catalog.client.errors import CacheWriteError, HashMismatch, IncompleteDownload
from modelshelf.catalog.model import Card

CHUNK = 1 << 20
TIMEOUT = 60
MAX_REDIRECTS = 5


class SourceDownloadFailed(Exception):
    """The card's source.url could not be fetched, or its bytes are not the ones the card declares."""


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        old, new = urlsplit(req.full_url), urlsplit(urljoin(req.full_url, newurl))
        if new.scheme not in ("http", "https") or (old.scheme == "https" and new.scheme != "https"):
            fp.close()
            raise SourceDownloadFailed(f"{req.full_url} redirects ({code}) to {newurl}; only redirects to https "
                                       "(or from http to http) are followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _chunks(response: IO[bytes]) -> Iterator[bytes]:
    while chunk := response.read(CHUNK):
        yield chunk


def fetch_source(card: Card, cache_dir: Path, filename: str) -> Path:
    """The verified local copy of the card's source.url, downloaded once, as `filename` alone in its folder.

    Alone in its folder, the file can name no external data beside it (safety.py checks the folder).
    """
    src = card.source
    assert src.url and src.sha256 and src.size is not None
    cache = Cache(cache_dir / "downloads")
    blob = cache.verified_blob(src.sha256, src.size) or _download(cache, src.url, src.sha256, src.size)
    view = cache.root / "files" / src.sha256 / filename
    if not (view.is_file() and view.stat().st_ino == blob.stat().st_ino):
        view.parent.mkdir(parents=True, exist_ok=True)
        tmp = view.with_name(f".tmp-{os.getpid()}-{filename}")
        tmp.unlink(missing_ok=True)
        try:
            os.link(blob, tmp)
        except OSError:
            shutil.copyfile(blob, tmp)
        os.replace(tmp, view)
    return view


def _download(cache: Cache, url: str, sha256: str, size: int) -> Path:
    opener = urllib.request.build_opener(_SafeRedirects)
    request = urllib.request.Request(url, headers={"User-Agent": "modelshelf-build"})
    try:
        with cache.lock(sha256), opener.open(request, timeout=TIMEOUT) as response:
            return cache.write_blob(sha256, size, _chunks(response))
    except urllib.error.HTTPError as exc:
        raise SourceDownloadFailed(f"downloading {url} failed: HTTP {exc.code} {exc.reason}") from None
    except IncompleteDownload as exc:
        raise SourceDownloadFailed(f"{url}: {str(exc).replace('catalog.json declares', 'the card declares (size)')}") \
            from None
    except HashMismatch as exc:
        raise SourceDownloadFailed(f"{url}: {str(exc).replace('catalog.json declares', 'the card declares (sha256)')}") \
            from None
    except CacheWriteError as exc:
        raise SourceDownloadFailed(f"cannot keep the download of {url}: {exc}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SourceDownloadFailed(f"downloading {url} failed: {reason}") from None
