"""The versions of a model: which one is `latest`, where each one's page is, and what the version list shows.

A model keeps several versions as models/<org>/<name>/<version>/card.yaml (or one card.yaml). Every
version is built like a model of its own; this module only places them:
- `latest` is the newest active version (a release before a pre-release); with none active, the
  newest deprecated one; a model whose versions are all yanked has no latest, and is not in search;
- the latest version's page is models/<org>/<name>/ and every other version's page is
  models/<org>/<name>/<version>/; the latest's versioned address redirects to its page
  (`redirects`), so every version keeps an address of its own that never changes;
- every entry carries the model's version list (newest first), for the selector and the changelog.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from modelshelf.catalog.model import Card, version_key

from modelshelf.generator.enrich.sanitize import render_markdown

if TYPE_CHECKING:
    from modelshelf.generator.enrich.stage import ModelEntry


@dataclass(frozen=True)
class VersionLink:
    version: str
    status: str  # active, deprecated or yanked
    status_reason: str | None
    changelog_html: str  # sanitised Markdown, "" without a changelog
    url: str  # the version's page, relative to the site root
    is_latest: bool


def _release_first(card: Card) -> tuple[object, ...]:
    is_release = "-" not in card.version.split("+")[0]
    return (is_release, version_key(card.version))


def latest_of(cards: list[Card]) -> Card | None:
    """The version `@latest` means: the newest active one, else the newest deprecated one; None if all are yanked."""
    for status in ("active", "deprecated"):
        candidates = [c for c in cards if c.status == status]
        if candidates:
            return max(candidates, key=_release_first)
    return None


def page_paths(card: Card, is_latest: bool) -> tuple[str, str]:
    """(url, src_uri) of a version's page."""
    if is_latest:
        return f"models/{card.id}/", f"models/{card.id}.md"
    return f"models/{card.id}/{card.version}/", f"models/{card.id}/{card.version}.md"


def assign_versions(entries: list[ModelEntry]) -> list[ModelEntry]:
    """Each entry with its page address, whether it is the latest, and its model's version list."""
    by_id: dict[str, list[ModelEntry]] = defaultdict(list)
    for entry in entries:
        by_id[entry.card.id].append(entry)
    out = []
    for group in by_id.values():
        latest = latest_of([e.card for e in group])
        newest_first = sorted(group, key=lambda e: version_key(e.card.version), reverse=True)
        links = tuple(VersionLink(e.card.version, e.card.status, e.card.status_reason,
                                  render_markdown(e.card.changelog) if e.card.changelog else "",
                                  page_paths(e.card, e.card is latest)[0], e.card is latest) for e in newest_first)
        for entry in group:
            url, src_uri = page_paths(entry.card, entry.card is latest)
            out.append(replace(entry, url=url, src_uri=src_uri, is_latest=entry.card is latest, versions=links))
    return sorted(out, key=lambda e: (e.card.id, version_key(e.card.version)))


def redirects(entries: list[ModelEntry]) -> dict[str, str]:
    """models/<org>/<name>/<version>/index.html of each latest version: a page that sends the visitor to its page."""
    pages = {}
    for entry in entries:
        if entry.is_latest:
            pages[f"models/{entry.card.id}/{entry.card.version}/index.html"] = "\n".join([
                "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
                f"<title>{entry.card.id}@{entry.card.version}</title>",
                '<meta http-equiv="refresh" content="0; url=../">', '<link rel="canonical" href="../">',
                '<meta name="robots" content="noindex">', "</head><body>",
                f'<p>Version {entry.card.version} is the latest version: <a href="../">go to its page</a>.</p>',
                "</body></html>", ""])
    return pages
