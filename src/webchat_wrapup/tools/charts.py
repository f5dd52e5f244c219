"""Charts as inline SVG from plain data: no dependency, no script, no URL.

Each chart is a function of a title, labels and numbers (plain ``str``,
sequences and mappings) that returns one ``<svg>`` element as text, ready
to sit in an HTML page:

- :func:`line_chart`: several series over the same points, such as each
  classification's count per hour;
- :func:`histogram`: counts in adjacent bins, such as how long wrap-up
  lasted;
- :func:`grouped_bars`: several series per category as horizontal bars,
  such as extensions and expiries per queue;

and :func:`data_table` gives the same numbers as an HTML table, for the
readers (and screen readers) who want figures, not shapes.

Every text is escaped, so a label an agent typed (a free-text
classification) can never turn into markup; characters XML cannot hold
become U+FFFD. Numbers must be finite and not negative: counts, seconds,
shares. A chart with nothing to draw says so where the marks would be.
Eight colours tell series apart (past eight they repeat, lines dashed).
Marks carry classes and data attributes (``polyline.series``,
``rect.bar``, ``data-series``, ``data-category``) for styling and tests.
The ``<svg>`` has no ``xmlns``: HTML needs none; add
``xmlns="http://www.w3.org/2000/svg"`` to save one as an ``.svg`` file.
Wrong arguments raise :class:`~webchat_wrapup.InvalidInput`
(``invalid_argument``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

from .._core._errors import invalid_argument
from . import _plot
from ._plot import NOTHING_TO_SHOW, PLOT_HEIGHT, Titles
from ._svg import text

__all__ = [
    "DEFAULT_WIDTH",
    "NOTHING_TO_SHOW",
    "PLOT_HEIGHT",
    "data_table",
    "grouped_bars",
    "histogram",
    "line_chart",
]

DEFAULT_WIDTH = 720
"""The width of a chart in pixels unless given (it shrinks to fit a page)."""

Cell = str | int | float


def line_chart(
    *,
    title: str,
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    x_title: str = "",
    y_title: str = "",
    width: int = DEFAULT_WIDTH,
) -> str:
    """One line per series over the points ``x_labels`` names, evenly spaced.

    Every series has one number per label; a point's dot shows its series,
    label and value when hovered.
    """
    labels = _labels("x_labels", x_labels)
    lines = _series(series, len(labels))
    return _plot.line_chart(
        _titles(title, x_title, y_title), _width(width), labels, lines
    )


def histogram(
    *,
    title: str,
    edges: Sequence[float],
    counts: Sequence[float],
    x_title: str = "",
    y_title: str = "",
    width: int = DEFAULT_WIDTH,
) -> str:
    """One bar per bin: bin ``i`` runs from ``edges[i]`` to ``edges[i + 1]``
    and holds ``counts[i]``; edges rise, one more of them than of counts
    (or both empty)."""
    bounds = _numbers("edges", edges)
    heights = _numbers("counts", counts)
    if bounds and len(bounds) != len(heights) + 1:
        raise invalid_argument("edges", "one more number than counts", edges)
    if not bounds and heights:
        raise invalid_argument("edges", "one more number than counts", edges)
    if any(b <= a for a, b in itertools.pairwise(bounds)):
        raise invalid_argument("edges", "rising numbers", edges)
    return _plot.histogram(
        _titles(title, x_title, y_title), _width(width), bounds, heights
    )


def grouped_bars(
    *,
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    value_title: str = "",
    width: int = DEFAULT_WIDTH,
) -> str:
    """For each category, one horizontal bar per series, labelled with its
    value; every series has one number per category."""
    names = _labels("categories", categories)
    groups = _series(series, len(names))
    titles = Titles(_text("title", title), _text("value_title", value_title), "")
    return _plot.grouped_bars(titles, _width(width), names, groups)


def data_table(
    *, caption: str, headers: Sequence[str], rows: Sequence[Sequence[Cell]]
) -> str:
    """The numbers as an HTML ``<table>``: text cells as given, whole
    numbers with thousands separators, other numbers to one decimal place;
    each number keeps its exact value in ``data-value``."""
    shown = _text("caption", caption)
    columns = _labels("headers", headers)
    head = "".join(f'<th scope="col">{text(h)}</th>' for h in columns)
    body = [_table_row(i, row, len(columns)) for i, row in enumerate(rows)]
    return (
        f"<table><caption>{text(shown)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _table_row(index: int, row: Sequence[Cell], length: int) -> str:
    if isinstance(row, (str, bytes)) or not isinstance(row, Sequence):
        raise invalid_argument(f"rows[{index}]", "a sequence of cells", row)
    if len(row) != length:
        raise invalid_argument(f"rows[{index}]", f"{length} cells", row)
    return "<tr>" + "".join(_cell(index, cell) for cell in row) + "</tr>"


def _cell(index: int, cell: Cell) -> str:
    if isinstance(cell, str):
        return f"<td>{text(cell)}</td>"
    if isinstance(cell, bool) or not isinstance(cell, (int, float)):
        raise invalid_argument(f"rows[{index}]", "text and numbers", cell)
    if isinstance(cell, int) and cell.bit_length() > 64:
        raise invalid_argument(f"rows[{index}]", "numbers of at most 64 bits", cell)
    shown = f"{cell:,}" if isinstance(cell, int) else f"{cell:,.1f}"
    return f'<td class="num" data-value="{cell!r}">{shown}</td>'


# Checking the arguments


def _text(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise invalid_argument(field, "a string", value)
    return value


def _titles(title: object, x_title: object, y_title: object) -> Titles:
    return Titles(
        _text("title", title), _text("x_title", x_title), _text("y_title", y_title)
    )


def _width(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_argument("width", "a whole number of pixels", value)
    if not 240 <= value <= 4000:
        raise invalid_argument("width", "from 240 to 4000 pixels", value)
    return value


def _sequence(field: str, values: object) -> Sequence[object]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise invalid_argument(field, "a list or tuple", values)
    return values


def _labels(field: str, values: object) -> list[str]:
    items = _sequence(field, values)
    return [_text(f"{field}[{i}]", item) for i, item in enumerate(items)]


def _numbers(field: str, values: object) -> list[float]:
    checked = []
    for i, item in enumerate(_sequence(field, values)):
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise invalid_argument(f"{field}[{i}]", "a number", item)
        try:
            number = float(item)
        except OverflowError:  # a whole number past any float
            number = math.inf
        if not (math.isfinite(number) and number >= 0):
            raise invalid_argument(f"{field}[{i}]", "finite and not negative", item)
        checked.append(number)
    return checked


def _series(series: object, length: int) -> dict[str, list[float]]:
    if not isinstance(series, Mapping):
        raise invalid_argument("series", "a mapping of names to numbers", series)
    checked = {}
    for name, numbers in series.items():
        field = f"series[{_text('series name', name)!r}]"
        checked[name] = _numbers(field, numbers)
        if len(checked[name]) != length:
            raise invalid_argument(field, f"{length} numbers, one per label", numbers)
    return checked
