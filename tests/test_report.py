"""Reports: trends from agents' own classifications, timeouts kept apart."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import history_setup
import report_reference
from entry_strategies import history_entries
from support import AGENT, T0, play
from webchat_wrapup import (
    AgentState,
    Classification,
    ContactHistoryEntry,
    EndedBy,
    ErrorCode,
    InvalidInput,
    WrapUpEnding,
)
from webchat_wrapup.ports import Change, Store
from webchat_wrapup.stores import MemoryStore, SQLiteStore
from webchat_wrapup.testing.strategies import command_sequences
from webchat_wrapup.tools.report import (
    MAX_BINS,
    Bucket,
    Report,
    build_report,
    reports_by_run,
)
from webchat_wrapup.tools.runs import run_of

BUCKETS: list[Bucket] = ["hour", "day"]


def entry(
    minutes: float,
    label: str | None = "Refund",
    ending: WrapUpEnding = WrapUpEnding.COMPLETED_EARLY,
    wrap_seconds: float = 30,
    extensions: int = 0,
    queue: str = "sales",
    pauses: int = 0,
    paused_seconds: float = 0.0,
    agent: str = AGENT,
) -> ContactHistoryEntry:
    ended = T0 + timedelta(minutes=minutes)
    classification = None if label is None else Classification(label, label.lower())
    return ContactHistoryEntry(
        customer_id="c",
        chat_id=f"chat-{minutes}-{label}",
        agent_id=agent,
        queue_id=queue,
        classification=classification,
        additional_text=None,
        chat_started_at=ended,
        chat_ended_at=ended,
        ended_by=EndedBy.CUSTOMER,
        wrap_up_started_at=ended,
        wrap_up_ended_at=ended + timedelta(seconds=wrap_seconds),
        ending=ending,
        extensions_used=extensions,
        abuse=None,
        pause_count=pauses,
        paused_seconds=paused_seconds,
    )


def test_timeout_defaults_and_unclassified_chats_stay_out_of_the_trends() -> None:
    report = build_report(
        [
            entry(1, "Refund"),
            entry(2, "Other", WrapUpEnding.EXPIRED_WITH_DEFAULT),
            entry(3, None, WrapUpEnding.EXPIRED),
        ]
    )
    assert (report.classified, report.timeout_defaults, report.unclassified) == (
        1,
        1,
        1,
    )
    assert [(row.classification, row.count) for row in report.trends] == [("Refund", 1)]


def test_trends_count_and_share_per_hour_or_day() -> None:
    entries = [entry(0, "Refund"), entry(10, "Refund"), entry(20, "Late")]
    entries.append(entry(70, "Late"))
    hourly = build_report(entries, bucket="hour")
    assert [(r.period, r.classification, r.count) for r in hourly.trends] == [
        ("2026-01-05 09:00", "Refund", 2),
        ("2026-01-05 09:00", "Late", 1),
        ("2026-01-05 10:00", "Late", 1),
    ]
    assert hourly.trends[0].share == 2 / 3
    daily = build_report(entries, bucket="day")
    assert [(r.classification, r.count) for r in daily.trends] == [
        ("Late", 2),
        ("Refund", 2),
    ]


def test_the_biggest_mover_is_the_classification_whose_share_changed_most() -> None:
    entries = [entry(m, "Refund") for m in (0, 5, 10)] + [entry(15, "Late")]
    entries += [entry(60 + m, "Late") for m in (0, 5, 10)] + [entry(75, "Refund")]
    (top, *_) = build_report(entries).movers
    assert top.classification in {"Refund", "Late"}
    assert abs(top.change) == 0.5


def test_wrap_up_time_and_extensions_per_queue_and_agent() -> None:
    seconds = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    entries = [
        entry(n, wrap_seconds=s, extensions=n % 2) for n, s in enumerate(seconds)
    ]
    report = build_report(entries)
    queue = next(row for row in report.wrap_up if row.group == "queue")
    assert queue.chats == 10
    assert queue.mean_seconds == 55
    assert queue.median_seconds == 55
    assert queue.p90_seconds == 90  # nearest rank: the 9th of 10
    assert queue.extensions == 5
    assert queue.share_extended == 0.5
    assert [row.group for row in report.wrap_up] == ["queue", "agent"]


def test_pauses_per_queue_and_agent() -> None:
    entries = [
        entry(1, pauses=2, paused_seconds=50, agent="ana"),
        entry(2, pauses=1, paused_seconds=10, agent="bob"),
        entry(3, agent="bob"),
        entry(4, queue="support", agent="bob"),
    ]
    report = build_report(entries)
    rows = {(row.group, row.name): row for row in report.pauses}
    assert list(rows) == [
        ("queue", "sales"),
        ("queue", "support"),
        ("agent", "ana"),
        ("agent", "bob"),
    ]
    sales = rows[("queue", "sales")]
    assert (sales.chats, sales.paused_chats, sales.pauses) == (3, 2, 3)
    assert sales.paused_seconds == 60
    assert sales.mean_pause_seconds == 20
    assert sales.share_paused == 2 / 3
    support = rows[("queue", "support")]
    assert (support.pauses, support.paused_seconds, support.mean_pause_seconds) == (
        0,
        0,
        0,
    )
    assert rows[("agent", "bob")].pauses == 1
    assert report.to_dict()["pauses"][0]["pauses"] == 3


def test_a_history_without_pauses_reports_as_before_pauses_existed() -> None:
    report = build_report([entry(1), entry(2)])
    assert report.pauses == ()
    assert "pauses" not in report.to_dict()


def test_an_empty_history_gives_an_empty_report() -> None:
    report = build_report([])
    assert report.entries == 0
    assert report.trends == report.movers == report.wrap_up == ()
    assert report.to_dict()["entries"] == 0


@given(command_sequences(max_size=25))
def test_shares_in_each_period_add_up_to_one(steps: list) -> None:
    _, _, decisions = play(steps)
    entries = [entry for d in decisions for entry in d.history]
    report = build_report(entries)
    periods = {row.period for row in report.trends}
    for period in periods:
        total = sum(row.share for row in report.trends if row.period == period)
        assert abs(total - 1) < 1e-9
    assert report.classified + report.timeout_defaults + report.unclassified == len(
        entries
    )


def test_transfers_are_counted_per_queue_and_agent_only_when_there_are_some(
    tmp_path: Path,
) -> None:
    from webchat_wrapup.tools.cli import demo

    history = demo.run(lambda _: None, tmp_path / "demo.db")
    report = build_report(history)
    agents = {row.name: row for row in report.transfers if row.group == "agent"}
    assert (agents["agent-ana"].to_agents, agents["agent-ana"].taken_over) == (1, 0)
    assert (agents["agent-ben"].to_agents, agents["agent-ben"].taken_over) == (0, 1)
    plain = build_report([e for e in history if e.chat_id != "chat-5"])
    assert plain.transfers == ()
    assert "transfers" not in plain.to_dict()


def test_wrap_up_time_is_counted_in_round_bins_from_zero() -> None:
    report = build_report(
        [entry(n, wrap_seconds=s) for n, s in enumerate([5, 12, 12, 59])]
    )
    bins = report.wrap_up_time
    assert [(b.from_seconds, b.to_seconds) for b in bins[:2]] == [(0, 5), (5, 10)]
    assert len(bins) == 12  # 0 to 60 in fives: 59 s falls in the last
    assert [b.chats for b in bins] == [0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert report.to_dict()["wrap_up_time"][2] == {
        "from_seconds": 10,
        "to_seconds": 15,
        "chats": 2,
    }
    assert build_report([]).wrap_up_time == ()


@given(st.lists(st.floats(min_value=0, max_value=10**7), min_size=1, max_size=40))
def test_every_chat_falls_in_exactly_one_bin_of_at_most_twenty(
    seconds: list[float],
) -> None:
    entries = [entry(n, wrap_seconds=s) for n, s in enumerate(seconds)]
    bins = build_report(entries).wrap_up_time
    assert 1 <= len(bins) <= MAX_BINS
    assert bins[0].from_seconds == 0
    assert all(a.to_seconds == b.from_seconds for a, b in itertools.pairwise(bins))
    assert sum(b.chats for b in bins) == len(entries)
    for e in entries:
        lasted = (e.wrap_up_ended_at - e.wrap_up_started_at).total_seconds()
        (home,) = [b for b in bins if b.from_seconds <= lasted < b.to_seconds]
        assert home.chats >= 1
    assert bins[-1].chats >= 1  # no empty bins past the longest


# The report counted in one pass is the report as it was built before
# (report_reference.py, kept verbatim), to the last bit of every float.


def as_text(report: Report) -> str:
    return json.dumps(report.to_dict())


@given(st.lists(history_entries(span_hours=6), max_size=40), st.sampled_from(BUCKETS))
def test_a_report_is_the_report_built_entry_by_entry(
    entries: list[ContactHistoryEntry], bucket: Bucket
) -> None:
    expected = report_reference.build_report(entries, bucket=bucket)
    assert as_text(build_report(entries, bucket=bucket)) == as_text(expected)
    assert as_text(build_report(iter(entries), bucket=bucket)) == as_text(expected)


def a_day_of_runs(size: int) -> list[ContactHistoryEntry]:
    """``size`` entries over two days (many wrap-ups end on the same
    minute), a third in each of two simulation runs, in the order a store
    might have written them: not in wrap-up order."""
    entries = []
    for number, entry in enumerate(history_setup.entries(size, span=timedelta(days=2))):
        run = ("", "sim1-1:", "sim1-2:")[number % 3]
        entries.append(attrs.evolve(entry, agent_id=run + entry.agent_id))
    random.Random(5).shuffle(entries)
    return entries


def reference_reports(
    entries: Iterable[ContactHistoryEntry], bucket: Bucket
) -> dict[str, str]:
    by_run: dict[str, list[ContactHistoryEntry]] = {}
    for entry in entries:
        by_run.setdefault(run_of(entry.agent_id), []).append(entry)
    return {
        run: as_text(report_reference.build_report(by_run[run], bucket=bucket))
        for run in sorted(by_run)
    }


def save_all(store: Store, entries: list[ContactHistoryEntry]) -> None:
    """Save ``entries`` through the store's own writes, 50 to a change."""
    for version, start in enumerate(range(0, len(entries), 50)):
        batch = tuple(entries[start : start + 50])
        store.save(Change("writer", version, AgentState.new("writer"), history=batch))


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
@pytest.mark.parametrize("bucket", BUCKETS)
def test_reports_by_run_are_the_reports_built_entry_by_entry(
    tmp_path: Path, kind: str, bucket: Bucket
) -> None:
    entries = a_day_of_runs(3000)
    store: Store = (
        SQLiteStore(tmp_path / "history.db", synchronous="NORMAL")
        if kind == "sqlite"
        else MemoryStore()
    )
    try:
        save_all(store, entries)
        reports = reports_by_run(store, bucket=bucket)
        expected = reference_reports(store.all_history(), bucket)
    finally:
        store.close()
    assert list(reports) == ["all", "sim1-1", "sim1-2"]
    assert {run: as_text(report) for run, report in reports.items()} == expected
    assert sum(report.entries for report in reports.values()) == len(entries)
    assert any(report.pauses for report in reports.values())


def test_a_report_refuses_an_unknown_bucket() -> None:
    for bucket in ("week", None, 1):
        with pytest.raises(InvalidInput) as caught:
            build_report([], bucket=bucket)  # type: ignore[arg-type]
        assert caught.value.code is ErrorCode.INVALID_ARGUMENT
        with pytest.raises(InvalidInput):
            reports_by_run(MemoryStore(), bucket=bucket)  # type: ignore[arg-type]


def test_an_empty_store_has_no_runs_to_report(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "empty.db") as store:
        assert reports_by_run(store) == {}
    assert reports_by_run(MemoryStore()) == {}


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_paused_time_adds_up_in_history_order_whatever_the_write_order(
    tmp_path: Path, kind: str
) -> None:
    # Fractions add up differently in another order: 0.1 + 0.1 + 0.1 + 0.3
    # + 0.3 is 0.9000000000000001, 0.1 + 0.3 + 0.1 + 0.1 + 0.3 is
    # 0.8999999999999999. The order is the history's: by wrap-up end, then
    # the order written.
    same_end = [
        entry(5, pauses=1, paused_seconds=seconds, agent=agent)
        for seconds, agent in ((0.1, "cy"), (0.1, "bo"), (0.3, "al"))
    ]
    late = entry(9, pauses=1, paused_seconds=0.3, agent="al")
    early = entry(1, pauses=1, paused_seconds=0.1, agent="al")
    store: Store = (
        SQLiteStore(tmp_path / "history.db") if kind == "sqlite" else MemoryStore()
    )
    with store:
        save_all(store, [late, *same_end, early])
        (report,) = reports_by_run(store).values()
        history = list(store.all_history())
    assert history == [early, *same_end, late]
    sales = next(row for row in report.pauses if row.name == "sales")
    assert sales.paused_seconds == 0.9000000000000001
    assert as_text(report) == as_text(report_reference.build_report(history))
