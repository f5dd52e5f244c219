"""Following the event feed: every event once, in commit order, across
processes; retention; projections that apply each event exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from webchat_wrapup import (
    InvalidInput,
    ManualClock,
    MemoryStore,
    QueuePolicy,
    SQLiteStore,
    WrapUpError,
    WrapUpPolicy,
    WrapUpService,
)
from webchat_wrapup.feed import follow, follow_async
from webchat_wrapup.ports import Store, StoredEvent
from webchat_wrapup.projections import ProjectionRunner

T0 = datetime(2026, 11, 30, 9, tzinfo=timezone.utc)
POLICY = QueuePolicy("support", WrapUpPolicy(countdown_seconds=60))
WRITER = Path(__file__).with_name("feed") / "writer.py"


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = (
        MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "w.db")
    )
    with made:
        yield made


def a_day(service: WrapUpService, chats: int = 3) -> None:
    service.add_agent("agent-1", exist_ok=True)
    for number in range(chats):
        chat_id = f"chat-{number}"
        service.assign("agent-1", chat_id, f"cust-{number}", POLICY)
        service.classify("agent-1", chat_id, text="refund")
        service.end_chat("agent-1", chat_id)
        service.complete("agent-1", chat_id)


def every_event(store: Store) -> list[StoredEvent]:
    read: list[StoredEvent] = []
    while page := store.events(read[-1].position if read else 0, 1000):
        read += page
    return read


# Following


def test_a_follower_reads_what_was_written_then_what_comes(store: Store) -> None:
    service = WrapUpService(store, ManualClock(T0))
    a_day(service, chats=1)
    stop = threading.Event()
    seen: list[StoredEvent] = []

    def reader() -> None:
        for stored in follow(store, batch=2, stop=stop, wait=0.05):
            seen.append(stored)

    thread = threading.Thread(target=reader)
    thread.start()
    a_day(service, chats=2)
    written = every_event(store)
    deadline = datetime.now() + timedelta(seconds=20)
    while len(seen) < len(written) and datetime.now() < deadline:
        stop.wait(0.02)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert seen == written


def test_following_again_from_a_position_goes_on_exactly_there(store: Store) -> None:
    service = WrapUpService(store, ManualClock(T0))
    a_day(service)
    written = every_event(store)
    middle = written[len(written) // 2].position
    stop = threading.Event()
    stop.set()  # read what is there, then stop instead of waiting
    after_middle = [e for e in written if e.position > middle]
    assert list(follow(store, middle, batch=2, stop=stop)) == after_middle
    resumed = []
    for stored in follow(store, middle, batch=3, wait=0.01):
        resumed.append(stored)
        if stored.position == written[-1].position:
            break
    assert resumed == after_middle


def test_an_async_follower_sees_the_same_events(store: Store) -> None:
    service = WrapUpService(store, ManualClock(T0))
    a_day(service)
    written = every_event(store)

    async def read() -> list[StoredEvent]:
        seen: list[StoredEvent] = []
        async for stored in follow_async(store, batch=4, wait=0.05):
            seen.append(stored)
            if stored.position == written[-1].position:
                break
        return seen

    assert asyncio.run(asyncio.wait_for(read(), 20)) == written


@given(
    after=st.one_of(st.integers(max_value=-1), st.none(), st.text(), st.booleans()),
)
@settings(max_examples=30, deadline=None)
def test_a_bad_follow_position_is_refused(after: object) -> None:
    with pytest.raises(InvalidInput):
        next(follow(MemoryStore(), after))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "arguments", [{"batch": 0}, {"batch": 1001}, {"wait": 0}, {"wait": "1"}]
)
def test_bad_follow_settings_are_refused(arguments: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        next(follow(MemoryStore(), **arguments))  # type: ignore[arg-type]


# What the feed holds


def test_a_sweeps_expiries_are_in_the_feed(store: Store) -> None:
    clock = ManualClock(T0)
    service = WrapUpService(store, clock)
    service.add_agent("agent-1")
    service.assign("agent-1", "chat-1", "cust-1", POLICY)
    service.end_chat("agent-1", "chat-1")
    last = store.last_position()
    clock.advance(timedelta(minutes=5))
    assert service.sweep().expired == 1
    kinds = [stored.event.type for stored in store.events(last)]
    assert "wrap_up_completed" in kinds
    assert {stored.recorded_at for stored in store.events(last)} == {clock.now()}


def test_a_sweep_prunes_events_past_their_retention(store: Store) -> None:
    clock = ManualClock(T0)
    service = WrapUpService(store, clock, event_retention=timedelta(hours=1))
    a_day(service, chats=1)
    old = len(every_event(store))
    clock.advance(timedelta(minutes=61))
    service.assign("agent-1", "chat-9", "cust-9", POLICY)
    young = every_event(store)[old:]
    assert service.sweep().pruned_events == old
    assert every_event(store) == young


@pytest.mark.parametrize("retention", [timedelta(0), timedelta(-1), 3600, None])
def test_a_bad_event_retention_is_refused(retention: object) -> None:
    with pytest.raises(InvalidInput):
        WrapUpService(
            MemoryStore(),
            ManualClock(T0),
            event_retention=retention,  # type: ignore[arg-type]
        )


def test_the_history_change_feed_puts_a_late_expiry_after_earlier_writes(
    store: Store,
) -> None:
    clock = ManualClock(T0)
    service = WrapUpService(store, clock)
    service.add_agent("agent-1", capacity=2)
    service.assign("agent-1", "chat-1", "cust-1", POLICY)
    service.end_chat("agent-1", "chat-1")  # due at 09:01, swept late
    clock.advance(timedelta(minutes=30))
    service.add_agent("agent-2")
    service.assign("agent-2", "chat-2", "cust-2", POLICY)
    service.end_chat("agent-2", "chat-2")
    service.complete("agent-2", "chat-2")  # ended 09:30, written first
    service.sweep()
    changes = store.history_changes()
    assert [c.entry.chat_id for c in changes] == ["chat-2", "chat-1"]
    assert changes[1].entry.wrap_up_ended_at < changes[0].entry.wrap_up_ended_at


# Many processes, one follower: the proof against out-of-order commits


def run_writers(where: str, processes: int, steps: int) -> None:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writers = [
        subprocess.Popen(
            [sys.executable, str(WRITER), where, str(number), str(steps)],
            env=environment,
        )
        for number in range(processes)
    ]
    for writer in writers:
        assert writer.wait(timeout=600) == 0


def follow_while(store: Store, write: threading.Thread) -> list[StoredEvent]:
    """Follow the feed while ``write`` runs, then until caught up."""
    stop = threading.Event()
    seen: list[StoredEvent] = []

    def reader() -> None:
        for stored in follow(store, batch=7, stop=stop, wait=0.05):
            seen.append(stored)

    thread = threading.Thread(target=reader)
    thread.start()
    write.start()
    write.join()
    last = store.last_position()
    while (seen[-1].position if seen else 0) < last:
        stop.wait(0.05)
    stop.set()
    thread.join(30)
    return seen


def check_followed_the_table(seen: list[StoredEvent], table: list[StoredEvent]) -> None:
    positions = [stored.position for stored in seen]
    assert positions == sorted(set(positions))  # in order, none twice
    assert seen == table  # none missed
    kinds = {stored.event.type for stored in table}
    assert {"chat_assigned", "chat_classified", "wrap_up_completed"} <= kinds
    assert len(table) > 200


def test_a_follower_of_four_sqlite_writer_processes_sees_the_table(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shared.db"
    with SQLiteStore(path) as store:
        write = threading.Thread(target=run_writers, args=(str(path), 4, 150))
        seen = follow_while(store, write)
        check_followed_the_table(seen, every_event(store))


# Projections


class ChatsPerQueue:
    """Counts assigns per queue; fails on demand to test the rollback."""

    name = "chats_per_queue"

    def __init__(self) -> None:
        self.fail_at: int | None = None

    def create(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE IF NOT EXISTS chats (queue TEXT PRIMARY KEY, n INTEGER)"
        )

    def apply(self, db: sqlite3.Connection, stored: StoredEvent) -> None:
        if stored.position == self.fail_at:
            raise RuntimeError("the projection failed")
        queue = getattr(stored.event, "queue_id", None)
        if stored.event.type == "chat_assigned" and queue is not None:
            db.execute(
                "INSERT INTO chats VALUES (?, 1) "
                "ON CONFLICT (queue) DO UPDATE SET n = n + 1",
                (queue,),
            )


def counted(runner: ProjectionRunner) -> int:
    row = runner.db.execute("SELECT sum(n) FROM chats").fetchone()
    return int(row[0] or 0)


def test_a_projection_applies_each_event_once_across_failures_and_restarts(
    store: Store, tmp_path: Path
) -> None:
    service = WrapUpService(store, ManualClock(T0))
    a_day(service, chats=4)
    projection = ChatsPerQueue()
    events = every_event(store)
    projection.fail_at = events[5].position
    runner = ProjectionRunner(tmp_path / "projection.db", projection)
    with pytest.raises(RuntimeError):
        runner.catch_up(store, limit=1000)
    assert (runner.position, counted(runner)) == (0, 0)  # the batch rolled back
    runner.catch_up(store, limit=3)
    assert runner.position == events[2].position
    projection.fail_at = None
    runner.close()
    again = ProjectionRunner(tmp_path / "projection.db", projection)
    while again.catch_up(store, limit=2):
        pass
    assert again.position == events[-1].position
    assert counted(again) == 4
    a_day(service, chats=2)  # chat ids come back: two more assigns
    again.catch_up(store)
    assert counted(again) == 6
    again.close()


def test_a_projection_runner_refuses_a_nameless_projection(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        ProjectionRunner(tmp_path / "p.db", object())  # type: ignore[arg-type]


def test_two_runners_sharing_a_file_apply_each_event_once(
    store: Store, tmp_path: Path
) -> None:
    service = WrapUpService(store, ManualClock(T0))
    a_day(service, chats=5)
    path = tmp_path / "shared-projection.db"
    runners = [ProjectionRunner(path, ChatsPerQueue()) for _ in range(2)]

    def drain(runner: ProjectionRunner) -> None:
        while runner.catch_up(store, limit=1):
            pass

    threads = [threading.Thread(target=drain, args=(r,)) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert counted(runners[0]) == 5
    assert runners[0].position == runners[1].position == every_event(store)[-1].position
    for runner in runners:
        runner.close()


# Fuzzing the feed's inputs: only the library's own errors escape, and a
# refused read or wait changes nothing.

ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
)


def short(timeout: object) -> object:
    """``timeout``, except that a valid wait of more than 10 ms is cut to
    10 ms: only the refusals are under test, not the sleeping."""
    number = isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
    return 0.01 if number and 0.01 < timeout <= 3600 else timeout  # type: ignore[operator]


@given(after=ANYTHING, limit=ANYTHING, timeout=ANYTHING)
@example(after=5, limit=10, timeout=1.0)  # past the last event: nothing to read
@settings(max_examples=150, deadline=None)
def test_any_feed_input_gives_an_answer_or_a_typed_error(
    after: object, limit: object, timeout: object
) -> None:
    store = MemoryStore()
    WrapUpService(store, ManualClock(T0)).add_agent("agent-1")
    before = store.events(limit=1000)
    wait = short(timeout)
    # Stopped from the start, a follower reads what is there and ends: one
    # asked to follow from past the last event would otherwise wait for ever.
    stopped = threading.Event()
    stopped.set()
    calls = [
        lambda: store.events(after, limit),  # type: ignore[arg-type]
        lambda: store.history_changes(after, limit),  # type: ignore[arg-type]
        lambda: store.wait_for_events(after, wait),  # type: ignore[arg-type]
        lambda: store.prune_events(T0, limit),  # type: ignore[arg-type]
        lambda: next(follow(store, after, batch=limit, wait=wait, stop=stopped)),  # type: ignore[arg-type]
    ]
    for call in calls:
        with contextlib.suppress(WrapUpError, StopIteration):
            call()
    assert store.events(limit=1000) == before


@given(after=ANYTHING, limit=ANYTHING)
@settings(max_examples=60, deadline=None)
def test_any_feed_read_on_sqlite_gives_an_answer_or_a_typed_error(
    after: object, limit: object
) -> None:
    with (
        tempfile.TemporaryDirectory() as folder,
        SQLiteStore(Path(folder) / "f.db") as store,
    ):
        for read in (store.events, store.history_changes):
            with contextlib.suppress(WrapUpError):
                read(after, limit)  # type: ignore[arg-type]
