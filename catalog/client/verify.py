"""`modelshelf verify`: check a site, a built site folder or a deploy bundle against its SHA256SUMS.

The build writes `SHA256SUMS` at the site root (`sha256sum` format, every file the site serves,
paths relative to the root) and, when a signing key is configured, `SHA256SUMS.sig`, an OpenSSH
signature (`ssh-keygen -Y sign -n modelshelf-catalog`) over it. Since `catalog.json` is one of
the listed files, the signature covers the catalog and, through it, every model file.

Verification trusts no key that comes from the site itself: the signature is checked against an
allowed-signers file the user already has (`--allowed-signers`, default: the one shipped in this
package, `data/allowed_signers`). A bundle carries `SHA256SUMS` but no signature; its own hash is
listed in the site's signed `SHA256SUMS`.

    >>> report = verify("https://owner.github.io/repo/")
    >>> report.exit_code    # 0 verified, 1 something differs or bad signature, 3 unsigned / not checked
"""
from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import stat
import subprocess
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from modelshelf.catalog.client.download import _SameHostRedirects, _user_agent
from modelshelf.catalog.client.errors import ModelshelfError

log = logging.getLogger(__name__)

NAMESPACE = "modelshelf-catalog"  # the `-n` of ssh-keygen -Y sign/verify: a signature for anything else does not count
SUMS_NAME = "SHA256SUMS"
SIG_NAME = "SHA256SUMS.sig"
ALLOWED_SIGNERS_NAME = "allowed_signers"
DEFAULT_ALLOWED_SIGNERS = Path(__file__).resolve().parent / "data" / "allowed_signers"

# Exit codes of `modelshelf verify` (documented in docs/deploy.md).
EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_UNSIGNED = 0, 1, 2, 3

_SUMS_LIMIT = 64 << 20
_SIG_LIMIT = 64 << 10
_CATALOG_LIMIT = 256 << 20
_CHUNK = 1 << 16
_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")
_SSH_TIMEOUT = 60
# Made by following a bundle's README (`python3 -m venv .venv`, running predict.py): not part of the bundle.
_BUNDLE_LOCAL = {".venv", "__pycache__"}


class VerifyError(ModelshelfError, OSError):
    """Raised by `verify` when the target cannot be checked at all: unreadable, no SHA256SUMS, or a malformed one."""


@dataclass(frozen=True)
class Difference:
    """One file that does not match: `problem` is changed, missing, extra or catalog."""

    path: str
    problem: str
    detail: str = ""


@dataclass(frozen=True)
class Signature:
    """The signature's verdict: good, bad (not made by a trusted key, or not over these bytes), unsigned, unchecked."""

    status: str
    detail: str


@dataclass(frozen=True)
class Report:
    """What `verify` found. `exit_code` is the CLI's: 0 verified, 1 failed, 3 hashes match but no trusted signature."""

    target: str
    kind: str  # site or bundle
    listed: int
    differences: tuple[Difference, ...]
    signature: Signature
    notes: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        if self.differences or self.signature.status == "bad":
            return EXIT_FAILED
        return EXIT_OK if self.signature.status == "good" else EXIT_UNSIGNED


# -- SHA256SUMS ------------------------------------------------------------------------------------

def safe_name(name: str) -> bool:
    """A relative POSIX path inside the root: no '..', no absolute path, no backslash, nothing unprintable."""
    if not name or name.startswith("/") or "\\" in name or not name.isprintable():
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def format_sums(sums: dict[str, str]) -> str:
    """{path: sha256} as `sha256sum` output, sorted by path (`sha256sum -c SHA256SUMS` reads it)."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))


def parse_sums(text: str) -> dict[str, str]:
    """`sha256sum` output as {path: sha256}; a line that is not `<sha256>  <path>` with a safe path is an error."""
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if not match or not safe_name(match.group(2)):
            raise VerifyError(f"{SUMS_NAME} line {number} is not '<sha256>  <relative path>': {_show(line[:200])}")
        if match.group(2) in sums:
            raise VerifyError(f"{SUMS_NAME} line {number} lists {_show(match.group(2))} a second time")
        sums[match.group(2)] = match.group(1).lower()
    return sums


def sha256_stream(chunks: Iterable[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _show(text: str) -> str:
    """`text` safe for a terminal: unprintable characters (escape sequences, newlines) as \\x.. escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# -- the places a site or bundle can be --------------------------------------------------------------

class _Source:
    """Files under one root: read a small file, hash a file, list every file (None when the server cannot)."""

    label: str
    kind: str

    def read(self, name: str, limit: int) -> bytes | None:
        raise NotImplementedError

    def hash(self, name: str) -> tuple[str, int] | str:
        """(sha256, size), or why the file cannot be read (missing)."""
        raise NotImplementedError

    def names(self) -> set[str] | None:
        raise NotImplementedError

    def note(self, name: str) -> str:
        """What else is wrong with an unlisted file (as `names` spells it), beyond not being listed."""
        return ""


class _Folder(_Source):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.label = str(root)
        self.kind = "bundle" if (root / "model.json").is_file() and not (root / "catalog.json").is_file() else "site"

    def _path(self, name: str) -> Path:
        return self.root.joinpath(*name.split("/"))

    def read(self, name: str, limit: int) -> bytes | None:
        path = self._path(name)
        if not path.is_file():
            return None
        if path.stat().st_size > limit:
            raise VerifyError(f"{path} is larger than {limit} bytes; this is not a Modelshelf {SUMS_NAME}")
        return path.read_bytes()

    def hash(self, name: str) -> tuple[str, int] | str:
        path = self._path(name)
        if not path.is_file():
            return "no such file"

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    yield chunk
        try:
            return sha256_stream(chunks())
        except OSError as exc:
            return f"cannot read it: {exc.strerror or exc}"

    def names(self) -> set[str]:
        found: set[str] = set()
        for folder, dirs, files in os.walk(self.root):
            rel = Path(folder).relative_to(self.root).as_posix()
            if self.kind == "bundle":
                dirs[:] = [d for d in dirs if d not in _BUNDLE_LOCAL]
            found.update(f if rel == "." else f"{rel}/{f}" for f in files)
        return found


class _Zip(_Source):
    def __init__(self, path: Path) -> None:
        self.label = str(path)
        self.kind = "bundle"
        try:
            self.zip = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise VerifyError(f"{path}: not a readable zip file ({exc})") from None
        members = [i for i in self.zip.infolist() if not i.is_dir()]
        sums = sorted((i.filename for i in members if i.filename.rsplit("/", 1)[-1] == SUMS_NAME), key=lambda n: n.count("/"))
        self.prefix = sums[0][: -len(SUMS_NAME)] if sums else ""
        self.members = {i.filename: i for i in members}

    def read(self, name: str, limit: int) -> bytes | None:
        info = self.members.get(self.prefix + name)
        if info is None:
            return None
        if info.file_size > limit:
            raise VerifyError(f"{self.label}: {name} is larger than {limit} bytes")
        return self.zip.read(info)

    def hash(self, name: str) -> tuple[str, int] | str:
        info = self.members.get(self.prefix + name)
        if info is None:
            return "not in the zip"

        def chunks() -> Iterator[bytes]:
            with self.zip.open(info) as fh:
                while chunk := fh.read(_CHUNK):
                    yield chunk
        try:
            return sha256_stream(chunks())
        except (OSError, zipfile.BadZipFile, EOFError) as exc:  # a CRC error or a damaged member
            return f"cannot read it: {exc}"

    def _name(self, member: str) -> str:
        return member[len(self.prefix):] if member.startswith(self.prefix) else f"(outside {self.prefix}) {member}"

    def names(self) -> set[str]:
        return {self._name(n) for n in self.members}

    def note(self, name: str) -> str:
        # Unzipped, these would not be plain files of the bundle: say so, not only that they are unlisted.
        info = next((i for n, i in self.members.items() if self._name(n) == name), None)
        if info is None:
            return ""
        if not safe_name(info.filename):
            return "; its path leaves the bundle's folder, so unzip could write it elsewhere"
        if stat.S_ISLNK(info.external_attr >> 16):
            try:
                target = self.zip.read(info).decode("utf-8", "replace") if info.file_size <= 4096 else "..."
            except (OSError, zipfile.BadZipFile, EOFError):
                target = "..."
            return f"; a symbolic link to '{_show(target)}', which unzip would recreate"
        return ""


class _Url(_Source):
    def __init__(self, base: str, timeout: float) -> None:
        self.base = base if base.endswith("/") else base + "/"
        self.label = self.base
        self.kind = "site"
        self.timeout = timeout
        self.opener = urllib.request.build_opener(_SameHostRedirects())

    def _chunks(self, name: str, limit: int | None) -> Iterator[bytes] | str:
        url = urljoin(self.base, quote(name, safe="/"))
        request = urllib.request.Request(url, headers={"User-Agent": _user_agent(), "Accept-Encoding": "identity"})
        try:
            response = self.opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            return f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            return f"cannot fetch it: {getattr(exc, 'reason', exc)}"

        def chunks() -> Iterator[bytes]:
            got = 0
            with response:
                while chunk := response.read(_CHUNK):
                    got += len(chunk)
                    if limit is not None and got > limit:
                        raise VerifyError(f"{url} is larger than {limit} bytes; this is not a Modelshelf {name}")
                    yield chunk
        return chunks()

    def read(self, name: str, limit: int) -> bytes | None:
        chunks = self._chunks(name, limit)
        if isinstance(chunks, str):
            if chunks.startswith("HTTP 404"):
                return None
            raise VerifyError(f"{urljoin(self.base, name)}: {chunks}")
        try:
            return b"".join(chunks)
        except (OSError, http.client.HTTPException) as exc:
            raise VerifyError(f"{urljoin(self.base, name)}: the connection broke ({exc})") from None

    def hash(self, name: str) -> tuple[str, int] | str:
        chunks = self._chunks(name, None)
        if isinstance(chunks, str):
            return chunks
        try:
            return sha256_stream(chunks)
        except (OSError, http.client.HTTPException) as exc:
            return f"the connection broke ({exc})"

    def names(self) -> None:
        return None


def _source(target: str, timeout: float) -> _Source:
    scheme = urlsplit(target).scheme
    if scheme in ("http", "https"):
        return _Url(target, timeout)
    if scheme == "file":
        target = urllib.request.url2pathname(urlsplit(target).path)
    elif scheme and len(scheme) > 1:
        raise VerifyError(f"cannot verify {target!r}: give an http(s) site URL, a folder or a bundle zip")
    path = Path(target).expanduser()
    if path.is_dir():
        return _Folder(path.resolve())
    if path.is_file():
        return _Zip(path)
    raise VerifyError(f"{target}: no such folder or file")


# -- the signature ---------------------------------------------------------------------------------

def _key_lines(allowed_signers: Path) -> list[str]:
    try:
        text = allowed_signers.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VerifyError(f"cannot read the allowed-signers file {allowed_signers}: {exc}") from None
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _ssh_keygen(args: list[str], data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """ssh-keygen with `args`; stdin is `data` (or nothing); never prompts, ends within a minute."""
    exe = shutil.which("ssh-keygen")
    assert exe is not None  # the callers checked
    return subprocess.run([exe, *args], input=data if data is not None else b"", capture_output=True,
                          timeout=_SSH_TIMEOUT, check=False)


def check_signature(sums: bytes, sig: bytes | None, allowed_signers: Path) -> Signature:
    """Is `sig` a signature over `sums` in the modelshelf-catalog namespace by a key of `allowed_signers`?"""
    if sig is None:
        return Signature("unsigned", f"no {SIG_NAME}: the publisher did not sign this")
    if not _key_lines(allowed_signers):
        return Signature("unchecked", f"{SIG_NAME} is present, but {allowed_signers} lists no key to check it with; "
                                      "pass --allowed-signers FILE with the publisher's public key")
    if shutil.which("ssh-keygen") is None:
        return Signature("unchecked", f"{SIG_NAME} is present, but ssh-keygen (OpenSSH 8.2 or later) is not installed")
    with tempfile.TemporaryDirectory(prefix="modelshelf-verify-") as tmp:
        sig_path = Path(tmp) / SIG_NAME
        sig_path.write_bytes(sig)
        try:
            found = _ssh_keygen(["-Y", "find-principals", "-s", str(sig_path), "-f", str(allowed_signers)])
            if found.returncode != 0:
                why = _first_line(found.stderr)
                return Signature("bad", f"{SIG_NAME} was not made by a key in {allowed_signers}" + (f" ({why})" if why else ""))
            why = "ssh-keygen -Y verify failed"
            for principal in filter(None, map(str.strip, found.stdout.decode("utf-8", "replace").splitlines())):
                checked = _ssh_keygen(["-Y", "verify", "-f", str(allowed_signers), "-I", principal, "-n", NAMESPACE,
                                       "-s", str(sig_path)], sums)
                if checked.returncode == 0:
                    said = _first_line(checked.stdout) or _first_line(checked.stderr)
                    return Signature("good", said or f"signed by {principal}")
                why = _first_line(checked.stderr) or why
            return Signature("bad", f"{SIG_NAME} does not match {SUMS_NAME}, or was made for another purpose than "
                                    f"'{NAMESPACE}' ({why})")
        except subprocess.TimeoutExpired:
            return Signature("unchecked", "ssh-keygen did not answer within a minute")


def _first_line(data: bytes) -> str:
    lines = [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    return _show(lines[0].strip()) if lines else ""


# -- verify ----------------------------------------------------------------------------------------

def verify(target: str, *, allowed_signers: Path = DEFAULT_ALLOWED_SIGNERS, timeout: float = 30.0,
           workers: int = 8) -> Report:
    """Check the signature of `target`'s SHA256SUMS and every file it lists; name every file that differs.

    `target` is an http(s) site URL, a file:// URL or folder (a built site or an unzipped bundle),
    or a bundle zip. Raises VerifyError if there is nothing to check (no SHA256SUMS, or unreadable).
    """
    source = _source(target, timeout)
    sums_bytes = source.read(SUMS_NAME, _SUMS_LIMIT)
    if sums_bytes is None:
        raise VerifyError(f"{source.label} has no {SUMS_NAME}; is it a Modelshelf site or deploy bundle "
                          "(sites built before SHA256SUMS was published have none)?")
    sig = source.read(SIG_NAME, _SIG_LIMIT)
    signature = check_signature(sums_bytes, sig, allowed_signers)
    try:
        sums = parse_sums(sums_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        raise VerifyError(f"{SUMS_NAME} of {source.label} is not UTF-8 text") from None
    notes: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        measured = dict(zip(sums, pool.map(source.hash, sums), strict=True))
    differences: list[Difference] = []
    for name, digest in sums.items():
        got = measured[name]
        if isinstance(got, str):
            differences.append(Difference(name, "missing", got))
        elif got[0] != digest:
            differences.append(Difference(name, "changed", f"SHA-256 {got[0]} ({got[1]} bytes), {SUMS_NAME} lists {digest}"))
    present = source.names()
    if present is None:
        notes.append("extra files were not looked for: a web server cannot list its files (verify a folder for that)")
    else:
        for name in sorted(present - set(sums) - {SUMS_NAME, SIG_NAME}):
            differences.append(Difference(_show(name), "extra", f"not listed in {SUMS_NAME}{source.note(name)}"))
    if source.kind == "site" and "catalog.json" in sums and not isinstance(measured.get("catalog.json"), str):
        differences += _catalog_differences(source, sums, measured, notes)
    if source.kind == "bundle":
        differences = _bundle_model_not_embedded(source, differences, notes)
    return Report(source.label, source.kind, len(sums), tuple(differences), signature, tuple(notes))


def _catalog_differences(source: _Source, sums: dict[str, str], measured: dict[str, Any],
                         notes: list[str]) -> list[Difference]:
    """Every file catalog.json lists on this site must be in SHA256SUMS with the size and SHA-256 catalog.json declares."""
    try:
        raw = source.read("catalog.json", _CATALOG_LIMIT)
        doc = json.loads(raw or b"{}")
        site_url = str(doc.get("site_url") or "")
        files = [f for m in doc.get("models", []) for f in m.get("files", [])]
    except (ValueError, RecursionError, AttributeError, TypeError, VerifyError) as exc:
        notes.append(f"catalog.json could not be read to compare its sizes ({type(exc).__name__})")
        return []
    found = []
    for f in files:
        if not isinstance(f, dict) or not isinstance(f.get("url"), str):
            continue
        url = f["url"]
        name = url[len(site_url):] if site_url and url.startswith(site_url) else url
        if urlsplit(name).scheme or name.startswith("//"):
            continue  # hosted elsewhere: the client checks it on download
        name = str(PurePosixPath(name.lstrip("/")))
        got = measured.get(name)
        if got is None:
            found.append(Difference(_show(name), "catalog", f"catalog.json lists it, {SUMS_NAME} does not"))
        elif not isinstance(got, str) and (got[0] != f.get("sha256") or got[1] != f.get("size")):
            declared = f"{f.get('size')} bytes, SHA-256 {_show(str(f.get('sha256')))}"
            found.append(Difference(_show(name), "catalog",
                                    f"catalog.json declares {declared}; the file has {got[1]} bytes, {got[0]}"))
    return found


def _bundle_model_not_embedded(source: _Source, differences: list[Difference], notes: list[str]) -> list[Difference]:
    """A bundle whose model is too large to embed lists it in SHA256SUMS without carrying it: not a difference."""
    try:
        config = json.loads(source.read("model.json", 1 << 20) or b"{}")
    except (ValueError, RecursionError, VerifyError):
        return differences
    model = config.get("model_file") if isinstance(config, dict) else None
    kept = []
    for d in differences:
        if d.problem == "missing" and d.path == model:
            notes.append(f"{_show(model)} is not in the bundle (too large to embed); its README says how to fetch it, "
                         "and predict.py checks it against SHA256SUMS")
        else:
            kept.append(d)
    return kept


# -- the report ------------------------------------------------------------------------------------

_VERDICT = {EXIT_OK: "VERIFIED", EXIT_FAILED: "FAILED", EXIT_UNSIGNED: "UNSIGNED"}


def format_report(report: Report, fmt: str = "text") -> str:
    """The report as text (one line per difference, then the signature and a verdict) or JSON."""
    if fmt == "json":
        return json.dumps({"target": report.target, "kind": report.kind, "listed": report.listed,
                           "exit_code": report.exit_code, "verdict": _VERDICT[report.exit_code].lower(),
                           "signature": {"status": report.signature.status, "detail": report.signature.detail},
                           "differences": [d.__dict__ for d in report.differences], "notes": list(report.notes)}, indent=1)
    lines = [f"{report.kind} {_show(report.target)}: {report.listed} files listed in {SUMS_NAME}"]
    lines += [f"{d.problem:<8} {d.path}" + (f"  ({d.detail})" if d.detail else "") for d in report.differences]
    lines += [f"note: {n}" for n in report.notes]
    lines.append(f"signature: {report.signature.status}: {report.signature.detail}")
    counts: dict[str, int] = {}
    for d in report.differences:
        counts[d.problem] = counts.get(d.problem, 0) + 1
    summary = ", ".join(f"{n} {p}" for p, n in sorted(counts.items())) or f"every file matches {SUMS_NAME}"
    lines.append(f"{_VERDICT[report.exit_code]}: {summary}")
    return "\n".join(lines)


__all__ = ["ALLOWED_SIGNERS_NAME", "DEFAULT_ALLOWED_SIGNERS", "NAMESPACE", "SIG_NAME", "SUMS_NAME", "Difference",
           "Report", "Signature", "VerifyError", "check_signature", "format_report", "format_sums", "parse_sums",
           "safe_name", "verify"]
