"""The report as one HTML page of charts: ``webchat-wrapup report --format html``.

One self-contained document: inline CSS, inline SVG charts drawn by
:mod:`webchat_wrapup.tools.charts`, no script, no font, no image and no
address of anything, so it opens offline from a file or an e-mail
attachment. It holds the text report's figures, each chart followed by its
numbers as a table. Every character past ASCII is written as a character
reference, so the page reads the same whatever encoding carries it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from .._core._history import ContactHistoryEntry
from . import charts
from ._svg import text
from .report import Bucket, Report
from .runs import UNLABELLED

CHART_WIDTH = 980
"""The charts' width in pixels; they shrink with a narrower window."""
TRENDS_SHOWN = 8
"""The trend chart draws this many classifications (the most chosen) and
adds the rest up as one line; the table under it lists every one."""
_MOST_PERIODS = 24 * 366
"""Gaps in the trend chart's time axis are filled up to this many periods."""


def period_of(
    entries: Iterable[ContactHistoryEntry],
) -> tuple[datetime, datetime] | None:
    """When the first and the last of ``entries`` ended wrap-up (the instants
    the trends count by), or ``None`` for no entries."""
    ends = [entry.wrap_up_ended_at for entry in entries]
    return (min(ends), max(ends)) if ends else None


def as_html(
    reports: Mapping[str, Report],
    *,
    database: str,
    period: tuple[datetime, datetime] | None,
    bucket: Bucket = "hour",
) -> str:
    """The page: a header naming ``database`` and ``period``, then each
    run's report (trends ``bucket`` by ``bucket``) with its charts."""
    body = "".join(_run(run, report, bucket) for run, report in reports.items())
    if not reports:
        body = (
            '<p class="empty">No contact history in this database yet, so '
            "there is nothing to report. A chat appears here once its wrap-up "
            "has ended.</p>"
        )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Contact history report: {text(database)}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"{_header(database, period, bucket, reports)}<main>{body}</main></body>"
        "</html>\n"
    )
    return page.encode("ascii", "xmlcharrefreplace").decode("ascii")


def _header(
    database: str,
    period: tuple[datetime, datetime] | None,
    bucket: Bucket,
    reports: Mapping[str, Report],
) -> str:
    if period is None:
        covers = "No contact history"
    else:
        first, last = (instant.strftime("%Y-%m-%d %H:%M %Z") for instant in period)
        covers = f"Contact history from {first} to {last}"
    chats = sum(report.entries for report in reports.values())
    runs = f" in {len(reports)} runs" if len(reports) > 1 else ""
    return (
        "<header><h1>Contact history report</h1>"
        f'<p>Database <span class="db">{text(database)}</span></p>'
        f"<p>{text(covers)}; {chats:,} {'chat' if chats == 1 else 'chats'}{runs}; "
        f"trends by {bucket}.</p></header>"
    )


def _run(run: str, report: Report, bucket: Bucket) -> str:
    heading = "All contact history" if run == UNLABELLED else f"Run {run}"
    parts = [
        f'<section class="run" data-run="{text(run)}"><h2>{text(heading)}</h2>',
        _counts(report),
        _trends(report, bucket),
        _wrap_up_time(report),
        _extensions(report, "queue"),
        _extensions(report, "agent"),
        _part(
            "wrap-up", "Wrap-up per queue and agent", _visible(_wrap_up_table(report))
        ),
    ]
    if report.pauses:
        parts.append(_pauses(report))
    if report.transfers:
        parts.append(_transfers(report))
    if report.presence_time:
        parts.append(_presence(report))
    parts.append("</section>")
    return "".join(parts)


def _counts(report: Report) -> str:
    counts = (
        (report.entries, "chats"),
        (report.classified, "classified by agents"),
        (report.timeout_defaults, "timeout defaults"),
        (report.unclassified, "unclassified"),
        (report.abuse_flags, "flagged abusive"),
    )
    items = "".join(
        f'<li><strong class="num">{count:,}</strong> {name}</li>'
        for count, name in counts
    )
    return (
        f'<ul class="counts">{items}</ul><p class="note">Timeout defaults and '
        "unclassified chats are kept out of the trends: only the agents' own "
        "classifications say why customers got in touch.</p>"
    )


def _part(name: str, heading: str, *contents: str) -> str:
    return (
        f'<section class="part" data-part="{name}"><h3>{text(heading)}</h3>'
        f"{''.join(contents)}</section>"
    )


def _figure(svg: str, table: str) -> str:
    return (
        f"<figure>{svg}<details><summary>The numbers</summary>"
        f'<div class="scroll">{table}</div></details></figure>'
    )


def _visible(table: str) -> str:
    return f'<div class="scroll">{table}</div>'


# Classification trends


def _trends(report: Report, bucket: Bucket) -> str:
    periods = _all_periods(sorted({row.period for row in report.trends}), bucket)
    labels, x_title = _time_axis(periods, bucket)
    svg = charts.line_chart(
        title="Chats per classification",
        x_labels=labels,
        series=_trend_series(report, periods),
        x_title=x_title,
        y_title="chats",
        width=CHART_WIDTH,
    )
    table = charts.data_table(
        caption="Chats per classification and period",
        headers=[bucket, "classification", "chats", "share of the period"],
        rows=[
            [row.period, row.classification, row.count, f"{row.share:.1%}"]
            for row in report.trends
        ],
    )
    note = (
        f'<p class="note">The first and the last {bucket} may be covered only '
        "in part: a dip there is the edge of the history, not a trend.</p>"
        if len(periods) > 1
        else ""
    )
    return _part(
        "trends", "Classification trends", _figure(svg, table), note, _movers(report)
    )


def _trend_series(report: Report, periods: Sequence[str]) -> dict[str, list[float]]:
    """Each of the most chosen classifications' count per period, and the
    rest added up as one more series."""
    totals: dict[str, int] = {}
    for row in report.trends:
        totals[row.classification] = totals.get(row.classification, 0) + row.count
    ranked = sorted(totals, key=lambda name: (-totals[name], name))
    shown = ranked if len(ranked) <= TRENDS_SHOWN + 1 else ranked[:TRENDS_SHOWN]
    rest = f"({len(ranked) - len(shown)} more classifications)"
    while rest in shown:
        rest = f"({rest})"
    index = {period: i for i, period in enumerate(periods)}
    series = {name: [0.0] * len(periods) for name in shown}
    if len(shown) < len(ranked):
        series[rest] = [0.0] * len(periods)
    for row in report.trends:
        name = row.classification if row.classification in series else rest
        series[name][index[row.period]] += row.count
    return series


def _all_periods(periods: list[str], bucket: Bucket) -> list[str]:
    """``periods`` with the empty ones between them put back, so the time
    axis is even (left as they are if that would be very long)."""
    if len(periods) < 2:
        return periods
    shape, step = (
        ("%Y-%m-%d %H:00", timedelta(hours=1))
        if bucket == "hour"
        else ("%Y-%m-%d", timedelta(days=1))
    )
    first, last = (datetime.strptime(p, shape) for p in (periods[0], periods[-1]))
    count = (last - first) // step + 1
    if count > _MOST_PERIODS:
        return periods
    return [(first + i * step).strftime(shape) for i in range(count)]


def _time_axis(periods: list[str], bucket: Bucket) -> tuple[list[str], str]:
    """The labels under the trend chart and its axis title: just the hour
    when every period falls on one day."""
    days = {period[:10] for period in periods}
    if bucket == "hour" and len(days) == 1:
        return [period[11:] for period in periods], f"hour of {days.pop()}"
    return periods, bucket


def _movers(report: Report) -> str:
    if not report.movers:
        return ""
    table = charts.data_table(
        caption="Biggest movers: share of the period's classifications, "
        "first half against second half",
        headers=["classification", "first half", "second half", "change"],
        rows=[
            [
                mover.classification,
                f"{mover.first_half_share:.1%}",
                f"{mover.second_half_share:.1%}",
                f"{mover.change * 100:+.1f} points",
            ]
            for mover in report.movers
        ],
    )
    return _visible(table)


# Wrap-up time, extensions and expiries


def _wrap_up_time(report: Report) -> str:
    bins = report.wrap_up_time
    edges = [b.from_seconds for b in bins] + [b.to_seconds for b in bins[-1:]]
    svg = charts.histogram(
        title="How long wrap-up lasted, every queue",
        edges=edges,
        counts=[b.chats for b in bins],
        x_title="seconds in wrap-up",
        y_title="chats",
        width=CHART_WIDTH,
    )
    table = charts.data_table(
        caption="Chats by time in wrap-up",
        headers=["from (s)", "to (s)", "chats"],
        rows=[[b.from_seconds, b.to_seconds, b.chats] for b in bins],
    )
    return _part(
        "wrap-up-time",
        "How long wrap-up lasted",
        _figure(svg, table),
    )


def _wrap_up_table(report: Report) -> str:
    return charts.data_table(
        caption="Wrap-up time and extensions per queue and agent",
        headers=[
            "",
            "name",
            "chats",
            "mean (s)",
            "median (s)",
            "p90 (s)",
            "extensions",
            "share extended",
            "expired",
            "abuse flags",
        ],
        rows=[
            [
                w.group,
                w.name,
                w.chats,
                w.mean_seconds,
                w.median_seconds,
                w.p90_seconds,
                w.extensions,
                f"{w.share_extended:.1%}",
                w.expired,
                w.abuse_flags,
            ]
            for w in report.wrap_up
        ],
    )


def _extensions(report: Report, group: str) -> str:
    rows = [row for row in report.wrap_up if row.group == group]
    svg = charts.grouped_bars(
        title=f"Extensions used and wrap-ups expired, per {group}",
        categories=[row.name for row in rows],
        series={
            "extensions used": [row.extensions for row in rows],
            "wrap-ups expired": [row.expired for row in rows],
        },
        value_title="count",
        width=CHART_WIDTH,
    )
    table = charts.data_table(
        caption=f"Extensions and expiries per {group}",
        headers=[group, "chats", "extensions used", "wrap-ups expired"],
        rows=[[row.name, row.chats, row.extensions, row.expired] for row in rows],
    )
    return _part(
        f"extensions-per-{group}",
        f"Extensions and expiries per {group}",
        _figure(svg, table),
    )


# Pauses and transfers: tables only, as in the text report


def _pauses(report: Report) -> str:
    table = charts.data_table(
        caption="Pauses of wrap-up per queue and agent",
        headers=[
            "",
            "name",
            "chats",
            "paused chats",
            "share paused",
            "pauses",
            "time paused (s)",
            "mean pause (s)",
        ],
        rows=[
            [
                p.group,
                p.name,
                p.chats,
                p.paused_chats,
                f"{p.share_paused:.1%}",
                p.pauses,
                p.paused_seconds,
                p.mean_pause_seconds,
            ]
            for p in report.pauses
        ],
    )
    return _part("pauses", "Pauses of wrap-up", _visible(table))


def _transfers(report: Report) -> str:
    table = charts.data_table(
        caption="Transfers (each agent's part of a chat is a leg)",
        headers=["", "name", "legs", "to an agent", "to a queue", "taken over"],
        rows=[
            [t.group, t.name, t.legs, t.to_agents, t.to_queues, t.taken_over]
            for t in report.transfers
        ],
    )
    return _part("transfers", "Transfers", _visible(table))


def _presence(report: Report) -> str:
    table = charts.data_table(
        caption="Time per agent in each status and presence (from the event feed)",
        headers=["agent", "status or presence", "time (s)"],
        rows=[[p.agent_id, p.label, round(p.seconds, 1)] for p in report.presence_time],
    )
    return _part("presence", "Time per status and presence", _visible(table))


_STYLE = """
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1b1b1b;background:#f4f5f7}
header{background:#1f3a5f;color:#fff;padding:18px 32px}
header h1{margin:0 0 6px;font-size:24px}
header p{margin:2px 0;opacity:.92}
header .db{font-family:ui-monospace,Menlo,Consolas,monospace}
main{max-width:1060px;margin:0 auto;padding:8px 24px 48px}
h2{font-size:21px;margin:28px 0 8px;padding-bottom:4px;border-bottom:2px solid #1f3a5f}
h3{font-size:17px;margin:0 0 8px}
.counts{display:flex;flex-wrap:wrap;gap:10px;list-style:none;padding:0;margin:12px 0}
.counts li{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:6px 14px}
.counts strong{display:block;font-size:22px}
.note{color:#4a4a4a;font-size:14px;margin:4px 0 12px}
.empty{background:#fff;border:1px solid #d8dce3;border-radius:8px;padding:24px;
font-size:17px}
section.part{background:#fff;border:1px solid #d8dce3;border-radius:8px;
padding:16px 20px;margin:16px 0}
figure{margin:0}
svg.chart{display:block;max-width:100%;height:auto}
details{margin:6px 0 0}
summary{cursor:pointer;color:#1f3a5f}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:13px;margin:10px 0 4px}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{padding:3px 10px;border-bottom:1px solid #e4e6ea;text-align:left;
white-space:nowrap}
th{background:#f0f2f5}
td.num{text-align:right;font-variant-numeric:tabular-nums}
@media print{body{background:#fff}section.part{break-inside:avoid}}
"""
