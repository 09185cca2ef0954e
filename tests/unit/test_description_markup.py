"""A card's description nests under the page's "About this model" h2 without skipping a level, and has no empty
header cells (axe: heading-order, empty-table-header; issue 11). generator/enrich/sanitize.py `render_markdown`."""
from __future__ import annotations

from modelshelf.generator.enrich.sanitize import render_markdown


def test_the_highest_description_heading_becomes_an_h3() -> None:
    assert render_markdown("## Use\n\n### Limits\n").split("\n") == ["<h3>Use</h3>", "<h4>Limits</h4>"]
    assert render_markdown("# Top\n\n#### Deep\n").split("\n") == ["<h3>Top</h3>", "<h6>Deep</h6>"]
    assert render_markdown("#### Only\n") == "<h3>Only</h3>"


def test_an_empty_header_cell_becomes_a_plain_cell() -> None:
    html = render_markdown("| | value |\n|---|---|\n| a | 1 |\n")
    assert "<th></th>" not in html and "<td></td>" in html and "<th>value</th>" in html
