"""Errors of the download client and its cache.

Each class says who raises it. Download errors also inherit a stdlib type (as huggingface_hub's
`errors.py` does), so a caller can catch `OSError` or `LookupError` without importing this module.
Only the CLI turns them into exit codes.
"""
from __future__ import annotations


class ModelshelfError(Exception):
    """Base class of every error raised by `modelshelf.catalog.client.download` and `modelshelf.catalog.client.cache`."""


class CatalogUnavailable(ModelshelfError, OSError):
    """Raised by the client when the site's catalog.json cannot be fetched or is not a Modelshelf catalog."""


class ModelNotFound(ModelshelfError, LookupError):
    """Raised by the client when the catalog has no model with the requested id."""


class VersionNotFound(ModelNotFound):
    """Raised by the client when the model exists but not in the requested version (or file kind)."""


class NotInCache(ModelshelfError, FileNotFoundError):
    """Raised in offline mode when the requested model (or the catalog) is not in the local cache."""


class DownloadError(ModelshelfError, OSError):
    """Raised by the client when a download fails; no partial file is left in the cache."""


class IncompleteDownload(DownloadError):
    """Raised when the server sent fewer (or more) bytes than catalog.json declares, or the connection dropped."""


class HashMismatch(DownloadError):
    """Raised when the downloaded bytes do not have the SHA-256 that catalog.json declares."""


class RedirectRefused(DownloadError):
    """Raised when the server redirects a download to another host (or downgrades https to http)."""


class CacheWriteError(DownloadError):
    """Raised when the cache cannot be written (disk full, read-only, permission); `errno` is kept."""


class LockTimeout(ModelshelfError, TimeoutError):
    """Raised when another process holds the download lock of the same file for too long."""


__all__ = [
    "CacheWriteError", "CatalogUnavailable", "DownloadError", "HashMismatch", "IncompleteDownload", "LockTimeout",
    "ModelNotFound", "ModelshelfError", "NotInCache", "RedirectRefused", "VersionNotFound",
]
