"""The card data model: frozen dataclasses, built only from cards that validated."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Author:
    name: str
    url: str | None = None


@dataclass(frozen=True)
class Dataset:
    id: str
    split: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Source:
    file: str | None = None
    recipe: str | None = None
    url: str | None = None
    sha256: str | None = None
    size: int | None = None
    requires: tuple[str, ...] = ()  # model-specific packages the card's scripts import; their versions join the cache keys

    @property
    def kind(self) -> str:
        return "file" if self.file else "recipe" if self.recipe else "url"


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: str
    shape: tuple[int | str | None, ...]
    kind: str | None = None
    description: str | None = None
    features: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    op: str
    params: tuple[tuple[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"op": self.op, **dict(self.params)}


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    dataset: str
    split: str | None = None


@dataclass(frozen=True)
class Example:
    inputs: tuple[tuple[str, Any], ...]
    outputs: tuple[tuple[str, Any], ...] = ()
    name: str | None = None
    tolerance: float = 1e-4


@dataclass(frozen=True)
class EvaluationSplit:
    """evaluation.split: the test part of a seeded train/test split of a built-in dataset (None: every row)."""

    test_size: float | None = None
    seed: int | None = None
    stratify: bool | None = None


@dataclass(frozen=True)
class Evaluation:
    """The card's `evaluation` block: how the build recomputes its metrics on the ONNX file."""

    metrics: tuple[str, ...]
    dataset: str | None = None
    script: str | None = None
    split: EvaluationSplit | None = None
    output: str | None = None
    tolerance: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The block as the card wrote it (unset fields left out), e.g. for a cache key."""
        out: dict[str, Any] = {"metrics": list(self.metrics)}
        for name in ("dataset", "script", "output", "tolerance"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.split is not None:
            out["split"] = {k: v for k, v in (("test_size", self.split.test_size), ("seed", self.split.seed),
                                              ("stratify", self.split.stratify)) if v is not None}
        return out


@dataclass(frozen=True)
class ParitySpec:
    """The card's `parity` block: how closely the export must match its source framework (None: the default)."""

    tolerance: float | None = None
    min_top1_agreement: float | None = None


@dataclass(frozen=True)
class Browser:
    """The card's `browser` block: whether the in-browser Try it panel is offered."""

    tryable: bool | None = None
    reason: str | None = None
    tolerance: float | None = None  # how far onnxruntime-web may be from onnxruntime on this model (measured)


@dataclass(frozen=True)
class Variant:
    """One entry of the card's `variants`: another file of the same model, e.g. an int8 quantisation."""

    name: str
    file: str | None = None
    description: str | None = None
    tolerance: float | None = None


@dataclass(frozen=True)
class Audio:
    """The card's `audio` block: how the Try it panel streams audio through a frame-by-frame model.

    Every field is optional; the defaults are in the schema's descriptions and generator/tryit/stage.py.
    """

    sample_rate: int | None = None
    frame: int | None = None
    context: int | None = None
    neg_threshold: float | None = None
    min_speech_ms: int | None = None
    min_silence_ms: int | None = None


@dataclass(frozen=True)
class Card:
    """A validated card. `folder` is the model's folder; `raw` is the card as loaded.

    Build stages read the typed fields only; `raw` exists to copy the card verbatim into
    catalog.json (generator/render/catalog_json.py) and must not be read for anything else.
    """

    id: str
    name: str
    version: str
    summary: str
    description: str
    task: str
    license: str
    authors: tuple[Author, ...]
    framework: str
    source: Source
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    folder: Path
    card_path: Path
    tags: tuple[str, ...] = ()
    datasets: tuple[Dataset, ...] = ()
    base_model: str | None = None
    license_name: str | None = None
    license_link: str | None = None
    preprocessing: tuple[Step, ...] = ()
    postprocessing: tuple[Step, ...] = ()
    labels: tuple[str, ...] = ()
    metrics: tuple[Metric, ...] = ()
    examples: tuple[Example, ...] = ()
    evaluation: Evaluation | None = None
    parity: ParitySpec | None = None
    browser: Browser | None = None
    variants: tuple[Variant, ...] = ()
    audio: Audio | None = None
    status: str = "active"  # active, deprecated or yanked
    status_reason: str | None = None
    changelog: str | None = None
    # Only for copying the card verbatim into catalog.json; every other reader uses the fields above.
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def org(self) -> str:
        return self.id.split("/")[0]

    @property
    def short_name(self) -> str:
        return self.id.split("/")[1]

    @property
    def ref(self) -> str:
        """ORG/NAME@VERSION: what identifies this card in a catalog that keeps several versions of a model."""
        return f"{self.id}@{self.version}"


def version_key(version: str) -> tuple[Any, ...]:
    """Sort key of a semantic version: 1.10.0 after 1.9.0, a pre-release (1.1.0-rc.1) before its release."""
    core, _, pre = version.split("+")[0].partition("-")
    nums = tuple(int(p) if p.isdigit() and len(p) < 19 else 0 for p in core.split("."))
    return nums, pre == "", pre


def _tensor(d: dict[str, Any]) -> Tensor:
    return Tensor(name=d["name"], dtype=d["dtype"], shape=tuple(d["shape"]), kind=d.get("kind"),
                  description=d.get("description"), features=tuple(d.get("features") or ()))


def _step(d: dict[str, Any]) -> Step:
    return Step(op=d["op"], params=tuple(sorted((k, v) for k, v in d.items() if k != "op")))


def _evaluation(d: dict[str, Any] | None) -> Evaluation | None:
    if d is None:
        return None
    split = d.get("split")
    evaluation_split: EvaluationSplit | None = None
    if split is not None:
        evaluation_split = EvaluationSplit(split.get("test_size"), split.get("seed"), split.get("stratify"))
    return Evaluation(metrics=tuple(d["metrics"]), dataset=d.get("dataset"), script=d.get("script"), split=evaluation_split,
                      output=d.get("output"), tolerance=d.get("tolerance"))


def card_from_data(data: dict[str, Any], card_path: Path) -> Card:
    """Build a Card from a validated mapping. The description falls back to README.md beside the card."""
    folder = card_path.parent
    description = data.get("description")
    if description is None:
        description = (folder / "README.md").read_text(encoding="utf-8")
    return Card(
        id=data["id"], name=data["name"], version=data["version"], summary=data["summary"],
        description=description, task=data["task"], license=data["license"],
        authors=tuple(Author(a["name"], a.get("url")) for a in data["authors"]),
        framework=data["framework"],
        source=Source(**{**data["source"], "requires": tuple(data["source"].get("requires") or ())}),
        inputs=tuple(_tensor(t) for t in data["inputs"]), outputs=tuple(_tensor(t) for t in data["outputs"]),
        folder=folder, card_path=card_path, tags=tuple(data.get("tags") or ()),
        datasets=tuple(Dataset(d["id"], d.get("split"), d.get("url")) for d in data.get("datasets") or ()),
        base_model=data.get("base_model"), license_name=data.get("license_name"), license_link=data.get("license_link"),
        preprocessing=tuple(_step(s) for s in data.get("preprocessing") or ()),
        postprocessing=tuple(_step(s) for s in data.get("postprocessing") or ()),
        labels=tuple(data.get("labels") or ()),
        metrics=tuple(Metric(m["name"], float(m["value"]), m["dataset"], m.get("split")) for m in data.get("metrics") or ()),
        examples=tuple(Example(inputs=tuple(e["inputs"].items()), outputs=tuple((e.get("outputs") or {}).items()),
                               name=e.get("name"), tolerance=float(e.get("tolerance", 1e-4)))
                       for e in data.get("examples") or ()),
        evaluation=_evaluation(data.get("evaluation")),
        parity=ParitySpec(**data["parity"]) if "parity" in data else None,
        browser=Browser(**data["browser"]) if "browser" in data else None,
        variants=tuple(Variant(**v) for v in data.get("variants") or ()),
        audio=Audio(**data["audio"]) if "audio" in data else None,
        status=data.get("status", "active"), status_reason=data.get("status_reason"), changelog=data.get("changelog"),
        raw=data,
    )
