"""How ``webchat-wrapup report`` prints: a table with bars, CSV or JSON
(the HTML page is :mod:`webchat_wrapup.tools.report_html`).

Each simulation run (``sim1-2``: see :mod:`webchat_wrapup.tools.runs`) is
reported on its own, so a ``--versus`` day never mixes two policies; a
database written by a real deployment is one run, ``all``.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable

from ...ports import Store, StoredEvent
from ..presence_time import PresenceTime, time_per_presence
from ..report import PauseRow, Report, TransferRow, WrapUpTimeBin
from ..runs import UNLABELLED, run_of


def presence_time_by_run(store: Store) -> dict[str, tuple[PresenceTime, ...]]:
    """Each run's time per status and presence, from the store's feed."""
    events: dict[str, list[StoredEvent]] = defaultdict(list)
    after = 0
    while page := store.events(after, 1000):
        for stored in page:
            if stored.event.type in ("status_changed", "presence_changed"):
                events[run_of(stored.event.agent_id)].append(stored)
        after = page[-1].position
    return {run: tuple(time_per_presence(found)) for run, found in events.items()}


def _bar(share: float, width: int = 20) -> str:
    return "█" * round(share * width)


def _table_of_run(report: Report) -> str:
    out = io.StringIO()
    write = out.write
    write(
        f"{report.entries} chats: {report.classified} classified by agents, "
        f"{report.timeout_defaults} timeout defaults and {report.unclassified} "
        f"unclassified (both kept out of the trends), "
        f"{report.abuse_flags} flagged abusive\n\n"
    )
    write("classification trends\n")
    for row in report.trends:
        write(
            f"  {row.period}  {row.classification:<28} {row.count:>5} "
            f"{row.share:>6.1%} {_bar(row.share)}\n"
        )
    if report.movers:
        write("\nbiggest movers (first half to second half)\n")
        for mover in report.movers:
            write(
                f"  {mover.classification:<28} {mover.first_half_share:>6.1%} -> "
                f"{mover.second_half_share:>6.1%} ({mover.change * 100:+.1f} points)\n"
            )
    write("\nwrap-up time and extensions\n")
    write(
        f"  {'':<6} {'name':<22} {'chats':>6} {'mean':>7} {'median':>7} "
        f"{'p90':>7} {'ext.':>5} {'ext.%':>6} {'expired':>7} {'abuse':>5}\n"
    )
    for w in report.wrap_up:
        write(
            f"  {w.group:<6} {w.name:<22} {w.chats:>6} {w.mean_seconds:>6.1f}s "
            f"{w.median_seconds:>6.1f}s {w.p90_seconds:>6.1f}s {w.extensions:>5} "
            f"{w.share_extended:>6.1%} {w.expired:>7} {w.abuse_flags:>5}\n"
        )
    if report.wrap_up_time:
        write(_wrap_up_time_table(report.wrap_up_time))
    if report.pauses:
        write(_pause_table(report.pauses))
    if report.transfers:
        write(_transfer_table(report.transfers))
    if report.presence_time:
        write(_presence_table(report.presence_time))
    return out.getvalue()


def _presence_table(rows: tuple[PresenceTime, ...]) -> str:
    """One line per agent, one column per status or presence seen."""
    labels = sorted({row.label for row in rows}, key=_label_order)
    spent: dict[str, dict[str, float]] = defaultdict(dict)
    for row in rows:
        spent[row.agent_id][row.label] = row.seconds
    width = max(9, *(len(label) for label in labels))
    heading = "".join(f" {label:>{width}}" for label in labels)
    lines = [
        "\ntime per status and presence (from the event feed)\n",
        f"  {'agent':<22}{heading}\n",
    ]
    for agent_id, times in spent.items():
        cells = "".join(
            f" {_clock(times[label]) if label in times else '-':>{width}}"
            for label in labels
        )
        lines.append(f"  {agent_id:<22}{cells}\n")
    return "".join(lines)


_WORK_FIRST = ("Handling a chat", "Wrap-up", "Available")


def _label_order(label: str) -> tuple[int, str]:
    """Work statuses first, then Available, then the rest by name."""
    if label in _WORK_FIRST:
        return (_WORK_FIRST.index(label), "")
    return (len(_WORK_FIRST), label)


def _clock(seconds: float) -> str:
    minutes, second = divmod(round(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}"


def _transfer_table(rows: tuple[TransferRow, ...]) -> str:
    lines = [
        "\ntransfers (each agent's part of a chat is a leg)\n",
        f"  {'':<6} {'name':<22} {'legs':>6} {'to agent':>8} {'to queue':>8} "
        f"{'taken over':>10}\n",
    ]
    for t in rows:
        lines.append(
            f"  {t.group:<6} {t.name:<22} {t.legs:>6} {t.to_agents:>8} "
            f"{t.to_queues:>8} {t.taken_over:>10}\n"
        )
    return "".join(lines)


def _wrap_up_time_table(bins: tuple[WrapUpTimeBin, ...]) -> str:
    most = max(b.chats for b in bins)
    lines = ["\nhow long wrap-up lasted (every queue)\n"]
    for b in bins:
        span = f"{b.from_seconds:g}-{b.to_seconds:g} s"
        lines.append(f"  {span:>14} {b.chats:>6} {_bar(b.chats / most)}\n")
    return "".join(lines)


def _pause_table(rows: tuple[PauseRow, ...]) -> str:
    lines = [
        "\npauses of wrap-up\n",
        f"  {'':<6} {'name':<22} {'chats':>6} {'paused':>6} {'paused%':>7} "
        f"{'pauses':>6} {'paused time':>11} {'mean pause':>10}\n",
    ]
    for p in rows:
        lines.append(
            f"  {p.group:<6} {p.name:<22} {p.chats:>6} {p.paused_chats:>6} "
            f"{p.share_paused:>7.1%} {p.pauses:>6} {p.paused_seconds:>10.1f}s "
            f"{p.mean_pause_seconds:>9.1f}s\n"
        )
    return "".join(lines)


def _csv_rows(report: Report) -> list[list[object]]:
    names = ("entries", "classified", "timeout_defaults", "unclassified")
    rows: list[list[object]] = [
        ["summary", "", name, getattr(report, name), ""]
        for name in (*names, "abuse_flags")
    ]
    rows += [
        ["trend", row.period, row.classification, row.count, f"{row.share:.4f}"]
        for row in report.trends
    ]
    rows += [
        ["mover", "", mover.classification, f"{mover.change:.4f}", ""]
        for mover in report.movers
    ]
    for w in report.wrap_up:
        for field in ("chats", "mean_seconds", "median_seconds", "p90_seconds"):
            rows.append([f"wrap_up_{field}", w.group, w.name, getattr(w, field), ""])
        rows.append(
            ["extensions", w.group, w.name, w.extensions, f"{w.share_extended:.4f}"]
        )
    rows += [
        ["wrap_up_time", "", f"{b.from_seconds:g}-{b.to_seconds:g}", b.chats, ""]
        for b in report.wrap_up_time
    ]
    for p in report.pauses:
        rows.append(["pauses", p.group, p.name, p.pauses, f"{p.share_paused:.4f}"])
        rows.append(["paused_seconds", p.group, p.name, p.paused_seconds, ""])
    rows += [
        ["presence_time", p.agent_id, p.label, round(p.seconds, 3), ""]
        for p in report.presence_time
    ]
    for t in report.transfers:
        rows.append(["transfers_to_agent", t.group, t.name, t.to_agents, ""])
        rows.append(["transfers_to_queue", t.group, t.name, t.to_queues, ""])
        rows.append(["legs_taken_over", t.group, t.name, t.taken_over, ""])
    return rows


def as_table(reports: dict[str, Report]) -> str:
    """Each run's report as a table with bars, one after the other."""
    parts = []
    for run, report in reports.items():
        heading = "" if run == UNLABELLED else f"== run {run}\n"
        parts.append(heading + _table_of_run(report))
    return "\n".join(parts)


def as_csv(reports: dict[str, Report]) -> str:
    """All runs as CSV, the run in the first column."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["run", "section", "period_or_group", "name", "value", "share"])
    for run, report in reports.items():
        for row in _csv_rows(report):
            writer.writerow([run, *row])
    return out.getvalue()


def as_json(reports: dict[str, Report]) -> str:
    """All runs as one JSON document: ``{"runs": {label: report}}``."""
    data = {"runs": {run: report.to_dict() for run, report in reports.items()}}
    return json.dumps(data, indent=2) + "\n"


FORMATS: dict[str, Callable[[dict[str, Report]], str]] = {
    "table": as_table,
    "csv": as_csv,
    "json": as_json,
}
