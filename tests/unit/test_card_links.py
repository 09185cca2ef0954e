"""Model pages link like a hub's (issue 11): tags and datasets to the filtered search, project datasets to their
reference, `base_model` to its page when the catalog holds it (generator/render/pages.py `card_links`)."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from modelshelf.catalog.model import Dataset
from modelshelf.generator.render.pages import card_links

ROOT = "../../../"


def _entry(**card: Any) -> Any:
    fields = {"id": "acme/tiny-bert-onnx", "tags": (), "datasets": (), "base_model": None, **card}
    return SimpleNamespace(card=SimpleNamespace(**fields))


def test_tags_link_to_the_search_filtered_on_the_tag() -> None:
    links = card_links(_entry(tags=("nlp", "a b/c")), ROOT, {})
    assert links["tags"] == [{"text": "nlp", "href": "../../../?tag=nlp"}, {"text": "a b/c", "href": "../../../?tag=a%20b%2Fc"}]


def test_datasets_link_to_the_search_and_to_where_they_are_described() -> None:
    links = card_links(_entry(datasets=(Dataset(id="modelshelf/eval-sentences-200", split="test"),
                                        Dataset(id="sklearn/iris"),
                                        Dataset(id="glue/sst2", url="https://example.org/sst2"))), ROOT, {})
    first, builtin, other = links["datasets"]
    assert first["href"] == "../../../?dataset=modelshelf%2Feval-sentences-200"
    assert first["about_href"] == "#metrics" and first["source_href"] is None  # made by the card's evaluation script
    assert builtin["about_href"] == "../../../reference/datasets/"
    assert other["about_href"] is None and other["source_href"] == "https://example.org/sst2"


def test_base_model_links_to_its_page_when_the_catalog_holds_it() -> None:
    pages = {"acme/tiny-bert": "models/acme/tiny-bert/"}
    assert card_links(_entry(base_model="Acme/Tiny-BERT"), ROOT, pages)["base_model"] == {
        "text": "Acme/Tiny-BERT", "href": "../../../models/acme/tiny-bert/"}
    assert card_links(_entry(base_model="google/bert-base"), ROOT, pages)["base_model"] == {
        "text": "google/bert-base", "href": None}


def test_a_base_model_named_like_the_model_itself_is_not_a_link_to_itself() -> None:
    """Regression: sentence-transformers/all-minilm-l6-v2 keeps its upstream's name (all-MiniLM-L6-v2) as base_model."""
    pages = {"acme/tiny-bert-onnx": "models/acme/tiny-bert-onnx/"}
    assert card_links(_entry(base_model="ACME/tiny-bert-onnx"), ROOT, pages)["base_model"]["href"] is None
