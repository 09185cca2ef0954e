"""Render the generated pages (Markdown with raw HTML blocks) from enriched entries.

Every printed value that is not `Markup` goes through `escape.page_text` (the environment's `finalize`):
HTML-escaped and inert as Markdown, so a card string is text wherever a template puts it. The only HTML
that is not escaped is the description, which `sanitize.render_markdown` has already cleaned, and the
build's own fences and figures (`Markup`). Links to contributor URLs go through the `web_url` filter.
"""
from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from modelshelf.catalog.validate import card_schema, spdx_ids, tasks

from modelshelf.generator.enrich.stage import ModelEntry, snippet_plan
from modelshelf.generator.render.escape import finalize, one_line, web_url

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int


@dataclass
class Group:
    value: str
    label: str
    url: str | None = None
    spdx: bool = False
    entries: list[ModelEntry] = field(default_factory=list)


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, finalize=finalize,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["web_url"] = web_url
    env.filters["one_line"] = one_line
    # `tojson` writes an emoji as a \ud83d\ude80 surrogate pair, which mkdocs' (lib)yaml front-matter parser refuses:
    # the page then lost its title and showed its front matter as text. Raw UTF-8 is valid JSON and YAML.
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}
    return env


def rel_root(src_uri: str) -> str:
    """Relative path from a generated page back to the site root (pages use directory URLs)."""
    if src_uri == "index.md":
        return ""
    depth = src_uri.count("/") + (0 if src_uri.endswith("index.md") else 1)
    return "../" * depth


def fence(code: str, lang: str) -> Markup:
    """A fenced code block that no backtick run inside `code` can close early."""
    longest = max((len(m) for m in re.findall(r"`+", code)), default=0)
    ticks = "`" * max(3, longest + 1)
    return Markup(f"{ticks} {lang}\n{code}\n{ticks}")


def snippet(code: str, lang: str, kind: str) -> Markup:
    """A "Use it" snippet: a fence whose block gets the class `ms-snippet-<kind>`, which tests find, copy and run."""
    return fence(code, f"{{ .{lang} .ms-snippet-{kind} }}")


def inline_code(text: str) -> Markup:
    """Escape trusted reference text and turn `backticks` into <code> (for prose inside raw HTML blocks)."""
    escaped = str(Markup.escape(text))
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped))


def _compact(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _step_text(step: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={v}" for k, v in step.items() if k != "op")
    return f"{step['op']}({params})" if params else step["op"]


def _license_text(entry: ModelEntry) -> str:
    card = entry.card
    return card.license_name or card.license if card.license == "other" else card.license


def _search_href(root: str, facet: str, value: str) -> str:
    """The home page's search filtered on one facet value (the URL state search/page.js reads)."""
    return f"{root or './'}?{facet}={quote(value, safe='')}"


def card_links(entry: ModelEntry, root: str, pages_by_id: Mapping[str, str]) -> dict[str, Any]:
    """Where a model page's tags, datasets and base model link, as a hub's do: tags and datasets to the filtered
    search, the built-in loaders' datasets to the datasets reference and `modelshelf/...` ones (made by the card's
    evaluation script) to the page's Metrics section, a dataset's own URL
    as its source, and `base_model` to its page when the catalog holds it (not the model itself: a converted copy
    often keeps its upstream's name). `pages_by_id`: lower-cased model id -> page URL from the site root."""
    from modelshelf.generator.evaluate.datasets import builtin_name

    card = entry.card
    tags = [{"text": t, "href": _search_href(root, "tag", t)} for t in card.tags]
    datasets = []
    for d in card.datasets:
        # A built-in loader is described on the datasets reference; a `modelshelf/` one is made by the card's own
        # evaluation script, which the page's Metrics section describes.
        about = (f"{root}reference/datasets/" if builtin_name(d.id) is not None
                 else "#metrics" if d.id.startswith("modelshelf/") else None)
        datasets.append({"id": d.id, "split": d.split, "href": _search_href(root, "dataset", d.id),
                         "about_href": about,
                         "source_href": web_url(d.url) if d.url else None})
    base = None
    if card.base_model:
        page = pages_by_id.get(card.base_model.lower())
        own = card.base_model.lower() == card.id.lower()
        base = {"text": card.base_model, "href": root + page if page and not own else None}
    return {"tags": tags, "datasets": datasets, "base_model": base}


def render_model(env: jinja2.Environment, entry: ModelEntry, pages_by_id: Mapping[str, str] | None = None) -> str:
    card = entry.card
    root = rel_root(entry.src_uri)
    links = card_links(entry, root, pages_by_id or {})
    io_rows = []
    declared = {t.name: t for t in card.inputs + card.outputs}
    for direction, tensors in (("in", entry.signature.inputs), ("out", entry.signature.outputs)):
        for t in tensors:
            io_rows.append({"direction": direction, "name": t.name, "dtype": t.dtype, "shape": t.shape_text,
                            "description": (declared[t.name].description if t.name in declared else "") or ""})
    files = [{"artifact": a, "href": a.url if a.hosted else root + a.url} for a in entry.all_files]
    examples = [{"name": ex.name or f"#{i + 1}", "inputs": _compact(dict(ex.inputs)), "outputs": _compact(dict(ex.outputs))}
                for i, ex in enumerate(card.examples)]
    steps = [_step_text(s.as_dict()) for s in card.preprocessing + card.postprocessing]
    return env.get_template("model.md.j2").render(
        entry=entry, card=card, root=root, task_title=entry.task_title, onnx=entry.onnx, license_text=_license_text(entry),
        onnx_href=files[0]["href"], card_href=files[1]["href"], description_html=Markup(entry.description_html),
        signature=entry.signature, signature_from_card=entry.signature_from_card, io_rows=io_rows, files=files,
        examples=examples, steps=steps, raw_file=snippet_plan(card).file,
        python_fence=snippet(entry.python_snippet, "python", "python"), cli_fence=snippet(entry.cli_snippet, "sh", "cli"),
        shell_fence=snippet(entry.shell_snippet, "sh", "curl"), js_fence=snippet(entry.js_snippet, "js", "js"),
        links=links,
    )


def _facet(entries: list[ModelEntry], values) -> list[FacetValue]:
    counts: dict[str, int] = defaultdict(int)
    labels: dict[str, str] = {}
    for e in entries:
        for value, label in values(e):
            counts[value] += 1
            labels[value] = label
    return sorted((FacetValue(v, labels[v], n) for v, n in counts.items()), key=lambda f: (-f.count, f.label.lower()))


def facets(entries: list[ModelEntry]) -> dict[str, list[FacetValue]]:
    return {
        "task": _facet(entries, lambda e: [(e.card.task, e.task_title)]),
        "license": _facet(entries, lambda e: [(e.card.license, _license_text(e))]),
        "framework": _facet(entries, lambda e: [(e.card.framework, e.card.framework)]),
        "dataset": _facet(entries, lambda e: [(d.id, d.id) for d in e.card.datasets]),
    }


def _task_rows(entries: list[ModelEntry]) -> list[dict[str, Any]]:
    by_task: dict[str, list[ModelEntry]] = defaultdict(list)
    for e in entries:
        by_task[e.card.task].append(e)
    return [{**t, "count": len(by_task[t["id"]]), "url": f"tasks/{t['id']}/", "entries": by_task[t["id"]]} for t in tasks()]


def _groups(entries: list[ModelEntry]) -> tuple[list[Group], list[Group]]:
    lic: dict[str, Group] = {}
    ds: dict[str, Group] = {}
    for e in entries:
        card = e.card
        lic.setdefault(card.license, Group(card.license, _license_text(e), spdx=card.license in spdx_ids())).entries.append(e)
        for d in card.datasets:
            group = ds.setdefault(d.id, Group(d.id, d.id, url=d.url))
            group.url = group.url or d.url
            group.entries.append(e)
    order = lambda g: (-len(g.entries), g.label.lower())  # noqa: E731
    return sorted(lic.values(), key=order), sorted(ds.values(), key=order)


def schema_fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Flatten the card schema into documented rows (`inputs[].name`, ...), following $refs into $defs."""
    rows: list[dict[str, Any]] = []
    defs = schema.get("$defs", {})

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref", "")
        return defs[ref.split("/")[-1]] if ref.startswith("#/$defs/") else node

    def type_of(node: dict[str, Any]) -> str:
        if "enum" in node:
            return "one of " + ", ".join(str(v) for v in node["enum"])
        t = node.get("type", "object" if "properties" in node else "any")
        return " or ".join(t) if isinstance(t, list) else t

    def walk(node: dict[str, Any], prefix: str) -> None:
        node = resolve(node)
        required = set(node.get("required", []))
        for name, sub in node.get("properties", {}).items():
            sub_r = resolve(sub)
            path = f"{prefix}{name}"
            rows.append({"path": path, "anchor": path.replace("[]", "").replace(".", "-"), "type": type_of(sub_r),
                         "required": name in required,
                         "description": inline_code(sub.get("description") or sub_r.get("description", ""))})
            if "properties" in sub_r:
                walk(sub_r, path + ".")
            items = sub_r.get("items")
            if isinstance(items, dict) and "properties" in resolve(items):
                walk(items, path + "[].")

    walk(schema, "")
    return rows


def render_pages(entries: list[ModelEntry], *, site_name: str) -> dict[str, str]:
    """Every generated page: src_uri -> Markdown text."""
    env = _env()
    pages: dict[str, str] = {}
    listed = [e for e in entries if e.is_latest]  # lists show each model once, at its latest version
    task_rows = _task_rows(listed)
    pages["index.md"] = env.get_template("home.md.j2").render(
        site_name=site_name, model_count=len(listed), facets=facets(listed),
        tasks=[_Obj(r) for r in task_rows if r["count"]], root="")
    pages_by_id = {e.card.id.lower(): e.url for e in listed}
    for entry in entries:  # every version has a page
        pages[entry.src_uri] = render_model(env, entry, pages_by_id)
    pages["tasks/index.md"] = env.get_template("tasks.md.j2").render(tasks=task_rows, root=rel_root("tasks/index.md"))
    for row in task_rows:
        src = f"tasks/{row['id']}.md"
        pages[src] = env.get_template("task.md.j2").render(task=_Obj(row), entries=row["entries"], root=rel_root(src))
    licenses, datasets = _groups(listed)
    pages["licenses.md"] = env.get_template("licenses.md.j2").render(licenses=licenses, datasets=datasets,
                                                                     root=rel_root("licenses.md"))
    schema = card_schema()
    pages["reference/card.md"] = env.get_template("card-reference.md.j2").render(
        schema=schema, schema_description=inline_code(schema["description"]), fields=schema_fields(schema),
        datasets=_builtin_datasets(), spdx=sorted(spdx_ids(), key=str.lower), tasks=tasks(),
        root=rel_root("reference/card.md"))
    pages["reference/cli.md"] = cli_reference()
    return pages


def _builtin_datasets() -> list[dict[str, str]]:
    from modelshelf.generator.evaluate.datasets import BUILTINS

    return [{"name": b.name, "kind": b.kind, "note": b.raw_note} for b in BUILTINS.values()]


class _Obj(dict):
    """A dict whose keys templates may also read as attributes."""

    __getattr__ = dict.__getitem__


def cli_reference() -> str:
    """The CLI reference page, generated from the click commands themselves so it cannot drift."""
    import click

    from modelshelf.generator.cli import main

    ctx = click.Context(main, info_name="modelshelf")
    out = ["# Command line", "", "Generated from `modelshelf --help` at build time.", "",
           "```text", main.get_help(ctx), "```", ""]
    for name in sorted(main.list_commands(ctx)):
        cmd = main.get_command(ctx, name)
        assert cmd is not None  # the name comes from list_commands
        sub = click.Context(cmd, info_name=name, parent=ctx)
        out += [f"## modelshelf {name}", "", "```text", cmd.get_help(sub), "```", ""]
    return "\n".join(out)
