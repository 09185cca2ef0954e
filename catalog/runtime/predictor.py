"""Run a Modelshelf model: read an input, apply the card's processing, run onnxruntime, print JSON.

    python predict.py examples/1.json        # a JSON request: {"inputs": {...}} or {"raw": {...}}
    python predict.py rows.csv               # CSV rows of the first input (a header row is optional)
    python predict.py digit.png              # the input kind's natural file (image: PNG/PGM/PPM/NPY, audio: WAV, ...)
    python predict.py --self-test            # run the card's examples and compare with their outputs
    python predict.py --serve --port 8080    # an HTTP JSON API (needs requirements-serve.txt)
    python predict.py --timeout 5 --max-memory 1024 x.json   # tighter limits per prediction

Every prediction runs in a worker process with a time limit (--timeout, default 10 s) and a
memory limit (--max-memory, default 2048 MB beyond the loaded model); past them it stops with
exit status 4 (503/504 when serving) and a message saying which limit.

It refuses to run when the model file does not match SHA256SUMS. Inputs under "inputs" are the
model's tensors as the card's examples give them; "raw" values, CSV rows and files go through the
card's preprocessing first. Postprocessing (softmax, top-k with labels, ...) is applied to the
scored output. Needs only numpy and onnxruntime (plus processing.py and dtypes.py beside it).

This module is the Modelshelf runtime's predictor (package `modelshelf.catalog.runtime`):
`modelshelf run` and `modelshelf serve` import it, and every deploy bundle carries a byte-identical
copy of the package as `runtime/`, with a two-line `predict.py` that calls `main` and model.json,
the model's configuration.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import struct
import sys
import threading
import wave
import zlib
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from . import processing
from .dtypes import DTYPES, FLOATS, INTS
from .workers import BoundedRunner, Bounds, InferenceLimitError, WorkerStartError

CONFIG_FORMAT = 1
_PRIMARY_KINDS = ("tabular", "image", "audio", "bytes", "text", "tensor")
IMAGE_SUFFIXES = (".png", ".pgm", ".ppm", ".pnm", ".npy")


class InputError(ValueError):
    """Raised by the runtime when a request does not fit the model's signature; `expected` describes it."""

    def __init__(self, message: str, expected: dict[str, Any]) -> None:
        super().__init__(message)
        self.expected = expected


class IntegrityError(RuntimeError):
    """Raised by the runtime when the model file does not match its SHA-256 (SHA256SUMS / model.json), or when a
    bundle's model.json or SHA256SUMS is missing or unreadable, so that the file cannot be checked."""


# -- configuration ---------------------------------------------------------------------------------

def config_from_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The runtime configuration (model.json) of one model version, from its catalog.json entry."""
    card = entry.get("card") or {}
    onnx_file = next(f for f in entry["files"] if f["kind"] == "onnx")
    declared = {t["name"]: t for t in (card.get("inputs") or []) + (card.get("outputs") or [])}

    def tensors(side: str) -> list[dict[str, Any]]:
        found = entry.get("signature", {}).get(side) or card.get(side) or []
        return [{"name": t["name"], "dtype": t["dtype"], "shape": list(t["shape"]),
                 "kind": declared.get(t["name"], {}).get("kind"),
                 "features": list(declared.get(t["name"], {}).get("features") or [])} for t in found]

    return {
        "format": CONFIG_FORMAT, "id": entry["id"], "version": entry["version"], "name": card.get("name", entry["id"]),
        "task": entry.get("task", card.get("task")), "model_file": onnx_file["name"],
        "model_sha256": onnx_file["sha256"], "model_size": onnx_file["size"],
        "inputs": tensors("inputs"), "outputs": tensors("outputs"),
        "preprocessing": list(card.get("preprocessing") or []), "postprocessing": list(card.get("postprocessing") or []),
        "labels": list(card.get("labels") or []), "examples": list(card.get("examples") or []),
    }


def read_sha256sums(path: Path) -> dict[str, str]:
    return parse_sha256sums(path.read_text(encoding="utf-8"))


def parse_sha256sums(text: str) -> dict[str, str]:
    """`sha256sum` output (`<hex>  <name>`) as {name: hex}."""
    sums: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip():
            digest, _, name = line.partition("  ")
            sums[name.lstrip("*")] = digest.strip().lower()
    return sums


# -- the runner ------------------------------------------------------------------------------------

def _shape_text(shape: Sequence[Any]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


class Runner:
    """One loaded model: validates requests against its signature, runs them, post-processes the outputs.

    The model bytes are checked against `config["model_sha256"]` when the Runner is made and again
    before onnxruntime sees them (the session is made on first use). Thread-safe: onnxruntime
    sessions may run concurrently. Nothing here bounds a prediction's time or memory: `workers.py`
    runs a Runner in a worker process that does.
    """

    def __init__(self, config: Mapping[str, Any], model_path: Path, *, threads: int | None = None,
                 memory_arena: bool = True) -> None:
        self.config = dict(config)
        self.model_path = Path(model_path)
        self.threads = threads
        self.memory_arena = memory_arena
        self._check(self.model_path.read_bytes())
        self._session: Any = None
        self._lock = threading.Lock()
        self.inputs: list[dict[str, Any]] = list(self.config["inputs"])
        self.outputs: list[dict[str, Any]] = list(self.config["outputs"])
        self.output_names = [t["name"] for t in self.outputs]

    def _check(self, data: bytes) -> None:
        digest = hashlib.sha256(data).hexdigest()
        if digest != self.config["model_sha256"]:
            raise IntegrityError(f"refusing to run: {self.model_path} has SHA-256 {digest}, but the model's published "
                                 f"SHA-256 is {self.config['model_sha256']}; download it again")

    @property
    def session(self) -> Any:
        """The onnxruntime session, created on first use (a server's parent process never needs one: its
        workers have their own) from bytes checked again against the SHA-256."""
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                data = self.model_path.read_bytes()
                self._check(data)
                options = ort.SessionOptions()
                if self.threads:
                    options.intra_op_num_threads = self.threads
                options.enable_cpu_mem_arena = self.memory_arena
                options.log_severity_level = 3
                self._session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
            return self._session

    @property
    def model_id(self) -> str:
        return str(self.config["id"])

    @property
    def version(self) -> str:
        return str(self.config["version"])

    def signature(self) -> dict[str, Any]:
        def rows(tensors: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{"name": t["name"], "dtype": t["dtype"], "shape": t["shape"]} for t in tensors]

        return {"inputs": rows(self.inputs), "outputs": rows(self.outputs)}

    def _error(self, message: str) -> InputError:
        return InputError(message, {"inputs": self.signature()["inputs"]})

    @property
    def primary_input(self) -> dict[str, Any]:
        """The input the card's preprocessing applies to: the first with a data kind, else the first."""
        return next((t for t in self.inputs if t.get("kind") in _PRIMARY_KINDS), self.inputs[0])

    # -- requests --

    def feeds(self, request: Any) -> dict[str, np.ndarray]:
        """Check a JSON request ({"inputs": {...}} and/or {"raw": {...}}) and turn it into onnxruntime feeds."""
        if not isinstance(request, dict) or not ("inputs" in request or "raw" in request):
            raise self._error('the request must be a JSON object with "inputs" (model tensors by name) '
                              'or "raw" (values for the card\'s preprocessing)')
        tensors = request.get("inputs") or {}
        raw = request.get("raw") or {}
        if not isinstance(tensors, dict) or not isinstance(raw, dict):
            raise self._error('"inputs" and "raw" must be JSON objects mapping input names to values')
        expected = [t["name"] for t in self.inputs]
        given = list(tensors) + list(raw)
        missing = [n for n in expected if n not in given]
        extra = [n for n in given if n not in expected]
        twice = [n for n in tensors if n in raw]
        if extra:
            raise self._error(f"unexpected input{'s' if len(extra) > 1 else ''} {', '.join(map(repr, extra))}; "
                              f"the model takes {', '.join(map(repr, expected))}")
        if missing:
            raise self._error(f"missing input{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}")
        if twice:
            raise self._error(f"input {twice[0]!r} is given both as a tensor and as a raw value")
        out: dict[str, np.ndarray] = {}
        for spec in self.inputs:
            name = spec["name"]
            if name in raw:
                out[name] = self.preprocess(spec, raw[name], layout=None)
            else:
                out[name] = self._tensor(spec, tensors[name])
            # Python's json reads NaN and Infinity, and 1e39 overflows float32: the answer would not be JSON either.
            if out[name].dtype.kind == "f" and out[name].size and not np.all(np.isfinite(out[name])):
                raise self._error(f"input {name!r} holds NaN, Infinity or a number too large for {spec['dtype']}; "
                                  "give finite numbers")
        return out

    def _tensor(self, spec: Mapping[str, Any], value: Any) -> np.ndarray:
        name, dtype, shape = spec["name"], spec["dtype"], spec["shape"]
        depth, first = 0, value
        while isinstance(first, list) and first and depth <= len(shape):
            depth, first = depth + 1, first[0]
        if depth > len(shape):  # numpy would call a 100-deep list "not rectangular", or stop at 64 dimensions
            raise self._error(f"input {name!r} is nested more than {len(shape)} levels deep; "
                              f"it must be {dtype} with shape {_shape_text(shape)}")
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError):
            raise self._error(f"input {name!r} is not a rectangular array (rows of different lengths?); "
                              f"it must be {dtype} with shape {_shape_text(shape)}") from None
        kind = arr.dtype.kind
        if dtype in FLOATS:
            ok = kind in "iuf"
        elif dtype in INTS:
            whole = kind == "f" and arr.size > 0 and bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
            ok = kind in "iu" or whole
        elif dtype == "bool":
            ok = kind == "b"
        else:
            ok = kind == "U"
        if not ok and arr.size > 0:
            got = {"U": "text", "b": "true/false", "f": "non-integer numbers", "O": "mixed values"}.get(kind, arr.dtype.name)
            raise self._error(f"input {name!r} must hold {dtype} values, got {got}")
        if arr.ndim != len(shape) or any(isinstance(d, int) and d != n for d, n in zip(shape, arr.shape)):
            raise self._error(f"input {name!r} must have shape {_shape_text(shape)}, got {list(arr.shape)}")
        if dtype in INTS:
            info = np.iinfo(DTYPES[dtype].numpy)
            if arr.size and (arr.min() < info.min or arr.max() > info.max):
                raise self._error(f"input {name!r} has values outside the range of {dtype}")
        with np.errstate(over="ignore"):  # a float32 overflow becomes inf, which feeds() refuses with its own message
            return arr.astype(DTYPES[dtype].numpy)

    def preprocess(self, spec: Mapping[str, Any], raw: Any, layout: str | None) -> np.ndarray:
        """Apply the card's preprocessing to a raw value of `spec` (the primary input) and fit it to its shape."""
        steps = self.config["preprocessing"] if spec["name"] == self.primary_input["name"] else []
        try:
            x, layout = processing.preprocess(steps, raw, layout)
            if layout is None:
                x = _fit_rows(x, spec["shape"])
            return processing.arrange_input(x, layout, spec["shape"], spec["dtype"])
        except processing.ProcessingError as exc:
            raise self._error(f"input {spec['name']!r}: {exc}") from None
        except (ValueError, TypeError) as exc:
            raise self._error(f"input {spec['name']!r} cannot be read as numbers ({exc})") from None

    # -- running --

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, dict(feeds))))

    def result(self, feeds: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """The JSON answer: raw outputs by name, and the card's postprocessing of the scored output."""
        answer: dict[str, Any] = {"model": self.model_id, "version": self.version,
                                  "outputs": {k: _jsonable(v) for k, v in outputs.items()}}
        non_finite = {k: counts for k, v in outputs.items() if (counts := _non_finite(v))}
        if non_finite:  # JSON has no NaN or infinity: those values are null, and this says which they were
            answer["non_finite"] = non_finite
        steps = self.config["postprocessing"]
        if steps:
            scored = next((t["name"] for t in self.outputs if t.get("kind") in ("scores", "embedding")),
                          next((t["name"] for t in self.outputs if t["dtype"] in FLOATS), self.output_names[0]))
            post = processing.postprocess(steps, outputs[scored], feeds=feeds, labels=self.config["labels"])
            answer["postprocessed"] = {"output": scored, **{k: _jsonable(v) for k, v in post.items()}}
        return answer

    def predict(self, request: Any) -> dict[str, Any]:
        """feeds -> run -> result, for one JSON request. Raises InputError for a bad request."""
        feeds = self.feeds(request)
        return self.result(feeds, self.run(feeds))

    # -- files --

    def request_from_file(self, path: Path) -> dict[str, Any]:
        """A request from a file: JSON as is, CSV rows of the first input, or the input kind's natural file."""
        suffix = path.suffix.lower()
        if suffix == ".json" or str(path) == "-":
            try:
                text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                raise self._error(f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                                  "save it as UTF-8") from None
            try:
                return json.loads(text)
            except RecursionError:
                raise self._error(f"{path} is nested too deeply to be a request") from None
            except ValueError as exc:
                raise self._error(f"{path} is not valid JSON ({exc})") from None
        spec = self.primary_input
        if len(self.inputs) > 1:
            raise self._error(f"a {suffix or 'plain'} file fills only one input; this model has several, give a JSON request")
        kind = spec.get("kind")
        if suffix in (".csv", ".tsv"):
            return {"raw": {spec["name"]: _read_csv(path, spec.get("features") or [], "\t" if suffix == ".tsv" else ",")}}
        if suffix == ".npy":
            return {"raw": {spec["name"]: np.load(path, allow_pickle=False).tolist()}}
        if kind == "audio" and suffix == ".wav":
            return {"raw": {spec["name"]: _read_wav(path).tolist()}}
        if kind == "text" and spec["dtype"] == "string":
            return {"inputs": {spec["name"]: [path.read_text(encoding="utf-8")]}}
        if kind == "bytes":
            return {"raw": {spec["name"]: list(path.read_bytes())}}
        raise self._error(f"cannot read {path.name} for input {spec['name']!r} (kind {kind or 'unspecified'}); "
                          "give a JSON request or a CSV file" + (", or an image (PNG, PGM, PPM, NPY)" if kind == "image" else ""))

    def predict_file(self, path: Path) -> dict[str, Any]:
        """predict() on a file; a JSON file with the card example's "outputs" also gets an "expected" report."""
        if str(path) != "-" and not path.is_file():
            # The caller prints the path before the message: `predict.py: nope.json: no such file`.
            raise FileNotFoundError("a folder, not an input file" if path.is_dir() else "no such file")
        spec = self.primary_input
        if spec.get("kind") == "image" and path.suffix.lower() in IMAGE_SUFFIXES and len(self.inputs) == 1:
            # An image is H x W x C pixels (0..255): the card's preprocessing starts from that layout.
            feeds = {spec["name"]: self.preprocess(spec, read_image(path), layout="HWC")}
            return self.result(feeds, self.run(feeds))
        return self.predict_request(self.request_from_file(path))

    def predict_request(self, request: Any) -> dict[str, Any]:
        """predict(), plus an "expected" report when the request carries a card example's "outputs"."""
        answer = self.predict(request)
        if isinstance(request, dict) and isinstance(request.get("outputs"), dict):
            answer["expected"] = compare(answer["outputs"], request["outputs"], float(request.get("tolerance", 1e-4)))
        return answer


def _fit_rows(x: np.ndarray, shape: Sequence[Any]) -> np.ndarray:
    """Rows of flat values (CSV) reshaped to the input's fixed dims, e.g. 64 columns -> [1, 8, 8]."""
    fixed = [d for d in shape[1:]]
    if x.ndim == 2 and len(shape) > 2 and all(isinstance(d, int) for d in fixed) and math.prod(fixed) == x.shape[1]:
        return x.reshape((x.shape[0], *fixed))
    return x


def _non_finite(value: np.ndarray) -> dict[str, int]:
    """How many NaN, +inf and -inf a float output holds ({} for none, or for another dtype)."""
    if not (isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating)) or np.isfinite(value).all():
        return {}
    counts = {"nan": int(np.isnan(value).sum()), "inf": int(np.isposinf(value).sum()), "-inf": int(np.isneginf(value).sum())}
    return {k: n for k, n in counts.items() if n}


def _jsonable(value: Any) -> Any:
    """Plain JSON values; NaN and infinities become None (JSON has neither; the answer's `non_finite` counts them)."""
    if isinstance(value, np.ndarray):
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            out = value.astype(object)  # the finite values stay floats
            out[~np.isfinite(value)] = None
            return out.tolist()
        return value.tolist()
    if isinstance(value, np.floating):
        return value.item() if np.isfinite(value) else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def compare(outputs: Mapping[str, Any], expected: Mapping[str, Any], tolerance: float) -> dict[str, Any]:
    """Whether outputs match a card example's outputs: integers and strings exactly, floats within tolerance.

    `mismatched` names the outputs that do not match, in the example's order; `max_abs_diff` is None
    for an output that is missing or has another shape, and absent for one that is not numeric.
    """
    report: dict[str, Any] = {"match": True, "tolerance": tolerance, "max_abs_diff": {}, "mismatched": []}
    for name, want in expected.items():
        ok = True
        if name not in outputs:
            ok = False
            report["max_abs_diff"][name] = None
        elif (got_arr := np.asarray(outputs[name])).shape != (want_arr := np.asarray(want)).shape:
            ok = False
            report["max_abs_diff"][name] = None
        elif got_arr.dtype.kind in "iub" and want_arr.dtype.kind in "iub":
            report["max_abs_diff"][name] = int(np.max(np.abs(got_arr.astype(np.int64) - want_arr.astype(np.int64)), initial=0))
            ok = report["max_abs_diff"][name] == 0
        elif got_arr.dtype.kind in "iufb" and want_arr.dtype.kind in "iufb":
            diff = float(np.max(np.abs(got_arr.astype(np.float64) - want_arr.astype(np.float64)), initial=0.0))
            report["max_abs_diff"][name] = diff
            ok = diff <= tolerance
        else:
            ok = got_arr.tolist() == want_arr.tolist()
        if not ok:
            report["match"] = False
            report["mismatched"].append(name)
    return report


# -- natural files ---------------------------------------------------------------------------------

def _read_csv(path: Path, features: Sequence[str], delimiter: str) -> list[list[float]]:
    reader = csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig")), delimiter=delimiter)
    rows = [r for r in reader if any(c.strip() for c in r)]
    if not rows:
        raise ValueError(f"{path} has no rows")

    def numeric(row: list[str]) -> bool:
        try:
            [float(c) for c in row]
            return True
        except ValueError:
            return False

    header = None if numeric(rows[0]) else [c.strip() for c in rows[0]]
    body = rows[1:] if header else rows
    if not body:
        raise ValueError(f"{path} has a header row but no rows of values")
    if header and features and sorted(header) == sorted(features) and header != list(features):
        order = [header.index(f) for f in features]  # columns named like the card's features, in any order
        body = [[row[i] for i in order] for row in body]
    try:
        return [[float(c) for c in row] for row in body]
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _read_wav(path: Path) -> np.ndarray:
    """A PCM WAV file as float samples in [-1, 1], channels averaged to mono."""
    with wave.open(str(path), "rb") as w:
        width, channels, frames = w.getsampwidth(), w.getnchannels(), w.readframes(w.getnframes())
    by_width: dict[int, type[np.integer[Any]]] = {1: np.uint8, 2: np.int16, 4: np.int32}
    dtype = by_width.get(width)
    if dtype is None:
        raise ValueError(f"{path}: {8 * width}-bit WAV is not supported (8, 16 or 32-bit PCM)")
    samples = np.frombuffer(frames, dtype=dtype).astype(np.float64)
    samples = (samples - 128) / 128 if width == 1 else samples / float(np.iinfo(dtype).max)
    return samples.reshape(-1, channels).mean(axis=1)


def read_image(path: Path) -> np.ndarray:
    """An image file as an H x W x C float array of 0..255 values (PNG 8-bit, PGM/PPM, or NPY)."""
    data = Path(path).read_bytes()
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        img = _decode_png(data)
    elif data[:2] in (b"P5", b"P6", b"P2", b"P3"):
        img = _decode_pnm(data)
    elif data[:6] == b"\x93NUMPY":
        img = np.load(io.BytesIO(data), allow_pickle=False)
    else:
        raise ValueError(f"{path} is not a PNG, PGM/PPM or NPY image")
    img = np.asarray(img, dtype=np.float64)
    return img[:, :, None] if img.ndim == 2 else img


def _decode_pnm(data: bytes) -> np.ndarray:
    fields: list[bytes] = []
    pos = 2
    while len(fields) < 3:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    width, height, maxval = (int(f) for f in fields)
    channels = 3 if data[:2] in (b"P6", b"P3") else 1
    if data[:2] in (b"P2", b"P3"):
        values = np.array([int(v) for v in data[pos:].split()][: width * height * channels], dtype=np.float64)
    else:
        raw = np.frombuffer(data[pos + 1:], dtype=np.uint8 if maxval < 256 else ">u2")
        values = raw[: width * height * channels].astype(np.float64)
    return values.reshape(height, width, channels) * (255.0 / maxval)


def _decode_png(data: bytes) -> np.ndarray:
    """8-bit, non-interlaced PNG (grey, RGB, palette, grey+alpha, RGBA) -> H x W x C uint8 array."""
    pos, idat, palette = 8, [], None
    width = height = depth = color = interlace = 0
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if ctype == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
        elif ctype == b"PLTE":
            palette = np.frombuffer(chunk, dtype=np.uint8).reshape(-1, 3)
        elif ctype == b"IDAT":
            idat.append(chunk)
        elif ctype == b"IEND":
            break
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(color)
    if depth != 8 or interlace or channels is None:
        raise ValueError("only 8-bit, non-interlaced PNG images are supported; save the image again as such")
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1).astype(np.int32)
        if ftype == 0:
            cur = line
        elif ftype == 2:
            cur = (line + prev) & 0xFF
        else:  # Sub, Average and Paeth depend on the pixel to the left: decode left to right
            cur = np.zeros(stride, dtype=np.int32)
            for x in range(stride):
                a = cur[x - channels] if x >= channels else 0
                b = prev[x]
                c = prev[x - channels] if x >= channels else 0
                if ftype == 1:
                    pred = a
                elif ftype == 3:
                    pred = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                cur[x] = (line[x] + pred) & 0xFF
        out[y] = cur
        prev = cur
    img = out.reshape(height, width, channels)
    if color == 3:
        if palette is None:
            raise ValueError("palette PNG without a PLTE chunk")
        img = palette[img[:, :, 0]]
    return img


# -- command line ----------------------------------------------------------------------------------

def load_bundle(folder: Path, *, threads: int | None = None) -> Runner:
    """The Runner of a deploy bundle folder, after checking the model file against SHA256SUMS."""
    config_file = folder / "model.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IntegrityError(f"refusing to run: {config_file} is missing; run predict.py from an unzipped "
                             "deploy bundle, with every file it came with") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise IntegrityError(f"refusing to run: {config_file} cannot be read ({exc}); unzip the bundle again") from None
    if not isinstance(config, dict) or config.get("format") != CONFIG_FORMAT:
        got = config.get("format") if isinstance(config, dict) else None
        raise IntegrityError(f"model.json has format {got!r}; this predict.py reads {CONFIG_FORMAT}")
    name, digest = config.get("model_file"), config.get("model_sha256")
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", "..") \
            or not isinstance(digest, str):
        raise IntegrityError(f"refusing to run: model.json names no model file in this folder "
                             f"(model_file {name!r}); unzip the bundle again")
    sums_file, model = folder / "SHA256SUMS", folder / name
    if not sums_file.is_file():
        raise IntegrityError(f"refusing to run: {sums_file} is missing, so {model.name} cannot be verified")
    try:
        listed = read_sha256sums(sums_file).get(name)
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"refusing to run: {sums_file} cannot be read ({exc}), so {model.name} cannot be "
                             "verified") from None
    if listed is None:
        raise IntegrityError(f"refusing to run: SHA256SUMS does not list {model.name}, so it cannot be verified")
    if listed != digest:
        raise IntegrityError(f"refusing to run: SHA256SUMS lists {listed} for {model.name}, model.json {digest}")
    if not model.is_file():
        raise IntegrityError(f"refusing to run: {model} is missing; download it (see README.md) and check it with "
                             "`sha256sum -c SHA256SUMS`")
    try:
        return Runner(config, model, threads=threads)
    except (KeyError, TypeError) as exc:
        raise IntegrityError(f"refusing to run: model.json lacks {exc}; unzip the bundle again") from None


def self_test(runner: Runner) -> tuple[bool, list[dict[str, Any]]]:
    """Run every example of the card; True when all outputs match within their tolerance."""
    reports = []
    for i, example in enumerate(runner.config["examples"]):
        answer = runner.predict({"inputs": example["inputs"]})
        report = compare(answer["outputs"], example.get("outputs") or {}, float(example.get("tolerance", 1e-4)))
        reports.append({"example": example.get("name") or f"#{i + 1}", **report})
    return all(r["match"] for r in reports), reports


def main(argv: list[str] | None = None, folder: Path | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="*", type=Path, help="JSON, CSV or natural input files ('-' for JSON on stdin)")
    parser.add_argument("--self-test", action="store_true", help="run the card's examples and compare the outputs")
    parser.add_argument("--serve", action="store_true", help="serve a JSON HTTP API (see README.md)")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1; 0.0.0.0 in Docker)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=2, help="with --serve: model worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads per worker")
    parser.add_argument("--timeout", type=float, default=Bounds.timeout,
                        help=f"seconds one prediction may take (default {Bounds.timeout:g}; exit 4, or 504 with --serve)")
    parser.add_argument("--max-memory", type=int, default=Bounds.memory_mb, metavar="MB",
                        help=f"memory one prediction may add to the loaded model (default {Bounds.memory_mb}; exit 4, or 503)")
    parser.add_argument("--indent", type=int, default=None, help="indent the JSON output")
    args = parser.parse_args(argv)
    folder = folder or Path.cwd()
    bounds = Bounds(timeout=args.timeout, memory_mb=args.max_memory, threads=args.threads)
    try:
        runner = load_bundle(folder, threads=args.threads)
    except IntegrityError as exc:
        print(f"predict.py: {exc}", file=sys.stderr)
        return 3
    if args.serve:
        from . import server  # only here: it needs requirements-serve.txt
        server.serve(runner, host=args.host, port=args.port, limits=server.Limits(
            workers=args.workers, timeout=args.timeout, memory_mb=args.max_memory, threads=args.threads))
        return 0
    if not args.self_test and not args.inputs:
        parser.error("give an input file, --self-test or --serve")
    with BoundedRunner(runner, bounds) as bounded:
        return _run_bounded(bounded, runner, args)


def _run_bounded(bounded: BoundedRunner, runner: Runner, args: argparse.Namespace) -> int:
    """--self-test or the input files, each prediction in a worker process with a time and memory limit."""
    try:
        if args.self_test:
            ok, reports = bounded.self_test()
            summary = {"model": runner.model_id, "version": runner.version, "ok": ok, "examples": reports}
            print(json.dumps(summary, indent=args.indent))
            return 0 if ok else 1
    except InferenceLimitError as exc:
        print(f"predict.py: --self-test: {exc}", file=sys.stderr)
        return 4
    except WorkerStartError as exc:
        print(f"predict.py: {exc}", file=sys.stderr)
        return 3
    status = 0
    for path in args.inputs:
        try:
            answer = bounded.predict_file(path)
        except InputError as exc:
            print(f"predict.py: {path}: {exc}\nexpected: {json.dumps(exc.expected)}", file=sys.stderr)
            status = max(status, 2)
            continue
        except InferenceLimitError as exc:
            print(f"predict.py: {path}: {exc}", file=sys.stderr)
            status = 4
            continue
        except WorkerStartError as exc:
            print(f"predict.py: {exc}", file=sys.stderr)
            return 3
        except (OSError, ValueError, RuntimeError) as exc:
            print(f"predict.py: {path}: {exc}", file=sys.stderr)
            status = max(status, 2)
            continue
        print(json.dumps(answer, indent=args.indent, allow_nan=False))
    return status


if __name__ == "__main__":
    sys.exit(main())  # python -m modelshelf.catalog.runtime.predictor, with --folder taken from the current folder
