"""The build gives a recipe the evaluation split (issue 10): evaluation_split.json beside the recipe.

The zoo's iris recipe, changed to train on the rows the file names instead of calling
train_test_split itself, is built in a throwaway project. The file holds exactly the rows the
evaluator uses (its test rows are the evaluator's X_test, row for row), the recipe's cache key
covers it, the page says the recipe was given the split, and `modelshelf lock` records it.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from modelshelf.generator.evaluate import splits
from modelshelf.generator.site.build import SiteBuildFailed, build_site
from test_build import REPO, make_project
from test_lock import _lock

IRIS = REPO / "models" / "modelshelf" / "iris-logreg"
SPLIT_READER = '''
    given = json.loads((Path(__file__).parent / "evaluation_split.json").read_text())
    (outdir / "received.json").write_text(json.dumps({"train": given["train"], "test": given["test"]}))
    X_train, X_test = X[given["train"]], X[given["test"]]
    y_train, y_test = y[given["train"]], y[given["test"]]
'''


def _project(tmp_path: Path) -> Path:
    folder = tmp_path / "src" / "modelshelf" / "iris-logreg"
    shutil.copytree(IRIS, folder)
    recipe = (folder / "recipe.py").read_text()
    start = recipe.index("    X_train, X_test, y_train, y_test = train_test_split(")
    end = recipe.index("\n", recipe.index("random_state=SEED)", start)) + 1
    (folder / "recipe.py").write_text(recipe[:start] + SPLIT_READER + recipe[end:])
    return make_project(tmp_path / "proj", tmp_path / "src", cache=tmp_path / "cache")


def test_the_recipe_is_given_the_rows_the_build_evaluates(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = _project(tmp_path)
    caplog.set_level(logging.INFO)
    site = build_site(config, site_dir=tmp_path / "site")
    assert "running recipe of modelshelf/iris-logreg" in caplog.text
    received = json.loads(next((tmp_path / "cache" / "recipes").rglob("received.json")).read_text())
    _, X, y = splits.load_rows("sklearn/iris")
    _, X_test, _, _ = splits.split_rows(X, y, 0.3, 0, True)
    assert np.array_equal(X[received["test"]], X_test), "the test rows are the evaluator's, row for row"
    assert sorted(received["train"] + received["test"]) == list(range(150)) and len(received["test"]) == 45
    page = (site / "models" / "modelshelf" / "iris-logreg" / "index.html").read_text()
    assert "The build gave the recipe this split (<code>evaluation_split.json</code>" in page
    assert "accuracy" in page  # the claims still verify: the card's split is the recipe's

    # The split is an input of the recipe: another split is another key, so the recipe runs again.
    card = config.parent / "models" / "modelshelf" / "iris-logreg" / "card.yaml"
    caplog.clear()
    card.write_text(card.read_text().replace("split: {test_size: 0.3, seed: 0, stratify: true}",
                                             "split: {test_size: 0.3, seed: 1, stratify: true}"))
    with pytest.raises(SiteBuildFailed):  # the card's claims were measured on seed 0; what matters is that it ran again
        build_site(config, site_dir=tmp_path / "site2")
    assert "running recipe of modelshelf/iris-logreg" in caplog.text


def test_lock_records_that_the_recipe_was_given_the_split(tmp_path: Path) -> None:
    config = _project(tmp_path)
    assert _lock(config)[0] == 0
    entry = json.loads((config.parent / "modelshelf.lock").read_text())["versions"]["modelshelf/iris-logreg@1.0.0"]
    assert entry["given"] == ["evaluation_split.json"]
    shutil.rmtree(tmp_path / "cache")
    site = build_site(config, site_dir=tmp_path / "site")  # from the store: the page still says so
    assert "The build gave the recipe this split" in (site / "models" / "modelshelf" / "iris-logreg" / "index.html").read_text()


def test_a_zoo_recipe_made_before_the_split_was_given_does_not_claim_it(tmp_path: Path) -> None:
    site = build_site(REPO / "mkdocs.yml", site_dir=tmp_path / "site")
    page = (site / "models" / "modelshelf" / "iris-logreg" / "index.html").read_text()
    assert "The build gave the recipe this split" not in page, "the locked 1.0.0 was made before; the lock says so"
