"""What a report counts, counted in one pass over the history's rows.

The history is read as rows (``stores/_entries.py``), never held: each row
adds to a few counters, keyed by the values the report tells apart, and
to the wrap-up times of its queue and its agent (8 bytes each). So a
report's memory grows with the number of queues, agents, periods and
classifications, plus 16 bytes a chat, not with the entries' size.

The counters are exact, so the report's figures are those of counting the
entries one by one: sums of whole numbers in any order, wrap-up times
sorted before the median is taken, and the only sum of fractions (paused
time) added up in history order, as it always was.
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .._core._history import EndedBy, WrapUpEnding
from .._core._instants import MAX_INSTANT, MIN_INSTANT

TIMEOUT_DEFAULT = WrapUpEnding.EXPIRED_WITH_DEFAULT.value
TRANSFER = EndedBy.TRANSFER.value
_ENDINGS = frozenset(ending.value for ending in WrapUpEnding)
_ENDED_BY = frozenset(who.value for who in EndedBy)
_LAST_MICROS = int((MAX_INSTANT - MIN_INSTANT).total_seconds()) * 1_000_000
_WIDE = 2**63  # whole numbers in rows are 64 bits wide at most

Chat = tuple[str, str, bool, str, bool, int, int, int, str, Any, Any]
"""What a report tells apart about a chat: agent, queue, unclassified,
ending, flagged abusive, extensions used, pauses, leg, ended by,
transferred to an agent, transferred to a queue."""


class NotCountable(Exception):
    """A row holds a value of a type no entry has: count checked entries."""


class Tally:
    """The counts of a history's chats, of every run at once, in periods of
    ``unit`` microseconds."""

    def __init__(self, unit: int = 1) -> None:
        self.unit = unit
        self.chats: Counter[Chat] = Counter()
        self.trends: Counter[tuple[str, int, str | None, str]] = Counter()
        """Chats classified by agents, by (run, period, group, label)."""
        self.wrap_up_micros: defaultdict[tuple[str, str], array[int]] = defaultdict(
            _micros
        )
        """Wrap-up times by (agent, queue)."""
        self.pauses: list[tuple[int, str, str, float]] = []
        """(wrap-up end, agent, queue, paused seconds) of each paused chat."""

    def check(self) -> None:
        """Refuse counts of values no entry holds (a damaged row's)."""
        for chat in self.chats:
            _check_chat(chat)
        last = _LAST_MICROS // self.unit
        for _, period, group, label in self.trends:
            if type(period) is not int or not 0 <= period <= last:
                raise NotCountable(f"period {period!r}")
            if type(label) is not str:
                raise NotCountable(f"label {label!r}")
            if group is not None and type(group) is not str:
                raise NotCountable(f"group {group!r}")
        for _, _, _, seconds in self.pauses:
            if type(seconds) is not float and type(seconds) is not int:
                raise NotCountable(f"paused seconds {seconds!r}")
            if not -1e15 <= seconds <= 1e15:  # as entries are checked
                raise NotCountable(f"paused seconds {seconds!r}")


def _micros() -> array[int]:
    return array("q")


def _check_chat(chat: Chat) -> None:
    agent, queue, _, ending, _, used, pauses, leg, ended_by, to_agent, to_queue = chat
    if not (
        type(agent) is str
        and type(queue) is str
        and ending in _ENDINGS
        and ended_by in _ENDED_BY
        and type(used) is int
        and 0 <= used < _WIDE
        and type(pauses) is int
        and -_WIDE <= pauses < _WIDE
        and type(leg) is int
        and -_WIDE <= leg < _WIDE
        and (to_agent is None or type(to_agent) is str)
        and (to_queue is None or type(to_queue) is str)
    ):
        raise NotCountable(f"chat {chat!r}")


def count(
    rows: Iterable[Sequence[Any]], unit: int, run_of: Callable[[str], str]
) -> Tally:
    """The tally of ``rows``, in the order of
    :data:`~webchat_wrapup.stores._entries.ROW_FIELDS`; periods are
    ``unit`` microseconds long, and the trends of each run (by ``run_of``
    the agent) are kept apart."""
    tally = Tally(unit)
    chats, trends, pauses = tally.chats, tally.trends, tally.pauses
    wrap_up_micros = tally.wrap_up_micros
    runs: dict[str, str] = {}
    for (
        _,
        _,
        agent,
        queue,
        label,
        _,
        group,
        _,
        _,
        _,
        ended_by,
        started,
        ended,
        ending,
        used,
        flagged_by,
        _,
        _,
        _,
        paused,
        paused_seconds,
        leg,
        to_agent,
        to_queue,
    ) in rows:
        wrap_up_micros[agent, queue].append(ended - started)
        chats[
            agent,
            queue,
            label is None,
            ending,
            flagged_by is not None,
            used,
            paused,
            leg,
            ended_by,
            to_agent,
            to_queue,
        ] += 1
        if label is not None and ending != TIMEOUT_DEFAULT:
            run = runs.get(agent)
            if run is None:
                run = runs[agent] = run_of(agent)
            trends[run, ended // unit, group, label] += 1
        if paused_seconds:
            pauses.append((ended, agent, queue, paused_seconds))
    return tally


def by_run(tally: Tally, run_of: Callable[[str], str]) -> dict[str, Tally]:
    """``tally`` split by run (``run_of`` the agent), runs in label order."""
    runs: dict[str, str] = {}

    def run(agent: str) -> str:
        known = runs.get(agent)
        if known is None:
            known = runs[agent] = run_of(agent)
        return known

    split: defaultdict[str, Tally] = defaultdict(Tally)
    for chat, number in tally.chats.items():
        split[run(chat[0])].chats[chat] = number
    for key, number in tally.trends.items():
        split[key[0]].trends[key] = number
    for (agent, queue), micros in tally.wrap_up_micros.items():
        split[run(agent)].wrap_up_micros[agent, queue] = micros
    for pause in tally.pauses:
        split[run(pause[1])].pauses.append(pause)
    return {label: split[label] for label in sorted(split)}
