"""The SVG charts: well-formed XML whatever a card says, escaped text, accessible, no script."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from modelshelf.generator.evaluate.charts import bar_chart, confusion_chart, esc

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = [
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "a & b ]]> <!-- c",
    "bell\x07 and null\x00 and \ufffe",
    "' onmouseover='alert(2)",
    "x" * 500,
]


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on anything that is not well-formed XML
    assert root.tag == f"{SVG}svg"
    return root


def _check_accessible_and_inert(root: ET.Element) -> None:
    assert root.get("role") == "img"
    assert root.get("aria-label")
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}title").text
    tags = {el.tag.replace(SVG, "") for el in root.iter()}
    assert not tags & {"script", "foreignObject", "image", "a", "iframe", "use"}, tags
    for el in root.iter():
        for attr in el.attrib:
            assert not attr.lower().startswith("on"), f"event handler {attr} on <{el.tag}>"
            assert "javascript:" not in el.attrib[attr].lower()


def test_bar_chart_escapes_hostile_labels() -> None:
    svg = bar_chart([(label, i - 2.5) for i, label in enumerate(HOSTILE)], title="<b>Importance</b> & more")
    root = _parse(svg)
    _check_accessible_and_inert(root)
    assert "<script" not in svg and "<img" not in svg
    texts = [el.text for el in root.iter(f"{SVG}text")]
    assert "<script>alert('x')</script>" in texts  # shown as text, not markup
    assert root.find(f"{SVG}title").text == "<b>Importance</b> & more"
    assert any("bell and null and" in (t or "") for t in texts), "characters XML forbids are dropped"


def test_bar_chart_lengths_follow_values() -> None:
    root = _parse(bar_chart([("a", 1.0), ("b", 0.5), ("c", -0.25)], title="t"))
    bars = [el for el in root.iter(f"{SVG}rect")]
    widths = [float(b.get("width")) for b in bars]
    assert widths[0] == pytest.approx(2 * widths[1]) and widths[1] == pytest.approx(2 * widths[2])
    assert "ms-chart__bar--neg" in bars[2].get("class")
    assert float(bars[2].get("x")) < float(bars[0].get("x")), "a negative bar extends left of the axis"


def test_empty_bar_chart_is_still_valid() -> None:
    _check_accessible_and_inert(_parse(bar_chart([], title="nothing")))


def test_confusion_chart_escapes_labels_and_counts_cases() -> None:
    labels = HOSTILE[:3]
    matrix = [[5, 1, 0], [0, 7, 2], [1, 0, 9]]
    svg = confusion_chart(matrix, labels)
    root = _parse(svg)
    _check_accessible_and_inert(root)
    assert "<script" not in svg and "<img" not in svg
    assert "21 of 25 cases on the diagonal" in root.get("aria-label")
    titles = [el.text for el in root.iter(f"{SVG}title")]
    assert "true <script>alert('x')</script>, predicted \"><img src=x onerror=alert(1)>: 1 of 6" in titles
    cells = [el for el in root.iter(f"{SVG}rect")]
    assert len(cells) == 9
    assert float(cells[0].get("fill-opacity")) > float(cells[1].get("fill-opacity"))


def test_esc_quotes_attributes() -> None:
    assert esc('"\'<>&') == "&quot;&#x27;&lt;&gt;&amp;"
