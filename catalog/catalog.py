"""The catalog as a whole: find every card under models/, validate all of them, build the model."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from modelshelf.catalog.loader import Document
from modelshelf.catalog.model import Card, card_from_data
from modelshelf.catalog.problems import Problem
from modelshelf.catalog.validate import CARD_FILE, _display, check_card, cross_card_problems, version_folder

log = logging.getLogger(__name__)


@dataclass
class LoadResult:
    """Cards that validated, and every problem found (the catalog is usable only if there are none)."""

    cards: list[Card] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    documents: dict[str, Document] = field(default_factory=dict)  # card.ref (ORG/NAME@VERSION) -> loaded YAML with positions

    @property
    def ok(self) -> bool:
        return not self.problems


def find_cards(paths: Iterable[Path], root: Path | None = None) -> tuple[list[Path], list[Problem]]:
    """Card files under the given paths (folders are searched for card.yaml; files are taken as cards).

    With `root` (the models folder), a card found under it must sit exactly at root/<org>/<name>/card.yaml.
    """
    found: list[Path] = []
    problems: list[Problem] = []
    mixed: dict[Path, list[str]] = {}  # a model's card.yaml -> the version folders beside it
    root = root.resolve() if root is not None else None
    for path in paths:
        if path.is_file():
            found.append(path)
            continue
        if not path.is_dir():
            problems.append(Problem(_display(path), 1, 1, "$", "no such file or folder", "check the path"))
            continue
        for card in sorted(path.rglob(CARD_FILE)):
            resolved = card.parent.resolve() / card.name
            depth = len(resolved.relative_to(root).parts) if root is not None and resolved.is_relative_to(root) else None
            # <org>/<name>/card.yaml, or <org>/<name>/<version>/card.yaml for a model that keeps several versions.
            if root is not None and depth is not None and not (depth == 3 or (depth == 4 and version_folder(card.parent.name))):
                problems.append(Problem(_display(card), 1, 1, "$", f"cards live at {_display(root)}/<org>/<name>/card.yaml "
                                        f"(or <org>/<name>/<version>/card.yaml), not {depth - 1} folders deep",
                                        "move the model folder to <org>/<name> directly under the models folder"))
                continue
            if depth == 4 and (card.parent.parent / CARD_FILE).is_file():
                mixed.setdefault(card.parent.parent / CARD_FILE, []).append(card.parent.name)
            found.append(card)
        for stray in sorted(path.rglob("card.yml")):
            problems.append(Problem(_display(stray), 1, 1, "$", "cards are named card.yaml, not card.yml",
                                    "rename the file to card.yaml"))
    for top, versions in sorted(mixed.items()):
        problems.append(Problem(_display(top), 1, 1, "$",
                                f"card.yaml is beside the version folders {', '.join(sorted(versions))}: "
                                "a model keeps either one card.yaml or one folder per version",
                                f"move this card and its files into {_display(top.parent)}/<its version>/"))
        if top in found:  # its own problems would only repeat that it is in the wrong place
            found.remove(top)
    return sorted(set(found)), problems


def load_catalog(paths: Iterable[Path], root: Path | None = None) -> LoadResult:
    """Load and validate every card, collecting all problems of all cards in one pass.

    `root` is the models folder; pass it so cards nested at the wrong depth are reported.
    """
    card_paths, problems = find_cards(paths, root)
    docs: dict[Path, Document] = {}
    for card_path in card_paths:
        doc, card_problems = check_card(card_path)
        problems.extend(card_problems)
        if doc is not None:
            docs[card_path] = doc
    problems.extend(cross_card_problems(docs))
    result = LoadResult(problems=sorted(problems))
    if result.ok:
        result.cards = sorted((card_from_data(doc.data, path) for path, doc in docs.items()), key=lambda c: (c.id, c.version))
        result.documents = {f'{doc.data["id"]}@{doc.data["version"]}': doc for doc in docs.values()}
    log.debug("loaded %d cards, %d problems", len(card_paths), len(problems))
    return result
