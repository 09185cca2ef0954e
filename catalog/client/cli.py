"""The client's commands: pull, run, serve ORG/NAME, search, list, info, verify.

They import the client, the runtime and click only, so they work with the core install
(`pip install modelshelf`, no site generator). `modelshelf.generator.cli` adds them to the full
`modelshelf` command next to the build's commands. Each command parses its options and calls
one library function; only this module turns exceptions into exit codes.
"""
from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from modelshelf.catalog.client import deploy
from modelshelf.catalog.client import download as client_lib
from modelshelf.catalog.client.download import as_mapping
from modelshelf.catalog.client import verify as verify_lib
from modelshelf.catalog.client.errors import ModelshelfError
from modelshelf.catalog.client.text import printable

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}


def configure_logging(verbose: bool) -> None:
    """The CLI's logging: INFO, or DEBUG with -v."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)-7s - %(message)s")


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="modelshelf")
@click.option("-v", "--verbose", is_flag=True, help="Show debug logging.")
def cli(verbose: bool) -> None:
    """Modelshelf client: pull, run and serve the models of a Modelshelf site."""
    configure_logging(verbose)


def client_options(func: F) -> F:
    """--site, --offline and --cache-dir, shared by the commands that use the download client."""
    func = click.option("--cache-dir", type=click.Path(path_type=Path), default=None, envvar="MODELSHELF_HOME",
                        help="Cache folder (default: $MODELSHELF_HOME, else $XDG_CACHE_HOME/modelshelf, "
                             "else ~/.cache/modelshelf).")(func)
    func = click.option("--offline", is_flag=True, envvar="MODELSHELF_OFFLINE",
                        help="Use only the local cache; never touch the network.")(func)
    func = click.option("--site", "site_url", default=None, envvar="MODELSHELF_SITE_URL", metavar="URL",
                        help="Site to download from: http(s)://, file:// or a folder "
                             "(default: $MODELSHELF_SITE_URL, else site_url of mkdocs.yml).")(func)
    return func


def serve_options(prefix: str = "") -> Callable[[F], F]:
    """The model server's options; `prefix` (e.g. "With a model: ") starts each help text."""
    def text(help_text: str) -> str:
        return f"{prefix}{help_text}" if prefix else help_text[0].upper() + help_text[1:]

    def decorate(func: F) -> F:
        func = click.option("--in-process", is_flag=True,
                            help=text("run the model in the server process if it is proven shape-bounded (lower latency "
                                      "at low load; an onnxruntime crash then stops the server). GET /v1/status shows "
                                      "the path."))(func)
        func = click.option("--workers", type=int, default=2, show_default=True,
                            help=text("worker processes running the model; for a model served in process (shape-bounded), "
                                      "how many large requests run at once in threads."))(func)
        func = click.option("--max-in-flight", type=int, default=None,
                            help=text("hard cap on requests running or queued (503 past it; default: derived from "
                                      "the workers and the observed latency)."))(func)
        func = click.option("--max-memory", type=int, default=2048, show_default=True, metavar="MB",
                            help=text("memory one prediction may add to the loaded model (503 past it); a model is served "
                                      "in process only if its largest request provably fits in it."))(func)
        func = click.option("--timeout", type=float, default=10.0, show_default=True,
                            help=text("seconds one prediction may take (504 past it); in process, onnxruntime is stopped "
                                      "before its next node."))(func)
        func = click.option("--max-body", type=int, default=1 << 20, show_default=True,
                            help=text("largest request body in bytes (413 past it)."))(func)
        func = click.option("--port", type=int, default=8080, show_default=True, help=text("port to listen on."))(func)
        func = click.option("--host", default="127.0.0.1", show_default=True, help=text("address to listen on."))(func)
        return func
    return decorate


variant_option = click.option(
    "--variant", default=None, metavar="NAME",
    help="The card's variant NAME (e.g. int8) instead of the main ONNX file: the one the model page's Try it panel runs "
         "when the main file is too large for a browser, so the answers match it exactly.")


def _client(site_url: str | None, offline: bool, cache_dir: Path | None) -> client_lib.Client:
    return client_lib.client(site_url, offline=offline, cache_dir=cache_dir, progress=client_lib.TerminalProgress(sys.stderr))


def _fail(exc: Exception, code: int = 1) -> NoReturn:
    # Messages can quote catalog.json, which is not trusted: no escape sequence reaches the terminal.
    click.echo(f"error: {printable(exc, newlines=True)}", err=True)
    sys.exit(code)


@cli.command()
@click.argument("model_ref", metavar="ORG/NAME[@VERSION]")
@click.option("--kind", type=click.Choice(["onnx", "bundle", "card", "tokenizer"]), default="onnx", show_default=True,
              help="Which file of the model version (tokenizer: a text model's vocabulary).")
@variant_option
@client_options
def pull(model_ref: str, kind: str, variant: str | None, site_url: str | None, offline: bool, cache_dir: Path | None) -> None:
    """Download a model, verify its size and SHA-256 against the site's catalog.json, and cache it.

    Prints the path of the verified file. A cached, verified copy is used without downloading again.
    A text model's vocabulary is pulled with its ONNX file (its path on a second line), so that
    `run` and `serve` work offline afterwards.
    """
    try:
        client = _client(site_url, offline, cache_dir)
        path = client.pull(model_ref, kind=client_lib.variant_kind(variant) if variant and kind == "onnx" else kind)
        extra = []
        if kind == "onnx":
            entry = client.entry(model_ref)
            if as_mapping(as_mapping(entry.get("pipeline")).get("tokenizer")).get("vocab_file"):
                extra.append(client.pull(entry["id"], entry["version"], "tokenizer"))
    except (ModelshelfError, ValueError) as exc:
        _fail(exc)
    for p in [path, *extra]:
        click.echo(str(p))


@cli.command()
@click.argument("model_ref", metavar="ORG/NAME[@VERSION]")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path, allow_dash=True), metavar="INPUT...")
@click.option("--indent", type=int, default=None, help="Indent the JSON output.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds one prediction may take.")
@click.option("--max-memory", type=int, default=2048, show_default=True, metavar="MB",
              help="Memory one prediction may add to the loaded model.")
@variant_option
@client_options
def run(model_ref: str, inputs: tuple[Path, ...], indent: int | None, timeout: float, max_memory: int, variant: str | None,
        site_url: str | None, offline: bool, cache_dir: Path | None) -> None:
    """Predict locally: pull the model, read each INPUT, print the outputs as JSON.

    INPUT is a JSON request ({"inputs": {...}} with the model's tensors, as in the card's examples,
    {"raw": {...}} for the card's preprocessing, {"text": "..."} or {"texts": [...]} for text models),
    a CSV file of rows, or the input kind's own file: a picture (PNG, JPEG, GIF, WebP, BMP), a WAV
    recording, a UTF-8 text file, any file for a byte model. It goes through the same steps as in the
    model page's "Try it" panel, so the answer is the one the page shows; '-' reads JSON from standard input.
    Exits 2 if an input does not fit,
    4 if a prediction exceeds --timeout or --max-memory (each runs in a worker process).
    """
    try:
        runner = deploy.load_runner(_client(site_url, offline, cache_dir), model_ref, variant)
    except (ModelshelfError, ValueError, RuntimeError) as exc:
        _fail(exc)
    from modelshelf.catalog.runtime import predictor as runtime
    from modelshelf.catalog.runtime import workers

    status = 0
    with workers.BoundedRunner(runner, workers.Bounds(timeout=timeout, memory_mb=max_memory)) as bounded:
        for path in inputs:
            try:
                click.echo(json.dumps(bounded.predict_file(path), indent=indent))
            except runtime.InputError as exc:
                click.echo(f"error: {path}: {exc}\nexpected: {json.dumps(exc.expected)}", err=True)
                status = max(status, 2)
            except workers.InferenceLimitError as exc:
                click.echo(f"error: {path}: {exc}", err=True)
                status = 4
            except workers.WorkerStartError as exc:
                _fail(exc)
            except (OSError, ValueError, RuntimeError) as exc:
                click.echo(f"error: {path}: {exc}", err=True)
                status = max(status, 2)
    sys.exit(status)


def serve_model(model_ref: str, *, host: str, port: int, max_body: int, max_in_flight: int | None, workers: int,
                timeout: float = 10.0, max_memory: int = 2048, in_process: bool = False, site_url: str | None, offline: bool,
                cache_dir: Path | None, variant: str | None = None) -> None:
    """`modelshelf serve ORG/NAME`: pull and verify the model, then serve it until Ctrl-C."""
    # Imported here: starlette and uvicorn are needed by this command only.
    from modelshelf.catalog.runtime import server as model_server

    try:
        runner = deploy.load_runner(_client(site_url, offline, cache_dir), model_ref, variant)
    except (ModelshelfError, ValueError, RuntimeError) as exc:
        _fail(exc)
    model_server.serve(runner, host=host, port=port, limits=model_server.Limits(
        max_body_bytes=max_body, max_in_flight=max_in_flight, workers=workers, timeout=timeout, memory_mb=max_memory,
        in_process=in_process))


@cli.command()
@click.argument("model_ref", metavar="ORG/NAME[@VERSION]")
@serve_options()
@variant_option
@client_options
def serve(model_ref: str, host: str, port: int, max_body: int, max_in_flight: int | None, workers: int, timeout: float,
          max_memory: int, in_process: bool, variant: str | None, site_url: str | None, offline: bool,
          cache_dir: Path | None) -> None:
    """Serve one model's predictions over HTTP.

    Pull and verify the model, then answer POST /v1/predict with a JSON API (GET /openapi.json
    describes it; GET /healthz and /readyz for a load balancer). Bad inputs get 400 with the expected
    signature, oversized bodies 413. Each prediction runs in a worker process: past --timeout it gets
    504, past --max-memory 503, and the worker is replaced. Requests queue briefly for a worker and
    get 503 with Retry-After only when the queue is longer than the workers can answer in about half
    a second (or past --max-in-flight). Stop with Ctrl-C.

    With --in-process, a model proven shape-bounded runs in the server process instead: built only
    from operators whose output sizes and work follow from the input shapes (which --max-body caps),
    never from input values (no Loop, If, Range, ConstantOfShape, Reshape to a computed shape, ...),
    with its largest request's tensors, JSON and postprocessing within --max-memory. Past --timeout
    onnxruntime is stopped before its next node (504); the JSON and postprocessing, linear in the
    body, are not timed. GET /v1/status shows "isolation" (process or in-process) and the proof.
    """
    serve_model(model_ref, host=host, port=port, max_body=max_body, max_in_flight=max_in_flight, workers=workers,
                timeout=timeout, max_memory=max_memory, in_process=in_process, site_url=site_url, offline=offline,
                cache_dir=cache_dir, variant=variant)


@cli.command()
@click.argument("query", nargs=-1)
@click.option("--task", default=None, help="Only models of this task (e.g. tabular-classification).")
@click.option("--metric", "metrics", multiple=True, metavar="NAME>=VALUE",
              help="Only models whose card reports this metric in range, e.g. 'accuracy>=0.9'; repeatable.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@client_options
def search(query: tuple[str, ...], task: str | None, metrics: tuple[str, ...], fmt: str, site_url: str | None, offline: bool,
           cache_dir: Path | None) -> None:
    """Search the site's catalog: every word of QUERY must appear in a model's id, name, summary, task or tags."""
    try:
        filters = tuple(client_lib.parse_metric_filter(m) for m in metrics)
        found = client_lib.search(_client(site_url, offline, cache_dir).catalog(), " ".join(query), task=task, metrics=filters)
    except (ModelshelfError, ValueError) as exc:
        _fail(exc)
    click.echo(deploy.format_search(found, fmt))


@cli.command(name="list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@client_options
def list_models(fmt: str, site_url: str | None, offline: bool, cache_dir: Path | None) -> None:
    """List the site's models and which of them are in the local cache (offline: the cached catalog)."""
    try:
        rows = _client(site_url, offline, cache_dir).list()
    except ModelshelfError as exc:
        _fail(exc)
    click.echo(deploy.format_list(rows, fmt))


@cli.command()
@click.argument("model_ref", metavar="ORG/NAME[@VERSION]")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@client_options
def info(model_ref: str, fmt: str, site_url: str | None, offline: bool, cache_dir: Path | None) -> None:
    """Show a model version: card summary, signature, files with size and SHA-256, and what is cached."""
    try:
        c = _client(site_url, offline, cache_dir)
        text = deploy.format_info(c, c.entry(model_ref), fmt)
    except (ModelshelfError, ValueError) as exc:
        _fail(exc)
    click.echo(text)


@cli.command()
@click.argument("target", metavar="SITE_URL|FOLDER|BUNDLE")
@click.option("--allowed-signers", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              envvar="MODELSHELF_ALLOWED_SIGNERS",
              help="OpenSSH allowed-signers file with the publisher's public key (default: the one shipped with "
                   "modelshelf). Never the copy the site itself serves.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def verify(target: str, allowed_signers: Path | None, fmt: str) -> None:
    """Check a site, a built site folder or a deploy bundle against its SHA256SUMS and signature.

    TARGET is an http(s) site URL, a folder (a built site/ or an unzipped bundle) or a bundle zip.
    Every file SHA256SUMS lists is hashed; files that differ, are missing or are not listed (folders
    and zips) are named. SHA256SUMS.sig is checked with ssh-keygen against --allowed-signers.
    Exit codes: 0 verified, 1 a file differs or the signature is bad, 2 nothing to check (no
    SHA256SUMS, unreadable), 3 every file matches but no trusted signature (unsigned, or no key to check it).
    """
    try:
        report = verify_lib.verify(target, allowed_signers=allowed_signers or verify_lib.DEFAULT_ALLOWED_SIGNERS)
    except verify_lib.VerifyError as exc:
        _fail(exc, verify_lib.EXIT_ERROR)
    click.echo(verify_lib.format_report(report, fmt))
    sys.exit(report.exit_code)


if __name__ == "__main__":
    cli()
