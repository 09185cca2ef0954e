"""Take Magika's standard_v3_3 ONNX model, unchanged, from the `magika` wheel on PyPI.

Usage: python recipe.py OUTDIR

Writes:
  OUTDIR/model.onnx                the wheel's magika/models/standard_v3_3/model.onnx, byte for byte;
  OUTDIR/config.min.json           the model's config from the same folder: input sizes, padding
                                   token, label list (`target_labels_space`), confidence thresholds;
  OUTDIR/content_types_kb.min.json magika/config/content_types_kb.min.json: description, MIME type,
                                   extensions and text/binary flag of every label.

Nothing is converted, so there is no parity to measure (no parity.json). The script checks that
the installed package is the version the card describes and that every file has the SHA-256
recorded below, so the published bytes are exactly those of the pinned wheel; it exits with
status 1 otherwise. It also checks the model's signature and that the config's label list has
one entry per model output. Takes well under a second.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import sys
from importlib.resources import as_file, files
from pathlib import Path

import onnx

PACKAGE = "magika"
VERSION = "1.0.3"
# path inside the wheel -> (file name in OUTDIR, SHA-256)
FILES = {
    "magika/models/standard_v3_3/model.onnx":
        ("model.onnx", "fe2d2eb49c5f88a9e0a6c048e15d6ffdf86235519c2afc535044de433169ec8c"),
    "magika/models/standard_v3_3/config.min.json":
        ("config.min.json", "ae24c742205358f6ff6dfd5facb6743fb69743dbba8373e73da58ff0cbd695db"),
    "magika/config/content_types_kb.min.json":
        ("content_types_kb.min.json", "75208adba69bc0556403b62b32ef3ccf8b5ce494411780845852e52e6583a10d"),
}


def main(outdir: Path) -> int:
    outdir.mkdir(parents=True, exist_ok=True)
    version = importlib.metadata.version(PACKAGE)
    if version != VERSION:
        print(f"error: {PACKAGE} {version} is installed, but the card describes the model of {PACKAGE} "
              f"{VERSION}; install {PACKAGE}=={VERSION} (constraints.txt) or update the card", file=sys.stderr)
        return 1
    root = files(PACKAGE)
    for inner, (name, expected) in FILES.items():
        with as_file(root.joinpath(inner.removeprefix(f"{PACKAGE}/"))) as src:
            data = Path(src).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != expected:
            print(f"error: {inner} in {PACKAGE} {version} has SHA-256 {digest}, expected {expected}", file=sys.stderr)
            return 1
        (outdir / name).write_bytes(data)
        print(f"{PACKAGE} {version}: {inner} -> {name} ({len(data)} bytes, sha256 {digest})")

    model = onnx.load(str(outdir / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    config = json.loads((outdir / "config.min.json").read_text(encoding="utf-8"))
    (out,) = model.graph.output
    classes = out.type.tensor_type.shape.dim[1].dim_value
    labels = config["target_labels_space"]
    width = config["beg_size"] + config["mid_size"] + config["end_size"]
    (inp,) = model.graph.input
    if len(labels) != classes or inp.type.tensor_type.shape.dim[1].dim_value != width:
        print(f"error: config.min.json ({len(labels)} labels, {width} input bytes) does not fit the model "
              f"({classes} outputs)", file=sys.stderr)
        return 1
    print(f"magika standard_v3_3: input {inp.name} [batch, {width}], output {out.name} [batch, {classes}]")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python recipe.py OUTDIR")
    sys.exit(main(Path(sys.argv[1])))
