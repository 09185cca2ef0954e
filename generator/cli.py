"""The `modelshelf` command. Each command parses its options and calls one library function."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from modelshelf.catalog.client import download as client_lib
from modelshelf.catalog.client.errors import ModelshelfError
from modelshelf.catalog.problems import format_problems

from modelshelf.catalog.client import deploy

# validate/new/build/serve import their heavy modules (jsonschema, mkdocs) when they run, so
# `modelshelf pull` and `run` start quickly.


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="modelshelf")
@click.option("-v", "--verbose", is_flag=True, help="Show debug logging.")
def main(verbose: bool) -> None:
    """Modelshelf: a model hub that needs no server.

    Validate model cards, build the static catalog site, and preview it;
    pull, run and serve the models of a site.
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)-7s - %(message)s")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for programs.")
def validate(paths: tuple[Path, ...], fmt: str) -> None:
    """Check model cards and report every problem with file:line:col.

    PATHS are card files or folders searched for card.yaml (default: models).
    Exits 1 if any card has a problem.
    """
    from modelshelf.catalog.catalog import load_catalog

    root = Path("models") if Path("models").is_dir() else None
    result = load_catalog(list(paths) or [Path("models")], root=root)
    if result.problems:
        click.echo(format_problems(result.problems, fmt))
        sys.exit(1)
    if fmt == "json":
        click.echo(format_problems([], "json"))
    else:
        click.echo(f"{len(result.cards)} card{'s' if len(result.cards) != 1 else ''} valid")


@main.command()
@click.argument("model_id", metavar="ORG/NAME")
@click.option("--models-dir", type=click.Path(path_type=Path), default=Path("models"), show_default=True)
@click.option("--task", default="tabular-classification", show_default=True, help="Task of the new model.")
def new(model_id: str, models_dir: Path, task: str) -> None:
    """Scaffold models/ORG/NAME with a card that validates and a recipe to fill in."""
    from modelshelf.generator import scaffold

    try:
        folder = scaffold.new_model(model_id, models_dir, task=task)
    except scaffold.ScaffoldError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {folder}/card.yaml and {folder}/recipe.py")
    click.echo(f"next: edit them, then run `modelshelf validate {folder}` and `modelshelf serve`")


@main.command()
@click.option("-f", "--config-file", type=click.Path(path_type=Path), default=Path("mkdocs.yml"), show_default=True)
@click.option("-d", "--site-dir", type=click.Path(path_type=Path), default=None, help="Where to write the site (default: site_dir of mkdocs.yml).")
@click.option("--strict", is_flag=True, help="Treat mkdocs warnings as errors.")
def build(config_file: Path, site_dir: Path | None, strict: bool) -> None:
    """Validate the cards, run recipes, and build the site.

    The site is built into a temporary folder beside SITE_DIR and swapped in only when the
    build succeeds: a failed build leaves the previous site untouched.
    """
    from modelshelf.generator.site import build as site

    try:
        out = site.build_site(config_file, site_dir=site_dir, strict=strict)
    except site.SiteBuildFailed as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"site written to {out}")


@main.command()
@click.argument("model_id", metavar="[ORG/NAME]", required=False)
@click.option("--models-dir", type=click.Path(path_type=Path), default=Path("models"), show_default=True)
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Recipe and smoke-run cache (default: $MODELSHELF_BUILD_CACHE, else .modelshelf/cache).")
@click.option("--max-model-mb", type=int, default=200, show_default=True, help="Largest ONNX file (with external data) accepted.")
@click.option("--memory-mb", type=int, default=2048, show_default=True, help="Memory limit of each smoke run.")
@click.option("--time-limit", type=int, default=60, show_default=True, help="Time limit of each smoke run, in seconds.")
def export(model_id: str | None, models_dir: Path, cache_dir: Path | None, max_model_mb: int, memory_mb: int, time_limit: int) -> None:
    """Run recipes, safety checks, smoke runs and parity checks, without building the site.

    Checks one model (ORG/NAME) or all of them, and prints for each ONNX file its size,
    SHA-256, opset, parameters, parity and whether the work came from the cache.
    Exits 1 with every problem found if any model fails.
    """
    # Imported here: it loads onnx and onnxruntime, which the other commands do not need.
    from modelshelf.generator.export import stage as export_stage
    from modelshelf.generator.errors import BuildError, CatalogInvalid
    from modelshelf.generator.enrich.recipes import default_cache_dir
    from modelshelf.generator.export.safety import MB, Limits

    limits = Limits(max_file_bytes=max_model_mb * MB, memory_mb=memory_mb, seconds=time_limit)
    try:
        entries = export_stage.export_models(models_dir, model_id, cache_dir=cache_dir or default_cache_dir(Path.cwd()), limits=limits)
    except CatalogInvalid as exc:
        click.echo(format_problems(exc.problems), err=True)
        sys.exit(1)
    except BuildError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(export_stage.format_report(entries))


# -- deploy: the download client, local predictions and the model server (issue 5) ------------------

def _client_options(func: Any) -> Any:
    """--site, --offline and --cache-dir, shared by the commands that use the download client."""
    func = click.option("--cache-dir", type=click.Path(path_type=Path), default=None, envvar="MODELSHELF_HOME",
                        help="Cache folder (default: $MODELSHELF_HOME, else $XDG_CACHE_HOME/modelshelf, else ~/.cache/modelshelf).")(func)
    func = click.option("--offline", is_flag=True, envvar="MODELSHELF_OFFLINE",
                        help="Use only the local cache; never touch the network.")(func)
    func = click.option("--site", "site_url", default=None, envvar="MODELSHELF_SITE_URL", metavar="URL",
                        help="Site to download from: http(s)://, file:// or a folder (default: $MODELSHELF_SITE_URL, else site_url of mkdocs.yml).")(func)
    return func


def _client(site_url: str | None, offline: bool, cache_dir: Path | None) -> Any:
    return client_lib.client(site_url, offline=offline, cache_dir=cache_dir, progress=client_lib.TerminalProgress(sys.stderr))


def _fail(exc: Exception, code: int = 1) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(code)


@main.command()
@click.argument("model_ref", metavar="ORG/NAME[@VERSION]")
@click.option("--kind", type=click.Choice(["onnx", "bundle", "card"]), default="onnx", show_default=True,
              help="Which file of the model version.")
@_client_options
def pull(model_ref: str, kind: str, site_url: str | None, offline: bool, cache_dir: Path | None) -> None:
    """Download a model, verify its size and SHA-256 against the site's catalog.json, and cache it.

    Prints the path of the verified file. A cached, verified copy is used without downloading again.
    """
    try:
        path = _client(site_url, offline, cache_dir).pull(model_ref, kind=kind)
    except (ModelshelfError, ValueError) as exc:
        _fail(exc)
    click.echo(str(path))


@main.command()
@click.argument("model_ref", metavar="ORG/NAME[@VERSION]")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path, allow_dash=True), metavar="INPUT...")
@click.option("--indent", type=int, default=None, help="Indent the JSON output.")
@_client_options
def run(model_ref: str, inputs: tuple[Path, ...], indent: int | None, site_url: str | None, offline: bool, cache_dir: Path | None) -> None:
    """Predict locally: pull the model, read each INPUT, print the outputs as JSON.

    INPUT is a JSON request ({"inputs": {...}} with the model's tensors, as in the card's examples, or
    {"raw": {...}} for the card's preprocessing), a CSV file of rows, or the input kind's natural file
    (an image, a WAV file, ...); '-' reads JSON from standard input. Exits 2 if an input does not fit.
    """
    try:
        runner = deploy.load_runner(_client(site_url, offline, cache_dir), model_ref)
    except (ModelshelfError, ValueError, RuntimeError) as exc:
        _fail(exc)
    from modelshelf.catalog.runtime import predictor as runtime

    status = 0
    for path in inputs:
        try:
            click.echo(json.dumps(runner.predict_file(path), indent=indent))
        except runtime.InputError as exc:
            click.echo(f"error: {path}: {exc}\nexpected: {json.dumps(exc.expected)}", err=True)
            status = 2
        except (OSError, ValueError) as exc:
            click.echo(f"error: {path}: {exc}", err=True)
            status = 2
    sys.exit(status)


@main.command()
@click.argument("model_ref", metavar="[ORG/NAME[@VERSION]]", required=False)
@click.option("-f", "--config-file", type=click.Path(path_type=Path), default=Path("mkdocs.yml"), show_default=True,
              help="Without a model: the site's mkdocs.yml.")
@click.option("-a", "--dev-addr", default="127.0.0.1:8000", show_default=True, help="Without a model: IP:PORT to serve the site on.")
@click.option("--no-livereload", is_flag=True, help="Without a model: do not rebuild when cards change.")
@click.option("--host", default="127.0.0.1", show_default=True, help="With a model: address to listen on.")
@click.option("--port", type=int, default=8080, show_default=True, help="With a model: port to listen on.")
@click.option("--max-body", type=int, default=1 << 20, show_default=True, help="With a model: largest request body in bytes (413 past it).")
@click.option("--max-in-flight", type=int, default=8, show_default=True, help="With a model: requests handled at once (503 past it).")
@click.option("--workers", type=int, default=2, show_default=True, help="With a model: threads running the model.")
@_client_options
def serve(model_ref: str | None, config_file: Path, dev_addr: str, no_livereload: bool, host: str, port: int, max_body: int,
          max_in_flight: int, workers: int, site_url: str | None, offline: bool, cache_dir: Path | None) -> None:
    """Serve the site, or with ORG/NAME one model's predictions over HTTP.

    Without a model: build the site and serve it on 127.0.0.1, rebuilding when a card changes.

    With a model (`modelshelf serve ORG/NAME --port N`): pull and verify it, then answer
    POST /v1/predict with a JSON API (GET /openapi.json describes it; GET /healthz and /readyz for
    a load balancer). Bad inputs get 400 with the expected signature, oversized bodies 413, and
    requests past --max-in-flight 503. Stop with Ctrl-C.
    """
    if model_ref is None:
        from modelshelf.generator.site import build as site

        try:
            site.serve_site(config_file, dev_addr=dev_addr, livereload=not no_livereload)
        except site.SiteBuildFailed as exc:
            click.echo(str(exc), err=True)
            sys.exit(1)
        return
    from modelshelf.catalog.runtime import server as model_server

    try:
        runner = deploy.load_runner(_client(site_url, offline, cache_dir), model_ref)
    except (ModelshelfError, ValueError, RuntimeError) as exc:
        _fail(exc)
    model_server.serve(runner, host=host, port=port, limits=model_server.Limits(
        max_body_bytes=max_body, max_in_flight=max_in_flight, workers=workers))


@main.command()
@click.argument("query", nargs=-1)
@click.option("--task", default=None, help="Only models of this task (e.g. tabular-classification).")
@click.option("--metric", "metrics", multiple=True, metavar="NAME>=VALUE",
              help="Only models whose card reports this metric in range, e.g. 'accuracy>=0.9'; repeatable.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_client_options
def search(query: tuple[str, ...], task: str | None, metrics: tuple[str, ...], fmt: str, site_url: str | None, offline: bool,
           cache_dir: Path | None) -> None:
    """Search the site's catalog: every word of QUERY must appear in a model's id, name, summary, task or tags."""
    try:
        filters = tuple(client_lib.parse_metric_filter(m) for m in metrics)
        found = client_lib.search(_client(site_url, offline, cache_dir).catalog(), " ".join(query), task=task, metrics=filters)
    except (ModelshelfError, ValueError) as exc:
        _fail(exc)
    click.echo(deploy.format_search(found, fmt))


@main.command(name="list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_client_options
def list_models(fmt: str, site_url: str | None, offline: bool, cache_dir: Path | None) -> None:
    """List the site's models and which of them are in the local cache (offline: the cached catalog)."""
    try:
        rows = _client(site_url, offline, cache_dir).list()
    except ModelshelfError as exc:
        _fail(exc)
    click.echo(deploy.format_list(rows, fmt))


@main.command()
@click.argument("model_ref", metavar="ORG/NAME[@VERSION]")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_client_options
def info(model_ref: str, fmt: str, site_url: str | None, offline: bool, cache_dir: Path | None) -> None:
    """Show a model version: card summary, signature, files with size and SHA-256, and what is cached."""
    try:
        c = _client(site_url, offline, cache_dir)
        text = deploy.format_info(c, c.entry(model_ref), fmt)
    except (ModelshelfError, ValueError) as exc:
        _fail(exc)
    click.echo(text)
