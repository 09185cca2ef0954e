"""`modelshelf validate`, past the card itself: the checks against the ONNX file, when the file is at hand.

"Valid" should mean the build will accept the card, so `validate` also runs, for every card whose ONNX
file exists without running anything (a committed file, the recipe's cache entry, a locked version's
blob in the folder store, a downloaded url source):

- the safety checks that read no model (size, external data, initializers; `safety.check_file`),
- the signature against the card (names, dtypes, shapes; `onnx_info.signature_mismatches`),
- every card example on the file (`export.stage.smoke_examples`, which the build runs too: the smoke run in a
  child process, cached by SHA-256, so both report the same message at the same line).

A card whose file is not at hand (a recipe not yet run) is listed as skipped: `modelshelf export` or a
build makes the file. Parity, variants, evaluation and bundles stay with `modelshelf export` and the build.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelshelf.catalog.client.cache import sha256_of
from modelshelf.catalog.loader import Document
from modelshelf.catalog.model import Card
from modelshelf.catalog.problems import CardReporter, Problem

from modelshelf.generator.enrich.onnx_info import INVALID_MODEL_HINT, checked_signature, signature_mismatches
from modelshelf.generator.enrich.recipes import given_files, recipe_key, tool_versions, verify_entry
from modelshelf.generator.export.safety import Limits, check_file
from modelshelf.generator.export.stage import smoke_examples
from modelshelf.generator.lock.lockfile import Lock


@dataclass
class AtHand:
    problems: list[Problem]
    checked: list[str]  # ORG/NAME@VERSION whose file was checked
    skipped: dict[str, str]  # ORG/NAME@VERSION -> why its file is not at hand


def _file_at_hand(card: Card, cache_dir: Path, lock: Lock | None, store_dir: Path | None,
                  versions: dict[str, str | None]) -> tuple[Path | None, str]:
    """(the ONNX file, "") or (None, why not), without running anything."""
    if card.source.file:
        return card.folder / card.source.file, ""
    if card.source.recipe:
        entry = cache_dir / "recipes" / recipe_key(card, versions, given_files(card))
        if verify_entry(entry, "model.onnx") is None:
            return entry / "model.onnx", ""
        locked = lock.get(card.id, card.version) if lock is not None else None
        model = locked.outputs.get("model.onnx") if locked is not None else None
        if model is not None and store_dir is not None:
            blob = store_dir / "sha256" / model.sha256[:2] / model.sha256
            if blob.is_file() and blob.stat().st_size == model.size:
                return blob, ""
        return None, "its recipe has not run here yet"
    blob = cache_dir / "downloads" / "blobs" / str(card.source.sha256)
    return (blob, "") if blob.is_file() else (None, "its source.url has not been downloaded yet")


def check_at_hand(cards: Sequence[Card], documents: Mapping[str, Document], *, cache_dir: Path, lock: Lock | None = None,
                  store_dir: Path | None = None, limits: Limits = Limits()) -> AtHand:
    out = AtHand([], [], {})
    versions = tool_versions()
    for card in cards:
        path, why = _file_at_hand(card, cache_dir, lock, store_dir, versions)
        if path is None:
            out.skipped[card.ref] = why
            continue
        out.checked.append(card.ref)
        report = CardReporter(documents.get(card.ref), card.card_path)
        findings = check_file(path, card.folder if card.source.file else path.parent, limits)
        for finding in findings:
            report.add(("source",), finding.message, finding.hint)
        if not findings:
            _check_file(card, path, report, cache_dir, limits)
        out.problems.extend(report.items)
    return out


def _check_file(card: Card, path: Path, report: CardReporter, cache_dir: Path, limits: Limits) -> None:
    signature, invalid = checked_signature(path)
    if signature is None:
        report.add(("source",), invalid, INVALID_MODEL_HINT)
        return
    mismatches = signature_mismatches(card, signature)
    for where, message, hint in mismatches:
        report.add(where, message, hint)
    if not mismatches:
        smoke_examples(card, path, sha256_of(path), signature, report, cache_dir, limits)
