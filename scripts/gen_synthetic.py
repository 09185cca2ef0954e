#!/usr/bin/env python3
"""Write a synthetic Modelshelf project (or a plain mkdocs baseline) for benchmarks and tests.

    python scripts/gen_synthetic.py OUTDIR --count N [--seed S]
    python scripts/gen_synthetic.py OUTDIR --count N --trivial

Default mode writes `OUTDIR/models/<org>/<name>/card.yaml` for N varied cards that validate
(orgs, tasks from catalog/data/tasks.yaml, licences, tags, datasets, metrics, multi-paragraph
Markdown descriptions of about 1-2 KB), each with `source: {file: model.onnx}`. The ONNX files
are tiny real models (MatMul + Add on a `[null, 4]` float32 input); one file per output shape
is written once and hard-linked (or copied) into every model folder. The cards declare exactly
the graph's inputs and outputs, and their examples hold the model's real outputs. It also
writes `OUTDIR/mkdocs.yml`: the repository's mkdocs.yml with docs_dir, theme.custom_dir and the
plugin's node_modules pointing back into the repository (absolute paths) and `models_dir: models`,
so `modelshelf build -f OUTDIR/mkdocs.yml` builds the synthetic catalog with the real theme.

`--trivial` writes instead a plain mkdocs-material project with N Markdown pages of similar
text size under docs/, an explicit nav of a few pages and every other page `not_in_nav`, and
no modelshelf plugin: the baseline "plain mkdocs build of equally many trivial pages".

Output is deterministic for a given --count and --seed. Only the standard library, PyYAML,
numpy and onnx are needed (all dependencies of the modelshelf package).
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
TASKS_FILE = REPO / "catalog" / "data" / "tasks.yaml"

INPUT_NAME = "features"
N_FEATURES = 4
N_CLASSES = 3
EMBED_DIM = 8
DEFAULT_POOL = 4

# ----------------------------------------------------------------------------- vocabulary

ORG_STEMS = ["acme", "northwind", "polaris", "tessellate", "brightfield", "kestrel", "lumen", "quarry", "meridian",
             "oakridge", "halcyon", "verdant", "cobalt", "saffron", "riverbend", "tundra", "ember", "glacier",
             "harbor", "nimbus", "orchard", "pinnacle", "quill", "redwood", "sable", "tidal", "umber", "vantage",
             "willow", "zephyr", "atlas", "beacon", "cinder", "delta", "ferro", "granite", "helix", "ion"]
ORG_SUFFIXES = ["", "-labs", "-ai", "-research", "-ml", "-data", "-group", "-institute", "-uni", "-health"]
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "zen", "bri", "cor", "dax", "fen", "gal", "hol", "jin",
             "kor", "lum", "mar", "nox", "pel", "quin", "ros", "tal", "vex", "wyn", "xan", "yor", "zul"]
ARCHS = {
    "scikit-learn": ["logreg", "forest", "gbm", "svm", "ridge", "knn", "extratrees", "lasso", "mlp"],
    "pytorch": ["cnn", "resnet", "mlp", "transformer", "lstm", "gru", "unet", "tcn"],
    "tensorflow": ["cnn", "mobilenet", "efficientnet", "mlp", "bilstm"],
    "keras": ["cnn", "mlp", "lstm", "autoencoder"],
    "jax": ["mlp", "vit", "flax-cnn"],
    "xgboost": ["xgb", "gbt", "boosted"],
    "lightgbm": ["lgbm", "gbdt", "dart"],
    "paddlepaddle": ["ppocr", "pplcnet", "ppyolo"],
    "onnx": ["graph", "handmade", "fused"],
    "other": ["custom", "hybrid", "ensemble"],
}
FRAMEWORK_WEIGHTS = {"scikit-learn": 30, "pytorch": 30, "tensorflow": 10, "keras": 5, "jax": 4, "xgboost": 8,
                     "lightgbm": 6, "paddlepaddle": 3, "onnx": 3, "other": 1}
LICENSES = {"Apache-2.0": 30, "MIT": 25, "BSD-3-Clause": 12, "BSD-2-Clause": 4, "CC-BY-4.0": 8, "CC-BY-SA-4.0": 3,
            "CC-BY-NC-4.0": 4, "CC0-1.0": 3, "MPL-2.0": 2, "GPL-3.0-only": 2, "LGPL-3.0-only": 1, "Unlicense": 1,
            "other": 5}
OTHER_LICENSES = [("OpenRAIL-M", "https://www.licenses.ai/blog/2022/8/26/bigscience-open-rail-m-license"),
                  ("Research-only licence", "https://example.org/licenses/research-only"),
                  ("Community model licence 1.0", "https://example.org/licenses/community-1.0")]
DOMAINS = ["agriculture", "retail", "finance", "healthcare", "manufacturing", "logistics", "energy", "telecom",
           "insurance", "education", "climate", "astronomy", "ecology", "sports", "security", "automotive",
           "marine", "aviation", "mining", "linguistics", "music", "botany", "geology", "hydrology"]
TASK_WORDS = {
    "tabular-classification": (["churn", "fraud", "species", "grade", "defect", "credit", "diagnosis", "fault"],
                               ["low", "medium", "high"]),
    "tabular-regression": (["price", "yield", "demand", "load", "duration", "temperature", "consumption"], []),
    "image-classification": (["plant", "texture", "digit", "scene", "leaf", "galaxy", "fabric", "food"],
                             ["class-a", "class-b", "class-c"]),
    "object-detection": (["vehicle", "pedestrian", "parcel", "defect", "ship", "animal"], ["background", "object", "crowd"]),
    "text-detection": (["receipt", "signboard", "document", "license-plate", "label"], ["background", "text", "border"]),
    "text-recognition": (["handwriting", "printed-line", "digit-string", "serial-number"], ["blank", "glyph", "space"]),
    "feature-extraction": (["product", "sensor", "patch", "query", "profile"], []),
    "sentence-similarity": (["faq", "sentence", "paraphrase", "title", "review"], []),
    "text-classification": (["sentiment", "topic", "language", "spam", "intent", "toxicity"], ["negative", "neutral", "positive"]),
    "file-type-detection": (["filetype", "magic", "content-type"], ["text", "binary", "archive"]),
    "voice-activity-detection": (["vad", "speech-gate", "voice-frame"], ["silence", "speech", "noise"]),
    "audio-classification": (["birdsong", "engine-sound", "keyword", "genre", "event"], ["quiet", "tonal", "impulsive"]),
    "anomaly-detection": (["outlier", "intrusion", "vibration", "leak", "anomaly"], ["normal", "suspect", "anomalous"]),
}
ADJECTIVES = ["compact", "robust", "lightweight", "calibrated", "distilled", "quantised", "pruned", "baseline",
              "tiny", "fast", "balanced", "regularised", "multilingual", "streaming", "reference"]
FEATURE_NAMES = ["length", "width", "height", "mass", "age", "count", "ratio", "score", "rate", "level", "index",
                 "pressure", "voltage", "humidity", "frequency", "variance"]
METRICS_BY_KIND = {"scores": ["accuracy", "f1_macro", "precision", "recall", "roc_auc", "log_loss", "top5_accuracy", "f1"],
                   "value": ["r2", "mae", "mse", "rmse"],
                   "embedding": ["cosine_agreement"]}
SPLITS = ["test", "validation", "test (20%, seed 0)", "holdout", "dev", "test (stratified, 30%)"]


def _pseudo_word(rng: random.Random, n: int = 3) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, n)))


def _weighted(rng: random.Random, table: dict[str, int]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


# ----------------------------------------------------------------------------- ONNX models

@dataclass(frozen=True)
class Variant:
    """One tiny ONNX model: y = x @ W + b, with x float32 [null, 4]."""

    key: str  # scores | value | embedding
    output: str
    width: int
    weight: np.ndarray
    bias: np.ndarray

    def run(self, x: list[list[float]]) -> list[list[float]]:
        y = np.asarray(x, dtype=np.float32) @ self.weight + self.bias
        return [[round(float(v), 5) for v in row] for row in y.astype(np.float32)]


def _variants() -> dict[str, Variant]:
    rng = np.random.default_rng(1234)
    out = {}
    for key, name, width in (("scores", "scores", N_CLASSES), ("value", "value", 1), ("embedding", "embedding", EMBED_DIM)):
        w = np.round(rng.normal(0, 0.5, (N_FEATURES, width)), 3).astype(np.float32)
        b = np.round(rng.normal(0, 0.1, (width,)), 3).astype(np.float32)
        out[key] = Variant(key, name, width, w, b)
    return out


VARIANTS = _variants()


def onnx_bytes(variant: Variant) -> bytes:
    """The serialised model of one variant (checked by onnx.checker)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", [INPUT_NAME, "W"], ["xw"], name="matmul"),
         helper.make_node("Add", ["xw", "B"], [variant.output], name="add")],
        f"synthetic_{variant.key}",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [None, N_FEATURES])],
        [helper.make_tensor_value_info(variant.output, TensorProto.FLOAT, [None, variant.width])],
        initializer=[numpy_helper.from_array(variant.weight, name="W"), numpy_helper.from_array(variant.bias, name="B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="modelshelf-synthetic")
    model.ir_version = 8  # readable by every onnxruntime the project supports
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _place(src: Path, dest: Path) -> None:
    """Hard-link src to dest (copy when the filesystem cannot link)."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


# ----------------------------------------------------------------------------- text

def description(rng: random.Random, *, title: str, task_title: str, domain: str, dataset: str, framework: str,
                arch: str, codename: str) -> str:
    """Multi-paragraph Markdown of about 1-2 KB, varied enough to give the search index a realistic vocabulary."""
    rows = rng.randint(800, 250_000)
    epochs = rng.randint(3, 120)
    extra = [_pseudo_word(rng) for _ in range(6)]
    paras = [
        f"**{title}** is a {rng.choice(ADJECTIVES)} {arch} model for {task_title.lower()} in {domain}, "
        f"released as part of the *{codename}* project. It takes a row of {N_FEATURES} numeric "
        f"features and returns {rng.choice(['a score per class', 'one value', 'a short vector'])}. "
        f"It was built to be small enough to run in a browser tab and to be re-checked by every build.",
        "## How it was trained",
        f"- **Data:** `{dataset}`, {rows:,} rows collected by the {extra[0]} and {extra[1]} teams "
        f"between {rng.randint(2005, 2018)} and {rng.randint(2019, 2025)}.\n"
        f"- **Split:** {rng.choice(SPLITS)}; the remaining rows were used for training.\n"
        f"- **Model:** {framework} `{arch}` trained for {epochs} epochs with early stopping on the "
        f"validation loss ({rng.choice(['adam', 'sgd', 'lbfgs', 'adamw'])}, learning rate {rng.choice(['1e-3', '3e-4', '0.01', '0.1'])}).\n"
        f"- **Export:** ONNX opset 17; the export was compared with the source framework on fixed inputs.",
        "## Intended use and limitations",
        f"Use it as a {rng.choice(['starting point', 'baseline', 'reference', 'teaching example'])} for {domain} "
        f"{rng.choice(['dashboards', 'triage', 'pipelines', 'prototypes', 'experiments'])}. It has only seen data from "
        f"{rng.choice(['one region', 'three sites', 'a single season', 'lab conditions', 'two vendors'])}; inputs far from "
        f"that distribution ({extra[2]} sensors, {extra[3]} firmware) give confident but meaningless outputs. "
        f"Do not use it for decisions about individual people without an independent evaluation.",
        "## Licence and citation",
        f"Weights and recipe are published by the {extra[4].capitalize()} group. Cite the {codename} report "
        f"({rng.randint(2019, 2025)}) and the `{dataset}` dataset when you use it; "
        f"the {extra[5]} preprocessing notes are in the project wiki.",
    ]
    return "\n\n".join(paras) + "\n"


# ----------------------------------------------------------------------------- cards

def _task_list() -> list[dict[str, str]]:
    return yaml.safe_load(TASKS_FILE.read_text(encoding="utf-8"))


def _output_kind(task: dict[str, str]) -> str:
    if task["id"] in ("tabular-regression",):
        return "value"
    if task["id"] in ("feature-extraction", "sentence-similarity"):
        return "embedding"
    return "scores"


def example_input(k: int) -> list[list[float]]:
    """The k-th input of the shared example pool (the same for every card and seed)."""
    r = random.Random(10_000 + k)
    return [[round(r.uniform(-2, 2), 2) for _ in range(N_FEATURES)]]


def make_card(rng: random.Random, index: int, task: dict[str, str], org: str, example_pool: int = DEFAULT_POOL) -> dict[str, Any]:
    """One valid card. With example_pool > 0 its examples come from a pool of that many inputs shared by all
    cards, so the build's content-addressed checks (smoke run, evaluation: keyed by the ONNX file's hash
    and the first example) are computed a few times and then read from the cache; with 0 every example
    is drawn afresh and every card costs a full verification, as a real catalog of distinct models would."""
    framework = _weighted(rng, FRAMEWORK_WEIGHTS)
    arch = rng.choice(ARCHS[framework])
    words, labels = TASK_WORDS.get(task["id"], (["model"], ["a", "b", "c"]))
    subject = rng.choice(words)
    domain = rng.choice(DOMAINS)
    codename = _pseudo_word(rng).capitalize()
    name = f"{subject}-{arch}-{index:05d}"
    title = f"{codename} {subject.replace('-', ' ')} {arch}"
    kind = _output_kind(task)
    variant = VARIANTS[kind]
    ds_id = f"{org}/{domain}-{subject}-{rng.randint(1, 9)}"
    split = rng.choice(SPLITS)
    license_id = _weighted(rng, LICENSES)

    card: dict[str, Any] = {
        "id": f"{org}/{name}",
        "name": title[:100],
        "version": f"{rng.randint(0, 3)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}",  # dumped quoted (a string)
        "summary": f"A {rng.choice(ADJECTIVES)} {arch} for {task['title'].lower()} of {domain} {subject.replace('-', ' ')} data."[:200],
        "description": description(rng, title=title, task_title=task["title"], domain=domain, dataset=ds_id,
                                   framework=framework, arch=arch, codename=codename),
        "task": task["id"],
        "tags": sorted({domain, subject, arch, task.get("input", "tabular"), rng.choice(ADJECTIVES),
                        *rng.sample(["onnx", "small", "cpu", "browser", "synthetic", "benchmark", "edge", "int8", "fp32"], 2)}),
        "license": license_id,
        "authors": [{"name": f"{org.replace('-', ' ').title()} team"}],
        "datasets": [{"id": ds_id, "split": split}],
        "framework": framework,
        "source": {"file": "model.onnx"},
    }
    if license_id == "other":
        lname, link = rng.choice(OTHER_LICENSES)
        card["license_name"], card["license_link"] = lname, link
    if rng.random() < 0.5:
        card["authors"][0]["url"] = f"https://{org}.example.org/"
    if rng.random() < 0.3:
        card["authors"].append({"name": f"{_pseudo_word(rng).capitalize()} {_pseudo_word(rng).capitalize()}"})
    if rng.random() < 0.4:
        card["datasets"][0]["url"] = f"https://data.example.org/{ds_id}"
    if rng.random() < 0.25:
        card["datasets"].append({"id": f"{rng.choice(DOMAINS)}-bench/{_pseudo_word(rng)}", "split": "train"})
    if rng.random() < 0.2:
        card["base_model"] = f"{org}/{subject}-base"

    features = rng.sample(FEATURE_NAMES, N_FEATURES)
    in_kind = "tabular" if task.get("input") == "tabular" else "tensor"
    tensor_in: dict[str, Any] = {"name": INPUT_NAME, "dtype": "float32", "shape": [None, N_FEATURES], "kind": in_kind,
                                 "description": f"One row per sample: {N_FEATURES} standardised measurements."}
    if in_kind == "tabular":
        tensor_in["features"] = features
    out_descr = {"scores": "Unnormalised score of each class (apply softmax for probabilities).",
                 "value": "The predicted value.", "embedding": f"A {EMBED_DIM}-dimensional embedding."}[kind]
    card["inputs"] = [tensor_in]
    card["outputs"] = [{"name": variant.output, "dtype": "float32", "shape": [None, variant.width], "kind": kind,
                        "description": out_descr}]
    card["preprocessing"] = [{"op": "normalize", "mean": 0.0, "std": 1.0}] if rng.random() < 0.3 else []
    if kind == "scores":
        card["labels"] = list(labels) if len(labels) == N_CLASSES else ["class-0", "class-1", "class-2"]
        card["postprocessing"] = [{"op": "softmax"}, {"op": "topk", "k": rng.randint(1, N_CLASSES)}]
    for key in ("preprocessing",):
        if not card[key]:
            del card[key]

    metric_names = rng.sample(METRICS_BY_KIND[kind], min(len(METRICS_BY_KIND[kind]), rng.randint(1, 3)))
    card["metrics"] = [{"name": m, "value": _metric_value(rng, m), "dataset": ds_id, "split": "test"} for m in metric_names]

    examples = []
    n_examples = rng.randint(1, 3)
    pooled = sorted(rng.sample(range(example_pool), min(n_examples, example_pool))) if example_pool else []
    for i in range(len(pooled) if example_pool else n_examples):
        if example_pool:
            x = example_input(pooled[i])
        else:
            x = [[round(rng.uniform(-2, 2), 2) for _ in range(N_FEATURES)]]
        examples.append({"name": f"Sample {i + 1}", "inputs": {INPUT_NAME: x}, "outputs": {variant.output: variant.run(x)},
                         "tolerance": 0.0001})
    card["examples"] = examples
    return card


def _metric_value(rng: random.Random, name: str) -> float:
    if name in ("mae", "mse", "rmse", "log_loss"):
        return round(rng.uniform(0.05, 3.0), 4)
    return round(rng.uniform(0.6, 0.99), 4)


class _CardDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # libyaml's emitter when present: ~10x faster
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


def _list_presenter(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    # Short lists of scalars (shapes, tags, example rows) in flow style, as a person would write them.
    flat = all(not isinstance(v, (dict, list)) for v in data) or all(
        isinstance(v, list) and all(not isinstance(x, (dict, list)) for x in v) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=bool(data) and flat)


_CardDumper.add_representer(str, _str_presenter)
_CardDumper.add_representer(list, _list_presenter)


def dump_card(card: dict[str, Any]) -> str:
    return yaml.dump(card, Dumper=_CardDumper, sort_keys=False, allow_unicode=True, width=120)


def _orgs(rng: random.Random, count: int) -> list[str]:
    """About one org per 25 models (at least 3), with a long tail: a few big orgs, many small ones."""
    n = max(3, count // 25)
    names: list[str] = []
    for i in range(n):
        stem = ORG_STEMS[i % len(ORG_STEMS)]
        suffix = ORG_SUFFIXES[(i // len(ORG_STEMS)) % len(ORG_SUFFIXES)]
        extra = f"-{i // (len(ORG_STEMS) * len(ORG_SUFFIXES))}" if i >= len(ORG_STEMS) * len(ORG_SUFFIXES) else ""
        names.append(f"{stem}{suffix}{extra}")
    return names


def write_models(outdir: Path, count: int, seed: int, example_pool: int = DEFAULT_POOL) -> list[Path]:
    """N cards with their model.onnx files under outdir/models; returns the card paths."""
    rng = random.Random(seed)
    tasks = _task_list()
    orgs = _orgs(rng, count)
    org_weights = [1.0 / (i + 1) ** 0.8 for i in range(len(orgs))]  # Zipf-like: some orgs publish many models
    models = outdir / "models"
    masters = outdir / ".synthetic-onnx"
    masters.mkdir(parents=True, exist_ok=True)
    master_files = {}
    for key, variant in VARIANTS.items():
        path = masters / f"{key}.onnx"
        path.write_bytes(onnx_bytes(variant))
        master_files[key] = path
    cards = []
    for i in range(count):
        task = tasks[i % len(tasks)] if i < len(tasks) else rng.choice(tasks)  # every task at least once
        org = rng.choices(orgs, weights=org_weights)[0]
        card = make_card(rng, i, task, org, example_pool)
        folder = models / card["id"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "card.yaml").write_text(dump_card(card), encoding="utf-8")
        dest = folder / "model.onnx"
        if dest.exists():
            dest.unlink()
        _place(master_files[_output_kind(task)], dest)
        cards.append(folder / "card.yaml")
    return cards


# ----------------------------------------------------------------------------- mkdocs.yml

class _Tagged:
    """A YAML value with a custom tag (e.g. `!ENV [VAR, default]` or `!!python/name:...`), kept as written."""

    def __init__(self, tag: str, node: yaml.Node, loader: yaml.SafeLoader) -> None:
        self.tag = tag
        if isinstance(node, yaml.ScalarNode):
            self.value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            self.value = loader.construct_sequence(node, deep=True)
        else:
            self.value = loader.construct_mapping(node, deep=True)


class _ConfigLoader(yaml.SafeLoader):
    pass


class _ConfigDumper(yaml.SafeDumper):
    pass


def _construct_tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> _Tagged:
    return _Tagged(node.tag, node, loader)


def _represent_tagged(dumper: yaml.SafeDumper, data: _Tagged) -> yaml.Node:
    if isinstance(data.value, list):
        return dumper.represent_sequence(data.tag, data.value, flow_style=True)
    if isinstance(data.value, dict):
        return dumper.represent_mapping(data.tag, data.value)
    return dumper.represent_scalar(data.tag, data.value)


_ConfigLoader.add_multi_constructor("!", _construct_tagged)
_ConfigLoader.add_multi_constructor("tag:yaml.org,2002:python/", _construct_tagged)
_ConfigDumper.add_representer(_Tagged, _represent_tagged)


def load_mkdocs_config(path: Path) -> dict[str, Any]:
    """The repository's mkdocs.yml as data, custom tags preserved."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_ConfigLoader)  # noqa: S506 (a SafeLoader subclass)


def dump_mkdocs_config(config: dict[str, Any]) -> str:
    return yaml.dump(config, Dumper=_ConfigDumper, sort_keys=False, allow_unicode=True)


def synthetic_mkdocs_config(repo: Path = REPO) -> dict[str, Any]:
    config = load_mkdocs_config(repo / "mkdocs.yml")
    config["docs_dir"] = str((repo / config.get("docs_dir", "docs")).resolve())
    config["site_dir"] = "site"
    theme = config.setdefault("theme", {"name": "material"})
    if isinstance(theme, str):
        theme = config["theme"] = {"name": theme}
    theme["custom_dir"] = str((repo / theme.get("custom_dir", "site_theme")).resolve())
    plugins = config.get("plugins") or []
    new_plugins: list[Any] = []
    found = False
    for plugin in plugins:
        name = plugin if isinstance(plugin, str) else next(iter(plugin))
        if name == "modelshelf":
            options = {} if isinstance(plugin, str) else dict(plugin[name] or {})
            node_modules = repo / options.get("node_modules", "node_modules")
            options.update({"models_dir": "models", "node_modules": str(node_modules.resolve())})
            options.pop("cache_dir", None)  # the synthetic project has no recipes; its cache lives in OUTDIR
            plugin = {"modelshelf": options}
            found = True
        new_plugins.append(plugin)
    if not found:
        new_plugins.append({"modelshelf": {"models_dir": "models", "node_modules": str((repo / "node_modules").resolve())}})
    config["plugins"] = new_plugins
    return config


def write_project(outdir: Path, count: int, seed: int = 0, repo: Path = REPO, example_pool: int = DEFAULT_POOL) -> list[Path]:
    """A complete synthetic Modelshelf project: models/ and mkdocs.yml."""
    outdir.mkdir(parents=True, exist_ok=True)
    cards = write_models(outdir, count, seed, example_pool)
    (outdir / "mkdocs.yml").write_text(
        "# Generated by scripts/gen_synthetic.py: the repository's mkdocs.yml pointed at synthetic models.\n"
        + dump_mkdocs_config(synthetic_mkdocs_config(repo)), encoding="utf-8")
    return cards


# ----------------------------------------------------------------------------- trivial baseline

def write_trivial(outdir: Path, count: int, seed: int = 0) -> list[Path]:
    """A plain mkdocs-material project with `count` pages of about the size of a model description."""
    rng = random.Random(seed)
    docs = outdir / "docs"
    pages_dir = docs / "pages"
    pages_dir.mkdir(parents=True, exist_ok=True)
    tasks = _task_list()
    nav_pages = {"index.md": "Home", "about.md": "About", "guide.md": "Guide", "reference.md": "Reference"}
    for src, title in nav_pages.items():
        (docs / src).write_text(f"# {title}\n\nA page of the plain mkdocs baseline.\n", encoding="utf-8")
    written = []
    for i in range(count):
        task = rng.choice(tasks)
        framework = _weighted(rng, FRAMEWORK_WEIGHTS)
        arch = rng.choice(ARCHS[framework])
        title = f"Page {i:05d}: {_pseudo_word(rng).capitalize()} {arch}"
        body = description(rng, title=title, task_title=task["title"], domain=rng.choice(DOMAINS),
                           dataset=f"data/{_pseudo_word(rng)}", framework=framework, arch=arch,
                           codename=_pseudo_word(rng).capitalize())
        table = "| field | value |\n|---|---|\n" + "".join(
            f"| {k} | {v} |\n" for k, v in (("task", task["id"]), ("framework", framework), ("version", f"1.{i % 10}.0")))
        path = pages_dir / f"page-{i:05d}.md"
        path.write_text(f"# {title}\n\n{body}\n{table}", encoding="utf-8")
        written.append(path)
    config = {
        "site_name": "Plain mkdocs baseline",
        "site_url": "http://127.0.0.1:8000/",
        "docs_dir": "docs",
        "site_dir": "site",
        "theme": {"name": "material", "font": False},
        # No search plugin: the modelshelf site does not use mkdocs-material's search either.
        "plugins": [],
        "nav": [{t: s} for s, t in nav_pages.items()],
        "not_in_nav": "/pages/\n",
        "markdown_extensions": ["tables", "attr_list", {"toc": {"permalink": True}}],
    }
    (outdir / "mkdocs.yml").write_text("# Generated by scripts/gen_synthetic.py --trivial: a plain mkdocs baseline.\n"
                                       + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", type=Path, help="project folder to write (created; existing models/ or docs/ are replaced)")
    parser.add_argument("--count", "-n", type=int, required=True, help="number of cards (or pages with --trivial)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0); output is deterministic")
    parser.add_argument("--example-pool", type=int, default=DEFAULT_POOL, metavar="K",
                        help=f"draw examples from K inputs shared by all cards, so the build's content-addressed "
                             f"verification is cached across cards (default {DEFAULT_POOL}); 0: every example distinct, "
                             f"every card verified in full")
    parser.add_argument("--trivial", action="store_true", help="write a plain mkdocs project of N trivial pages instead")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    outdir: Path = args.outdir
    for old in ("models", "docs", ".synthetic-onnx", "site"):
        if (outdir / old).exists():
            shutil.rmtree(outdir / old)
    if args.trivial:
        written = write_trivial(outdir, args.count, args.seed)
        print(f"wrote {len(written)} pages and {outdir / 'mkdocs.yml'}")
    else:
        written = write_project(outdir, args.count, args.seed, example_pool=args.example_pool)
        print(f"wrote {len(written)} cards under {outdir / 'models'} and {outdir / 'mkdocs.yml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
