"""Browser libraries copied from node_modules into the site (no CDN: the site must work offline)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelshelf.generator.errors import VendorError


@dataclass(frozen=True)
class VendoredFile:
    source: Path
    dest: str  # path in the site


# (package, file in the package, path in the site)
VENDORED = (
    ("lunr", "lunr.min.js", "assets/vendor/lunr/lunr.min.js"),
    ("lunr", "LICENSE", "assets/vendor/lunr/LICENSE.txt"),
    # onnxruntime-web's wasm-only bundle (14 MB instead of 28 MB for the default one), loaded by
    # the "Try it" panel only when a visitor opens it; single-threaded, so no COOP/COEP is needed.
    ("onnxruntime-web", "dist/ort.wasm.min.js", "assets/vendor/onnxruntime-web/ort.wasm.min.js"),
    ("onnxruntime-web", "dist/ort-wasm-simd-threaded.mjs", "assets/vendor/onnxruntime-web/ort-wasm-simd-threaded.mjs"),
    ("onnxruntime-web", "dist/ort-wasm-simd-threaded.wasm", "assets/vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm"),
)


def vendored_files(node_modules: Path) -> list[VendoredFile]:
    out: list[VendoredFile] = []
    for package, name, dest in VENDORED:
        src = node_modules / package / name
        if not src.is_file():
            raise VendorError(f"{src} is missing: the site vendors {package} from npm. Run `npm ci` in the project folder "
                              f"(or `scripts/setup`) and build again.")
        out.append(VendoredFile(src, dest))
    return out
