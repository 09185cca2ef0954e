"""The `modelshelf` command: the build's commands (validate, new, build, export, serve the site) plus
the client's (pull, run, serve ORG/NAME, search, list, info, from `modelshelf.catalog.client.cli`).

Each command parses its options and calls one library function. The build's commands import their
packages (jsonschema, mkdocs, onnx, ...) when they run: the core install (`pip install modelshelf`)
has only the client and the runtime, and there a build command says which extra to install.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from modelshelf.catalog.client import cli as client_cli
from modelshelf.catalog.problems import Problem, format_problems

if TYPE_CHECKING:
    from modelshelf.catalog.catalog import LoadResult
    from modelshelf.generator.lock.lockfile import Lock

# Top-level modules of the `build` extra (pyproject.toml) that the build's commands import.
BUILD_MODULES = ("mkdocs", "material", "jsonschema", "nh3", "markdown", "jinja2", "lunr", "onnx", "packaging")
BUILD_EXTRA_HINT = "pip install 'modelshelf[build]'"


def missing_build_modules() -> list[str]:
    """The build extra's modules that are not installed (find_spec imports nothing)."""
    return [name for name in BUILD_MODULES if importlib.util.find_spec(name) is None]


def _require_build_tools(command: str) -> None:
    missing = missing_build_modules()
    if missing:
        click.echo(f"error: modelshelf {command} needs the build tools: {BUILD_EXTRA_HINT} "
                   f"(not installed: {', '.join(missing)})", err=True)
        sys.exit(1)


class _SectionedGroup(click.Group):
    """`modelshelf --help` lists the client's commands and the build's commands in two sections."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        client_commands = client_cli.cli.commands
        names = [n for n in self.list_commands(ctx) if not self.commands[n].hidden]
        use = [("serve ORG/NAME" if n == "serve" else n, client_commands[n]) for n in sorted(client_commands)]
        build = [(n, self.commands[n]) for n in names if self.commands[n] is not client_commands.get(n)]
        width = formatter.width - 6 - max(len(label) for label, _ in use + build)
        with formatter.section("Use models (the core install: pip install modelshelf)"):
            formatter.write_dl([(label, cmd.get_short_help_str(width)) for label, cmd in use])
        with formatter.section(f"Build a catalog (needs the build tools: {BUILD_EXTRA_HINT})"):
            formatter.write_dl([(label, cmd.get_short_help_str(width)) for label, cmd in build])


@click.group(cls=_SectionedGroup, context_settings=client_cli.CONTEXT_SETTINGS)
@click.version_option(package_name="modelshelf")
@click.option("-v", "--verbose", is_flag=True, help="Show debug logging.")
def main(verbose: bool) -> None:
    """Modelshelf: a model hub that needs no server.

    Pull, run and serve the models of a site; validate model cards, build the static
    catalog site, and preview it.
    """
    client_cli.configure_logging(verbose)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True,
              help="text for people, json for programs, github for GitHub Actions annotations "
                   "(::error/::warning workflow commands that mark the card's lines in a pull request).")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Where recipe outputs and smoke runs are cached (default: $MODELSHELF_BUILD_CACHE, else .modelshelf/cache).")
@click.option("--cards-only", is_flag=True, help="Check the cards alone, not against their ONNX files.")
@click.option("--strict", is_flag=True, help="Fail on warnings too (placeholder text from `modelshelf new`, a task "
              "of the wrong family), as the pull-request check does.")
def validate(paths: tuple[Path, ...], fmt: str, cache_dir: Path | None, cards_only: bool, strict: bool) -> None:
    """Check model cards and report every problem with file:line:col.

    PATHS are card files or folders searched for card.yaml (default: models). Besides the card
    itself, every card whose ONNX file is at hand (committed, in the recipe cache or the store, or
    downloaded) is checked against it: the safety checks, the signature, and every example run on
    the file. The output says which cards were checked against their file and which were skipped
    (a recipe not run yet: `modelshelf export` or a build runs it). Warnings (text `modelshelf new`
    wrote that is still there, a task for another kind of input) are shown but fail only with
    --strict. Exits 1 if any card has a problem.
    """
    _require_build_tools("validate")
    from modelshelf.catalog.catalog import find_cards, load_catalog
    from modelshelf.catalog.validate import lint_cards

    root = Path("models") if Path("models").is_dir() else None
    targets = list(paths) or [Path("models")]
    result = load_catalog(targets, root=root)
    warnings = lint_cards(find_cards(targets, root)[0])
    if result.problems:
        click.echo(format_problems(result.problems + warnings, fmt))
        sys.exit(1)
    checked: list[str] = []
    skipped: dict[str, str] = {}
    if not cards_only:
        from modelshelf.generator.enrich.recipes import default_cache_dir
        from modelshelf.generator.export.at_hand import check_at_hand
        from modelshelf.generator.lock.lockfile import LOCK_NAME, LockInvalid, read_lock

        try:
            lock = read_lock(Path(LOCK_NAME))
        except LockInvalid:
            lock = None  # the build reports an unreadable lock; validate checks what it can
        cache = cache_dir or default_cache_dir(Path.cwd())
        at_hand = check_at_hand(result.cards, result.documents, cache_dir=cache, lock=lock, store_dir=Path("store"))
        problems = _explain_pitfalls(at_hand.problems, result, cache, lock)
        if problems:
            click.echo(format_problems(sorted(problems) + warnings, fmt))
            sys.exit(1)
        checked, skipped = at_hand.checked, at_hand.skipped
    if fmt == "json":
        click.echo(format_problems(warnings, "json"))
        sys.exit(1 if strict and warnings else 0)
    if warnings:
        click.echo(format_problems(warnings, fmt))
    n = len(result.cards)
    click.echo(f"{n} card{'s' if n != 1 else ''} valid" + (f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''})"
                                                           if warnings else ""))
    if not cards_only:
        click.echo(f"  checked against their ONNX file (signature, examples): {len(checked)}")
        for ref, why in sorted(skipped.items()):
            click.echo(f"  not checked against a file: {ref}: {why} (`modelshelf export` or a build runs it)")
    if strict and warnings:
        click.echo("--strict: the warnings above fail the check; fix them (or run without --strict)", err=True)
        sys.exit(1)


def _explain_pitfalls(problems: list[Problem], result: LoadResult, cache_dir: Path, lock: Lock | None) -> list[Problem]:
    """Problems against ONNX files, with the misleading ones of a known pitfall replaced by one that names it:
    a classifier converted with skl2onnx's ZipMap on fails on its outputs' names, then dtypes, never on the cause."""
    from modelshelf.catalog.validate import explain_zipmap
    from modelshelf.generator.enrich.recipes import tool_versions
    from modelshelf.generator.export.at_hand import _file_at_hand

    versions = tool_versions()
    for card in result.cards:
        doc = result.documents.get(card.ref)
        card_file = doc.file if doc is not None else str(card.card_path)
        if not any(p.file == card_file and p.path.startswith("$.outputs") for p in problems):
            continue
        path, _ = _file_at_hand(card, cache_dir, lock, Path("store"), versions)
        if path is not None:
            problems = explain_zipmap(problems, doc, card_file, path)
    return problems


@main.command()
@click.argument("model_id", metavar="ORG/NAME")
@click.option("--models-dir", type=click.Path(path_type=Path), default=Path("models"), show_default=True)
@click.option("--task", default="tabular-classification", show_default=True, help="Task of the new model.")
def new(model_id: str, models_dir: Path, task: str) -> None:
    """Scaffold models/ORG/NAME with a card that validates and a recipe to fill in."""
    _require_build_tools("new")
    from modelshelf.generator import scaffold

    try:
        folder = scaffold.new_model(model_id, models_dir, task=task)
    except scaffold.ScaffoldError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {folder}/card.yaml and {folder}/recipe.py")
    click.echo(f"next: edit them, then run `modelshelf validate {folder}` and `modelshelf serve`")


@main.command()
@click.option("-f", "--config-file", type=click.Path(path_type=Path), default=Path("mkdocs.yml"), show_default=True)
@click.option("-d", "--site-dir", type=click.Path(path_type=Path), default=None,
              help="Where to write the site (default: site_dir of mkdocs.yml).")
@click.option("--strict", is_flag=True, help="Treat mkdocs warnings as errors.")
def build(config_file: Path, site_dir: Path | None, strict: bool) -> None:
    """Validate the cards, run recipes, and build the site.

    The site is built into a temporary folder beside SITE_DIR and swapped in only when the
    build succeeds: a failed build leaves the previous site untouched.
    """
    _require_build_tools("build")
    from modelshelf.generator.site import build as site

    try:
        out = site.build_site(config_file, site_dir=site_dir, strict=strict)
    except site.SiteBuildFailed as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"site written to {out}")


@main.command("lock")
@click.option("-f", "--config-file", type=click.Path(path_type=Path), default=Path("mkdocs.yml"), show_default=True)
@click.option("--check", is_flag=True, help="Only list the versions that are not locked yet; exit 1 if there are any.")
def lock_command(config_file: Path, check: bool) -> None:
    """Lock every version not locked yet: record its files and metrics, and keep its bytes.

    Builds the site (every check runs) into a temporary folder, then writes each new
    version's SHA-256s, sizes and verified metrics to the lock (modelshelf.lock beside
    mkdocs.yml) and its recipe's outputs to the artifact store (store/). A locked version is
    built from those bytes from then on; changing what it published fails the build.
    """
    _require_build_tools("lock")
    import os
    import tempfile

    from modelshelf.generator.lock import project
    from modelshelf.generator.site import build as site

    try:
        settings = project.settings(config_file)
        before = set(project.read(settings).versions)
        unlocked = project.unlocked(settings, before)
    except project.ProjectError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if check:
        for ref in unlocked:
            click.echo(f"not locked: {ref}")
        click.echo(f"{len(unlocked)} version(s) not locked" if unlocked else "every version is locked")
        sys.exit(1 if unlocked else 0)
    if not unlocked:
        click.echo(f"every version is locked ({len(before)} in {settings.lock_path})")
        return
    os.environ["MODELSHELF_RECORD_LOCK"] = "1"
    try:
        with tempfile.TemporaryDirectory(prefix="modelshelf-lock-") as tmp:
            site.build_site(config_file, site_dir=Path(tmp) / "site")
    except site.SiteBuildFailed as exc:
        click.echo(str(exc), err=True)
        click.echo("Nothing was locked.", err=True)
        sys.exit(1)
    finally:
        del os.environ["MODELSHELF_RECORD_LOCK"]
    added = sorted(set(project.read(settings).versions) - before)
    for ref in added:
        click.echo(f"locked {ref}")
    click.echo(f"{len(added)} version(s) locked in {settings.lock_path}; their bytes are in {settings.store_dir}")


@main.command()
@click.argument("model_ref", metavar="ORG/NAME@VERSION")
@click.option("-f", "--config-file", type=click.Path(path_type=Path), default=Path("mkdocs.yml"), show_default=True)
def reproduce(model_ref: str, config_file: Path) -> None:
    """Re-run a locked version's recipe and compare what it writes with the locked bytes.

    The recipe runs in the sandbox with an empty cache. Each file is compared by SHA-256; for an
    ONNX file that differs, both files run on the card's examples and the largest difference of
    each output is shown. Exits 0 if every file is identical, 1 if not.
    """
    _require_build_tools("reproduce")
    from modelshelf.generator.enrich.recipes import RecipeError
    from modelshelf.generator.lock import project
    from modelshelf.generator.lock.reproduce import format_reports
    from modelshelf.generator.lock.reproduce import reproduce as run

    try:
        settings = project.settings(config_file)
        card, locked = project.locked_card(settings, model_ref)
        reports = run(card, locked, project.stores(settings))
    except (project.ProjectError, RecipeError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(format_reports(locked.ref, reports))
    sys.exit(0 if all(r.same for r in reports) else 1)


@main.command()
@click.argument("model_id", metavar="[ORG/NAME]", required=False)
@click.option("--models-dir", type=click.Path(path_type=Path), default=Path("models"), show_default=True)
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Recipe and smoke-run cache (default: $MODELSHELF_BUILD_CACHE, else .modelshelf/cache).")
@click.option("--max-model-mb", type=int, default=200, show_default=True, help="Largest ONNX file (with external data) accepted.")
@click.option("--memory-mb", type=int, default=2048, show_default=True, help="Memory limit of each smoke run.")
@click.option("--time-limit", type=int, default=60, show_default=True, help="Time limit of each smoke run, in seconds.")
def export(model_id: str | None, models_dir: Path, cache_dir: Path | None, max_model_mb: int, memory_mb: int,
           time_limit: int) -> None:
    """Run recipes, safety checks, smoke runs and parity checks, without building the site.

    Checks one model (ORG/NAME) or all of them, and prints for each ONNX file its size,
    SHA-256, opset, parameters, parity and whether the work came from the cache.
    Exits 1 with every problem found if any model fails.
    """
    _require_build_tools("export")
    from modelshelf.generator.enrich.recipes import default_cache_dir
    from modelshelf.generator.errors import BuildError, CatalogInvalid
    from modelshelf.generator.export import stage as export_stage
    from modelshelf.generator.export.safety import MB, Limits

    limits = Limits(max_file_bytes=max_model_mb * MB, memory_mb=memory_mb, seconds=time_limit)
    try:
        entries = export_stage.export_models(models_dir, model_id, cache_dir=cache_dir or default_cache_dir(Path.cwd()),
                                             limits=limits)
    except CatalogInvalid as exc:
        click.echo(format_problems(exc.problems), err=True)
        sys.exit(1)
    except BuildError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(export_stage.format_report(entries))


@main.command("import-hf")
@click.argument("path", metavar="PATH_OR_FOLDER", type=click.Path(path_type=Path))
@click.option("--org", default=None,
              help="Organisation of the new card's id (default: the org of the front matter's model-index name).")
@click.option("--name", default=None,
              help="Name part of the new card's id (default: from model-index, model_name or the body's title).")
@click.option("--task", default=None, help="Task of the new card, when pipeline_tag is missing or is no Modelshelf task.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("models"), show_default=True,
              help="Models folder the card folder ORG/NAME is written into.")
def import_hf(path: Path, org: str | None, name: str | None, task: str | None, out_dir: Path) -> None:
    """Turn a Hugging Face model card (README.md with YAML front matter) into a Modelshelf card.

    PATH_OR_FOLDER is the README.md or the folder holding it; an ONNX file beside it is copied as
    model.onnx and fills the card's inputs and outputs. Prints every front-matter field mapped and every
    one not mapped (nothing is dropped silently), and what to check by hand. model-index results become
    the card's metrics, as claims. The card is validated before it is written. Exits 1 with file:line
    and field for malformed front matter.
    """
    _require_build_tools("import-hf")
    from modelshelf.generator import hf

    try:
        report = hf.import_hf(path, out_dir, org=org, name=name, task=task)
    except hf.HfCardInvalid as exc:
        click.echo(format_problems(exc.problems), err=True)
        sys.exit(1)
    except hf.HfBridgeError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(hf.format_import_report(report))


@main.command("export-hf")
@click.argument("model_ref", metavar="ORG/NAME[@VERSION]")
@click.option("-d", "--site-dir", type=click.Path(path_type=Path), default=None,
              help="A built site (its catalog.json and files); default: site.")
@click.option("--catalog", "catalog_path", type=click.Path(path_type=Path), default=None,
              help="A built site's catalog.json (the ONNX file is looked up beside it).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder to write README.md and model.onnx into.")
def export_hf(model_ref: str, site_dir: Path | None, catalog_path: Path | None, out_dir: Path) -> None:
    """Write a Hugging Face README.md and the model's ONNX file, ready to push to the Hub.

    The front matter holds the card's licence, tags, datasets, task (pipeline_tag), base model and
    library_name: onnx, and a model-index with only the metric values the build verified, sourced to
    the model's page. The body is the card's description. The ONNX file is checked against the
    catalog's size and SHA-256 as it is copied. Without @VERSION the latest version is exported.
    """
    _require_build_tools("export-hf")
    from modelshelf.generator import hf

    try:
        report = hf.export_hf(model_ref, out_dir, site_dir=site_dir, catalog_path=catalog_path)
    except hf.HfBridgeError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(hf.format_export_report(report))


@main.command(short_help="Build the site and serve it, rebuilding when a card changes.")
@click.argument("model_ref", metavar="[ORG/NAME[@VERSION]]", required=False)
@click.option("-f", "--config-file", type=click.Path(path_type=Path), default=Path("mkdocs.yml"), show_default=True,
              help="Without a model: the site's mkdocs.yml.")
@click.option("-a", "--dev-addr", default="127.0.0.1:8000", show_default=True,
              help="Without a model: IP:PORT to serve the site on.")
@click.option("--no-livereload", is_flag=True, help="Without a model: do not rebuild when cards change.")
@client_cli.serve_options(prefix="With a model: ")
@client_cli.variant_option
@client_cli.client_options
def serve(model_ref: str | None, config_file: Path, dev_addr: str, no_livereload: bool, host: str, port: int, max_body: int,
          max_in_flight: int | None, workers: int, timeout: float, max_memory: int, in_process: bool, variant: str | None,
          site_url: str | None, offline: bool, cache_dir: Path | None) -> None:
    """Serve the site, or with ORG/NAME one model's predictions over HTTP.

    Without a model: build the site and serve it on 127.0.0.1, rebuilding when a card changes (open
    pages reload by themselves). While a build fails, every page shows an error page (HTTP 500) that
    lists each problem with its file, line, column, field and hint, until the card is fixed.

    With a model (`modelshelf serve ORG/NAME --port N`): pull and verify it, then answer
    POST /v1/predict with a JSON API (GET /openapi.json describes it; GET /healthz and /readyz for
    a load balancer). Bad inputs get 400 with the expected signature, oversized bodies 413. Each
    prediction runs in a worker process: past --timeout it gets 504, past --max-memory 503, and the
    worker is replaced. Requests queue briefly for a worker; 503 with Retry-After only past that
    (or past --max-in-flight). With --in-process, a model proven shape-bounded runs in the server
    process (onnxruntime stopped past --timeout). Stop with Ctrl-C.
    """
    if model_ref is not None:
        client_cli.serve_model(model_ref, host=host, port=port, max_body=max_body, max_in_flight=max_in_flight,
                               workers=workers, timeout=timeout, max_memory=max_memory, in_process=in_process,
                               site_url=site_url, offline=offline, cache_dir=cache_dir, variant=variant)
        return
    _require_build_tools("serve")
    from modelshelf.generator.site import build as site

    try:
        site.serve_site(config_file, dev_addr=dev_addr, livereload=not no_livereload)
    except site.SiteBuildFailed as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


# The client's commands, except `serve`: the one above also serves a model.
for _name, _command in client_cli.cli.commands.items():
    if _name not in main.commands:
        main.add_command(_command)


if __name__ == "__main__":
    main()
