"""What the deploy commands of the CLI (`run`, `serve ORG/NAME`, `search`, `list`, `info`) call:
a loaded runtime for a pulled model, and the text or JSON those commands print.

Library code: nothing here prints or exits; the CLI does. Every catalog string in the text output
goes through `printable` (the catalog is not trusted: an escape sequence in a summary must not reach
the terminal), and every catalog value is read as if it could be of any type.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from modelshelf.catalog.client.download import Client, ModelRow, as_list, as_mapping
from modelshelf.catalog.client.text import printable

log = logging.getLogger(__name__)


def load_runner(client: Client, model_ref: str, variant: str | None = None) -> Any:
    """Pull (or find in the cache) a verified model and load it in the runtime that deploy bundles use.

    Raises catalog.errors.ModelshelfError subclasses for download problems and the runtime's
    IntegrityError if the file changed after it was verified.
    """
    from modelshelf.catalog.runtime import predictor as runtime

    entry, path = client.model(model_ref, variant=variant)
    config = runtime.config_from_entry(entry, variant)
    tokenizer = as_mapping(config["pipeline"].get("tokenizer"))
    if tokenizer.get("vocab_file"):  # text models: the vocabulary published beside the model, verified like it
        vocab = client.pull(entry["id"], entry["version"], "tokenizer")
        config["assets"] = {str(tokenizer["vocab_file"]): str(vocab)}
    return runtime.Runner(config, path)


def _metrics_text(model: dict[str, Any]) -> str:
    metrics = as_list(as_mapping(model.get("card")).get("metrics"))
    return printable(", ".join(f"{m.get('name')}={m.get('value')}" for m in metrics if isinstance(m, dict)))


def format_search(models: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([{"id": m.get("id"), "version": m.get("version"), "task": m.get("task"),
                            "summary": as_mapping(m.get("card")).get("summary"), "page": m.get("page")}
                           for m in models], indent=1)
    if not models:
        return "no models match"
    lines = []
    for m in models:
        card = as_mapping(m.get("card"))
        metrics = _metrics_text(m)
        lines.append(printable(f"{m.get('id')}@{m.get('version')}  [{m.get('task')}]") + (f"  {metrics}" if metrics else ""))
        lines.append(f"    {printable(card.get('summary', ''))}")
    lines.append(f"{len(models)} model{'s' if len(models) != 1 else ''}")
    return "\n".join(lines)


def format_list(rows: list[ModelRow], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([{"id": r.model_id, "version": r.version, "task": r.task, "summary": r.summary,
                            "cached": list(r.cached)} for r in rows], indent=1)
    if not rows:
        return "no models"
    width = max(len(f"{r.model_id}@{r.version}") for r in rows)
    lines = [f"{f'{r.model_id}@{r.version}':<{width}}  {('cached: ' + ','.join(r.cached)) if r.cached else '':<20}  "
             f"{printable(r.task)}" for r in rows]
    return "\n".join(lines)


def _cached(client: Client, entry: dict[str, Any], kind: Any) -> str | None:
    try:
        path = client.cached_path(entry["id"], entry["version"], kind) if isinstance(kind, str) else None
    except ValueError:  # not a kind the cache can name a file after
        return None
    return str(path) if path else None


def format_info(client: Client, entry: dict[str, Any], fmt: str) -> str:
    card = as_mapping(entry.get("card"))
    files = [{**f, "cached": _cached(client, entry, f.get("kind"))} for f in as_list(entry.get("files")) if isinstance(f, dict)]
    info = {"id": entry["id"], "version": entry["version"], "name": card.get("name"), "summary": card.get("summary"),
            "task": entry.get("task"), "license": card.get("license"), "page": client.site_url + str(entry.get("page", "")),
            "signature": entry.get("signature"), "labels": card.get("labels") or [], "metrics": card.get("metrics") or [],
            "files": files}
    if fmt == "json":
        return json.dumps(info, indent=1)
    sig = as_mapping(entry.get("signature"))
    p = printable
    lines = [f"{info['id']}@{info['version']}: {p(info['name'])}", f"  {p(info['summary'])}",
             f"  task: {p(info['task'])}   licence: {p(info['license'])}", f"  page: {p(info['page'])}"]
    for side in ("inputs", "outputs"):
        for t in (as_mapping(t) for t in as_list(sig.get(side))):
            shape = "[" + ", ".join("?" if d is None else str(d) for d in as_list(t.get("shape"))) + "]"
            lines.append(p(f"  {side[:-1] if side == 'inputs' else 'output'}: {t.get('name')} {t.get('dtype')} {shape}"))
    if info["metrics"]:
        lines.append("  metrics (from the card): " + _metrics_text(entry))
    lines.append("  files:")
    for f in files:
        lines.append(p(f"    {f.get('name')!s:<40} {f.get('size')!s:>12} bytes  sha256 {f.get('sha256')}"))
        lines.append(f"    {'':<40} {'cached at ' + f['cached'] if f['cached'] else 'not cached'}")
    return "\n".join(lines)


def load(model_ref: str, base_url: str | None = None, offline: bool = False, *, cache_dir: Any = None,
         variant: str | None = None) -> Any:
    """The model as the runtime runs it (`modelshelf.catalog.runtime.predictor.Runner`), pulled and verified first:
    `load(ref).predict_file("digit.png")` answers as the model page's "Try it" panel does for that file."""
    from modelshelf.catalog.client.download import client

    return load_runner(client(base_url, offline=offline, cache_dir=cache_dir), model_ref, variant)


__all__ = ["format_info", "format_list", "format_search", "load", "load_runner"]
