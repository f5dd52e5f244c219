"""Reports from the contact history: trends, timeouts kept apart, wrap-up
time, pauses of wrap-up, and transfers.

:func:`build_report` is a pure function of history entries;
:func:`reports_by_run` reports a store's whole history, each simulation run
on its own, and is what the command line prints as a table, CSV, JSON or
an HTML page of charts.
Both read the history once, as a stream (see ``_tally.py``), so a year of
a contact centre's chats is reported without holding it in memory.
"""

from __future__ import annotations

import itertools
import math
import statistics
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import attrs

from .._core._errors import StoreError, invalid_argument
from .._core._history import ContactHistoryEntry
from ..ports import Store
from ..stores._entries import entry_row
from ..stores.sqlite import SQLiteStore
from ._tally import TIMEOUT_DEFAULT, TRANSFER, Chat, Tally, by_run, count
from .presence_time import PresenceTime
from .runs import run_of

Bucket = Literal["hour", "day"]
UNCLASSIFIED = "(unclassified)"
_MICROS = {"hour": 3_600_000_000, "day": 86_400_000_000}
_FORMATS = {"hour": "%Y-%m-%d %H:00", "day": "%Y-%m-%d"}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_BINS = 20
"""The wrap-up time histogram never has more bins than this."""
_BIN_WIDTHS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
"""Bin widths in seconds a reader takes in at a glance, shortest first."""


@attrs.frozen
class TrendRow:
    """One classification in one period."""

    period: str
    classification: str
    count: int
    share: float


@attrs.frozen
class Mover:
    """How much a classification's share moved from the first half to the second."""

    classification: str
    first_half_share: float
    second_half_share: float

    @property
    def change(self) -> float:
        """The change in share, in points (0.05 is five points)."""
        return self.second_half_share - self.first_half_share


@attrs.frozen
class WrapUpRow:
    """Wrap-up time and extension use for one queue or one agent."""

    group: str
    name: str
    chats: int
    mean_seconds: float
    median_seconds: float
    p90_seconds: float
    extensions: int
    share_extended: float
    expired: int
    abuse_flags: int


@attrs.frozen
class PauseRow:
    """Pauses of wrap-up for one queue or one agent.

    ``paused_chats`` counts the chats whose wrap-up was paused at least
    once (a chat that ended while parked counts: its wrap-up started
    paused); ``pauses`` counts every pause, ``paused_seconds`` adds up
    how long the countdowns stood still.
    """

    group: str
    name: str
    chats: int
    paused_chats: int
    pauses: int
    paused_seconds: float
    mean_pause_seconds: float

    @property
    def share_paused(self) -> float:
        """The share of chats whose wrap-up was paused."""
        return self.paused_chats / self.chats


@attrs.frozen
class TransferRow:
    """Transfers for one queue or one agent: legs that ended by a transfer,
    to another agent or back to a queue, and legs taken over."""

    group: str
    name: str
    legs: int
    to_agents: int
    to_queues: int
    taken_over: int


@attrs.frozen
class WrapUpTimeBin:
    """How many chats' wrap-up lasted at least ``from_seconds`` and less
    than ``to_seconds`` (one bar of the wrap-up time histogram)."""

    from_seconds: float
    to_seconds: float
    chats: int


@attrs.frozen
class Report:
    """Everything the ``report`` command prints."""

    entries: int
    classified: int
    timeout_defaults: int
    unclassified: int
    abuse_flags: int
    trends: tuple[TrendRow, ...]
    movers: tuple[Mover, ...]
    wrap_up: tuple[WrapUpRow, ...]
    pauses: tuple[PauseRow, ...] = ()
    """Empty when no wrap-up was paused, so a history from before pauses
    reports exactly as it did."""
    transfers: tuple[TransferRow, ...] = ()
    """Empty when no chat was transferred, likewise."""
    wrap_up_time: tuple[WrapUpTimeBin, ...] = ()
    """How long wrap-up lasted, every chat of every queue: equal bins from
    zero to the longest (at most :data:`MAX_BINS`), empty bins included."""
    presence_time: tuple[PresenceTime, ...] = ()
    """Time per agent in each status and presence, from the event feed's
    status and presence changes (see :mod:`.presence_time`); empty when the
    feed holds none, so a store from before the feed reports as it did."""

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (``pauses`` only when some wrap-up
        was paused)."""
        data = attrs.asdict(self)
        data["movers"] = [
            {**attrs.asdict(mover), "change": mover.change} for mover in self.movers
        ]
        for optional in ("pauses", "transfers", "presence_time"):
            if not data[optional]:
                del data[optional]
        return data


def build_report(
    entries: Iterable[ContactHistoryEntry], *, bucket: Bucket = "hour"
) -> Report:
    """The report of ``entries``; timeout defaults never count in the trends.

    Periods are hours or days in UTC.
    """
    tally = count(map(entry_row, entries), _unit(bucket), lambda _: "")
    tally.check()
    return _report(tally, bucket)


def reports_by_run(store: Store, *, bucket: Bucket = "hour") -> dict[str, Report]:
    """The report of each simulation run in ``store``'s history, by run
    label (see :mod:`webchat_wrapup.tools.runs`); a deployment's history is
    the one run ``all``. Read from one snapshot, as a stream.

    The SQLite store's rows are counted as stored, without decoding them
    into entries; should one hold a value no entry could (a damaged file),
    the history is read again, entry by entry, which names the damage.
    """
    unit = _unit(bucket)
    if isinstance(store, SQLiteStore):
        rows = store.history_rows()
        try:
            tally = count(rows, unit, run_of)
            tally.check()
        except StoreError:
            raise
        except Exception:  # whatever a damaged row's values make counting raise
            pass
        else:
            return _reports(tally, bucket)
        finally:
            rows.close()  # its snapshot's connection, now
    tally = count(map(entry_row, store.all_history()), unit, run_of)
    tally.check()
    return _reports(tally, bucket)


def _unit(bucket: object) -> int:
    unit = _MICROS.get(bucket) if isinstance(bucket, str) else None
    if unit is None:
        raise invalid_argument("bucket", "'hour' or 'day'", bucket)
    return unit


def _reports(tally: Tally, bucket: Bucket) -> dict[str, Report]:
    """The report of each run; paused time added up in history order (by
    wrap-up end, then write order: the rows came in write order)."""
    tally.pauses.sort(key=_wrap_up_end)
    return {run: _report(part, bucket) for run, part in by_run(tally, run_of).items()}


def _wrap_up_end(pause: tuple[int, str, str, float]) -> int:
    return pause[0]


def _report(tally: Tally, bucket: Bucket) -> Report:
    chats = tally.chats
    trends = _trends_by_period(tally, bucket)
    groups = _groups(tally)
    return Report(
        entries=sum(chats.values()),
        classified=sum(tally.trends.values()),
        timeout_defaults=_chats_where(chats, lambda c: c[3] == TIMEOUT_DEFAULT),
        unclassified=_chats_where(chats, lambda c: c[2]),
        abuse_flags=_chats_where(chats, lambda c: c[4]),
        trends=_trends(trends),
        movers=_movers(trends),
        wrap_up=tuple(_wrap_up_row(*group) for group in groups),
        pauses=_pause_rows(tally, groups),
        transfers=_transfer_rows(tally, groups),
        wrap_up_time=_wrap_up_time(tally),
    )


def bin_width(longest: float) -> float:
    """The shortest round width (in seconds) that puts zero to ``longest``
    into at most :data:`MAX_BINS` bins."""
    for width in _BIN_WIDTHS:
        if longest // width < MAX_BINS:
            return width
    hours = longest // (3600 * MAX_BINS) + 1
    return 3600 * hours


def _wrap_up_time(tally: Tally) -> tuple[WrapUpTimeBin, ...]:
    seconds = [
        each / 1_000_000  # as timedelta.total_seconds
        for micros in tally.wrap_up_micros.values()
        for each in micros
    ]
    if not seconds:
        return ()
    width = bin_width(max(seconds))
    counts = Counter(int(s // width) for s in seconds)
    return tuple(
        WrapUpTimeBin(index * width, (index + 1) * width, counts[index])
        for index in range(max(counts) + 1)
    )


def _chats_where(chats: Counter[Chat], test: Callable[[Chat], object]) -> int:
    return sum(number for chat, number in chats.items() if test(chat))


def _trends_by_period(tally: Tally, bucket: Bucket) -> dict[str, Counter[str]]:
    """Chats classified by agents, by label, in each period (in order)."""
    by_key: dict[int, Counter[str]] = defaultdict(Counter)
    for (_, period, group, label), number in tally.trends.items():
        by_key[period][f"{group} > {label}" if group else label] += number
    unit, form = _MICROS[bucket], _FORMATS[bucket]
    return {
        (_EPOCH + timedelta(0, 0, key * unit)).strftime(form): by_key[key]
        for key in sorted(by_key)
    }


def _trends(by_period: dict[str, Counter[str]]) -> tuple[TrendRow, ...]:
    rows = []
    for period, counts in by_period.items():
        total = sum(counts.values())
        for label, number in sorted(
            counts.items(), key=lambda item: (-item[1], item[0])
        ):
            rows.append(TrendRow(period, label, number, number / total))
    return tuple(rows)


def _movers(by_period: dict[str, Counter[str]]) -> tuple[Mover, ...]:
    periods = list(by_period)
    if len(periods) < 2:
        return ()
    middle = len(periods) // 2
    first: Counter[str] = sum((by_period[p] for p in periods[:middle]), Counter())
    second: Counter[str] = sum((by_period[p] for p in periods[middle:]), Counter())
    first_total, second_total = sum(first.values()) or 1, sum(second.values()) or 1
    movers = [
        Mover(label, first[label] / first_total, second[label] / second_total)
        for label in set(first) | set(second)
    ]
    movers.sort(key=lambda m: (-abs(m.change), m.classification))
    return tuple(movers[:5])


@attrs.define
class _Group:
    """The counts of one queue or one agent."""

    chats: int = 0
    extensions: int = 0
    extended: int = 0
    expired: int = 0
    abuse_flags: int = 0
    pauses: int = 0
    paused_chats: int = 0
    to_agents: int = 0
    to_queues: int = 0
    taken_over: int = 0
    paused_seconds: float = 0.0
    wrap_up_micros: list[array[int]] = attrs.Factory(list)

    def add(self, chat: Chat, number: int) -> None:
        _, _, _, ending, flagged, used, pauses, leg, _, to_agent, to_queue = chat
        self.chats += number
        self.extensions += used * number
        self.extended += number if used else 0
        self.expired += number if ending.startswith("expired") else 0
        self.abuse_flags += number if flagged else 0
        self.pauses += pauses * number
        self.paused_chats += number if pauses else 0
        self.to_agents += number if to_agent else 0
        self.to_queues += number if to_queue else 0
        self.taken_over += number if leg > 1 else 0


def _groups(tally: Tally) -> list[tuple[str, str, _Group]]:
    """``(group, name, counts)`` per queue, then per agent, names in order."""
    queues: dict[str, _Group] = defaultdict(_Group)
    agents: dict[str, _Group] = defaultdict(_Group)
    for chat, number in tally.chats.items():
        queues[chat[1]].add(chat, number)
        agents[chat[0]].add(chat, number)
    for (agent, queue), micros in tally.wrap_up_micros.items():
        queues[queue].wrap_up_micros.append(micros)
        agents[agent].wrap_up_micros.append(micros)
    for _, agent, queue, seconds in tally.pauses:  # in order, as they add up
        queues[queue].paused_seconds += seconds
        agents[agent].paused_seconds += seconds
    return [("queue", name, queues[name]) for name in sorted(queues)] + [
        ("agent", name, agents[name]) for name in sorted(agents)
    ]


def _pause_rows(
    tally: Tally, groups: list[tuple[str, str, _Group]]
) -> tuple[PauseRow, ...]:
    if not any(chat[6] for chat in tally.chats):
        return ()
    return tuple(_pause_row(*group) for group in groups)


def _pause_row(group: str, name: str, counts: _Group) -> PauseRow:
    paused_seconds = counts.paused_seconds
    return PauseRow(
        group=group,
        name=name,
        chats=counts.chats,
        paused_chats=counts.paused_chats,
        pauses=counts.pauses,
        paused_seconds=paused_seconds,
        mean_pause_seconds=paused_seconds / counts.pauses if counts.pauses else 0.0,
    )


def _transfer_rows(
    tally: Tally, groups: list[tuple[str, str, _Group]]
) -> tuple[TransferRow, ...]:
    if not any(chat[7] > 1 or chat[8] == TRANSFER for chat in tally.chats):
        return ()
    return tuple(
        TransferRow(
            group=group,
            name=name,
            legs=counts.chats,
            to_agents=counts.to_agents,
            to_queues=counts.to_queues,
            taken_over=counts.taken_over,
        )
        for group, name, counts in groups
    )


def _wrap_up_row(group: str, name: str, counts: _Group) -> WrapUpRow:
    micros = sorted(itertools.chain.from_iterable(counts.wrap_up_micros))
    seconds = [each / 1_000_000 for each in micros]  # as timedelta.total_seconds
    p90 = seconds[math.ceil(0.9 * len(seconds)) - 1]  # nearest rank
    return WrapUpRow(
        group=group,
        name=name,
        chats=counts.chats,
        mean_seconds=statistics.fmean(seconds),
        median_seconds=statistics.median(seconds),
        p90_seconds=p90,
        extensions=counts.extensions,
        share_extended=counts.extended / counts.chats,
        expired=counts.expired,
        abuse_flags=counts.abuse_flags,
    )
