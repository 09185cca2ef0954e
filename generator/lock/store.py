"""Artifact stores: where the locked bytes of published versions live between builds.

A store is content-addressed: a blob is named by its SHA-256, so it can be shared by versions and
checked on every read. Every store has `has`, `get` (size and SHA-256 checked while the bytes are
written to a temporary file, renamed into place only when both match) and `put` (`Store`):
- `FolderStore` (the default, `store/` beside mkdocs.yml);
- `S3Store`: a bucket of AWS S3 or of an S3-compatible server (Cloudflare R2, MinIO, SeaweedFS),
  credentials from the environment only;
- `SiteStore`: the previously published site, read-only, its files found by SHA-256 in catalog.json;
- `ChainStore`: reads from the first of its stores that has a blob, writes to the first writable one
  (and, when `modelshelf lock` runs with S3 configured, uploads to S3 too).
`configured_store` builds the chain from the plugin options and their environment overrides.

`FolderStore` keeps blobs as `sha256/<first two hex digits>/<sha256>`. Blobs larger than `git_max_bytes` are listed in the
store's `.gitignore`, so git carries only the small ones; a fresh clone gets a large blob back from
a recipe run whose output is byte-identical to the lock (generator/lock/stage.py), or from another
store.

Every write goes to a temporary file in the store, is hashed while it is copied, and is renamed into
place only when its hash is the one asked for: a store never holds a blob under a wrong name.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from modelshelf.catalog.client.cache import sha256_of
from modelshelf.catalog.client.download import as_list, as_mapping, normalize_site_url

from modelshelf.generator.errors import BuildError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
GIT_MAX_BYTES = 5 * 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CATALOG_LIMIT = 256 << 20
# Credentials: the Modelshelf-specific pair wins, so a runner can hold other AWS credentials for other jobs.
CREDENTIAL_VARIABLES = (("MODELSHELF_S3_ACCESS_KEY_ID", "MODELSHELF_S3_SECRET_ACCESS_KEY", "MODELSHELF_S3_SESSION_TOKEN"),
                        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"))
S3_OPTIONS = ("bucket", "prefix", "endpoint_url", "region")


class StoreError(BuildError, OSError):
    """Raised by a store when a blob could not be written or read back intact, or the store cannot be reached;
    the message names the store and says why. A BuildError, so the build reports it without a traceback."""


class Store:
    """What every artifact store offers. `writable` is False for a store whose `put` does nothing."""

    writable = True

    def __str__(self) -> str:
        """What messages call the store, e.g. `the S3 store s3://bucket/prefix/ at URL`; never a credential."""
        raise NotImplementedError

    def has(self, sha256: str, size: int) -> bool:
        raise NotImplementedError

    def get(self, sha256: str, size: int, dest: Path) -> None:
        """Write the blob to `dest`, checking size and SHA-256; raises StoreError if it is missing or damaged."""
        raise NotImplementedError

    def put(self, src: Path, sha256: str) -> None:
        """Add `src`, which must hash to `sha256`; a blob already present is kept."""
        raise NotImplementedError


def _receive(chunks: Iterable[bytes], sha256: str, size: int, dest: Path, where: str) -> None:
    """Stream `chunks` to a temp file beside `dest`, hashing; rename to `dest` only if size and SHA-256 match."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    got = 0
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                got += len(chunk)
                if got > size:
                    raise StoreError(f"{where}: blob {sha256[:12]} has more than the {size} bytes locked; refused")
                h.update(chunk)
                out.write(chunk)
        if (h.hexdigest(), got) != (sha256, size):
            raise StoreError(f"{where}: blob {sha256[:12]} is damaged (its bytes hash to {h.hexdigest()[:12]}, {got} bytes, "
                             f"locked: {size} bytes); refused")
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _copy_hashed(src: Path, dest_dir: Path) -> tuple[Path, str, int]:
    h = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
            while chunk := inp.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
                out.write(chunk)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp), h.hexdigest(), size


class FolderStore(Store):
    def __init__(self, root: Path, *, git_max_bytes: int = GIT_MAX_BYTES) -> None:
        self.root = root
        self.git_max_bytes = git_max_bytes

    def __str__(self) -> str:
        return f"the artifact store {self.root}"

    def path(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256

    def has(self, sha256: str, size: int) -> bool:
        path = self.path(sha256)
        return path.is_file() and path.stat().st_size == size

    def put(self, src: Path, sha256: str) -> None:
        """Add `src`, which must hash to `sha256`; a blob already present is kept."""
        dest = self.path(sha256)
        if dest.is_file():
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp, actual, size = _copy_hashed(src, dest.parent)
        if actual != sha256:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"{src} changed while it was stored (SHA-256 {actual[:12]}, expected {sha256[:12]})")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
        if size > self.git_max_bytes:
            self._ignore(dest)

    def get(self, sha256: str, size: int, dest: Path) -> None:
        """Copy the blob to `dest`, checking its size and hash; raises StoreError if it is missing or damaged."""
        src = self.path(sha256)
        if not src.is_file():
            raise StoreError(f"{self} has no blob {sha256[:12]}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp, actual, actual_size = _copy_hashed(src, dest.parent)
        if (actual, actual_size) != (sha256, size):
            tmp.unlink(missing_ok=True)
            raise StoreError(f"{self}: blob {sha256[:12]} is damaged (its bytes hash to {actual[:12]}, {actual_size} bytes); "
                             f"delete {src} and run `modelshelf lock` where the locked bytes are")
        os.replace(tmp, dest)

    def _ignore(self, blob: Path) -> None:
        ignore = self.root / ".gitignore"
        rel = "/" + blob.relative_to(self.root).as_posix()
        lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else [
            f"# Blobs over {self.git_max_bytes // (1024 * 1024)} MB stay out of git: a fresh clone gets them from a recipe run",
            "# that reproduces them byte for byte, or from another store (docs/contributing.md, 'Versions and the lock').",
        ]
        if rel not in lines:
            ignore.write_text("\n".join([*lines, rel]) + "\n", encoding="utf-8")


def s3_credentials(environ: Mapping[str, str]) -> tuple[str, str, str | None] | None:
    """(access key id, secret, session token) from the first complete pair of CREDENTIAL_VARIABLES, else None."""
    for key_var, secret_var, token_var in CREDENTIAL_VARIABLES:
        if environ.get(key_var) and environ.get(secret_var):
            return environ[key_var], environ[secret_var], environ.get(token_var) or None
    return None


class S3Store(Store):
    """A bucket of AWS S3 or an S3-compatible server, blobs under `<prefix>sha256/<ab>/<sha256>`.

    Credentials come from the environment only (CREDENTIAL_VARIABLES), never from mkdocs.yml, and are
    never part of a message: `str(store)` names the bucket and endpoint.
    """

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, region: str | None = None, *,
                 environ: Mapping[str, str] | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self.region = region
        self._credentials = s3_credentials(os.environ if environ is None else environ)
        self._client: Any = None

    def __str__(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"the S3 store s3://{self.bucket}/{self.prefix}{where}"

    def key(self, sha256: str) -> str:
        return f"{self.prefix}sha256/{sha256[:2]}/{sha256}"

    def _s3(self) -> Any:
        if self._client is None:
            if self._credentials is None:
                raise StoreError(f"{self}: no credentials; set MODELSHELF_S3_ACCESS_KEY_ID and MODELSHELF_S3_SECRET_ACCESS_KEY "
                                 "(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) in the environment")
            try:
                import boto3
                from botocore.config import Config as BotoConfig
            except ImportError:
                raise StoreError(f"{self}: boto3 is not installed; pip install 'modelshelf[build]'") from None
            key_id, secret, token = self._credentials
            # Bounded retries and timeouts: an unreachable store must fail the lookup, not hang the build. Checksums only
            # where S3 requires them: older S3-compatible servers reject boto3's default CRC headers, and every read
            # is checked against the lock's SHA-256 anyway.
            config = BotoConfig(connect_timeout=10, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"},
                                request_checksum_calculation="when_required", response_checksum_validation="when_required")
            self._client = boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region or "us-east-1",
                                        aws_access_key_id=key_id, aws_secret_access_key=secret, aws_session_token=token,
                                        config=config)
        return self._client

    def _error(self, exc: Exception, action: str, sha256: str) -> StoreError:
        """A StoreError naming the store and what S3 said; botocore's messages carry no credentials."""
        response = getattr(exc, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", "")) or type(exc).__name__
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("403", "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken", "ExpiredToken") \
                or status == 403:
            return StoreError(f"{self} refused to {action} blob {sha256[:12]} ({code}): check the credentials in "
                              "MODELSHELF_S3_ACCESS_KEY_ID / MODELSHELF_S3_SECRET_ACCESS_KEY (or AWS_*) "
                              "and the bucket's permissions")
        if code in ("NoSuchBucket",):
            return StoreError(f"{self}: the bucket {self.bucket!r} does not exist")
        return StoreError(f"{self}: cannot {action} blob {sha256[:12]} ({code}: {exc})")

    def _head(self, sha256: str) -> int | None:
        """The size of the object, or None if there is none."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._s3()
        try:
            head = client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._error(exc, "look up", sha256) from None
        except BotoCoreError as exc:
            raise self._error(exc, "look up", sha256) from None
        return int(head["ContentLength"])

    def has(self, sha256: str, size: int) -> bool:
        return self._head(sha256) == size

    def get(self, sha256: str, size: int, dest: Path) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._s3()
        try:
            body = client.get_object(Bucket=self.bucket, Key=self.key(sha256))["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise StoreError(f"{self} has no blob {sha256[:12]}") from None
            raise self._error(exc, "read", sha256) from None
        except BotoCoreError as exc:
            raise self._error(exc, "read", sha256) from None
        try:
            _receive(body.iter_chunks(CHUNK), sha256, size, dest, str(self))
        except BotoCoreError as exc:
            raise self._error(exc, "read", sha256) from None
        finally:
            body.close()

    def put(self, src: Path, sha256: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        size = src.stat().st_size
        if self._head(sha256) == size:
            return
        actual = sha256_of(src)
        if actual != sha256:
            raise StoreError(f"{src} does not hash to {sha256[:12]} (it hashes to {actual[:12]}); not uploaded to {self}")
        try:
            self._s3().upload_file(str(src), self.bucket, self.key(sha256),
                                   ExtraArgs={"ContentType": "application/octet-stream"})
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "upload", sha256) from None
        except Exception as exc:  # noqa: BLE001 - s3transfer wraps errors in its own types
            raise self._error(exc, "upload", sha256) from None
        log.info("uploaded blob %s (%d bytes) to %s", sha256[:12], size, self)


class SiteStore(Store):
    """The previously published site: its catalog.json lists every published file with size and SHA-256.

    Read-only. `site_url` is an http(s) or file URL or a folder path (normalize_site_url). The catalog is
    read once per store; a file is downloaded only if catalog.json lists its SHA-256, and checked while it streams.
    """

    writable = False

    def __init__(self, site_url: str, *, timeout: float = 30.0) -> None:
        self.site_url = normalize_site_url(site_url)
        self.timeout = timeout
        self._files: dict[str, tuple[int, str]] | None = None

    def __str__(self) -> str:
        return f"the published site {self.site_url}"

    def _open(self, url: str, what: str) -> Any:
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https", "file") or (scheme == "file" and urlsplit(self.site_url).scheme != "file"):
            raise StoreError(f"{self}: refusing to read {what} from {url}: only the site's http(s) or file URLs are used")
        request = urllib.request.Request(url, headers={"User-Agent": "modelshelf-build", "Accept-Encoding": "identity"})
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)  # the scheme is checked above
        except urllib.error.HTTPError as exc:
            exc.close()
            raise StoreError(f"{self}: {url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise StoreError(f"{self}: cannot read {url} ({getattr(exc, 'reason', exc)})") from None

    def files(self) -> dict[str, tuple[int, str]]:
        """SHA-256 -> (size, absolute URL) of every file catalog.json lists."""
        if self._files is None:
            url = urljoin(self.site_url, "catalog.json")
            with self._open(url, "catalog.json") as response:
                data = response.read(_CATALOG_LIMIT + 1)
            if len(data) > _CATALOG_LIMIT:
                raise StoreError(f"{self}: catalog.json is larger than {_CATALOG_LIMIT} bytes; refusing it")
            try:
                doc = json.loads(data)
            except ValueError as exc:
                raise StoreError(f"{self}: catalog.json is not JSON ({exc}); is it a Modelshelf site?") from None
            files: dict[str, tuple[int, str]] = {}
            for model in as_list(as_mapping(doc).get("models")):
                for f in as_list(as_mapping(model).get("files")):
                    f = as_mapping(f)
                    sha, size, link = f.get("sha256"), f.get("size"), f.get("url")
                    if isinstance(sha, str) and _SHA256.match(sha) and isinstance(size, int) and not isinstance(size, bool) \
                            and size >= 0 and isinstance(link, str) and link:
                        files[sha] = (size, urljoin(self.site_url, link))
            self._files = files
        return self._files

    def has(self, sha256: str, size: int) -> bool:
        return self.files().get(sha256, (None, ""))[0] == size

    def get(self, sha256: str, size: int, dest: Path) -> None:
        listed = self.files().get(sha256)
        if listed is None or listed[0] != size:
            raise StoreError(f"{self} does not publish blob {sha256[:12]} ({size} bytes)")
        with self._open(listed[1], sha256[:12]) as response:
            _receive(_chunks(response, str(self)), sha256, size, dest, str(self))

    def put(self, src: Path, sha256: str) -> None:
        """Nothing: the published site is written by deploying the site, not by the build."""


def _chunks(response: Any, where: str) -> Iterator[bytes]:
    try:
        while chunk := response.read(CHUNK):
            yield chunk
    except OSError as exc:
        raise StoreError(f"{where}: the download broke off ({exc})") from None


class ChainStore(Store):
    """Several stores as one: `get` from the first that has the blob (and keep a copy in the first writable
    store), `put` into the first writable store and into every store of `upload`."""

    def __init__(self, stores: list[Store], *, upload: list[Store] | None = None) -> None:
        self.stores = stores
        self.upload = upload or []
        self.writable = any(s.writable for s in stores)

    def __str__(self) -> str:
        return "the artifact stores (" + ", then ".join(str(s).removeprefix("the ") for s in self.stores) + ")"

    def _first_writable(self) -> Store | None:
        return next((s for s in self.stores if s.writable), None)

    def has(self, sha256: str, size: int) -> bool:
        for store in self.stores:
            try:
                if store.has(sha256, size):
                    return True
            except StoreError as exc:
                log.warning("%s", exc)
        return False

    def get(self, sha256: str, size: int, dest: Path) -> None:
        reasons = []
        for store in self.stores:
            try:
                if not store.has(sha256, size):
                    reasons.append(f"not in {store}")
                    continue
                store.get(sha256, size, dest)
            except StoreError as exc:
                # A store that is down or refuses the credentials must not hide the next one; the warning names it.
                log.warning("%s", exc)
                reasons.append(str(exc))
                continue
            keeper = self._first_writable()
            if keeper is not None and keeper is not store:
                try:
                    keeper.put(dest, sha256)
                except (StoreError, OSError) as exc:  # the blob is at `dest` already; a copy is only a convenience
                    log.warning("could not keep blob %s in %s: %s", sha256[:12], keeper, exc)
            return
        raise StoreError(f"blob {sha256[:12]}: " + "; ".join(reasons))

    def put(self, src: Path, sha256: str) -> None:
        keeper = self._first_writable()
        if keeper is not None:
            keeper.put(src, sha256)
        for store in self.upload:
            if store is not keeper:
                store.put(src, sha256)


def configured_store(folder: Path, *, s3: Mapping[str, Any] | None = None, site_url: str | None = None,
                     environ: Mapping[str, str] | None = None, upload: bool = False) -> Store:
    """The store a build uses: the folder store, then S3 and the published site when configured.

    `s3` is the plugin option `store_s3` ({bucket, prefix, endpoint_url, region}); MODELSHELF_STORE_S3_BUCKET,
    _PREFIX, _ENDPOINT, _REGION and MODELSHELF_STORE_SITE_URL override the options. `upload` (set by
    `modelshelf lock`) makes `put` upload to S3 as well. Only the folder store is configured: the folder store.
    """
    env = os.environ if environ is None else environ
    options = dict(s3 or {})
    unknown = sorted(set(options) - set(S3_OPTIONS))
    if unknown:
        raise StoreError(f"plugins.modelshelf.store_s3: unknown option(s) {', '.join(unknown)}; "
                         f"it takes {', '.join(S3_OPTIONS)}. "
                         "Credentials are read from the environment only (MODELSHELF_S3_ACCESS_KEY_ID, "
                         "MODELSHELF_S3_SECRET_ACCESS_KEY), never from mkdocs.yml")
    for name, var in (("bucket", "MODELSHELF_STORE_S3_BUCKET"), ("prefix", "MODELSHELF_STORE_S3_PREFIX"),
                      ("endpoint_url", "MODELSHELF_STORE_S3_ENDPOINT"), ("region", "MODELSHELF_STORE_S3_REGION")):
        if env.get(var):
            options[name] = env[var]
    site_url = env.get("MODELSHELF_STORE_SITE_URL") or site_url
    folder_store = FolderStore(folder)
    stores: list[Store] = [folder_store]
    uploads: list[Store] = []
    if options:
        if not isinstance(options.get("bucket"), str) or not options["bucket"]:
            raise StoreError("plugins.modelshelf.store_s3 needs a `bucket` (or set MODELSHELF_STORE_S3_BUCKET)")
        prefix = str(options.get("prefix") or "")
        s3_store = S3Store(options["bucket"], prefix if not prefix or prefix.endswith("/") else prefix + "/",
                           options.get("endpoint_url") or None, options.get("region") or None, environ=env)
        stores.append(s3_store)
        if upload:
            uploads.append(s3_store)
    if site_url:
        stores.append(SiteStore(site_url))
    if len(stores) == 1:
        return folder_store
    return ChainStore(stores, upload=uploads)
