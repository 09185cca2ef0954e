"""The download client: find a model in a site's catalog.json, download it, verify it, cache it.

Imports cards and the runtime only, never the build. `pull` and `session` are the Python API:

    >>> from modelshelf.catalog import client
    >>> path = client.pull("modelshelf/iris-logreg@1.0.0")
    >>> client.load("modelshelf/digits-cnn").predict_file("digit.png")   # the page's answer for that picture
"""
from __future__ import annotations

from .download import (Client, MetricFilter, ModelRow, RemoteFile, TerminalProgress, client, default_site_url,
                       normalize_site_url, parse_metric_filter, parse_model_ref, pull, search, session)
from .deploy import load

__all__ = ["Client", "MetricFilter", "ModelRow", "RemoteFile", "TerminalProgress", "client", "default_site_url", "load",
           "normalize_site_url", "parse_metric_filter", "parse_model_ref", "pull", "search", "session"]
