"""Build and serve the site through mkdocs, writing the site directory atomically."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from mkdocs.commands import build as mkdocs_build
from mkdocs.config import load_config
from mkdocs.exceptions import Abort, ConfigurationError, PluginError

from modelshelf.generator.site.cleanup import remove_leftovers

log = logging.getLogger(__name__)


class SiteBuildFailed(Exception):
    """Raised by build_site/serve_site when mkdocs or the modelshelf plugin aborted; no site was written."""


class _ErrorCatcher(logging.Filter):
    """Keeps mkdocs' own error lines (our problem lists) for the exception instead of letting it log them."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            self.errors.append(record.getMessage())
            return False
        return True


def build_site(config_file: Path, *, site_dir: Path | None = None, strict: bool = False) -> Path:
    """Build into a fresh folder beside the target and swap it in, so a failure leaves the old site intact.

    First removes what killed builds left behind (`cleanup.remove_leftovers`).
    """
    try:
        config = load_config(str(config_file), strict=strict)
    except (ConfigurationError, OSError) as exc:
        raise SiteBuildFailed(f"{config_file}: {exc}") from None
    target = Path(site_dir or config.site_dir).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)
    # The process id in the name tells the next build whether this folder's build is still running.
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-{os.getpid()}-", dir=target.parent))
    config.site_dir = str(staging)
    catcher = _ErrorCatcher()
    build_log = logging.getLogger(mkdocs_build.__name__)
    build_log.addFilter(catcher)
    try:
        config.plugins.on_startup(command="build", dirty=False)
        mkdocs_build.build(config)
    except (Abort, PluginError, ConfigurationError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        why = "\n".join(catcher.errors) or str(exc)
        raise SiteBuildFailed(f"{why}\nBuild aborted: no site was written; {target} is unchanged.") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        build_log.removeFilter(catcher)
        config.plugins.on_shutdown()
    os.chmod(staging, 0o755)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def serve_site(config_file: Path, *, dev_addr: str, livereload: bool) -> None:
    """mkdocs' dev server on the given address (build in a temporary folder, rebuild on changes); a build that fails
    shows its problems in the browser until it is fixed (generator/site/preview.py)."""
    from modelshelf.generator.site.preview import serve_preview

    try:
        serve_preview(str(config_file), dev_addr=dev_addr, livereload=livereload)
    except (Abort, PluginError, ConfigurationError, OSError) as exc:
        raise SiteBuildFailed(f"serve failed: {exc}") from None
