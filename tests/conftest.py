"""Shared test fixtures: where the fixture cards live, and a scratch copy of the valid catalog."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CARD_FIXTURES = Path(__file__).parent / "fixtures" / "cards"


@pytest.fixture
def tmp_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the valid fixture catalog in tmp_path, made the working directory; returns the card's folder."""
    shutil.copytree(CARD_FIXTURES / "valid" / "models", tmp_path / "models")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "models" / "acme" / "tiny-add"
