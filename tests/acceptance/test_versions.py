"""Versions (issue 10): one folder per version, every version keeps its page and bytes, `latest` moves, yanked hides.

One throwaway project: acme/relu in the version-folder layout (models/acme/relu/1.0.0/card.yaml),
locked with the real `modelshelf lock`, then 1.1.0 added as a new folder (the only change), then
1.1.0 yanked. Each state is built and checked on disk; the last one is also served over HTTP
and pulled with the real `modelshelf` client in a subprocess.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from modelshelf.catalog.catalog import load_catalog
from modelshelf.catalog.problems import format_problems
from modelshelf.generator.site.build import build_site
from conftest import _QuietHandler
from test_build import CARD, RECIPE, make_project, sha256
from test_lock import EXAMPLE, _lock

CHANGELOG_1_1 = 'changelog: "Adds **one** to every output."\n'


def _files(site: Path, version: str) -> dict[str, str]:
    """name -> sha256 of every file catalog.json lists for acme/relu@version, checked against the bytes on disk."""
    catalog = json.loads((site / "catalog.json").read_text())
    entry = next(m for m in catalog["models"] if m["id"] == "acme/relu" and m["version"] == version)
    out = {}
    for f in entry["files"]:
        assert sha256(site / f["url"]) == f["sha256"], f["url"]
        out[f["url"]] = f["sha256"]
    return out


def _search_versions(site: Path) -> list[str]:
    return [m["version"] for m in json.loads((site / "search" / "docs.json").read_text())["models"]]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("versions")
    v1 = root / "src" / "acme" / "relu" / "1.0.0"
    v1.mkdir(parents=True)
    (v1 / "card.yaml").write_text(CARD + EXAMPLE + 'changelog: "First release."\n')
    (v1 / "recipe.py").write_text(RECIPE)
    config = make_project(root / "proj", root / "src", cache=root / "cache")
    assert _lock(config)[0] == 0
    sites = {"one": build_site(config, site_dir=root / "site-one")}

    models = config.parent / "models" / "acme" / "relu"
    shutil.copytree(models / "1.0.0", models / "1.1.0")
    card = models / "1.1.0" / "card.yaml"
    card.write_text(card.read_text().replace('version: "1.0.0"', 'version: "1.1.0"')
                    .replace('changelog: "First release."\n', CHANGELOG_1_1))
    sites["two"] = build_site(config, site_dir=root / "site-two")
    assert _lock(config)[0] == 0  # 1.1.0 is published; its status may still change

    card.write_text(card.read_text() + "status: yanked\nstatus_reason: Gave wrong answers for negative inputs.\n")
    sites["yanked"] = build_site(config, site_dir=root / "site-yanked")
    sites["config"] = config
    return sites


def test_adding_a_version_keeps_the_old_one_byte_for_byte(history: dict[str, Path]) -> None:
    one, two = history["one"], history["two"]
    assert _files(one, "1.0.0") == _files(two, "1.0.0"), "1.0.0's files, addresses and bytes are unchanged"
    catalog = json.loads((two / "catalog.json").read_text())
    rows = {(m["version"], m["status"], m["latest"], m["page"]) for m in catalog["models"]}
    assert rows == {("1.0.0", "active", False, "models/acme/relu/1.0.0/"), ("1.1.0", "active", True, "models/acme/relu/")}
    assert _search_versions(two) == ["1.1.0"], "search lists the model once, at its latest version"

    latest = (two / "models" / "acme" / "relu" / "index.html").read_text()
    assert "v1.1.0 · 2 versions" in latest and "Adds <strong>one</strong> to every output." in latest
    old = (two / "models" / "acme" / "relu" / "1.0.0" / "index.html").read_text()
    assert "This page is version 1.0.0. The latest version is" in old and "First release." in old
    redirect = (two / "models" / "acme" / "relu" / "1.1.0" / "index.html").read_text()
    assert '<meta http-equiv="refresh" content="0; url=../">' in redirect, "the latest's own address leads to its page"
    # In the one-version site, 1.0.0 was the latest: its versioned address redirected to the model page.
    assert 'url=../' in (one / "models" / "acme" / "relu" / "1.0.0" / "index.html").read_text()


def test_a_yanked_version_leaves_search_and_latest_but_keeps_its_page(history: dict[str, Path]) -> None:
    site = history["yanked"]
    catalog = json.loads((site / "catalog.json").read_text())
    rows = {m["version"]: (m["status"], m["latest"], m["status_reason"]) for m in catalog["models"]}
    assert rows == {"1.0.0": ("active", True, None), "1.1.0": ("yanked", False, "Gave wrong answers for negative inputs.")}
    assert _search_versions(site) == ["1.0.0"]
    page = (site / "models" / "acme" / "relu" / "1.1.0" / "index.html").read_text()
    assert "This version is yanked" in page and "Gave wrong answers for negative inputs." in page
    assert _files(history["two"], "1.1.0") == _files(site, "1.1.0"), "yanking changes no file"


def test_the_client_pulls_latest_and_warns_on_a_yanked_pin(history: dict[str, Path], tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_QuietHandler, directory=str(history["yanked"])))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    env = {**os.environ, "MODELSHELF_HOME": str(tmp_path / "cache"), "MODELSHELF_SITE_URL": url}
    cli = [sys.executable, "-m", "modelshelf.generator.cli"]
    try:
        latest = subprocess.run([*cli, "pull", "acme/relu"], env=env, capture_output=True, text=True, timeout=120)
        pinned = subprocess.run([*cli, "pull", "acme/relu@1.1.0"], env=env, capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    assert latest.returncode == 0, latest.stderr
    onnx_1_0 = next(sha for url, sha in _files(history["yanked"], "1.0.0").items() if url.endswith(".onnx"))
    assert latest.stdout.strip().endswith(onnx_1_0) and "yanked" not in latest.stderr, "latest is 1.0.0, not the yanked 1.1.0"
    assert pinned.returncode == 0, pinned.stderr
    assert "acme/relu@1.1.0 is yanked: Gave wrong answers for negative inputs." in pinned.stderr


def test_a_new_version_folder_is_the_only_change(history: dict[str, Path]) -> None:
    """The pull request that added 1.1.0 touched nothing of 1.0.0: the lock still accepts 1.0.0 as it is."""
    models = history["config"].parent / "models"
    result = load_catalog([models], root=models)
    assert result.ok, result.problems
    assert [c.ref for c in result.cards] == ["acme/relu@1.0.0", "acme/relu@1.1.0"]
    lock = json.loads((history["config"].parent / "modelshelf.lock").read_text())
    assert set(lock["versions"]) == {"acme/relu@1.0.0", "acme/relu@1.1.0"}


def test_layout_mistakes_are_located(tmp_path: Path) -> None:
    models = tmp_path / "models" / "acme" / "relu"
    (models / "1.0.0").mkdir(parents=True)
    (models / "1.0.0" / "card.yaml").write_text(CARD.replace('version: "1.0.0"', 'version: "1.0.1"'))
    (models / "1.2.0").mkdir()
    (models / "1.2.0" / "card.yaml").write_text(CARD.replace('version: "1.0.0"', 'version: "1.2.0"')
                                                + "status: deprecated\n")
    (models / "card.yaml").write_text(CARD)
    result = load_catalog([tmp_path / "models"], root=tmp_path / "models")
    text = format_problems(result.problems)
    assert "1.0.0/card.yaml:4:10: $.version: version '1.0.1' does not match the card's version folder '1.0.0'" in text
    assert "1.2.0/card.yaml:14:9: $.status: a deprecated version needs status_reason" in text
    assert "relu/card.yaml:1:1: $: card.yaml is beside the version folders 1.0.0, 1.2.0: a model keeps either one card.yaml " \
        "or one folder per version" in text
