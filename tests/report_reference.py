"""The report as the library built it before it counted the history in one
pass (git 3fc17ab, src/webchat_wrapup/tools/report.py, with the wrap-up
time histogram of git 4eeb00d), kept verbatim as the reference the
streaming report is compared with: same entries, same report, to the last
bit of every float."""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal

from webchat_wrapup import ContactHistoryEntry, EndedBy
from webchat_wrapup.tools.report import (
    Mover,
    PauseRow,
    Report,
    TransferRow,
    TrendRow,
    WrapUpRow,
    WrapUpTimeBin,
)

Bucket = Literal["hour", "day"]


def _period(instant: datetime, bucket: Bucket) -> str:
    if bucket == "hour":
        return instant.strftime("%Y-%m-%d %H:00")
    return instant.strftime("%Y-%m-%d")


def _label(entry: ContactHistoryEntry) -> str:
    classification = entry.classification
    if classification is None:  # callers count classified entries only
        return "unclassified"
    if classification.group:
        return f"{classification.group} > {classification.label}"
    return classification.label


def build_report(
    entries: Iterable[ContactHistoryEntry], *, bucket: Bucket = "hour"
) -> Report:
    """The report of ``entries``; timeout defaults never count in the trends."""
    entries = list(entries)
    chosen = [
        e for e in entries if e.classification is not None and not e.is_timeout_default
    ]
    return Report(
        entries=len(entries),
        classified=len(chosen),
        timeout_defaults=sum(1 for e in entries if e.is_timeout_default),
        unclassified=sum(1 for e in entries if e.classification is None),
        abuse_flags=sum(1 for e in entries if e.abuse is not None),
        trends=_trends(chosen, bucket),
        movers=_movers(chosen, bucket),
        wrap_up=_wrap_up_rows(entries),
        pauses=_pause_rows(entries),
        transfers=_transfer_rows(entries),
        wrap_up_time=_wrap_up_time(entries),
    )


def _trends(
    chosen: Sequence[ContactHistoryEntry], bucket: Bucket
) -> tuple[TrendRow, ...]:
    by_period: dict[str, Counter[str]] = defaultdict(Counter)
    for entry in chosen:
        by_period[_period(entry.wrap_up_ended_at, bucket)][_label(entry)] += 1
    rows = []
    for period in sorted(by_period):
        counts = by_period[period]
        total = sum(counts.values())
        for label, count in sorted(
            counts.items(), key=lambda item: (-item[1], item[0])
        ):
            rows.append(TrendRow(period, label, count, count / total))
    return tuple(rows)


def _movers(chosen: Sequence[ContactHistoryEntry], bucket: Bucket) -> tuple[Mover, ...]:
    periods = sorted({_period(e.wrap_up_ended_at, bucket) for e in chosen})
    if len(periods) < 2:
        return ()
    middle = periods[len(periods) // 2]
    first = Counter(
        _label(e) for e in chosen if _period(e.wrap_up_ended_at, bucket) < middle
    )
    second = Counter(
        _label(e) for e in chosen if _period(e.wrap_up_ended_at, bucket) >= middle
    )
    first_total, second_total = sum(first.values()) or 1, sum(second.values()) or 1
    movers = [
        Mover(label, first[label] / first_total, second[label] / second_total)
        for label in set(first) | set(second)
    ]
    movers.sort(key=lambda m: (-abs(m.change), m.classification))
    return tuple(movers[:5])


def _groups(
    entries: Sequence[ContactHistoryEntry],
) -> list[tuple[str, str, list[ContactHistoryEntry]]]:
    """``(group, name, entries)`` per queue, then per agent, names in order."""
    groups = []
    for group, key in (("queue", "queue_id"), ("agent", "agent_id")):
        grouped: dict[str, list[ContactHistoryEntry]] = defaultdict(list)
        for entry in entries:
            grouped[getattr(entry, key)].append(entry)
        groups += [(group, name, grouped[name]) for name in sorted(grouped)]
    return groups


def _wrap_up_rows(entries: Sequence[ContactHistoryEntry]) -> tuple[WrapUpRow, ...]:
    return tuple(_wrap_up_row(*group) for group in _groups(entries))


def _pause_rows(entries: Sequence[ContactHistoryEntry]) -> tuple[PauseRow, ...]:
    if not any(entry.pause_count for entry in entries):
        return ()
    return tuple(_pause_row(*group) for group in _groups(entries))


def _transfer_rows(
    entries: Sequence[ContactHistoryEntry],
) -> tuple[TransferRow, ...]:
    if not any(
        entry.leg > 1 or entry.ended_by is EndedBy.TRANSFER for entry in entries
    ):
        return ()
    return tuple(_transfer_row(*group) for group in _groups(entries))


def _transfer_row(
    group: str, name: str, entries: list[ContactHistoryEntry]
) -> TransferRow:
    return TransferRow(
        group=group,
        name=name,
        legs=len(entries),
        to_agents=sum(1 for e in entries if e.transferred_to_agent),
        to_queues=sum(1 for e in entries if e.transferred_to_queue),
        taken_over=sum(1 for e in entries if e.leg > 1),
    )


def _pause_row(group: str, name: str, entries: list[ContactHistoryEntry]) -> PauseRow:
    pauses = sum(e.pause_count for e in entries)
    paused_seconds = sum(e.paused_seconds for e in entries)
    return PauseRow(
        group=group,
        name=name,
        chats=len(entries),
        paused_chats=sum(1 for e in entries if e.pause_count),
        pauses=pauses,
        paused_seconds=paused_seconds,
        mean_pause_seconds=paused_seconds / pauses if pauses else 0.0,
    )


def _wrap_up_row(
    group: str, name: str, entries: list[ContactHistoryEntry]
) -> WrapUpRow:
    seconds = sorted(
        (e.wrap_up_ended_at - e.wrap_up_started_at).total_seconds() for e in entries
    )
    p90 = seconds[math.ceil(0.9 * len(seconds)) - 1]  # nearest rank
    extended = sum(1 for e in entries if e.extensions_used)
    return WrapUpRow(
        group=group,
        name=name,
        chats=len(entries),
        mean_seconds=statistics.fmean(seconds),
        median_seconds=statistics.median(seconds),
        p90_seconds=p90,
        extensions=sum(e.extensions_used for e in entries),
        share_extended=extended / len(entries),
        expired=sum(1 for e in entries if e.ending.value.startswith("expired")),
        abuse_flags=sum(1 for e in entries if e.abuse is not None),
    )


MAX_BINS = 20
_BIN_WIDTHS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


def _wrap_up_seconds(entry: ContactHistoryEntry) -> float:
    return (entry.wrap_up_ended_at - entry.wrap_up_started_at).total_seconds()


def bin_width(longest: float) -> float:
    for width in _BIN_WIDTHS:
        if longest // width < MAX_BINS:
            return width
    hours = longest // (3600 * MAX_BINS) + 1
    return 3600 * hours


def _wrap_up_time(entries: Sequence[ContactHistoryEntry]) -> tuple[WrapUpTimeBin, ...]:
    seconds = [_wrap_up_seconds(e) for e in entries]
    if not seconds:
        return ()
    width = bin_width(max(seconds))
    counts = Counter(int(s // width) for s in seconds)
    return tuple(
        WrapUpTimeBin(index * width, (index + 1) * width, counts[index])
        for index in range(max(counts) + 1)
    )
