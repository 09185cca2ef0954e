"""The lock settings of a project, read from its mkdocs.yml (plugins.modelshelf), for the `lock` and `reproduce` commands."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelshelf.catalog.catalog import load_catalog
from modelshelf.catalog.model import Card
from modelshelf.catalog.problems import format_problems

from modelshelf.generator.lock.lockfile import LOCK_NAME, Lock, LockedVersion, LockInvalid, read_lock
from modelshelf.generator.lock.store import Store, configured_store


class ProjectError(Exception):
    """The project, its cards or its lock cannot be used; the message says why."""


@dataclass(frozen=True)
class Settings:
    models_dir: Path
    lock_path: Path
    store_dir: Path
    store_s3: dict[str, Any] = field(default_factory=dict)
    store_site_url: str | None = None


def settings(config_file: Path) -> Settings:
    from mkdocs.config import load_config
    from mkdocs.exceptions import ConfigurationError

    try:
        config = load_config(str(config_file))
    except (ConfigurationError, OSError) as exc:
        raise ProjectError(f"{config_file}: {exc}") from None
    plugin = config.plugins.get("modelshelf")
    if plugin is None:
        raise ProjectError(f"{config_file} does not use the modelshelf plugin (plugins: [modelshelf])")
    base = config_file.resolve().parent
    options = plugin.config
    return Settings(base / options.get("models_dir", "models"), base / options.get("lock_file", LOCK_NAME),
                    base / options.get("store_dir", "store"), dict(options.get("store_s3") or {}),
                    options.get("store_site_url") or None)


def read(s: Settings) -> Lock:
    try:
        return read_lock(s.lock_path)
    except LockInvalid as exc:
        raise ProjectError(str(exc)) from None


def stores(s: Settings, *, upload: bool = False) -> Store:
    """Every configured store, as the build uses them (store.configured_store): folder, then S3, then the published site."""
    return configured_store(s.store_dir, s3=s.store_s3, site_url=s.store_site_url, upload=upload)


def _cards(s: Settings) -> list[Card]:
    result = load_catalog([s.models_dir], root=s.models_dir)
    if not result.ok:
        raise ProjectError("the catalog has problems:\n" + format_problems(result.problems))
    return result.cards


def unlocked(s: Settings, locked: set[str]) -> list[str]:
    """The ORG/NAME@VERSION of every card whose version is not in the lock."""
    return sorted(ref for card in _cards(s) if (ref := f"{card.id}@{card.version}") not in locked)


def locked_card(s: Settings, ref: str) -> tuple[Card, LockedVersion]:
    model_id, _, version = ref.partition("@")
    if not version:
        raise ProjectError(f"{ref!r}: give the version, e.g. {model_id}@1.0.0")
    versions = [c for c in _cards(s) if c.id == model_id]
    if not versions:
        raise ProjectError(f"{model_id} is not a model of {s.models_dir}")
    card = next((c for c in versions if c.version == version), None)
    if card is None:
        raise ProjectError(f"{model_id} has no card of version {version} in {s.models_dir}; it has "
                           + ", ".join(c.version for c in versions))
    locked = read(s).get(model_id, version)
    if locked is None:
        raise ProjectError(f"{ref} is not in {s.lock_path}; run `modelshelf lock` first")
    if not card.source.recipe:
        raise ProjectError(f"{ref} is a committed file, not a recipe's output: there is nothing to re-run")
    return card, locked
