"""Declarative pre- and post-processing from a card, in Python (numpy only).

The same operations are implemented once more in JavaScript
(`site_theme/assets/javascripts/processing.js`) for the in-browser "Try it" panel; both must turn
the shared test vectors in `tests/fixtures/processing/*.json` into identical tensors. To make
that possible every operation is specified down to its arithmetic:

- Work is done in float64, in the order written here (element by element, sums left to right,
  never a BLAS call whose summation order could differ), and rounded once, when the result is
  cast to the model's input dtype. Elementwise IEEE float64 arithmetic is exact-rounded in
  both numpy and JavaScript, so both produce the same bits. `softmax` uses `exp`, which the two
  languages may round differently in the last float64 bit; its results agree after float32
  rounding, which is how they are compared.
- An image is a float64 array `H x W x C` ("HWC", values 0..255) until a `layout` step (or
  `arrange_input`) moves its axes; the current axis order is carried as a layout string.

Preprocessing ops (card `preprocessing`, applied to the widget's raw input):

    scale(factor)          x * factor
    normalize(mean, std)   (x - mean) / std; list values apply per channel (the `C` axis of the
                           current layout, else the last axis)
    resize(width, height)  area average ("box" with fractional coverage, like OpenCV's
                           INTER_AREA when shrinking) of an HWC image; rows first, then columns
    grayscale              0.299 R + 0.587 G + 0.114 B of an HWC image (alpha ignored) -> HW1
    layout(from, to)       permute axes, e.g. HWC -> NCHW (a missing N is added with size 1)
    cast(dtype)            round to the dtype: float32/float16/float64 by IEEE rounding,
                           integers by round-half-to-even and clipping to the type's range
    byte_sample(begin, end, block, padding, strip)
                           a file's bytes to one row of begin + end values (Magika's features):
                           the first and last `block` bytes, ASCII whitespace stripped from the
                           left of the first and the right of the last (when `strip`), the first
                           `begin` of the first block padded on the right with `padding`, then
                           the last `end` of the last block padded on the left

Postprocessing ops (card `postprocessing`, applied to the scored output tensor):

    softmax                exp(x - max) / sum, along the last axis
    sigmoid                1 / (1 + exp(-x)), elementwise
    topk(k)                the k largest entries of the last axis (ties: lower index first)
    threshold(value)       after topk: keep only entries >= value; else a 0/1 mask x >= value
    mean_pool(mask)        mean over axis 1 of a [batch, tokens, dim] tensor, weighted by the
                           model input named `mask` (attention mask): sentence embeddings
    l2_normalize           divide the last axis by its Euclidean norm (at least 1e-12)
    decide(default, thresholds, overwrite, fallback, text_fallback, text_labels)
                           the classifier's own decision: the top label if its score reaches its threshold,
                           else a fallback label (Magika's rule; see `decide`)

The browser also needs: `capture_image` (a drawing or an uploaded picture, as RGBA bytes, to
the raw input a card's preprocessing expects) and `WordPieceTokenizer` (BERT's tokenizer, as
the `tokenizers` library implements it, for text models). Everything here is a pure function
of its arguments.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .dtypes import DTYPES, FLOATS, INTS

__all__ = [
    "PRE_OPS", "POST_OPS", "ProcessingError", "apply_step", "preprocess", "arrange_input", "postprocess",
    "softmax", "sigmoid", "topk", "resize_area", "grayscale", "change_layout", "cast", "byte_sample", "mean_pool",
    "l2_normalize", "cosine_similarity", "capture_image", "work_size", "mix_to_mono", "resample", "frame_count",
    "vad_segments", "split_csv", "parse_csv", "WordPieceTokenizer", "MAX_IMAGE_SIDE", "MAX_IMAGE_BYTES", "WORK_SIDE",
    "MAX_AUDIO_SECONDS",
]

PRE_OPS = ("scale", "normalize", "resize", "grayscale", "layout", "cast", "byte_sample")
POST_OPS = ("softmax", "sigmoid", "topk", "threshold", "mean_pool", "l2_normalize", "decide")

# What `cast` clips to before it converts.
_INT_RANGES = {**{n: (int(np.iinfo(DTYPES[n].numpy).min), int(np.iinfo(DTYPES[n].numpy).max)) for n in INTS}, "bool": (0, 1)}


class ProcessingError(ValueError):
    """Raised by the processing functions when a step cannot apply to the tensor it is given
    (wrong rank, unknown op, missing parameter); the message says which step and why."""


# ---------------------------------------------------------------- preprocessing

def _channel_axis(x: np.ndarray, layout: str | None) -> int:
    if layout and "C" in layout and len(layout) == x.ndim:
        return layout.index("C")
    return x.ndim - 1


def _per_channel(value: float | Sequence[float], x: np.ndarray, axis: int) -> np.ndarray | float:
    if isinstance(value, (int, float)):
        return float(value)
    values = np.asarray(value, dtype=np.float64)
    if values.size == 1:
        return float(values[0])
    if values.size != x.shape[axis]:
        raise ProcessingError(f"normalize has {values.size} values but the tensor has {x.shape[axis]} channels")
    shape = [1] * x.ndim
    shape[axis] = values.size
    return values.reshape(shape)


def _area_weights(src: int, dst: int) -> list[list[tuple[int, float]]]:
    """For each output index, the (source index, weight) pairs of an area average, in source order."""
    ratio = src / dst
    out: list[list[tuple[int, float]]] = []
    for i in range(dst):
        start, end = i * ratio, (i + 1) * ratio
        pairs = []
        j = int(math.floor(start))
        while j < end and j < src:
            overlap = min(end, j + 1) - max(start, j)
            if overlap > 0:
                pairs.append((j, overlap / ratio))
            j += 1
        out.append(pairs)
    return out


def _resize_rows(row: Any, h: int, height: int) -> np.ndarray:
    """The rows half of an area resize: `row(j)` gives source row j (W x C float64), read in order."""
    out: list[np.ndarray] = []
    for pairs in _area_weights(h, height):
        acc: Any = 0.0
        for j, weight in pairs:
            acc = acc + row(j) * weight
        out.append(np.asarray(acc, dtype=np.float64))
    return np.stack(out)


def _resize_columns(rows: np.ndarray, width: int) -> np.ndarray:
    height, w, c = rows.shape
    out = np.zeros((height, width, c), dtype=np.float64)
    for i, pairs in enumerate(_area_weights(w, width)):
        acc = np.zeros((height, c), dtype=np.float64)
        for j, weight in pairs:
            acc = acc + rows[:, j] * weight
        out[:, i] = acc
    return out


def resize_area(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-average an H x W x C float image to height x width (rows first, then columns)."""
    if image.ndim != 3:
        raise ProcessingError(f"resize needs an HWC image, got a tensor of shape {list(image.shape)}")
    src = np.asarray(image, dtype=np.float64)
    return _resize_columns(_resize_rows(lambda j: src[j], src.shape[0], height), width)


def grayscale(image: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an HWC image with 3 or 4 channels (alpha ignored); 1 channel is returned as is."""
    if image.ndim != 3:
        raise ProcessingError(f"grayscale needs an HWC image, got a tensor of shape {list(image.shape)}")
    if image.shape[2] == 1:
        return np.asarray(image, dtype=np.float64)
    if image.shape[2] not in (3, 4):
        raise ProcessingError(f"grayscale needs 1, 3 or 4 channels, got {image.shape[2]}")
    x = np.asarray(image, dtype=np.float64)
    return ((0.299 * x[:, :, 0] + 0.587 * x[:, :, 1]) + 0.114 * x[:, :, 2])[:, :, None]


def change_layout(x: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Permute axes from layout `src` to `dst` (letters N, C, H, W); axes only in `dst` are added
    with size 1, axes only in `src` must have size 1 and are dropped."""
    if len(src) != x.ndim:
        raise ProcessingError(f"layout {src} does not fit a tensor of shape {list(x.shape)}")
    for axis, letter in enumerate(src):
        if letter not in dst:
            if x.shape[axis] != 1:
                raise ProcessingError(f"layout {src} -> {dst} would drop axis {letter} of size {x.shape[axis]}")
    keep = [letter for letter in src if letter in dst]
    y = x.reshape([n for letter, n in zip(src, x.shape) if letter in dst]) if len(keep) != len(src) else x
    order = [keep.index(letter) for letter in dst if letter in keep]
    y = np.transpose(y, order)
    shape = []
    it = iter(y.shape)
    for letter in dst:
        shape.append(next(it) if letter in keep else 1)
    return y.reshape(shape)


def _round_half_even(x: np.ndarray) -> np.ndarray:
    return np.rint(x)


def cast(x: np.ndarray, dtype: str) -> np.ndarray:
    """Round to `dtype`: IEEE rounding for floats, round-half-to-even and clipping for integers."""
    if dtype in FLOATS:
        return np.asarray(x, dtype=np.float64).astype(DTYPES[dtype].numpy)
    if dtype in _INT_RANGES:
        lo, hi = _INT_RANGES[dtype]
        rounded = np.clip(_round_half_even(np.asarray(x, dtype=np.float64)), lo, hi)
        return rounded.astype(DTYPES[dtype].numpy)
    raise ProcessingError(f"cannot cast to {dtype!r}")


_ASCII_WHITESPACE = b" \t\n\r\x0b\x0c"


def byte_sample(data: bytes, begin: int, end: int, block: int = 4096, padding: int = 256, strip: bool = True) -> np.ndarray:
    """One row of `begin + end` values from a file's bytes (see the module docstring)."""
    data = bytes(data)
    first, last = data[:block], data[-block:] if block else b""
    if strip:
        first, last = first.lstrip(_ASCII_WHITESPACE), last.rstrip(_ASCII_WHITESPACE)
    head = list(first[:begin]) + [padding] * max(0, begin - len(first))
    tail_bytes = list(last[-end:]) if end else []
    tail = [padding] * (end - len(tail_bytes)) + tail_bytes
    return np.asarray([head + tail], dtype=np.float64)


def apply_step(step: Mapping[str, Any], x: np.ndarray, layout: str | None = None) -> tuple[np.ndarray, str | None]:
    """Apply one preprocessing step; returns the new tensor and its layout. `byte_sample` takes
    the raw bytes (a flat uint8 array) as `x`."""
    op = step.get("op")
    if op == "byte_sample":
        raw = np.asarray(x, dtype=np.uint8).tobytes()
        return byte_sample(raw, int(step["begin"]), int(step["end"]), int(step.get("block", 4096)),
                           int(step.get("padding", 256)), bool(step.get("strip", True))), None
    if op == "scale":
        return np.asarray(x, dtype=np.float64) * float(step["factor"]), layout
    if op == "normalize":
        x = np.asarray(x, dtype=np.float64)
        axis = _channel_axis(x, layout)
        return (x - _per_channel(step["mean"], x, axis)) / _per_channel(step["std"], x, axis), layout
    if op == "resize":
        if layout not in (None, "HWC"):
            raise ProcessingError(f"resize needs an HWC image, the tensor is {layout}")
        return resize_area(x, int(step["width"]), int(step["height"])), "HWC"
    if op == "grayscale":
        if layout not in (None, "HWC"):
            raise ProcessingError(f"grayscale needs an HWC image, the tensor is {layout}")
        return grayscale(x), "HWC"
    if op == "layout":
        src = layout or step["from"]
        if src != step["from"]:
            raise ProcessingError(f"layout step says from {step['from']} but the tensor is {src}")
        return change_layout(np.asarray(x), step["from"], step["to"]), step["to"]
    if op == "cast":
        return cast(x, str(step["dtype"])).astype(np.float64), layout
    raise ProcessingError(f"{op!r} is not a preprocessing op (one of {', '.join(PRE_OPS)})")


def preprocess(steps: Iterable[Mapping[str, Any]], raw: Any, layout: str | None = None) -> tuple[np.ndarray, str | None]:
    """Run the card's preprocessing steps over a raw input (float64 throughout)."""
    x = np.asarray(raw, dtype=np.float64)
    for step in steps:
        x, layout = apply_step(step, x, layout)
    return x, layout


def arrange_input(x: np.ndarray, layout: str | None, shape: Sequence[int | str | None], dtype: str) -> np.ndarray:
    """Give a preprocessed tensor the model input's rank and dtype.

    An HWC image becomes NCHW when the input's second dimension is its channel count and its last
    is not (else NHWC); any other tensor gains leading batch axes of size 1 until its rank matches.
    """
    x = np.asarray(x, dtype=np.float64)
    if layout == "HWC" and len(shape) == 4:
        c = x.shape[2]
        channels_first = shape[1] == c and shape[3] != c
        x = change_layout(x, "HWC", "NCHW" if channels_first else "NHWC")
    while x.ndim < len(shape):
        x = x[None, ...]
    for axis, (have, want) in enumerate(zip(x.shape, shape)):
        if isinstance(want, int) and want != have:
            needed = ", ".join("?" if d is None else str(d) for d in shape)
            raise ProcessingError(f"the input needs shape [{needed}], the preprocessed tensor has {list(x.shape)} (axis {axis})")
    return cast(x, dtype)


# ---------------------------------------------------------------- postprocessing

def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax along the last axis: exp(x - max) / sum, summed left to right."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    total = np.zeros(x.shape[:-1], dtype=np.float64)
    for i in range(x.shape[-1]):
        total = total + e[..., i]
    return e / total[..., None]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def topk(x: np.ndarray, k: int) -> list[list[int]]:
    """Indices of the k largest entries of each row (last axis), largest first; ties: lower index first."""
    rows = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1])
    return [_row_topk(row, k) for row in rows]


def _row_topk(row: np.ndarray, k: int) -> list[int]:
    """topk of one row: a function of its own, so the sort key sees this row (not the loop's last)."""
    return sorted(range(row.size), key=lambda i: (-row[i], i))[: min(k, row.size)]


def mean_pool(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of a [batch, tokens, dim] tensor over its tokens, weighted by a [batch, tokens] mask."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        raise ProcessingError(f"mean_pool needs a [batch, tokens, dim] tensor, got shape {list(x.shape)}")
    m = np.asarray(mask, dtype=np.float64).reshape(x.shape[0], x.shape[1])
    total = np.zeros((x.shape[0], x.shape[2]), dtype=np.float64)
    count = np.zeros((x.shape[0], 1), dtype=np.float64)
    for t in range(x.shape[1]):
        total = total + x[:, t, :] * m[:, t : t + 1]
        count = count + m[:, t : t + 1]
    return total / np.maximum(count, 1e-9)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    total = np.zeros(x.shape[:-1], dtype=np.float64)
    for i in range(x.shape[-1]):
        total = total + x[..., i] * x[..., i]
    return x / np.maximum(np.sqrt(total), 1e-12)[..., None]


def cosine_similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine of two vectors, summed left to right (as the browser's similarity view does)."""
    dot = na = nb = 0.0
    for u, v in zip(np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()):
        dot += float(u) * float(v)
        na += float(u) * float(u)
        nb += float(v) * float(v)
    return dot / max(math.sqrt(na) * math.sqrt(nb), 1e-12)


def postprocess(steps: Iterable[Mapping[str, Any]], y: Any, *, feeds: Mapping[str, Any] | None = None,
                labels: Sequence[str] = ()) -> dict[str, Any]:
    """Run the card's postprocessing over the scored output.

    Returns {"values": float64 array after the elementwise steps, "top": one list per row of
    {"index", "value", "label"} (when there is a topk step), "mask": 0/1 array (threshold
    without topk)}.
    """
    values = np.asarray(y, dtype=np.float64)
    top: list[list[dict[str, Any]]] | None = None
    mask: np.ndarray | None = None
    decision: list[dict[str, Any]] | None = None
    for step in steps:
        op = step.get("op")
        if op == "softmax":
            values = softmax(values)
        elif op == "sigmoid":
            values = sigmoid(values)
        elif op == "l2_normalize":
            values = l2_normalize(values)
        elif op == "mean_pool":
            name = str(step["mask"])
            if feeds is None or name not in feeds:
                raise ProcessingError(f"mean_pool needs the model input {name!r}")
            values = mean_pool(values, feeds[name])
        elif op == "topk":
            rows = values.reshape(-1, values.shape[-1]) if values.ndim else values.reshape(1, 1)
            top = [[{"index": i, "value": float(row[i]), "label": labels[i] if i < len(labels) else str(i)}
                    for i in idx] for row, idx in zip(rows, topk(rows, int(step["k"])))]
        elif op == "threshold":
            limit = float(step["value"])
            if top is not None:
                top = [[entry for entry in row if entry["value"] >= limit] for row in top]
            else:
                mask = (values >= limit).astype(np.float64)
        elif op == "decide":
            decision = decide(values, step, labels)
        else:
            raise ProcessingError(f"{op!r} is not a postprocessing op (one of {', '.join(POST_OPS)})")
    out: dict[str, Any] = {"values": values}
    if top is not None:
        out["top"] = top
    if mask is not None:
        out["mask"] = mask
    if decision is not None:
        out["decision"] = decision
    return out


def decide(values: np.ndarray, step: Mapping[str, Any], labels: Sequence[str]) -> list[dict[str, Any]]:
    """A classifier's own decision rule, per row (Magika's "high confidence" mode): the top label counts when its
    score reaches its threshold (`thresholds[label]`, else `default`); otherwise the answer is `text_fallback` for a
    label in `text_labels` and `fallback` for any other; `overwrite` then renames labels (e.g. randombytes -> unknown).
    Each row gives {"label", "score", "model_label", "confident"}; ties go to the lower index, as topk."""
    rows = values.reshape(-1, values.shape[-1]) if values.ndim else values.reshape(1, 1)
    thresholds = {str(k): float(v) for k, v in dict(step.get("thresholds") or {}).items()}
    overwrite = {str(k): str(v) for k, v in dict(step.get("overwrite") or {}).items()}
    text_labels = set(map(str, step.get("text_labels") or ()))
    default = float(step.get("default", 0.5))
    out = []
    for row, (best,) in zip(rows, topk(rows, 1)):
        model_label = labels[best] if best < len(labels) else str(best)
        score = float(row[best])
        confident = score >= thresholds.get(model_label, default)
        label = model_label if confident else str(step.get("text_fallback", step.get("fallback", "unknown"))) \
            if model_label in text_labels else str(step.get("fallback", "unknown"))
        out.append({"label": overwrite.get(label, label), "score": score, "model_label": model_label, "confident": confident})
    return out


# ---------------------------------------------------------------- images from the browser

@dataclass(frozen=True)
class CaptureSpec:
    """How a drawing or picture (RGBA bytes) becomes the raw input of an image model.

    width, height, channels: the raw image size (the model's, or the card's resize input);
    invert: ink is high (a dark-on-light drawing becomes light-on-dark, as in MNIST-like data);
    fit: crop to the ink's bounding box, centre it in a square, so the longer side fills the image;
    low, high: the raw values that black (or no ink) and white (or full ink) map to;
    integer: round the raw values to integers (half to even).
    """

    width: int
    height: int
    channels: int = 3
    invert: bool = False
    fit: bool = False
    low: float = 0.0
    high: float = 255.0
    integer: bool = False

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "CaptureSpec":
        return cls(int(d["width"]), int(d["height"]), int(d.get("channels", 3)), bool(d.get("invert", False)),
                   bool(d.get("fit", False)), float(d.get("low", 0.0)), float(d.get("high", 255.0)),
                   bool(d.get("integer", False)))


# Pictures are decoded at their own size, at most MAX_IMAGE_SIDE pixels a side and MAX_IMAGE_BYTES
# as a file; capture_image first brings the longer side down to WORK_SIDE (the browser and the
# runtime refuse larger pictures with the same message).
MAX_IMAGE_SIDE = 4096
MAX_IMAGE_BYTES = 20 * 1024 * 1024
WORK_SIDE = 512


def work_size(width: int, height: int) -> tuple[int, int]:
    """The size a picture is area-averaged to before capture: the longer side WORK_SIDE, rounded half up."""
    scale = WORK_SIDE / max(width, height)
    return max(1, math.floor(width * scale + 0.5)), max(1, math.floor(height * scale + 0.5))


def _over_white(px: np.ndarray) -> np.ndarray:
    """RGBA pixels (..., 4) composited over white, as float64 RGB."""
    px = np.asarray(px, dtype=np.float64)
    alpha = px[..., 3:4] / 255.0
    return px[..., :3] * alpha + 255.0 * (1.0 - alpha)


# A pixel counts as ink for `fit` when it is above this share of full ink (after inversion).
INK_THRESHOLD = 0.1 * 255


def _dark_border(img: np.ndarray) -> bool:
    """Whether the outermost rows and columns of an HWC image are dark on average (sum < 127.5 * count)."""
    h, w = img.shape[0], img.shape[1]
    if h <= 2 or w <= 2:
        ring = img.reshape(-1)
    else:
        ring = np.concatenate([img[0].reshape(-1), img[h - 1].reshape(-1),
                               img[1:h - 1, 0].reshape(-1), img[1:h - 1, w - 1].reshape(-1)])
    return float(ring.sum()) < 127.5 * ring.size


def _ink_box(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    rows = np.nonzero((ink > INK_THRESHOLD).any(axis=1))[0]
    cols = np.nonzero((ink > INK_THRESHOLD).any(axis=0))[0]
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def capture_image(rgba: Any, width: int, height: int, spec: CaptureSpec | Mapping[str, Any]) -> np.ndarray:
    """Turn RGBA bytes (height x width x 4, as a canvas gives them) into the raw HWC input.

    1. composite over white: c * a/255 + 255 * (1 - a/255); a picture whose longer side is over
       WORK_SIDE (512) pixels is then area-averaged to `work_size` (only the rows it needs are
       composited at a time, so a 4096 x 4096 picture costs about 50 MB, not 1.5 GB)
    2. grayscale (channels == 1) or drop alpha (channels == 3); with `spec.fit` (ink pictures), a
       picture whose border is dark (the mean of its outermost rows and columns, all channels, below
       127.5) is light ink on a dark ground and is flipped (255 - v), so both polarities read alike
    3. invert (255 - v) when `spec.invert`
    4. `spec.fit`: crop to the ink's bounding box (max over channels above 10%), pad it with
       background to a square (extra left/top = floor(half)), so the longer side fills the image
    5. area-average resize to spec.width x spec.height
    6. map 0..255 to spec.low..spec.high; round when `spec.integer`
    """
    if not isinstance(spec, CaptureSpec):
        spec = CaptureSpec.from_dict(spec)
    px = np.asarray(rgba).reshape(height, width, 4)
    if max(width, height) > WORK_SIDE:
        w, h = work_size(width, height)
        rgb = _resize_rows(lambda j: _over_white(px[j]), height, h)
        rgb = _resize_columns(rgb, w)
    else:
        rgb = _over_white(px)
    img = grayscale(rgb) if spec.channels == 1 else rgb
    if spec.fit and _dark_border(img):
        img = 255.0 - img  # light ink on a dark ground: made dark on light first, like a drawing
    if spec.invert:
        img = 255.0 - img
    if spec.fit:
        ink = img.max(axis=2) if spec.invert else 255.0 - img.min(axis=2)
        box = _ink_box(ink)
        if box is not None:
            top, bottom, left, right = box
            crop = img[top:bottom, left:right]
            side = max(bottom - top, right - left)
            background = 0.0 if spec.invert else 255.0
            square = np.full((side, side, img.shape[2]), background, dtype=np.float64)
            oy, ox = (side - (bottom - top)) // 2, (side - (right - left)) // 2
            square[oy : oy + crop.shape[0], ox : ox + crop.shape[1]] = crop
            img = square
    img = resize_area(img, spec.width, spec.height)
    raw = spec.low + img * ((spec.high - spec.low) / 255.0)
    if spec.integer:
        raw = _round_half_even(raw)
    return raw


# ---------------------------------------------------------------- CSV rows

# A CSV cell is a number when it is a plain decimal (no "nan", "inf", "1_000" or hex): what both
# languages parse to the same float64.
_NUMBER = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")


def split_csv(text: str, delimiter: str = ",") -> list[list[str]]:
    """Rows of cells: RFC 4180 quoting (a quoted cell may hold the delimiter, newlines and "" for a
    quote), CRLF or LF line ends, a leading byte-order mark dropped, blank rows skipped."""
    if text.startswith("\ufeff"):
        text = text[1:]
    rows: list[list[str]] = []
    row: list[str] = []
    cell: list[str] = []
    quoted = False
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == '"' and text[i + 1:i + 2] == '"':
                cell.append('"')
                i += 1
            elif ch == '"':
                quoted = False
            else:
                cell.append(ch)
        elif ch == '"' and not cell:
            quoted = True
        elif ch == delimiter:
            row.append("".join(cell))
            cell = []
        elif ch in "\r\n":
            if ch == "\r" and text[i + 1:i + 2] == "\n":
                i += 1
            row.append("".join(cell))
            rows.append(row)
            row, cell = [], []
        else:
            cell.append(ch)
        i += 1
    if cell or row:
        row.append("".join(cell))
        rows.append(row)
    return [r for r in rows if any(c.strip() for c in r)]


def parse_csv(text: str, features: Sequence[str] = (), delimiter: str = ",") -> list[list[float]]:
    """CSV text -> rows of float64 values. The first row is a header when any cell of it is not a
    number; a header naming the card's `features` in another order reorders the columns to the
    card's. Raises ProcessingError naming the row (1-based, as a spreadsheet counts) and column."""
    rows = split_csv(text, delimiter)
    if not rows:
        raise ProcessingError("the file has no rows")
    header = None if all(_NUMBER.match(c) for c in rows[0]) else [c.strip() for c in rows[0]]
    body = rows[1:] if header else rows
    first = 2 if header else 1
    if not body:
        raise ProcessingError("the file has a header row but no rows of values")
    reorder = None
    if header and features and sorted(header) == sorted(features) and header != list(features):
        reorder = [header.index(f) for f in features]  # columns named like the card's features, in any order
    out = []
    for n, r in enumerate(body):
        for c, cell in enumerate(r):  # errors name the file's own row and column
            if not _NUMBER.match(cell):
                name = f" ({header[c]})" if header and c < len(header) else ""
                raise ProcessingError(f"row {n + first}, column {c + 1}{name}: {cell.strip()[:40]!r} is not a number")
        values = [float(cell) for cell in r]
        out.append([values[i] for i in reorder] if reorder is not None and len(values) == len(reorder) else values)
    if len({len(r) for r in out}) > 1:
        raise ProcessingError(f"the rows have different numbers of values ({sorted({len(r) for r in out})})")
    return out


# ---------------------------------------------------------------- audio files

# The browser and the runtime take recordings of up to this many seconds (after decoding).
MAX_AUDIO_SECONDS = 60
# Zero crossings of the resampling filter on each side of an output sample.
RESAMPLE_ZEROS = 16


def mix_to_mono(channels: Sequence[Any]) -> np.ndarray:
    """Decoded channels (each a sequence of float samples) averaged to one: summed in channel order
    in float64, then divided by the channel count."""
    if not len(channels):
        raise ProcessingError("the recording has no channels")
    total = np.asarray(channels[0], dtype=np.float64).copy()
    for channel in channels[1:]:
        total = total + np.asarray(channel, dtype=np.float64)
    return total / len(channels) if len(channels) > 1 else total


def resample(x: Any, src_rate: int, dst_rate: int) -> np.ndarray:
    """Band-limited resampling with a Hann-windowed sinc, the same arithmetic as processing.js.

    Output sample n (of ceil(len * dst / src)) sits at t = n * src / dst input samples; with the
    cut-off fc = min(1, dst / src) and the half width H = RESAMPLE_ZEROS / fc input samples, it is
    the sum, for k = floor(t) - K + 1 .. floor(t) + K in that order (K = ceil(H); samples outside
    the signal are 0), of x[k] * (fc * s * w), where d = t - k, s = sin(pi fc d) / (pi fc d) (1 at
    d = 0) and w = 0.5 + 0.5 cos(pi d / H) for |d| < H, else 0. Only sin and cos may differ from
    JavaScript's in the last bit, which float32 input tensors round away.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    src_rate, dst_rate = int(src_rate), int(dst_rate)
    if src_rate <= 0 or dst_rate <= 0:
        raise ProcessingError(f"sample rates must be positive, got {src_rate} and {dst_rate}")
    if src_rate == dst_rate:
        return x.copy()
    n_out = (x.size * dst_rate + src_rate - 1) // src_rate
    fc = min(1.0, dst_rate / src_rate)
    half = RESAMPLE_ZEROS / fc
    reach = math.ceil(half)
    out = np.zeros(n_out, dtype=np.float64)
    chunk = 65536
    for start in range(0, n_out, chunk):
        n = np.arange(start, min(n_out, start + chunk), dtype=np.float64)
        t = n * src_rate / dst_rate
        base = np.floor(t)
        acc = np.zeros(n.size, dtype=np.float64)
        for offset in range(-reach + 1, reach + 1):
            k = base + offset
            d = t - k
            inside = (k >= 0) & (k < x.size)
            sample = np.where(inside, x[np.clip(k, 0, max(x.size - 1, 0)).astype(np.int64)] if x.size else 0.0, 0.0)
            arg = math.pi * fc * d
            with np.errstate(invalid="ignore", divide="ignore"):
                sinc = np.where(d == 0, 1.0, np.sin(arg) / arg)
            window = np.where(np.abs(d) < half, 0.5 + 0.5 * np.cos(math.pi * d / half), 0.0)
            acc = acc + sample * (fc * sinc * window)
        out[start:start + n.size] = acc
    return out


def frame_count(samples: int, frame: int) -> int:
    """How many frames a streaming model runs over `samples` samples (the last one zero-padded)."""
    return (samples + frame - 1) // frame


def vad_segments(probs: Sequence[float], spec: Mapping[str, Any]) -> list[list[float]]:
    """Per-frame speech probabilities -> speech segments [start, end] in seconds: a segment starts at
    p >= threshold and ends after `min_silence_ms` below `neg_threshold`; segments shorter than
    `min_speech_ms` are dropped (Silero's get_speech_timestamps rules, frame by frame)."""
    frame, rate = int(spec["frame"]), int(spec["sample_rate"])
    silence = math.ceil(float(spec["min_silence_ms"]) * rate / 1000 / frame)
    min_speech = float(spec["min_speech_ms"]) * rate / 1000
    out: list[list[float]] = []
    start = temp_end = -1

    def close(end_frame: int) -> None:
        if (end_frame - start) * frame >= min_speech:
            out.append([start * frame / rate, end_frame * frame / rate])

    for i, p in enumerate(probs):
        if p >= float(spec["threshold"]):
            temp_end = -1
            if start < 0:
                start = i
        elif start >= 0 and p < float(spec["neg_threshold"]):
            if temp_end < 0:
                temp_end = i
            if i + 1 - temp_end >= silence:
                close(temp_end)
                start = temp_end = -1
    if start >= 0:
        close(len(probs))
    return out


# ---------------------------------------------------------------- WordPiece (BERT) tokenizer

_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
               (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


# Unicode's White_Space property (what Rust's char::is_whitespace tests).
_WHITE_SPACE = frozenset("\t\n\v\f\r \u0085\u00a0\u1680\u2028\u2029\u202f\u205f\u3000"
                         + "".join(chr(c) for c in range(0x2000, 0x200B)))


def _is_whitespace(ch: str) -> bool:
    return ch in _WHITE_SPACE


def _is_control(ch: str) -> bool:
    # tokenizers drops control, format, private-use and surrogate characters (Cc, Cf, Co, Cs; not
    # unassigned ones) but tab, newline and carriage return.
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


@dataclass(frozen=True)
class WordPieceTokenizer:
    """BERT's uncased WordPiece tokenizer, as the `tokenizers` library's BertNormalizer,
    BertPreTokenizer and WordPiece model apply it (clean text, spaces around CJK characters,
    strip accents, lower-case; split on whitespace and punctuation; greedy longest-match
    subwords with a `##` prefix; `[UNK]` for words over 100 characters or with no match),
    then `[CLS] ... [SEP]`, truncated to `max_length` tokens in all."""

    vocab: Mapping[str, int]
    lowercase: bool = True
    strip_accents: bool = True
    max_length: int = 256
    unk_token: str = "[UNK]"
    cls_token: str = "[CLS]"
    sep_token: str = "[SEP]"
    max_chars_per_word: int = 100
    prefix: str = "##"
    _ids: tuple = field(default=(), repr=False, compare=False)

    @classmethod
    def from_file(cls, path: str | Path, **options: Any) -> "WordPieceTokenizer":
        """Read a vocab.txt (one token a line, the line number is its id)."""
        lines = Path(path).read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return cls({token: i for i, token in enumerate(lines)}, **options)

    def normalize(self, text: str) -> str:
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                continue
            if _is_whitespace(ch):
                out.append(" ")
            elif _is_cjk(ch):
                out.append(f" {ch} ")
            else:
                out.append(ch)
        text = "".join(out)
        if self.strip_accents:
            text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
        if self.lowercase:
            # One character at a time, as Rust's char::to_lowercase (no final-sigma context).
            text = "".join(c.lower() for c in text)
        return text

    def pre_tokenize(self, text: str) -> list[str]:
        words: list[str] = []
        for chunk in text.split(" "):
            current = ""
            for ch in chunk:
                if _is_punctuation(ch):
                    if current:
                        words.append(current)
                        current = ""
                    words.append(ch)
                else:
                    current += ch
            if current:
                words.append(current)
        return words

    def wordpiece(self, word: str) -> list[str]:
        chars = list(word)
        if len(chars) > self.max_chars_per_word:
            return [self.unk_token]
        pieces: list[str] = []
        start = 0
        while start < len(chars):
            end = len(chars)
            found = None
            while start < end:
                piece = "".join(chars[start:end])
                if start > 0:
                    piece = self.prefix + piece
                if piece in self.vocab:
                    found = piece
                    break
                end -= 1
            if found is None:
                return [self.unk_token]
            pieces.append(found)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        return [piece for word in self.pre_tokenize(self.normalize(text)) for piece in self.wordpiece(word)]

    def encode(self, text: str) -> dict[str, list[int]]:
        """input_ids, attention_mask and token_type_ids of one text ([CLS] text [SEP], truncated)."""
        tokens = self.tokenize(text)[: max(self.max_length - 2, 0)]
        ids = ([self.vocab[self.cls_token]] + [self.vocab.get(t, self.vocab[self.unk_token]) for t in tokens]
               + [self.vocab[self.sep_token]])
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "token_type_ids": [0] * len(ids)}
