"""Card strings that broke a built site (issue 12, classes 6 and 7), built for real from the fixture card."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modelshelf.generator.site.build import SiteBuildFailed, build_site
from test_build import make_project

CARD = Path(__file__).parents[1] / "fixtures" / "cards" / "valid" / "models"


def project(tmp_path: Path, old: str, new: str) -> Path:
    src = tmp_path / "src"
    shutil.copytree(CARD, src)
    card = src / "acme" / "tiny-add" / "card.yaml"
    text = card.read_text(encoding="utf-8")
    assert text.count(old) == 1
    card.write_text(text.replace(old, new), encoding="utf-8")
    return make_project(tmp_path / "proj", src, cache=tmp_path / "cache")


def test_emoji_in_a_name_keeps_the_page_title(tmp_path: Path) -> None:
    """Regression: `tojson` wrote 🚀 as a \\ud83d\\ude80 surrogate pair in the front matter, which mkdocs' YAML
    refused: the page lost its title and header and showed 'title: ...' as text. Also: a killed build's staging
    folder beside the site is removed by the next build."""
    config = project(tmp_path, "name: Tiny add", "name: Tiny add 🚀 ☃")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = tmp_path / f".site.building-{dead.pid}-x"
    leftover.mkdir()
    site = build_site(config, site_dir=tmp_path / "site")
    html = (site / "models/acme/tiny-add/index.html").read_text(encoding="utf-8")
    assert "<title>Tiny add 🚀 ☃ - Modelshelf</title>" in html
    assert "title:" not in html.split('<article', 1)[1], "the front matter must not be shown as page text"
    assert json.loads((site / "search/docs.json").read_text())["models"][0]["name"] == "Tiny add 🚀 ☃"
    assert not leftover.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".site")) == []
    assert os.path.isdir(site)


@pytest.mark.parametrize("old, new, message", [
    ("value: 0.0", "value: .nan", "$.metrics[0].value: '.nan' is not a finite number"),
    ("y: [[1.0, 1.0]]", "y: [[.inf, 1.0]]", "$.examples[0].outputs.y[0][0]: '.inf' is not a finite number"),
])
def test_non_finite_numbers_fail_at_their_line_and_write_nothing(tmp_path: Path, old: str, new: str, message: str) -> None:
    """Regression: a NaN metric wrote NaN into search/docs.json (search unavailable); .inf in an example crashed the build."""
    config = project(tmp_path, old, new)
    with pytest.raises(SiteBuildFailed, match="no site was written") as exc:
        build_site(config, site_dir=tmp_path / "site")
    assert message in str(exc.value)
    assert not (tmp_path / "site").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site")] == []

