"""The asyncio face: the service's guarantees, without blocking the loop."""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from webchat_wrapup import (
    CommandRefused,
    ContactHistoryEntry,
    ErrorCode,
    InvalidInput,
    ManualClock,
    MemoryStore,
    QueuePolicy,
    SQLiteStore,
    StoreError,
    WrapUpEnding,
    WrapUpPolicy,
    WrapUpService,
)
from webchat_wrapup._shorthands import CommandShorthands
from webchat_wrapup.aio import AsyncWrapUpService, ThreadedStore
from webchat_wrapup.ports import Store

T0 = datetime(2026, 11, 30, 9, tzinfo=timezone.utc)
POLICY = QueuePolicy("support", WrapUpPolicy(countdown_seconds=60, max_extensions=1))


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = (
        MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "w.db")
    )
    with made:
        yield made


async def a_chat(service: AsyncWrapUpService) -> None:
    await service.add_agent("agent-1")
    await service.assign("agent-1", "chat-1", "cust-1", POLICY)
    await service.classify("agent-1", "chat-1", text="refund")
    await service.end_chat("agent-1", "chat-1")
    await service.extend("agent-1", "chat-1")
    view = await service.view("agent-1")
    assert view.chats[0].extensions_left == 0
    await service.complete("agent-1", "chat-1")


def test_an_agent_day_through_the_async_service(store: Store) -> None:
    async def day() -> None:
        async with ThreadedStore(store) as threaded:
            service = AsyncWrapUpService(threaded, ManualClock(T0))
            await a_chat(service)
            page = await service.history("cust-1")
            assert [e.ending for e in page.entries] == [WrapUpEnding.COMPLETED_EARLY]
            await service.assign("agent-1", "chat-2", "cust-2", POLICY)
            with pytest.raises(CommandRefused) as raised:
                await service.assign("agent-1", "chat-3", "cust-3", POLICY)
            assert raised.value.code is ErrorCode.CAPACITY_REACHED

    asyncio.run(day())


def test_concurrent_commands_lose_nothing_and_respect_capacity(store: Store) -> None:
    async def crowd() -> list[object]:
        threaded = ThreadedStore(store, workers=8)  # left open: read below
        service = AsyncWrapUpService(threaded, ManualClock(T0))
        for number in range(4):
            await service.add_agent(f"agent-{number}", capacity=3)
        calls = [
            service.assign(f"agent-{n % 4}", f"chat-{n}", f"cust-{n}", POLICY)
            for n in range(24)
        ]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(crowd())
    refused = [r for r in results if isinstance(r, Exception)]
    assert all(
        isinstance(r, CommandRefused) and r.code is ErrorCode.CAPACITY_REACHED
        for r in refused
    )
    assert len(results) - len(refused) == 12  # 4 agents of capacity 3
    for number in range(4):
        stored = store.load(f"agent-{number}")
        assert stored is not None
        assert len(stored.state.chats) == 3
        assert stored.version == 1 + 3  # added, then one version per assign


def test_a_command_waiting_for_the_file_does_not_block_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.db"

    async def run() -> int:
        store = SQLiteStore(path, busy_timeout=10.0)
        async with ThreadedStore(store) as threaded:
            service = AsyncWrapUpService(threaded, ManualClock(T0))
            await service.add_agent("agent-1")
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # another process writing
            command = asyncio.create_task(
                service.assign("agent-1", "chat-1", "cust-1", POLICY)
            )
            ticks = 0
            for _ in range(20):
                await asyncio.sleep(0.01)
                ticks += 1
            assert not command.done()  # still waiting for the file
            other.execute("COMMIT")
            other.close()
            await command
            return ticks

    assert asyncio.run(run()) == 20


def test_an_async_follower_hears_a_command_of_another_service(store: Store) -> None:
    async def run() -> list[str]:
        async with ThreadedStore(store) as threaded:
            mine = AsyncWrapUpService(threaded, ManualClock(T0))
            others = WrapUpService(store, ManualClock(T0))  # another app server
            others.add_agent("agent-9")
            heard: list[str] = []

            async def listen() -> None:
                async for stored in mine.follow(wait=0.05):
                    heard.append(stored.event.type)
                    if stored.event.type == "chat_assigned":
                        return

            listening = asyncio.create_task(listen())
            await asyncio.sleep(0.1)
            await asyncio.to_thread(others.assign, "agent-9", "c-1", "cust-1", POLICY)
            await asyncio.wait_for(listening, 10)
            return heard

    assert asyncio.run(run())[-1] == "chat_assigned"


def test_a_closed_threaded_store_refuses_calls_and_closes_its_store() -> None:
    inner = MemoryStore()

    async def run() -> None:
        threaded = ThreadedStore(inner)
        service = AsyncWrapUpService(threaded, ManualClock(T0))
        await service.add_agent("agent-1")
        await threaded.aclose()
        await threaded.aclose()  # closing twice is allowed
        with pytest.raises(StoreError) as raised:
            await service.add_agent("agent-2")
        assert raised.value.code is ErrorCode.STORE_CLOSED

    asyncio.run(run())
    with pytest.raises(StoreError):
        inner.load("agent-1")


@pytest.mark.parametrize("workers", [0, 65, True, "4", 2.5])
def test_bad_worker_counts_are_refused(workers: object) -> None:
    with pytest.raises(InvalidInput):
        ThreadedStore(MemoryStore(), workers=workers)  # type: ignore[arg-type]


def test_a_synchronous_store_is_refused_with_a_hint() -> None:
    with pytest.raises(InvalidInput) as raised:
        AsyncWrapUpService(MemoryStore(), ManualClock(T0))  # type: ignore[arg-type]
    assert "ThreadedStore" in str(raised.value)
    with pytest.raises(InvalidInput):
        ThreadedStore(ThreadedStore(MemoryStore()))  # type: ignore[arg-type]


@pytest.mark.parametrize("setting", ["attempts", "lease", "event_retention"])
def test_the_async_service_checks_its_settings_as_the_service_does(
    setting: str,
) -> None:
    with pytest.raises(InvalidInput) as sync_refusal:
        WrapUpService(MemoryStore(), ManualClock(T0), **{setting: 0})  # type: ignore[arg-type]

    async def run() -> None:
        async with ThreadedStore(MemoryStore()) as threaded:
            with pytest.raises(InvalidInput) as refused:
                AsyncWrapUpService(threaded, ManualClock(T0), **{setting: 0})  # type: ignore[arg-type]
            assert refused.value.code is sync_refusal.value.code

    asyncio.run(run())


def test_the_async_service_offers_every_method_of_the_service() -> None:
    assert AsyncWrapUpService.add_agent.__name__ == "add_agent"
    assert "AgentExists" in (AsyncWrapUpService.add_agent.__doc__ or "")
    names = {
        name
        for name in dir(WrapUpService)
        if not name.startswith("_") and callable(getattr(WrapUpService, name))
    }
    assert names <= set(dir(AsyncWrapUpService))
    for name in names - {"subscribe"}:
        assert inspect.iscoroutinefunction(getattr(AsyncWrapUpService, name)) or (
            name in vars(CommandShorthands) or name == "execute"
        ), name


def test_a_waiting_follower_never_holds_up_a_command(tmp_path: Path) -> None:
    async def run() -> None:
        store = SQLiteStore(tmp_path / "w.db")
        async with ThreadedStore(store, workers=1) as threaded:
            service = AsyncWrapUpService(threaded, ManualClock(T0))
            await service.add_agent("agent-1")
            start = await threaded.last_position()

            async def follow() -> None:
                async for _ in service.follow(start, wait=30):
                    return

            following = asyncio.create_task(follow())
            await asyncio.sleep(0.2)  # the follower waits, up to 30 s
            # The one worker is free: the command does not queue behind it.
            await asyncio.wait_for(
                service.assign("agent-1", "chat-1", "cust-1", POLICY), 10
            )
            await asyncio.wait_for(following, 10)  # and it hears the command

    asyncio.run(run())


class _SlowHistory(MemoryStore):
    """A store whose history is read slowly, entry by entry."""

    def all_history(self) -> Iterator[ContactHistoryEntry]:
        for entry in super().all_history():
            time.sleep(0.05)
            yield entry


def test_a_history_reader_cancelled_mid_batch_is_cancelled_cleanly() -> None:
    inner = _SlowHistory()
    sync = WrapUpService(inner, ManualClock(T0))
    sync.add_agent("agent-1")
    for number in range(8):
        sync.assign("agent-1", f"chat-{number}", "cust-1", POLICY)
        sync.end_chat("agent-1", f"chat-{number}")
        sync.complete("agent-1", f"chat-{number}")

    async def run() -> None:
        async with ThreadedStore(inner) as threaded:

            async def read() -> int:
                return len([entry async for entry in threaded.all_history()])

            reading = asyncio.create_task(read())
            await asyncio.sleep(0.1)  # a batch is being read in its thread
            reading.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reading
            assert await read() == 8  # and the store reads on as before

    asyncio.run(run())


def test_the_async_service_reads_back_its_settings() -> None:
    async def run() -> None:
        async with ThreadedStore(MemoryStore()) as threaded:
            service = AsyncWrapUpService(
                threaded, ManualClock(T0), attempts=3, lease=timedelta(seconds=9)
            )
            assert (service.attempts, service.lease) == (3, timedelta(seconds=9))
            assert service.observer is None
            assert service.command_retention == timedelta(hours=24)

    asyncio.run(run())


def test_the_blocking_service_refuses_an_async_store_with_a_hint() -> None:
    threaded = ThreadedStore(MemoryStore())
    with pytest.raises(InvalidInput) as raised:
        WrapUpService(threaded, ManualClock(T0))  # type: ignore[arg-type]
    assert "AsyncWrapUpService" in str(raised.value)
