"""Run a Modelshelf model: read an input, apply the card's processing, run onnxruntime, print JSON.

    python predict.py examples/1.json        # a JSON request: {"inputs": {...}}, {"raw": {...}}, {"text": "..."}, {"file": ...}
    python predict.py rows.csv               # CSV rows of the first input (a header row is optional)
    python predict.py digit.png              # the input kind's own file: a picture (PNG, JPEG, GIF, WebP, BMP),
    python predict.py speech.wav             #   a WAV recording (any rate, any channels), UTF-8 text, any file
    python predict.py --self-test            # run the card's examples and compare with their outputs
    python predict.py --serve --port 8080    # an HTTP JSON API (needs requirements-serve.txt)
    python predict.py --timeout 5 --max-memory 1024 x.json   # tighter limits per prediction

A raw file goes through the same steps as in the model page's "Try it" panel (model.json's
`pipeline` and the card's processing, defined once in processing.py and once in the site's
processing.js, held to the same test vectors): a picture is composited over white, shrunk,
cropped to its ink and scaled as the card's drawing capture says; a recording is mixed to mono,
resampled and streamed in frames with the model's state handed from frame to frame; text is
tokenised with the vocabulary published beside the model; a file for a byte model is sampled
from its first and last blocks. So the answer is the one the browser shows.

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
import base64
import hashlib
import io
import json
import math
import sys
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from . import media, processing
from .dtypes import DTYPES, FLOATS, INTS
from .workers import BoundedRunner, Bounds, InferenceLimitError, WorkerStartError

CONFIG_FORMAT = 1
_PRIMARY_KINDS = ("tabular", "image", "audio", "bytes", "text", "tensor")


class InputError(ValueError):
    """Raised by the runtime when a request does not fit the model's signature; `expected` describes it."""

    def __init__(self, message: str, expected: dict[str, Any]) -> None:
        super().__init__(message)
        self.expected = expected


class IntegrityError(RuntimeError):
    """Raised by the runtime when the model file does not match its SHA-256 (SHA256SUMS / model.json), or when a
    bundle's model.json or SHA256SUMS is missing or unreadable, so that the file cannot be checked."""


# -- configuration ---------------------------------------------------------------------------------

def config_from_entry(entry: Mapping[str, Any], variant: str | None = None) -> dict[str, Any]:
    """The runtime configuration (model.json) of one model version, from its catalog.json entry.

    Whoever loads a model may add `assets` ({file name: path}) for the files published beside it
    (the vocabulary); without it they are looked for next to the model file."""
    card = entry.get("card") or {}
    onnx_files = [f for f in entry["files"] if f["kind"] == "onnx"]
    onnx_file = onnx_files[0]
    variants = {str(v["name"]): next((f for f in onnx_files[1:] if f["name"].endswith(f".{v['name']}.onnx")), None)
                for v in card.get("variants") or [] if isinstance(v, dict) and "name" in v}
    if variant is not None:
        if variants.get(variant) is None:
            raise ValueError(f"{entry['id']}@{entry['version']} has no variant {variant!r}"
                             + (f"; its variants: {', '.join(variants)}" if variants else ""))
        onnx_file = variants[variant]
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
        # The card's variants (e.g. int8), which `--variant NAME` runs instead of the model file; `variant` names the
        # one this configuration runs (None: the main file).
        "variant": variant,
        "variants": {name: {"file": f["name"], "sha256": f["sha256"], "size": f["size"]}
                     for name, f in variants.items() if f is not None},
        "inputs": tensors("inputs"), "outputs": tensors("outputs"),
        "preprocessing": list(card.get("preprocessing") or []), "postprocessing": list(card.get("postprocessing") or []),
        "labels": list(card.get("labels") or []), "examples": list(card.get("examples") or []),
        # How the input kind's raw files become the model's inputs (the build derives it from the card; the
        # browser's panel gets the same): `capture` for pictures, `audio` for streamed recordings, `tokenizer`
        # for text (its vocabulary is a file published beside the model: `vocab_file`, `vocab_sha256`).
        "pipeline": dict(entry.get("pipeline") or {}),
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
        self._tokenizer: processing.WordPieceTokenizer | None = None
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
        """feeds -> run -> result, for one JSON request. Raises InputError for a bad request.

        Besides {"inputs"} and {"raw"}: {"file": {"name": "digit.png", "base64": "..."}} (a raw file, as
        predict_bytes reads it), {"text": "..."} and {"texts": ["...", "..."]} (text models)."""
        if isinstance(request, dict) and "file" in request:
            return self._file_request(request["file"])
        if isinstance(request, dict) and ("text" in request or "texts" in request):
            texts = request.get("texts", [request.get("text")])
            if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
                raise self._error('"text" must be a string and "texts" a list of strings')
            return self.predict_text(texts[0]) if "text" in request else self.predict_texts(texts)
        feeds = self.feeds(request)
        return self.result(feeds, self.run(feeds))

    def _file_request(self, file: Any) -> dict[str, Any]:
        if not isinstance(file, dict) or not isinstance(file.get("name"), str) or not isinstance(file.get("base64"), str):
            raise self._error('"file" must be {"name": "digit.png", "base64": "<the file\'s bytes in base64>"}')
        try:
            data = base64.b64decode(file["base64"], validate=True)
        except ValueError:
            raise self._error('"file.base64" is not base64 (use `base64 -w0 FILE`)') from None
        if Path(file["name"]).suffix.lower() == ".json" and _is_request(data):
            raise self._error("a JSON request cannot hold another JSON request as a file; send it directly")
        return self.predict_bytes(Path(file["name"]).name, data)

    # -- files --

    def request_from_file(self, path: Path) -> dict[str, Any]:
        """A JSON request from a .json file (or `-`, standard input)."""
        try:
            text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise self._error(f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                              "save it as UTF-8") from None
        return self._json_request(str(path), text)

    def _json_request(self, name: str, text: str) -> Any:
        try:
            return json.loads(text)
        except RecursionError:
            raise self._error(f"{name} is nested too deeply to be a request") from None
        except ValueError as exc:
            raise self._error(f"{name} is not valid JSON ({exc})") from None

    def predict_file(self, path: Path | str) -> dict[str, Any]:
        """predict_bytes() on a file (only the first and last blocks of a file for a byte model, as the browser reads)."""
        path = Path(path)
        if str(path) == "-":
            return self.predict_request(self.request_from_file(path))
        if not path.is_file():
            # The caller prints the path before the message: `predict.py: nope.json: no such file`.
            raise FileNotFoundError("a folder, not an input file" if path.is_dir() else "no such file")
        block = self._byte_block()
        if block and path.suffix.lower() != ".json" and path.stat().st_size > 2 * block:
            with path.open("rb") as f:
                head = f.read(block)
                f.seek(-block, 2)
                data = head + f.read(block)
        else:
            data = path.read_bytes()
        return self.predict_bytes(path.name, data)

    def _byte_block(self) -> int | None:
        step = next((s for s in self.config["preprocessing"] if s.get("op") == "byte_sample"), None)
        return int(step.get("block", 4096)) if step and self.primary_input.get("kind") == "bytes" else None

    def predict_bytes(self, name: str, data: bytes) -> dict[str, Any]:
        """A raw file, named `name` (its suffix tells CSV, TSV, NPY and JSON apart), through the steps the browser
        applies to the same file: the input kind's decoding (picture, WAV recording, UTF-8 text, any bytes),
        the pipeline of model.json, the card's pre- and postprocessing."""
        suffix = Path(name).suffix.lower()
        if suffix == ".json" and (self.primary_input.get("kind") != "bytes" or _is_request(data)):
            try:
                return self.predict_request(self._json_request(name, media.read_text(data)))
            except media.MediaError as exc:
                raise self._error(f"{name}: {exc}") from None
        if self.primary_input.get("kind") == "audio" and suffix not in (".csv", ".tsv", ".npy"):
            try:
                channels, rate = media.decode_wav(data)
            except media.MediaError as exc:
                raise self._error(f"{name}: {exc}") from None
            return self.predict_audio(channels, rate)
        feeds, extra = self._raw_feeds(name, data)
        return {**self.result(feeds, self.run(feeds)), **extra}

    def feeds_for_file(self, path: Path | str) -> dict[str, np.ndarray]:
        """The model's input tensors for a raw file, made as predict_file makes them: for running onnxruntime yourself
        (`session.run(None, runner.feeds_for_file("digit.png"))`). Not for streamed audio, which runs frame by frame."""
        path = Path(path)
        if self.primary_input.get("kind") == "audio" and self.pipeline.get("audio"):
            raise self._error("a recording runs frame by frame, each frame fed the previous one's state; use predict_file")
        return self._raw_feeds(path.name, path.read_bytes())[0]

    def _raw_feeds(self, name: str, data: bytes) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(feeds, extra answer fields) for a raw file that is not JSON and not a streamed recording."""
        suffix = Path(name).suffix.lower()
        spec, kind = self.primary_input, self.primary_input.get("kind")
        if kind == "bytes":  # a byte model reads every file as bytes (a CSV or a JSON file too), as the page does
            suffix = ""
        try:
            if suffix in (".csv", ".tsv"):
                rows = processing.parse_csv(media.read_text(data), spec.get("features") or [], "\t" if suffix == ".tsv" else ",")
                return self.feeds(self._one_input({"raw": {spec["name"]: rows}}, suffix)), {}
            if suffix == ".npy":
                array = np.load(io.BytesIO(data), allow_pickle=False)
                return self.feeds(self._one_input({"raw": {spec["name"]: array.tolist()}}, suffix)), {}
            if kind == "image":
                return self.image_feeds(media.decode_image(data)), {}
            if kind == "text":
                feeds, tokens = self.text_feeds(media.read_text(data))
                return feeds, {"tokens": tokens}
            if kind == "bytes":
                return self.feeds(self._one_input({"raw": {spec["name"]: list(data)}}, suffix)), {}
        except (media.MediaError, processing.ProcessingError) as exc:
            raise self._error(f"{name}: {exc}") from None
        except ValueError as exc:  # np.load on a file that is not an NPY array
            raise self._error(f"{name}: {exc}") from None
        raise self._error(f"cannot read {name} for input {spec['name']!r} (kind {kind or 'unspecified'}); "
                          "give a JSON request, a CSV file or an NPY array")

    def _one_input(self, request: dict[str, Any], suffix: str) -> dict[str, Any]:
        if len(self.inputs) > 1:
            raise self._error(f"a {suffix or 'plain'} file fills only one input; this model has several, give a JSON request")
        return request

    # -- the input kinds' pipelines (model.json "pipeline"; the browser runs the same steps) --

    @property
    def pipeline(self) -> dict[str, Any]:
        return dict(self.config.get("pipeline") or {})

    def image_feeds(self, rgba: np.ndarray) -> dict[str, np.ndarray]:
        """RGBA pixels (H x W x 4, as decoded) -> the capture of model.json -> the card's preprocessing -> the input."""
        spec = self.primary_input
        capture = self.pipeline.get("capture")
        height, width = int(rgba.shape[0]), int(rgba.shape[1])
        if capture:
            raw = processing.capture_image(rgba, width, height, capture)
        else:  # no capture spec (an older model.json): the picture's RGB values as they are
            raw = np.asarray(rgba[:, :, :3], dtype=np.float64)
        return {spec["name"]: self.preprocess(spec, raw, layout="HWC")}

    def predict_audio(self, channels: np.ndarray, rate: int) -> dict[str, Any]:
        """A decoded recording -> mono -> the model's rate -> frames with context, each fed the previous frame's
        state -> speech probability per frame and speech segments (the browser's audio panel does the same)."""
        audio = self.pipeline.get("audio")
        if not audio:
            raise self._error("this model's audio input is not streamed frame by frame; give a JSON request")
        seconds = channels.shape[1] / rate if channels.ndim == 2 else 0
        if seconds > processing.MAX_AUDIO_SECONDS:
            raise self._error(f"the recording is too long: {seconds:.1f} s; cut it to at most "
                              f"{processing.MAX_AUDIO_SECONDS} s (the browser takes the same)")
        samples = processing.resample(processing.mix_to_mono(list(channels)), rate, int(audio["sample_rate"]))
        by_name = {t["name"]: t for t in self.inputs}
        frame, context_len = int(audio["frame"]), int(audio["context"])
        state = np.zeros(audio["state_shape"], dtype=DTYPES[by_name[audio["state_input"]]["dtype"]].numpy)
        rate_value: np.ndarray = np.array(audio["sample_rate"], dtype=DTYPES[by_name[audio["rate_input"]]["dtype"]].numpy)
        context = np.zeros(context_len, dtype=np.float32)
        probs: list[float] = []
        for i in range(processing.frame_count(samples.size, frame)):
            x = np.zeros(context_len + frame, dtype=np.float32)  # the last frame is zero-padded
            x[:context_len] = context
            part = samples[i * frame:(i + 1) * frame].astype(np.float32)
            x[context_len:context_len + part.size] = part
            outputs = self.run({audio["input"]: x[None, :], audio["state_input"]: state, audio["rate_input"]: rate_value})
            probs.append(float(np.asarray(outputs[audio["output"]]).ravel()[0]))
            state = np.asarray(outputs[audio["state_output"]], dtype=state.dtype).reshape(state.shape)
            context = x[x.size - context_len:].copy() if context_len else context
        return {"model": self.model_id, "version": self.version, "outputs": {audio["output"]: [[p] for p in probs]},
                "postprocessed": {"output": audio["output"], "probabilities": probs,
                                  "segments": processing.vad_segments(probs, audio), "frames": len(probs),
                                  "seconds": samples.size / int(audio["sample_rate"]), "source_rate": int(rate),
                                  "channels": int(channels.shape[0])}}

    def tokenizer(self) -> processing.WordPieceTokenizer:
        """The WordPiece tokenizer of model.json's pipeline, from the vocabulary file checked against its SHA-256."""
        with self._lock:
            if self._tokenizer is None:
                spec = self.pipeline.get("tokenizer")
                if not spec:
                    raise self._error("this model has no tokenizer in its configuration; give token ids in a JSON request")
                assets = dict(self.config.get("assets") or {})
                path = Path(assets.get(spec["vocab_file"], self.model_path.parent / spec["vocab_file"]))
                try:
                    data = path.read_bytes()
                except OSError:
                    raise IntegrityError(f"refusing to run: the vocabulary {path} is missing; it is published beside the "
                                         f"model as {spec['vocab_file']} (`modelshelf pull` fetches it)") from None
                digest = hashlib.sha256(data).hexdigest()
                if digest != spec["vocab_sha256"]:
                    raise IntegrityError(f"refusing to run: {path} has SHA-256 {digest}, but the published vocabulary's is "
                                         f"{spec['vocab_sha256']}; download it again")
                options = {k: spec[k] for k in ("lowercase", "strip_accents", "max_length") if k in spec}
                lines = data.decode("utf-8").split("\n")
                if lines and lines[-1] == "":
                    lines.pop()
                self._tokenizer = processing.WordPieceTokenizer({t: i for i, t in enumerate(lines)}, **options)
            return self._tokenizer

    def text_feeds(self, text: str) -> tuple[dict[str, np.ndarray], int]:
        """Token ids, attention mask and token types for one text, by input name (as the browser fills them)."""
        enc = self.tokenizer().encode(text)
        feeds = {}
        for spec in self.inputs:
            lname = spec["name"].lower()
            values = enc["attention_mask"] if "mask" in lname else enc["token_type_ids"] if "type" in lname else enc["input_ids"]
            feeds[spec["name"]] = processing.cast(np.asarray([values], dtype=np.float64), spec["dtype"])
        return feeds, len(enc["input_ids"])

    def predict_text(self, text: str) -> dict[str, Any]:
        feeds, tokens = self.text_feeds(text)
        return {**self.result(feeds, self.run(feeds)), "tokens": tokens}

    def predict_texts(self, texts: Sequence[str]) -> dict[str, Any]:
        """Each text alone (no padding, as the browser runs them); two texts also get their cosine similarity."""
        answers = [self.predict_text(t) for t in texts]
        out: dict[str, Any] = {"model": self.model_id, "version": self.version, "results": answers}
        if len(answers) == 2:
            a, b = (np.asarray(x["postprocessed"]["values"] if "postprocessed" in x else next(iter(x["outputs"].values())),
                               dtype=np.float64).ravel().tolist() for x in answers)
            out["similarity"] = processing.cosine_similarity(a, b)
        return out

    def predict_request(self, request: Any) -> dict[str, Any]:
        """predict(), plus an "expected" report when the request carries a card example's "outputs"."""
        answer = self.predict(request)
        if isinstance(request, dict) and isinstance(request.get("outputs"), dict):
            answer["expected"] = compare(answer["outputs"], request["outputs"], float(request.get("tolerance", 1e-4)))
        return answer


_REQUEST_KEYS = frozenset({"inputs", "raw", "file", "text", "texts", "outputs", "tolerance", "name"})


def _is_request(data: bytes) -> bool:
    """Whether a .json file is a request (an object of request keys, with inputs, raw, file, text or texts), not data."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and bool(value) and set(value) <= _REQUEST_KEYS and bool(
        set(value) & {"inputs", "raw", "file", "text", "texts"})


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


# -- command line ----------------------------------------------------------------------------------

def load_bundle(folder: Path, *, threads: int | None = None, variant: str | None = None) -> Runner:
    """The Runner of a deploy bundle folder, after checking the model file (or the named variant's) against SHA256SUMS."""
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
    if variant is not None:
        chosen = (config.get("variants") or {}).get(variant)
        if not isinstance(chosen, dict):
            raise IntegrityError(f"this model has no variant {variant!r}"
                                 + (f"; its variants: {', '.join(config['variants'])}" if config.get("variants") else ""))
        config = {**config, "model_file": chosen.get("file"), "model_sha256": chosen.get("sha256"),
                  "model_size": chosen.get("size"), "variant": variant}
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
    parser.add_argument("--variant", default=None, metavar="NAME",
                        help="run the card's variant NAME (e.g. int8: the file the model page's Try it panel runs when the "
                             "model is large), downloaded beside predict.py and checked against SHA256SUMS")
    args = parser.parse_args(argv)
    folder = folder or Path.cwd()
    bounds = Bounds(timeout=args.timeout, memory_mb=args.max_memory, threads=args.threads)
    try:
        runner = load_bundle(folder, threads=args.threads, variant=args.variant)
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
