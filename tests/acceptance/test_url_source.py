"""A card's `source: {url, sha256, size}` is downloaded by the build and checked like a committed file (issue 10).

The "remote host" is a real HTTPS server on 127.0.0.1 with a throwaway self-signed certificate
(made with openssl), trusted by the build through SSL_CERT_FILE. It serves the model, a short
body, redirects (to https, and down to http) and 404s, and counts requests.
"""
from __future__ import annotations

import hashlib
import html
import http.server
import json
import ssl
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from modelshelf.generator.site.build import SiteBuildFailed, build_site
from test_build import make_project


def _model() -> bytes:
    one = numpy_helper.from_array(np.ones((1, 2), np.float32), "one")
    graph = helper.make_graph([helper.make_node("Add", ["x", "one"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])], initializer=[one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


MODEL = _model()
SHA = hashlib.sha256(MODEL).hexdigest()


class _Remote(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []
    http_port = 0

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        if self.path == "/model.onnx":
            self._send(MODEL)
        elif self.path == "/short.onnx":
            self.send_response(200)
            self.send_header("Content-Length", str(len(MODEL)))
            self.end_headers()
            self.wfile.write(MODEL[:100])  # then the connection closes: a short body
        elif self.path == "/moved.onnx":
            self._redirect("/model.onnx")
        elif self.path == "/downgrade.onnx":
            self._redirect(f"http://127.0.0.1:{type(self).http_port}/model.onnx")
        else:
            self.send_error(404)

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, where: str) -> None:
        self.send_response(302)
        self.send_header("Location", where)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Remote)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Remote)
    _Remote.http_port = plain.server_address[1]
    for s in (server, plain):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        for s in (server, plain):
            s.shutdown()
            s.server_close()


def _card(url: str, sha: str = SHA, size: int = len(MODEL)) -> str:
    return "\n".join([
        "id: acme/hosted", "name: Hosted", 'version: "1.0.0"', "summary: A model hosted elsewhere.",
        "description: Adds one.", "task: tabular-regression", "license: MIT", "authors: [{name: Test}]", "framework: onnx",
        "source:", f"  url: {url}", f"  sha256: \"{sha}\"", f"  size: {size}",
        "inputs: [{name: x, dtype: float32, shape: [null, 2]}]", "outputs: [{name: y, dtype: float32, shape: [null, 2]}]",
        "examples:", "  - name: zeros", "    inputs: {x: [[0.0, 0.0]]}", "    outputs: {y: [[1.0, 1.0]]}", "",
    ])


def _build(tmp_path: Path, card: str, monkeypatch: pytest.MonkeyPatch, cert: Path, cache: Path | None = None) -> Path:
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    folder = tmp_path / "src" / "acme" / "hosted"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "card.yaml").write_text(card)
    config = make_project(tmp_path / "proj", tmp_path / "src", cache=cache or tmp_path / "cache")
    return build_site(config, site_dir=tmp_path / "site")


def test_a_url_source_is_downloaded_checked_and_linked(tmp_path: Path, remote: tuple[str, Path],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    base, cert = remote
    _Remote.requests.clear()
    site = _build(tmp_path, _card(f"{base}/moved.onnx"), monkeypatch, cert)
    assert _Remote.requests == ["/moved.onnx", "/model.onnx"], "one download, through the redirect"
    model = json.loads((site / "catalog.json").read_text())["models"][0]
    onnx_file = next(f for f in model["files"] if f["kind"] == "onnx")
    assert onnx_file == {"name": "hosted.onnx", "kind": "onnx", "size": len(MODEL), "sha256": SHA,
                         "url": f"{base}/moved.onnx", "verified": True}
    assert not list(site.rglob("hosted.onnx")), "the site links to the host; it does not copy the file"
    page = html.unescape((site / "models" / "acme" / "hosted" / "index.html").read_text())
    assert f'"url":"{base}/moved.onnx"' in page, "the try-it panel gets the absolute URL"
    bundle = next(site.rglob("hosted-1.0.0-bundle.zip"))
    with zipfile.ZipFile(bundle) as zf:
        assert any(n.endswith("/hosted.onnx") for n in zf.namelist()), "the checked bytes go into the bundle"

    # A second build reads the download from the cache.
    _Remote.requests.clear()
    build_site(tmp_path / "proj" / "mkdocs.yml", site_dir=tmp_path / "site2")
    assert _Remote.requests == []


@pytest.mark.parametrize(("path", "sha", "size", "message"), [
    ("/model.onnx", "0" * 64, len(MODEL), f"the downloaded bytes have SHA-256 {SHA}, but the card declares (sha256) {'0' * 64}"),
    ("/short.onnx", SHA, len(MODEL), f"received 100 bytes, but the card declares (size) {len(MODEL)}"),
    ("/model.onnx", SHA, len(MODEL) + 1, f"received {len(MODEL)} bytes, but the card declares (size) {len(MODEL) + 1}"),
    ("/missing.onnx", SHA, len(MODEL), "failed: HTTP 404 Not Found"),
    ("/downgrade.onnx", SHA, len(MODEL), "redirects (302) to http://127.0.0.1:"),
])
def test_a_bad_download_fails_at_the_url_line_and_leaves_nothing(tmp_path: Path, remote: tuple[str, Path],
                                                                 monkeypatch: pytest.MonkeyPatch, path: str, sha: str, size: int,
                                                                 message: str) -> None:
    base, cert = remote
    with pytest.raises(SiteBuildFailed) as err:
        _build(tmp_path, _card(f"{base}{path}", sha, size), monkeypatch, cert)
    text = str(err.value)
    assert "card.yaml:11:8: $.source.url: " in text and message in text, text
    assert "hint: check the URL, and that sha256 and size are those of the file it serves" in text
    assert not (tmp_path / "site").exists()
    downloads = tmp_path / "cache" / "downloads"
    assert not [p for p in downloads.rglob("*") if p.is_file() and p.parent.name != "locks"], "no blob or temp file is left"


def test_an_untrusted_certificate_is_refused(tmp_path: Path, remote: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    base, _ = remote
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    folder = tmp_path / "src" / "acme" / "hosted"
    folder.mkdir(parents=True)
    (folder / "card.yaml").write_text(_card(f"{base}/model.onnx"))
    config = make_project(tmp_path / "proj", tmp_path / "src", cache=tmp_path / "cache")
    with pytest.raises(SiteBuildFailed) as err:
        build_site(config, site_dir=tmp_path / "site")
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)
