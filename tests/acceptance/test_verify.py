"""Signed, verifiable releases (issue 12): the build publishes SHA256SUMS over every file the site serves
and, with a signing key, SHA256SUMS.sig (ssh-keygen -Y sign); `modelshelf verify` checks a site URL, a
site folder or a bundle and names every file that differs.

Before this change a site had no SHA256SUMS and no signature: a file changed on the host (or by a
mirror) was noticed only by the client's per-model check, and a changed page or script not at all.
The key is a throwaway ed25519 key made by ssh-keygen in the test; nothing is mocked.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import deploy_site
from modelshelf.catalog.client import verify as verify_lib
from modelshelf.catalog.client.cli import cli
from modelshelf.generator.errors import BuildError
from modelshelf.generator.site import release

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (openssh-client)")


def make_key(folder: Path, name: str) -> tuple[Path, Path]:
    """(private key, allowed-signers file naming its public key as principal `name`)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    public = " ".join((folder / f"{name}.pub").read_text().split()[:2])
    signers = folder / f"{name}.allowed_signers"
    signers.write_text(f'# test key\n{name} namespaces="{verify_lib.NAMESPACE}" {public}\n')
    return key, signers


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("keys")
    return {"release": make_key(folder, "release"), "other": make_key(folder, "other")}


@pytest.fixture(scope="module")
def signed_site(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, tuple[Path, Path]]) -> Path:
    """The deploy fixture site, built with MODELSHELF_SIGNING_KEY and MODELSHELF_ALLOWED_SIGNERS set."""
    key, signers = keys["release"]
    saved = {n: os.environ.get(n) for n in ("MODELSHELF_SIGNING_KEY", "MODELSHELF_ALLOWED_SIGNERS")}
    os.environ["MODELSHELF_SIGNING_KEY"], os.environ["MODELSHELF_ALLOWED_SIGNERS"] = str(key), str(signers)
    try:
        return deploy_site.build_site(tmp_path_factory.mktemp("signed"), hidden=1000)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def site(signed_site: Path, tmp_path: Path) -> Path:
    """A copy of the signed site to tamper with."""
    return Path(shutil.copytree(signed_site, tmp_path / "site"))


def run_verify(target: str | Path, signers: Path | None, *extra: str) -> tuple[int, str]:
    args = ["verify", str(target), *extra] + (["--allowed-signers", str(signers)] if signers else [])
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.output


def model_file(site: Path) -> str:
    """The site path of the toy classifier's ONNX file."""
    sums = verify_lib.parse_sums((site / "SHA256SUMS").read_text())
    return next(n for n in sums if n.startswith("files/acme/toy-classifier/") and n.endswith(".onnx"))


def test_build_lists_every_served_file_and_signs(signed_site: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    sums = verify_lib.parse_sums((signed_site / "SHA256SUMS").read_text())
    on_disk = {p.relative_to(signed_site).as_posix() for p in signed_site.rglob("*") if p.is_file()}
    assert set(sums) == on_disk - {"SHA256SUMS", "SHA256SUMS.sig"}
    for name in ("index.html", "catalog.json", "search/docs.json", "search/index.json", "allowed_signers",
                 "models/acme/toy-classifier/index.html", "sitemap.xml", model_file(signed_site)):
        assert name in sums, name
    assert sums["index.html"] == hashlib.sha256((signed_site / "index.html").read_bytes()).hexdigest()
    assert any(n.endswith("-bundle.zip") for n in sums)
    assert (signed_site / "SHA256SUMS.sig").read_text().startswith("-----BEGIN SSH SIGNATURE-----")
    if shutil.which("sha256sum"):  # the documented offline check, with no modelshelf installed
        subprocess.run(["sha256sum", "--quiet", "--strict", "-c", "SHA256SUMS"], cwd=signed_site, check=True)
    # ... and the documented ssh-keygen command
    subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(keys["release"][1]), "-I", "release", "-n", "modelshelf-catalog",
                    "-s", "SHA256SUMS.sig"], stdin=(signed_site / "SHA256SUMS").open("rb"), cwd=signed_site, check=True,
                   capture_output=True)


def test_signed_site_verifies(signed_site: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    code, out = run_verify(signed_site, keys["release"][1])
    assert code == 0, out
    assert out.splitlines()[-1] == "VERIFIED: every file matches SHA256SUMS"
    assert 'signature: good: Good "modelshelf-catalog" signature for release with ED25519 key' in out


def test_tampered_missing_and_extra_files_are_named(site: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    onnx = model_file(site)
    (site / onnx).write_bytes((site / onnx).read_bytes()[:-1] + b"\0")
    (site / "search" / "docs.json").unlink()
    (site / "evil.html").write_text("<script>alert(1)</script>")
    (site / "assets" / "\x1b[31mred").write_text("x")
    code, out = run_verify(site, keys["release"][1])
    assert code == 1, out
    lines = out.splitlines()
    assert any(line.startswith(f"changed  {onnx}  (SHA-256 ") for line in lines), out
    assert "missing  search/docs.json  (no such file)" in lines
    assert "extra    evil.html  (not listed in SHA256SUMS)" in lines
    assert "extra    assets/\\x1b[31mred  (not listed in SHA256SUMS)" in lines  # no escape sequence reaches the terminal
    assert f"catalog  {onnx}" in out  # catalog.json's size and SHA-256 no longer hold either
    assert lines[-1] == "FAILED: 1 catalog, 1 changed, 2 extra, 1 missing"
    assert "\x1b" not in out


def test_sums_rewritten_to_match_a_tampered_file_breaks_the_signature(site: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    (site / "index.html").write_text("<h1>defaced</h1>")
    release.write_sums(site)  # an attacker recomputes SHA256SUMS, but cannot sign it
    code, out = run_verify(site, keys["release"][1])
    assert code == 1, out
    assert "signature: bad: SHA256SUMS.sig does not match SHA256SUMS, or was made for another purpose" in out
    assert out.splitlines()[-1] == "FAILED: every file matches SHA256SUMS"


def test_signature_by_another_key_or_namespace_fails(site: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    # The verifier trusts only its own allowed-signers file; a key from the site itself does not count.
    code, out = run_verify(site, keys["other"][1])
    assert code == 1, out
    assert f"signature: bad: SHA256SUMS.sig was not made by a key in {keys['other'][1]}" in out
    # The attacker re-signs with their own key and publishes their own allowed_signers: still refused.
    release.sign_sums(site, keys["other"][0], keys["other"][1])
    shutil.copy(keys["other"][1], site / "allowed_signers")
    assert run_verify(site, keys["release"][1])[0] == 1
    # The right key, but a signature made for another purpose (namespace) than the catalog.
    sig = subprocess.run(["ssh-keygen", "-Y", "sign", "-f", str(keys["release"][0]), "-n", "file"],
                         input=(site / "SHA256SUMS").read_bytes(), capture_output=True, check=True).stdout
    (site / "SHA256SUMS.sig").write_bytes(sig)
    code, out = run_verify(site, keys["release"][1])
    assert code == 1 and "signature: bad: SHA256SUMS.sig does not match SHA256SUMS, or was made for another purpose" in out
    (site / "SHA256SUMS.sig").write_text("-----BEGIN SSH SIGNATURE-----\ngarbage\n-----END SSH SIGNATURE-----\n")
    assert run_verify(site, keys["release"][1])[0] == 1


def test_unsigned_build_says_so_and_verify_exits_3(site: Path, keys: dict[str, tuple[Path, Path]],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        release.write_release_files(site, key=None, allowed_signers=verify_lib.DEFAULT_ALLOWED_SIGNERS)
    assert "SHA256SUMS written unsigned (no signing key: set plugins.modelshelf.signing_key or MODELSHELF_SIGNING_KEY" \
        in caplog.text
    assert not (site / "SHA256SUMS.sig").exists()
    code, out = run_verify(site, keys["release"][1])
    assert code == 3, out
    assert "signature: unsigned: no SHA256SUMS.sig: the publisher did not sign this" in out
    assert out.splitlines()[-1] == "UNSIGNED: every file matches SHA256SUMS"


def test_signed_but_no_trusted_key_is_not_verified(signed_site: Path, tmp_path: Path) -> None:
    empty = tmp_path / "allowed_signers"
    empty.write_text("# no keys\n")
    code, out = run_verify(signed_site, empty)
    assert code == 3, out
    assert "lists no key to check it with; pass --allowed-signers FILE with the publisher's public key" in out


def test_build_refuses_a_key_the_clients_would_not_trust(site: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    with pytest.raises(BuildError, match=r"does not verify against .*other.allowed_signers: SHA256SUMS.sig was not made by"):
        release.write_release_files(site, key=keys["release"][0], allowed_signers=keys["other"][1])
    with pytest.raises(BuildError, match="signing key .*nowhere does not exist"):
        release.sign_sums(site, site / "nowhere", keys["release"][1])


def test_verify_over_http_names_a_corrupted_file(signed_site: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    onnx = model_file(signed_site)
    with deploy_site.serve_folder(signed_site) as (url, handler):
        code, out = run_verify(url, keys["release"][1])
        assert code == 0, out
        assert "note: extra files were not looked for: a web server cannot list its files" in out
        handler.faults = {".onnx": "corrupt", "search/index.json": "truncated"}
        code, out = run_verify(url, keys["release"][1])
    assert code == 1, out
    assert any(line.startswith(f"changed  {onnx}  (SHA-256 ") for line in out.splitlines()), out
    assert any(line.startswith("changed  search/index.json  (SHA-256 ") or line.startswith("missing  search/index.json")
               for line in out.splitlines()), out


def test_site_without_sha256sums_exits_2(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("hi")
    code, out = run_verify(tmp_path, None)
    assert code == 2
    assert f"error: {tmp_path} has no SHA256SUMS; is it a Modelshelf site or deploy bundle" in out


@pytest.mark.parametrize("line", ["../../etc/passwd", "/etc/passwd", "a/../../b", "a\\b", "x\x1b[2Jy"])
def test_sums_naming_a_path_outside_the_root_is_refused(tmp_path: Path, line: str) -> None:
    """A SHA256SUMS from an untrusted site must not make verify read (or fetch) outside the site's root."""
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  {line}\n")
    code, out = run_verify(tmp_path, None)
    assert code == 2, out
    assert "error: SHA256SUMS line 1 is not '<sha256>  <relative path>'" in out
    assert "\x1b" not in out


def test_bundle_zip_and_folder(signed_site: Path, tmp_path: Path) -> None:
    bundle = next(signed_site.rglob("*-bundle.zip"))
    code, out = run_verify(bundle, None)
    assert code == 3, out  # a bundle carries no signature: its own SHA-256 is in the site's signed SHA256SUMS
    assert out.startswith(f"bundle {bundle}: ") and out.splitlines()[-1] == "UNSIGNED: every file matches SHA256SUMS"
    # The same bundle, with predict.py changed inside the zip.
    tampered = tmp_path / bundle.name
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, data + b"\nimport os; os.system('id')\n" if info.filename.endswith("/predict.py") else data)
    code, out = run_verify(tampered, None)
    assert code == 1, out
    assert any(line.startswith("changed  predict.py  (SHA-256 ") for line in out.splitlines()), out
    # Unzipped, after following its README (a .venv, __pycache__): still verified; an added file is named.
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(tmp_path / "unzipped")
    folder = next((tmp_path / "unzipped").iterdir())
    (folder / ".venv" / "bin").mkdir(parents=True)
    (folder / ".venv" / "bin" / "python").write_text("")
    (folder / "runtime" / "__pycache__").mkdir()
    (folder / "runtime" / "__pycache__" / "predictor.cpython-311.pyc").write_bytes(b"")
    code, out = run_verify(folder, None)
    assert code == 3, out
    (folder / "sitecustomize.py").write_text("print('hi')")
    code, out = run_verify(folder, None, "--format", "json")
    assert code == 1, out
    assert '"path": "sitecustomize.py"' in out and '"problem": "extra"' in out
