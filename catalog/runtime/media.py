"""Raw files to the values the card's processing starts from, as the browser decodes them.

    decode_image(data) -> H x W x 4 uint8 RGBA   (what a canvas's getImageData gives)
    decode_wav(data)   -> (channels x samples float32, sample rate)   (what decodeAudioData gives)
    read_text(data)    -> str                    (UTF-8, a byte-order mark dropped)

Images: PNG (8-bit) and PGM/PPM are decoded here with numpy alone; JPEG, GIF, WebP, BMP, TIFF and
16-bit PNG need Pillow (`pip install pillow`; image models' deploy bundles list it), which is what
the error says when it is missing. Like the browser, EXIF orientation is applied, colour profiles
are not, and an animation gives its first frame. Pictures over MAX_IMAGE_SIDE pixels a side or
MAX_IMAGE_BYTES are refused before they are decoded.

WAV: PCM 8 (unsigned), 16, 24 and 32-bit and IEEE float 32/64-bit, plain or WAVE_FORMAT_EXTENSIBLE,
any channel count and rate. Samples become float32 as Chromium's decoder makes them: u8 (x-128)/128,
s16 x/32768, s24 x/2^23, s32 x/2^31. Other audio formats are for the browser only (the error says to
convert to WAV).
"""
from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np

from .processing import MAX_IMAGE_BYTES, MAX_IMAGE_SIDE

__all__ = ["MediaError", "decode_image", "decode_wav", "read_text", "image_size"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PIL_HINT = "install Pillow (pip install pillow) to read JPEG, GIF, WebP, BMP, TIFF and 16-bit PNG pictures"


class MediaError(ValueError):
    """A raw file that cannot be decoded; the message says why and what to do."""


def _human(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.1f} KB"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _check_size(width: int, height: int) -> None:
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
        raise MediaError(f"the image is too large: {width} x {height} pixels; use a picture of at most "
                         f"{MAX_IMAGE_SIDE} pixels a side")
    if width < 1 or height < 1:
        raise MediaError("the image has no pixels")


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG header, without decoding; None for other formats."""
    if data[:8] == _PNG_MAGIC and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return None


def decode_image(data: bytes) -> np.ndarray:
    """An image file's pixels as H x W x 4 uint8 RGBA (grey and RGB get alpha 255)."""
    if len(data) > MAX_IMAGE_BYTES:
        raise MediaError(f"the image is too large: {_human(len(data))}; use a picture of at most {_human(MAX_IMAGE_BYTES)}")
    size = image_size(data)
    if size is not None:
        _check_size(*size)
    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError:
        return _decode_without_pillow(data)
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_SIDE * MAX_IMAGE_SIDE
    try:
        with Image.open(io.BytesIO(data)) as opened:
            _check_size(*opened.size)
            opened.seek(0)
            img: Any = ImageOps.exif_transpose(opened) or opened
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                grey = np.asarray(img, dtype=np.float64)
                scale = 257.0 if img.mode.startswith("I;16") or grey.max(initial=0) > 255 else 1.0
                grey8 = np.clip(np.rint(grey / scale), 0, 255).astype(np.uint8)
                opaque = np.full(grey8.shape + (1,), 255, np.uint8)
                return np.concatenate([np.repeat(grey8[:, :, None], 3, axis=2), opaque], axis=2)
            return np.asarray(img.convert("RGBA"), dtype=np.uint8).copy()
    except MediaError:
        raise
    except UnidentifiedImageError:
        raise MediaError("not a picture this runtime can read; use a PNG, JPEG, GIF, WebP, BMP or TIFF file") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise MediaError(f"the picture could not be decoded ({_first_line(exc)}); it may be damaged: save it again") from None


def _decode_without_pillow(data: bytes) -> np.ndarray:
    try:
        if data[:8] == _PNG_MAGIC:
            img = _decode_png(data)
        elif data[:2] in (b"P5", b"P6", b"P2", b"P3"):
            img = np.clip(np.rint(_decode_pnm(data)), 0, 255).astype(np.uint8)
        else:
            raise MediaError(f"this picture is not a PNG, PGM or PPM; {_PIL_HINT}")
    except MediaError:
        raise
    except ValueError as exc:
        raise MediaError(f"{exc}; {_PIL_HINT}") from None
    except (IndexError, struct.error, Exception) as exc:  # noqa: BLE001 - a damaged file can fail anywhere in the decoder
        raise MediaError(f"the file could not be read as an image ({type(exc).__name__}); it may be damaged") from None
    _check_size(img.shape[1], img.shape[0])
    channels = img.shape[2]
    rgb = np.repeat(img[:, :, :1], 3, axis=2) if channels in (1, 2) else img[:, :, :3]
    alpha = img[:, :, -1:] if channels in (2, 4) else np.full(img.shape[:2] + (1,), 255, np.uint8)
    return np.concatenate([rgb, alpha], axis=2).astype(np.uint8)


# -- the numpy-only decoders ---------------------------------------------------------------------

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


# -- WAV -------------------------------------------------------------------------------------------

_WAVE_PCM, _WAVE_FLOAT, _WAVE_EXTENSIBLE = 1, 3, 0xFFFE


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    """A RIFF/WAVE file as (channels x samples float32, sample rate)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise MediaError("not a WAV file (no RIFF/WAVE header); convert the recording to WAV, e.g. "
                         "`ffmpeg -i in.mp3 out.wav`")
    fmt: tuple[int, int, int, int] | None = None
    samples: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if tag == b"fmt ":
            if len(body) < 16:
                raise MediaError("the WAV file's fmt chunk is too short; the file is damaged")
            code, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            if code == _WAVE_EXTENSIBLE and len(body) >= 26:
                code = struct.unpack("<H", body[24:26])[0]
            fmt = (code, channels, rate, bits)
        elif tag == b"data":
            samples = body
            break
        pos += 8 + size + (size % 2)
    if fmt is None or samples is None:
        raise MediaError("the WAV file has no " + ("fmt" if fmt is None else "data") + " chunk; the file is damaged")
    code, channels, rate, bits = fmt
    if channels < 1 or rate < 1:
        raise MediaError(f"the WAV file declares {channels} channels at {rate} Hz; the file is damaged")
    width = bits // 8
    frames = len(samples) // (width * channels) if width else 0
    samples = samples[:frames * width * channels]
    values: Any
    if code == _WAVE_PCM and bits == 8:
        values = (np.frombuffer(samples, np.uint8).astype(np.float64) - 128.0) / 128.0
    elif code == _WAVE_PCM and bits == 16:
        values = np.frombuffer(samples, "<i2").astype(np.float64) / 32768.0
    elif code == _WAVE_PCM and bits == 24:
        raw = np.frombuffer(samples, np.uint8).reshape(-1, 3).astype(np.int32)
        ints = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
        values = np.where(ints >= 1 << 23, ints - (1 << 24), ints).astype(np.float64) / float(1 << 23)
    elif code == _WAVE_PCM and bits == 32:
        values = np.frombuffer(samples, "<i4").astype(np.float64) / float(1 << 31)
    elif code == _WAVE_FLOAT and bits in (32, 64):
        values = np.frombuffer(samples, "<f4" if bits == 32 else "<f8").astype(np.float64)
    else:
        kind = {_WAVE_PCM: "PCM", _WAVE_FLOAT: "float"}.get(code, f"format {code}")
        raise MediaError(f"{bits}-bit {kind} WAV is not supported; use 8, 16, 24 or 32-bit PCM or 32-bit float "
                         "(`ffmpeg -i in.wav -c:a pcm_s16le out.wav`)")
    return values.astype(np.float32).reshape(-1, channels).T.copy(), int(rate)


def read_text(data: bytes) -> str:
    """UTF-8 text with a leading byte-order mark dropped (TextDecoder's default)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MediaError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8") from None
    return text[1:] if text.startswith("\ufeff") else text
