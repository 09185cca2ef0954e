"""The download client: find a model in a site's catalog.json, download it, verify it, cache it.

Imports cards and the runtime only, never the build. `pull` and `session` are the Python API:

    >>> from modelshelf.catalog import client
    >>> path = client.pull("modelshelf/iris-logreg@1.0.0")
"""
from __future__ import annotations

from .download import (Client, MetricFilter, ModelRow, RemoteFile, TerminalProgress, client, default_site_url,
                       normalize_site_url, parse_metric_filter, parse_model_ref, pull, search, session)

__all__ = ["Client", "MetricFilter", "ModelRow", "RemoteFile", "TerminalProgress", "client", "default_site_url",
           "normalize_site_url", "parse_metric_filter", "parse_model_ref", "pull", "search", "session"]
