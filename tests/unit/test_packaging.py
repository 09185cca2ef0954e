"""pyproject.toml lists every package folder: a folder left out is missing from a built wheel (the editable
install used by the tests would not notice)."""
from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = {name: REPO / folder for name, folder in config["package-dir"].items() if name}
    found = set()
    for name, folder in mapping.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder)
            if "__pycache__" not in rel.parts and not any(part.startswith(".") for part in rel.parts):
                found.add(".".join([name, *rel.parts]))
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
