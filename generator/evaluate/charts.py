"""Small, dependency-free SVG charts for model pages: horizontal bars and a confusion matrix.

Every text that reaches the SVG (feature names and labels come from untrusted cards) is escaped
here, and characters XML does not allow are dropped, so a chart is well-formed XML whatever a
card says. Charts are accessible (role="img", an aria-label and a <title>) and draw with
`currentColor` plus classes that modelshelf.css colours from the theme's variables, so they read
in the light and the dark palette. No ids are used, so any number of charts can share a page.
"""
from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

# Characters XML 1.0 forbids (C0 controls except tab/newline/CR, surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CHAR_W = 6.6  # px per character at font-size 11, for laying out labels
_FONT = 11
MAX_LABEL_CHARS = 40


def esc(text: object) -> str:
    """Text or attribute value, escaped for XML/HTML (quotes too), with XML-invalid characters removed."""
    return html.escape(_NOT_XML.sub("", str(text)), quote=True)


def _clip(label: str, limit: int = MAX_LABEL_CHARS) -> str:
    label = " ".join(str(label).split())
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def _open(kind: str, width: float, height: float, title: str, summary: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ms-chart ms-chart--{esc(kind)}"'
        f' viewBox="0 0 {_num(width)} {_num(height)}"'
        f' width="{_num(width)}" height="{_num(height)}" role="img" aria-label="{esc(summary)}"'
        f' font-size="{_FONT}" fill="currentColor">',
        f"<title>{esc(title)}</title>",
        f"<desc>{esc(summary)}</desc>",
    ]


def bar_chart(items: Sequence[tuple[str, float]], *, title: str, value_text: Callable[[float], str] | None = None,
              summary: str | None = None, bar_width: float = 260.0) -> str:
    """A horizontal bar chart, one row per (label, value), in the order given. Negative values extend left."""
    fmt = value_text or (lambda v: f"{v:g}")
    labels = [_clip(label) for label, _ in items]
    values = [float(v) for _, v in items]
    texts = [fmt(v) for v in values]
    row, top, pad = 20, 6, 8
    label_w = min(MAX_LABEL_CHARS, max((len(s) for s in labels), default=4)) * _CHAR_W + pad
    text_w = max((len(t) for t in texts), default=1) * _CHAR_W + pad
    lo, hi = min(0.0, *values) if values else 0.0, max(0.0, *values) if values else 0.0
    span = (hi - lo) or 1.0
    zero = label_w + (0.0 - lo) / span * bar_width
    width = label_w + bar_width + text_w
    height = top * 2 + row * max(1, len(items))
    if summary is None:
        summary = f"{title}: " + "; ".join(f"{label} {t}" for (label, _), t in zip(items, texts))
    out = _open("bar", width, height, title, summary)
    for i, (label, short, value, text) in enumerate(zip((lbl for lbl, _ in items), labels, values, texts)):
        y = top + i * row
        x0 = zero + min(0.0, value) / span * bar_width
        w = abs(value) / span * bar_width
        neg = " ms-chart__bar--neg" if value < 0 else ""
        out.append(f'<g class="ms-chart__row"><title>{esc(label)}: {esc(text)}</title>'
                   f'<text class="ms-chart__label" x="{_num(label_w - pad)}" y="{_num(y + row * 0.68)}" text-anchor="end">'
                   f'{esc(short)}</text>'
                   f'<rect class="ms-chart__bar{neg}" x="{x0:.1f}" y="{y + 3}" width="{max(w, 0.5):.1f}" height="{row - 6}"'
                   f' rx="2" fill-opacity="0.75"/>'
                   f'<text class="ms-chart__value" x="{label_w + bar_width + 4:.1f}" y="{_num(y + row * 0.68)}">'
                   f'{esc(text)}</text></g>')
    out.append(f'<line class="ms-chart__axis" x1="{zero:.1f}" x2="{zero:.1f}" y1="{top}" y2="{height - top}"'
               f' stroke="currentColor" stroke-opacity="0.4"/>')
    out.append("</svg>")
    return "".join(out)


def confusion_chart(matrix: Sequence[Sequence[int]], labels: Sequence[str], *, title: str = "Confusion matrix",
                    summary: str | None = None) -> str:
    """Rows are true classes, columns predicted ones; a cell's shade is its share of the row (the class's recall)."""
    n = len(matrix)
    short = [_clip(lbl, 18) for lbl in labels]
    cell = 34 if n <= 10 else 24 if n <= 20 else 16
    label_w = max((len(s) for s in short), default=1) * _CHAR_W + 10
    top_label_h = label_w  # column labels are rotated, so they need as much height as the row labels need width
    left, top = label_w + 18, top_label_h + 18
    # Rotated column labels lean right: leave room for the last one.
    width = left + n * cell + 6 + max((len(s) for s in short), default=1) * _CHAR_W * 0.5
    height = top + n * cell + 6
    correct = sum(int(matrix[i][i]) for i in range(n))
    total = sum(int(v) for r in matrix for v in r)
    if summary is None:
        summary = f"{title}: {correct} of {total} cases on the diagonal (predicted class = true class), {n} classes."
    out = _open("confusion", width, height, title, summary)
    out.append(f'<text class="ms-chart__axis-title" x="{left + n * cell / 2:.1f}" y="11" text-anchor="middle">predicted</text>')
    out.append(f'<text class="ms-chart__axis-title" transform="translate(11 {top + n * cell / 2:.1f}) rotate(-90)"'
               ' text-anchor="middle">true</text>')
    for j, lbl in enumerate(short):
        x = left + j * cell + cell / 2 + 4
        out.append(f'<text class="ms-chart__label" transform="translate({x:.1f} {top - 4}) rotate(-60)">{esc(lbl)}</text>')
    for i, row in enumerate(matrix):
        row_total = sum(int(v) for v in row) or 1
        y = top + i * cell
        out.append(f'<text class="ms-chart__label" x="{left - 4}" y="{y + cell * 0.62:.1f}" text-anchor="end">'
                   f'{esc(short[i])}</text>')
        for j, value in enumerate(row):
            share = int(value) / row_total
            x = left + j * cell
            kind = "ms-chart__cell--diag" if i == j else "ms-chart__cell--off"
            strong = " ms-chart__cell-text--strong" if share > 0.5 else ""
            out.append(f'<g><title>true {esc(labels[i])}, predicted {esc(labels[j])}: {int(value)} of {row_total}</title>'
                       f'<rect class="ms-chart__cell {kind}" x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" rx="2"'
                       f' fill-opacity="{0.06 + 0.88 * share:.3f}"/>')
            if cell >= 24 and value:
                digits = len(str(int(value)))
                size = f' font-size="{max(7, min(_FONT, int(cell * 1.6 / digits)))}"' if digits > 3 else ""
                out.append(f'<text class="ms-chart__cell-text{strong}" x="{x + (cell - 2) / 2:.1f}" y="{y + cell * 0.6:.1f}"'
                           f' text-anchor="middle"{size}>{int(value)}</text>')
            out.append("</g>")
    out.append("</svg>")
    return "".join(out)
