"""BlockingStore: a blocking Store over an asyncio one, for the contract suite."""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import CancelledError
from datetime import datetime, timezone
from typing import Any

import pytest

from webchat_wrapup import (
    AgentState,
    ErrorCode,
    InvalidInput,
    MemoryStore,
    StoreError,
)
from webchat_wrapup._core._history import ContactHistoryEntry
from webchat_wrapup.ports import Change, RemembersStates, Store
from webchat_wrapup.testing import BlockingStore, blocking
from webchat_wrapup.testing._builders import history_entry
from webchat_wrapup.testing.contract import StoreContract

T0 = datetime(2026, 11, 30, 9, tzinfo=timezone.utc)


class AsyncMemoryStore:
    """MemoryStore for asyncio, each call in a worker thread (a follower
    waiting blocks no one); ``all_history`` a page of entries at a time,
    counting the pages asked for and the reads closed."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.loops: set[asyncio.AbstractEventLoop] = set()
        self.pages = 0
        self.reads_closed = 0

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.store, name)

        async def in_a_thread(*args: object, **kwargs: object) -> object:
            self.loops.add(asyncio.get_running_loop())
            return await asyncio.to_thread(method, *args, **kwargs)

        return in_a_thread

    async def all_history(self) -> AsyncIterator[ContactHistoryEntry]:
        try:
            for entry in await asyncio.to_thread(list, self.store.all_history()):
                self.pages += 1  # one step of the async iterator per entry
                yield entry
        finally:
            self.reads_closed += 1

    async def aclose(self) -> None:
        self.store.close()


class RememberingAsyncMemoryStore(AsyncMemoryStore):
    def load_remembered(self, agent_id: str) -> object:
        return self.store.load(agent_id)


class TestBlockingStoreOverAnAsyncStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        with BlockingStore(AsyncMemoryStore()) as store:
            yield store


def with_history(store: Store, count: int) -> list[ContactHistoryEntry]:
    entries = [history_entry("cust-1", f"chat-{i}", i) for i in range(count)]
    store.save(Change("agent-1", 0, AgentState.new("agent-1"), tuple(entries)))
    return entries


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "BlockingStore"]


def test_history_is_drained_a_page_at_a_time_and_a_read_dropped_is_closed() -> None:
    inner = AsyncMemoryStore()
    with BlockingStore(inner, page_size=2) as store:
        entries = with_history(store, 5)
        reading = store.all_history()
        assert next(reading) == entries[0]
        assert inner.pages == 2  # the first page, read ahead
        reading.close()  # type: ignore[attr-defined]
        assert inner.reads_closed == 1
        assert list(store.all_history()) == entries
        assert inner.reads_closed == 2


def test_the_store_given_as_an_awaitable_is_made_on_the_loop_that_runs_it() -> None:
    made: list[asyncio.AbstractEventLoop] = []

    async def open_store() -> AsyncMemoryStore:
        made.append(asyncio.get_running_loop())
        return AsyncMemoryStore()

    with BlockingStore(open_store()) as store:
        assert store.load("agent-1") is None
        inner = store._store
        assert isinstance(inner, AsyncMemoryStore)
        assert inner.loops == set(made)


def test_closing_stops_the_loop_and_later_calls_reach_the_closed_store() -> None:
    before = len(loop_threads())
    store = BlockingStore(AsyncMemoryStore())
    assert len(loop_threads()) == before + 1
    store.close()
    assert len(loop_threads()) == before
    with pytest.raises(StoreError) as raised:  # MemoryStore's own refusal
        store.load("agent-1")
    assert raised.value.code is ErrorCode.STORE_CLOSED
    store.close()  # closing twice is harmless


class DeafAsyncMemoryStore(AsyncMemoryStore):
    async def wait_for_events(self, after: int, timeout: float) -> bool:
        await asyncio.sleep(timeout)  # closing does not wake it
        return False


def test_a_call_still_running_when_the_loop_stops_is_cancelled_not_left_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(blocking, "SETTLE_SECONDS", 0.2)
    store = BlockingStore(DeafAsyncMemoryStore())
    outcome: list[BaseException | bool] = []

    def wait() -> None:
        try:
            outcome.append(store.wait_for_events(0, 60))
        except BaseException as error:
            outcome.append(error)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.2)  # waiting now
    store.close()
    waiter.join(10)
    assert not waiter.is_alive()
    assert [type(error) for error in outcome] == [CancelledError]


def test_load_remembered_asks_the_async_store_if_it_remembers() -> None:
    with BlockingStore(AsyncMemoryStore()) as forgetful:
        forgetful.save(Change("agent-1", 0, AgentState.new("agent-1")))
        assert forgetful.load_remembered("agent-1") is None
    with BlockingStore(RememberingAsyncMemoryStore()) as remembering:
        assert isinstance(remembering, RemembersStates)
        remembering.save(Change("agent-1", 0, AgentState.new("agent-1")))
        assert remembering.load_remembered("agent-1") == remembering.load("agent-1")


@pytest.mark.parametrize(
    ("store", "page_size"),
    [(object(), 100), (None, 100), ("store", 100), (MemoryStore(), 100)],
)
def test_what_is_not_an_async_store_is_refused(store: object, page_size: int) -> None:
    with pytest.raises(InvalidInput):
        BlockingStore(store)  # type: ignore[arg-type]


@pytest.mark.parametrize("page_size", [0, -1, 2.5, True, "10"])
def test_a_page_size_that_is_not_a_whole_number_above_0_is_refused(
    page_size: object,
) -> None:
    async def never_awaited() -> AsyncMemoryStore:
        return AsyncMemoryStore()

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited"
        with pytest.raises(InvalidInput):
            BlockingStore(never_awaited(), page_size=page_size)  # type: ignore[arg-type]


def test_an_error_opening_the_store_is_raised_and_stops_the_loop() -> None:
    before = len(loop_threads())

    async def unreachable() -> AsyncMemoryStore:
        raise StoreError(ErrorCode.STORE_UNAVAILABLE, "no server")

    with pytest.raises(StoreError) as raised:
        BlockingStore(unreachable())
    assert raised.value.code is ErrorCode.STORE_UNAVAILABLE
    assert len(loop_threads()) == before
