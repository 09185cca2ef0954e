"""Run model recipes in clean temporary folders and cache their outputs by a hash of their inputs.

The key covers the recipe and every other file of the model folder except the card and README
(which do not change the model), the Python version, the versions of the generic tools a recipe may
import (TOOLS) and those of the model-specific packages its card lists under `source.requires`.

A miss runs `python recipe.py OUTDIR` in the sandbox's jail (`sandbox.Jail`: no network, a
read-only copy of the model folder, OUTDIR the only writable path, a scrubbed environment, limits
on memory, CPU time, file size and processes, every process gone when it ends). The build alone
writes the cache: it checks what the script left in OUTDIR (regular files and folders only, at most
MAX_OUTPUT_FILES), copies it into a fresh entry with a `manifest.json` (the key and the SHA-256 of
every file) and renames the entry into place. A hit re-checks the manifest: an entry whose key or
files do not match is discarded and the script runs again.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from modelshelf.catalog.client.cache import sha256_of
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
SCRIPT_FILE_MB = 2048  # largest file a recipe or evaluation script may write (RLIMIT_FSIZE)
SCRIPT_PROCESSES = 512  # processes and threads of a script, all together (RLIMIT_NPROC, as the jail's user)
LOG_BYTES = 1 << 20  # how much of a script's output its .log keeps (the end)
MAX_OUTPUT_FILES = 1000  # files and folders a script may leave in OUTDIR
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class RecipeOutput:
    model: Path
    key: str
    cached: bool
    seconds: float
    given: tuple[str, ...] = ()  # files the build put beside the recipe (given_files)


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


def recipe_key(card: Card, versions: dict[str, str | None], given: dict[str, bytes] | None = None) -> str:
    """Hash of everything that can change what the recipe writes (the files the build puts beside it included)."""
    header: dict[str, object] = {"protocol": RECIPE_PROTOCOL, "recipe": card.source.recipe, "tools": versions}
    if given:
        header["given"] = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(given.items())}
    return folder_key(card, header)


def given_files(card: Card) -> dict[str, bytes]:
    """Files the build puts beside a recipe: evaluation_split.json when the card evaluates on a registry dataset with
    a split, so the recipe trains on exactly the rows the build does not evaluate (generator/evaluate/splits.py)."""
    ev = card.evaluation
    if ev is None or not ev.dataset or ev.split is None or ev.split.test_size is None:
        return {}
    from modelshelf.generator.evaluate import splits  # the evaluate stage imports this module

    try:
        data = splits.split_file(ev.dataset, test_size=ev.split.test_size, seed=int(ev.split.seed or 0),
                                 stratify=bool(ev.split.stratify))
    except (KeyError, ValueError):  # not a registry dataset, or an unusable split: the evaluate stage reports it
        return {}
    return {splits.SPLIT_FILE: data}


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


class ScriptBadOutput(Exception):
    """Raised by run_in_clean_folder when the script leaves something other than regular files and folders in OUTDIR."""


class ScriptNotRun(Exception):
    """Raised by run_in_clean_folder when there is no sandbox here and the operator has not said scripts are trusted."""


NO_SANDBOX_HINT = ("install bubblewrap (apt-get install bubblewrap) so that contributor code runs in a sandbox, or set "
                   f"{sandbox.TRUST_VARIABLE}=1 if you trust every recipe and evaluation script")


def run_in_clean_folder(card: Card, script: str, dest: Path, expect: str, *, timeout: float,
                        memory_mb: int | None = SCRIPT_MEMORY_MB, given: dict[str, bytes] | None = None) -> tuple[bool, float]:
    """Run `python SCRIPT OUTDIR` in the sandbox's jail, in a fresh copy of the model folder, and cache OUTDIR as `dest`.

    `dest.name` is the cache key. Returns (cached, seconds). When `dest` is a verified entry with
    `expect` in it nothing runs; an entry that fails verification is removed first. A failed run
    leaves no trace in the cache.
    """
    if dest.exists():
        problem = verify_entry(dest, expect)
        if problem is None:
            return True, 0.0
        log.warning("discarding the cache entry %s: %s", dest, problem)
        shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with sandbox.clean_folder("modelshelf-run-") as work:
        src = work / "src"
        out = work / "out"
        shutil.copytree(card.folder, src, ignore=shutil.ignore_patterns("__pycache__"), symlinks=True)
        for name, data in (given or {}).items():  # beside the script, read-only like the rest of its folder
            (src / name).write_bytes(data)
        out.mkdir()
        limits = sandbox.RunLimits(seconds=timeout, memory_mb=memory_mb, file_mb=SCRIPT_FILE_MB, processes=SCRIPT_PROCESSES,
                                   # a backstop if the build dies: torch may use every core, so CPU time can pass the wall clock
                                   cpu_seconds=timeout * (os.cpu_count() or 1) + 1)
        try:
            proc = sandbox.run(sandbox.python(str(src / script), str(out)), cwd=work, limits=limits, tail_bytes=LOG_BYTES,
                               jail=sandbox.Jail(readable=(src,), writable=(out,)))
        except sandbox.SandboxUnavailable as exc:
            raise ScriptNotRun(str(exc)) from None
        if proc.timed_out:
            raise ScriptTimedOut(script)
        if proc.returncode != 0:
            tail = proc.tail(15)
            if proc.signal_name == "SIGXFSZ":
                tail.append(f"(stopped: it wrote a file larger than {SCRIPT_FILE_MB} MB, the limit for one file)")
            raise ScriptFailed(proc.returncode, tail)
        files = _script_outputs(out)
        if expect not in files:
            raise ScriptWroteNothing(expect)
        seconds = proc.seconds
        staged = Path(tempfile.mkdtemp(prefix=".tmp-", dir=dest.parent))
        try:
            hashes = {rel: _copy_hashed(out / rel, staged / rel) for rel in files}
            own = {f"{Path(script).stem}.log": (proc.stdout + proc.stderr).encode("utf-8", "replace"),
                   "meta.json": json.dumps({"id": card.id, "script": script, "seconds": round(seconds, 3),
                                            "peak_mb": proc.peak_mb}).encode()}
            for rel, data in own.items():
                (staged / rel).write_bytes(data)
                hashes[rel] = hashlib.sha256(data).hexdigest()
            (staged / MANIFEST).write_text(json.dumps({"key": dest.name, "files": hashes}, sort_keys=True, indent=1),
                                           encoding="utf-8")
            os.replace(staged, dest)
        except OSError:  # another build cached the same key meanwhile (or the disk is full)
            shutil.rmtree(staged, ignore_errors=True)
            if verify_entry(dest, expect) is not None:
                raise
    return False, seconds


def _script_outputs(out: Path) -> list[str]:
    """The regular files a script left in `out` (relative POSIX paths); raises ScriptBadOutput for anything else.

    Everything is checked with lstat, never followed: a symbolic link could point the build at
    a file outside OUTDIR, a FIFO would block it, a device would read forever.
    """
    files: list[str] = []
    count = 0
    for folder, dirs, names in os.walk(out, followlinks=False):
        for name in [*dirs, *names]:
            path = Path(folder) / name
            rel = path.relative_to(out).as_posix()
            count += 1
            if count > MAX_OUTPUT_FILES:
                raise ScriptBadOutput(f"it left more than {MAX_OUTPUT_FILES} files and folders in OUTDIR")
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                kind = "a symbolic link" if stat.S_ISLNK(mode) else "a special file"
                raise ScriptBadOutput(f"{rel} in OUTDIR is {kind}; write regular files only")
            if rel == MANIFEST:
                raise ScriptBadOutput(f"{MANIFEST} in OUTDIR: the name is reserved for the build's cache")
            files.append(rel)
    return sorted(files)


def _copy_hashed(src: Path, dst: Path) -> str:
    """Copy one regular file (never following a link) and return its SHA-256."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fin, open(dst, "xb") as fout:
        while chunk := fin.read(1 << 20):
            h.update(chunk)
            fout.write(chunk)
    return h.hexdigest()


def verify_entry(dest: Path, expect: str) -> str | None:
    """Why the cache entry `dest` cannot be used (None: it can): its manifest must name its key and every file's SHA-256."""
    try:
        manifest = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        if manifest.get("key") != dest.name:
            return f"its manifest is for the key {str(manifest.get('key'))[:12]}, not {dest.name[:12]}"
        if expect not in files:
            return f"it has no {expect}"
        present = set()
        for folder, dirs, names in os.walk(dest, followlinks=False):
            for name in [*dirs, *names]:
                path = Path(folder) / name
                mode = path.lstat().st_mode
                if stat.S_ISLNK(mode) or not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                    return f"{path.relative_to(dest).as_posix()} is not a regular file"
                if stat.S_ISREG(mode):
                    present.add(path.relative_to(dest).as_posix())
        if present != {*files, MANIFEST}:
            return "its files are not those its manifest lists"
        for rel, digest in files.items():
            if sha256_of(dest / rel) != digest:
                return f"{rel} does not match the SHA-256 its manifest records"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"it has no readable manifest ({exc.__class__.__name__})"
    return None


def default_cache_dir(project_dir: Path) -> Path:
    env = os.environ.get("MODELSHELF_BUILD_CACHE")
    return Path(env) if env else project_dir / ".modelshelf" / "cache"


def run_recipe(card: Card, cache_dir: Path, *, timeout: float = 900,
               versions: dict[str, str | None] | None = None) -> RecipeOutput:
    """The model.onnx the card's recipe writes, from the cache when its inputs have not changed."""
    recipe = card.source.recipe
    if recipe is None:
        raise RecipeError(f"{card.card_path}: the card has no recipe")
    given = given_files(card)
    key = recipe_key(card, versions or tool_versions(), given)
    dest = cache_dir / "recipes" / key
    if not (dest / "model.onnx").is_file():
        log.info("running recipe of %s", card.id)
    try:
        cached, seconds = run_in_clean_folder(card, recipe, dest, "model.onnx", timeout=timeout, given=given)
    except ScriptTimedOut:
        raise RecipeError(f"{card.card_path}: recipe {recipe} did not finish within {timeout:.0f} s") from None
    except ScriptFailed as exc:
        raise RecipeError(f"{card.card_path}: recipe {recipe} failed with exit code {exc.returncode}:\n"
                          + "\n".join(exc.tail)) from None
    except ScriptWroteNothing:
        raise RecipeError(f"{card.card_path}: recipe {recipe} finished but wrote no model.onnx "
                          "into the folder it was given") from None
    except ScriptBadOutput as exc:
        raise RecipeError(f"{card.card_path}: recipe {recipe} finished but {exc}") from None
    except ScriptNotRun as exc:
        raise RecipeError(f"{card.card_path}: recipe {recipe} not run: {exc}\n  hint: {NO_SANDBOX_HINT}") from None
    if cached:
        log.info("recipe cache hit: %s (%s)", card.id, key[:12])
    else:
        log.info("recipe of %s took %.1f s", card.id, seconds)
    return RecipeOutput(dest / "model.onnx", key, cached, seconds, tuple(sorted(given)))
