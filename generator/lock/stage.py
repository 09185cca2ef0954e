"""Published means locked: a locked version is checked against the lock and built from locked bytes.

For a card whose `id@version` is in the lock (lockfile.py):
- every locked card field and every file of its folder must be as locked, or the build fails at
  that field with the bump hint (a pull request cannot change what a version published);
- its recipe does not run: the recipe's outputs come from the artifact store (store.py), checked
  against the lock. Only for a blob the store lacks does the recipe run, and its output counts only
  if it is byte-identical to the lock (a wheel's ONNX file is; a trained model on another CPU is not).

`record` adds the versions that are not locked yet (the `modelshelf lock` command).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from modelshelf.catalog.client.cache import sha256_of
from modelshelf.catalog.model import Card
from modelshelf.catalog.problems import CardReporter

from modelshelf.generator.enrich.recipes import MANIFEST, NOT_INPUTS, RecipeError, run_recipe, verify_entry
from modelshelf.generator.lock.lockfile import (LOCK_NAME, LOCKED_FIELDS, Lock, LockedFile, LockedVersion, field_hash,
                                                write_lock)
from modelshelf.generator.lock.store import Store, StoreError

if TYPE_CHECKING:
    from modelshelf.generator.enrich.stage import Artifact, ModelEntry

log = logging.getLogger(__name__)

BUMP_HINT = ("a published version never changes: undo this change, or publish it as a new version "
             "(raise `version`, e.g. 1.0.0 -> 1.0.1, and run `modelshelf lock`)")
# Files a recipe run writes about itself (recipes.py); they are not part of what it published.
RUN_RECORDS = {MANIFEST, "meta.json"}


class LockedBytesMissing(Exception):
    """A locked version's bytes are in no store and a recipe run did not reproduce them."""


def folder_files(card: Card) -> dict[str, LockedFile]:
    """Every file of the model folder that the build reads (card.yaml and README.md are checked by field)."""
    out = {}
    for path in sorted(p for p in card.folder.rglob("*") if p.is_file()):
        rel = path.relative_to(card.folder).as_posix()
        if rel not in NOT_INPUTS and "__pycache__" not in rel:
            out[rel] = LockedFile(sha256_of(path), path.stat().st_size)
    return out


def output_files(folder: Path) -> dict[str, Path]:
    """What a recipe published: its output folder without the run's own records (log, meta, manifest)."""
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in RUN_RECORDS and p.suffix != ".log"}


def check_locked(card: Card, locked: LockedVersion, rep: CardReporter) -> bool:
    """Report every difference between the card's folder and what `locked` published; True if there is none."""
    before = len(rep.items)
    for name in LOCKED_FIELDS:
        if field_hash(card.raw.get(name)) != locked.fields.get(name, field_hash(None)):
            rep.add((name,), f"`{name}` differs from what {locked.ref} published (recorded in {LOCK_NAME})", BUMP_HINT)
    current = folder_files(card)
    for rel in sorted(set(current) | set(locked.folder)):
        now, then = current.get(rel), locked.folder.get(rel)
        if now == then:
            continue
        what = "was added" if then is None else "was removed" if now is None else "changed"
        rep.add(("source",), f"{rel} {what} since {locked.ref} was published (recorded in {LOCK_NAME})", BUMP_HINT)
    return len(rep.items) == before


def locked_outputs(card: Card, locked: LockedVersion, store: Store, cache_dir: Path,
                   versions: dict[str, str | None]) -> Path:
    """A folder holding exactly the recipe outputs `locked` records, from the store (or a byte-identical run)."""
    key = field_hash({name: [f.sha256, f.size] for name, f in sorted(locked.outputs.items())})
    dest = cache_dir / "locked" / key
    if dest.exists():
        if verify_entry(dest, "model.onnx") is None:
            return dest
        shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=".tmp-", dir=dest.parent))
    try:
        missing = {}
        for rel, f in locked.outputs.items():
            try:
                store.get(f.sha256, f.size, staged / rel)
            except StoreError as exc:
                missing[rel] = (f, str(exc))
        if missing:
            _reproduce_missing(card, locked, store, cache_dir, versions, missing, staged)
        hashes = {rel: f.sha256 for rel, f in locked.outputs.items()}
        (staged / MANIFEST).write_text(json.dumps({"key": key, "files": hashes}, sort_keys=True, indent=1), encoding="utf-8")
        os.replace(staged, dest)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        if verify_entry(dest, "model.onnx") is not None:
            raise
    return dest


def _reproduce_missing(card: Card, locked: LockedVersion, store: Store, cache_dir: Path,
                       versions: dict[str, str | None], missing: dict[str, tuple[LockedFile, str]], staged: Path) -> None:
    log.info("%s: %d locked file(s) not in %s (%s); running the recipe to reproduce them byte for byte",
             locked.ref, len(missing), store, ", ".join(sorted(missing)))
    try:
        produced = output_files(run_recipe(card, cache_dir, versions=versions).model.parent)
    except RecipeError as exc:
        raise LockedBytesMissing(f"{', '.join(sorted(missing))} of {locked.ref} are not in {store}, "
                                 f"and the recipe could not run to reproduce them: {exc}") from None
    differ = []
    for rel, (f, _) in sorted(missing.items()):
        path = produced.get(rel)
        sha = sha256_of(path) if path is not None else None
        if sha != f.sha256:
            differ.append(f"{rel} (locked {f.sha256[:12]}, this run {sha[:12] if sha else 'did not write it'})")
            continue
        assert path is not None
        shutil.copyfile(path, staged / rel)
        store.put(path, f.sha256)
    if differ:
        raise LockedBytesMissing(
            f"{locked.ref}: the locked bytes of {'; '.join(differ)} are not in {store}, and the recipe run on this "
            "machine made different bytes (training is not bit-identical across CPUs)")


def pin_published(locked: LockedVersion | None, artifact: Artifact, store: Store | None, cache_dir: Path) -> Artifact:
    """The file a locked version published under this name: this build's if the bytes are the same, else the store's.

    Only the card file and the deploy bundle can differ (their texts, status or templates changed since); the model
    files are the locked outputs already. Raises LockedBytesMissing when no store has the published bytes.
    """
    want = locked.published.get(artifact.filename) if locked is not None else None
    if locked is None or want is None or want.sha256 == artifact.sha256 or artifact.hosted:
        return artifact
    local = cache_dir / "published" / want.sha256 / artifact.filename
    if not (local.is_file() and local.stat().st_size == want.size and sha256_of(local) == want.sha256):
        try:
            if store is None:
                raise StoreError("no artifact store is configured")
            store.get(want.sha256, want.size, local)
        except StoreError as exc:
            raise LockedBytesMissing(f"{locked.ref} published {artifact.filename} as {want.sha256[:12]} and this build made "
                                     f"{artifact.sha256[:12]}; the published bytes are not available: {exc}") from None
    url = f"{artifact.url.rsplit('/', 2)[0]}/{want.sha256[:12]}/{artifact.filename}"
    return replace(artifact, sha256=want.sha256, size=want.size, url=url, local=local)


def record(entries: list[ModelEntry], lock: Lock, store: Store) -> list[str]:
    """Lock every built version not locked yet: its files go into the store, its record into the lock."""
    added = []
    for entry in entries:
        card = entry.card
        if lock.get(card.id, card.version) is not None:
            continue
        outputs = {}
        if card.source.recipe and entry.recipe_dir is not None:
            for rel, path in output_files(entry.recipe_dir).items():
                sha = sha256_of(path)
                store.put(path, sha)
                outputs[rel] = LockedFile(sha, path.stat().st_size)
        metrics = dict(entry.evaluation.metrics) if entry.evaluation is not None else {}
        fields = {name: field_hash(card.raw[name]) for name in LOCKED_FIELDS if card.raw.get(name) is not None}
        published = {}
        for artifact in entry.all_files:
            if artifact.local is not None and not artifact.hosted:
                store.put(artifact.local, artifact.sha256)
            published[artifact.filename] = LockedFile(artifact.sha256, artifact.size)
        version = LockedVersion(card.id, card.version, folder_files(card), outputs, fields, metrics, published,
                                entry.recipe_given)
        lock.versions[version.ref] = version
        added.append(version.ref)
    if added:
        write_lock(lock)
    return added
