"""The "Try it" panel in a real browser, against the site built from models/.

Covers site_theme/assets/javascripts/{tryit,processing,tokenizer,dom,load}.js and tryit/ (panel core, one
module per widget in tryit/widgets/), generator/tryit/stage.py and
generator/render/templates/sections/tryit.md.j2:
- processing.js and tokenizer.js reproduce the shared vectors of tests/fixtures/processing/;
- the JS tokenizer matches the Python one (and the `tokenizers` library, when installed) on a
  corpus, with the real MiniLM vocabulary when the zoo has it;
- every model in models/ runs through its widget on the card's examples and gives what Python
  onnxruntime gives for the same feeds (labels identical, values within 1e-5, or the tolerance
  the card declares for a quantised variant);
- a digit drawn with the mouse is recognised, and the canvas-derived tensor is the one
  catalog/runtime/processing.py makes from the same pixels;
- the page downloads nothing of the runtime until the panel is opened; errors are shown in it;
  it keeps working across mkdocs-material's instant navigation.
Measurements (bytes, time to first prediction, per-inference time beside Python onnxruntime's)
are written to build/tryit-measurements.json; screenshots to build/screenshots/tryit-*.png.
"""
from __future__ import annotations

import functools
import http.server
import json
import re
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelshelf.catalog.runtime import processing as P
from conftest import InstantHandler

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect
ort = pytest.importorskip("onnxruntime")

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "fixtures" / "processing"
SCREENSHOTS = REPO / "build" / "screenshots"
MEASUREMENTS = REPO / "build" / "tryit-measurements.json"
# models/<org>/<name>/card.yaml, or models/<org>/<name>/<version>/card.yaml for a model with several versions.
MODEL_IDS = sorted({"/".join(p.relative_to(REPO / "models").parts[:2])
                    for p in [*(REPO / "models").glob("*/*/card.yaml"), *(REPO / "models").glob("*/*/*/card.yaml")]})
DEFAULT_TOLERANCE = 1e-5
RUNTIME_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")


def _record(key: str, model: str, value: Any) -> None:
    """Add one measurement to build/tryit-measurements.json (read by the closing note, not by tests)."""
    MEASUREMENTS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(MEASUREMENTS.read_text(encoding="utf-8")) if MEASUREMENTS.is_file() else {}
    data.setdefault(key, {})[model] = value
    MEASUREMENTS.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _config(page: Any) -> dict[str, Any]:
    return page.eval_on_selector("#ms-tryit", "n => JSON.parse(n.getAttribute('data-config'))")


def _open_panel(page: Any, site_url: str, model: str) -> dict[str, Any]:
    page.goto(f"{site_url}models/{model}/")
    cfg = _config(page)
    if cfg["tryable"]:
        page.locator(".ms-tryit__open").click()
        page.wait_for_function("() => document.querySelector('#ms-tryit').hasAttribute('data-runs') || "
                               "document.querySelector('#ms-tryit').classList.contains('ms-tryit--failed')", timeout=60_000)
        assert page.locator(".ms-tryit__error").is_hidden(), page.locator(".ms-tryit__error").text_content()
    return cfg


def _runs(page: Any) -> int:
    return int(page.get_attribute("#ms-tryit", "data-runs") or 0)


def _wait_runs(page: Any, count: int) -> None:
    page.wait_for_function(f"() => Number(document.querySelector('#ms-tryit').getAttribute('data-runs') || 0) >= {count}",
                           timeout=30_000)


def _last(page: Any) -> dict[str, Any]:
    return page.evaluate("() => document.querySelector('#ms-tryit').msTryit.last")


def _python_session(built_site: Path, cfg: dict[str, Any]) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(built_site / cfg["model"]["url"]), options, providers=["CPUExecutionProvider"])


def _python_feeds(cfg: dict[str, Any], feeds: dict[str, Any]) -> dict[str, np.ndarray]:
    dtypes = {t["name"]: t["dtype"] for t in cfg["inputs"]}
    return {name: np.asarray(f["data"], dtype=np.float64).astype(dtypes[name]).reshape(f["shape"]) for name, f in feeds.items()}


def _compare(cfg: dict[str, Any], browser: dict[str, Any], python: list[np.ndarray], session: Any, tolerance: float) -> float:
    """Assert the browser's outputs equal Python's: integers identical, floats within `tolerance`; return the max diff."""
    worst = 0.0
    for meta, expected in zip(session.get_outputs(), python):
        got = browser[meta.name]
        assert got["shape"] == list(expected.shape), meta.name
        values = np.asarray(got["data"], dtype=np.float64).reshape(expected.shape)
        if expected.dtype.kind in "iub":
            assert values.astype(np.int64).tolist() == expected.astype(np.int64).tolist(), meta.name
        else:
            diff = float(np.max(np.abs(values - expected))) if expected.size else 0.0
            # 1e-5, or two float32 rounding steps of the value where 1e-5 is finer than float32 can tell
            # (a regression output near 239 has a float32 step of 1.5e-5).
            limit = np.maximum(tolerance, 2 * np.spacing(np.abs(expected).astype(np.float32)).astype(np.float64))
            assert np.all(np.abs(values - expected) <= limit), f"{cfg['id']} {meta.name}: max abs diff {diff} > {tolerance}"
            worst = max(worst, diff)
    return worst


def _python_ms(session: Any, feeds: dict[str, np.ndarray], repeat: int = 30) -> float:
    session.run(None, feeds)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        session.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


# ---------------------------------------------------------------- processing.js and tokenizer.js

def _load_helpers(page: Any, site_url: str) -> None:
    page.goto(site_url)
    page.add_script_tag(url=f"{site_url}assets/javascripts/processing.js")
    page.add_script_tag(url=f"{site_url}assets/javascripts/tokenizer.js")


def _cases(name: str) -> list[dict[str, Any]]:
    return json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))["cases"]


def test_processing_js_reproduces_the_shared_vectors(page: Any, site_url: str, page_log: Any) -> None:
    _load_helpers(page, site_url)
    pre = page.evaluate("""cases => cases.map(c => {
        const P = window.ModelshelfProcessing;
        const r = P.preprocess(c.steps, {data: c.input.data, shape: c.input.shape}, c.layout);
        const t = P.arrangeInput(r.tensor, r.layout, c.model_input.shape, c.model_input.dtype);
        return {shape: t.shape, data: Array.from(t.data)};
    })""", _cases("preprocess"))
    for case, got in zip(_cases("preprocess"), pre):
        assert got == {"shape": case["expected"]["shape"], "data": case["expected"]["data"]}, case["name"]

    post = page.evaluate("""cases => cases.map(c => {
        const P = window.ModelshelfProcessing, feeds = {};
        Object.keys(c.feeds || {}).forEach(k => { feeds[k] = c.feeds[k].data; });
        const r = P.postprocess(c.steps, {data: c.input.data, shape: c.input.shape}, {labels: c.labels, feeds: feeds});
        return {values: {shape: r.values.shape, data: Array.from(r.values.data, Math.fround)},
                top: r.top ? r.top.map(row => row.map(e => ({index: e.index, label: e.label}))) : null,
                mask: r.mask ? Array.from(r.mask.data) : null,
                decision: r.decision ? r.decision.map(d => ({label: d.label, model_label: d.model_label, confident: d.confident})) : null};
    })""", _cases("postprocess"))
    for case, got in zip(_cases("postprocess"), post):
        assert got["values"] == case["expected"]["values"], case["name"]
        assert got["top"] == case["expected"].get("top"), case["name"]
        assert got["mask"] == case["expected"].get("mask"), case["name"]
        assert got["decision"] == case["expected"].get("decision"), case["name"]

    capture = page.evaluate("""cases => cases.map(c => {
        const P = window.ModelshelfProcessing;
        const rgba = c.pattern ? (%s)(c.width, c.height, c.pattern.seed) : Uint8ClampedArray.from(c.rgba);
        const t = P.captureImage(rgba, c.width, c.height, c.spec);
        return {shape: t.shape, data: Array.from(t.data), sum: rgba.reduce((a, v) => a + v, 0),
                work_size: P.workSize(c.width, c.height)};
    })""" % PATTERN_RGBA_JS, _cases("capture"))
    for case, got in zip(_cases("capture"), capture):
        if "pattern" in case:
            assert got["sum"] == case["rgba_sum"], case["name"]
            assert got["work_size"] == case["work_size"], case["name"]
        assert {"shape": got["shape"], "data": got["data"]} == case["expected"], case["name"]
    sizes = json.loads((VECTORS / "capture.json").read_text(encoding="utf-8"))["work_size"]
    assert page.evaluate("cs => cs.map(c => window.ModelshelfProcessing.workSize(c.width, c.height))", sizes) == [c["expected"] for c in sizes]
    assert page_log.errors == []


# The picture of make_vectors.pattern_rgba, in JavaScript (integer arithmetic only, so the bytes are the same).
PATTERN_RGBA_JS = """(width, height, seed) => {
    const out = new Uint8ClampedArray(width * height * 4);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 4; c++) {
        const h = (x * 2971 + y * 7919 + c * 104729 + seed * 15485863) % 65521, noise = (h * h) % 251;
        const tile = (Math.floor(x / 50) + Math.floor(y / 40)) % 3;
        out[(y * width + x) * 4 + c] = c === 3 ? (tile === 0 ? 255 : tile === 1 ? 0 : noise)
            : (x * (c + 1) + y * (3 - c) * 2 + Math.floor(noise / 3)) % 256;
    }
    return out;
}"""


def test_processing_js_reproduces_the_csv_and_audio_vectors(page: Any, site_url: str, page_log: Any) -> None:
    """Issue 9: the browser reads a CSV file, mixes and resamples a recording and finds speech as processing.py does."""
    _load_helpers(page, site_url)
    csv = _cases("csv")
    got = page.evaluate("""cases => cases.map(c => {
        const P = window.ModelshelfProcessing, out = {cells: P.splitCsv(c.text, c.delimiter)};
        try { out.rows = P.parseCsv(c.text, c.features, c.delimiter); } catch (e) { out.error = e.message; out.kind = e.name; }
        return out;
    })""", csv)
    for case, js in zip(csv, got):
        assert js["cells"] == case["cells"], case["name"]
        if "error" in case:
            assert (js.get("kind"), js.get("error")) == ("ProcessingError", case["error"]), case["name"]
        else:
            assert js.get("rows") == case["expected"], case["name"]
    audio = json.loads((VECTORS / "audio.json").read_text(encoding="utf-8"))
    js = page.evaluate("""a => {
        const P = window.ModelshelfProcessing;
        return {
            mono: a.mix_to_mono.map(c => Array.from(P.mixToMono(c.channels.map(x => Float32Array.from(x))))),
            resample: a.resample.map(c => Array.from(P.resample(Float32Array.from(c.input), c.src_rate, c.dst_rate), Math.fround)),
            segments: a.vad_segments.map(c => P.vadSegments(c.probs, c.spec)),
            frames: a.frame_count.map(c => P.frameCount(c.samples, c.frame)),
            limits: [P.MAX_IMAGE_SIDE, P.MAX_IMAGE_BYTES, P.WORK_SIDE, P.MAX_AUDIO_SECONDS]
        };
    }""", audio)
    for case, mono in zip(audio["mix_to_mono"], js["mono"]):
        assert mono == case["expected"], case["name"]
    for case, out in zip(audio["resample"], js["resample"]):
        assert out == case["expected"], case["name"]
    for case, segments in zip(audio["vad_segments"], js["segments"]):
        assert segments == case["expected"], case["name"]
    assert js["frames"] == [c["expected"] for c in audio["frame_count"]]
    assert js["limits"] == [P.MAX_IMAGE_SIDE, P.MAX_IMAGE_BYTES, P.WORK_SIDE, P.MAX_AUDIO_SECONDS]
    assert page_log.errors == []


def _minilm_vocab(built_site: Path) -> Path | None:
    found = sorted(built_site.glob("files/**/vocab.txt"))
    return found[0] if found else None


def test_tokenizer_js_matches_python_on_a_corpus(page: Any, site_url: str, built_site: Path) -> None:
    _load_helpers(page, site_url)
    data = json.loads((VECTORS / "tokenizer.json").read_text(encoding="utf-8"))
    got = page.evaluate("""d => {
        const T = window.ModelshelfTokenizer.WordPieceTokenizer;
        const vocab = new Map(d.vocab.map((t, i) => [t, i]));
        const tok = new T(vocab, d.options);
        return d.cases.map(c => ({tokens: tok.tokenize(c.text), input_ids: tok.encode(c.text).input_ids}));
    }""", data)
    assert got == [{"tokens": c["tokens"], "input_ids": c["input_ids"]} for c in data["cases"]]

    corpus = json.loads((VECTORS / "corpus.json").read_text(encoding="utf-8"))["texts"]
    vocab_file = _minilm_vocab(built_site)
    if vocab_file is None:
        vocab, where = data["vocab"], None
    else:
        vocab, where = None, vocab_file.relative_to(built_site).as_posix()
    js = page.evaluate("""async ([texts, vocab, where, base]) => {
        const T = window.ModelshelfTokenizer.WordPieceTokenizer;
        const map = where ? T.parseVocab(await (await fetch(base + where)).text()) : new Map(vocab.map((t, i) => [t, i]));
        const tok = new T(map, {max_length: 256});
        return texts.map(t => tok.encode(t).input_ids);
    }""", [corpus, vocab, where, site_url])
    ours = (P.WordPieceTokenizer.from_file(vocab_file, max_length=256) if vocab_file
            else P.WordPieceTokenizer({t: i for i, t in enumerate(vocab)}, max_length=256))
    mismatches = [t for t, ids in zip(corpus, js) if ids != ours.encode(t)["input_ids"]]
    assert mismatches == [], f"{len(mismatches)} of {len(corpus)} texts differ, e.g. {mismatches[:3]!r}"
    try:
        import tokenizers
    except ImportError:
        return
    tokenizer_json = vocab_file.with_name("tokenizer.json") if vocab_file else None
    if tokenizer_json is None or not tokenizer_json.is_file():
        found = sorted((REPO / ".modelshelf" / "cache").glob("**/tokenizer.json"))
        tokenizer_json = found[0] if found else None
    if tokenizer_json is not None and vocab_file is not None:
        real = tokenizers.Tokenizer.from_file(str(tokenizer_json))
        real.no_padding()
        real.enable_truncation(256)
        assert [t for t, ids in zip(corpus, js) if ids != real.encode(t).ids] == []


# ---------------------------------------------------------------- the zoo, through its widgets

@pytest.mark.parametrize("model", MODEL_IDS)
def test_every_model_runs_in_the_browser_like_python_onnxruntime(
    page: Any, site_url: str, built_site: Path, page_log: Any, model: str
) -> None:
    cfg = _open_panel(page, site_url, model)
    if not cfg["tryable"]:
        expect(page.locator(".ms-tryit__unavailable")).to_contain_text(cfg["reason"])
        pytest.skip(f"{model} is not tryable: {cfg['reason']}")
    _record("first_prediction_ms", model, float(page.get_attribute("#ms-tryit", "data-first-prediction-ms")))
    session = _python_session(built_site, cfg)
    tolerance = max(DEFAULT_TOLERANCE, cfg.get("tolerance") or 0.0)
    # The panel's own first prediction (an example, a drawing, a default sentence or text) too.
    first = _last(page)
    feeds = _python_feeds(cfg, first["feeds"])
    worst = _compare(cfg, first["outputs"], session.run(None, feeds), session, tolerance)
    if cfg["widget"] == "text" and first["extra"].get("tokens"):
        text = page.locator("#ms-text-a").input_value()
        vocab = built_site / cfg["tokenizer"]["vocab_url"]
        ours = P.WordPieceTokenizer.from_file(vocab, max_length=cfg["tokenizer"]["max_length"]).encode(text)
        assert feeds[cfg["inputs"][0]["name"]].ravel().tolist() == ours["input_ids"]
    if cfg["widget"] == "bytes":
        data = np.frombuffer(page.locator("#ms-paste").input_value().encode("utf-8"), dtype=np.uint8)
        x, layout = P.preprocess(cfg["preprocessing"], data)
        tensor = P.arrange_input(x, layout, cfg["inputs"][0]["shape"], cfg["inputs"][0]["dtype"])
        np.testing.assert_array_equal(feeds[cfg["inputs"][0]["name"]], tensor)
    browser_ms, python_ms = [], []
    if not cfg["examples"]:
        browser_ms.append(first["ms"])
        python_ms.append(_python_ms(session, feeds))
    for i, example in enumerate(cfg["examples"]):
        before = _runs(page)
        page.locator(f'.ms-tryit__examples [data-example="{i}"]').click()
        _wait_runs(page, before + 1)
        last = _last(page)
        assert last["extra"]["example"] == i
        feeds = _python_feeds(cfg, last["feeds"])
        # The browser fed the example itself (arrays go in as they are).
        for name, value in example["inputs"].items():
            if isinstance(value, list):
                np.testing.assert_array_equal(feeds[name], np.asarray(value).astype(feeds[name].dtype), err_msg=name)
        expected = session.run(None, feeds)
        worst = max(worst, _compare(cfg, last["outputs"], expected, session, tolerance))
        # And both agree with what the card promises for this example.
        for name, value in example["outputs"].items():
            if isinstance(value, list):
                got = np.asarray(last["outputs"][name]["data"], dtype=np.float64)
                np.testing.assert_allclose(got, np.asarray(value, dtype=np.float64).ravel(),
                                           atol=max(example["tolerance"], cfg.get("tolerance") or 0), rtol=0, err_msg=name)
        browser_ms.append(last["ms"])
        python_ms.append(_python_ms(session, feeds))
    _record("inference_ms", model, {"browser_median": statistics.median(browser_ms), "python_median": statistics.median(python_ms),
                                    "max_abs_diff": worst, "examples": len(cfg["examples"]), "model_file": cfg["model"]["filename"]})
    assert page_log.errors == []
    assert page_log.unexpected_external_requests() == []


# ---------------------------------------------------------------- drawing a digit

# Strokes in canvas fractions: a vertical "1", a "7" with a bar, a "0" and a "4".
DIGITS = {
    "1": [[(0.5, 0.15), (0.5, 0.85)]],
    "7": [[(0.25, 0.2), (0.72, 0.2), (0.5, 0.5), (0.42, 0.85)], [(0.38, 0.52), (0.62, 0.52)]],
    "0": [[(0.5, 0.15), (0.3, 0.3), (0.28, 0.6), (0.5, 0.85), (0.7, 0.6), (0.7, 0.3), (0.5, 0.15)]],
    "4": [[(0.55, 0.15), (0.3, 0.6), (0.75, 0.6)], [(0.6, 0.35), (0.6, 0.85)]],
}


def _draw(page: Any, strokes: list[list[tuple[float, float]]]) -> None:
    box = page.locator("canvas.ms-draw").bounding_box()
    for stroke in strokes:
        points = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=12)
        page.mouse.up()


@pytest.mark.skipif("modelshelf/digits-cnn" not in MODEL_IDS, reason="the digits CNN is not in models/")
def test_a_digit_drawn_with_the_mouse_is_recognised(page: Any, site_url: str, built_site: Path, page_log: Any) -> None:
    cfg = _open_panel(page, site_url, "modelshelf/digits-cnn")
    session = _python_session(built_site, cfg)
    for digit, strokes in DIGITS.items():
        page.get_by_role("button", name="Clear").click()
        before = _runs(page)
        _draw(page, strokes)
        _wait_runs(page, before + len(strokes))
        page.wait_for_function("() => document.querySelector('#ms-tryit').getAttribute('data-saliency') === 'ready'")
        last = _last(page)
        assert last["post"]["top"][0][0]["label"] == digit
        expect(page.locator(".ms-tryit__label")).to_have_text(digit)
        # The same pixels through catalog/runtime/processing.py give the same tensor, and onnxruntime the same class.
        pixels = page.evaluate("""() => { const c = document.querySelector('canvas.ms-draw');
            return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }""")
        size = int(round((len(pixels) // 4) ** 0.5))
        raw = P.capture_image(np.asarray(pixels, dtype=np.uint8), size, size, cfg["capture"])
        x, layout = P.preprocess(cfg["preprocessing"], raw, "HWC")
        tensor = P.arrange_input(x, layout, cfg["inputs"][0]["shape"], cfg["inputs"][0]["dtype"])
        browser_tensor = _python_feeds(cfg, last["feeds"])["image"]
        np.testing.assert_array_equal(browser_tensor, tensor)
        logits = session.run(None, {"image": tensor})[0]
        assert str(int(np.argmax(logits))) == digit
        _compare(cfg, last["outputs"], [logits], session, DEFAULT_TOLERANCE)
        if digit == "7":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.locator("#ms-tryit").screenshot(path=str(SCREENSHOTS / "tryit-image-drawn.png"))
    assert page_log.errors == []


# ---------------------------------------------------------------- light pages, errors, navigation

def _first_tabular(models: list[str]) -> str:
    return "modelshelf/iris-logreg" if "modelshelf/iris-logreg" in models else models[0]


LIGHT_PAGES = [m for m in ("modelshelf/iris-logreg", "modelshelf/digits-cnn", "sentence-transformers/all-minilm-l6-v2",
                            "google/magika-standard-v3-3") if m in MODEL_IDS] or MODEL_IDS[:1]


@pytest.mark.parametrize("model", LIGHT_PAGES)
def test_the_runtime_is_downloaded_only_when_the_panel_opens(browser: Any, site_url: str, model: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    client = context.new_cdp_session(page)
    client.send("Network.enable")
    client.send("Network.setCacheDisabled", {"cacheDisabled": True})
    sizes: dict[str, int] = {}
    urls: dict[str, str] = {}
    client.on("Network.responseReceived", lambda e: urls.__setitem__(e["requestId"], e["response"]["url"]))
    client.on("Network.loadingFinished", lambda e: sizes.__setitem__(e["requestId"], int(e["encodedDataLength"])))
    try:
        page.goto(f"{site_url}models/{model}/", wait_until="networkidle")
        before = {urls[k]: v for k, v in sizes.items() if k in urls}
        assert not [u for u in before if u.endswith(RUNTIME_FILES) or u.endswith(".onnx") or "processing.js" in u]
        page.locator(".ms-tryit__open").click()
        page.wait_for_selector("#ms-tryit[data-runs]", timeout=60_000)
        page.wait_for_load_state("networkidle")
        after = {urls[k]: v for k, v in sizes.items() if k in urls}
        loaded = [u.rsplit("/", 1)[-1] for u in after if u not in before]
        for name in RUNTIME_FILES:
            assert name in loaded
        _record("page_bytes", model, {"before_open": sum(before.values()), "after_open": sum(after.values()),
                                      "opened": {u.rsplit("/", 1)[-1]: after[u] for u in after if u not in before}})
    finally:
        context.close()


def test_a_runtime_that_cannot_load_is_reported_in_the_panel(browser: Any, site_url: str) -> None:
    context = browser.new_context()
    context.route(re.compile(r".*\.wasm$"), lambda route: route.abort())
    page = context.new_page()
    try:
        page.goto(f"{site_url}models/{_first_tabular(MODEL_IDS)}/")
        page.locator(".ms-tryit__open").click()
        error = page.locator(".ms-tryit__error")
        expect(error).to_be_visible(timeout=30_000)
        expect(error).to_contain_text("WebAssembly runtime could not be started")
        expect(error.get_by_role("link", name=re.compile("Download"))).to_be_visible()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#ms-tryit").screenshot(path=str(SCREENSHOTS / "tryit-error-wasm.png"))
    finally:
        context.close()


@pytest.mark.skipif("modelshelf/digits-cnn" not in MODEL_IDS, reason="the digits CNN is not in models/")
def test_wrong_and_oversized_uploads_are_explained(page: Any, site_url: str, tmp_path: Path) -> None:
    _open_panel(page, site_url, "modelshelf/digits-cnn")
    text = tmp_path / "notes.txt"
    text.write_text("not a picture", encoding="utf-8")
    page.set_input_files("#ms-upload", str(text))
    expect(page.locator(".ms-tryit__error")).to_contain_text("not an image this panel can read")
    # A PNG of 5000 x 1 pixels is small on disk but too large a side to take.
    import struct
    import zlib

    row = b"\x00" + b"\xff" * 5000
    png = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 5000, 1, 8, 0, 0, 0, 0))
           + _chunk(b"IDAT", zlib.compress(row)) + _chunk(b"IEND", b""))
    wide = tmp_path / "wide.png"
    wide.write_bytes(png)
    page.set_input_files("#ms-upload", str(wide))
    expect(page.locator(".ms-tryit__error")).to_contain_text("The image is too large: 5000 × 1 pixels")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 1400})  # the whole panel, clear of the sticky header
    page.locator("#ms-tryit").screenshot(path=str(SCREENSHOTS / "tryit-error-upload.png"))


def _png_rgba(rgba: np.ndarray) -> bytes:
    """An 8-bit RGBA PNG of an H x W x 4 uint8 array."""
    import struct
    import zlib

    h, w = rgba.shape[:2]
    raw = b"".join(b"\x00" + rgba[y].tobytes() for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))


def _canvas_rgba(page: Any, png: bytes) -> np.ndarray:
    """The RGBA bytes the image widget reads from a picture: decoded with its options, drawn at native size."""
    import base64

    data = page.evaluate("""async b64 => {
        const bytes = Uint8Array.from(atob(b64), ch => ch.charCodeAt(0));
        const bitmap = await createImageBitmap(new Blob([bytes], {type: 'image/png'}),
            {premultiplyAlpha: 'none', colorSpaceConversion: 'none', imageOrientation: 'from-image'});
        const c = document.createElement('canvas');
        c.width = bitmap.width; c.height = bitmap.height;
        const ctx = c.getContext('2d', {willReadFrequently: true});
        ctx.drawImage(bitmap, 0, 0);
        const px = ctx.getImageData(0, 0, c.width, c.height).data;
        let s = '';
        for (let i = 0; i < px.length; i += 8192) s += String.fromCharCode.apply(null, px.subarray(i, i + 8192));
        return btoa(s);
    }""", base64.b64encode(png).decode())
    return np.frombuffer(base64.b64decode(data), dtype=np.uint8)


@pytest.mark.skipif("modelshelf/digits-cnn" not in MODEL_IDS, reason="the digits CNN is not in models/")
def test_an_uploaded_large_picture_gives_what_python_gives(page: Any, site_url: str, built_site: Path, page_log: Any,
                                                          tmp_path: Path) -> None:
    """Issue 9: a picture over 512 px a side is decoded at its own size and shrunk inside captureImage, so the
    browser's tensor is the one catalog/runtime/processing.py makes from the same file."""
    from fixtures.processing.make_vectors import pattern_rgba

    cfg = _open_panel(page, site_url, "modelshelf/digits-cnn")
    session = _python_session(built_site, cfg)
    opaque = pattern_rgba(700, 530, 1)
    opaque[:, :, 3] = 255
    for name, rgba in (("opaque-700x530.png", opaque), ("alpha-600x1300.png", pattern_rgba(600, 1300, 2))):
        png = tmp_path / name
        png.write_bytes(_png_rgba(rgba))
        h, w = rgba.shape[:2]
        before = _runs(page)
        page.set_input_files("#ms-upload", str(png))
        expect(page.locator("#ms-tryit")).to_have_attribute("data-runs", str(before + 1), timeout=30_000)
        last = _last(page)
        assert last["extra"]["source"] == "upload"
        canvas = _canvas_rgba(page, png.read_bytes())
        if name.startswith("opaque"):
            # An opaque picture reaches the canvas byte for byte.
            assert canvas.tolist() == rgba.ravel().tolist()
        else:
            # A canvas stores colour premultiplied by alpha: partly transparent pixels come back rounded (fully
            # transparent ones as 0, 0, 0, 0, which composites to the same white). Recorded, not asserted.
            got = canvas.reshape(h, w, 4)
            part = (rgba[:, :, 3] > 0) & (rgba[:, :, 3] < 255)
            diff = np.abs(got.astype(int) - rgba.astype(int))[:, :, :3].max(axis=2)
            over = lambda px: px[..., :3] * (px[..., 3:] / 255.0) + 255.0 * (1.0 - px[..., 3:] / 255.0)  # noqa: E731
            from_file = P.capture_image(rgba, w, h, cfg["capture"])
            _record("premultiplied_alpha", "modelshelf/digits-cnn", {
                "partly_transparent_pixels": int(part.sum()), "changed": int((diff[part] > 0).sum()),
                "max_byte_diff": int(diff[part].max()), "alpha_changed": int((got[:, :, 3] != rgba[:, :, 3]).sum()),
                "max_composited_diff": float(np.abs(over(got.astype(np.float64)) - over(rgba.astype(np.float64))).max()),
                "raw_values_differing_from_the_file": int((P.capture_image(canvas, w, h, cfg["capture"]) != from_file).sum()),
                "raw_max_diff": float(np.abs(P.capture_image(canvas, w, h, cfg["capture"]) - from_file).max())})
        raw = P.capture_image(canvas, w, h, cfg["capture"])
        assert last["extra"]["raw"] == raw.ravel().tolist(), name
        x, layout = P.preprocess(cfg["preprocessing"], raw, "HWC")
        tensor = P.arrange_input(x, layout, cfg["inputs"][0]["shape"], cfg["inputs"][0]["dtype"])
        np.testing.assert_array_equal(_python_feeds(cfg, last["feeds"])["image"], tensor)
        _compare(cfg, last["outputs"], session.run(None, {"image": tensor}), session, DEFAULT_TOLERANCE)
        expect(page.locator(".ms-tryit__error")).to_be_hidden()
    # A refused upload leaves no answer behind.
    bad = tmp_path / "notes.txt"
    bad.write_text("not a picture", encoding="utf-8")
    page.set_input_files("#ms-upload", str(bad))
    expect(page.locator(".ms-tryit__error")).to_contain_text("not an image this panel can read")
    expect(page.locator(".ms-tryit__result")).to_be_empty()
    assert _last(page) is None
    assert page_log.errors == []


@pytest.mark.skipif("modelshelf/iris-logreg" not in MODEL_IDS, reason="the iris model is not in models/")
def test_a_csv_file_predicts_every_row_like_python(page: Any, site_url: str, built_site: Path, page_log: Any,
                                                  tmp_path: Path) -> None:
    """Issue 9: a CSV file (header in another order, quoted cells, CRLF, BOM) is read as parse_csv reads it and all its
    rows are predicted in one batch, as onnxruntime predicts them in Python."""
    cfg = _open_panel(page, site_url, "modelshelf/iris-logreg")
    names = [f["name"] for f in cfg["features"]]
    assert cfg["inputs"][0]["shape"][0] is None
    header = list(reversed(names))
    rows = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]]
    text = "\ufeff" + ",".join(f'"{n}"' for n in header) + "\r\n" + "".join(
        ",".join(str(v) for v in reversed(r)) + "\r\n" for r in rows)
    path = tmp_path / "flowers.csv"
    path.write_text(text, encoding="utf-8", newline="")
    parsed = P.parse_csv(path.read_text(encoding="utf-8-sig"), names)
    assert parsed == rows
    before = _runs(page)
    page.set_input_files("#ms-csv", str(path))
    expect(page.locator("#ms-tryit")).to_have_attribute("data-runs", str(before + 1), timeout=30_000)
    last = _last(page)
    feeds = _python_feeds(cfg, last["feeds"])
    x, layout = P.preprocess(cfg["preprocessing"], np.asarray(parsed))
    tensor = P.arrange_input(x, layout, cfg["inputs"][0]["shape"], cfg["inputs"][0]["dtype"])
    np.testing.assert_array_equal(feeds[cfg["inputs"][0]["name"]], tensor)
    assert list(tensor.shape) == [3, 4]
    session = _python_session(built_site, cfg)
    _compare(cfg, last["outputs"], session.run(None, feeds), session, DEFAULT_TOLERANCE)
    assert last["extra"]["csv"] == {"file": "flowers.csv", "rows": 3, "columns": 4}
    assert len(last["extra"]["answers"]) == 3
    expect(page.locator("table.ms-csv-rows tbody tr")).to_have_count(3)
    expect(page.locator(".ms-csv-rows__note")).to_contain_text("3 rows")
    assert [page.locator(f"#ms-f-{i}").input_value() for i in range(4)] == [str(v) for v in rows[0]]
    assert page.evaluate("() => typeof document.querySelector('#ms-tryit').msTryit.readCsv") == "function"
    # A bad cell: the error names its row and column, as processing.py's message does.
    bad = tmp_path / "bad.csv"
    bad.write_text(",".join(names) + "\n5.1,3.5,1.4,0.2\n6.2,x,4.3,1.3\n", encoding="utf-8")
    with pytest.raises(P.ProcessingError) as caught:
        P.parse_csv(bad.read_text(encoding="utf-8"), names)
    page.set_input_files("#ms-csv", str(bad))
    expect(page.locator(".ms-tryit__error")).to_contain_text(f"bad.csv: {caught.value}.")
    expect(page.locator(".ms-tryit__error")).to_contain_text("row 3, column 2")
    assert page_log.errors == []


@pytest.mark.skipif("sentence-transformers/all-minilm-l6-v2" not in MODEL_IDS, reason="MiniLM is not in models/")
def test_a_text_file_is_embedded_like_python(page: Any, site_url: str, built_site: Path, page_log: Any, tmp_path: Path) -> None:
    """Issue 9: a UTF-8 text file (its byte-order mark dropped) becomes sentence A and is embedded alone."""
    cfg = _open_panel(page, site_url, "sentence-transformers/all-minilm-l6-v2")
    text = "Café naïve: a text file\nwith two lines."
    path = tmp_path / "note.txt"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    before = _runs(page)
    page.set_input_files("#ms-textfile", str(path))
    expect(page.locator("#ms-tryit")).to_have_attribute("data-runs", str(before + 1), timeout=30_000)
    expect(page.locator("#ms-text-a")).to_have_value(text)
    last = _last(page)
    assert last["extra"]["text"] == text and last["extra"]["file"] == "note.txt"
    vocab = built_site / cfg["tokenizer"]["vocab_url"]
    ours = P.WordPieceTokenizer.from_file(vocab, max_length=cfg["tokenizer"]["max_length"]).encode(text)
    feeds = _python_feeds(cfg, last["feeds"])
    assert feeds[cfg["inputs"][0]["name"]].ravel().tolist() == ours["input_ids"]
    session = _python_session(built_site, cfg)
    # A quantised variant in the browser: within the tolerance its card declares, as for the examples.
    _compare(cfg, last["outputs"], session.run(None, feeds), session, max(DEFAULT_TOLERANCE, cfg.get("tolerance") or 0.0))
    page.set_input_files("#ms-textfile", files=[{"name": "latin1.txt", "mimeType": "text/plain", "buffer": b"caf\xe9"}])
    expect(page.locator(".ms-tryit__error")).to_contain_text("latin1.txt is not UTF-8 text")
    assert page_log.errors == []


def _chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def test_the_panel_survives_instant_navigation(browser: Any, built_site: Path) -> None:
    """With navigation.instant, a second model page reached by a link (no reload) gets a working
    panel, and the runtime loaded for the first page is reused."""
    tabular = [m for m in MODEL_IDS if m.startswith("modelshelf/") and "cnn" not in m]
    if len(tabular) < 2:
        pytest.skip("needs two tabular models")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(InstantHandler, directory=str(built_site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    context = browser.new_context()
    requests: list[str] = []
    page = context.new_page()
    page.on("request", lambda r: requests.append(r.url))
    try:
        first, second = tabular[0], tabular[1]
        page.goto(f"{base}models/{first}/")
        page.evaluate("() => { window.__sameDocument = true; }")
        page.locator(".ms-tryit__open").click()
        page.wait_for_selector("#ms-tryit[data-runs]", timeout=60_000)
        # Follow an in-site link as a visitor would: instant navigation swaps the page without a reload.
        page.evaluate("""href => { const a = document.createElement('a'); a.href = href; a.textContent = 'next';
            document.querySelector('.md-content').appendChild(a); a.click(); }""", f"{base}models/{second}/")
        page.wait_for_function("id => { const c = document.querySelector('#ms-tryit'); return c && c.getAttribute('data-config').includes(id); }",
                               arg=second)
        assert page.evaluate("() => window.__sameDocument") is True  # no reload happened
        page.locator(".ms-tryit__open").click()
        page.wait_for_selector("#ms-tryit[data-runs]", timeout=60_000)
        assert page.locator(".ms-tryit__error").is_hidden()
        assert second in page.evaluate("() => document.querySelector('#ms-tryit').msTryit.last && location.pathname")
        assert sum(u.endswith("ort.wasm.min.js") for u in requests) == 1
        assert sum(u.endswith(".wasm") for u in requests) == 1
    finally:
        context.close()
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- screenshots of each widget kind

def test_screenshots_of_each_widget_kind(page: Any, site_url: str) -> None:
    """One model per widget kind, after its first prediction; build/screenshots/tryit-<widget>.png."""
    seen: set[str] = set()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for model in MODEL_IDS:
        page.goto(f"{site_url}models/{model}/")
        cfg = _config(page)
        kind = cfg["widget"] if cfg["tryable"] else "unavailable"
        if kind in seen:
            continue
        seen.add(kind)
        if cfg["tryable"]:
            _open_panel(page, site_url, model)
            if kind == "image":
                page.wait_for_function("() => document.querySelector('#ms-tryit').getAttribute('data-saliency') === 'ready'")
        page.locator("#ms-tryit").scroll_into_view_if_needed()
        page.locator("#ms-tryit").screenshot(path=str(SCREENSHOTS / f"tryit-{kind}.png"))
    assert seen


# ---------------------------------------------------------------- the audio widget (streaming VAD)

VAD = "snakers4/silero-vad"


def _eval_module() -> Any:
    """models/snakers4/silero-vad/[<version>/]eval.py, for its formant speech synthesiser."""
    import importlib.util

    # models/<org>/<name>/eval.py, or <version>/eval.py of the newest version for a model with several.
    found = [REPO / "models" / VAD / "eval.py"] if (REPO / "models" / VAD / "eval.py").is_file() else sorted(
        (REPO / "models" / VAD).glob("*/eval.py"), key=lambda p: tuple(int(n) if n.isdigit() else 0 for n in p.parent.name.split(".")))
    spec = importlib.util.spec_from_file_location("silero_vad_eval", found[-1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _write_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> np.ndarray:
    """16-bit PCM mono WAV; returns the float32 samples a decoder reads back (int16 / 32768)."""
    import wave

    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return (pcm.astype(np.float32) / 32768).astype(np.float32)


def _speech_scene(seconds: float = 10.0) -> np.ndarray:
    """Silence, a synthetic male voice, silence, a synthetic female voice, silence (16 kHz)."""
    ev = _eval_module()
    rng = np.random.default_rng(7)
    x = np.zeros(int(seconds * 16000))
    for start, length, f0 in ((1.0, 2.0, 120.0), (5.0, 2.5, 210.0)):
        a = int(start * 16000)
        x[a:a + int(length * 16000)] += 0.5 * ev.speech(rng, length, f0)
    return x


def _python_vad(session: Any, samples: np.ndarray, spec: dict[str, Any]) -> tuple[list[float], float]:
    """Frame by frame as eval.py and silero_vad stream it (the last frame zero-padded); (probs, ms)."""
    frame, ctx = spec["frame"], spec["context"]
    padded = np.concatenate([samples, np.zeros((-len(samples)) % frame, np.float32)])
    state = np.zeros(spec["state_shape"], np.float32)
    context = np.zeros(ctx, np.float32)
    sr = np.array(spec["sample_rate"], np.int64)
    probs = []
    t0 = time.perf_counter()
    for k in range(len(padded) // frame):
        x = np.concatenate([context, padded[k * frame:(k + 1) * frame]])[None, :]
        out, state = session.run(None, {spec["input"]: x, spec["state_input"]: state, spec["rate_input"]: sr})
        probs.append(float(out[0, 0]))
        context = x[0, -ctx:]
    return probs, (time.perf_counter() - t0) * 1000


def _python_segments(probs: list[float], spec: dict[str, Any]) -> list[list[float]]:
    """The segment rule of catalog/runtime/processing.py, which the panel's P.vadSegments mirrors."""
    return P.vad_segments(probs, spec)


@pytest.mark.skipif(VAD not in MODEL_IDS, reason="Silero VAD is not in models/")
def test_an_audio_file_runs_frame_by_frame_like_python_onnxruntime(
    page: Any, site_url: str, built_site: Path, page_log: Any, tmp_path: Path
) -> None:
    cfg = _open_panel(page, site_url, VAD)
    assert cfg["widget"] == "audio"
    spec = cfg["audio"]
    assert (spec["sample_rate"], spec["frame"], spec["context"], spec["state_shape"], spec["threshold"]) == (16000, 512, 64, [2, 1, 128], 0.5)
    wav = tmp_path / "speech-10s.wav"
    samples = _write_wav(wav, _speech_scene(10.0))  # 16 kHz already: the browser does not resample
    before = _runs(page)
    page.set_input_files("#ms-audio", str(wav))
    _wait_runs(page, before + 1)
    assert page.locator(".ms-tryit__error").is_hidden(), page.locator(".ms-tryit__error").text_content()
    audio = page.evaluate("() => document.querySelector('#ms-tryit').msTryit.last.extra.audio")
    session = _python_session(built_site, cfg)
    expected, python_ms = _python_vad(session, samples, spec)
    assert audio["frames"] == len(expected) == int(np.ceil(len(samples) / 512))
    diff = np.abs(np.asarray(audio["probs"]) - np.asarray(expected))
    assert float(diff.max()) <= 1e-4, f"max abs diff {diff.max()}"
    segments = _python_segments(expected, spec)
    assert len(audio["segments"]) == len(segments)
    assert np.allclose(np.asarray(audio["segments"]).reshape(-1, 2), np.asarray(segments).reshape(-1, 2), atol=1e-9, rtol=0)
    # The synthetic voices (1-3 s and 5-7.5 s) are found, the silence around them is not speech.
    assert segments and all(0.9 <= s[0] and s[1] <= 7.9 for s in segments)
    assert any(s[0] < 1.5 and s[1] > 2.0 for s in segments) and any(s[0] < 5.5 and s[1] > 6.5 for s in segments)
    # What the visitor sees: the chart with its threshold line and shaded segments, and the list.
    expect(page.locator("svg.ms-vad .ms-vad__threshold")).to_have_count(1)
    expect(page.locator("svg.ms-vad .ms-vad__speech")).to_have_count(len(segments))
    expect(page.locator(".ms-vad__segments li")).to_have_count(len(segments))
    expect(page.locator(".ms-tryit__timing")).to_contain_text("frames")
    _record("audio_10s_ms", VAD, {"browser_total": audio["total_ms"], "browser_decode": audio["decode_ms"],
                                  "browser_inference": audio["run_ms"], "python_frame_loop": python_ms,
                                  "frames": audio["frames"], "max_abs_diff": float(diff.max())})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 1400})
    page.locator("#ms-tryit").scroll_into_view_if_needed()
    page.locator("#ms-tryit").screenshot(path=str(SCREENSHOTS / "tryit-audio-file.png"))
    # The generic editor still runs the card's example after an audio file.
    before = _runs(page)
    page.locator('.ms-tryit__examples [data-example="0"]').click()
    _wait_runs(page, before + 1)
    last = _last(page)
    assert last["extra"]["example"] == 0
    assert last["outputs"]["output"]["data"][0] == pytest.approx(cfg["examples"][0]["outputs"]["output"][0][0], abs=1e-4)
    assert page_log.errors == []
    assert page_log.unexpected_external_requests() == []


@pytest.mark.skipif(VAD not in MODEL_IDS, reason="Silero VAD is not in models/")
def test_wrong_and_too_long_audio_files_are_explained(page: Any, site_url: str, built_site: Path, tmp_path: Path) -> None:
    _open_panel(page, site_url, VAD)
    text = tmp_path / "notes.wav"
    text.write_text("not a recording", encoding="utf-8")
    page.set_input_files("#ms-audio", str(text))
    expect(page.locator(".ms-tryit__error")).to_contain_text("not audio this panel can read")
    long = tmp_path / "long.wav"
    _write_wav(long, np.zeros(61 * 16000))
    page.set_input_files("#ms-audio", str(long))
    expect(page.locator(".ms-tryit__error")).to_contain_text("The recording is too long: 61.0 s")
    # A 44.1 kHz stereo file is mixed down and resampled to 16 kHz, then runs (and clears the error).
    import wave

    stereo = tmp_path / "stereo-44k.wav"
    t = np.arange(int(1.5 * 44100)) / 44100
    tone = (0.2 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(str(stereo), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(np.stack([tone, tone], axis=1).tobytes())
    before = _runs(page)
    page.set_input_files("#ms-audio", str(stereo))
    _wait_runs(page, before + 1)
    audio = page.evaluate("() => document.querySelector('#ms-tryit').msTryit.last.extra.audio")
    assert (audio["source_rate"], audio["channels"], audio["frames"]) == (44100, 2, int(np.ceil(1.5 * 16000 / 512)))
    assert page.locator(".ms-tryit__error").is_hidden()
    # Issue 9: the same samples as catalog/runtime (mix_to_mono, then resample), so the same probabilities and segments.
    cfg = _config(page)
    decoded = tone.astype(np.float32) / 32768
    samples = P.resample(P.mix_to_mono([decoded, decoded]), 44100, 16000).astype(np.float32)
    expected, _ = _python_vad(_python_session(built_site, cfg), samples, cfg["audio"])
    assert len(expected) == audio["frames"]
    assert float(np.max(np.abs(np.asarray(audio["probs"]) - np.asarray(expected)))) <= 1e-4
    assert audio["segments"] == P.vad_segments(audio["probs"], cfg["audio"])
