"""The Hugging Face bridge: `modelshelf import-hf` (a Hub model card -> a Modelshelf card folder) and
`modelshelf export-hf` (a built catalog entry -> a Hub README.md beside its ONNX file).

A Hub model card is a README.md whose YAML front matter holds the metadata (license, tags, datasets,
pipeline_tag, model-index, ...) and whose Markdown body describes the model. The import maps each
front-matter field it understands onto a card field and reports every other one, so nothing is
dropped silently; the card it writes is validated before it is moved into place. Metric values from
`model-index` become the card's `metrics`, which are claims: the build only vouches for a value it
recomputes (`evaluation`). The export goes the other way and publishes only the values this build
verified, with the model page as their source.

Front matter is untrusted: it is read with the card loader (PyYAML's safe parser, no tags, anchors or
duplicate keys, positions kept for error messages), never executed, and the files are size-limited.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from modelshelf.catalog.loader import Document, load_yaml_text
from modelshelf.catalog.model import version_key
from modelshelf.catalog.problems import PathPart, Problem, json_path
from modelshelf.catalog.validate import MAX_COMMITTED_ONNX_BYTES, card_schema, check_card, spdx_ids, task_ids

log = logging.getLogger(__name__)

README_NAME = "README.md"
ONNX_NAME = "model.onnx"
MAX_README_BYTES = 1024 * 1024  # Hub cards are a few KB; a megabyte is more than any real one
MAX_CATALOG_BYTES = 512 * 1024 * 1024
DEFAULT_VERSION = "1.0.0"
BUILD_SOURCE_NAME = "Modelshelf build"

# Hugging Face licence ids (https://huggingface.co/docs/hub/repositories-licenses) whose SPDX id is not just the
# same word in other case: the GNU families name one version without saying "only" or "or later" (SPDX's
# deprecated bare ids mean "only"), and PDDL has a version in SPDX. Family ids (bsd, cc, gpl, lgpl, gfdl, odbl,
# odc-by) name no single licence and have no SPDX id.
_HF_TO_SPDX_SPECIAL = {
    "agpl-3.0": "AGPL-3.0-only", "gpl-2.0": "GPL-2.0-only", "gpl-3.0": "GPL-3.0-only",
    "lgpl-2.1": "LGPL-2.1-only", "lgpl-3.0": "LGPL-3.0-only", "pddl": "PDDL-1.0",
}
HF_LICENSES = frozenset({
    "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m", "bigscience-bloom-rail-1.0",
    "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0",
    "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0", "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0",
    "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0", "cdla-sharing-1.0", "cdla-permissive-1.0",
    "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0", "etalab-2.0", "eupl-1.1", "agpl-3.0", "gfdl", "gpl",
    "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1", "lgpl-3.0", "isc", "lppl-1.3c", "ms-pl", "mpl-2.0", "odc-by", "odbl",
    "openrail++", "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib", "pddl", "lgpl-lr",
    "deepfloyd-if-license", "llama2", "gemma", "unknown", "other",
})

# Hugging Face `library_name` -> the card's `framework` (what the model was trained in before its ONNX export).
# Transformers 5 and the libraries built on it are PyTorch-only.
_LIBRARY_FRAMEWORK = {
    "sklearn": "scikit-learn", "scikit-learn": "scikit-learn", "skops": "scikit-learn",
    "pytorch": "pytorch", "torch": "pytorch", "transformers": "pytorch", "sentence-transformers": "pytorch",
    "timm": "pytorch", "diffusers": "pytorch", "peft": "pytorch", "setfit": "pytorch", "open_clip": "pytorch",
    "speechbrain": "pytorch", "pyannote-audio": "pytorch", "ultralytics": "pytorch", "nemo": "pytorch",
    "tensorflow": "tensorflow", "tf": "tensorflow", "keras": "keras", "tf-keras": "keras",
    "jax": "jax", "flax": "jax", "xgboost": "xgboost", "lightgbm": "lightgbm",
    "paddlepaddle": "paddlepaddle", "paddlenlp": "paddlepaddle", "paddleocr": "paddlepaddle",
    "onnx": "onnx", "onnxruntime": "onnx", "optimum": "onnx",
}

# Hub metric ids (model-index `metrics[].type`, compared lower-case with '-' and ' ' read as '_') -> card metric names.
_METRIC_NAMES = {
    "accuracy": "accuracy", "acc": "accuracy",
    "f1": "f1", "f1_macro": "f1_macro", "macro_f1": "f1_macro",
    "precision": "precision", "recall": "recall",
    "roc_auc": "roc_auc", "auc": "roc_auc", "roc_auc_score": "roc_auc",
    "log_loss": "log_loss", "logloss": "log_loss",
    "r2": "r2", "r_squared": "r2", "r2_score": "r2",
    "mae": "mae", "mean_absolute_error": "mae",
    "mse": "mse", "mean_squared_error": "mse",
    "rmse": "rmse", "root_mean_squared_error": "rmse",
    "cosine_agreement": "cosine_agreement",
    "top5_accuracy": "top5_accuracy", "top_5_accuracy": "top5_accuracy", "accuracy_top5": "top5_accuracy",
}
# Metrics the card computes for two classes; a Hub value averaged otherwise (micro, weighted) is another metric.
_BINARY_METRICS = {"f1", "precision", "recall"}

_NUMBER = re.compile(r"^([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(%?)\s*(?:(?:±|\+/-|\+-)\s*(\S.*))?$")
_SLUG_BAD = re.compile(r"[^a-z0-9._-]+")
_TAG = re.compile(r"^[a-z0-9][a-z0-9+._-]{0,39}$")
_DATASET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$")


# ---------------------------------------------------------------- errors and results

class HfBridgeError(Exception):
    """Raised by import_hf and export_hf when their input cannot be read or their output cannot be written
    (a missing README or catalog, a model not in the catalog, an output folder that already exists)."""


class HfCardInvalid(HfBridgeError):
    """Raised by import_hf when the README's front matter is malformed or cannot make a valid card; carries every
    problem found, each with the README's file, line and field (or the written card's, for what validation finds)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__(f"{len(self.problems)} problem(s) in the Hugging Face card")


@dataclass(frozen=True)
class Unmapped:
    """A front-matter value the import did not put in the card, where it is, and why."""

    field: str  # JSON path into the front matter, e.g. $.language or $["model-index"][0].results[0].metrics[1].type
    line: int  # line of the README
    value: str  # the value, shortened
    reason: str

    def format_text(self) -> str:
        return f"  line {self.line}: {self.field} = {self.value}: {self.reason}"


@dataclass(frozen=True)
class ImportReport:
    """What import_hf wrote and how: the mapping it applied, what it left out, and what to check by hand."""

    folder: Path
    card: dict[str, Any]
    mapped: tuple[tuple[str, str], ...]  # (front-matter field, card field)
    unmapped: tuple[Unmapped, ...]
    notes: tuple[str, ...]  # defaults, placeholders and conversions a person should review
    onnx: Path | None  # the ONNX file copied into the folder, if there was one


@dataclass(frozen=True)
class ExportReport:
    """What export_hf wrote: the README and the ONNX file, and the verified metrics published."""

    folder: Path
    readme: Path
    onnx: Path
    front_matter: dict[str, Any]
    metrics: tuple[tuple[str, float], ...]
    notes: tuple[str, ...]


def format_import_report(report: ImportReport) -> str:
    """The import report for people: what was written, each field mapped, each field not mapped, and notes."""
    lines = [f"wrote {report.folder / 'card.yaml'}" + (f" and {report.folder / ONNX_NAME}" if report.onnx else "")]
    lines.append("mapped:")
    # One line per field: the items of a list (tags[0], tags[1], ...) that went to the same card field are counted.
    grouped: dict[tuple[str, str], int] = {}
    for hf_field, card_field in report.mapped:
        base = re.sub(r"\[\d+\]$", "", hf_field)
        key = (base if base != hf_field else hf_field, card_field)
        grouped[key] = grouped.get(key, 0) + (1 if base != hf_field else 0)
    for (hf_field, card_field), items in grouped.items():
        lines.append(f"  {hf_field}{f' ({items} item' + ('s' if items != 1 else '') + ')' if items else ''} -> {card_field}")
    noun = "field" if len(report.unmapped) == 1 else "fields"
    lines.append(f"not mapped ({len(report.unmapped)} {noun}; not in the card):" if report.unmapped else "not mapped: none")
    lines += [u.format_text() for u in sorted(report.unmapped, key=lambda u: u.line)]
    if report.notes:
        lines.append("check by hand:")
        lines += [f"  - {note}" for note in report.notes]
    return "\n".join(lines)


def format_export_report(report: ExportReport) -> str:
    lines = [f"wrote {report.readme} and {report.onnx}"]
    if report.metrics:
        lines.append("model-index (verified by the build): " + ", ".join(f"{n} = {v}" for n, v in report.metrics))
    else:
        lines.append("model-index: none (the build verified no metric of this version)")
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines)


# ---------------------------------------------------------------- licences and tasks

def spdx_for_hf_license(hf_id: str) -> str | None:
    """The SPDX id (one the cards accept, catalog/data/spdx.txt) of a Hugging Face licence id; None if it has none."""
    wanted = hf_id.strip().lower()
    if wanted in _HF_TO_SPDX_SPECIAL:
        return _HF_TO_SPDX_SPECIAL[wanted]
    by_lower = {spdx.lower(): spdx for spdx in spdx_ids() if spdx != "other"}
    return by_lower.get(wanted)


def hf_license_for_spdx(spdx: str) -> str | None:
    """The Hugging Face licence id of an SPDX id; None when the Hub has none (then export writes license: other)."""
    for hf_id, mapped in _HF_TO_SPDX_SPECIAL.items():
        if mapped == spdx:
            return hf_id
    return spdx.lower() if spdx.lower() in HF_LICENSES and spdx.lower() not in _HF_TO_SPDX_SPECIAL else None


def _spdx_by_name(name: str) -> str | None:
    lowered = name.strip().lower()
    return next((s for s in spdx_ids() if s.lower() == lowered and s != "other"), None)


# ---------------------------------------------------------------- reading the README

def _short(value: Any, width: int = 70) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


@dataclass
class _FrontMatter:
    """The README split in two: the front matter as loaded (with positions) and the Markdown body."""

    file: str
    doc: Document | None
    data: dict[str, Any]
    body: str
    offset: int  # README line of the front matter's first line, minus one


def _read_readme(readme: Path, display: str) -> _FrontMatter:
    try:
        size = readme.stat().st_size
        if size > MAX_README_BYTES:
            raise HfCardInvalid([Problem(display, 1, 1, "$",
                                         f"README.md is {size} bytes, more than the {MAX_README_BYTES} allowed",
                                         "a model card is a few kilobytes of text: check this is the right file")])
        raw = readme.read_bytes()
    except OSError as exc:
        raise HfBridgeError(f"cannot read {display}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise HfCardInvalid([Problem(display, line, 1, "$", f"byte 0x{raw[exc.start]:02x} is not valid UTF-8",
                                     "save README.md as UTF-8")]) from None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise HfCardInvalid([Problem(display, 1, 1, "$", "README.md has no YAML front matter",
                                     "start the file with a line '---', then the metadata (license: ..., tags: ...), "
                                     "then another '---' line")])
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        raise HfCardInvalid([Problem(display, 1, 1, "$", "the front matter that starts on line 1 is never closed",
                                     "add a line '---' after the last metadata line")])
    yaml_text = "\n".join(lines[1:end]) + "\n"
    # Trailing blanks mean nothing in Markdown except two or more spaces (a hard line break); dropping the others lets
    # the card hold the description as a readable block scalar.
    body = "\n".join(line if line.endswith("  ") and line.strip() else line.rstrip() for line in lines[end + 1:])
    body = body.strip("\n").rstrip()
    if not yaml_text.strip():
        return _FrontMatter(display, None, {}, body, 1)
    doc, problems = load_yaml_text(yaml_text, display)
    # The loader counts lines from the front matter's first line, which is line 2 of the README.
    problems = [dataclasses.replace(p, line=p.line + 1, message=p.message.replace("the card", "the front matter"),
                                    hint=p.hint.replace("cards ", "front matter ")) for p in problems]
    if problems or doc is None:
        raise HfCardInvalid(problems)
    if not isinstance(doc.data, dict):
        raise HfCardInvalid([Problem(display, 2, 1, "$", "the front matter is not a mapping of fields",
                                     "write one 'field: value' per line, e.g. license: apache-2.0")])
    return _FrontMatter(display, doc, doc.data, body, 1)


def _find_onnx(folder: Path) -> tuple[Path | None, list[Path]]:
    """The ONNX file beside the README (model.onnx first, then onnx/model.onnx, then the only one), and the others."""
    found = sorted(p for p in [*folder.glob("*.onnx"), *folder.glob("onnx/*.onnx")] if p.is_file() and not p.is_symlink())
    for preferred in (folder / ONNX_NAME, folder / "onnx" / ONNX_NAME):
        if preferred in found:
            return preferred, [p for p in found if p != preferred]
    if len(found) == 1:
        return found[0], []
    return None, found


# ---------------------------------------------------------------- the mapping

@dataclass
class _Importer:
    """Maps one front matter onto a card, collecting problems (fatal), unmapped values and notes as it goes."""

    fm: _FrontMatter
    problems: list[Problem] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    mapped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def line(self, path: tuple[PathPart, ...], *, key: bool = False) -> tuple[int, int]:
        if self.fm.doc is None:
            return 1, 1
        pos = self.fm.doc.position(path, key=key)
        return pos.line + self.fm.offset, pos.col

    def problem(self, path: tuple[PathPart, ...], message: str, hint: str) -> None:
        line, col = self.line(path)
        self.problems.append(Problem(self.fm.file, line, col, json_path(path), message, hint))

    def skip(self, path: tuple[PathPart, ...], value: Any, reason: str) -> None:
        self.unmapped.append(Unmapped(json_path(path), self.line(path)[0], _short(value), reason))

    def map(self, path: tuple[PathPart, ...], card_field: str) -> None:
        self.mapped.append((json_path(path), card_field))

    def text(self, path: tuple[PathPart, ...], value: Any, what: str) -> str | None:
        """`value` if it is text; else a problem saying the field must be text."""
        if isinstance(value, str) and value.strip():
            return value.strip()
        self.problem(path, f"{what} must be text, got {_short(value)}", f"write {path[-1]}: followed by text")
        return None

    def strings(self, path: tuple[PathPart, ...], value: Any) -> list[tuple[tuple[PathPart, ...], str]]:
        """A field the Hub lets be one string or a list of strings, as (path, string) pairs; other items are skipped."""
        if isinstance(value, str):
            return [(path, value)]
        if not isinstance(value, list):
            self.problem(path, f"{path[-1]} must be a list of text, got {_short(value)}",
                         f"write {path[-1]}: followed by one '- item' line each")
            return []
        out = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                out.append((path + (i,), item))
            else:
                self.skip(path + (i,), item, "not text")
        return out


def _slug(text: str) -> str:
    slug = _SLUG_BAD.sub("-", text.strip().lower()).strip("-._")
    return re.sub(r"-{2,}", "-", slug)[:64].rstrip("-._")


def _summary(body: str, name: str) -> str:
    """The first prose paragraph of the body as plain text, at most 200 characters."""
    paragraph: list[str] = []
    fenced = False
    for raw in body.split("\n"):
        line = raw.strip()
        if line.startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            continue
        if not line:
            if paragraph:
                break
            continue
        if line.startswith(("#", "<", "|", "![", "---", ">", "- ", "* ", "[![")):
            if paragraph:
                break
            continue
        paragraph.append(line)
    text = " ".join(paragraph)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links and images: their text
    text = re.sub(r"[*_`]+", "", text).strip()
    if not text:
        return f"{name}, imported from a Hugging Face model card."
    if len(text) <= 200:
        return text
    cut = text[:199].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def _first_heading(body: str) -> str | None:
    """The text of the body's first level-1 heading outside code blocks (a `# comment` in code is no title)."""
    fenced = False
    for raw in body.split("\n"):
        line = raw.strip()
        if line.startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and (found := _HEADING.match(line)):
            return found.group(1)
    return None


def _number(value: Any) -> tuple[float | None, str]:
    """A metric value as a float and a note on how it was read ("" for a plain number); (None, why) if it is none."""
    if isinstance(value, bool) or value is None:
        return None, "not a number"
    if isinstance(value, (int, float)):
        return (float(value), "") if math.isfinite(value) else (None, "not a finite number")
    if not isinstance(value, str):
        return None, "not a number"
    found = _NUMBER.match(value.strip())
    if not found:
        return None, "not a number"
    number = float(found.group(1))
    if not math.isfinite(number):
        return None, "not a finite number"
    how = []
    if found.group(2):
        number = float(Decimal(found.group(1)) / 100)  # 93.1% is 0.931, not 0.9309999999999999
        how.append(f"read {value!r} as {number:g} (a percentage)")
    if found.group(3):
        how.append(f"the uncertainty '± {found.group(3)}' of {value!r} is not kept (cards hold one value)")
    return number, "; ".join(how)


def _metric_name(metric: dict[str, Any]) -> tuple[str | None, set[str]]:
    """The card metric a model-index metric is, and which of its keys that used (besides type and value)."""
    kind = str(metric.get("type", "")).strip().lower().replace("-", "_").replace(" ", "_")
    name = _METRIC_NAMES.get(kind)
    args = metric.get("args")
    average = args.get("average") if isinstance(args, dict) else None
    if average is None and isinstance(metric.get("config"), str) and metric["config"].lower() in ("macro", "micro", "weighted"):
        average, used = metric["config"].lower(), {"config"}
    else:
        used = {"args"} if average is not None and isinstance(args, dict) and set(args) == {"average"} else set()
    if name in _BINARY_METRICS and average is not None:
        if name == "f1" and str(average).lower() == "macro":
            return "f1_macro", used
        if str(average).lower() == "binary":
            return name, used
        return None, set()
    return name, set()


def _map_card(imp: _Importer, *, org: str | None, name: str | None, task: str | None, fallback_name: str,
              has_onnx: bool) -> dict[str, Any]:
    """The card (without source, inputs and outputs) that the front matter and body describe."""
    data = imp.fm.data
    handled = {"license", "license_name", "license_link", "tags", "datasets", "base_model", "pipeline_tag",
               "library_name", "model-index", "model_name"}
    card: dict[str, Any] = {}

    # -- names: model_name, else the model-index name, else the body's first heading, else the folder
    index = data.get("model-index")
    index_name = None
    if isinstance(index, list) and index and isinstance(index[0], dict) and isinstance(index[0].get("name"), str):
        index_name = index[0]["name"].strip() or None
    heading = _first_heading(imp.fm.body)
    title = None
    if "model_name" in data:
        title = imp.text(("model_name",), data["model_name"], "model_name")
        if title:
            imp.map(("model_name",), "name")
    title = title or (index_name.rsplit("/", 1)[-1] if index_name else None) or heading or fallback_name
    if len(title) > 100:
        imp.notes.append(f"name shortened to 100 characters from {title!r}")
        title = title[:100].rstrip()
    index_org, _, index_short = (index_name or "").rpartition("/")
    slug = _slug(name or index_short or title)
    chosen_org = _slug(org or index_org)
    if not chosen_org:
        imp.problem((), "no organisation for the card's id: the front matter's model-index names none",
                    "pass --org ORG (the folder under models/ the card goes into)")
    if not slug:
        imp.problem((), f"no usable model name in {title!r}", "pass --name NAME (lower case letters, digits and '-')")
    card["id"] = f"{chosen_org}/{slug}"
    card["name"] = title
    card["version"] = DEFAULT_VERSION
    imp.notes.append(f'version set to "{DEFAULT_VERSION}" (Hub cards have none)')

    # -- task
    pipeline = data.get("pipeline_tag")
    index_tasks: list[Any] = []
    for entry in index if isinstance(index, list) else []:
        results = entry.get("results") if isinstance(entry, dict) else None
        for result in results if isinstance(results, list) else []:
            if isinstance(result, dict) and isinstance(result.get("task"), dict):
                index_tasks.append(result["task"].get("type"))
    if task is not None:
        if task not in task_ids():
            imp.problem((), f"--task {task!r} is not a Modelshelf task", "use one of: " + ", ".join(task_ids()))
        card["task"] = task
        if pipeline is not None and pipeline != task:
            imp.skip(("pipeline_tag",), pipeline, f"--task {task} given instead")
        elif pipeline is not None:
            imp.map(("pipeline_tag",), "task")
    elif pipeline is not None:
        if isinstance(pipeline, str) and pipeline.strip() in task_ids():
            card["task"] = pipeline.strip()
            imp.map(("pipeline_tag",), "task")
        else:
            imp.problem(("pipeline_tag",), f"pipeline_tag {_short(pipeline)} is not a Modelshelf task",
                        "pass --task with one of: " + ", ".join(task_ids()))
    elif any(t in task_ids() for t in index_tasks):
        card["task"] = next(t for t in index_tasks if t in task_ids())
        imp.notes.append(f"task {card['task']} taken from model-index (the front matter has no pipeline_tag)")
    else:
        imp.problem((), "no pipeline_tag in the front matter, so the card's task is unknown",
                    "add pipeline_tag: (e.g. image-classification) or pass --task with one of: " + ", ".join(task_ids()))

    # -- licence
    _map_license(imp, card)

    # -- authors, framework, base model
    card["authors"] = [{"name": chosen_org or "unknown"}]
    imp.notes.append(f"authors set to [{chosen_org}] (Hub cards have no authors field): list the real authors")
    library = data.get("library_name")
    if library is None:
        card["framework"] = "onnx" if has_onnx else "other"
        imp.notes.append(f"framework set to {card['framework']} (the front matter has no library_name)")
    elif isinstance(library, str) and library.strip().lower() in _LIBRARY_FRAMEWORK:
        card["framework"] = _LIBRARY_FRAMEWORK[library.strip().lower()]
        imp.map(("library_name",), f"framework ({card['framework']})")
    else:
        card["framework"] = "other"
        imp.skip(("library_name",), library, "no Modelshelf framework for this library: framework set to other")
    if "base_model" in data:
        bases = imp.strings(("base_model",), data["base_model"])
        if bases:
            path, base = bases[0]
            if len(base) <= card_schema()["properties"]["base_model"]["maxLength"]:
                card["base_model"] = base
                imp.map(path, "base_model")
            else:
                imp.skip(path, base, "longer than the 200 characters a card's base_model holds")
            for path, other in bases[1:]:
                imp.skip(path, other, "a card has one base_model (the first one is kept)")

    # -- tags
    if "tags" in data:
        tags: list[str] = []
        for path, raw in imp.strings(("tags",), data["tags"]):
            tag = re.sub(r"\s+", "-", raw.strip().lower())
            if not _TAG.match(tag):
                imp.skip(path, raw, "not a valid tag (lower case letters, digits, '+', '.', '_' and '-', at most 40)")
            elif tag in tags:
                imp.skip(path, raw, f"the same tag as {tag!r}")
            elif len(tags) >= 20:
                imp.skip(path, raw, "a card holds at most 20 tags")
            else:
                tags.append(tag)
                imp.map(path, f"tags ({tag})" if tag != raw else "tags")
        if tags:
            card["tags"] = tags

    # -- datasets, then the model-index results that become metrics (their datasets are declared too)
    datasets: list[str] = []
    if "datasets" in data:
        for path, raw in imp.strings(("datasets",), data["datasets"]):
            ident = raw.strip()
            if not _DATASET_ID.match(ident):
                imp.skip(path, raw, "not a dataset id (letters, digits, '-', '_', '.' and '/')")
            elif ident in datasets:
                imp.skip(path, raw, "listed twice")
            elif len(datasets) >= 20:
                imp.skip(path, raw, "a card holds at most 20 datasets")
            else:
                datasets.append(ident)
                imp.map(path, "datasets")
    metrics = _map_model_index(imp, index, datasets, card.get("task")) if "model-index" in data else []
    if datasets:
        card["datasets"] = [{"id": d} for d in datasets]
    if metrics:
        card["metrics"] = metrics

    # -- everything else is reported
    reasons = {
        "language": "cards have no language field",
        "metrics": "metric ids without values; only model-index results carry values",
        "thumbnail": "the site shows no thumbnail",
        "widget": "the site's Try it panel is configured by the card's inputs, not by widget examples",
        "inference": "the site runs every model in the browser; there is no inference switch",
        "base_model_relation": "cards do not say how a model derives from its base_model",
    }
    for key, value in data.items():
        if key not in handled:
            imp.skip((key,), value, reasons.get(key, "no Modelshelf card field"))
    return card


def _map_license(imp: _Importer, card: dict[str, Any]) -> None:
    data = imp.fm.data
    if "license" not in data:
        imp.problem((), "no license in the front matter", "add license: with a Hugging Face licence id such as apache-2.0 or mit")
        return
    hf_id = imp.text(("license",), data["license"], "license")
    if hf_id is None:
        return
    spdx = spdx_for_hf_license(hf_id)
    if spdx is not None:
        card["license"] = spdx
        imp.map(("license",), f"license ({spdx})")
        for extra in ("license_name", "license_link"):
            if extra in data:
                imp.skip((extra,), data[extra], f"not needed: {hf_id} is the SPDX licence {spdx}")
        return
    name, link = data.get("license_name"), data.get("license_link")
    if isinstance(name, str) and _spdx_by_name(name):
        # `modelshelf export-hf` writes an SPDX licence the Hub does not list as license: other with its SPDX id as name.
        card["license"] = _spdx_by_name(name)
        imp.map(("license_name",), f"license ({card['license']})")
        imp.map(("license",), f"license ({card['license']})")
        if link is not None:
            imp.map(("license_link",), f"license ({card['license']})")
        return
    if isinstance(name, str) and name.strip() and isinstance(link, str) and link.strip():
        card["license"] = "other"
        card["license_name"] = name.strip()
        card["license_link"] = link.strip()
        imp.map(("license",), "license (other)")
        imp.map(("license_name",), "license_name")
        imp.map(("license_link",), "license_link")
        return
    given = {"license_name": name, "license_link": link}
    missing = " and ".join(k for k, v in given.items() if not (isinstance(v, str) and v.strip()))
    why = "the Hub's 'other'" if hf_id.lower() == "other" else f"{hf_id!r}, which has no SPDX id,"
    imp.problem(("license",), f"license is {why} and the front matter has no {missing}",
                "add license_name: (the licence's name) and license_link: (a link to its text) to the front matter, "
                "or use a licence id with an SPDX equivalent such as apache-2.0 or mit")


def _map_model_index(imp: _Importer, index: Any, datasets: list[str], task: str | None) -> list[dict[str, Any]]:
    """model-index results -> card metrics (claims); datasets they name are added to `datasets`."""
    root: tuple[PathPart, ...] = ("model-index",)
    if not isinstance(index, list):
        imp.problem(root, f"model-index must be a list, got {_short(index)}",
                    "write model-index: then '- name: ORG/NAME' with results: (see the Hub's model card docs)")
        return []
    metrics: list[dict[str, Any]] = []
    first_name = None
    for e, entry in enumerate(index):
        at = root + (e,)
        if not isinstance(entry, dict):
            imp.problem(at, f"a model-index entry must be a mapping with name and results, got {_short(entry)}",
                        "write '- name: ORG/NAME' followed by results:")
            continue
        for key, value in entry.items():
            if key == "name":
                if first_name is None and isinstance(value, str):
                    first_name = value
                    imp.map(at + ("name",), "id and name (when model_name is absent)")
                else:
                    imp.skip(at + ("name",), value, "the card's id comes from the first model-index name")
            elif key != "results":
                imp.skip(at + (key,), value, "no Modelshelf card field")
        results = entry.get("results")
        if not isinstance(results, list):
            imp.problem(at + ("results",), "model-index entry has no list of results",
                        "add results: with '- task: ...', dataset: and metrics: (or remove the entry)")
            continue
        for r, result in enumerate(results):
            metrics += _map_result(imp, at + ("results", r), result, datasets, task)
    if len(metrics) > 50:
        for extra in metrics[50:]:
            imp.skip(extra.pop("_path"), extra["value"], "a card holds at most 50 metrics")
        metrics = metrics[:50]
    for m in metrics:
        imp.map(m.pop("_path"), "metrics (claimed)")
    return metrics


def _map_result(imp: _Importer, at: tuple[PathPart, ...], result: Any, datasets: list[str],
                task: str | None) -> list[dict[str, Any]]:
    if not isinstance(result, dict):
        imp.problem(at, f"a result must be a mapping with task, dataset and metrics, got {_short(result)}",
                    "write '- task: {type: ...}' with dataset: and metrics: under it")
        return []
    for key, value in result.items():
        if key == "task":
            if not isinstance(value, dict):
                imp.problem(at + ("task",), f"task must be a mapping with type, got {_short(value)}",
                            "write task: {type: image-classification}")
                continue
            for tkey, tvalue in value.items():
                path = at + ("task", tkey)
                if tkey == "type" and tvalue == task:
                    imp.map(path, "task (the same as the card's)")
                elif tkey == "type":
                    imp.skip(path, tvalue, f"differs from the card's task {task}")
                else:
                    imp.skip(path, tvalue, "display name" if tkey == "name" else "no Modelshelf card field")
        elif key == "source":
            imp.skip(at + (key,), value, "cards record no per-result source (their metrics are claims)")
        elif key not in ("dataset", "metrics"):
            imp.skip(at + (key,), value, "no Modelshelf card field")
    dataset = result.get("dataset")
    dataset_id = split = None
    if not isinstance(dataset, dict) or not isinstance(dataset.get("type"), str) or not dataset["type"].strip():
        imp.problem(at + ("dataset",) + (("type",) if isinstance(dataset, dict) else ()),
                    "a result needs dataset.type, the id of the dataset its metrics were computed on",
                    "write dataset: {type: DATASET_ID, name: Pretty name, split: test}")
    else:
        for dkey, dvalue in dataset.items():
            path = at + ("dataset", dkey)
            if dkey == "type":
                dataset_id = dvalue.strip()
                if not _DATASET_ID.match(dataset_id):
                    imp.skip(path, dvalue, "not a dataset id (letters, digits, '-', '_', '.' and '/'): its metrics are not kept")
                    dataset_id = None
                else:
                    imp.map(path, "metrics[].dataset and datasets")
            elif dkey == "split" and isinstance(dvalue, (str, int, float)) and not isinstance(dvalue, bool) \
                    and 0 < len(str(dvalue)) <= 100:
                split = str(dvalue)
                imp.map(path, "metrics[].split")
            else:
                reason = {"name": "display name; cards name datasets by id", "config": "cards have no dataset configuration",
                          "revision": "cards do not pin a dataset revision", "args": "cards have no dataset loading arguments"}
                imp.skip(path, dvalue, reason.get(dkey, "no Modelshelf card field"))
    raw_metrics = result.get("metrics")
    if not isinstance(raw_metrics, list):
        imp.problem(at + ("metrics",), "a result needs a list of metrics",
                    "write metrics: then '- type: accuracy' and 'value: 0.97' for each")
        return []
    if dataset_id is not None and dataset_id not in datasets:
        if len(datasets) >= 20:
            for m, metric in enumerate(raw_metrics):
                imp.skip(at + ("metrics", m), metric, f"its dataset {dataset_id} does not fit: a card holds at most 20 datasets")
            return []
        datasets.append(dataset_id)
    out = []
    for m, metric in enumerate(raw_metrics):
        path = at + ("metrics", m)
        if not isinstance(metric, dict) or "type" not in metric or "value" not in metric:
            imp.problem(path, "a metric needs type and value", "write '- type: accuracy' and 'value: 0.97'")
            continue
        name, used = _metric_name(metric)
        value, how = _number(metric["value"])
        # A metric the card cannot hold is reported whole (type, value and the rest), once, with the first reason.
        if name is None:
            args = metric.get("args")
            averaged = args.get("average") if isinstance(args, dict) else metric.get("config")
            why = f"{_short(metric['type'])} is not a metric Modelshelf computes (see the card reference for the list)"
            if str(metric["type"]).lower() in _BINARY_METRICS and averaged is not None:
                why = (f"{metric['type']} averaged {averaged!r} is not a metric Modelshelf computes "
                       "(its f1, precision and recall are binary; f1_macro is the macro average)")
            imp.skip(path, metric, why)
            continue
        if value is None:
            imp.skip(path, metric, f"its value {_short(metric['value'])} is {how}")
            continue
        if dataset_id is None:
            imp.skip(path, metric, "its result names no usable dataset id")
            continue
        for key, item in metric.items():
            if key in ("type", "value") or key in used:
                continue
            reasons = {"name": "display name", "verified": "the Hub evaluator's flag; imported values are claims, and the "
                       "build verifies only what it recomputes", "verifyToken": "the Hub evaluator's signature; see verified",
                       "config": "cards have no metric configuration", "args": "cards have no metric arguments"}
            imp.skip(path + (key,), item, reasons.get(key, "no Modelshelf card field"))
        if how:
            imp.notes.append(f"{json_path(path + ('value',))}: {how}")
        claim: dict[str, Any] = {"name": name, "value": value, "dataset": dataset_id}
        if split is not None:
            claim["split"] = split
        claim["_path"] = path
        out.append(claim)
    return out


# ---------------------------------------------------------------- writing the card

class _CardDumper(yaml.SafeDumper):
    """Block scalars for multi-line text; quotes for text a YAML 1.2 reader could take for a number or a boolean."""


_AMBIGUOUS = re.compile(r"^(?:[-+.0-9].*|y|n|yes|no|on|off|true|false|null|~)$", re.IGNORECASE)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    if _AMBIGUOUS.match(value) or not value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_CardDumper.add_representer(str, _represent_str)


def _dump(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_CardDumper, sort_keys=False, allow_unicode=True, width=120, default_flow_style=False)


PLACEHOLDER_RECIPE = '''\
"""Write OUTDIR/model.onnx. Run as: python recipe.py OUTDIR

This card was imported from a Hugging Face model card that had no ONNX file beside it: export the
model to ONNX here (e.g. torch.onnx.export(..., dynamo=False)), then list its real inputs and
outputs in card.yaml (`modelshelf validate` compares them with the file).
"""
import sys

sys.exit("recipe.py: not written yet; this model was imported without an ONNX file (see the docstring)")
'''


def _signature_fields(onnx_path: Path, display: str) -> dict[str, Any]:
    """inputs and outputs of the ONNX file, read with the build's ONNX helpers (checked first; nothing is run)."""
    import onnx

    from modelshelf.generator.enrich.onnx_info import checked_signature
    from modelshelf.generator.export.safety import has_external_data

    size = onnx_path.stat().st_size
    if size > MAX_COMMITTED_ONNX_BYTES:
        raise HfCardInvalid([Problem(display, 1, 1, "$.source", f"the ONNX file is {size} bytes, more than the "
                                     f"{MAX_COMMITTED_ONNX_BYTES} a card may commit beside it",
                                     "host the file and write source: {url, sha256, size} in the card by hand; "
                                     "import-hf copies files of up to 10 MB")])
    signature, why = checked_signature(onnx_path)
    if signature is None:
        raise HfCardInvalid([Problem(display, 1, 1, "$.source", why, "re-export the model to ONNX, or remove the file")])
    if has_external_data(onnx.load(str(onnx_path), load_external_data=False)):
        raise HfCardInvalid([Problem(display, 1, 1, "$.source", "the ONNX file keeps its weights in external data files",
                                     "save it as one file (onnx.save(model, path, save_as_external_data=False))")])

    def tensors(infos: Any) -> list[dict[str, Any]]:
        return [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in infos]

    return {"inputs": tensors(signature.inputs), "outputs": tensors(signature.outputs)}


def import_hf(path: Path, out_dir: Path, *, org: str | None = None, name: str | None = None,
              task: str | None = None) -> ImportReport:
    """Turn a Hugging Face model card (README.md, or a folder holding one and maybe an ONNX file) into
    out_dir/ORG/NAME/card.yaml (plus model.onnx), validated before it is moved into place.

    Raises HfCardInvalid with every problem (README line and field, and a fix) when the front matter is
    malformed or cannot make a valid card, HfBridgeError when files cannot be read or the folder exists.
    """
    readme = path / README_NAME if path.is_dir() else path
    if not readme.is_file():
        raise HfBridgeError(f"{readme} does not exist: give a Hugging Face model card (README.md) or the folder holding it")
    fm = _read_readme(readme, str(readme))
    imp = _Importer(fm)
    onnx_path, others = _find_onnx(readme.parent)
    fallback = readme.parent.resolve().name
    card = _map_card(imp, org=org, name=name, task=task, fallback_name=fallback, has_onnx=onnx_path is not None)
    if imp.problems:
        raise HfCardInvalid(imp.problems)
    for other in others:
        imp.notes.append(f"{other} not imported (a card has one main ONNX file; add others as variants by hand)")

    ordered: dict[str, Any] = {k: card[k] for k in ("id", "name", "version") if k in card}
    ordered["summary"] = _summary(fm.body, card["name"])
    imp.notes.append("summary taken from the first paragraph of the README: check it reads as one sentence")
    description_field = card_schema()["properties"]["description"]["maxLength"]
    readme_beside = None
    if not fm.body.strip():
        ordered["description"] = f"{card['name']}, imported from a Hugging Face model card that has no text."
        imp.notes.append("description is a placeholder: the README has no Markdown body")
    elif len(fm.body) > description_field:
        readme_beside = fm.body + "\n"
        imp.notes.append(f"the README body is longer than the {description_field} characters of description: "
                         "written to README.md beside the card, which the site shows instead")
    else:
        ordered["description"] = fm.body + "\n"
    imp.mapped.insert(0, ("(Markdown body)", "description" if readme_beside is None else "README.md beside the card"))
    for key in ("task", "tags", "license", "license_name", "license_link", "authors", "datasets", "base_model", "framework"):
        if key in card:
            ordered[key] = card[key]
    if onnx_path is not None:
        ordered["source"] = {"file": ONNX_NAME}
        ordered.update(_signature_fields(onnx_path, str(onnx_path)))
        imp.mapped.append((str(onnx_path.relative_to(readme.parent)), "source.file, inputs, outputs (from the ONNX graph)"))
        imp.notes.append("inputs and outputs come from the ONNX graph: add kind, description and any "
                         "preprocessing/postprocessing, labels and examples")
    else:
        ordered["source"] = {"recipe": "recipe.py"}
        ordered["inputs"] = [{"name": "input", "dtype": "float32", "shape": [None],
                              "description": "placeholder: no ONNX file was imported; list the model's real inputs"}]
        ordered["outputs"] = [{"name": "output", "dtype": "float32", "shape": [None],
                               "description": "placeholder: no ONNX file was imported; list the model's real outputs"}]
        imp.notes.append("no ONNX file beside the README: source is a placeholder recipe.py and inputs/outputs are "
                         "placeholders; write the export in recipe.py and list the real tensors before a build")
    if "metrics" in card:
        ordered["metrics"] = card["metrics"]
        imp.notes.append("metrics are claims (no evaluation block): add evaluation: so the build recomputes them")

    org_name, short = card["id"].split("/")
    target = out_dir / org_name / short
    if target.exists():
        raise HfBridgeError(f"{target} already exists: remove it, or import into another --out folder")
    header = ("# Imported from a Hugging Face model card by `modelshelf import-hf`; "
              "review the fields its report lists under \"check by hand\".\n")
    with tempfile.TemporaryDirectory(prefix="modelshelf-import-") as tmp:
        staged = Path(tmp) / org_name / short
        staged.mkdir(parents=True)
        (staged / "card.yaml").write_text(header + _dump(ordered), encoding="utf-8")
        if onnx_path is not None:
            shutil.copyfile(onnx_path, staged / ONNX_NAME)
        else:
            (staged / "recipe.py").write_text(PLACEHOLDER_RECIPE, encoding="utf-8")
        if readme_beside is not None:
            (staged / README_NAME).write_text(readme_beside, encoding="utf-8")
        _, problems = check_card(staged / "card.yaml")
        if problems:
            shown = str(target / "card.yaml")
            raise HfCardInvalid([dataclasses.replace(p, file=p.file.replace(str(staged / "card.yaml"), shown)
                                                     .replace(str(staged), str(target))) for p in problems])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staged, target)
    log.debug("imported %s into %s", readme, target)
    return ImportReport(target, ordered, tuple(imp.mapped), tuple(imp.unmapped), tuple(imp.notes),
                        target / ONNX_NAME if onnx_path is not None else None)


# ---------------------------------------------------------------- export

def _load_catalog(site_dir: Path | None, catalog_path: Path | None) -> tuple[dict[str, Any], Path]:
    """catalog.json and the folder its file URLs are relative to (the site's root)."""
    path = catalog_path if catalog_path is not None else (site_dir or Path("site")) / "catalog.json"
    try:
        size = path.stat().st_size
        if size > MAX_CATALOG_BYTES:
            raise HfBridgeError(f"{path} is {size} bytes, more than the {MAX_CATALOG_BYTES} a catalog may have")
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HfBridgeError(f"{path} does not exist: build the site first (`modelshelf build`), then pass --site-dir "
                            "or --catalog") from None
    except (OSError, ValueError) as exc:
        raise HfBridgeError(f"cannot read {path}: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("models"), list):
        raise HfBridgeError(f"{path} is not a Modelshelf catalog.json (no models list)")
    return document, (site_dir if site_dir is not None else path.parent)


def _entry(document: dict[str, Any], model_ref: str) -> dict[str, Any]:
    ident, _, version = model_ref.partition("@")
    entries = [e for e in document["models"] if isinstance(e, dict) and e.get("id") == ident]
    if not entries:
        raise HfBridgeError(f"{ident} is not in the catalog; `modelshelf list` shows the models of a site")
    if version:
        chosen = next((e for e in entries if e.get("version") == version), None)
        if chosen is None:
            have = ", ".join(str(e.get("version")) for e in entries)
            raise HfBridgeError(f"{ident} has no version {version} in the catalog (it has: {have})")
        return chosen
    latest = [e for e in entries if e.get("latest")]
    return latest[0] if latest else max(entries, key=lambda e: version_key(str(e.get("version"))))


def _copy_verified(source: Path, target: Path, size: int, sha256: str) -> None:
    """Copy a file, checking its size and SHA-256 against the catalog on the way."""
    digest = hashlib.sha256()
    written = 0
    partial = target.with_name(target.name + ".partial")
    with source.open("rb") as src, partial.open("wb") as dst:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            written += len(chunk)
            dst.write(chunk)
    if written != size or digest.hexdigest() != sha256:
        partial.unlink()
        raise HfBridgeError(f"{source} is not the file the catalog lists (size {written} != {size} or SHA-256 differs): "
                            "rebuild the site")
    os.replace(partial, target)


def verified_metrics(entry: dict[str, Any]) -> list[tuple[str, float]]:
    """The metrics the build recomputed with a registry dataset (tier `verified`), in the evaluation's order."""
    evaluation = entry.get("evaluation") or {}
    tiers = evaluation.get("tiers") or {}
    return [(name, float(value)) for name, value in (evaluation.get("metrics") or {}).items() if tiers.get(name) == "verified"]


def _hf_metric(name: str, value: float) -> dict[str, Any]:
    if name == "f1_macro":
        return {"type": "f1", "value": value, "args": {"average": "macro"}}
    return {"type": name, "value": value}


def hf_front_matter(entry: dict[str, Any], page_url: str) -> tuple[dict[str, Any], list[str]]:
    """The Hub metadata of a catalog entry, and notes on what the Hub will not understand."""
    card = entry.get("card") or {}
    notes: list[str] = []
    front: dict[str, Any] = {}
    license_id = card.get("license", "other")
    if license_id == "other":
        front["license"] = "other"
        front["license_name"] = card.get("license_name", "")
        front["license_link"] = card.get("license_link", "")
    elif hf_license_for_spdx(license_id):
        front["license"] = hf_license_for_spdx(license_id)
    else:
        front.update({"license": "other", "license_name": license_id, "license_link": f"https://spdx.org/licenses/{license_id}.html"})
        notes.append(f"the Hub lists no licence id for {license_id}: written as license: other with its SPDX id")
    front["library_name"] = "onnx"
    front["pipeline_tag"] = card.get("task", entry.get("task"))
    if card.get("tags"):
        front["tags"] = list(card["tags"])
    if card.get("datasets"):
        front["datasets"] = [d["id"] for d in card["datasets"] if isinstance(d, dict) and "id" in d]
    if card.get("base_model"):
        front["base_model"] = card["base_model"]
    front["model_name"] = card.get("name", entry.get("id"))
    metrics = verified_metrics(entry)
    if metrics:
        from modelshelf.generator.evaluate.datasets import builtin_name

        evaluation = entry.get("evaluation") or {}
        spec = card.get("evaluation") or {}
        registry = str(spec.get("dataset") or "")
        # The card's own id for the evaluated dataset (an alias of the registry name, e.g. sklearn/breast-cancer),
        # so that the model-index names a dataset the card's datasets list declares.
        wanted = builtin_name(registry)
        declared = [d for d in front.get("datasets", []) if wanted is not None and builtin_name(d) == wanted]
        dataset: dict[str, Any] = {"type": declared[0] if declared else registry,
                                   "name": str(evaluation.get("data") or registry),
                                   # verified values come from a registry dataset: its held-out part with a split, else every row
                                   "split": "test" if spec.get("split") else "all"}
        result = {"task": {"type": front["pipeline_tag"]}, "dataset": dataset,
                  "metrics": [_hf_metric(n, v) for n, v in metrics],
                  "source": {"name": BUILD_SOURCE_NAME, "url": page_url}}
        front["model-index"] = [{"name": entry["id"], "results": [result]}]
    return front, notes


def export_hf(model_ref: str, out_dir: Path, *, site_dir: Path | None = None, catalog_path: Path | None = None) -> ExportReport:
    """Write out_dir/README.md (Hub front matter and the card's description) beside a verified copy of the ONNX file.

    The model-index holds only the values the build verified, with the model's page as their source; the
    Hub's own `verified` flag is left unset (it is Hugging Face's evaluator's). Raises HfBridgeError when the
    catalog, the entry or its ONNX file cannot be found, or when out_dir already holds README.md or model.onnx.
    """
    document, root = _load_catalog(site_dir, catalog_path)
    entry = _entry(document, model_ref)
    onnx_file = next((f for f in entry.get("files") or [] if isinstance(f, dict) and f.get("kind") == "onnx"), None)
    if onnx_file is None:
        raise HfBridgeError(f"{entry['id']}@{entry.get('version')} lists no ONNX file in the catalog")
    url = str(onnx_file.get("url", ""))
    if url.startswith(("https://", "http://")):
        raise HfBridgeError(f"the ONNX file of {entry['id']} is hosted at {url}, not in the site: "
                            f"`modelshelf pull {entry['id']}@{entry.get('version')}` downloads and verifies it")
    source = (root / url).resolve()
    if not source.is_relative_to(root.resolve()) or not source.is_file():
        raise HfBridgeError(f"{root / url} is not in the built site: pass the --site-dir the catalog was built into")
    site_url = str(document.get("site_url") or "")
    page = str(entry.get("page") or f"models/{entry['id']}/")
    page_url = page if page.startswith(("https://", "http://")) else f"{site_url.rstrip('/')}/{page.lstrip('/')}"
    front, notes = hf_front_matter(entry, page_url)
    if front["pipeline_tag"] not in _HUB_TASKS:
        notes.append(f"{front['pipeline_tag']} is not a Hub pipeline tag: the Hub lists the model under no task")
    card = entry.get("card") or {}
    body = card.get("description") or card.get("summary") or ""
    if not card.get("description"):
        notes.append("the card has no description field (its text is in README.md beside it): the body is the summary")
    readme_text = "---\n" + _dump(front) + "---\n\n" + body.rstrip() + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    readme, onnx_target = out_dir / README_NAME, out_dir / ONNX_NAME
    for existing in (readme, onnx_target):
        if existing.exists():
            raise HfBridgeError(f"{existing} already exists: export into an empty folder")
    _copy_verified(source, onnx_target, int(onnx_file.get("size", -1)), str(onnx_file.get("sha256", "")))
    partial = readme.with_name(readme.name + ".partial")
    partial.write_text(readme_text, encoding="utf-8")
    os.replace(partial, readme)
    return ExportReport(out_dir, readme, onnx_target, front, tuple(verified_metrics(entry)), tuple(notes))


# Hub pipeline tags that are also Modelshelf tasks (the others are Modelshelf's own).
_HUB_TASKS = frozenset({"tabular-classification", "tabular-regression", "image-classification", "object-detection",
                        "feature-extraction", "sentence-similarity", "text-classification", "audio-classification",
                        "voice-activity-detection"})
