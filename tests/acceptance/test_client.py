"""`modelshelf pull / run / search / list / info` and `modelshelf.catalog.client.download` against a built site served on 127.0.0.1,
including the faults a download can meet: each must give its clear error and leave nothing behind."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import deploy_site
from modelshelf.catalog.client import download as client
from modelshelf.catalog.client.cache import Cache
from modelshelf.catalog.client.errors import (CatalogUnavailable, HashMismatch, IncompleteDownload, ModelNotFound, NotInCache, RedirectRefused,
                            VersionNotFound)
from modelshelf.generator.cli import main

REPO = Path(__file__).resolve().parents[2]
MODEL, VERSION = deploy_site.MODEL_ID, deploy_site.VERSION


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deploy_site.build_site(tmp_path_factory.mktemp("deploy"))


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[tuple[str, type]]:
    with deploy_site.serve_folder(site) as (url, handler):
        yield url, handler


@pytest.fixture
def url(served: tuple[str, type]) -> Iterator[str]:
    base, handler = served
    handler.faults.clear()
    handler.requests.clear()
    yield base
    handler.faults.clear()


@pytest.fixture
def handler(served: tuple[str, type]) -> type:
    return served[1]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MODELSHELF_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MODELSHELF_SITE_URL", raising=False)
    monkeypatch.delenv("MODELSHELF_OFFLINE", raising=False)
    return tmp_path / "home"


def nothing_left(home: Path) -> None:
    blobs = home / "blobs"
    assert not blobs.exists() or list(blobs.iterdir()) == [], f"left behind: {list(blobs.iterdir())}"


def onnx_gets(handler: type) -> int:
    return sum(1 for p in handler.requests if p.split("?")[0].endswith(".onnx"))


# -- the happy path --------------------------------------------------------------------------------

def test_pull_verifies_and_caches(url: str, site: Path, home: Path, handler: type) -> None:
    declared = deploy_site.catalog_file(site)
    path = client.pull(MODEL, base_url=url)
    assert path == home / "blobs" / declared["sha256"]
    assert path.read_bytes() == (site / declared["url"]).read_bytes()
    assert onnx_gets(handler) == 1
    assert json.loads((home / "refs" / MODEL / VERSION / "onnx.json").read_text())["sha256"] == declared["sha256"]

    assert client.pull(f"{MODEL}@{VERSION}", base_url=url) == path, "a pinned, cached version is a cache hit"
    assert client.pull(MODEL, base_url=url) == path
    assert onnx_gets(handler) == 1, "cache hits do not download again"
    assert client.pull(MODEL, base_url=url, offline=True) == path
    assert client.pull(MODEL, base_url="http://127.0.0.1:9/", offline=True) != None  # noqa: E711 - offline never connects


def test_session_helper_runs_the_model(url: str, site: Path, home: Path) -> None:
    session = client.session(f"{MODEL}@{VERSION}", base_url=url)
    card = json.loads((site / "catalog.json").read_text())["models"][0]["card"]
    example = card["examples"][0]
    label, scores = session.run(None, {"x": np.array(example["inputs"]["x"], dtype=np.float32)})
    assert label.tolist() == example["outputs"]["label"]
    assert np.allclose(scores, example["outputs"]["scores"], atol=1e-4)


def test_file_url_and_folder_sites(site: Path, home: Path) -> None:
    declared = deploy_site.catalog_file(site)
    assert client.pull(MODEL, base_url=site.as_uri()).name == declared["sha256"]
    assert client.pull(MODEL, base_url=str(site), kind="bundle").name == deploy_site.catalog_file(site, "bundle")["sha256"]


def test_default_site_comes_from_env_then_mkdocs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELSHELF_SITE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mkdocs.yml").write_text("site_name: x\nsite_url: !ENV [OTHER_VAR, 'https://models.example.org/']\n"
                                         "markdown_extensions:\n  - pymdownx.emoji:\n      emoji_index: !!python/name:material.extensions.emoji.twemoji\n")
    assert client.default_site_url() == "https://models.example.org/"
    monkeypatch.setenv("OTHER_VAR", "https://fork.example.org/")
    assert client.default_site_url() == "https://fork.example.org/"
    monkeypatch.setenv("MODELSHELF_SITE_URL", "http://127.0.0.1:8123/")
    assert client.default_site_url() == "http://127.0.0.1:8123/"


# -- faults ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault, error, message", [
    ("short", IncompleteDownload, "received 1600166 bytes, but catalog.json declares 3200332"),
    ("truncated", IncompleteDownload, "received 1600166 bytes, but catalog.json declares 3200332"),
    ("corrupt", HashMismatch, "the downloaded bytes have SHA-256"),
    ("redirect", RedirectRefused, "refusing to follow a redirect to another host"),
])
def test_download_faults(url: str, handler: type, home: Path, fault: str, error: type[Exception], message: str) -> None:
    handler.faults[".onnx"] = fault
    with pytest.raises(error, match=message) as exc:
        client.pull(MODEL, base_url=url)
    assert isinstance(exc.value, OSError)
    assert "Nothing was stored" in str(exc.value) or fault == "redirect"
    nothing_left(home)
    assert not (home / "refs" / MODEL).exists(), "a failed pull records no ref"
    handler.faults.clear()
    assert client.pull(MODEL, base_url=url).is_file(), "the next pull, with the fault gone, works"


def test_same_host_redirect_is_followed(url: str, handler: type, home: Path) -> None:
    handler.faults[".onnx"] = "same-host"
    assert client.pull(MODEL, base_url=url).is_file()
    assert any("moved=1" in p for p in handler.requests)


def test_unknown_model_and_version(url: str, home: Path) -> None:
    with pytest.raises(ModelNotFound, match="has no model acme/toy-classifyer; did you mean acme/toy-classifier"):
        client.pull("acme/toy-classifyer", base_url=url)
    with pytest.raises(VersionNotFound, match=r"acme/toy-classifier has no version 9\.9\.9 on .*; available: 1\.2\.0"):
        client.pull(MODEL, "9.9.9", base_url=url)
    with pytest.raises(ModelNotFound, match="is not a model id"):
        client.pull("../../etc/passwd", base_url=url)
    with pytest.raises(CatalogUnavailable, match="HTTP 404"):
        client.pull(MODEL, base_url=url + "nowhere/")
    with pytest.raises(NotInCache, match="is not in the cache"):
        client.pull(MODEL, base_url=url, offline=True)
    nothing_left(home)


def test_tampered_cache_file_is_refetched(url: str, handler: type, home: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = client.pull(MODEL, base_url=url)
    good = path.read_bytes()
    os.chmod(path, 0o644)
    path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    assert client.pull(f"{MODEL}@{VERSION}", base_url=url) == path
    assert path.read_bytes() == good
    assert onnx_gets(handler) == 2, "the damaged file was fetched again"
    assert "does not match its SHA-256" in caplog.text
    # Offline, a damaged file cannot be repaired: a clear error, and the bad file is gone.
    os.chmod(path, 0o644)
    path.write_bytes(b"tampered")
    with pytest.raises(NotInCache, match="missing or damaged"):
        client.pull(MODEL, base_url=url, offline=True)
    nothing_left(home)


def test_disk_full_while_writing(url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from modelshelf.catalog.client.errors import CacheWriteError

    real_fdopen = os.fdopen

    class Full:
        def __init__(self, f) -> None:
            self.f = f

        def write(self, data) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            self.f.close()

    def fdopen(fd: int, *args, **kwargs):
        f = real_fdopen(fd, *args, **kwargs)
        return Full(f) if "/blobs/" in os.readlink(f"/proc/self/fd/{fd}") else f  # the disk fills up during the download

    monkeypatch.setattr(os, "fdopen", fdopen)
    with pytest.raises(CacheWriteError, match="no space left on the disk") as exc:
        client.pull(MODEL, base_url=url)
    monkeypatch.undo()
    assert exc.value.errno == errno.ENOSPC
    nothing_left(home)


def _start_server(folder: Path, tmp: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    port_file = tmp / f"port-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, str(Path(deploy_site.__file__)), str(folder), str(port_file), *extra])
    deadline = time.monotonic() + 20
    while not port_file.exists():
        assert time.monotonic() < deadline and proc.poll() is None, "the file server did not start"
        time.sleep(0.02)
    return proc, f"http://127.0.0.1:{port_file.read_text()}/"


def test_server_killed_mid_download(site: Path, home: Path, tmp_path: Path) -> None:
    proc, base = _start_server(site, tmp_path, "--throttle", "0.3")
    errors: list[BaseException] = []
    try:
        def pull() -> None:
            try:
                client.pull(MODEL, base_url=base)
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                errors.append(exc)

        thread = threading.Thread(target=pull)
        thread.start()
        deadline = time.monotonic() + 20
        while not any((home / "blobs").glob(".tmp-*")):
            assert time.monotonic() < deadline, "the download never started"
            time.sleep(0.01)
        time.sleep(0.35)  # some bytes are in the temp file
        proc.send_signal(signal.SIGKILL)
        thread.join(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert len(errors) == 1 and isinstance(errors[0], IncompleteDownload), errors
    assert "Nothing was stored" in str(errors[0])
    nothing_left(home)


PULL = "import sys; from modelshelf.catalog import client; print(client.pull(sys.argv[1], base_url=sys.argv[2]))"


def test_two_processes_pulling_at_once(site: Path, home: Path, tmp_path: Path) -> None:
    """Both processes get the same verified file; it is downloaded once (the other waits on the lock)."""
    log = tmp_path / "requests.log"
    proc, base = _start_server(site, tmp_path, "--throttle", "0.05", "--log", str(log))
    try:
        env = {**os.environ, "MODELSHELF_HOME": str(home), "PYTHONPATH": str(REPO)}
        pullers = [subprocess.Popen([sys.executable, "-c", PULL, MODEL, base], env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [p.communicate(timeout=60) for p in pullers]
    finally:
        proc.kill()
        proc.wait()
    assert all(p.returncode == 0 for p in pullers), results
    paths = {out.strip() for out, _ in results}
    declared = deploy_site.catalog_file(site)
    assert paths == {str(home / "blobs" / declared["sha256"])}
    assert sorted(p.name for p in (home / "blobs").iterdir()) == [declared["sha256"]], "one blob, no temp files"
    assert Cache(home).verified_blob(declared["sha256"], declared["size"]) is not None
    assert sum(1 for line in log.read_text().splitlines() if line.endswith(".onnx")) == 1


# -- the command line ------------------------------------------------------------------------------

def cli(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_pull_run_info_list_search(url: str, site: Path, home: Path, tmp_path: Path) -> None:
    result = cli("pull", f"{MODEL}@{VERSION}", "--site", url)
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(deploy_site.catalog_file(site)["sha256"])

    card = json.loads((site / "catalog.json").read_text())["models"][0]["card"]
    for i, example in enumerate(card["examples"]):
        request = tmp_path / f"example{i}.json"
        request.write_text(json.dumps({"inputs": example["inputs"]}))
        result = cli("run", MODEL, str(request), "--site", url)
        assert result.exit_code == 0, result.output
        answer = json.loads(result.output)
        assert answer["outputs"]["label"] == example["outputs"]["label"]
        assert np.allclose(answer["outputs"]["scores"], example["outputs"]["scores"], atol=example["tolerance"])
        top = answer["postprocessed"]["top"][0]
        assert top[0]["label"] == card["labels"][example["outputs"]["label"][0]] and len(top) == 2

    rows = tmp_path / "rows.csv"
    rows.write_text("d,c,b,a\n8,6,4,2\n")  # raw values (scale 0.5), columns by name in another order
    result = cli("run", MODEL, str(rows), "--offline", "--site", url)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["outputs"]["label"] == card["examples"][0]["outputs"]["label"]

    bad = tmp_path / "bad.json"
    bad.write_text('{"inputs": {"x": [[1, 2, 3]]}}')
    result = CliRunner().invoke(main, ["run", MODEL, str(bad), "--offline", "--site", url])
    assert result.exit_code == 2
    assert "input 'x' must have shape [batch, 4], got [1, 3]" in result.output

    result = cli("info", MODEL, "--site", url)
    assert result.exit_code == 0, result.output
    assert "input: x float32 [batch, 4]" in result.output and "cached at" in result.output
    result = cli("list", "--site", url, "--format", "json")
    assert json.loads(result.output) == [{"id": MODEL, "version": VERSION, "task": "tabular-classification",
                                          "summary": card["summary"], "cached": ["onnx"]}]
    result = cli("search", "toy", "--task", "tabular-classification", "--site", url)
    assert result.exit_code == 0 and f"{MODEL}@{VERSION}" in result.output
    assert "no models match" in cli("search", "toy", "--metric", "accuracy>=0.9", "--site", url).output
    result = CliRunner().invoke(main, ["search", "--metric", "accuracy~0.9", "--site", url])
    assert result.exit_code == 1 and "is not a metric filter" in result.output


def test_cli_errors_are_clear(url: str, home: Path) -> None:
    result = CliRunner().invoke(main, ["pull", "acme/nothing", "--site", url])
    assert result.exit_code == 1
    assert "error: " in result.output and "has no model acme/nothing" in result.output
    result = CliRunner().invoke(main, ["pull", MODEL, "--offline", "--site", url])
    assert result.exit_code == 1 and "is not in the cache" in result.output


def test_search_filters_by_metric() -> None:
    doc = {"models": [
        {"id": "a/x", "version": "1.0.0", "task": "t", "card": {"name": "X", "summary": "fast", "metrics": [{"name": "accuracy", "value": 0.95}]}},
        {"id": "a/y", "version": "1.0.0", "task": "t", "card": {"name": "Y", "summary": "fast", "metrics": [{"name": "accuracy", "value": 0.85}]}},
        {"id": "a/z", "version": "1.0.0", "task": "u", "card": {"name": "Z", "summary": "slow"}},
    ]}
    f = client.parse_metric_filter("accuracy>=0.9")
    assert [m["id"] for m in client.search(doc, "fast", metrics=(f,))] == ["a/x"]
    assert [m["id"] for m in client.search(doc, "", task="u")] == ["a/z"]
    assert [m["id"] for m in client.search(doc, "fast", metrics=(client.parse_metric_filter("accuracy<0.9"),))] == ["a/y"]


def test_progress_bar_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    plain, tty = io.StringIO(), Tty()
    for stream in (plain, tty):
        bar = client.TerminalProgress(stream)
        bar("m.onnx", 0, 1000)
        bar("m.onnx", 1000, 1000)
    assert plain.getvalue() == ""
    assert "100.0%" in tty.getvalue() and tty.getvalue().endswith("\n")


def test_remote_catalog_cannot_point_at_local_files(tmp_path: Path, home: Path) -> None:
    """Regression guard: a catalog fetched over HTTP that names a file:// URL must not make the client read local files."""
    secret = tmp_path / "secret"
    secret.write_bytes(b"local data")
    import hashlib

    site = tmp_path / "evil"
    site.mkdir()
    (site / "catalog.json").write_text(json.dumps({"format_version": 1, "models": [{"id": "evil/m", "version": "1.0.0", "files": [
        {"name": "m.onnx", "kind": "onnx", "size": 10, "sha256": hashlib.sha256(b"local data").hexdigest(), "url": secret.as_uri()}]}]}))
    with deploy_site.serve_folder(site) as (base, _):
        with pytest.raises(CatalogUnavailable, match="points evil/m@1.0.0 at a local file"):
            client.pull("evil/m", base_url=base)
    nothing_left(home)


def test_killed_pull_leaves_a_temp_file_the_next_pull_removes(site: Path, home: Path, tmp_path: Path) -> None:
    """Regression (issue 12, class 8): a pull killed with SIGKILL left blobs/.tmp-* behind for good."""
    proc, base = _start_server(site, tmp_path, "--throttle", "0.3")
    try:
        env = {**os.environ, "MODELSHELF_HOME": str(home), "PYTHONPATH": str(REPO)}
        puller = subprocess.Popen([sys.executable, "-c", PULL, MODEL, base], env=env)
        deadline = time.monotonic() + 20
        while not any((home / "blobs").glob(".tmp-*")):
            assert time.monotonic() < deadline and puller.poll() is None, "the download never started"
            time.sleep(0.01)
        puller.kill()
        puller.wait()
    finally:
        proc.kill()
        proc.wait()
    assert len(list((home / "blobs").glob(".tmp-*"))) == 1, "the kill left its temp file"
    with deploy_site.serve_folder(site) as (url, _):
        path = client.pull(MODEL, base_url=url)
    assert sorted(p.name for p in (home / "blobs").iterdir()) == [path.name], "the next pull removed it"
