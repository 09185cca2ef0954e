"""Bad raw files and raw-file requests: a clear message naming the file and what to do, nothing else answered.

Every kind goes through `modelshelf run` against the real built site (one run per model with all of its bad
files and one good file: the good one is still answered, exit status 2) and, for the request forms of
`modelshelf serve`, through a real server. The kinds are listed in docs/reference/bad-inputs.md ("raw input").
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

from conftest import _modelshelf_command

REPO = Path(__file__).resolve().parents[2]
RAW = REPO / "tests" / "fixtures" / "raw"


def _wav(code: int, bits: int, frames: bytes, rate: int = 16000, channels: int = 1, data: bool = True) -> bytes:
    fmt = struct.pack("<HHIIHH", code, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if data:
        body += b"data" + struct.pack("<I", len(frames)) + frames
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + b"\0\0\0\0"


_LARGE_PNG = (RAW / "image" / "four-1000x800-large.png").read_bytes()

# kind -> (model, file name, its bytes, what `modelshelf run` says after `error: PATH: `)
RAW_FILE_KINDS: dict[str, tuple[str, str, Callable[[], bytes], str]] = {
    "image-not-a-picture": ("modelshelf/digits-cnn", "notes.png", lambda: b"these are notes, not a picture\n",
                            "notes.png: not a picture this runtime can read; use a PNG, JPEG, GIF, WebP, BMP or TIFF file"),
    "image-empty-file": ("modelshelf/digits-cnn", "empty.jpg", lambda: b"",
                         "empty.jpg: not a picture this runtime can read; use a PNG, JPEG, GIF, WebP, BMP or TIFF file"),
    "image-truncated": ("modelshelf/digits-cnn", "cut.png", lambda: _LARGE_PNG[:3000],
                        "cut.png: the picture could not be decoded (image file is truncated); it may be damaged: save it again"),
    "image-too-many-pixels": ("modelshelf/digits-cnn", "wide.png", lambda: _png_header(5000, 10),
                              "wide.png: the image is too large: 5000 x 10 pixels; use a picture of at most 4096 pixels a side"),
    "image-file-too-large": ("modelshelf/digits-cnn", "huge.png", lambda: _LARGE_PNG + b"\0" * (20 * 1024 * 1024),
                             "huge.png: the image is too large: 20.0 MB; use a picture of at most 20.0 MB"),
    "audio-not-wav": ("snakers4/silero-vad", "song.mp3", lambda: b"ID3\x03\x00" + b"\xff\xfb" * 64,
                      "song.mp3: not a WAV file (no RIFF/WAVE header); convert the recording to WAV, e.g. "
                      "`ffmpeg -i in.mp3 out.wav`"),
    "audio-unsupported-encoding": ("snakers4/silero-vad", "adpcm.wav", lambda: _wav(2, 4, b"\0" * 64),
                                   "adpcm.wav: 4-bit format 2 WAV is not supported; use 8, 16, 24 or 32-bit PCM or 32-bit "
                                   "float (`ffmpeg -i in.wav -c:a pcm_s16le out.wav`)"),
    "audio-no-samples": ("snakers4/silero-vad", "header.wav", lambda: _wav(1, 16, b"", data=False),
                         "header.wav: the WAV file has no data chunk; the file is damaged"),
    "audio-too-long": ("snakers4/silero-vad", "long.wav", lambda: _wav(1, 8, b"\x80" * (8000 * 61), rate=8000),
                       "the recording is too long: 61.0 s; cut it to at most 60 s (the browser takes the same)"),
    "text-not-utf8": ("sentence-transformers/all-minilm-l6-v2", "latin1.txt", lambda: "café crème".encode("latin-1"),
                      "latin1.txt: not UTF-8 text (byte 0xe9 at offset 3); save it as UTF-8"),
    "csv-quoted-text": ("modelshelf/iris-logreg", "quoted.csv", lambda: b'5.1,3.5,1.4,0.2\n"5,1",3.5,1.4,0.2\n',
                        "quoted.csv: row 2, column 1: '5,1' is not a number"),
    "csv-ragged-rows": ("modelshelf/iris-logreg", "ragged.csv", lambda: b"5.1,3.5,1.4,0.2\n4.9,3.0,1.4\n",
                        "ragged.csv: the rows have different numbers of values ([3, 4])"),
    "csv-wrong-column-count": ("modelshelf/iris-logreg", "three.csv", lambda: b"5.1,3.5,1.4\n",
                               "three.csv: input 'float_input': the input needs shape [?, 4], the preprocessed tensor has "
                               "[1, 3] (axis 1)"),
}
# A good file per model: answered although the bad ones around it are not.
GOOD = {"modelshelf/digits-cnn": "image/seven-64x64-black-on-white.jpg", "snakers4/silero-vad": "audio/speech-8000hz-mono-pcm16.wav",
        "sentence-transformers/all-minilm-l6-v2": "text/en-short.txt", "modelshelf/iris-logreg": "tabular/iris-header.csv"}


@pytest.fixture(scope="module")
def runs(site_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """`modelshelf run MODEL bad... good` once per model."""
    env = {**os.environ, "MODELSHELF_SITE_URL": site_url,
           "MODELSHELF_HOME": str(tmp_path_factory.getbasetemp() / "raw-inputs-home")}
    out = {}
    for model in sorted({spec[0] for spec in RAW_FILE_KINDS.values()}):
        folder = tmp_path_factory.mktemp("raw-" + model.replace("/", "-"))
        files = []
        for _, (owner, name, make, _) in RAW_FILE_KINDS.items():
            if owner == model:
                (folder / name).write_bytes(make())
                files.append(folder / name)
        before = sorted(p.name for p in folder.iterdir())
        result = subprocess.run([*_modelshelf_command(), "run", model, *map(str, files), str(RAW / GOOD[model])],
                                capture_output=True, text=True, env=env, timeout=600)
        assert sorted(p.name for p in folder.iterdir()) == before, "run writes nothing beside its inputs"
        out[model] = (folder, result)
    return out


@pytest.mark.parametrize("kind", list(RAW_FILE_KINDS))
def test_bad_raw_file(runs: dict[str, tuple[Path, subprocess.CompletedProcess[str]]], kind: str) -> None:
    model, name, _, message = RAW_FILE_KINDS[kind]
    folder, result = runs[model]
    assert f"error: {folder / name}: {message}\n" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_the_good_file_is_answered_beside_the_bad_ones(runs: dict[str, tuple[Path, subprocess.CompletedProcess[str]]]) -> None:
    for model, (_, result) in runs.items():
        assert result.returncode == 2, (model, result.stderr)
        answers = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        assert len(answers) == 1 and answers[0]["model"] == model, (model, result.stdout[:500])


def _post(url: str, body: Any) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# kind -> (request body, the 400 answer's error)
REQUEST_KINDS: dict[str, tuple[Any, str]] = {
    "file-request-not-base64": ({"file": {"name": "digit.png", "base64": "%%% not base64"}},
                                '"file.base64" is not base64 (use `base64 -w0 FILE`)'),
    "file-request-without-name": ({"file": {"base64": "aGVsbG8="}},
                                  '"file" must be {"name": "digit.png", "base64": "<the file\'s bytes in base64>"}'),
    "file-request-nested-request": ({"file": {"name": "r.json", "base64": "eyJpbnB1dHMiOiB7fX0="}},
                                    "a JSON request cannot hold another JSON request as a file; send it directly"),
    "file-request-bad-picture": ({"file": {"name": "x.png", "base64": "aGVsbG8="}},
                                 "x.png: not a picture this runtime can read; use a PNG, JPEG, GIF, WebP, BMP or TIFF file"),
}


@pytest.fixture(scope="module")
def digits_server(site_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from modelshelf.catalog import client
    from modelshelf.catalog.runtime.server import BackgroundServer

    runner = client.load("modelshelf/digits-cnn", base_url=site_url, cache_dir=tmp_path_factory.mktemp("serve-cache"))
    with BackgroundServer(runner) as server:
        yield server


@pytest.mark.parametrize("kind", list(REQUEST_KINDS))
def test_bad_raw_file_request(digits_server: Any, kind: str) -> None:
    body, message = REQUEST_KINDS[kind]
    status, answer = _post(f"{digits_server.url}/v1/predict", body)
    assert (status, answer["error"]) == (400, message)
    good = {"file": {"name": "seven.jpg", "base64": __import__("base64").b64encode(
        (RAW / "image" / "seven-64x64-black-on-white.jpg").read_bytes()).decode()}}
    status, answer = _post(f"{digits_server.url}/v1/predict", good)
    assert status == 200 and answer["postprocessed"]["top"][0][0]["label"] == "7", "the server answers the next request as before"
