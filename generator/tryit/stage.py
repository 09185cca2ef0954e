"""The "Try it" stage: everything a model page's in-browser panel needs, computed at build time.

For each entry it decides whether the model can be tried in a browser (file size, input kinds),
which widget fits its inputs, which ONNX file the browser loads (the main file, or the smallest
variant when the main one is too large), and it gathers what the widget shows and needs: feature
names and ranges, labels, the card's examples, the pre/post-processing steps, how a drawing
becomes the raw image input, the tokenizer's vocabulary. The result goes to
`entry.tryit` (a `TryIt`); the page embeds `TryIt.config` as JSON and
`site_theme/assets/javascripts/tryit.js` does the rest. Templates only print it.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np

from modelshelf.catalog.model import Audio, Card, Tensor
from modelshelf.catalog.runtime.dtypes import FLOATS, INTS

from modelshelf.generator.enrich.stage import Artifact, ModelEntry, artifact_for, human_size

log = logging.getLogger(__name__)

# Above this size a model is not offered in the browser: a visitor would download it on a click,
# and onnxruntime-web needs about three times the file size in memory to create a session.
MAX_TRY_BYTES = 40 * 1024 * 1024
# Widgets by the kind of the model's first input; a model whose inputs declare no kind gets the
# generic tensor editor, fed from its examples.
WIDGETS = {"tabular": "tabular", "image": "image", "text": "text", "bytes": "bytes", "audio": "audio"}
# The output kinds the panel draws, most informative first.
SCORED_KINDS = ("scores", "embedding", "value", "label")
ORT_DIR = "assets/vendor/onnxruntime-web/"
LINEAR_OPS = {"scale", "normalize"}
# The config keys the runtime shares with the panel (TryIt.pipeline).
PIPELINE_KEYS = ("capture", "audio", "tokenizer")
# The audio widget's defaults for a card without `audio:` (documented in the card schema).
DEFAULT_SAMPLE_RATE = 16000
DEFAULT_FRAME_MS = 32


@dataclass(frozen=True)
class TryIt:
    """What the page's panel gets. `config` is JSON-ready; URLs in it are relative to the site root."""

    tryable: bool
    widget: str
    reason: str
    config: dict[str, Any]
    files: tuple[Artifact, ...] = field(default_factory=tuple)

    @property
    def pipeline(self) -> dict[str, Any]:
        """How the input kind's raw files become model inputs: the part of the panel's config that the runtime
        (catalog.json's `pipeline`, a bundle's model.json) gets too, so both give the same answer."""
        return {key: self.config[key] for key in PIPELINE_KEYS if key in self.config}

    def config_json(self) -> str:
        """The config as JSON that is safe inside a <script type="application/json"> element."""
        text = json.dumps(self.config, separators=(",", ":"), sort_keys=True, allow_nan=False)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _number(value: float) -> float | int:
    value = float(value)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _example_arrays(card: Card, name: str) -> list[np.ndarray]:
    out = []
    for ex in card.examples:
        value = dict(ex.inputs).get(name)
        if isinstance(value, list):
            try:
                out.append(np.asarray(value, dtype=np.float64))
            except (TypeError, ValueError):
                continue
    return out


def _eval_arrays(entry: ModelEntry) -> dict[str, np.ndarray]:
    """The card's evaluation rows (`input.<name>` and `target`) when it names a built-in dataset, else {}.

    Only used for the ranges the form shows, so any failure just means no ranges from it.
    """
    spec = entry.card.evaluation
    if spec is None or not spec.dataset:
        return {}
    try:
        from modelshelf.generator.evaluate.datasets import Split, builtin_name, load_builtin

        if builtin_name(spec.dataset) is None:
            return {}
        data = load_builtin(entry.card, spec.dataset, Split.from_spec(spec.split))
    except Exception as exc:  # noqa: BLE001 - ranges are decoration; the evaluation stage reports real problems
        log.debug("tryit: no evaluation data for %s: %s", entry.card.id, exc)
        return {}
    out = {f"input.{name}": np.asarray(value) for name, value in data.inputs.items()}
    out["target"] = np.asarray(data.target)
    return out


def _feature_rows(tensor: Tensor, columns: int, examples: list[np.ndarray],
                  evaluation: np.ndarray | None) -> list[dict[str, Any]]:
    names = list(tensor.features) or [f"x{i}" for i in range(columns)]
    source = None
    values = None
    if evaluation is not None and evaluation.ndim == 2 and evaluation.shape[1] == columns:
        values, source = evaluation.astype(np.float64), "evaluation data"
    elif examples:
        rows = [e.reshape(-1, columns) for e in examples if e.size % columns == 0]
        if rows:
            values, source = np.concatenate(rows), "card examples"
    out = []
    for i in range(columns):
        row: dict[str, Any] = {"name": names[i] if i < len(names) else f"x{i}"}
        if values is not None:
            col = values[:, i]
            row.update(min=_number(col.min()), max=_number(col.max()), source=source,
                       integer=bool(np.all(np.equal(np.mod(col, 1), 0))))
        out.append(row)
    return out


def _image_geometry(shape: Sequence[int | str | None]) -> tuple[int, int, int, str]:
    """(height, width, channels, layout) of a 4-D image input."""
    dims = [d if isinstance(d, int) else None for d in shape]
    if len(dims) == 4:
        if dims[1] in (1, 3, 4) and dims[3] not in (1, 3, 4):
            return dims[2] or 224, dims[3] or 224, dims[1], "NCHW"
        return dims[1] or 224, dims[2] or 224, dims[3] or 3, "NHWC"
    if len(dims) == 3:
        return dims[1] or 224, dims[2] or 224, 1, "NHW"
    return 224, 224, 3, "NHWC"


def _invert_linear(steps: Sequence[Mapping[str, Any]], value: float) -> float | None:
    """The raw value that the card's (scalar, linear) preprocessing maps to `value`; None if not invertible."""
    for step in reversed(steps):
        if step["op"] == "scale" and float(step["factor"]) != 0:
            value = value / float(step["factor"])
        elif step["op"] == "normalize" and not isinstance(step["mean"], list) and not isinstance(step["std"], list):
            value = value * float(step["std"]) + float(step["mean"])
        else:
            return None
    return value


def _capture_spec(card: Card, tensor: Tensor) -> dict[str, Any]:
    """How the panel turns a drawing or a picture into the raw input (see catalog.processing.capture_image)."""
    height, width, channels, layout = _image_geometry(tensor.shape)
    steps = [s.as_dict() for s in card.preprocessing]
    for step in steps:
        if step["op"] == "resize":
            width, height = int(step["width"]), int(step["height"])
        if step["op"] == "grayscale":
            channels = 1
    spec: dict[str, Any] = {"width": width, "height": height, "channels": 1 if channels == 1 else 3,
                            "invert": False, "fit": False, "low": 0, "high": 255, "integer": False, "layout": layout}
    examples = _example_arrays(card, tensor.name)
    linear = all(s["op"] in LINEAR_OPS for s in steps)
    if examples and linear:
        values = np.concatenate([e.ravel() for e in examples])
        lo, hi = _invert_linear(steps, float(values.min())), _invert_linear(steps, float(values.max()))
        if lo is not None and hi is not None and hi > lo:
            raw = np.array([_invert_linear(steps, float(v)) for v in values])
            # The most common value is the background; ink is high when the background is the low end,
            # so a dark-on-light drawing is inverted and, like such datasets, cropped and centred.
            uniq, counts = np.unique(values, return_counts=True)
            background = float(uniq[np.argmax(counts)])
            ink_high = abs(background - float(values.min())) < abs(background - float(values.max()))
            spec.update(low=_number(lo), high=_number(hi), integer=bool(np.allclose(raw, np.round(raw), atol=1e-6)),
                        invert=ink_high, fit=ink_high, background=_number(background))
    return spec


def _byte_steps(card: Card) -> list[dict[str, Any]] | None:
    """The preprocessing that turns a file into a byte model's input, when the card declares a byte_sample step."""
    steps = [s.as_dict() for s in card.preprocessing]
    return steps if any(s["op"] == "byte_sample" for s in steps) else None


def _tokenizer(entry: ModelEntry) -> tuple[dict[str, Any] | None, Artifact | None]:
    """The WordPiece vocabulary the recipe wrote (vocab.txt), published beside the model."""
    folders = [p for p in (entry.recipe_dir, entry.card.folder) if p is not None]
    vocab = next((f / "vocab.txt" for f in folders if (f / "vocab.txt").is_file()), None)
    if vocab is None:
        return None, None
    options: dict[str, Any] = {"lowercase": True, "max_length": 256}
    for folder in folders:
        config = folder / "tokenizer.json"
        if config.is_file():
            try:
                data = json.loads(config.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            normalizer = data.get("normalizer") or {}
            if "lowercase" in normalizer:
                options["lowercase"] = bool(normalizer["lowercase"])
            if normalizer.get("strip_accents") is not None:
                options["strip_accents"] = bool(normalizer["strip_accents"])
        st_config = folder / "sentence_bert_config.json"
        if st_config.is_file():
            try:
                options["max_length"] = int(json.loads(st_config.read_text(encoding="utf-8"))["max_seq_length"])
            except (OSError, ValueError, KeyError, TypeError):
                pass
    existing = next((a for a in entry.all_files if a.filename == "vocab.txt"), None)
    artifact = existing or artifact_for(entry.card, vocab, "vocab.txt", "tokenizer")
    return ({"vocab_url": artifact.url, "vocab_size": artifact.size, "vocab_file": artifact.filename,
             "vocab_sha256": artifact.sha256, **options}, (None if existing else artifact))


def _audio_spec(card: Card, primary: Tensor) -> dict[str, Any] | None:
    """How the audio widget streams a file through a frame-by-frame model (Silero VAD's contract):
    `input` gets `context` samples of the previous frame + `frame` new ones, the state input gets the
    previous call's state output (zeros first), the rate input the sample rate; the scored output is
    the speech probability of the frame. Sizes and segmentation rules come from the card's `audio:`
    block; without one (see its schema): the rate of the examples (else 16 kHz), 32 ms frames, no
    context. The state shape comes from the card's state input (batch 1), the threshold from its
    postprocessing. None when the card does not have this shape (the panel falls back to tensors)."""
    state_in = next((t for t in card.inputs if t is not primary and t.dtype in FLOATS), None)
    rate_in = next((t for t in card.inputs if t.kind == "value" or (t.dtype in INTS and not t.shape)), None)
    if state_in is None or rate_in is None:
        return None
    scored = _scored_output(card)
    state_out = next((t for t in card.outputs if t is not scored and t.dtype in FLOATS), None)
    if state_out is None:
        return None
    given = card.audio or Audio()
    rates = [dict(ex.inputs).get(rate_in.name) for ex in card.examples]
    rate = given.sample_rate or next((int(r) for r in rates if isinstance(r, (int, float))), DEFAULT_SAMPLE_RATE)
    frame = given.frame or rate * DEFAULT_FRAME_MS // 1000
    context = given.context if given.context is not None else 0
    state_shape = [d if isinstance(d, int) else 1 for d in state_in.shape]
    threshold = next((float(s.as_dict()["value"]) for s in card.postprocessing if s.as_dict().get("op") == "threshold"), 0.5)
    neg_threshold = given.neg_threshold if given.neg_threshold is not None else max(0.0, threshold - 0.15)
    return {"input": primary.name, "state_input": state_in.name, "rate_input": rate_in.name, "output": scored.name,
            "state_output": state_out.name, "sample_rate": int(rate), "frame": int(frame), "context": int(context),
            "state_shape": state_shape, "threshold": threshold, "neg_threshold": float(neg_threshold),
            "min_speech_ms": int(given.min_speech_ms if given.min_speech_ms is not None else 250),
            "min_silence_ms": int(given.min_silence_ms if given.min_silence_ms is not None else 100)}


def _model_file(entry: ModelEntry) -> tuple[Artifact | None, float | None, str]:
    """The ONNX file the browser should load: the main one, or the smallest variant under the limit."""
    card = entry.card
    onnx_files = [a for a in entry.all_files if a.filename.endswith(".onnx")]
    if entry.onnx.size <= MAX_TRY_BYTES:
        return entry.onnx, None, ""
    small = sorted((a for a in onnx_files if a.size <= MAX_TRY_BYTES), key=lambda a: a.size)
    if small:
        chosen = small[0]
        tolerance = None
        for variant in card.variants:
            if f".{variant.name}." in chosen.filename and variant.tolerance is not None:
                tolerance = float(variant.tolerance)
        return chosen, tolerance, ""
    return None, None, (f"{entry.onnx.filename} is {human_size(entry.onnx.size)}; the panel runs models of up to "
                        f"{human_size(MAX_TRY_BYTES)} in the browser")


def _scored_output(card: Card) -> Tensor:
    for kind in SCORED_KINDS:
        for t in card.outputs:
            if t.kind == kind:
                return t
    return next((t for t in card.outputs if t.dtype in FLOATS), card.outputs[0])


def _target_range(entry: ModelEntry, output: Tensor, evaluation: dict[str, np.ndarray]) -> dict[str, Any] | None:
    target = evaluation.get("target")
    if target is not None and target.size and np.issubdtype(target.dtype, np.number):
        return {"min": _number(target.min()), "max": _number(target.max()), "source": "evaluation data"}
    values = [np.asarray(v, dtype=np.float64) for ex in entry.card.examples for k, v in ex.outputs if k == output.name
              and isinstance(v, (list, int, float))]
    if values:
        flat = np.concatenate([v.ravel() for v in values])
        return {"min": _number(flat.min()), "max": _number(flat.max()), "source": "card examples"}
    return None


def _examples(card: Card) -> list[dict[str, Any]]:
    return [{"name": ex.name or f"Example {i + 1}", "inputs": dict(ex.inputs), "outputs": dict(ex.outputs),
             "tolerance": ex.tolerance} for i, ex in enumerate(card.examples)]


def _tensor(t: Tensor) -> dict[str, Any]:
    return {"name": t.name, "dtype": t.dtype, "shape": [d if isinstance(d, int) else None for d in t.shape],
            "kind": t.kind, "description": t.description or ""}


def prepare_tryit(entry: ModelEntry) -> TryIt:
    """Decide how (and whether) the model runs in the browser, and gather the panel's config."""
    card = entry.card
    primary = card.inputs[0]
    widget = WIDGETS.get(primary.kind or "", "tensor")
    model, tolerance, reason = _model_file(entry)
    if card.browser is not None and card.browser.tryable is False:
        reason = card.browser.reason or "the card marks this model as not tryable in a browser"
        model = None
    if any(t.dtype == "string" for t in card.inputs):
        reason, model = "the model takes string tensors, which onnxruntime-web cannot feed", None
    evaluation = _eval_arrays(entry)
    scored = _scored_output(card)
    config: dict[str, Any] = {
        "id": card.id, "name": card.name, "widget": widget,
        "ort": {"script": ORT_DIR + "ort.wasm.min.js", "wasm_paths": ORT_DIR},
        "inputs": [_tensor(t) for t in card.inputs], "outputs": [_tensor(t) for t in card.outputs],
        "scored_output": scored.name,
        "preprocessing": [s.as_dict() for s in card.preprocessing],
        "postprocessing": [s.as_dict() for s in card.postprocessing],
        "labels": list(card.labels), "examples": _examples(card),
        "bundle_anchor": "deploy", "download_url": entry.onnx.url, "download_size": entry.onnx.size,
        "download_name": entry.onnx.filename,
    }
    files: list[Artifact] = []
    if widget == "tabular":
        columns = primary.shape[-1] if isinstance(primary.shape[-1], int) else len(primary.features)
        config["features"] = _feature_rows(primary, columns, _example_arrays(card, primary.name),
                                           evaluation.get(f"input.{primary.name}"))
    if widget == "image":
        config["capture"] = _capture_spec(card, primary)
    if widget == "audio":
        audio = _audio_spec(card, primary)
        if audio is None:
            widget = config["widget"] = "tensor"
        else:
            config["audio"] = audio
    if widget == "bytes":
        steps = _byte_steps(card)
        if steps is None:
            widget = config["widget"] = "tensor"
        else:
            config["preprocessing"] = steps
    if widget == "text":
        tokenizer, vocab = _tokenizer(entry)
        if tokenizer is None:
            reason, model = "the model needs a tokenizer vocabulary (vocab.txt) that its recipe does not write", None
        else:
            config["tokenizer"] = tokenizer
            if vocab is not None:
                files.append(vocab)
    if scored.kind == "value":
        config["target_range"] = _target_range(entry, scored, evaluation)
    if model is not None:
        variant = next((v.name for v in card.variants if model.filename.endswith(f".{v.name}.onnx")), None) \
            if model is not entry.onnx else None
        config["model"] = {"url": model.url, "size": model.size, "sha256": model.sha256, "filename": model.filename,
                           "size_text": human_size(model.size), "is_variant": model is not entry.onnx, "variant": variant}
        if card.browser is not None and card.browser.tolerance is not None:
            config["engine_tolerance"] = card.browser.tolerance
        if tolerance is not None:
            config["tolerance"] = tolerance
    config["tryable"] = model is not None
    config["reason"] = reason
    return TryIt(model is not None, widget, reason, config, tuple(files))


def add_tryit(entries: Sequence[ModelEntry]) -> list[ModelEntry]:
    """The entries with their `tryit`, publishing the files the panels load (vocabularies) in `added_files`."""
    out = []
    for entry in entries:
        tryit = prepare_tryit(entry)
        out.append(replace(entry, tryit=tryit, added_files=entry.added_files + tryit.files))
        if not tryit.tryable:
            log.info("modelshelf: %s is not tryable in the browser: %s", entry.card.id, tryit.reason)
    return out


__all__ = ["MAX_TRY_BYTES", "TryIt", "add_tryit", "prepare_tryit"]
