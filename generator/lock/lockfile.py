"""The lock (`modelshelf.lock`, committed beside mkdocs.yml): what every published version is, for ever.

For each `ORG/NAME@VERSION` it records
- `folder`: the SHA-256 and size of every file of the model folder the build reads (the committed
  ONNX file, the recipe, parity.json, ...; not card.yaml or README.md, whose fields are in `fields`);
- `outputs`: the SHA-256 and size of every file the recipe wrote (empty for a committed file);
  the build takes these bytes from the artifact store (generator/lock/store.py), never from a new run;
- `fields`: the SHA-256 of each card field that changes what is published or measured
  (LOCKED_FIELDS; absent fields are left out), so an edit names the field;
- `metrics`: the values the build verified when the version was locked;
- `given`: the files the build put beside the recipe when it ran (evaluation_split.json), if any;
- `published`: the SHA-256 and size of every file the site published for the version (the ONNX file,
  its variants and vocabulary, card.yaml, the deploy bundle). A later build publishes exactly these
  bytes: the card file and the bundle come from the store even when the card's texts or status change.

The file is JSON with sorted keys, one field per line, so a pull request that locks a new version
adds lines and changes none. It is written only by `modelshelf lock` (atomically).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCK_NAME = "modelshelf.lock"
FORMAT = 1
# Card fields that change the published files or the numbers measured on them. The rest (name, summary,
# description, tags, authors, datasets, license_link, base_model) may be corrected in a locked version.
LOCKED_FIELDS = ("task", "license", "license_name", "framework", "source", "inputs", "outputs", "preprocessing",
                 "postprocessing", "labels", "metrics", "examples", "evaluation", "parity", "browser", "audio", "variants")
_SHA = re.compile(r"^[0-9a-f]{64}$")


class LockInvalid(Exception):
    """The lock file cannot be read; the message names the file and what is wrong."""


@dataclass(frozen=True)
class LockedFile:
    sha256: str
    size: int


@dataclass(frozen=True)
class LockedVersion:
    id: str
    version: str
    folder: dict[str, LockedFile]
    outputs: dict[str, LockedFile]
    fields: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)
    published: dict[str, LockedFile] = field(default_factory=dict)
    given: tuple[str, ...] = ()  # files the build put beside the recipe when it made these outputs (evaluation_split.json)

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"


@dataclass
class Lock:
    path: Path
    versions: dict[str, LockedVersion] = field(default_factory=dict)  # by "ORG/NAME@VERSION"

    def get(self, model_id: str, version: str) -> LockedVersion | None:
        return self.versions.get(f"{model_id}@{version}")


def field_hash(value: Any) -> str:
    """SHA-256 of a card value as canonical JSON (absent and null are the same)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def _files(where: str, value: Any) -> dict[str, LockedFile]:
    if not isinstance(value, dict):
        raise LockInvalid(f"{where} must be a mapping of file names to {{sha256, size}}")
    out = {}
    for name, item in value.items():
        if not (isinstance(item, dict) and isinstance(item.get("sha256"), str) and _SHA.match(item["sha256"])
                and isinstance(item.get("size"), int) and item["size"] >= 0):
            raise LockInvalid(f"{where}.{name} must be {{sha256: 64 hex digits, size: bytes}}")
        if name.startswith("/") or ".." in Path(name).parts:
            raise LockInvalid(f"{where}.{name} is not a path inside the model folder")
        out[name] = LockedFile(item["sha256"], item["size"])
    return out


def read_lock(path: Path) -> Lock:
    """The lock at `path`; an absent file is an empty lock (nothing published yet)."""
    if not path.exists():
        return Lock(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LockInvalid(f"{path}: cannot read the lock: {exc}\n  hint: restore it from git "
                          f"(`git checkout -- {path.name}`); only `modelshelf lock` writes it") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("versions"), dict):
        raise LockInvalid(f"{path}: not a format-{FORMAT} lock (expected {{format: {FORMAT}, versions: {{...}}}})")
    lock = Lock(path)
    for ref, entry in data["versions"].items():
        where = f"{path}: versions.{ref}"
        model_id, _, version = ref.partition("@")
        if not (model_id and version and isinstance(entry, dict)):
            raise LockInvalid(f"{where}: expected ORG/NAME@VERSION mapped to its record")
        fields, metrics = entry.get("fields", {}), entry.get("metrics", {})
        if not (isinstance(fields, dict) and all(isinstance(v, str) and _SHA.match(v) for v in fields.values())):
            raise LockInvalid(f"{where}.fields must map card fields to SHA-256 hex digests")
        if not (isinstance(metrics, dict) and all(isinstance(v, (int, float)) for v in metrics.values())):
            raise LockInvalid(f"{where}.metrics must map metric names to numbers")
        lock.versions[ref] = LockedVersion(model_id, version, _files(f"{where}.folder", entry.get("folder", {})),
                                           _files(f"{where}.outputs", entry.get("outputs", {})), dict(fields),
                                           {k: float(v) for k, v in metrics.items()},
                                           _files(f"{where}.published", entry.get("published", {})),
                                           tuple(str(name) for name in entry.get("given", []) if isinstance(name, str)))
    return lock


def _files_json(files: dict[str, LockedFile]) -> dict[str, Any]:
    return {name: {"sha256": f.sha256, "size": f.size} for name, f in sorted(files.items())}


def write_lock(lock: Lock) -> None:
    """Write the lock atomically (temporary file, then rename), sorted, one value per line."""
    data = {"format": FORMAT, "versions": {
        ref: {"folder": _files_json(v.folder), "outputs": _files_json(v.outputs), "fields": dict(sorted(v.fields.items())),
              "metrics": dict(sorted(v.metrics.items())), "published": _files_json(v.published),
              **({"given": list(v.given)} if v.given else {})}
        for ref, v in sorted(lock.versions.items())}}
    text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{lock.path.name}.", dir=lock.path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, lock.path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
