"""Take Silero VAD's ONNX model, unchanged, from the `silero-vad` wheel on PyPI.

Usage: python recipe.py OUTDIR    (writes OUTDIR/model.onnx)

The file is silero_vad/data/silero_vad.onnx, the one `silero_vad.load_silero_vad(onnx=True)`
loads (8 kHz and 16 kHz in one graph, opset 16). Nothing is converted, so there is no parity
to measure (no parity.json). The script checks that the installed package is the version the
card describes and that the file has the SHA-256 recorded below, so the published bytes are
exactly those of the pinned wheel; it exits with status 1 otherwise. It also checks the
graph's signature and runs one silent 16 kHz frame through it. Takes well under a second.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import sys
from importlib.resources import as_file, files
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

PACKAGE = "silero-vad"
VERSION = "6.2.3"
INNER_PATH = "silero_vad/data/silero_vad.onnx"
SHA256 = "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"


def main(outdir: Path) -> int:
    outdir.mkdir(parents=True, exist_ok=True)
    version = importlib.metadata.version(PACKAGE)
    if version != VERSION:
        print(f"error: {PACKAGE} {version} is installed, but the card describes the model of {PACKAGE} "
              f"{VERSION}; install {PACKAGE}=={VERSION} (constraints.txt) or update the card", file=sys.stderr)
        return 1
    with as_file(files("silero_vad").joinpath("data/silero_vad.onnx")) as src:
        data = Path(src).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        print(f"error: {INNER_PATH} in {PACKAGE} {version} has SHA-256 {digest}, expected {SHA256}", file=sys.stderr)
        return 1
    path = outdir / "model.onnx"
    path.write_bytes(data)

    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    names = ([i.name for i in model.graph.input], [o.name for o in model.graph.output])
    if names != (["input", "state", "sr"], ["output", "stateN"]):
        print(f"error: unexpected signature {names}", file=sys.stderr)
        return 1
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    prob, state = session.run(None, {"input": np.zeros((1, 576), np.float32),
                                     "state": np.zeros((2, 1, 128), np.float32), "sr": np.array(16000, np.int64)})
    print(f"{PACKAGE} {version}: {INNER_PATH} -> model.onnx ({len(data)} bytes, sha256 {digest}); "
          f"silent frame -> p(speech) {prob[0, 0]:.4f}, state {list(state.shape)}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python recipe.py OUTDIR")
    sys.exit(main(Path(sys.argv[1])))
