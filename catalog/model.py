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
class Card:
    """A validated card. `folder` is the model's folder; `raw` is the card as loaded (for catalog.json)."""

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
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def org(self) -> str:
        return self.id.split("/")[0]

    @property
    def short_name(self) -> str:
        return self.id.split("/")[1]


def _tensor(d: dict[str, Any]) -> Tensor:
    return Tensor(name=d["name"], dtype=d["dtype"], shape=tuple(d["shape"]), kind=d.get("kind"),
                  description=d.get("description"), features=tuple(d.get("features") or ()))


def _step(d: dict[str, Any]) -> Step:
    return Step(op=d["op"], params=tuple(sorted((k, v) for k, v in d.items() if k != "op")))


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
        framework=data["framework"], source=Source(**data["source"]),
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
        raw=data,
    )
