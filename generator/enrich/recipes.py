"""Run model recipes in clean temporary folders and cache their outputs by a hash of their inputs.

The key covers the recipe and every other file of the model folder except the card and README
(which do not change the model), the Python version, the versions of the generic tools a recipe may
import (TOOLS) and those of the model-specific packages its card lists under `source.requires`. A hit
costs one stat; a miss runs `python recipe.py OUTDIR` in a fresh folder, checks it wrote model.onnx,
and moves the result into the cache with one atomic rename.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from modelshelf.catalog.model import Card

from modelshelf.generator import sandbox
from modelshelf.generator.errors import RecipeError

log = logging.getLogger(__name__)

RECIPE_PROTOCOL = 1
# Generic packages whose version can change what a recipe writes; each is part of the cache key.
# Packages only one model uses belong in its card (source.requires), not here.
TOOLS = ("numpy", "scipy", "scikit-learn", "skl2onnx", "torch", "onnx", "onnxruntime", "onnxscript",
         "transformers", "sentence-transformers", "tokenizers")
NOT_INPUTS = {"card.yaml", "README.md"}
# Address space of a recipe or evaluation script. Generous: torch reserves far more virtual memory than it
# touches (the MiniLM recipe peaks at about 1.2 GB resident and runs under this limit).
SCRIPT_MEMORY_MB = 8192
LOG_BYTES = 1 << 20  # how much of a script's output its .log keeps (the end)


@dataclass(frozen=True)
class RecipeOutput:
    model: Path
    key: str
    cached: bool
    seconds: float


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    """The installed version of each package (None when it is not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def tool_versions() -> dict[str, str | None]:
    """Python's version and those of the generic TOOLS."""
    return {"python": sys.version.split()[0], **package_versions(TOOLS)}


def folder_key(card: Card, header: dict[str, object]) -> str:
    """Hash of `header`, the card's own packages and every file of the model folder that can change what a script writes."""
    if card.source.requires:
        # The card's source.requires can change what its scripts write, as the generic TOOLS can.
        header = {**header, "requires": package_versions(card.source.requires)}
    h = hashlib.sha256()
    h.update(json.dumps(header, sort_keys=True).encode())
    for path in sorted(p for p in card.folder.rglob("*") if p.is_file()):
        rel = path.relative_to(card.folder).as_posix()
        if rel in NOT_INPUTS or "__pycache__" in rel:
            continue
        h.update(rel.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def recipe_key(card: Card, versions: dict[str, str | None]) -> str:
    """Hash of everything that can change what the recipe writes."""
    return folder_key(card, {"protocol": RECIPE_PROTOCOL, "recipe": card.source.recipe, "tools": versions})


class ScriptTimedOut(Exception):
    """Raised by run_in_clean_folder when the script runs past its time limit."""


class ScriptFailed(Exception):
    """Raised by run_in_clean_folder when the script exits non-zero; carries the exit code and its last lines."""

    def __init__(self, returncode: int, tail: list[str]) -> None:
        super().__init__(f"exit code {returncode}")
        self.returncode = returncode
        self.tail = tail


class ScriptWroteNothing(Exception):
    """Raised by run_in_clean_folder when the script succeeds without writing the file it must write."""


def run_in_clean_folder(card: Card, script: str, dest: Path, expect: str, *, timeout: float,
                        memory_mb: int | None = SCRIPT_MEMORY_MB) -> tuple[bool, float]:
    """Run `python SCRIPT OUTDIR` in the sandbox, in a fresh copy of the model folder, and move OUTDIR to `dest` atomically.

    Returns (cached, seconds). When dest/expect exists already nothing runs. A failed run leaves
    no trace in the cache.
    """
    if (dest / expect).is_file():
        return True, 0.0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with sandbox.clean_folder("modelshelf-run-") as work:
        src = work / "src"
        out = work / "out"
        shutil.copytree(card.folder, src, ignore=shutil.ignore_patterns("__pycache__"))
        out.mkdir()
        # No CPU-time limit: torch uses several threads in places, so CPU time may exceed the wall clock.
        proc = sandbox.run(sandbox.python(str(src / script), str(out)), cwd=work,
                           limits=sandbox.RunLimits(seconds=timeout, memory_mb=memory_mb), tail_bytes=LOG_BYTES)
        if proc.timed_out:
            raise ScriptTimedOut(script)
        if proc.returncode != 0:
            raise ScriptFailed(proc.returncode, proc.tail(15))
        if not (out / expect).is_file():
            raise ScriptWroteNothing(expect)
        seconds = proc.seconds
        (out / f"{Path(script).stem}.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
        (out / "meta.json").write_text(json.dumps({"id": card.id, "script": script, "seconds": round(seconds, 3),
                                                   "peak_mb": proc.peak_mb}), encoding="utf-8")
        staged = Path(tempfile.mkdtemp(prefix=".tmp-", dir=dest.parent))
        shutil.rmtree(staged)
        shutil.move(str(out), staged)
        try:
            os.replace(staged, dest)
        except OSError:  # another build cached the same key meanwhile
            shutil.rmtree(staged, ignore_errors=True)
    return False, seconds


def default_cache_dir(project_dir: Path) -> Path:
    env = os.environ.get("MODELSHELF_BUILD_CACHE")
    return Path(env) if env else project_dir / ".modelshelf" / "cache"


def run_recipe(card: Card, cache_dir: Path, *, timeout: float = 900,
               versions: dict[str, str | None] | None = None) -> RecipeOutput:
    """The model.onnx the card's recipe writes, from the cache when its inputs have not changed."""
    recipe = card.source.recipe
    if recipe is None:
        raise RecipeError(f"{card.card_path}: the card has no recipe")
    key = recipe_key(card, versions or tool_versions())
    dest = cache_dir / "recipes" / key
    if not (dest / "model.onnx").is_file():
        log.info("running recipe of %s", card.id)
    try:
        cached, seconds = run_in_clean_folder(card, recipe, dest, "model.onnx", timeout=timeout)
    except ScriptTimedOut:
        raise RecipeError(f"{card.card_path}: recipe {recipe} did not finish within {timeout:.0f} s") from None
    except ScriptFailed as exc:
        raise RecipeError(f"{card.card_path}: recipe {recipe} failed with exit code {exc.returncode}:\n"
                          + "\n".join(exc.tail)) from None
    except ScriptWroteNothing:
        raise RecipeError(f"{card.card_path}: recipe {recipe} finished but wrote no model.onnx "
                          "into the folder it was given") from None
    if cached:
        log.info("recipe cache hit: %s (%s)", card.id, key[:12])
    else:
        log.info("recipe of %s took %.1f s", card.id, seconds)
    return RecipeOutput(dest / "model.onnx", key, cached, seconds)
