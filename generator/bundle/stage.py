"""Deploy bundles: one reproducible zip per model version, with everything needed to run it.

A bundle holds the ONNX file, `runtime/` (a byte-identical copy of the package
modelshelf.catalog.runtime: JSON, CSV or natural-file input, the card's processing, JSON output,
the HTTP server), `predict.py` (two lines that call the runtime),
`model.json` (the runtime's configuration), pinned `requirements.txt` and
`requirements-serve.txt`, a `Dockerfile`, a README with the exact commands, the card, the card's
examples as request files, and `SHA256SUMS`.

Reproducible: members in sorted order, fixed timestamps (1980-01-01), fixed permissions, fixed
compression level, no extra fields; building twice with the same inputs gives the same bytes.
The zip is written to the build cache (temp file + `os.replace`), keyed by the hash of its content,
so an unchanged model is not zipped again.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from packaging.requirements import Requirement

from modelshelf.catalog import runtime

from modelshelf.generator.lock.lockfile import Lock
from modelshelf.generator.lock.stage import LockedBytesMissing, pin_published
from modelshelf.generator.lock.store import Store
from modelshelf.generator.enrich.stage import Artifact, ModelEntry, artifact_for, sha256_file, snippet_plan
from modelshelf.generator.errors import BuildError

log = logging.getLogger(__name__)

BUNDLE_FORMAT = 1
TEMPLATE_DIR = Path(__file__).parent / "templates"
RUNTIME_DIR = Path(runtime.__file__).parent  # copied verbatim into every bundle as runtime/
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
RUNTIME_PACKAGES = ("numpy", "onnxruntime")
SERVE_PACKAGES = ("starlette", "uvicorn")
IMAGE_PACKAGES = ("pillow",)


class BundleError(BuildError):
    """Raised by the build when a deploy bundle cannot be made (a missing runtime package, an unwritable cache)."""


@dataclass(frozen=True)
class Member:
    """One file of a bundle: its path inside the zip, and its bytes (or the file on disk that has them)."""

    name: str
    data: bytes | None = None
    source: Path | None = None
    sha256: str = ""
    executable: bool = False


BUNDLE_EMBED_MAX_BYTES = 16 * 1024 * 1024


def _pinned(roots: tuple[str, ...], exclude: Collection[str] = frozenset()) -> list[str]:
    """`name==version` for the packages and everything they require (markers evaluated here), sorted."""
    # Marker.evaluate starts from default_environment() (this interpreter) and applies these on top.
    env = {"extra": ""}
    seen: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen or key in exclude:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise BundleError(f"deploy bundles pin the installed {name}, but it is not installed; "
                              "run scripts/setup (pip install -c constraints.txt -e .)") from None
        seen[key] = f"{dist.metadata['Name']}=={dist.version}"
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(env):
                todo.append(req.name)
    return sorted(seen.values(), key=str.lower)


@functools.cache
def requirements(extra: tuple[str, ...] = ()) -> tuple[str, str]:
    """requirements.txt (what predict.py needs, plus `extra`: Pillow for pictures) and requirements-serve.txt
    (plus the HTTP server), pinned."""
    runtime = _pinned(RUNTIME_PACKAGES + extra)
    serve = _pinned(SERVE_PACKAGES, exclude={re.sub(r"==.*", "", r).lower() for r in runtime})
    head = "# Exact versions the Modelshelf build tested with (Python {}.{}).\n".format(*sys.version_info[:2])
    return (head + "\n".join(runtime) + "\n",
            head + "-r requirements.txt\n" + "\n".join(serve) + "\n")


def runtime_sources() -> list[Path]:
    """The runtime package's modules, which every bundle carries unchanged under runtime/."""
    return sorted(RUNTIME_DIR.glob("*.py"))


@functools.cache
def _env() -> jinja2.Environment:
    # Plain text (README, Dockerfile): no HTML autoescape. Card strings are printed on one line (`one_line`),
    # and as one quoted word in commands (`shell_word`, `shell_url`): a newline cannot add a command.
    from modelshelf.generator.render.escape import one_line, shell_word, url_for_shell

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=False,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters.update(one_line=one_line, shell_word=shell_word, shell_url=url_for_shell)
    return env


def _example_files(config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    files = []
    for i, example in enumerate(config["examples"]):
        request = {"name": example.get("name") or f"#{i + 1}", "inputs": example["inputs"]}
        if example.get("outputs"):
            request["outputs"] = example["outputs"]
            request["tolerance"] = example.get("tolerance", 1e-4)
        files.append((f"examples/{i + 1}.json", request))
    return files


def bundle_members(entry: ModelEntry, catalog_entry: dict[str, Any], site_url: str) -> tuple[str, list[Member]]:
    """The bundle's file name and its members (before SHA256SUMS), computed without writing anything."""
    from modelshelf.catalog.runtime.predictor import config_from_entry

    card = entry.card
    folder = f"{card.short_name}-{card.version}"
    # Large models are not copied into the bundle (the site would carry them twice); the README
    # says how to fetch the file, and predict.py checks it against SHA256SUMS all the same.
    embed = entry.onnx.local is not None and entry.onnx.size <= BUNDLE_EMBED_MAX_BYTES
    config = config_from_entry(catalog_entry)
    # Pictures other than 8-bit PNG (JPEG, WebP, ...) are decoded with Pillow, as the CLI does (runtime/media.py).
    reqs, serve_reqs = requirements(IMAGE_PACKAGES if any(t["kind"] == "image" for t in config["inputs"]) else ())
    examples = _example_files(config)
    model_url = entry.onnx.url if entry.onnx.hosted else f"{site_url.rstrip('/')}/{entry.onnx.url}"
    context = {"card": card, "config": config, "folder": folder, "bundle_name": f"{folder}-bundle.zip",
               "examples": [(name, req["name"]) for name, req in examples], "model_local": embed,
               "model_url": model_url, "python": "{}.{}".format(*sys.version_info[:2]),
               "feature_list": (", ".join(config["inputs"][0]["features"])
                                if config["inputs"] and config["inputs"][0]["features"] else "")}
    env = _env()

    def text(name: str, content: str, executable: bool = False) -> Member:
        data = content.encode("utf-8")
        return Member(name, data=data, sha256=hashlib.sha256(data).hexdigest(), executable=executable)

    members = [
        text("predict.py", (TEMPLATE_DIR / "predict.py").read_text(encoding="utf-8"), executable=True),
        *(text(f"runtime/{source.name}", source.read_text(encoding="utf-8")) for source in runtime_sources()),
        text("model.json", json.dumps(config, indent=1, sort_keys=True) + "\n"),
        text("requirements.txt", reqs),
        text("requirements-serve.txt", serve_reqs),
        text("Dockerfile", env.get_template("Dockerfile.j2").render(**context)),
        text(".dockerignore", ".venv\n__pycache__\n*.zip\n"),
        text("README.md", env.get_template("README.md.j2").render(**context)),
        Member("card.yaml", source=card.card_path, sha256=sha256_file(card.card_path)),
        *(text(name, json.dumps(req, indent=1) + "\n") for name, req in examples),
    ]
    if embed:
        members.append(Member(entry.onnx.filename, source=entry.onnx.local, sha256=entry.onnx.sha256))
    tokenizer = config["pipeline"].get("tokenizer")
    if tokenizer:  # the vocabulary travels with the model: predict.py tokenises text as the page does
        vocab = next(a for a in entry.all_files if a.filename == tokenizer["vocab_file"])
        members.append(Member(vocab.filename, source=vocab.local, sha256=vocab.sha256))
    # The model file (when not embedded) and the variants' files are listed too: predict.py checks them once fetched.
    outside = ([] if embed else [Member(entry.onnx.filename, sha256=entry.onnx.sha256)]) + [
        Member(v["file"], sha256=v["sha256"]) for v in config["variants"].values()]
    sums = "".join(f"{m.sha256}  {m.name}\n" for m in sorted(members + outside, key=lambda m: m.name))
    members.append(text("SHA256SUMS", sums))
    return folder, sorted(members, key=lambda m: m.name)


def write_zip(path: Path, folder: str, members: list[Member]) -> None:
    """Write the members under `folder/` into a zip with fixed metadata (the same inputs give the same bytes)."""
    with zipfile.ZipFile(path, "w") as zf:
        for m in members:
            info = zipfile.ZipInfo(f"{folder}/{m.name}", date_time=ZIP_DATE)
            info.create_system = 3  # Unix, so the permission bits below are honoured by unzip
            info.external_attr = (0o100755 if m.executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = m.data if m.data is not None else m.source.read_bytes()  # type: ignore[union-attr]
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)


def build_bundle(entry: ModelEntry, catalog_entry: dict[str, Any], *, cache_dir: Path, site_url: str) -> Artifact:
    """The bundle of one model version as a published Artifact (kind "bundle"), zipped once per content."""
    folder, members = bundle_members(entry, catalog_entry, site_url)
    key = hashlib.sha256(json.dumps([BUNDLE_FORMAT, folder,
                                     [(m.name, m.sha256, m.executable) for m in members]]).encode()).hexdigest()
    filename = f"{folder}-bundle.zip"
    out_dir = cache_dir / "bundles" / key
    path = out_dir / filename
    if not path.is_file():
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".zip", dir=out_dir)
            os.close(fd)
            try:
                write_zip(Path(tmp), folder, members)
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise BundleError(f"cannot write the deploy bundle of {entry.card.id} to {out_dir}: {exc}") from None
        log.info("bundle: %s (%s)", filename, entry.card.id)
    return artifact_for(entry.card, path, filename, "bundle")


@dataclass(frozen=True)
class Deploy:
    """entry.deploy, printed by sections/deploy.md.j2: the bundle, and the commands that use it or the client."""

    bundle: Artifact
    folder: str  # the folder the bundle unzips to, e.g. iris-logreg-1.0.0
    bundle_fence: Markup
    client_fence: Markup
    python_fence: Markup


def deploy_context(entry: ModelEntry, bundle: Artifact, site_url: str) -> Deploy:
    """What the model page's Deploy section prints: the bundle, and the commands that use it or the client."""
    from modelshelf.generator.render.escape import shell_word, url_for_shell
    from modelshelf.generator.render.pages import fence

    card, site = entry.card, site_url.rstrip("/")
    folder = f"{card.short_name}-{card.version}"
    ref = f"{card.id}@{card.version}"
    plan = snippet_plan(card)
    bundle_url = bundle.url if bundle.hosted else f"{site}/{bundle.url}"
    bundle_commands = "\n".join([
        f"curl -fLO {url_for_shell(bundle_url)}",
        f"echo {shell_word(f'{bundle.sha256}  {bundle.filename}')} | sha256sum -c -",
        f"unzip {shell_word(bundle.filename)} && cd {shell_word(folder)}",
        "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt",
        f"# ../{plan.file}: {plan.file_note}",
        f".venv/bin/python predict.py ../{plan.file}",
    ])
    client_commands = "\n".join([
        f"export MODELSHELF_SITE_URL={url_for_shell(site + '/')}",
        f"modelshelf pull {shell_word(ref)}  # verified, cached in ~/.cache/modelshelf",
        f"modelshelf run {shell_word(ref)} {plan.file}  # {plan.file_note}",
        f"modelshelf serve {shell_word(ref)} --port 8080",
    ])
    python = "\n".join([
        "from pathlib import Path",
        "",
        "from modelshelf.catalog import client",
        "",
        f"model = client.load({ref!r}, base_url={site + '/'!r})  # pulled, verified, cached",
        f"answer = model.predict_file(Path({plan.file!r}))  # {plan.file_note}",
        "print(answer)",
        f"session = client.session({ref!r}, base_url={site + '/'!r})  # or the onnxruntime.InferenceSession itself",
    ])
    return Deploy(bundle=bundle, folder=folder, bundle_fence=fence(bundle_commands, "sh"),
                  client_fence=fence(client_commands, "sh"), python_fence=fence(python, "python"))


def add_bundles(entries: Sequence[ModelEntry], catalog_entries: list[dict[str, Any]], *, cache_dir: Path,
                site_url: str, lock: Lock | None = None, store: Store | None = None) -> list[ModelEntry]:
    """The entries with their bundle appended to `added_files` (listed, published, in catalog.json) and their `deploy`.

    A locked version keeps the bundle it was locked with (from `store`), even when the templates have changed since.
    """
    by_id = {(m["id"], m["version"]): m for m in catalog_entries}
    out = []
    problems = []
    for entry in entries:
        artifact = build_bundle(entry, by_id[(entry.card.id, entry.card.version)], cache_dir=cache_dir, site_url=site_url)
        try:
            artifact = pin_published(lock.get(entry.card.id, entry.card.version) if lock else None, artifact, store, cache_dir)
        except LockedBytesMissing as exc:
            problems.append(f"{entry.card.card_path}: {exc}")
            continue
        out.append(replace(entry, added_files=entry.added_files + (artifact,), deploy=deploy_context(entry, artifact, site_url)))
    if problems:
        raise BundleError("\n".join(problems) + "\n  hint: restore the store's blobs (git checkout -- store)")
    return out


__all__ = ["BundleError", "Deploy", "Member", "add_bundles", "build_bundle", "bundle_members", "requirements", "write_zip"]
