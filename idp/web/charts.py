"""Bar charts drawn on the server as SVG: the console's pages show figures over time with no
JavaScript and no chart library.

``bar_chart`` is a pure function from figures to markup. Every text in it is escaped, so the
caller may mark the result safe. The chart is one ``role="img"`` whose ``<title>`` and
``<desc>`` say what it shows and sum it up; the page gives the same figures as a table for
screen readers (a picture of sixty bars is no way to read numbers). Colours come from the
stylesheet's custom properties through classes (``chart-s0``, ``chart-s1``, ...), so light and
dark schemes both work and the strict CSP (no inline styles) holds. A ``viewBox`` with width
100% scales it to any width, down to a 390 px phone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 400, 200
LEFT, RIGHT, TOP, BOTTOM = 34, 6, 30, 22
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
#: The share of a bucket's width its bars fill; the rest separates buckets.
FILL = 0.8


@dataclass(frozen=True)
class Series:
    """One named row of figures, one per bucket."""

    name: str
    values: Sequence[int]


def bar_chart(
    *, chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series], every: int = 1
) -> str:
    """An SVG of ``series`` as grouped bars over ``labels`` (every ``every``-th one written
    under its bucket), a legend above; bar heights are proportional to the values."""
    top = max((v for s in series for v in s.values), default=0)
    scale = PLOT_HEIGHT / top if top else 0.0
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'aria-labelledby="{_e(chart_id)}-t {_e(chart_id)}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{_e(chart_id)}-t">{_e(title)}</title>',
        f'<desc id="{_e(chart_id)}-d">{_e(summary(labels, series))}</desc>',
        *_legend(series),
        *_axis(top),
        *_bars(labels, series, scale),
        *_labels(labels, every),
        "</svg>",
    ]
    return "\n".join(parts)


def summary(labels: Sequence[str], series: Sequence[Series]) -> str:
    """The chart in words: each series' total and its busiest bucket."""
    said = []
    for row in series:
        total = sum(row.values)
        if total:
            most = max(range(len(row.values)), key=lambda i: row.values[i])
            said.append(f"{row.name}: {total} in all, most {row.values[most]} at {labels[most]}.")
        else:
            said.append(f"{row.name}: none.")
    return " ".join(said)


def _legend(series: Sequence[Series]) -> list[str]:
    parts, x = [], LEFT
    for index, row in enumerate(series):
        parts.append(f'<rect class="chart-s{index}" x="{x}" y="8" width="10" height="10"/>')
        parts.append(f'<text x="{x + 14}" y="17">{_e(row.name)}</text>')
        x += 14 + 8 * len(row.name) + 16
    return parts


def _axis(top: int) -> list[str]:
    base = TOP + PLOT_HEIGHT
    return [
        f'<line class="chart-axis" x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}"/>',
        f'<line class="chart-grid" x1="{LEFT}" y1="{TOP}" x2="{WIDTH - RIGHT}" y2="{TOP}"/>',
        f'<text class="chart-y" x="{LEFT - 4}" y="{base + 4}">0</text>',
        f'<text class="chart-y" x="{LEFT - 4}" y="{TOP + 4}">{top}</text>',
    ]


def _bars(labels: Sequence[str], series: Sequence[Series], scale: float) -> list[str]:
    step = PLOT_WIDTH / max(len(labels), 1)
    width = step * FILL / max(len(series), 1)
    parts = []
    for bucket, label in enumerate(labels):
        for index, row in enumerate(series):
            height = round(row.values[bucket] * scale, 2)
            x = round(LEFT + bucket * step + step * (1 - FILL) / 2 + index * width, 2)
            y = round(TOP + PLOT_HEIGHT - height, 2)
            parts.append(
                f'<rect class="chart-s{index}" x="{x}" y="{y}" width="{round(width, 2)}" '
                f'height="{height}"><title>{_e(label)}: {row.values[bucket]} '
                f"{_e(row.name)}</title></rect>"
            )
    return parts


def _labels(labels: Sequence[str], every: int) -> list[str]:
    step = PLOT_WIDTH / max(len(labels), 1)
    y = TOP + PLOT_HEIGHT + 15
    return [
        f'<text class="chart-x" x="{round(LEFT + (i + 0.5) * step, 2)}" y="{y}">{_e(label)}</text>'
        for i, label in enumerate(labels)
        if i % every == 0
    ]


def _e(text: object) -> str:
    return escape(str(text), quote=True)
