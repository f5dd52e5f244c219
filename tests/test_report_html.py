"""The report as one HTML page: the text report's figures, a chart per
section, nothing fetched from anywhere."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from html_pages import Element, parse, table_cells
from support import T0
from test_report import entry
from webchat_wrapup import ContactHistoryEntry, WrapUpEnding
from webchat_wrapup.tools.cli import demo
from webchat_wrapup.tools.report import Report, build_report
from webchat_wrapup.tools.report_html import TRENDS_SHOWN, as_html, period_of

CHARTED = ("trends", "wrap-up-time", "extensions-per-queue", "extensions-per-agent")


def page_of(
    entries: list[ContactHistoryEntry], bucket: str = "hour"
) -> tuple[Element, Report, str]:
    report = build_report(entries, bucket=bucket)  # type: ignore[arg-type]
    page = as_html(
        {"all": report},
        database="day.db",
        period=period_of(entries),
        bucket=bucket,  # type: ignore[arg-type]
    )
    return parse(page), report, page


def part(tree: Element, name: str) -> Element:
    (found,) = tree.find_all("section", data_part=name)
    return found


def a_day() -> list[ContactHistoryEntry]:
    entries = []
    for minute in range(0, 180, 7):
        entries.append(
            entry(
                minute,
                ["Refund", "Late delivery", "Other"][minute % 3],
                WrapUpEnding.EXPIRED
                if minute % 5 == 0
                else WrapUpEnding.COMPLETED_EARLY,
                wrap_seconds=5 + minute % 70,
                extensions=minute % 2,
                queue=["sales", "support"][minute % 2],
                agent=["ana", "bob", "cem"][minute % 3],
            )
        )
    return entries


def test_the_page_parses_and_each_charted_section_has_one_chart() -> None:
    tree, _, _ = page_of(a_day())
    for name in CHARTED:
        assert len(part(tree, name).find_all("svg")) == 1, name
        assert len(part(tree, name).find_all("details")) == 1, name


def test_the_trend_chart_draws_each_classification_over_every_period() -> None:
    tree, report, _ = page_of(a_day())
    lines = part(tree, "trends").find_all("polyline", class_="series")
    classifications = {row.classification for row in report.trends}
    periods = {row.period for row in report.trends}
    assert {line.attributes["data-series"] for line in lines} == classifications
    for line in lines:
        assert len((line.attributes["points"] or "").split()) == len(periods) == 3


def test_the_trend_chart_puts_back_the_periods_without_chats() -> None:
    tree, report, _ = page_of([entry(0, "Refund"), entry(200, "Refund")])
    (line,) = part(tree, "trends").find_all("polyline", class_="series")
    assert len((line.attributes["points"] or "").split()) == 4  # 09:00 to 12:00
    table = part(tree, "trends").find_all("table")[0]
    assert len(table_cells(table)) == len(report.trends) == 2


def test_past_the_most_chosen_classifications_the_rest_is_one_line() -> None:
    labels = [f"Reason {n:02d}" for n in range(TRENDS_SHOWN + 4)]
    entries = [entry(n, label) for n, label in enumerate(labels)]
    entries += [entry(30 + n, labels[0]) for n in range(5)]
    tree, report, _ = page_of(entries)
    lines = part(tree, "trends").find_all("polyline", class_="series")
    names = [line.attributes["data-series"] for line in lines]
    assert names[0] == "Reason 00"  # the most chosen first
    assert names[-1] == "(4 more classifications)"
    assert len(lines) == TRENDS_SHOWN + 1
    assert len(table_cells(part(tree, "trends").find_all("table")[0])) == len(
        report.trends
    )


def test_the_trend_table_holds_the_reports_counts_and_shares() -> None:
    tree, report, _ = page_of(a_day())
    table = part(tree, "trends").find_all("table")[0]
    assert table_cells(table) == [
        [row.period, row.classification, str(row.count), f"{row.share:.1%}"]
        for row in report.trends
    ]


def test_the_histogram_has_a_bar_per_bin_and_the_bins_as_a_table() -> None:
    tree, report, _ = page_of(a_day())
    section = part(tree, "wrap-up-time")
    assert len(section.find_all("rect", class_="bar")) == len(report.wrap_up_time)
    assert table_cells(section.find_all("table")[0]) == [
        [repr(b.from_seconds), repr(b.to_seconds), str(b.chats)]
        for b in report.wrap_up_time
    ]


@pytest.mark.parametrize("group", ["queue", "agent"])
def test_extensions_and_expiries_have_two_bars_per_queue_and_agent(
    group: str,
) -> None:
    tree, report, _ = page_of(a_day())
    section = part(tree, f"extensions-per-{group}")
    rows = [row for row in report.wrap_up if row.group == group]
    bars = section.find_all("rect", class_="bar")
    assert [
        (b.attributes["data-category"], b.attributes["data-series"]) for b in bars
    ] == [
        (row.name, series)
        for row in rows
        for series in ("extensions used", "wrap-ups expired")
    ]
    assert table_cells(section.find_all("table")[0]) == [
        [row.name, str(row.chats), str(row.extensions), str(row.expired)]
        for row in rows
    ]


def test_the_wrap_up_table_holds_the_reports_figures_exactly() -> None:
    tree, report, _ = page_of(a_day())
    cells = table_cells(part(tree, "wrap-up").find_all("table")[0])
    assert cells == [
        [
            w.group,
            w.name,
            str(w.chats),
            repr(w.mean_seconds),
            repr(w.median_seconds),
            repr(w.p90_seconds),
            str(w.extensions),
            f"{w.share_extended:.1%}",
            str(w.expired),
            str(w.abuse_flags),
        ]
        for w in report.wrap_up
    ]


def test_the_counts_at_the_top_are_the_reports() -> None:
    entries = [
        *a_day(),
        entry(1, None, WrapUpEnding.EXPIRED),
        entry(2, "Other", WrapUpEnding.EXPIRED_WITH_DEFAULT),
    ]
    tree, report, _ = page_of(entries)
    (counts,) = tree.find_all("ul", class_="counts")
    shown = [int(s.text().replace(",", "")) for s in counts.find_all("strong")]
    assert shown == [
        report.entries,
        report.classified,
        report.timeout_defaults,
        report.unclassified,
        report.abuse_flags,
    ]


def test_pauses_and_transfers_appear_only_when_there_are_some(tmp_path: Path) -> None:
    plain, _, _ = page_of(a_day())
    assert not plain.find_all("section", data_part="pauses")
    assert not plain.find_all("section", data_part="transfers")
    history = demo.run(lambda _: None, tmp_path / "demo.db")
    tree, report, _ = page_of(history, bucket="day")
    pauses = table_cells(part(tree, "pauses").find_all("table")[0])
    assert [row[5] for row in pauses] == [str(p.pauses) for p in report.pauses]
    transfers = table_cells(part(tree, "transfers").find_all("table")[0])
    assert transfers == [
        [
            t.group,
            t.name,
            str(t.legs),
            str(t.to_agents),
            str(t.to_queues),
            str(t.taken_over),
        ]
        for t in report.transfers
    ]


def test_a_classification_typed_as_markup_stays_text() -> None:
    typed = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    tree, _, page = page_of([entry(1, typed), entry(2, typed)])
    assert not tree.find_all("script")
    assert not tree.find_all("img")
    assert "<script" not in page
    assert "&lt;script&gt;" in page
    cells = table_cells(part(tree, "trends").find_all("table")[0])
    assert cells[0][1] == typed


def test_the_page_refers_to_nothing_outside_itself() -> None:
    _, _, page = page_of(a_day())
    tree = parse(page)
    assert not re.search(r"https?:|//[a-z]", page, re.I)
    for tag in ("script", "link", "img", "iframe", "object", "embed", "image", "use"):
        assert not tree.find_all(tag), tag
    assert not [
        e for e in tree.walk() if "src" in e.attributes or "href" in e.attributes
    ]
    (style,) = tree.find_all("style")
    assert "url(" not in style.text()
    assert "@import" not in style.text()


def test_the_page_is_ascii_whatever_the_labels() -> None:
    _, _, page = page_of([entry(1, "Rückerstattung 返金 🙂")])
    assert page.isascii()
    tree = parse(page)
    cells = table_cells(part(tree, "trends").find_all("table")[0])
    assert cells[0][1] == "Rückerstattung 返金 🙂"


def test_the_header_names_the_database_and_the_period() -> None:
    entries = [entry(0, "Refund"), entry(95, "Refund")]
    tree, _, _ = page_of(entries)
    (header,) = tree.find_all("header")
    assert "day.db" in header.text()
    start = entries[0].wrap_up_ended_at.strftime("%Y-%m-%d %H:%M")
    end = entries[-1].wrap_up_ended_at.strftime("%Y-%m-%d %H:%M")
    assert start in header.text()
    assert end in header.text()


def test_an_empty_history_gives_a_readable_page() -> None:
    page = as_html({}, database="empty.db", period=None)
    tree = parse(page)
    assert "No contact history" in tree.find_all("main")[0].text()
    assert "empty.db" in tree.find_all("header")[0].text()
    assert not tree.find_all("svg")


def test_a_run_whose_chats_were_never_classified_still_draws_its_sections() -> None:
    entries = [entry(m, None, WrapUpEnding.EXPIRED) for m in (1, 2, 3)]
    tree, report, _ = page_of(entries)
    assert report.trends == ()
    assert "Nothing to show yet" in part(tree, "trends").text()
    assert part(tree, "wrap-up-time").find_all("rect", class_="bar")


def test_the_period_is_the_first_and_last_end_of_wrap_up() -> None:
    entries = [entry(30), entry(5), entry(90)]
    first: datetime = T0 + timedelta(minutes=5, seconds=30)
    last: datetime = T0 + timedelta(minutes=90, seconds=30)
    assert period_of(entries) == (first, last)
    assert period_of([]) is None
