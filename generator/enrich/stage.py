"""Enrichment: every derived value a page, the search index or catalog.json shows, computed once.

For each card: produce its ONNX file (committed, or by its recipe), check it, read its signature,
compare it with the card, hash it, and prepare the sanitised description and usage snippets.
Templates only print what this module computes.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelshelf.catalog.client.cache import sha256_of as sha256_file
from modelshelf.catalog.loader import Document
from modelshelf.catalog.model import Card
from modelshelf.catalog.problems import CardReporter
from modelshelf.catalog.validate import tasks

from modelshelf.generator.errors import BuildError, CatalogInvalid
from modelshelf.generator.enrich.onnx_info import (INVALID_MODEL_HINT, Signature, TensorInfo, checked_signature,
                                                   signature_mismatches)
from modelshelf.generator.enrich.recipes import run_recipe, tool_versions
from modelshelf.generator.enrich.remote import SourceDownloadFailed, fetch_source
from modelshelf.generator.enrich.versions import VersionLink, assign_versions
from modelshelf.generator.lock.lockfile import Lock, LockedVersion
from modelshelf.generator.lock.stage import LockedBytesMissing, check_locked, locked_outputs, pin_published
from modelshelf.generator.lock.store import Store
from modelshelf.generator.export.safety import Limits, check_file
from modelshelf.generator.enrich.sanitize import render_markdown
from modelshelf.generator.render.escape import one_line, shell_word, url_for_shell

if TYPE_CHECKING:  # the later stages import this module
    from modelshelf.generator.bundle.stage import Deploy
    from modelshelf.generator.evaluate.insight import InsightView
    from modelshelf.generator.evaluate.latency import Latency
    from modelshelf.generator.evaluate.stage import EvaluationResult
    from modelshelf.generator.export.stage import ExportReport
    from modelshelf.generator.tryit.stage import TryIt

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Artifact:
    """A published file: where its bytes are on disk (None for url sources), where the site serves it."""

    filename: str
    size: int
    sha256: str
    url: str  # relative to the site root, or absolute for url sources
    local: Path | None
    verified: bool  # True when this build hashed the bytes itself
    kind: str  # "onnx" or "card"

    @property
    def size_text(self) -> str:
        return human_size(self.size)

    @property
    def hosted(self) -> bool:
        """Hosted elsewhere (a card's source.url, always https): linked by its absolute URL, never copied into the site."""
        return self.url.startswith("https://")


@dataclass(frozen=True)
class ModelEntry:
    card: Card
    url: str  # page url relative to the site root, e.g. models/acme/iris/
    src_uri: str  # virtual Markdown file, e.g. models/acme/iris.md
    task_title: str
    onnx: Artifact
    files: tuple[Artifact, ...]
    signature: Signature
    signature_from_card: bool  # True when the ONNX bytes were not available to read
    description_html: str
    python_snippet: str
    shell_snippet: str
    recipe_cached: bool | None = None
    recipe_dir: Path | None = None  # the cached recipe output folder (model.onnx, parity.json, variants)
    recipe_given: tuple[str, ...] = ()  # files the build put beside the recipe when it ran (evaluation_split.json)
    # Filled by the later stages, each returning new entries (dataclasses.replace); None until then.
    export: ExportReport | None = None  # export/stage.py: check_exports
    evaluation: EvaluationResult | None = None  # evaluate/stage.py: evaluate_catalog
    latency: Latency | None = None  # evaluate/stage.py: evaluate_catalog
    insight: InsightView | None = None  # evaluate/stage.py: evaluate_catalog
    tryit: TryIt | None = None  # tryit/stage.py: add_tryit
    deploy: Deploy | None = None  # bundle/stage.py: add_bundles
    # enrich/versions.py: whether `@latest` is this version, and every version of the model (newest first).
    is_latest: bool = True
    versions: tuple[VersionLink, ...] = ()
    # Further files to publish and list on the page, in the order the stages add them
    # (variants, the tokenizer's vocabulary, the deploy bundle).
    added_files: tuple[Artifact, ...] = ()

    @property
    def all_files(self) -> tuple[Artifact, ...]:
        return self.files + self.added_files


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _files_prefix(card: Card, sha: str) -> str:
    # Content hash in the URL: GitHub Pages caches for 10 minutes, and published versions never change.
    return f"files/{card.id}/{card.version}/{sha[:12]}"


def _snippet_value(value: Any) -> str:
    return json.dumps(value)


def _python_snippet(card: Card, onnx_name: str) -> str:
    lines = ["import numpy as np", "import onnxruntime as ort", "",
             f"session = ort.InferenceSession({onnx_name!r}, providers=['CPUExecutionProvider'])"]
    example = card.examples[0] if card.examples else None
    feeds = []
    for t in card.inputs:
        value = dict(example.inputs).get(t.name) if example else None
        if value is None:
            shape = [1 if not isinstance(d, int) else d for d in t.shape]
            # A comment ends at the line break: the description is put on one line so it cannot add code.
            comment = one_line(t.description or "your input")
            lines.append(f"{_ident(t.name)} = np.zeros({shape}, dtype=np.{t.dtype})  # {comment}")
        else:
            lines.append(f"{_ident(t.name)} = np.array({_snippet_value(value)}, dtype=np.{t.dtype})")
        feeds.append(f"{t.name!r}: {_ident(t.name)}")
    lines.append(f"outputs = session.run(None, {{{', '.join(feeds)}}})")
    for i, t in enumerate(card.outputs):
        lines.append(f"print({t.name!r}, outputs[{i}])")
    return "\n".join(lines)


def _ident(name: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return out if out and not out[0].isdigit() else f"x_{out}"


def _shell_snippet(card: Card, artifact: Artifact, site_url: str) -> str:
    # Every card value is one quoted shell word on its own line's command: a newline, `;` or `$(...)`
    # in a URL cannot add a command that a visitor would paste before `sha256sum -c`.
    url = artifact.url if artifact.hosted else f"{site_url.rstrip('/')}/{artifact.url}"
    name = shell_word(artifact.filename)
    return "\n".join([
        f"curl -fLo {name} {url_for_shell(url)}",
        f"echo {shell_word(f'{artifact.sha256}  {artifact.filename}')} | sha256sum -c -",
    ])


def _onnx_path(card: Card, cache_dir: Path, versions: dict[str, str | None], locked: LockedVersion | None,
               store: Store | None) -> tuple[Path, bool | None, tuple[str, ...]]:
    """(the ONNX file, whether a recipe's output came from a cache, the files the build gave the recipe)."""
    if card.source.file:
        return card.folder / card.source.file, None, ()
    if card.source.recipe and locked is not None and store is not None:  # the recipe does not run
        return locked_outputs(card, locked, store, cache_dir, versions) / "model.onnx", True, locked.given
    if card.source.recipe:
        out = run_recipe(card, cache_dir, versions=versions)
        return out.model, out.cached, out.given
    return fetch_source(card, cache_dir, f"{card.short_name}.onnx"), None, ()  # source.url


def artifact_for(card: Card, path: Path, filename: str, kind: str) -> Artifact:
    """Hash a local file and give it its content-addressed place in the site."""
    sha = sha256_file(path)
    return Artifact(filename, path.stat().st_size, sha, f"{_files_prefix(card, sha)}/{filename}", path, True, kind)


def enrich(cards: list[Card], documents: dict[str, Document], *, cache_dir: Path, site_url: str,
           limits: Limits = Limits(), lock: Lock | None = None, store: Store | None = None) -> list[ModelEntry]:
    """Turn validated cards into page-ready entries; raises CatalogInvalid with every model problem found.

    A version in `lock` must match it (generator/lock/stage.py) and is built from the bytes in `store`.
    """
    reports: list[CardReporter] = []
    titles = {t["id"]: t["title"] for t in tasks()}
    versions = tool_versions()
    entries: list[ModelEntry] = []
    for card in cards:
        problems = CardReporter(documents.get(card.ref), card.card_path)
        reports.append(problems)
        locked = lock.get(card.id, card.version) if lock is not None else None
        if locked is not None and not check_locked(card, locked, problems):
            continue
        try:
            path, cached, given = _onnx_path(card, cache_dir, versions, locked, store)
        except LockedBytesMissing as exc:
            problems.add(("source",), str(exc), "point the build at a store that holds them (plugins.modelshelf.store_dir), "
                         "or rebuild on the machine that locked them; `modelshelf reproduce` shows how far this run is off")
            continue
        except SourceDownloadFailed as exc:
            problems.add(("source", "url"), str(exc), "check the URL, and that sha256 and size are those of the file it serves "
                         "(`curl -fL URL | sha256sum`; `wc -c`)")
            continue
        onnx_name = f"{card.short_name}.onnx"
        # Our own checks (generator/export/safety.py) come before onnx.checker reads the file and its external data.
        unsafe = check_file(path, card.folder if card.source.file else path.parent, limits)
        for finding in unsafe:
            problems.add(("source",), finding.message, finding.hint)
        if unsafe:
            continue
        signature, invalid = checked_signature(path)
        if signature is None:
            problems.add(("source",), invalid, INVALID_MODEL_HINT)
            continue
        for where, message, hint in signature_mismatches(card, signature):
            problems.add(where, message, hint)
        sha, size = sha256_file(path), path.stat().st_size
        # A url source stays where it is hosted (the site links to it); every other file is served by the site.
        url = card.source.url or f"{_files_prefix(card, sha)}/{onnx_name}"
        onnx_artifact = Artifact(onnx_name, size, sha, url, path, True, "onnx")
        from_card = False
        card_sha, card_size = sha256_file(card.card_path), card.card_path.stat().st_size
        card_artifact = Artifact("card.yaml", card_size, card_sha, f"{_files_prefix(card, card_sha)}/card.yaml",
                                 card.card_path, True, "card")
        try:
            # A locked version keeps publishing the card file it was locked with (its texts and status may change since).
            card_artifact = pin_published(locked, card_artifact, store, cache_dir)
        except LockedBytesMissing as exc:
            problems.add(("version",), str(exc), "restore the store's blobs (git checkout -- store), or run `modelshelf lock` "
                         "where they are")
            continue
        entries.append(ModelEntry(
            card=card, url=f"models/{card.id}/", src_uri=f"models/{card.id}.md",
            task_title=titles.get(card.task, card.task), onnx=onnx_artifact, files=(onnx_artifact, card_artifact),
            signature=signature, signature_from_card=from_card,
            description_html=render_markdown(card.description),
            python_snippet=_python_snippet(card, onnx_name),
            shell_snippet=_shell_snippet(card, onnx_artifact, site_url),
            recipe_cached=cached, recipe_dir=path.parent if (path is not None and card.source.recipe) else None,
            recipe_given=given,
        ))
    found = [p for report in reports for p in report.items]
    if found:
        raise CatalogInvalid(sorted(found))
    return assign_versions(entries)


__all__ = ["Artifact", "ModelEntry", "enrich", "human_size", "sha256_file", "BuildError", "TensorInfo"]
