"""The build end to end: real cards in, a site out; bad cards in, nothing out."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelshelf.generator.cli import main
from modelshelf.generator.site.build import SiteBuildFailed, build_site

REPO = Path(__file__).resolve().parents[2]


def make_project(root: Path, models: Path | None = None, *, cache: Path | None = None) -> Path:
    """A throwaway project that uses the repo's docs, theme and node_modules but its own models folder."""
    text = (REPO / "mkdocs.yml").read_text()
    text = text.replace("docs_dir: docs", f"docs_dir: {REPO / 'docs'}")
    text = text.replace("custom_dir: site_theme", f"custom_dir: {REPO / 'site_theme'}")
    text = text.replace("      models_dir: models", f"      models_dir: models\n      node_modules: {REPO / 'node_modules'}"
                        + (f"\n      cache_dir: {cache}" if cache else ""))
    root.mkdir(parents=True, exist_ok=True)
    (root / "mkdocs.yml").write_text(text)
    if models is not None:
        shutil.copytree(models, root / "models")
    else:
        (root / "models").mkdir()
    return root / "mkdocs.yml"


@pytest.fixture(scope="module")
def real_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real catalog of models/, built once for this module (recipes come from the repo's cache)."""
    out = tmp_path_factory.mktemp("real") / "site"
    return build_site(REPO / "mkdocs.yml", site_dir=out)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_real_catalog_pages_and_catalog_json(real_site: Path) -> None:
    catalog = json.loads((real_site / "catalog.json").read_text())
    ids = {m["id"] for m in catalog["models"]}
    assert {"modelshelf/iris-logreg", "modelshelf/digits-cnn", "modelshelf/diabetes-ridge"} <= ids
    for model in catalog["models"]:
        page = real_site / model["page"] / "index.html"
        assert page.is_file(), model["page"]
        html = page.read_text()
        for f in model["files"]:
            served = real_site / f["url"]
            assert served.is_file(), f["url"]
            assert served.stat().st_size == f["size"]
            assert sha256(served) == f["sha256"], f"{f['url']} does not match catalog.json"
            assert f["sha256"] in html, f"the page of {model['id']} does not show the SHA-256 of {f['name']}"
            assert f["sha256"][:12] in f["url"], "artifact URLs carry a content hash (Pages caches for 10 minutes)"


def test_search_data_is_consistent(real_site: Path) -> None:
    docs = json.loads((real_site / "search" / "docs.json").read_text())["models"]
    index = json.loads((real_site / "search" / "index.json").read_text())
    assert index["version"] == "2.3.9"
    refs = {ref.split("/", 1)[1] for ref, _ in index["fieldVectors"]}
    assert refs == {d["id"] for d in docs}
    assert (real_site / "assets" / "vendor" / "lunr" / "lunr.min.js").read_bytes() == (REPO / "node_modules" / "lunr" / "lunr.min.js").read_bytes()


def test_nav_does_not_list_models(real_site: Path) -> None:
    """Regression guard for the quadratic build: model pages must stay out of the navigation."""
    import re

    page = (real_site / "models" / "modelshelf" / "iris-logreg" / "index.html").read_text()
    nav_links = re.findall(r'class="md-nav__link[^"]*"[^>]*href="([^"]*)"|href="([^"]*)"[^>]*class="md-nav__link', page)
    hrefs = [a or b for a, b in nav_links]
    assert any("tasks/" in h for h in hrefs), hrefs
    assert not any("models/" in h for h in hrefs), "a model page appears in the navigation"


def test_task_and_licence_pages(real_site: Path) -> None:
    assert "Iris" in (real_site / "tasks" / "tabular-classification" / "index.html").read_text()
    assert (real_site / "tasks" / "text-recognition" / "index.html").is_file()  # every documented task has a page
    licences = (real_site / "licenses" / "index.html").read_text()
    assert "Apache-2.0" in licences and "sklearn/iris" in licences
    reference = (real_site / "reference" / "card" / "index.html").read_text()
    schema = json.loads((real_site / "schema" / "card.schema.json").read_text())
    for field in schema["properties"]:
        assert f"<code>{field}</code>" in reference, f"card field {field} is not documented"


def test_cli_reference_lists_every_command(real_site: Path) -> None:
    page = (real_site / "reference" / "cli" / "index.html").read_text()
    for command in main.commands:
        assert f"modelshelf {command}" in page


def test_invalid_card_writes_no_site_and_keeps_the_old_one(tmp_path: Path) -> None:
    fixture = REPO / "tests" / "fixtures" / "cards" / "valid" / "models"
    config = make_project(tmp_path / "proj", fixture)
    site = tmp_path / "site"
    build_site(config, site_dir=site)
    before = {p.relative_to(site): sha256(p) for p in site.rglob("*") if p.is_file()}
    assert before

    card = next((tmp_path / "proj" / "models").rglob("card.yaml"))
    card.write_text(card.read_text().replace("license: ", "license: NotALicence-", 1))
    with pytest.raises(SiteBuildFailed, match="unchanged"):
        build_site(config, site_dir=site)
    after = {p.relative_to(site): sha256(p) for p in site.rglob("*") if p.is_file()}
    assert after == before, "a failed build must leave the previous site as it was"
    assert [p.name for p in tmp_path.iterdir() if ".building-" in p.name] == [], "no staging folder is left behind"


def test_invalid_card_fresh_build_writes_nothing(tmp_path: Path) -> None:
    fixture = REPO / "tests" / "fixtures" / "cards" / "valid" / "models"
    config = make_project(tmp_path / "proj", fixture)
    card = next((tmp_path / "proj" / "models").rglob("card.yaml"))
    card.write_text(card.read_text() + "\nsurprise: field\n")
    result = CliRunner().invoke(main, ["build", "-f", str(config), "--site-dir", str(tmp_path / "site")])
    assert result.exit_code == 1, result.output
    assert "unknown field 'surprise'" in result.output
    assert not (tmp_path / "site").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]


def test_plain_mkdocs_build_aborts_before_writing(tmp_path: Path) -> None:
    """`mkdocs build` itself (not only our CLI) must refuse a bad catalog before cleaning the site dir."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort, PluginError

    fixture = REPO / "tests" / "fixtures" / "cards" / "valid" / "models"
    config_file = make_project(tmp_path / "proj", fixture)
    card = next((tmp_path / "proj" / "models").rglob("card.yaml"))
    card.write_text(card.read_text().replace("version:", "version: 1.0\nold_version:", 1))
    site = tmp_path / "site"
    site.mkdir()
    (site / "keep.txt").write_text("previous site")
    config = load_config(str(config_file), site_dir=str(site))
    with pytest.raises((PluginError, Abort)):
        config.plugins.on_startup(command="build", dirty=False)
        build(config)
    assert (site / "keep.txt").read_text() == "previous site"


RECIPE = textwrap.dedent('''
    import os, sys
    from pathlib import Path
    import onnx
    from onnx import TensorProto, helper
    print("ran")  # the sandbox keeps a recipe from writing anywhere else than its OUTDIR
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(Path(sys.argv[1]) / "model.onnx"))
''')

CARD = textwrap.dedent('''
    id: acme/relu
    name: Relu
    version: "1.0.0"
    summary: Clips negatives to zero.
    description: A recipe-built test model.
    task: tabular-regression
    license: MIT
    authors: [{name: Test}]
    framework: onnx
    source: {recipe: recipe.py}
    inputs: [{name: x, dtype: float32, shape: [null, 2]}]
    outputs: [{name: y, dtype: float32, shape: [null, 2]}]
''')


def test_recipe_runs_once_then_comes_from_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    models = tmp_path / "src" / "acme" / "relu"
    models.mkdir(parents=True)
    (models / "card.yaml").write_text(CARD)
    (models / "recipe.py").write_text(RECIPE)
    config = make_project(tmp_path / "proj", tmp_path / "src", cache=tmp_path / "cache")
    caplog.set_level(logging.INFO)
    build_site(config, site_dir=tmp_path / "site1")
    build_site(config, site_dir=tmp_path / "site2")
    assert caplog.text.count("running recipe of acme/relu") == 1, "an unchanged recipe must not run again"
    assert "recipe cache hit: acme/relu" in caplog.text
    assert sha256(next((tmp_path / "site1" / "files").rglob("relu.onnx"))) == sha256(next((tmp_path / "site2" / "files").rglob("relu.onnx")))

    (tmp_path / "proj" / "models" / "acme" / "relu" / "recipe.py").write_text(RECIPE + "\n# changed\n")
    build_site(config, site_dir=tmp_path / "site3")
    assert caplog.text.count("running recipe of acme/relu") == 2, "a changed recipe must run again"


def test_failing_recipe_names_the_card_and_writes_nothing(tmp_path: Path) -> None:
    models = tmp_path / "src" / "acme" / "relu"
    models.mkdir(parents=True)
    (models / "card.yaml").write_text(CARD)
    (models / "recipe.py").write_text("raise SystemExit('no data here')\n")
    config = make_project(tmp_path / "proj", tmp_path / "src", cache=tmp_path / "cache")
    with pytest.raises(SiteBuildFailed) as err:
        build_site(config, site_dir=tmp_path / "site")
    assert "recipe.py failed with exit code 1" in str(err.value) or "unchanged" in str(err.value)
    assert not (tmp_path / "site").exists()
    assert not any((tmp_path / "cache").rglob("model.onnx")), "a failed recipe leaves no cache entry"


def test_signature_mismatch_is_reported_at_the_card_line(tmp_path: Path) -> None:
    models = tmp_path / "src" / "acme" / "relu"
    models.mkdir(parents=True)
    (models / "card.yaml").write_text(CARD.replace("outputs: [{name: y,", "outputs: [{name: out,"))
    (models / "recipe.py").write_text(RECIPE)
    os.environ.setdefault("COUNTER", str(tmp_path / "counter"))
    config = make_project(tmp_path / "proj", tmp_path / "src", cache=tmp_path / "cache")
    result = CliRunner().invoke(main, ["build", "-f", str(config), "--site-dir", str(tmp_path / "site")])
    assert result.exit_code == 1, result.output
    assert "card.yaml:13:10: $.outputs: outputs ['out'] do not match the ONNX graph's ['y']" in result.output
    assert not (tmp_path / "site").exists()


HOSTILE = CARD.replace("name: Relu", "name: \"<script>alert('name')</script>\"").replace(
    "summary: Clips negatives to zero.", "summary: \"<img src=x onerror=alert('summary')>\"").replace(
    "inputs: [{name: x, dtype: float32, shape: [null, 2]}]",
    "inputs: [{name: x, dtype: float32, shape: [null, 2], description: \"</td><script>alert('io')</script>\", features: [\"<b onmouseover=alert(1)>f\", g]}]",
) + "labels: [\"<iframe src=javascript:alert(1)>\"]\nexamples: [{name: \"<svg onload=alert(1)>\", inputs: {x: [[1, -1]]}}]\n"


def test_contributor_strings_cannot_inject_markup(tmp_path: Path) -> None:
    """Every contributor string outside the description is escaped on the model page."""
    models = tmp_path / "src" / "acme" / "relu"
    models.mkdir(parents=True)
    (models / "card.yaml").write_text(HOSTILE)
    (models / "recipe.py").write_text(RECIPE)
    os.environ.setdefault("COUNTER", str(tmp_path / "counter"))
    config = make_project(tmp_path / "proj", tmp_path / "src", cache=tmp_path / "cache")
    site = build_site(config, site_dir=tmp_path / "site")
    for page in [site / "models/acme/relu/index.html", site / "index.html", site / "tasks/tabular-regression/index.html"]:
        html = page.read_text()
        assert "<script>alert" not in html, page
        assert "<img src=x" not in html and "<iframe" not in html and "<svg onload" not in html, page
        assert "<b onmouseover" not in html, page
    assert "&lt;script&gt;alert(" in (site / "models/acme/relu/index.html").read_text()


@pytest.mark.parametrize("content, message", [
    (b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.", "is a Python pickle, not an ONNX model"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n", "is a Git LFS pointer"),
    (None, "the ONNX file is not a valid model"),  # truncated real model
])
def test_bad_model_files_get_a_clear_message(tmp_path: Path, content: bytes | None, message: str) -> None:
    fixture = REPO / "tests" / "fixtures" / "cards" / "valid" / "models"
    config = make_project(tmp_path / "proj", fixture)
    model = next((tmp_path / "proj" / "models").rglob("model.onnx"))
    model.write_bytes(content if content is not None else model.read_bytes()[:60])
    with pytest.raises(SiteBuildFailed) as err:
        build_site(config, site_dir=tmp_path / "site")
    assert message in str(err.value)
    assert "card.yaml:" in str(err.value) and "$.source" in str(err.value)
    assert not (tmp_path / "site").exists()


def test_missing_node_modules_fails_before_any_model_work(tmp_path: Path) -> None:
    """Regression: the vendoring check ran last, after every recipe and evaluation; it now runs first."""
    fixture = REPO / "tests" / "fixtures" / "cards" / "valid" / "models"
    config = make_project(tmp_path / "proj", fixture, cache=tmp_path / "cache")
    config.write_text(config.read_text().replace(f"node_modules: {REPO / 'node_modules'}", f"node_modules: {tmp_path / 'nowhere'}"))
    with pytest.raises(SiteBuildFailed, match=r"lunr\.min\.js is missing: the site vendors lunr from npm\. Run `npm ci`"):
        build_site(config, site_dir=tmp_path / "site")
    assert not (tmp_path / "site").exists()
    assert not (tmp_path / "cache").exists(), "no model work was done before the cheap check"
