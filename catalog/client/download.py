"""The download client: find a model in a site's catalog.json, download it, verify it, cache it.

    >>> from modelshelf.catalog import client
    >>> path = client.pull("modelshelf/iris-logreg")            # latest version, verified, cached
    >>> session = client.session("modelshelf/iris-logreg@1.0.0")  # an onnxruntime.InferenceSession

The site is `base_url`, else `$MODELSHELF_SITE_URL`, else the `site_url` of mkdocs.yml (the
operator's site). `http(s)://` and `file://` sites work, and so does a plain folder path. Every
file is checked against the size and SHA-256 that catalog.json declares before it enters the cache
(see `modelshelf.catalog.client.cache`); a redirect to another host is refused. Offline, only the cache is used.
"""
from __future__ import annotations

import difflib
import hashlib
import http.client
import json
import logging
import operator
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import yaml

from modelshelf.catalog.client.cache import Cache, Ref, default_cache_root
from modelshelf.catalog.client.errors import (CatalogUnavailable, DownloadError, HashMismatch, IncompleteDownload, ModelNotFound,
                                               NotInCache, RedirectRefused, VersionNotFound)
from modelshelf.catalog.client.text import printable

log = logging.getLogger(__name__)

DEFAULT_SITE_URL = "http://127.0.0.1:8000/"
CATALOG_FORMAT = 1
_CHUNK = 1 << 16
_CATALOG_LIMIT = 256 << 20
_CATALOG_MAX_DEPTH = 64  # a real catalog is about 12 levels deep; json and every walk below recurse
# Every catalog field that reaches the filesystem (refs/<org>/<name>/<version>/<kind>.json, blobs/<sha256>) or a
# message is checked against these before use: the catalog is written by whoever controls the site.
# The card schema's id pattern: an org with '.' or '_' is a valid card, so the client must be able to pull it.
_MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}/[a-z0-9][a-z0-9._-]{0,63}$")
# `FETCHABLE_VERSION` in catalog/validate.py is the same pattern, so a card's version is one the client can pull.
_VERSION = re.compile(r"^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})"
                      r"(-[0-9A-Za-z.-]{1,40})?(\+[0-9A-Za-z.-]{1,40})?$")
_KIND = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MAX_FILE_SIZE = 1 << 40

Progress = Callable[[str, int, int], None]  # (file name, bytes so far, total bytes)


# -- configuration ---------------------------------------------------------------------------------

class _MkdocsLoader(yaml.SafeLoader):
    """Reads mkdocs.yml for its site_url: `!ENV` is resolved, every other tag is ignored."""


def _env_tag(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    names = [node.value] if isinstance(node, yaml.ScalarNode) else [n.value for n in node.value]
    *candidates, default = names if len(names) > 1 else (names + [None])
    for name in candidates:
        if os.environ.get(name):
            return os.environ[name]
    return default


_MkdocsLoader.add_constructor("!ENV", _env_tag)
_MkdocsLoader.add_multi_constructor("", lambda loader, suffix, node: None)
_MkdocsLoader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)


def site_url_from_mkdocs(config_file: Path) -> str | None:
    """The `site_url` of an mkdocs.yml (with `!ENV` resolved), or None if it has none or cannot be read."""
    try:
        data = yaml.load(config_file.read_text(encoding="utf-8"), Loader=_MkdocsLoader)  # noqa: S506 - safe loader subclass
    except (OSError, yaml.YAMLError):
        return None
    value = data.get("site_url") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def default_site_url() -> str:
    """`$MODELSHELF_SITE_URL`, else site_url of ./mkdocs.yml or of this checkout's mkdocs.yml, else 127.0.0.1:8000."""
    if os.environ.get("MODELSHELF_SITE_URL"):
        return os.environ["MODELSHELF_SITE_URL"]
    for config in (Path.cwd() / "mkdocs.yml", Path(__file__).resolve().parents[1] / "mkdocs.yml"):
        if config.is_file() and (url := site_url_from_mkdocs(config)):
            return url
    return DEFAULT_SITE_URL


def normalize_site_url(site: str) -> str:
    """A base URL ending in '/': http(s) and file URLs as given, a folder path as a file:// URL."""
    scheme = urlsplit(site).scheme
    if scheme in ("http", "https", "file"):
        return site if site.endswith("/") else site + "/"
    if scheme and len(scheme) > 1:
        raise ValueError(f"unsupported site URL {site!r}: use http://, https://, file:// or a folder path")
    return Path(site).expanduser().resolve().as_uri() + "/"


def parse_model_ref(ref: str, version: str | None = None) -> tuple[str, str | None]:
    """'org/name@1.0.0' -> ('org/name', '1.0.0'); a separate `version` wins over one in the string."""
    model_id, at, at_version = ref.partition("@")
    if not _MODEL_ID.match(model_id):
        raise ModelNotFound(f"{_shown(ref)} is not a model id; ids look like ORG/NAME or ORG/NAME@VERSION, "
                            "e.g. modelshelf/iris-logreg@1.0.0")
    if at and not at_version and not version:
        # `pull org/name@$VERSION` with an empty variable must not quietly pull whatever is latest.
        raise VersionNotFound(f"{_shown(ref)} has no version after '@'; give one, e.g. {model_id}@1.0.0, "
                              f"or write {model_id} for the latest")
    version = version or at_version or None
    if version is not None and not is_version(version):
        raise VersionNotFound(f"{_shown(version)} is not a version; versions look like 1.0.0 "
                              "(MAJOR.MINOR.PATCH), e.g. modelshelf/iris-logreg@1.0.0")
    return model_id, version


def _shown(value: str, limit: int = 60) -> str:
    """A value from the command line or a catalog, quoted and safe for a terminal, shortened when long."""
    text = printable(repr(value))
    return text if len(text) <= limit else f"{text[:limit - 4]}...' ({len(value)} characters)"


def is_version(value: object) -> bool:
    """True for a semantic version the client will use in a cache path (no '/', '..' or other surprises)."""
    return isinstance(value, str) and bool(_VERSION.match(value))


def _version_key(version: str) -> tuple[Any, ...]:
    core, _, pre = version.partition("-")
    # Short digit runs only: int() of a 5,000-digit string raises instead of sorting.
    nums = tuple(int(p) if p.isdigit() and len(p) < 19 else 0 for p in core.split("+")[0].split("."))
    return nums, pre == "", pre


def as_mapping(value: Any) -> dict[str, Any]:
    """A catalog value that should be a mapping, or {} when the catalog has something else there."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """A catalog value that should be a list, or [] when the catalog has something else there."""
    return value if isinstance(value, list) else []


# `pull(..., kind=variant_kind("int8"))` fetches the card's int8 variant (the cache keeps it under this kind).
VARIANT_KIND_PREFIX = "variant-"


def variant_kind(variant: str | None) -> str:
    """The file kind of a model's ONNX variant (None: the main ONNX file)."""
    return "onnx" if variant is None else VARIANT_KIND_PREFIX + variant


def _check_kind(kind: str) -> None:
    if not _KIND.match(kind):
        raise VersionNotFound(f"{printable(repr(kind))} is not a kind of file; kinds look like onnx, bundle or card")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth_exceeds(doc: Any, limit: int) -> bool:
    """True if `doc` nests lists and mappings more than `limit` levels deep (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


# -- HTTP ------------------------------------------------------------------------------------------

class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to the same host (http -> https upgrades allowed); anything else is refused."""

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        old, new = urlsplit(req.full_url), urlsplit(urljoin(req.full_url, newurl))
        same_scheme = new.scheme == old.scheme and new.port == old.port
        upgrade = old.scheme == "http" and new.scheme == "https"
        if new.hostname != old.hostname or not (same_scheme or upgrade):
            fp.close()
            raise RedirectRefused(f"{req.full_url} redirects ({code}) to {newurl}; refusing to follow a redirect to "
                                  "another host. Use the site's own address (--site / MODELSHELF_SITE_URL)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _user_agent() -> str:
    try:
        import importlib.metadata
        return f"modelshelf/{importlib.metadata.version('modelshelf')}"
    except Exception:  # noqa: BLE001 - a missing version must not stop a download
        return "modelshelf"


# -- results ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RemoteFile:
    """One published file of one model version, as catalog.json describes it."""

    model_id: str
    version: str
    kind: str
    filename: str
    size: int
    sha256: str
    url: str  # absolute

    def ref(self) -> Ref:
        return Ref(self.model_id, self.version, self.kind, self.filename, self.sha256, self.size, self.url)


@dataclass(frozen=True)
class ModelRow:
    """A line of `modelshelf list`: a model version, and which of its files are in the cache."""

    model_id: str
    version: str
    task: str
    summary: str
    cached: tuple[str, ...]


class TerminalProgress:
    """A one-line progress bar on `stream`, drawn only when the stream is a terminal."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())

    def __call__(self, name: str, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        width = 30
        filled = int(width * done / total)
        self.stream.write(f"\r{printable(name[:30]):<30} [{'#' * filled}{'.' * (width - filled)}] {100 * done / total:5.1f}% "
                          f"{done / 1e6:.1f}/{total / 1e6:.1f} MB")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


# -- the client ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Client:
    """Downloads from one site into one cache. Configuration is explicit; the client keeps no state."""

    site_url: str
    cache: Cache
    offline: bool = False
    timeout: float = 30.0
    progress: Progress | None = None
    _opener: urllib.request.OpenerDirector = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "site_url", normalize_site_url(self.site_url))
        object.__setattr__(self, "_opener", urllib.request.build_opener(_SameHostRedirects()))

    # -- catalog.json --

    def catalog(self) -> dict[str, Any]:
        """The site's catalog.json (online: fetched and kept in the cache; offline: the cached copy)."""
        if self.offline:
            data = self.cache.load_catalog(self.site_url)
            if data is None:
                raise NotInCache(f"no cached catalog of {self.site_url}; run once without --offline to fetch it")
            return self._parse_catalog(data)
        url = urljoin(self.site_url, "catalog.json")
        data = b"".join(self._stream(url, limit=_CATALOG_LIMIT, what="catalog.json"))
        doc = self._parse_catalog(data)
        self.cache.save_catalog(self.site_url, data)
        return doc

    def _parse_catalog(self, data: bytes) -> dict[str, Any]:
        """The catalog document, from bytes nobody vouched for: strict JSON, bounded size and depth, sane entries.

        Entries whose id or version the client could not use safely (in a cache path, on a terminal)
        are dropped with a warning, so one bad entry does not hide the others.
        """
        where = f"{self.site_url}catalog.json"
        if len(data) > _CATALOG_LIMIT:
            raise CatalogUnavailable(f"{where} is larger than {_CATALOG_LIMIT} bytes; refusing to read it")
        try:
            doc = json.loads(data, parse_constant=_refuse_constant)
        except RecursionError:
            raise CatalogUnavailable(f"{where} is nested too deeply to be a Modelshelf catalog; refusing it") from None
        except ValueError as exc:
            raise CatalogUnavailable(f"{where} is not JSON ({printable(exc)}); "
                                     f"is {self.site_url} a Modelshelf site?") from None
        if _depth_exceeds(doc, _CATALOG_MAX_DEPTH):
            raise CatalogUnavailable(f"{where} is nested more than {_CATALOG_MAX_DEPTH} levels deep; "
                                     "a Modelshelf catalog is not: refusing it")
        if not isinstance(doc, dict) or not isinstance(doc.get("models"), list):
            raise CatalogUnavailable(f"{where} is not a Modelshelf catalog (no models list)")
        if doc.get("format_version") != CATALOG_FORMAT:
            raise CatalogUnavailable(f"{where} has format_version {printable(repr(doc.get('format_version')))[:40]}; "
                                     f"this client reads {CATALOG_FORMAT}. Please retry with an up-to-date modelshelf")
        usable = [m for m in doc["models"] if isinstance(m, dict) and isinstance(m.get("id"), str)
                  and _MODEL_ID.match(m["id"]) and is_version(m.get("version"))]
        if len(usable) < len(doc["models"]):
            log.warning("%s: ignoring %d entries without a valid id and version", where, len(doc["models"]) - len(usable))
        return {**doc, "models": usable}

    def resolve(self, model_id: str, version: str | None = None, kind: str = "onnx") -> RemoteFile:
        """Find a file of a model version in catalog.json; raises ModelNotFound or VersionNotFound."""
        model_id, version = parse_model_ref(model_id, version)
        _check_kind(kind)
        doc = self.catalog()
        entries = [m for m in doc["models"] if isinstance(m, dict) and m.get("id") == model_id]
        if not entries:
            ids = sorted({m["id"] for m in doc["models"] if isinstance(m, dict) and isinstance(m.get("id"), str)})
            close = difflib.get_close_matches(model_id, ids, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; `modelshelf search` lists what is there"
            raise ModelNotFound(f"{self.site_url} has no model {model_id}{hint}")
        versions = sorted((str(m.get("version")) for m in entries), key=_version_key)
        if version is None:
            version = self._latest(model_id, entries)
        entry = next((m for m in entries if m.get("version") == version), None)
        if entry is None:
            raise VersionNotFound(f"{model_id} has no version {version} on {self.site_url}; available: {', '.join(versions)}")
        status = entry.get("status")
        if status in ("deprecated", "yanked"):
            reason = entry.get("status_reason")
            log.warning("%s@%s is %s%s", model_id, version, status, f": {printable(str(reason))[:300]}" if reason else "")
        listed = as_list(entry.get("files"))
        files = [f for f in listed if isinstance(f, dict) and f.get("kind") == kind]
        if kind.startswith(VARIANT_KIND_PREFIX):  # a variant's ONNX file: kind onnx, named <short name>.<variant>.onnx
            suffix = f".{kind.removeprefix(VARIANT_KIND_PREFIX)}.onnx"
            files = [f for f in listed
                     if isinstance(f, dict) and f.get("kind") == "onnx" and str(f.get("name", "")).endswith(suffix)]
            if not files:
                names = [printable(str(v.get("name")))[:40] for v in as_list(as_mapping(entry.get("card")).get("variants"))
                         if isinstance(v, dict)]
                have = f"its variants: {', '.join(names)}" if names else "it has no variants"
                raise VersionNotFound(f"{model_id}@{version} has no variant {kind.removeprefix(VARIANT_KIND_PREFIX)!r} on "
                                      f"{self.site_url}; {have}")
        if not files:
            kinds = sorted({printable(f.get("kind"))[:32] for f in listed if isinstance(f, dict)})
            raise VersionNotFound(f"{model_id}@{version} has no {kind} file on {self.site_url}; it has: {', '.join(kinds)}")
        f = files[0]
        size = f.get("size")
        if not (isinstance(f.get("sha256"), str) and _SHA256.match(f["sha256"])
                and isinstance(size, int) and not isinstance(size, bool) and 0 <= size <= _MAX_FILE_SIZE
                and isinstance(f.get("url"), str) and f["url"].isprintable() and " " not in f["url"]
                and isinstance(f.get("name"), str) and _FILENAME.match(f["name"])):
            raise CatalogUnavailable(f"{self.site_url}catalog.json describes {model_id}@{version} {kind} "
                                     "without a valid size, sha256, name and url")
        url = urljoin(self.site_url, f["url"])
        if urlsplit(url).scheme == "file" and urlsplit(self.site_url).scheme != "file":
            # A remote catalog must not make the client read local files.
            raise CatalogUnavailable(f"{self.site_url}catalog.json points {model_id}@{version} at a local file ({url}); refusing")
        return RemoteFile(model_id, version, kind, f["name"], f["size"], f["sha256"], url)

    def _latest(self, model_id: str, entries: list[dict[str, Any]]) -> str:
        """The version catalog.json marks `latest`; else the newest that is not yanked (catalogs before versions had one)."""
        usable = [m for m in entries if m.get("status") != "yanked"]
        marked = [str(m["version"]) for m in usable if m.get("latest") is True]
        if marked:
            return marked[0]
        if not usable:
            every = ", ".join(sorted((str(m.get("version")) for m in entries), key=_version_key))
            raise VersionNotFound(f"every version of {model_id} on {self.site_url} is yanked ({every}); "
                                  f"pull one by its exact version, e.g. {model_id}@{every.split(', ')[-1]}, if you must")
        return max((str(m.get("version")) for m in usable), key=_version_key)

    # -- pull --

    def pull(self, model_id: str, version: str | None = None, kind: str = "onnx") -> Path:
        """The verified local path of a model file, downloading it unless the cache already has it."""
        model_id, version = parse_model_ref(model_id, version)
        _check_kind(kind)
        if version is not None:
            # Published versions are immutable: a verified cached copy needs no network at all.
            ref = self.cache.read_ref(model_id, version, kind)
            if ref is not None and (path := self.cache.verified_blob(ref.sha256, ref.size)):
                log.debug("cache hit: %s@%s %s", model_id, version, kind)
                return path
        if self.offline:
            return self._offline(model_id, version, kind)
        remote = self.resolve(model_id, version, kind)
        path = self.cache.verified_blob(remote.sha256, remote.size)
        if path is None and (actual := self.cache.intact_size(remote.sha256)) is not None:
            # The cache holds the bytes with this SHA-256, so their size is known: the catalog is wrong, not the cache.
            raise CatalogUnavailable(f"{self.site_url}catalog.json declares {remote.size} bytes for {model_id}@{remote.version} "
                                     f"{kind} (SHA-256 {remote.sha256}), but the file with that SHA-256 has {actual}; "
                                     "the cached copy was kept. Tell the site's operator")
        if path is None:
            self.cache.remove_stale_temp_files()  # left by a pull that was killed
            with self.cache.lock(remote.sha256):
                # Another process may have finished the same download while we waited for the lock.
                path = self.cache.verified_blob(remote.sha256, remote.size) or self._download(remote)
        self.cache.write_ref(remote.ref())
        return path

    def _offline(self, model_id: str, version: str | None, kind: str) -> Path:
        refs = [r for r in self.cache.refs(model_id) if r.kind == kind and (version is None or r.version == version)]
        if not refs:
            what = f"{model_id}@{version}" if version else model_id
            raise NotInCache(f"{what} ({kind}) is not in the cache {self.cache.root}; run `modelshelf pull {what}` "
                             "once while online")
        ref = max(refs, key=lambda r: _version_key(r.version))
        path = self.cache.verified_blob(ref.sha256, ref.size)
        if path is None:
            raise NotInCache(f"the cached file of {model_id}@{ref.version} is missing or damaged (it was removed); "
                             "run without --offline to fetch it again")
        return path

    def _download(self, remote: RemoteFile) -> Path:
        log.info("downloading %s@%s %s (%d bytes) from %s", remote.model_id, remote.version, remote.filename,
                 remote.size, remote.url)
        on_chunk = None
        if self.progress is not None:
            progress = self.progress
            progress(remote.filename, 0, remote.size)
            on_chunk = lambda done: progress(remote.filename, done, remote.size)  # noqa: E731
        try:
            return self.cache.write_blob(remote.sha256, remote.size,
                                         self._stream(remote.url, limit=None, what=remote.filename), on_chunk)
        except (IncompleteDownload, HashMismatch) as exc:
            raise type(exc)(f"{remote.model_id}@{remote.version} {remote.filename} from {remote.url}: {exc}. "
                            "Nothing was stored; please retry (the site may be mid-deploy), or tell its operator") from exc

    def _stream(self, url: str, *, limit: int | None, what: str) -> Iterator[bytes]:
        """The bytes at `url` in chunks; network failures become DownloadError / IncompleteDownload."""
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https", "file"):
            raise DownloadError(f"refusing to download {what} from {url}: only http(s) and file URLs are used")
        request = urllib.request.Request(url, headers={"User-Agent": _user_agent(), "Accept-Encoding": "identity"})
        try:
            response = self._opener.open(request, timeout=self.timeout)
        except RedirectRefused:
            raise
        except urllib.error.HTTPError as exc:
            exc.close()
            cls = CatalogUnavailable if what == "catalog.json" else DownloadError
            hint = f"; is {self.site_url} a Modelshelf site?" if what == "catalog.json" else ""
            raise cls(f"{url}: HTTP {exc.code} {exc.reason}{hint}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            cls = CatalogUnavailable if what == "catalog.json" else DownloadError
            raise cls(f"cannot fetch {url}: {reason}. Check the site address (--site / MODELSHELF_SITE_URL), "
                      "or use --offline") from None
        got = 0
        with response:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise IncompleteDownload(f"the connection broke after {got} bytes ({type(exc).__name__}: {exc})") from None
                if not chunk:
                    return
                got += len(chunk)
                if limit is not None and got > limit:
                    raise DownloadError(f"{url} is larger than {limit} bytes; refusing to read it")
                yield chunk

    # -- helpers built on pull --

    def session(self, model_id: str, version: str | None = None, *, providers: list[str] | None = None,
                sess_options: Any = None) -> Any:
        """An onnxruntime.InferenceSession of the model, from bytes checked against their SHA-256 just now."""
        import onnxruntime as ort

        path = self.pull(model_id, version)
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != path.name:
            raise HashMismatch(f"{path} changed after it was verified; run the command again to fetch it afresh")
        return ort.InferenceSession(data, sess_options=sess_options, providers=providers or ["CPUExecutionProvider"])

    def entry(self, model_id: str, version: str | None = None) -> dict[str, Any]:
        """The catalog.json entry of a model version (for `info`, `run` and `serve`); offline, from the cached catalog."""
        model_id, version = parse_model_ref(model_id, version)
        doc = self.catalog()
        entries = [m for m in doc["models"] if isinstance(m, dict) and m.get("id") == model_id]
        versions = sorted((str(m.get("version")) for m in entries), key=_version_key)
        if entries and version is None:
            version = versions[-1]
        found = next((m for m in entries if m.get("version") == version), None)
        if found is None:
            self.resolve(model_id, version)  # raises ModelNotFound / VersionNotFound with the helpful message
            raise VersionNotFound(f"{model_id}@{version} is not in the catalog of {self.site_url}")
        return found

    def model(self, model_id: str, version: str | None = None, variant: str | None = None) -> tuple[dict[str, Any], Path]:
        """The catalog entry of a model version and the verified path of its ONNX file, or of one of its variants
        (for `run` and `serve`)."""
        entry = self.entry(model_id, version)
        return entry, self.pull(entry["id"], entry["version"], variant_kind(variant))

    def list(self) -> list[ModelRow]:
        """Every model version of the site's catalog (cached copy offline), plus cached ones it no longer lists."""
        cached: dict[tuple[str, str], list[str]] = {}
        for ref in self.cache.refs():
            if self.cache.blob_path(ref.sha256).is_file():
                cached.setdefault((ref.model_id, ref.version), []).append(ref.kind)
        rows: dict[tuple[str, str], ModelRow] = {}
        try:
            models = self.catalog()["models"]
        except NotInCache:
            models = []
        for m in models:
            key = (m["id"], m["version"])
            card = as_mapping(m.get("card"))
            rows[key] = ModelRow(key[0], key[1], str(m.get("task", "")), str(card.get("summary", "")),
                                 tuple(sorted(cached.get(key, ()))))
        for key, kinds in cached.items():
            rows.setdefault(key, ModelRow(key[0], key[1], "", "(cached; not in the catalog)", tuple(sorted(kinds))))
        return [rows[k] for k in sorted(rows, key=lambda k: (k[0], _version_key(k[1])))]

    def cached_path(self, model_id: str, version: str, kind: str = "onnx") -> Path | None:
        ref = self.cache.read_ref(model_id, version, kind)
        path = self.cache.blob_path(ref.sha256) if ref else None
        return path if path is not None and path.is_file() else None


# -- search ----------------------------------------------------------------------------------------

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "=": operator.eq, ">": operator.gt, "<": operator.lt,
}
_METRIC = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(>=|<=|==|=|>|<)\s*(-?[0-9.]+(?:e-?[0-9]+)?)\s*$")


@dataclass(frozen=True)
class MetricFilter:
    name: str
    op: str
    value: float

    def accepts(self, value: float) -> bool:
        return _OPS[self.op](value, self.value)


def parse_metric_filter(text: str) -> MetricFilter:
    """'accuracy>=0.9' -> MetricFilter('accuracy', '>=', 0.9); raises ValueError with the expected form."""
    m = _METRIC.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a metric filter; write NAME OP VALUE with OP one of >= <= > < =, e.g. accuracy>=0.9")
    return MetricFilter(m.group(1), m.group(2), float(m.group(3)))


def _model_metrics(model: dict[str, Any]) -> dict[str, float]:
    values: dict[str, float] = {}
    for metric in as_list(as_mapping(model.get("card")).get("metrics")):
        if isinstance(metric, dict) and isinstance(metric.get("value"), (int, float)):
            values.setdefault(str(metric.get("name")), float(metric["value"]))
    return values


def search(doc: dict[str, Any], query: str = "", *, task: str | None = None,
           metrics: tuple[MetricFilter, ...] = ()) -> list[dict[str, Any]]:
    """Models of a catalog document whose id, name, summary, task or tags contain every word of the query."""
    words = [w for w in re.split(r"\s+", query.lower()) if w]
    found = []
    for model in doc.get("models", []):
        if not isinstance(model, dict):
            continue
        card = as_mapping(model.get("card"))
        text = " ".join(str(x) for x in [model.get("id"), card.get("name"), card.get("summary"), model.get("task"),
                                         " ".join(map(str, as_list(card.get("tags"))))]).lower()
        if any(w not in text for w in words):
            continue
        if task and model.get("task") != task:
            continue
        values = _model_metrics(model)
        if any(f.name not in values or not f.accepts(values[f.name]) for f in metrics):
            continue
        found.append(model)
    return sorted(found, key=lambda m: (str(m.get("id")), _version_key(str(m.get("version")))))


# -- module-level API ------------------------------------------------------------------------------

def client(base_url: str | None = None, *, offline: bool = False, cache_dir: Path | str | None = None,
           progress: Progress | None = None, timeout: float = 30.0) -> Client:
    """A Client for `base_url` (default: `default_site_url()`) and the cache at `cache_dir` (default: see catalog.cache)."""
    return Client(base_url or default_site_url(), Cache(Path(cache_dir) if cache_dir else default_cache_root()),
                  offline=offline, timeout=timeout, progress=progress)


def pull(model_id: str, version: str | None = None, base_url: str | None = None, offline: bool = False, *,
         kind: str = "onnx", cache_dir: Path | str | None = None, progress: Progress | None = None) -> Path:
    """Download (or find in the cache) a verified model file and return its path. `model_id` may carry '@VERSION'."""
    return client(base_url, offline=offline, cache_dir=cache_dir, progress=progress).pull(model_id, version, kind)


def session(model_id: str, version: str | None = None, base_url: str | None = None, offline: bool = False, *,
            cache_dir: Path | str | None = None, providers: list[str] | None = None, sess_options: Any = None) -> Any:
    """An onnxruntime.InferenceSession of a verified model (pulled first if needed)."""
    return client(base_url, offline=offline, cache_dir=cache_dir).session(model_id, version, providers=providers,
                                                                         sess_options=sess_options)


__all__ = ["Client", "ModelRow", "MetricFilter", "RemoteFile", "TerminalProgress", "client", "default_site_url",
           "parse_metric_filter", "parse_model_ref", "pull", "search", "session", "variant_kind"]
