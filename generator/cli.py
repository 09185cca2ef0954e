"""The `modelshelf` command. Each command parses its options and calls one library function."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from catalog.catalog import load_catalog
from catalog.problems import format_problems

from . import scaffold, site


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="modelshelf")
@click.option("-v", "--verbose", is_flag=True, help="Show debug logging.")
def main(verbose: bool) -> None:
    """Modelshelf: a model hub that needs no server.

    Validate model cards, build the static catalog site, and preview it.
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
    try:
        out = site.build_site(config_file, site_dir=site_dir, strict=strict)
    except site.SiteBuildFailed as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"site written to {out}")


@main.command()
@click.option("-f", "--config-file", type=click.Path(path_type=Path), default=Path("mkdocs.yml"), show_default=True)
@click.option("-a", "--dev-addr", default="127.0.0.1:8000", show_default=True, help="IP:PORT to serve on.")
@click.option("--no-livereload", is_flag=True, help="Do not rebuild when cards change.")
def serve(config_file: Path, dev_addr: str, no_livereload: bool) -> None:
    """Build the site and serve it on 127.0.0.1, rebuilding when a card changes."""
    try:
        site.serve_site(config_file, dev_addr=dev_addr, livereload=not no_livereload)
    except site.SiteBuildFailed as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
