"""`modelshelf serve` without a model: mkdocs' dev server, with build errors shown in the browser.

mkdocs 1.6's `serve` (mkdocs/commands/serve.py) exits when the first build fails, and when a rebuild fails its
LiveReloadServer never marks the new build visible: every page request then waits for a build that never
finishes, and the browser hangs while the problems are only in the terminal. Here the builder catches the failure
and records it, so the rebuild counts as done; while the last build failed, every page request answers
HTTP 500 with an error page that lists each problem (file, line, column, field, message, hint). 500 rather
than 200 so that nothing (a link checker, curl -f, a test) mistakes it for the site.

Reload: mkdocs injects its livereload poller as an inline <script>, which the site's Content-Security-Policy
(generator/site/csp.py: scripts from the site or hashed) blocks, so pages never reloaded. The poller is served
here as a file of this server instead (PREVIEW_JS), which 'self' allows; the error page loads it too, and
reloads itself when the next build finishes: into the site once the card is fixed, or into the new problem list.

Relies on LiveReloadServer's request and injection methods (`_serve_request`, `_inject_js_into_html`, the epoch
condition): mkdocs is pinned to 1.6 (pyproject.toml), and tests/acceptance/test_contributor_feedback_serve.py
covers the behaviour in a real browser.
"""
from __future__ import annotations

import html
import logging
import shutil
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from os.path import isdir, isfile, join
from typing import Any
from urllib.parse import urlsplit

from mkdocs.commands.build import build as mkdocs_build
from mkdocs.config import load_config
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import Abort, ConfigurationError, PluginError
from mkdocs.livereload import LiveReloadServer, _serve_url

from modelshelf.catalog.problems import Problem
from modelshelf.generator.site.csp import policy

log = logging.getLogger(__name__)

# Served by the preview server only, outside the site's own paths.
PREVIEW_PREFIX = "/.modelshelf-preview/"
PREVIEW_JS = PREVIEW_PREFIX + "livereload.js"

# mkdocs' livereload poller (mkdocs/livereload/__init__.py), reading its epoch from the <script> element's data
# attributes instead of a call written inline.
_LIVERELOAD_JS = """\
(function () {
  var script = document.currentScript;
  var epoch = parseFloat(script.dataset.epoch), requestId = script.dataset.requestId;
  var req, timeout;
  var poll = function () {
    req = new XMLHttpRequest();
    req.onloadend = function () {
      if (parseFloat(this.responseText) > epoch) {
        location.reload();
      } else {
        timeout = setTimeout(poll, this.status === 200 ? 0 : 3000);
      }
    };
    req.open("GET", "/livereload/" + epoch + "/" + requestId);
    req.send();
  };
  var stop = function () {
    if (req) { req.abort(); }
    if (timeout) { clearTimeout(timeout); }
    req = timeout = undefined;
  };
  var start = function () { if (document.visibilityState === "visible" && !req) { poll(); } };
  if (document.readyState === "complete") { start(); } else { window.addEventListener("load", start); }
  window.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { start(); } else { stop(); }
  });
  window.addEventListener("beforeunload", stop);
})();
"""


@dataclass(frozen=True)
class BuildFailure:
    """Why the last build failed: the catalog's problems when the cards are at fault, else the error's text."""

    message: str
    problems: tuple[Problem, ...] = ()


class BuildStatus:
    """The outcome of the last build, written by the build thread and read by request threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failure: BuildFailure | None = None

    @property
    def failure(self) -> BuildFailure | None:
        with self._lock:
            return self._failure

    def set(self, failure: BuildFailure | None) -> None:
        with self._lock:
            self._failure = failure


def failure_of(exc: BaseException, config: MkDocsConfig | None) -> BuildFailure:
    """What to show for a failed build: the problems the modelshelf plugin recorded, and the error's text."""
    from modelshelf.generator.site.plugin import ModelshelfPlugin

    problems: tuple[Problem, ...] = ()
    for plugin in (config.plugins.values() if config is not None else ()):
        if isinstance(plugin, ModelshelfPlugin):
            problems = tuple(plugin.problems)
    # mkdocs turns a PluginError into Abort("Aborted with a BuildError!"); the plugin's message is its context.
    cause: BaseException = exc
    while cause.__context__ is not None and isinstance(cause, Abort):
        cause = cause.__context__
    return BuildFailure(str(cause).strip() or type(cause).__name__, problems)


def _problem_rows(problems: Iterable[Problem]) -> str:
    rows = []
    for p in problems:
        cells = [p.file, str(p.line), str(p.col), p.path, p.message, p.hint]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return "\n".join(rows)


def error_page(failure: BuildFailure, *, epoch: int, request_id: int) -> bytes:
    """A self-contained page (no site assets: the site may never have been built) under the site's policy."""
    if failure.problems:
        noun = "problem" if len(failure.problems) == 1 else "problems"
        body = (f"<p>The catalog has {len(failure.problems)} {noun}; fix the card and this page reloads by itself.</p>\n"
                "<table>\n<thead><tr><th scope=\"col\">File</th><th scope=\"col\">Line</th><th scope=\"col\">Column</th>"
                "<th scope=\"col\">Field</th><th scope=\"col\">Problem</th><th scope=\"col\">How to fix it</th></tr></thead>\n"
                f"<tbody>\n{_problem_rows(failure.problems)}\n</tbody>\n</table>\n")
    else:
        body = "<p>The build failed; fix the cause and this page reloads by itself.</p>\n"
    body += f"<h2>As the terminal shows it</h2>\n<pre>{html.escape(failure.message)}</pre>\n"
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy([])}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Build failed · modelshelf serve</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1a1a1a; background: #fff; line-height: 1.4; }}
h1 {{ color: #a11; font-size: 1.5rem; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #bbb; padding: .4rem .6rem; text-align: left; vertical-align: top; }}
td:first-child, td:nth-child(4) {{ font-family: ui-monospace, monospace; overflow-wrap: anywhere; }}
pre {{ background: #f3f3f3; padding: 1rem; overflow-x: auto; white-space: pre-wrap; }}
@media (prefers-color-scheme: dark) {{
  body {{ color: #eee; background: #121212; }} h1 {{ color: #ff8a80; }}
  pre {{ background: #222; }} th, td {{ border-color: #555; }}
}}
</style>
</head>
<body>
<main>
<h1>The site could not be built</h1>
{body}</main>
<script src="{PREVIEW_JS}" data-epoch="{epoch}" data-request-id="{request_id}"></script>
</body>
</html>
"""
    return page.encode("utf-8")


def _is_page(path: str) -> bool:
    last = path.rsplit("/", 1)[-1]
    return path.endswith("/") or last.endswith(".html") or "." not in last


class PreviewServer(LiveReloadServer):
    """mkdocs' LiveReloadServer that answers page requests with the error page while the last build failed, and
    serves its livereload poller as a file."""

    def __init__(self, *, status: BuildStatus, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status = status

    def _serve_request(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes] | None:
        path = environ["PATH_INFO"].encode("latin-1").decode("utf-8", "ignore")
        if path == PREVIEW_JS:
            body = _LIVERELOAD_JS.encode("utf-8")
            start_response("200 OK", [("Content-Type", "application/javascript"), ("Content-Length", str(len(body))),
                                      ("Cache-Control", "no-store")])
            return [body]
        if (path + "/").startswith(self.mount_path) and _is_page(path):
            # As mkdocs does for files: wait for a build under way, so the answer reflects the files as they are now.
            with self._epoch_cond:
                self._epoch_cond.wait_for(lambda: self._visible_epoch == self._wanted_epoch)
                epoch = self._visible_epoch
            failure = self.status.failure
            if failure is not None:
                body = error_page(failure, epoch=epoch, request_id=_timestamp())
                start_response("500 Internal Server Error", [("Content-Type", "text/html; charset=utf-8"),
                                                             ("Content-Length", str(len(body))), ("Cache-Control", "no-store")])
                return [body]
        return super()._serve_request(environ, start_response)

    def _inject_js_into_html(self, content: bytes, epoch: int) -> bytes:
        try:
            body_end = content.rindex(b"</body>")
        except ValueError:
            body_end = len(content)
        tag = f'<script src="{PREVIEW_JS}" data-epoch="{epoch}" data-request-id="{_timestamp()}"></script>'
        return content[:body_end] + tag.encode("utf-8") + content[body_end:]


def _timestamp() -> int:
    from mkdocs.livereload import _timestamp as mkdocs_timestamp

    return mkdocs_timestamp()


def serve_preview(config_file: str, *, dev_addr: str, livereload: bool) -> None:
    """Build and serve the site in a temporary folder until Ctrl-C, rebuilding when a watched file changes.

    A failed build does not stop the server: pages show the problems until a rebuild succeeds. Raises what
    load_config raises for an unreadable mkdocs.yml.
    """
    site_dir = tempfile.mkdtemp(prefix="modelshelf-serve-")
    status = BuildStatus()

    def get_config() -> MkDocsConfig:
        return load_config(config_file=config_file, site_dir=site_dir, dev_addr=dev_addr)

    config = get_config()
    config.plugins.on_startup(command="serve", dirty=False)
    host, port = config.dev_addr
    mount_path = urlsplit(config.site_url or "/").path
    config.site_url = serve_url = _serve_url(host, port, mount_path)

    def builder(first: MkDocsConfig | None = None) -> None:
        log.info("Building the site...")
        current = first
        try:
            if current is None:
                current = get_config()
                current.site_url = serve_url
            mkdocs_build(current, serve_url=serve_url)
        except Exception as exc:  # noqa: BLE001 - any failure: the browser shows it, instead of waiting for a build
            if not isinstance(exc, (Abort, PluginError, ConfigurationError)):
                traceback.print_exc()
            status.set(failure_of(exc, current))
            log.error("The build failed; the preview at %s shows why until it is fixed.", serve_url)
            return
        status.set(None)

    server: LiveReloadServer = PreviewServer(status=status, builder=builder, host=host, port=port, root=site_dir,
                                             mount_path=mount_path)

    def error_handler(code: int) -> bytes | None:
        page = join(site_dir, f"{code}.html")
        if code in (404, 500) and isfile(page):
            with open(page, "rb") as f:
                return f.read()
        return None

    server.error_handler = error_handler
    try:
        builder(config)
        if livereload:
            server.watch(config.docs_dir)
            if config.config_file_path:
                server.watch(config.config_file_path)
            server = config.plugins.on_serve(server, config=config, builder=builder)
            for item in config.watch:
                server.watch(item)
        try:
            server.serve()
        except KeyboardInterrupt:
            log.info("Shutting down...")
        finally:
            server.shutdown()
    finally:
        config.plugins.on_shutdown()
        if isdir(site_dir):
            shutil.rmtree(site_dir)
