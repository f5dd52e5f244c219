"""What the event feed costs, and how soon a follower hears a commit.

Group ``feed``: one wrap-up extension through the service on the SQLite
store (``synchronous`` FULL), writing its event to the feed
(``test_feed_command_sqlite``), and the same on a store that drops the
events before saving (``test_feed_command_sqlite_without_events``): the
ratio is what the outbox costs a command (target: at most 1.15).

Group ``feed_latency``: a follower thread follows the feed with
:func:`webchat_wrapup.feed.follow` while the benchmark executes commands;
each round times one command from the call to the moment the follower has
its event (the commit, the wake-up and the read). The rounds' p50 and p99
are in ``extra_info``, for SQLite (``PRAGMA data_version`` polling) and
PostgreSQL (``LISTEN``/``NOTIFY``).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
from extend_setup import ENDED_AT, MAX_EXTENSIONS, NOW, QUEUE, T0, chat_of

from webchat_wrapup import ManualClock, SQLiteStore, WrapUpService
from webchat_wrapup.feed import follow
from webchat_wrapup.ports import Change, Store

ROUNDS = 1000
LATENCY_ROUNDS = 200
WARMUP = 20


class _StoreWithoutFeed(SQLiteStore):
    """The SQLite store, saving every change without its events."""

    def save(self, change: Change) -> None:
        super().save(attrs.evolve(change, events=()))

    def save_all(self, changes: Sequence[Change]) -> None:
        super().save_all([attrs.evolve(c, events=()) for c in changes])


class _Extensions:
    """Agents in wrap-up, extended round robin (a fresh group when spent)."""

    def __init__(self, service: WrapUpService, calls: int) -> None:
        self.service = service
        self.size = max(1, -(-calls // MAX_EXTENSIONS))
        self.calls = 0
        self.agents: list[str] = []

    def next(self) -> tuple[tuple[str, str], dict[str, Any]]:
        generation, rest = divmod(self.calls, self.size * MAX_EXTENSIONS)
        if rest == 0:
            self.agents = [f"agent-{generation}-{i}" for i in range(self.size)]
            for agent_id in self.agents:
                self._put_in_wrap_up(agent_id)
        self.calls += 1
        agent_id = self.agents[rest % self.size]
        return (agent_id, chat_of(agent_id)), {}

    def _put_in_wrap_up(self, agent_id: str) -> None:
        service, clock = self.service, self.service.clock
        service.add_agent(agent_id)
        clock.set(T0)  # type: ignore[attr-defined]
        service.assign(agent_id, chat_of(agent_id), f"customer-{agent_id}", QUEUE)
        clock.set(ENDED_AT)  # type: ignore[attr-defined]
        service.end_chat(agent_id, chat_of(agent_id))
        clock.set(NOW)  # type: ignore[attr-defined]


def _bench_extensions(benchmark: Any, store: SQLiteStore) -> int:
    service = WrapUpService(store, ManualClock(NOW))
    rounds = 1 if benchmark.disabled else ROUNDS
    pool = _Extensions(service, rounds + WARMUP)
    before = store.last_position()
    outcome = benchmark.pedantic(
        service.extend, setup=pool.next, rounds=rounds, warmup_rounds=WARMUP
    )
    assert outcome.events[0].type == "wrap_up_extended"
    return store.last_position() - before


@pytest.mark.benchmark(group="feed")
def test_feed_command_sqlite(benchmark: Any, tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "feed.db") as store:
        assert _bench_extensions(benchmark, store) > 0  # the events were written


@pytest.mark.benchmark(group="feed")
def test_feed_command_sqlite_without_events(benchmark: Any, tmp_path: Path) -> None:
    with _StoreWithoutFeed(tmp_path / "nofeed.db") as store:
        assert _bench_extensions(benchmark, store) == 0  # none were


# Commit to follower


def _bench_latency(benchmark: Any, store: Store) -> None:
    service = WrapUpService(store, ManualClock(NOW))
    rounds = 3 if benchmark.disabled else LATENCY_ROUNDS
    pool = _Extensions(service, rounds + 1)
    heard: dict[int, float] = {}
    arrived = threading.Condition()
    stop = threading.Event()

    def follower() -> None:
        for stored in follow(store, store.last_position(), stop=stop, wait=0.5):
            with arrived:
                heard[stored.position] = time.perf_counter()
                arrived.notify_all()

    thread = threading.Thread(target=follower, daemon=True)
    thread.start()
    latencies: list[float] = []

    def one_command() -> None:
        args, _ = pool.next()
        started = time.perf_counter()
        service.extend(*args)
        position = store.last_position()
        with arrived:
            arrived.wait_for(lambda: position in heard, timeout=10)
        assert position in heard
        latencies.append(heard[position] - started)

    benchmark.pedantic(one_command, rounds=rounds, iterations=1)
    stop.set()
    thread.join(5)
    ordered = sorted(latencies)
    benchmark.extra_info["p50_ms"] = round(statistics.median(ordered) * 1000, 3)
    benchmark.extra_info["p99_ms"] = round(
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3
    )
    assert latencies  # each one heard by the follower


@pytest.mark.benchmark(group="feed_latency")
def test_feed_latency_sqlite(benchmark: Any, tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "latency.db") as store:
        _bench_latency(benchmark, store)


@pytest.fixture
def postgres_store() -> Iterator[Store]:
    dsn = os.environ.get("WEBCHAT_WRAPUP_POSTGRES_DSN")
    if dsn is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL feed benchmark: no server")
        pytest.skip("WEBCHAT_WRAPUP_POSTGRES_DSN is not set")
    import uuid

    import psycopg

    from webchat_wrapup.stores import PostgresStore

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with PostgresStore(dsn, schema=schema) as store:
        yield store
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.mark.benchmark(group="feed_latency")
def test_feed_latency_postgres(benchmark: Any, postgres_store: Store) -> None:
    _bench_latency(benchmark, postgres_store)
