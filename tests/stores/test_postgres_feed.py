"""The PostgreSQL event feed: commit order under many writer processes,
and the lock that keeps a reader from skipping a position still uncommitted."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from support import postgres_dsn
from webchat_wrapup import AgentState, AssignChat, QueuePolicy, decide
from webchat_wrapup.ports import Change
from webchat_wrapup.stores import PostgresStore

DSN = postgres_dsn()
psycopg = pytest.importorskip("psycopg")

from test_postgres_store import drop, fresh_schema  # noqa: E402

from test_feed import (  # noqa: E402
    T0,
    check_followed_the_table,
    every_event,
    follow_while,
    run_writers,
)


@pytest.fixture
def schema() -> Iterator[str]:
    name = fresh_schema()
    yield name
    drop(name)


def test_a_follower_of_eight_writer_processes_sees_the_table(schema: str) -> None:
    with PostgresStore(DSN, schema=schema) as store:
        write = threading.Thread(
            target=run_writers, args=(f"postgresql:{schema}", 8, 100)
        )
        seen = follow_while(store, write)
        check_followed_the_table(seen, every_event(store))


def test_a_position_taken_by_an_open_transaction_holds_back_later_ones(
    schema: str,
) -> None:
    """The outbox trap: a transaction that drew position n and has not
    committed must not let a later one commit n + 1 for a reader to see
    first. The later save waits for the feed's lock instead."""
    with PostgresStore(DSN, schema=schema) as store:
        decision = decide(
            AgentState.new("agent-1"),
            AssignChat("agent-1", "chat-1", "cust-1", QueuePolicy("support")),
            T0,
        )
        with psycopg.connect(DSN) as open_transaction:
            open_transaction.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", store._feed_lock
            )
            open_transaction.execute(
                f'INSERT INTO "{schema}".events (recorded_at, agent_id, event) '
                "VALUES (0, 'agent-0', %s) RETURNING position",
                ('["presence_changed"]',),
            )
            saved = threading.Event()

            def save() -> None:
                store.save(Change("agent-1", 0, decision.state, events=decision.events))
                saved.set()

            writer = threading.Thread(target=save)
            writer.start()
            time.sleep(0.5)
            assert not saved.is_set()  # waiting for the feed's lock
            assert store.events() == []  # nothing visible, nothing skipped
            open_transaction.rollback()
        writer.join(10)
        assert saved.is_set()
        positions = [stored.position for stored in store.events()]
        assert positions
        assert min(positions) > 1  # after the rolled-back one


def test_the_async_service_on_postgresql_hears_commits_without_a_thread(
    schema: str,
) -> None:
    import asyncio

    from webchat_wrapup import ManualClock
    from webchat_wrapup.aio import AsyncWrapUpService
    from webchat_wrapup.stores import AsyncPostgresStore

    policy = QueuePolicy("support")

    async def run() -> float:
        async with await AsyncPostgresStore.open(DSN, schema=schema) as store:
            service = AsyncWrapUpService(store, ManualClock(T0))
            await service.add_agent("agent-1")
            start = await store.last_position()
            heard = asyncio.Event()

            async def listen() -> None:
                async for stored in service.follow(start, wait=30):
                    if stored.event.type == "chat_assigned":
                        heard.set()
                        return

            listening = asyncio.create_task(listen())
            await asyncio.sleep(0.3)  # listening, waiting up to 30 s
            sent = time.monotonic()
            await service.assign("agent-1", "chat-1", "cust-1", policy)
            await asyncio.wait_for(heard.wait(), 10)
            await listening
            return time.monotonic() - sent

    assert asyncio.run(run()) < 5  # woken by NOTIFY, not by the 30 s wait
