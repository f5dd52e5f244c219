"""Charts as inline SVG: one mark per number, escaped text, well formed
whatever the data."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from html_pages import parse, table_cells
from webchat_wrapup import ErrorCode, InvalidInput
from webchat_wrapup.tools import charts

SCRIPT = "<script>alert(1)</script>"


def svg_tree(svg: str) -> ET.Element:
    """``svg`` read as XML: fails unless it is well formed."""
    return ET.fromstring(svg)


def marks(svg: str, tag: str, class_: str) -> list[ET.Element]:
    return [e for e in svg_tree(svg).iter(tag) if e.get("class") == class_]


def test_a_line_chart_draws_one_line_per_series_with_one_point_per_label() -> None:
    svg = charts.line_chart(
        title="Chats per classification",
        x_labels=["09:00", "10:00", "11:00"],
        series={"Refund": [3, 5, 2], "Late delivery": [0, 1, 7]},
        x_title="hour",
        y_title="chats",
    )
    lines = marks(svg, "polyline", "series")
    assert [line.get("data-series") for line in lines] == ["Refund", "Late delivery"]
    points = [line.get("points", "").split() for line in lines]
    assert [len(p) for p in points] == [3, 3]
    heights = [float(point.split(",")[1]) for point in points[1]]
    assert heights[0] > heights[1] > heights[2]  # 0 < 1 < 7: higher is up
    assert len(marks(svg, "circle", "point")) == 6


def test_a_histogram_draws_one_bar_per_bin_as_tall_as_its_count() -> None:
    svg = charts.histogram(
        title="Wrap-up time", edges=[0, 10, 20, 30], counts=[4, 0, 8]
    )
    bars = marks(svg, "rect", "bar")
    assert len(bars) == 3
    heights = [float(bar.get("height", "")) for bar in bars]
    assert heights[1] == 0
    assert heights[2] == pytest.approx(2 * heights[0])
    widths = {float(bar.get("width", "")) for bar in bars}
    assert len(widths) == 1  # equal bins, equal bars


def test_grouped_bars_draw_one_bar_per_category_and_series() -> None:
    svg = charts.grouped_bars(
        title="Extensions and expiries",
        categories=["sales", "support"],
        series={"extensions": [3, 6], "expired": [1, 0]},
        value_title="count",
    )
    bars = marks(svg, "rect", "bar")
    assert [(b.get("data-category"), b.get("data-series")) for b in bars] == [
        ("sales", "extensions"),
        ("sales", "expired"),
        ("support", "extensions"),
        ("support", "expired"),
    ]
    widths = [float(b.get("width", "")) for b in bars]
    assert widths[2] == pytest.approx(2 * widths[0])
    assert widths[3] == 0


def test_every_chart_has_a_title_axis_titles_and_a_legend() -> None:
    svg = charts.line_chart(
        title="Trends",
        x_labels=["a", "b"],
        series={"Refund": [1, 2]},
        x_title="hour",
        y_title="chats",
    )
    root = svg_tree(svg)
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Trends"
    assert root.findtext("title") == "Trends"
    texts = {"".join(e.itertext()) for e in root.iter("text")}
    assert {"hour", "chats"} <= texts
    (legend,) = [e for e in root.iter("g") if e.get("class") == "legend"]
    assert "Refund" in "".join(legend.itertext())


@pytest.mark.parametrize(
    "draw",
    [
        lambda label: charts.line_chart(
            title=label, x_labels=[label], series={label: [1]}, x_title=label
        ),
        lambda label: charts.histogram(
            title=label, edges=[0, 1], counts=[1], x_title=label, y_title=label
        ),
        lambda label: charts.grouped_bars(
            title=label, categories=[label], series={label: [1]}, value_title=label
        ),
        lambda label: charts.data_table(caption=label, headers=[label], rows=[[label]]),
    ],
    ids=["line", "histogram", "bars", "table"],
)
def test_a_script_in_a_label_is_text_never_markup(draw: Callable[[str], str]) -> None:
    out = draw(SCRIPT)
    assert "<script" not in out
    assert "&lt;script&gt;" in out
    assert not parse(out).find_all("script")


def test_nothing_to_draw_says_so() -> None:
    for svg in (
        charts.line_chart(title="t", x_labels=[], series={}),
        charts.histogram(title="t", edges=[], counts=[]),
        charts.grouped_bars(title="t", categories=[], series={}),
    ):
        assert charts.NOTHING_TO_SHOW in svg
        svg_tree(svg)


def test_a_data_table_keeps_each_numbers_exact_value() -> None:
    table = charts.data_table(
        caption="c", headers=["name", "chats", "mean"], rows=[["sales", 1250, 33.87]]
    )
    (tree,) = parse(table).find_all("table")
    assert table_cells(tree) == [["sales", "1250", "33.87"]]
    assert "1,250" in table
    assert ">33.9<" in table
    assert tree.find_all("caption")[0].text() == "c"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"series": {"a": [-1]}}, "series['a'][0]"),
        ({"series": {"a": [float("nan")]}}, "series['a'][0]"),
        ({"series": {"a": [float("inf")]}}, "series['a'][0]"),
        ({"series": {"a": [10**400]}}, "series['a'][0]"),
        ({"series": {"a": [True]}}, "series['a'][0]"),
        ({"series": {"a": ["1"]}}, "series['a'][0]"),
        ({"series": {"a": [1, 2]}}, "series['a']"),
        ({"series": {1: [1]}}, "series name"),
        ({"series": [[1]]}, "series"),
        ({"x_labels": "ab"}, "x_labels"),
        ({"x_labels": [1]}, "x_labels[0]"),
        ({"title": None}, "title"),
        ({"width": 10}, "width"),
        ({"width": 720.0}, "width"),
    ],
)
def test_wrong_data_is_refused_with_a_typed_error(
    arguments: dict[str, object], field: str
) -> None:
    given_ = {"title": "t", "x_labels": ["a"], "series": {"a": [1]}, **arguments}
    with pytest.raises(InvalidInput) as raised:
        charts.line_chart(**given_)  # type: ignore[arg-type]
    assert raised.value.code is ErrorCode.INVALID_ARGUMENT
    assert raised.value.details["field"] == field


@pytest.mark.parametrize(
    ("edges", "counts"),
    [([0, 1], [1, 2]), ([], [1]), ([0, 0], [1]), ([1, 0], [1]), ([0, 1], [-1])],
)
def test_a_histogram_needs_rising_edges_one_more_than_counts(
    edges: list[float], counts: list[float]
) -> None:
    with pytest.raises(InvalidInput):
        charts.histogram(title="t", edges=edges, counts=counts)


def test_a_table_row_must_have_one_cell_per_header() -> None:
    with pytest.raises(InvalidInput):
        charts.data_table(caption="c", headers=["a", "b"], rows=[["x"]])
    with pytest.raises(InvalidInput):
        charts.data_table(caption="c", headers=["a"], rows=[[None]])  # type: ignore[list-item]


# Whatever the data: well formed, one mark per number, never an exception.

LABELS = st.text(
    st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()),
    max_size=40,
)
NUMBERS = st.one_of(
    st.integers(min_value=0, max_value=10**300),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 0.0, 1, 5e-324, 1.7976931348623157e308]),
)
WIDTHS = st.integers(min_value=240, max_value=4000)


@st.composite
def series_over(draw: st.DrawFn, length: int) -> dict[str, list[float]]:
    names = draw(st.lists(LABELS, max_size=12, unique=True))
    return {
        name: draw(st.lists(NUMBERS, min_size=length, max_size=length))
        for name in names
    }


def title_of(svg: str) -> str:
    return " ".join((svg_tree(svg).findtext("title") or "").split())


def shown(label: str) -> str:
    """``label`` as the SVG holds it: XML's forbidden characters replaced."""
    cleaned = re.sub(
        "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]", "\ufffd", label
    )
    return " ".join(cleaned.split())


@given(
    title=LABELS,
    labels=st.lists(LABELS, max_size=50),
    data=st.data(),
    width=WIDTHS,
)
def test_a_line_chart_is_well_formed_for_any_data(
    title: str, labels: list[str], data: st.DataObject, width: int
) -> None:
    series = data.draw(series_over(len(labels)))
    svg = charts.line_chart(
        title=title, x_labels=labels, series=series, x_title=title, width=width
    )
    assert title_of(svg) == shown(title)
    lines = marks(svg, "polyline", "series")
    if labels:
        assert len(lines) == len(series)
        assert all(len(line.get("points", "").split()) == len(labels) for line in lines)
    svg.encode("utf-8")  # no lone surrogate left to fail on the way out


@given(
    title=LABELS,
    counts=st.lists(NUMBERS, max_size=40),
    start=NUMBERS,
    widths=st.lists(st.integers(1, 10**6), min_size=41, max_size=41),
)
def test_a_histogram_is_well_formed_for_any_data(
    title: str, counts: list[float], start: float, widths: list[int]
) -> None:
    edges = [float(start)]
    for width in widths[: len(counts)]:
        edges.append(edges[-1] + width)
    if len(set(edges)) < len(edges):  # too large to add a width to
        return
    svg = charts.histogram(title=title, edges=edges if counts else [], counts=counts)
    assert title_of(svg) == shown(title)
    assert len(marks(svg, "rect", "bar")) == len(counts)


@given(
    title=LABELS,
    categories=st.lists(LABELS, max_size=30),
    data=st.data(),
    width=WIDTHS,
)
def test_grouped_bars_are_well_formed_for_any_data(
    title: str, categories: list[str], data: st.DataObject, width: int
) -> None:
    series = data.draw(series_over(len(categories)))
    svg = charts.grouped_bars(
        title=title, categories=categories, series=series, width=width
    )
    assert title_of(svg) == shown(title)
    assert len(marks(svg, "rect", "bar")) == len(categories) * len(series)
    for bar in marks(svg, "rect", "bar"):
        assert float(bar.get("width", "")) >= 0
