"""How :mod:`webchat_wrapup.tools.charts` lays out and draws its charts,
from arguments it has already checked.

A chart is a title, a legend under it, and a plot: a frame with a vertical
value axis (line chart, histogram) or bands with a horizontal one
(grouped bars). Heights follow from what is drawn; widths are given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs

from . import _svg
from ._svg import text

PLOT_HEIGHT = 240
"""The height of the plot area of a line chart or histogram, in pixels."""
NOTHING_TO_SHOW = "Nothing to show yet"
"""What a chart with nothing to draw says where the marks would be."""
_MARKED_POINTS = 60
"""Line charts with at most this many points mark each one with a dot."""


@attrs.frozen
class Titles:
    """The chart's title and its axes' (empty for none)."""

    chart: str
    x: str
    y: str


def line_chart(
    titles: Titles, width: int, labels: list[str], lines: dict[str, list[float]]
) -> str:
    """See :func:`webchat_wrapup.tools.charts.line_chart`."""
    chart = _Chart(titles.chart, width, list(lines))
    values = [v for numbers in lines.values() for v in numbers]
    frame = chart.frame(values, titles.y, labels)
    if not labels or not lines:
        return chart.done(frame.empty(), titles.x, frame)
    step = frame.plot_width / max(len(labels) - 1, 1)
    xs = [
        frame.left + (i * step if len(labels) > 1 else frame.plot_width / 2)
        for i in range(len(labels))
    ]
    marks = [frame.x_labels(labels, xs)]
    for index, (name, numbers) in enumerate(lines.items()):
        marks.append(_line(index, name, labels, xs, numbers, frame))
    return chart.done("".join(marks), titles.x, frame)


def histogram(
    titles: Titles, width: int, bounds: list[float], heights: list[float]
) -> str:
    """See :func:`webchat_wrapup.tools.charts.histogram`."""
    chart = _Chart(titles.chart, width, [])
    edge_labels = [_svg.number(b) for b in bounds]
    frame = chart.frame(heights, titles.y, edge_labels)
    if not heights:
        return chart.done(frame.empty(), titles.x, frame)
    span = bounds[-1] - bounds[0]
    xs = [frame.left + (b - bounds[0]) / span * frame.plot_width for b in bounds]
    marks = [frame.x_labels(edge_labels, xs)]
    for i, count in enumerate(heights):
        marks.append(_bin(frame, xs[i], xs[i + 1], count, edge_labels[i : i + 2]))
    return chart.done("".join(marks), titles.x, frame)


def grouped_bars(
    titles: Titles, width: int, names: list[str], groups: dict[str, list[float]]
) -> str:
    """See :func:`webchat_wrapup.tools.charts.grouped_bars`."""
    chart = _Chart(titles.chart, width, list(groups))
    values = [v for numbers in groups.values() for v in numbers]
    return _Bars(chart, names, groups, values).draw(titles.x)


class _Chart:
    """The parts every chart shares: title, legend, the ``<svg>`` around it."""

    def __init__(self, title: str, width: int, names: list[str]) -> None:
        self.title, self.width, self.names = title, width, names
        self.legend, legend_height = _svg.legend(names, top=30, left=8, right=width - 8)
        self.top = 30 + legend_height + 12

    def frame(
        self, values: Sequence[float], y_title: str, x_labels: Sequence[str]
    ) -> _Frame:
        """The plot area of a chart with a vertical axis that holds ``values``."""
        return _Frame(self, _svg.ticks(values), y_title, x_labels)

    def done(self, marks: str, x_title: str, frame: _Frame) -> str:
        """The whole ``<svg>``: ``marks`` over ``frame``'s axes."""
        axes, height = frame.axes(x_title)
        return self.wrap(axes + marks, height)

    def wrap(self, body: str, height: float) -> str:
        """``body`` in the ``<svg>`` element, with title and legend."""
        description = (
            f"{len(self.names)} series: {', '.join(self.names)}."
            if self.names
            else "A chart; the same numbers follow as a table."
        )
        return (
            f'<svg class="chart" viewBox="0 0 {self.width} {height:.0f}" '
            f'width="{self.width}" height="{height:.0f}" role="img" '
            f'aria-label="{text(self.title)}" font-family="system-ui, sans-serif" '
            f'font-size="{_svg.FONT_SIZE}">'
            f"{_svg.title_and_description(self.title, description, self.width)}"
            f"{self.legend}{body}</svg>"
        )


class _Frame:
    """A plot area with a vertical value axis (line chart, histogram)."""

    def __init__(
        self, chart: _Chart, ticks: list[float], y_title: str, x_labels: Sequence[str]
    ) -> None:
        self.ticks, self.y_title = ticks, y_title
        tick_width = max(_svg.width_of(_svg.number(t)) for t in ticks)
        self.label_room = min(140.0, chart.width / 4)
        half_label = max(
            (_svg.width_of(_svg.fit(x, self.label_room)) / 2 for x in x_labels[-1:]),
            default=0.0,
        )
        self.left = 8 + (22 if y_title else 0) + tick_width + 8
        self.right = chart.width - max(16.0, half_label + 4)
        self.top = chart.top
        self.bottom = self.top + PLOT_HEIGHT
        self.plot_width = self.right - self.left

    def y(self, value: float) -> float:
        """The vertical pixel of ``value``."""
        return self.bottom - value / self.ticks[-1] * PLOT_HEIGHT

    def axes(self, x_title: str) -> tuple[str, float]:
        """Grid lines, tick labels and axis titles; and the chart's height."""
        parts = ['<g class="axis">']
        for tick in self.ticks:
            y = self.y(tick)
            parts.append(
                f'<line x1="{self.left:.1f}" y1="{y:.1f}" x2="{self.right:.1f}" '
                f'y2="{y:.1f}" stroke="#ddd"/><text x="{self.left - 6:.1f}" '
                f'y="{y + 4:.1f}" text-anchor="end">{_svg.number(tick)}</text>'
            )
        parts.append(
            f'<line x1="{self.left:.1f}" y1="{self.bottom:.1f}" x2="{self.right:.1f}" '
            f'y2="{self.bottom:.1f}" stroke="#333"/>'
        )
        middle_y = (self.top + self.bottom) / 2
        if self.y_title:
            parts.append(
                f'<text x="16" y="{middle_y:.1f}" text-anchor="middle" '
                f'transform="rotate(-90 16 {middle_y:.1f})">{text(self.y_title)}</text>'
            )
        height = self.bottom + 30
        if x_title:
            parts.append(
                f'<text x="{(self.left + self.right) / 2:.1f}" y="{height + 8:.1f}" '
                f'text-anchor="middle">{text(x_title)}</text>'
            )
            height += 20
        parts.append("</g>")
        return "".join(parts), height

    def x_labels(self, labels: Sequence[str], xs: Sequence[float]) -> str:
        """Labels under the points ``xs``, every n-th so none overlap."""
        widest = max(_svg.width_of(_svg.fit(x, self.label_room)) for x in labels)
        spacing = (xs[-1] - xs[0]) / max(len(xs) - 1, 1) or self.plot_width
        every = max(1, math.ceil((widest + 10) / spacing))
        return "".join(
            f'<text x="{x:.1f}" y="{self.bottom + 18:.1f}" text-anchor="middle">'
            f"<title>{text(label)}</title>{text(_svg.fit(label, self.label_room))}"
            "</text>"
            for i, (label, x) in enumerate(zip(labels, xs, strict=True))
            if i % every == 0
        )

    def empty(self) -> str:
        """The note drawn instead of marks."""
        middle = (self.top + self.bottom) / 2
        return _svg.nothing_to_show(
            (self.left + self.right) / 2, middle, NOTHING_TO_SHOW
        )


def _line(
    index: int,
    name: str,
    labels: Sequence[str],
    xs: Sequence[float],
    numbers: Sequence[float],
    frame: _Frame,
) -> str:
    stroke, dash = _svg.colour(index)
    points = " ".join(
        f"{x:.1f},{frame.y(v):.1f}" for x, v in zip(xs, numbers, strict=True)
    )
    parts = [
        f'<g><polyline class="series" '
        f'data-series="{text(name)}" points="{points}" fill="none" '
        f'stroke="{stroke}" stroke-width="2"{_svg.dash_of(dash)}/>'
    ]
    if len(xs) <= _MARKED_POINTS:
        parts += [
            f'<circle class="point" cx="{x:.1f}" cy="{frame.y(v):.1f}" r="3" '
            f'fill="{stroke}"><title>{text(name)}, {text(label)}: '
            f"{_svg.number(v)}</title></circle>"
            for x, v, label in zip(xs, numbers, labels, strict=True)
        ]
    parts.append("</g>")
    return "".join(parts)


def _bin(frame: _Frame, x0: float, x1: float, count: float, edges: list[str]) -> str:
    y = frame.y(count)
    shown = _svg.number(count)
    bar = (
        f'<rect class="bar" x="{x0 + 0.5:.1f}" y="{y:.1f}" '
        f'width="{max(x1 - x0 - 1, 0.5):.1f}" height="{frame.bottom - y:.1f}" '
        f'fill="{_svg.PALETTE[0]}"><title>{edges[0]} to {edges[1]}: {shown}'
        "</title></rect>"
    )
    if x1 - x0 < _svg.width_of(shown) + 2 or not count:
        return bar
    return bar + (
        f'<text x="{(x0 + x1) / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">'
        f"{shown}</text>"
    )


class _Bars:
    """Horizontal grouped bars: a band per category, a bar per series."""

    BAR = 12
    GAP = 10

    def __init__(
        self,
        chart: _Chart,
        categories: list[str],
        groups: dict[str, list[float]],
        values: Sequence[float],
    ) -> None:
        self.chart, self.categories, self.groups = chart, categories, groups
        self.ticks = _svg.ticks(values)
        self.band = max(len(groups), 1) * self.BAR + self.GAP
        widest = max((_svg.width_of(c) for c in categories), default=0.0)
        self.label_room = min(widest, chart.width * 0.3)
        self.left = 8 + self.label_room + 8
        value_room = max(_svg.width_of(_svg.number(t)) for t in self.ticks)
        self.right = chart.width - value_room - 12
        self.top = chart.top
        self.bottom = self.top + max(len(categories) * self.band, 60)

    def x(self, value: float) -> float:
        """The horizontal pixel of ``value``."""
        return self.left + value / self.ticks[-1] * (self.right - self.left)

    def draw(self, value_title: str) -> str:
        """The whole ``<svg>``."""
        title = value_title
        parts = [self.axis(title)]
        if not self.categories or not self.groups:
            middle = (self.top + self.bottom) / 2
            parts.append(
                _svg.nothing_to_show(
                    self.x(self.ticks[-1] / 2), middle, NOTHING_TO_SHOW
                )
            )
        for i, category in enumerate(self.categories):
            parts.append(self.band_of(i, category))
        return self.chart.wrap("".join(parts), self.bottom + (50 if title else 30))

    def axis(self, title: str) -> str:
        """Vertical grid lines, tick labels under them and the axis title."""
        parts = ['<g class="axis">']
        for tick in self.ticks:
            x = self.x(tick)
            parts.append(
                f'<line x1="{x:.1f}" y1="{self.top:.1f}" x2="{x:.1f}" '
                f'y2="{self.bottom:.1f}" stroke="#ddd"/><text x="{x:.1f}" '
                f'y="{self.bottom + 16:.1f}" text-anchor="middle">'
                f"{_svg.number(tick)}</text>"
            )
        if title:
            parts.append(
                f'<text x="{(self.left + self.right) / 2:.1f}" '
                f'y="{self.bottom + 38:.1f}" text-anchor="middle">{text(title)}</text>'
            )
        parts.append("</g>")
        return "".join(parts)

    def band_of(self, index: int, category: str) -> str:
        """The label and bars of one category."""
        top = self.top + index * self.band + self.GAP / 2
        middle = top + (self.band - self.GAP) / 2
        parts = [
            f'<g data-category="{text(category)}"><text x="{self.left - 8:.1f}" '
            f'y="{middle + 4:.1f}" text-anchor="end"><title>{text(category)}</title>'
            f"{text(_svg.fit(category, self.label_room))}</text>"
        ]
        for j, (name, numbers) in enumerate(self.groups.items()):
            parts.append(
                self.bar(j, name, category, numbers[index], top + j * self.BAR)
            )
        parts.append("</g>")
        return "".join(parts)

    def bar(self, index: int, name: str, category: str, value: float, y: float) -> str:
        """One bar and its value."""
        fill, _ = _svg.colour(index)
        end = self.x(value)
        shown = _svg.number(value)
        return (
            f'<rect class="bar" data-series="{text(name)}" '
            f'data-category="{text(category)}" x="{self.left:.1f}" y="{y:.1f}" '
            f'width="{end - self.left:.1f}" height="{self.BAR - 1}" fill="{fill}">'
            f"<title>{text(category)}, {text(name)}: {shown}</title></rect>"
            f'<text x="{end + 4:.1f}" y="{y + self.BAR - 2:.1f}" font-size="10">'
            f"{shown}</text>"
        )
