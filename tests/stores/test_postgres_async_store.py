"""The asyncio PostgreSQL store passes the store contract (through
BlockingStore) and keeps the event loop free while it waits on the server.

Needs a server: set WEBCHAT_WRAPUP_POSTGRES_DSN; without it the tests skip
locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator

import pytest
from hypothesis import settings

from support import postgres_dsn
from webchat_wrapup import (
    AgentState,
    AssignChat,
    CommandRefused,
    ErrorCode,
    InvalidInput,
    ManualClock,
    QueuePolicy,
    StoreError,
    decide,
)
from webchat_wrapup._core._history import ContactHistoryEntry
from webchat_wrapup.aio import AsyncWrapUpService
from webchat_wrapup.ports import Change, RemembersStates, Store
from webchat_wrapup.testing import BlockingService, BlockingStore
from webchat_wrapup.testing._builders import history_entry
from webchat_wrapup.testing.contract import (
    T0,
    RemembersStatesContract,
    StoreContract,
)
from webchat_wrapup.testing.stateful import StoreComparison

DSN = postgres_dsn()

psycopg = pytest.importorskip("psycopg")
psycopg_pool = pytest.importorskip("psycopg_pool")
from test_postgres_store import drop, fresh_schema, holding  # noqa: E402

from webchat_wrapup.stores import AsyncPostgresStore, PostgresStore  # noqa: E402

SHORT_WAIT = 0.5
"""A pool timeout short enough that a test expecting it to run out is quick."""


@pytest.fixture
def schema() -> Iterator[str]:
    name = fresh_schema()
    yield name
    drop(name)


@pytest.fixture
def app_name() -> str:
    """An application_name that tells this test's sessions on the server."""
    return f"wrapup_test_{uuid.uuid4().hex[:12]}"


class TestAsyncPostgresStore(StoreContract, RemembersStatesContract):
    @pytest.fixture
    def store(self, schema: str) -> Iterator[Store]:
        with BlockingStore(AsyncPostgresStore.open(DSN, schema=schema)) as store:
            yield store


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def assigned(agent_id: str, chat_id: str) -> Change:
    """Agent ``agent_id`` (at version 1) takes ``chat_id``: a change with
    events for the feed."""
    decision = decide(
        AgentState.new(agent_id),
        AssignChat(agent_id, chat_id, "cust-1", QueuePolicy("support")),
        T0,
    )
    return Change(agent_id, 1, decision.state, events=decision.events)


def entry(chat_id: str, ended: float) -> ContactHistoryEntry:
    return history_entry("cust-1", chat_id, ended)


async def sessions(app_name: str, waiting_on: str | None = None) -> int:
    """How many of the server's sessions have this application_name (and,
    if given, wait on that kind of event)."""
    connection = await psycopg.AsyncConnection.connect(DSN, autocommit=True)
    async with connection:
        cursor = await connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
            "AND (%s::text IS NULL OR wait_event_type = %s)",
            (app_name, waiting_on, waiting_on),
        )
        row = await cursor.fetchone()
    return 0 if row is None else int(row[0])


async def until(condition: Callable[[], Awaitable[bool]], seconds: float = 10) -> None:
    """Poll ``condition()`` until it holds; fail after ``seconds``."""
    async with asyncio.timeout(seconds):
        while not await condition():
            await asyncio.sleep(0.02)


# The loop is never blocked


def test_a_save_waiting_for_a_row_lock_leaves_the_loop_free(
    schema: str, app_name: str
) -> None:
    async def test() -> None:
        # Should a save ever block the loop, the lock it waits for could not
        # be let go of: the server's lock timeout then fails the test.
        dsn = f"{DSN} application_name={app_name} options='-c lock_timeout=10s'"
        async with await AsyncPostgresStore.open(dsn, schema=schema) as store:
            await store.save(Change("agent-1", 0, AgentState.new("agent-1")))
            change = Change("agent-1", 1, AgentState.new("agent-1", capacity=2))
            async with await psycopg.AsyncConnection.connect(DSN) as other:
                await other.execute(
                    f'SELECT 1 FROM "{schema}".agents WHERE agent_id = %s FOR UPDATE',
                    ("agent-1",),
                )
                saving = asyncio.create_task(store.save(change))
                # While the server says the save waits for the row lock, this
                # task goes on asking it, on the same loop.
                await until(lambda: has_one(sessions(app_name, waiting_on="Lock")))
                assert not saving.done()
                await other.rollback()
            await asyncio.wait_for(saving, 10)
            stored = await store.load("agent-1")
            assert stored is not None
            assert (stored.version, stored.state.capacity) == (2, 2)

    run(test)


async def has_one(count: Awaitable[int]) -> bool:
    return await count == 1


def test_followers_wait_on_connections_of_their_own_never_the_pools(
    schema: str,
) -> None:
    async def test() -> None:
        async with await AsyncPostgresStore.open(
            DSN, schema=schema, pool_size=1, pool_timeout=SHORT_WAIT
        ) as store:
            await store.save(Change("agent-1", 0, AgentState.new("agent-1")))
            start = await store.last_position()
            waits = [
                asyncio.create_task(store.wait_for_events(start, 30)) for _ in range(3)
            ]
            await asyncio.sleep(0.3)  # all three listening
            # The pool's only connection is free for the command...
            await store.save(assigned("agent-1", "chat-1"))
            # ...and its commit wakes every follower (well before 30 s).
            assert await asyncio.wait_for(asyncio.gather(*waits), 10) == [True] * 3

    run(test)


def test_a_cancelled_wait_leaves_the_next_one_working(schema: str) -> None:
    async def test() -> None:
        async with await AsyncPostgresStore.open(DSN, schema=schema) as store:
            await store.save(Change("agent-1", 0, AgentState.new("agent-1")))
            start = await store.last_position()
            cancelled = asyncio.create_task(store.wait_for_events(start, 30))
            await asyncio.sleep(0.2)
            cancelled.cancel()
            with pytest.raises(asyncio.CancelledError):
                await cancelled
            waiting = asyncio.create_task(store.wait_for_events(start, 30))
            await asyncio.sleep(0.2)
            await store.save(assigned("agent-1", "chat-1"))
            assert await asyncio.wait_for(waiting, 10) is True
            assert await store.wait_for_events(start, 0.01) is True  # at once

    run(test)


# Connections: a pool that runs out, closing


def test_an_exhausted_pool_raises_a_typed_error_and_recovers(schema: str) -> None:
    async def test() -> None:
        async with await AsyncPostgresStore.open(
            DSN, schema=schema, pool_size=1, pool_timeout=SHORT_WAIT
        ) as store:
            entries = (entry("chat-1", 1), entry("chat-2", 2))
            await store.save(Change("agent-1", 0, AgentState.new("agent-1"), entries))
            reading = store.all_history()
            assert await anext(reading) == entries[0]  # holds the only connection
            with pytest.raises(StoreError) as caught:
                await store.load("agent-1")
            assert caught.value.code is ErrorCode.STORE_UNAVAILABLE
            assert isinstance(caught.value.__cause__, psycopg_pool.PoolTimeout)
            assert "busy" in caught.value.message
            await reading.aclose()  # type: ignore[attr-defined]
            assert await store.load("agent-1") is not None

    run(test)


def test_a_closed_store_refuses_every_call_and_wakes_its_followers(
    schema: str, app_name: str
) -> None:
    async def test() -> None:
        dsn = f"{DSN} application_name={app_name}"
        store = await AsyncPostgresStore.open(dsn, schema=schema)
        await store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        reading = store.all_history()
        waiting = asyncio.create_task(store.wait_for_events(0, 30))
        await asyncio.sleep(0.3)  # listening, waiting up to 30 s
        await store.aclose()
        with pytest.raises(StoreError) as woken:
            await asyncio.wait_for(waiting, 5)
        assert woken.value.code is ErrorCode.STORE_CLOSED
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: store.load("agent-1"),
            lambda: store.save(Change("agent-2", 0, AgentState.new("agent-2"))),
            lambda: store.events(),
            lambda: store.wait_for_events(0, 0.01),
            lambda: anext(reading),
        ]
        for call in calls:
            with pytest.raises(StoreError) as raised:
                await call()
            assert raised.value.code is ErrorCode.STORE_CLOSED
        await store.aclose()  # closing twice is harmless
        await until(lambda: has_none(sessions(app_name)))

    run(test)


async def has_none(count: Awaitable[int]) -> bool:
    return await count == 0


def test_a_store_never_opened_says_so(schema: str) -> None:
    async def test() -> None:
        store = AsyncPostgresStore(DSN, schema=schema)
        with pytest.raises(StoreError) as raised:
            await store.load("agent-1")
        assert raised.value.code is ErrorCode.STORE_CLOSED
        assert "AsyncPostgresStore.open" in raised.value.message

    run(test)


# One schema, either face


def test_a_follower_hears_a_commit_made_by_the_blocking_store(schema: str) -> None:
    async def test() -> None:
        async with await AsyncPostgresStore.open(DSN, schema=schema) as store:
            with PostgresStore(DSN, schema=schema) as blocking:
                blocking.save(Change("agent-1", 0, AgentState.new("agent-1")))
                start = await store.last_position()
                waiting = asyncio.create_task(store.wait_for_events(start, 30))
                await asyncio.sleep(0.3)  # listening, waiting up to 30 s
                assert not waiting.done()
                await asyncio.to_thread(blocking.save, assigned("agent-1", "chat-1"))
                assert await asyncio.wait_for(waiting, 10) is True
                events = await store.events(start)
                assert "chat_assigned" in [stored.event.type for stored in events]
                assert events == blocking.events(start)

    run(test)


def test_a_blocking_follower_hears_a_commit_made_by_the_async_store(
    schema: str,
) -> None:
    async def test() -> None:
        async with await AsyncPostgresStore.open(DSN, schema=schema) as store:
            with PostgresStore(DSN, schema=schema) as blocking:
                await store.save(Change("agent-1", 0, AgentState.new("agent-1")))
                start = blocking.last_position()
                waiting = asyncio.create_task(
                    asyncio.to_thread(blocking.wait_for_events, start, 30)
                )
                await asyncio.sleep(0.3)
                await store.save(assigned("agent-1", "chat-1"))
                assert await asyncio.wait_for(waiting, 10) is True
                assert blocking.load("agent-1") == await store.load("agent-1")

    run(test)


def test_a_policy_first_read_by_the_async_store_is_read_with_an_await(
    schema: str,
) -> None:
    state = holding("agent-1", "chat-1", "chat-2")
    with PostgresStore(DSN, schema=schema) as blocking:
        blocking.save(Change("agent-1", 0, state))

    async def test() -> None:
        async with await AsyncPostgresStore.open(DSN, schema=schema) as store:
            stored = await store.load("agent-1")
            assert stored is not None
            assert stored.state == state
            with psycopg.connect(DSN, autocommit=True) as connection:
                connection.execute(f'DELETE FROM "{schema}".policies')
        async with await AsyncPostgresStore.open(DSN, schema=schema) as fresh:
            with pytest.raises(StoreError) as caught:
                await fresh.load("agent-1")
            assert caught.value.code is ErrorCode.STORE_CORRUPT
            assert caught.value.details["key"] == "agent-1"

    run(test)


# The application's own pool


def test_the_applications_pool_is_used_and_left_open(schema: str) -> None:
    async def test() -> None:
        async with psycopg_pool.AsyncConnectionPool(
            DSN, kwargs={"autocommit": True}, min_size=0, max_size=2, open=False
        ) as pool:
            store = await AsyncPostgresStore.open(pool=pool, schema=schema)
            async with store:
                await store.save(Change("agent-1", 0, AgentState.new("agent-1")))
                start = await store.last_position()
                waiting = asyncio.create_task(store.wait_for_events(start, 30))
                await asyncio.sleep(0.3)  # borrowing one of the pool's two
                await store.save(assigned("agent-1", "chat-1"))
                assert await asyncio.wait_for(waiting, 10) is True
                assert isinstance(store, RemembersStates)
                assert store.load_remembered("agent-1") == await store.load("agent-1")
            with pytest.raises(StoreError) as caught:
                await store.load("agent-1")
            assert caught.value.code is ErrorCode.STORE_CLOSED
            assert not pool.closed
            async with pool.connection() as connection:
                cursor = await connection.execute("SELECT 1")
                assert await cursor.fetchone() == (1,)

    run(test)


def test_a_pool_without_autocommit_is_refused_before_anything_is_written(
    schema: str,
) -> None:
    async def test() -> None:
        async with psycopg_pool.AsyncConnectionPool(
            DSN, min_size=0, max_size=1, open=False
        ) as pool:
            with pytest.raises(StoreError) as caught:
                await AsyncPostgresStore.open(pool=pool, schema=schema)
        assert caught.value.code is ErrorCode.STORE_UNAVAILABLE
        assert "autocommit" in caught.value.message

    run(test)
    with psycopg.connect(DSN, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)
        ).fetchone()
    assert row == (0,)


def test_blocking_store_refuses_what_is_not_an_async_store() -> None:
    with pytest.raises(InvalidInput):
        BlockingStore(object())  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        BlockingStore(AsyncPostgresStore(DSN), page_size=0)


class AsyncFacePostgresComparison(StoreComparison):
    """The asyncio service over AsyncPostgresStore, against the blocking
    service over the reference store."""

    def make_store(self) -> Store:
        self.schema_name = fresh_schema()
        opening = AsyncPostgresStore.open(DSN, schema=self.schema_name, pool_size=2)
        return BlockingStore(opening)

    def make_service(self, store: Store, clock: ManualClock) -> BlockingService:
        assert isinstance(store, BlockingStore)  # made just above
        return BlockingService(store, clock)

    def close_store(self, store: Store) -> None:
        super().close_store(store)
        drop(self.schema_name)


TestAsyncFacePostgresComparison = AsyncFacePostgresComparison.TestCase
TestAsyncFacePostgresComparison.settings = settings(
    TestAsyncFacePostgresComparison.settings, max_examples=25
)


def test_concurrent_commands_through_the_async_service_respect_capacity(
    schema: str,
) -> None:
    policy = QueuePolicy("support")

    async def crowd() -> tuple[list[object], list[int]]:
        async with await AsyncPostgresStore.open(
            DSN, schema=schema, pool_size=4
        ) as store:
            service = AsyncWrapUpService(store, ManualClock(T0))
            for number in range(4):
                await service.add_agent(f"agent-{number}", capacity=3)
            calls = [
                service.assign(f"agent-{n % 4}", f"chat-{n}", f"cust-{n}", policy)
                for n in range(24)
            ]
            results = await asyncio.gather(*calls, return_exceptions=True)
            held = []
            for number in range(4):
                stored = await store.load(f"agent-{number}")
                assert stored is not None
                assert stored.version == 1 + len(stored.state.chats)
                held.append(len(stored.state.chats))
            return list(results), held

    results, held = asyncio.run(crowd())
    refused = [r for r in results if isinstance(r, Exception)]
    assert all(
        isinstance(r, CommandRefused) and r.code is ErrorCode.CAPACITY_REACHED
        for r in refused
    )
    assert len(results) - len(refused) == 12  # 4 agents of capacity 3
    assert held == [3, 3, 3, 3]
