"""Hostile catalog.json files: every field the client takes from a site is checked before it reaches the
filesystem or the terminal. Each test is one kind of bad catalog, with its exact error and a check
that nothing was written outside the cache (or left in it). Sites are plain folders (file URLs)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from filelock import FileLock

from modelshelf.catalog.client import download as client
from modelshelf.catalog.client.cache import Cache
from modelshelf.catalog.client.cli import cli as client_cli
from modelshelf.catalog.client.errors import CatalogUnavailable, ModelNotFound, VersionNotFound
from modelshelf.catalog.client.text import printable

BLOB = b"model bytes " * 10
SHA = hashlib.sha256(BLOB).hexdigest()


def entry(version: str = "1.0.0", **file: Any) -> dict[str, Any]:
    f = {"name": "m.onnx", "kind": "onnx", "size": len(BLOB), "sha256": SHA, "url": "files/m.onnx", **file}
    return {"id": "evil/m", "version": version, "task": "t", "card": {"name": "M", "summary": "a model"}, "files": [f]}


def make_site(root: Path, models: list[Any], raw: str | None = None) -> str:
    site = root / "site"
    (site / "files").mkdir(parents=True, exist_ok=True)
    (site / "files" / "m.onnx").write_bytes(BLOB)
    (site / "catalog.json").write_text(raw if raw is not None else json.dumps({"format_version": 1, "models": models}))
    return str(site)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def nothing_outside(tmp_path: Path, home: Path) -> None:
    """Only the site and the cache exist under tmp_path: nothing escaped the cache."""
    assert {p.name for p in tmp_path.iterdir()} <= {"site", "home"}, list(tmp_path.iterdir())
    assert not any(".tmp-" in name for name in files_under(home)) if home.exists() else True


@pytest.mark.parametrize("version", ["../../../../escaped", "/tmp/absolute-escape", "1.0.0/../../../escaped",
                                     "1" * 5000 + ".0.0"])
def test_catalog_version_never_becomes_a_path(tmp_path: Path, home: Path, version: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """Regression (issue 12, class 4): a version with ../ or an absolute path made pull write outside the cache."""
    site = make_site(tmp_path, [entry(version)])
    with pytest.raises(ModelNotFound, match=r"has no model evil/m; `modelshelf search` lists what is there"):
        client.pull("evil/m", base_url=site, cache_dir=home)
    assert "ignoring 1 entries without a valid id and version" in caplog.text
    nothing_outside(tmp_path, home)
    assert not Path("/tmp/absolute-escape").exists()
    assert not (home / "refs").exists()


@pytest.mark.parametrize("ref", ["evil/m@../../x", "evil/m@/etc", "evil/m@1.0.0/.."])
def test_requested_version_is_checked(tmp_path: Path, home: Path, ref: str) -> None:
    site = make_site(tmp_path, [entry()])
    with pytest.raises(VersionNotFound, match=r"is not a version; versions look like 1\.0\.0 \(MAJOR\.MINOR\.PATCH\)"):
        client.pull(ref, base_url=site, cache_dir=home)
    assert not home.exists()


def test_kind_is_checked(tmp_path: Path, home: Path) -> None:
    site = make_site(tmp_path, [entry(kind="../../k")])
    with pytest.raises(VersionNotFound, match=r"^'\.\./\.\./k' is not a kind of file; kinds look like onnx, bundle or card$"):
        client.pull("evil/m@1.0.0", base_url=site, cache_dir=home, kind="../../k")
    with pytest.raises(ValueError, match="not a model id, version and kind"):
        Cache(home).read_ref("evil/m", "1.0.0", "../../k")
    assert not home.exists()


@pytest.mark.parametrize("field, value", [("name", "../../m.onnx"), ("name", "m\x1b[2J.onnx"), ("size", -1), ("size", True),
                                          ("size", 1 << 50), ("sha256", "../" * 21 + "a"), ("url", "files/m.onnx\n")])
def test_bad_file_fields_are_refused(tmp_path: Path, home: Path, field: str, value: Any) -> None:
    site = make_site(tmp_path, [entry(**{field: value})])
    with pytest.raises(CatalogUnavailable, match=r"describes evil/m@1\.0\.0 onnx without a valid size, sha256, name and url$"):
        client.pull("evil/m", base_url=site, cache_dir=home)
    nothing_outside(tmp_path, home)
    assert not (home / "blobs").exists()


def test_wrong_size_for_a_known_sha256_keeps_the_good_blob(tmp_path: Path, home: Path) -> None:
    """Regression (issue 12, class 4): an entry with a known SHA-256 and a wrong size deleted the good cached blob."""
    good = client.pull("evil/m", base_url=make_site(tmp_path, [entry()]), cache_dir=home)
    site = make_site(tmp_path, [entry(size=5)])
    with pytest.raises(CatalogUnavailable) as exc:
        client.pull("evil/m", base_url=site, cache_dir=home)
    assert str(exc.value) == (f"{Path(site).as_uri()}/catalog.json declares 5 bytes for evil/m@1.0.0 onnx (SHA-256 {SHA}), "
                              f"but the file with that SHA-256 has {len(BLOB)}; "
                              "the cached copy was kept. Tell the site's operator")
    assert good.read_bytes() == BLOB
    assert Cache(home).verified_blob(SHA, 5) is None and good.is_file(), "a wrong declared size never evicts"
    assert Cache(home).verified_blob(SHA, len(BLOB)) == good


@pytest.mark.parametrize("depth, message", [
    (100_000, "is nested too deeply to be a Modelshelf catalog; refusing it"),
    (100, "is nested more than 64 levels deep; a Modelshelf catalog is not: refusing it"),
])
def test_deeply_nested_catalog_is_refused(tmp_path: Path, home: Path, depth: int, message: str) -> None:
    """Regression (issue 12, class 4): a deeply nested catalog gave a traceback (RecursionError)."""
    raw = '{"format_version": 1, "models": [' + "[" * depth + "]" * depth + "]}"
    site = make_site(tmp_path, [], raw=raw)
    with pytest.raises(CatalogUnavailable, match=message):
        client.pull("evil/m", base_url=site, cache_dir=home)
    result = CliRunner().invoke(client_cli, ["search", "--site", site, "--cache-dir", str(home)])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_refused(tmp_path: Path, home: Path, constant: str) -> None:
    raw = json.dumps({"format_version": 1, "models": [entry()]}).replace('"size": 120', f'"size": {constant}')
    site = make_site(tmp_path, [], raw=raw)
    with pytest.raises(CatalogUnavailable, match=f"is not JSON \\({constant} is not a JSON number\\)"):
        client.pull("evil/m", base_url=site, cache_dir=home)


ESC = "\x1b]0;pwned\x07\x1b[2J\r\u202e"


def test_escape_sequences_never_reach_the_terminal(tmp_path: Path, home: Path) -> None:
    """Regression (issue 12, class 4): terminal escapes in catalog strings reached the terminal through search/info."""
    bad = entry()
    bad["task"] = f"t{ESC}"
    bad["card"] = {"name": f"M{ESC}", "summary": f"a model{ESC}", "license": ESC,
                   "metrics": [{"name": f"acc{ESC}", "value": 1}]}
    bad["signature"] = {"inputs": [{"name": f"x{ESC}", "dtype": ESC, "shape": [1, ESC]}]}
    bad["files"].append({"name": ESC, "kind": f"k{ESC}", "size": "x", "sha256": ESC})
    site = make_site(tmp_path, [bad])
    runner = CliRunner()
    for args in (["search", "model"], ["list"], ["info", "evil/m"], ["pull", "evil/m", "--kind", "card"]):
        result = runner.invoke(client_cli, [*args, "--site", site, "--cache-dir", str(home)])
        assert "Traceback" not in result.output, (args, result.output)
        assert not any(c in result.output for c in "\x1b\x07\r\u202e"), (args, result.output)
        assert result.exit_code == (1 if args[0] == "pull" else 0), (args, result.output)
    search = runner.invoke(client_cli, ["search", "--site", site, "--cache-dir", str(home)]).output
    assert r"    a model\x1b]0;pwned\x07\x1b[2J\x0d\u202e" in search.splitlines()
    assert printable("ok\ttab\nline", newlines=True) == r"ok\x09tab" + "\nline"


def test_malformed_entries_do_not_crash_the_commands(tmp_path: Path, home: Path) -> None:
    models: list[Any] = [1, "x", None, {"id": 5}, {"id": "evil/m", "version": "1.0.0", "card": [], "files": {"a": 1},
                                                  "signature": "s"}]
    site = make_site(tmp_path, models)
    for args in (["search"], ["list"], ["info", "evil/m"], ["search", "--metric", "acc>=1"]):
        result = CliRunner().invoke(client_cli, [*args, "--site", site, "--cache-dir", str(home)])
        assert result.exit_code == 0 and "Traceback" not in result.output, (args, result.output)


def test_killed_pull_leftovers_are_removed_by_the_next_pull(tmp_path: Path, home: Path) -> None:
    """Regression (issue 12, class 8): a killed pull left .tmp-* files and nothing removed them.

    The kill itself is in tests/acceptance/test_client.py; here the states it leaves are made directly.
    """
    cache = Cache(home)
    blobs = home / "blobs"
    blobs.mkdir(parents=True)
    dead = blobs / f".tmp-{SHA}-dead"  # its process is gone, so its lock is free
    dead.write_bytes(b"partial")
    other = "0" * 64
    live = blobs / f".tmp-{other}-live"  # a download in progress: its lock is held
    live.write_bytes(b"partial")
    (home / "locks").mkdir()
    held = FileLock(str(home / "locks" / f"{other}.lock"))
    held.acquire()
    try:
        path = client.pull("evil/m", base_url=make_site(tmp_path, [entry()]), cache_dir=home)
        assert not dead.exists() and live.exists()
    finally:
        held.release()
    assert cache.remove_stale_temp_files() == [live]
    assert sorted(p.name for p in blobs.iterdir()) == [SHA] and path.read_bytes() == BLOB


def test_tampered_ref_files_are_ignored(tmp_path: Path, home: Path) -> None:
    site = make_site(tmp_path, [entry()])
    client.pull("evil/m", base_url=site, cache_dir=home)
    ref = home / "refs" / "evil" / "m" / "1.0.0" / "onnx.json"
    data = json.loads(ref.read_text())
    ref.write_text(json.dumps({**data, "version": "../../../x", "sha256": "../x"}))
    assert Cache(home).refs() == [] and Cache(home).read_ref("evil/m", "1.0.0", "onnx") is None
    result = CliRunner().invoke(client_cli, ["list", "--offline", "--site", site, "--cache-dir", str(home)])
    assert result.exit_code == 0, result.output
