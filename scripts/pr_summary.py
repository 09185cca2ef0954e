"""The job summary of a pull request's check (.github/workflows/pr.yml writes it to $GITHUB_STEP_SUMMARY).

    python scripts/pr_summary.py --base BASE/models --head models [--catalog site/catalog.json] [--problems validate.json]

Compares two models folders (the pull request's base, checked out beside it, and its head) and prints Markdown:
one table row per model version added, changed or removed; for each metric the value the card claims beside the
value the build computed and its tier (from the built site's catalog.json, when the build got that far); and the
problems `modelshelf validate --format json` reported. Reads only files: no git, no network.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CARD_FILE = "card.yaml"


@dataclass
class Change:
    """One card added, changed or removed: its folder relative to the models folder, and its fields."""

    folder: str
    status: str  # added | changed | removed
    card: dict[str, Any] = field(default_factory=dict)
    unreadable: str = ""


def _digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under a card's folder, by relative path (a version folder's own files only)."""
    out: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not path.is_symlink() and not any(part.startswith(".") for part in rel.parts):
            out[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _card_folders(models: Path) -> dict[str, Path]:
    if not models.is_dir():
        return {}
    return {card.parent.relative_to(models).as_posix(): card.parent for card in sorted(models.rglob(CARD_FILE))}


def _read_card(folder: Path) -> tuple[dict[str, Any], str]:
    try:
        data = yaml.safe_load((folder / CARD_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return {}, f"the card does not load: {str(exc).splitlines()[0]}"
    return (data, "") if isinstance(data, dict) else ({}, "the card is not a mapping")


def changed_cards(base: Path, head: Path) -> list[Change]:
    """Cards of `head` that are new or differ from `base` (any file in the card's folder), and cards `head` removed."""
    before, after = _card_folders(base), _card_folders(head)
    changes: list[Change] = []
    for rel, folder in sorted(after.items()):
        if rel in before and _digest(before[rel]) == _digest(folder):
            continue
        card, why = _read_card(folder)
        changes.append(Change(rel, "changed" if rel in before else "added", card, why))
    for rel in sorted(set(before) - set(after)):
        card, why = _read_card(before[rel])
        changes.append(Change(rel, "removed", card, why))
    return changes


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return " ".join(text.split()).replace("|", "\\|") or " "


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else _cell(value)


def _metric_lines(card: dict[str, Any], entry: dict[str, Any] | None, built: bool) -> list[str]:
    """`name: claimed X, verified Y (tier)` for each metric the card claims."""
    claims = (entry or {}).get("evaluation") or {}
    computed = claims.get("claims") or []
    lines = []
    for i, metric in enumerate(card.get("metrics") or []):
        if not isinstance(metric, dict):
            continue
        name = metric.get("name", "?")
        found = computed[i] if i < len(computed) and isinstance(computed[i], dict) and computed[i].get("name") == name else None
        if found is not None and found.get("recomputed") is not None:
            verified = f"{_number(found['recomputed'])} ({found.get('tier', '?')})"
        else:
            verified = ("not computed" if not built else "not in the built site" if entry is None
                        else "not recomputed (claimed)")
        lines.append(f"{_cell(name)}: claimed {_number(metric.get('value'))}, build {verified}")
    return lines


def summary(changes: list[Change], *, catalog: dict[str, Any] | None, problems: dict[str, Any] | None,
            models_prefix: str = "models") -> str:
    """The Markdown summary."""
    entries = {(m.get("id"), m.get("version")): m for m in (catalog or {}).get("models", [])}
    out = ["## Models in this pull request", ""]
    if not changes:
        out.append("No model card was added, changed or removed.")
    else:
        if catalog is None:
            out += ["The site was not built, so no metric was recomputed: every value below is as claimed.", ""]
        out += ["| model | version | change | metrics: claimed vs computed by the build |", "|---|---|---|---|"]
        for c in changes:
            ident = c.card.get("id") or c.folder
            version = c.card.get("version", "")
            entry = entries.get((ident, version)) if c.status != "removed" else None
            metrics = [c.unreadable] if c.unreadable else _metric_lines(c.card, entry, catalog is not None)
            out.append(f"| {_cell(ident)} | {_cell(version)} | {c.status} | {'<br>'.join(metrics) or 'no metrics claimed'} |")
    items = [("error", p) for p in (problems or {}).get("problems", [])] + [
        ("warning", p) for p in (problems or {}).get("warnings", [])]
    out += ["", "## Problems", ""]
    if problems is None:
        out.append("`modelshelf validate` did not report (see the log).")
    elif not items:
        out.append("`modelshelf validate` found no problems.")
    else:
        out += ["| | where | field | problem | how to fix it |", "|---|---|---|---|---|"]
        for level, p in items:
            where = f"{p.get('file')}:{p.get('line')}:{p.get('col')}"
            cells = [level, f"`{_cell(where)}`", f"`{_cell(p.get('path'))}`", _cell(p.get("message")), _cell(p.get("hint"))]
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def _load_json(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="the base branch's models folder")
    parser.add_argument("--head", type=Path, default=Path("models"), help="the pull request's models folder")
    parser.add_argument("--catalog", type=Path, default=None, help="the built site's catalog.json (computed metrics)")
    parser.add_argument("--problems", type=Path, default=None, help="the output of `modelshelf validate --format json`")
    args = parser.parse_args(argv)
    sys.stdout.write(summary(changed_cards(args.base, args.head), catalog=_load_json(args.catalog),
                             problems=_load_json(args.problems)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
