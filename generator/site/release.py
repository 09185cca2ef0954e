"""The site's release files: SHA256SUMS over every file the site serves, and its OpenSSH signature.

Written by the plugin's `on_post_build`, the last thing of a build, so the hashes are those of the
final bytes mkdocs wrote (pages, search data, catalog.json, model files, bundles, theme assets).
The signature is `ssh-keygen -Y sign -n modelshelf-catalog` over SHA256SUMS with the key of
`signing_key` (plugin option) or `$MODELSHELF_SIGNING_KEY`; it is checked against the
allowed-signers file the clients trust before the build ends, so a key the clients would reject
fails the build instead of publishing a signature nobody can verify.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from pathlib import Path

from modelshelf.catalog.client.verify import (ALLOWED_SIGNERS_NAME, NAMESPACE, SIG_NAME, SUMS_NAME, check_signature,
                                              format_sums, safe_name)
from modelshelf.generator.errors import BuildError

log = logging.getLogger(__name__)

_SIGN_TIMEOUT = 120


def has_keys(allowed_signers: Path) -> bool:
    """Does the allowed-signers file list at least one key (not only comments)?"""
    try:
        lines = allowed_signers.read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    return any(line.strip() and not line.lstrip().startswith("#") for line in lines)


def write_sums(site_dir: Path) -> Path:
    """Hash every file under `site_dir` (but SHA256SUMS and its signature) into `site_dir/SHA256SUMS`."""
    sums: dict[str, str] = {}
    for folder, _dirs, files in os.walk(site_dir):
        for name in files:
            path = Path(folder) / name
            rel = path.relative_to(site_dir).as_posix()
            if rel in (SUMS_NAME, SIG_NAME):
                continue
            if not safe_name(rel):
                raise BuildError(f"{rel!r}: a published file name must be printable, with no backslash")
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
            sums[rel] = digest.hexdigest()
    out = site_dir / SUMS_NAME
    out.write_text(format_sums(sums), encoding="utf-8")
    return out


def sign_sums(site_dir: Path, key: Path, allowed_signers: Path) -> Path:
    """Write `site_dir/SHA256SUMS.sig` with `key`; raise BuildError unless `allowed_signers` accepts it."""
    exe = shutil.which("ssh-keygen")
    if exe is None:
        raise BuildError("a signing key is configured but ssh-keygen is not installed (Debian/Ubuntu: openssh-client)")
    if not key.is_file():
        raise BuildError(f"signing key {key} does not exist (plugins.modelshelf.signing_key / MODELSHELF_SIGNING_KEY)")
    sums = (site_dir / SUMS_NAME).read_bytes()
    try:
        done = subprocess.run([exe, "-Y", "sign", "-f", str(key), "-n", NAMESPACE], input=sums, capture_output=True,
                              timeout=_SIGN_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise BuildError(f"ssh-keygen -Y sign with {key} did not finish within {_SIGN_TIMEOUT} s "
                         "(a key with a passphrase? use one without, kept secret)") from None
    if done.returncode != 0 or not done.stdout:
        why = done.stderr.decode("utf-8", "replace").strip()
        raise BuildError(f"ssh-keygen -Y sign with {key} failed: {why}")
    sig = site_dir / SIG_NAME
    sig.write_bytes(done.stdout)
    verdict = check_signature(sums, done.stdout, allowed_signers)
    if verdict.status != "good":
        raise BuildError(f"the signature made with {key} does not verify against {allowed_signers}: {verdict.detail}. "
                         f"Add the key's public half there (`ssh-keygen -y -f {key}`), as docs/deploy.md shows")
    log.info("modelshelf: %s signed (%s)", SUMS_NAME, verdict.detail)
    return sig


def publish_allowed_signers(site_dir: Path, allowed_signers: Path) -> None:
    """Copy the allowed-signers file to the site root when it lists a key (for reference; verifiers use their own copy)."""
    if has_keys(allowed_signers):
        shutil.copyfile(allowed_signers, site_dir / ALLOWED_SIGNERS_NAME)


def write_release_files(site_dir: Path, *, key: Path | None, allowed_signers: Path) -> None:
    """allowed_signers (if it lists a key), SHA256SUMS, and SHA256SUMS.sig when a key is given."""
    publish_allowed_signers(site_dir, allowed_signers)
    write_sums(site_dir)
    for stale in (site_dir / SIG_NAME,):
        stale.unlink(missing_ok=True)
    if key is None:
        log.info("modelshelf: %s written unsigned (no signing key: set plugins.modelshelf.signing_key or "
                 "MODELSHELF_SIGNING_KEY to sign it)", SUMS_NAME)
        return
    sign_sums(site_dir, key, allowed_signers)
