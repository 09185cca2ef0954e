"""The `modelshelf` mkdocs plugin: cards in, virtual pages, search data and artifacts out.

Everything that can fail (loading, validating, running recipes, checking ONNX files, vendoring)
happens in `on_config`, which mkdocs runs before it cleans or writes the site directory: a bad
card aborts the build with the full problem list and leaves no half-written site.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from mkdocs.config import config_options as c
from mkdocs.config.base import Config
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, event_priority
from mkdocs.structure.files import File, Files, InclusionLevel

from modelshelf.catalog import SCHEMA_PATH
from modelshelf.catalog.catalog import load_catalog
from modelshelf.catalog.problems import Problem, format_problems

from modelshelf.generator.bundle.stage import add_bundles
from modelshelf.generator.render.catalog_json import catalog_document
from modelshelf.generator.enrich.stage import ModelEntry, enrich
from modelshelf.generator.enrich.versions import redirects
from modelshelf.generator.errors import BuildError, CatalogInvalid
from modelshelf.generator.evaluate.stage import evaluate_catalog
from modelshelf.generator.export.stage import check_exports
from modelshelf.generator.render.onnx_hub_manifest import hub_manifest
from modelshelf.generator.render.pages import render_pages
from modelshelf.generator.render.leaderboard_pages import compare_data, render_leaderboards
from modelshelf.generator.enrich.recipes import default_cache_dir
from modelshelf.generator.export.safety import MB, Limits
from modelshelf.generator.render.search_index import build_search
from modelshelf.generator.tryit.stage import add_tryit
from modelshelf.generator.site.vendor import vendored_files
from modelshelf.generator.site.release import write_release_files
from modelshelf.catalog.client.verify import DEFAULT_ALLOWED_SIGNERS
from modelshelf.generator.site.csp import add_csp
from modelshelf.generator.lock.lockfile import LOCK_NAME, LockInvalid, read_lock
from modelshelf.generator.lock.stage import record
from modelshelf.generator.lock.store import configured_store

log = logging.getLogger(f"mkdocs.plugins.{__name__}")

# Generated pages that the explicit nav lists; every other generated page stays out of the nav
# (each page embeds the nav, so listing every model makes the build quadratic in the catalog).
NAV_PAGES = {"index.md", "tasks/index.md", "leaderboards/index.md", "licenses.md", "reference/card.md", "reference/cli.md"}


class ModelshelfConfig(Config):
    models_dir = c.Type(str, default="models")
    cache_dir = c.Optional(c.Type(str))
    node_modules = c.Type(str, default="node_modules")
    # Limits of generator/export/safety.py: file size cap, and memory and time of each model's smoke run.
    max_model_mb = c.Type(int, default=200)
    smoke_memory_mb = c.Type(int, default=2048)
    smoke_seconds = c.Type(int, default=60)
    # Release files (generator/site/release.py): SHA256SUMS always; SHA256SUMS.sig with this OpenSSH private key
    # (else $MODELSHELF_SIGNING_KEY), checked against `allowed_signers` (else $MODELSHELF_ALLOWED_SIGNERS, else the
    # client's default, catalog/client/data/allowed_signers).
    signing_key = c.Optional(c.Type(str))
    allowed_signers = c.Optional(c.Type(str))
    # Published versions (generator/lock/): the lock beside mkdocs.yml and the folder store of their bytes.
    # `record_lock` (or $MODELSHELF_RECORD_LOCK=1, set by `modelshelf lock`) locks the versions not locked yet.
    lock_file = c.Type(str, default=LOCK_NAME)
    store_dir = c.Type(str, default="store")
    record_lock = c.Type(bool, default=False)
    # More artifact stores, read after store_dir (generator/lock/store.py, docs/deploy.md "Artifact stores"):
    # an S3 bucket {bucket, prefix, endpoint_url, region} (credentials from the environment only; `modelshelf lock`
    # uploads to it) and the published site, whose catalog.json lists its files by SHA-256. Environment overrides:
    # MODELSHELF_STORE_S3_BUCKET, _PREFIX, _ENDPOINT, _REGION, MODELSHELF_STORE_SITE_URL.
    store_s3 = c.Type(dict, default={})
    store_site_url = c.Optional(c.Type(str))


class ModelshelfPlugin(BasePlugin[ModelshelfConfig]):
    def __init__(self) -> None:
        self.entries: list[ModelEntry] = []
        self.pages: dict[str, str] = {}
        self.data_files: dict[str, str] = {}
        self.copied: dict[str, Path] = {}
        # The problems of the last build that failed on the cards, for the preview's error page (generator/site/preview.py).
        self.problems: list[Problem] = []

    def _project_path(self, config: MkDocsConfig, value: str) -> Path:
        base = Path(config.config_file_path).parent if config.config_file_path else Path.cwd()
        return (base / value).resolve()

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        models_dir = self._project_path(config, self.config.models_dir)
        project = self._project_path(config, ".")
        cache_dir = self._project_path(config, self.config.cache_dir) if self.config.cache_dir else default_cache_dir(project)
        site_url = config.site_url or "http://127.0.0.1:8000/"
        self.problems = []
        if not models_dir.is_dir():
            raise PluginError(f"models folder {models_dir} does not exist; set plugins.modelshelf.models_dir in mkdocs.yml")
        try:
            # Cheap checks first: a missing node_modules should not cost a full run of the recipes.
            vendored = vendored_files(self._project_path(config, self.config.node_modules))
            result = load_catalog([models_dir], root=models_dir)
            if not result.ok:
                raise CatalogInvalid(result.problems)
            lock = read_lock(self._project_path(config, self.config.lock_file))
            recording = self.config.record_lock or os.environ.get("MODELSHELF_RECORD_LOCK") == "1"
            store = configured_store(self._project_path(config, self.config.store_dir), s3=self.config.store_s3,
                                     site_url=self.config.store_site_url, upload=recording)
            limits = Limits(max_file_bytes=self.config.max_model_mb * MB, memory_mb=self.config.smoke_memory_mb,
                            seconds=self.config.smoke_seconds)
            entries = enrich(result.cards, result.documents, cache_dir=cache_dir, site_url=site_url, limits=limits,
                             lock=lock, store=store)
            # Each later stage returns new entries with its typed record filled in, or raises CatalogInvalid
            # or BuildError with what is wrong.
            entries = check_exports(entries, result.documents, cache_dir=cache_dir, limits=limits)  # smoke runs, parity, variants
            entries = evaluate_catalog(entries, result.documents, cache_dir=cache_dir)  # verified metrics, latency, insight
            entries = add_tryit(entries)
            # Bundles carry each model's catalog.json entry as it is before the bundle itself is listed.
            entries = add_bundles(entries, catalog_document(entries, site_url)["models"], cache_dir=cache_dir, site_url=site_url,
                                  lock=lock, store=store)
            self.pages = render_pages(entries, site_name=config.site_name)
            self.pages.update(render_leaderboards(entries))  # leaderboards/ and compare/ (issue 13)
            search_files = build_search(entries)
            if recording:
                for ref in record(entries, lock, store):
                    log.info("modelshelf: locked %s", ref)
        except LockInvalid as exc:
            raise PluginError(f"{exc}\nNothing was written.") from None
        except CatalogInvalid as exc:
            self.problems = list(exc.problems)
            raise PluginError("the catalog has problems; nothing was written:\n" + format_problems(exc.problems)) from None
        except BuildError as exc:
            raise PluginError(f"{exc}\nNothing was written.") from None
        self.entries = entries
        self.data_files = {
            **search_files,  # search/manifest.json and its shards (generator/render/search_index.py)
            "catalog.json": json.dumps(catalog_document(self.entries, site_url), indent=1, sort_keys=True, allow_nan=False),
            "ONNX_HUB_MANIFEST.json": json.dumps(hub_manifest(self.entries), indent=1, sort_keys=True),
            "compare/data.json": compare_data(self.entries),  # parameter counts and metric directions for compare.js
            **redirects(self.entries),  # models/<org>/<name>/<latest version>/ -> models/<org>/<name>/
        }
        self.copied = {f.dest: f.source for f in vendored}
        self.copied["schema/card.schema.json"] = SCHEMA_PATH
        for entry in self.entries:
            for artifact in entry.all_files:
                if artifact.local is not None and not artifact.hosted:  # a card's source.url is linked, not copied
                    self.copied[artifact.url] = artifact.local
        log.info("modelshelf: %d models, %d pages", len(self.entries), len(self.pages))
        return config

    def on_files(self, files: Files, *, config: MkDocsConfig) -> Files:
        for src_uri, text in self.pages.items():
            inclusion = InclusionLevel.INCLUDED if src_uri in NAV_PAGES else InclusionLevel.NOT_IN_NAV
            files.append(File.generated(config, src_uri, content=text, inclusion=inclusion))
        for dest, text in self.data_files.items():
            files.append(File.generated(config, dest, content=text))
        for dest, source in self.copied.items():
            files.append(File.generated(config, dest, abs_src_path=str(source)))
        return files

    def on_post_page(self, output: str, *, page: Any, config: MkDocsConfig) -> str:
        # The Content-Security-Policy meta (site_theme/main.html): hashes of the theme's inline scripts only.
        return add_csp(output, page.content or "")

    def on_post_template(self, output_content: str, *, template_name: str, config: MkDocsConfig) -> str:
        return add_csp(output_content)  # 404.html

    @event_priority(-100)  # last, after every other plugin has written its files: SHA256SUMS hashes the final bytes
    def on_post_build(self, *, config: MkDocsConfig) -> None:
        from modelshelf.generator.site.sri import add_integrity, dynamic_scripts

        key = self.config.signing_key or os.environ.get("MODELSHELF_SIGNING_KEY") or None
        signers = self.config.allowed_signers or os.environ.get("MODELSHELF_ALLOWED_SIGNERS") or None
        try:
            # Integrity first (generator/site/sri.py): it rewrites the pages, and SHA256SUMS must hash their final bytes.
            theme_dir = Path(config.theme.custom_dir) if config.theme.custom_dir else None
            add_integrity(Path(config.site_dir), dynamic_scripts=dynamic_scripts(theme_dir), site_url=config.site_url or "")
            write_release_files(Path(config.site_dir), key=self._project_path(config, key) if key else None,
                                allowed_signers=self._project_path(config, signers) if signers else DEFAULT_ALLOWED_SIGNERS)
        except (BuildError, OSError) as exc:
            raise PluginError(f"{exc}\nNothing was published.") from None

    def on_serve(self, server: Any, *, config: MkDocsConfig, builder: Any) -> Any:
        server.watch(str(self._project_path(config, self.config.models_dir)))
        return server
