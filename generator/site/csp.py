"""The site's Content-Security-Policy, written into each page's <meta> (site_theme/main.html).

GitHub Pages sends no headers we control, so the policy is a <meta http-equiv> at the top of <head>.
What it allows, and why:
- scripts: this site's files, plus each theme inline script by its SHA-256 (mkdocs-material writes a
  few small ones; the base one embeds the page's relative base URL, so hashes are per page). Inline
  scripts inside the page content are never hashed: if one ever got past the escaping, it would not
  run. `'wasm-unsafe-eval'` lets onnxruntime-web compile its WebAssembly (no `eval` of strings).
- styles: this site's files and inline styles (the insight SVGs and the theme set `style`); CSS
  cannot run script.
- images and fonts: this site and `data:` only, so a remote image (a tracking pixel) is never loaded.
- connect: this site, and https for models hosted elsewhere (a card's `source.url`), which the
  "Try it" panel downloads.
- no plugins, no frames, no <base> or form target elsewhere.
(`frame-ancestors` and reporting cannot be set from a <meta>.)

Integrity (generator/site/sri.py, after the whole site is written): the site's own scripts and stylesheets carry
`integrity="sha384-..."`, and each page gets a `<script type="importmap">` whose "integrity" section covers the
ES modules it may import and the classic scripts load.js adds. That import map is an inline script the build
writes after this policy: `allow_inline_script` adds its hash to `script-src`. It is the only script hashed
after the fact; scripts in the page content are still never hashed. The policy and integrity do different
jobs: the policy says where scripts may come from, integrity that a file of the site is the one the build wrote.
"""
from __future__ import annotations

import base64
import hashlib
import re

_POLICY_META = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">')
PLACEHOLDER = '<meta http-equiv="Content-Security-Policy" content="modelshelf-csp">'
_INLINE_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.DOTALL | re.IGNORECASE)
_DATA_TYPE = re.compile(r"""\btype\s*=\s*["']?application/(?:ld\+)?json""", re.IGNORECASE)


def _inline_scripts(html: str) -> list[str]:
    return [body for attrs, body in _INLINE_SCRIPT.findall(html)
            if "src=" not in attrs.lower() and not _DATA_TYPE.search(attrs)]


def _hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode() + "'"


def policy(script_hashes: list[str]) -> str:
    scripts = " ".join(["'self'", "'wasm-unsafe-eval'", *script_hashes])
    return "; ".join([
        "default-src 'self'", f"script-src {scripts}", "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:", "font-src 'self' data:", "media-src 'self' blob:", "connect-src 'self' https:",
        "worker-src 'self' blob:", "object-src 'none'", "frame-src 'none'", "base-uri 'self'", "form-action 'self'",
    ])


def add_csp(html: str, content: str = "") -> str:
    """The page with its policy: the theme's inline scripts (those not in `content`, the page body) are allowed."""
    if PLACEHOLDER not in html:
        return html
    from_content = {_hash(s) for s in _inline_scripts(content)}
    hashes = list(dict.fromkeys(h for h in map(_hash, _inline_scripts(html)) if h not in from_content))
    return html.replace(PLACEHOLDER, f'<meta http-equiv="Content-Security-Policy" content="{policy(hashes)}">', 1)


def allow_inline_script(html: str, script: str) -> str:
    """The page with its policy (written by add_csp) also allowing `script`, an inline script the build wrote outside
    the page content after add_csp ran (sri.py's import map). A page without a policy is returned unchanged."""
    found = _POLICY_META.search(html)
    if found is None:
        return html
    digest = _hash(script)
    directives = [f"{d} {digest}" if d.startswith("script-src ") and digest not in d.split() else d
                  for d in found.group(1).split("; ")]
    meta = f'<meta http-equiv="Content-Security-Policy" content="{"; ".join(directives)}">'
    return html[:found.start()] + meta + html[found.end():]
