"""A blocking :class:`~webchat_wrapup.ports.Store` over an
:class:`~webchat_wrapup.ports.AsyncStore`, so the contract suite (and any
other blocking code) runs against an asyncio store unchanged::

    class TestMyAsyncStore(StoreContract):
        @pytest.fixture
        def store(self):
            with BlockingStore(MyAsyncStore.open(...)) as store:
                yield store

The async store runs on an event loop of the :class:`BlockingStore`'s own,
in a thread of its own; each blocking call waits for its coroutine there.
Calls from several threads at once run as concurrent tasks on that loop, so
the contract's concurrency checks exercise the async store's own.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterator,
    Sequence,
)
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

from .._core._errors import invalid_argument
from .._core._history import ContactHistoryEntry
from ..ports import (
    AsyncStore,
    Change,
    Clock,
    CommandRecord,
    ErasureRecord,
    HistoryChange,
    HistoryPage,
    RemembersStates,
    StoredAgent,
    StoredEvent,
)

T = TypeVar("T")

SETTLE_SECONDS = 5.0
"""How long :meth:`BlockingStore.close` lets calls still running end (after
the async store has closed) before it cancels them."""


class BlockingStore:
    """A :class:`~webchat_wrapup.ports.Store` whose every call runs the
    :class:`~webchat_wrapup.ports.AsyncStore` method of the same name.

    Give it the async store, or an awaitable that gives one (such as
    ``AsyncPostgresStore.open(dsn)``, not yet awaited): it is awaited on the
    :class:`BlockingStore`'s loop, so a store whose connections belong to
    the loop that made them is made on the loop that uses them.

    :meth:`all_history` reads ``page_size`` entries at a time through the
    loop. :meth:`load_remembered` calls the async store's, if it has one
    (it never waits), and otherwise remembers nothing (``None``).
    :meth:`close` closes the async store, lets calls still running end,
    then stops the loop and its thread. A call made after that runs on a
    loop of its own, started for it, so what the caller sees is the async
    store's own refusal (``store_closed``).
    """

    def __init__(
        self, store: AsyncStore | Awaitable[AsyncStore], *, page_size: int = 100
    ) -> None:
        awaitable = inspect.isawaitable(store)
        try:
            _check(store, awaitable, page_size)
        except BaseException:
            if inspect.iscoroutine(store):
                store.close()  # never to be awaited: say so without a warning
            raise
        self._page_size = page_size
        self._lock = threading.Lock()
        self._stopped = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="BlockingStore", daemon=True
        )
        self._thread.start()
        if not awaitable:
            self._store: AsyncStore = store  # type: ignore[assignment]
            return
        try:
            self._store = self._run(_awaited(store))  # type: ignore[arg-type]
        except BaseException:
            self._stop_loop()
            raise

    @property
    def async_store(self) -> AsyncStore:
        """The async store every call runs on."""
        return self._store

    def wait_for(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the store's loop and wait for its result:
        for code of one's own over :attr:`async_store`, such as an
        :class:`~webchat_wrapup.aio.AsyncWrapUpService` under test."""
        return self._run(coroutine)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the store's loop (or, once it has stopped, on
        a loop of its own) and wait for its result."""
        with self._lock:
            if not self._stopped:
                future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
                stopped = False
            else:
                stopped = True
        if stopped:
            with ThreadPoolExecutor(1, thread_name_prefix="BlockingStore") as one:
                return one.submit(asyncio.run, coroutine).result()
        return future.result()

    def close(self) -> None:
        """Close the async store, then stop the loop (closing twice is
        harmless: the second close reaches the async store too)."""
        with self._lock:
            stopped, self._stopped = self._stopped, True
        if stopped:
            self._run(self._store.aclose())
            return
        try:
            self._on_loop(self._store.aclose())
        finally:
            self._stop_loop()

    def _on_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _stop_loop(self) -> None:
        with self._lock:
            self._stopped = True
        try:
            self._on_loop(_settle())
            self._on_loop(self._loop.shutdown_asyncgens())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def __enter__(self) -> BlockingStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def load(self, agent_id: str) -> StoredAgent | None:
        return self._run(self._store.load(agent_id))

    def load_remembered(self, agent_id: str) -> StoredAgent | None:
        if isinstance(self._store, RemembersStates):
            return self._store.load_remembered(agent_id)
        return None

    def load_settled(self, agent_id: str) -> StoredAgent | None:
        return self._run(self._store.load_settled(agent_id))

    def save(self, change: Change) -> None:
        self._run(self._store.save(change))

    def save_all(self, changes: Sequence[Change]) -> None:
        self._run(self._store.save_all(changes))

    def find_command(self, command_id: str) -> CommandRecord | None:
        return self._run(self._store.find_command(command_id))

    def prune_commands(self, before: datetime, limit: int) -> int:
        return self._run(self._store.prune_commands(before, limit))

    def history(
        self, customer_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> HistoryPage:
        return self._run(self._store.history(customer_id, cursor=cursor, limit=limit))

    def all_history(self) -> Iterator[ContactHistoryEntry]:
        entries = self._run(_called(self._store.all_history))
        try:
            while True:
                page, ended = self._run(_page(entries, self._page_size))
                yield from page
                if ended:
                    return
        finally:
            self._run(_aclose(entries))

    def events(self, after: int = 0, limit: int = 100) -> list[StoredEvent]:
        return self._run(self._store.events(after, limit))

    def last_position(self) -> int:
        return self._run(self._store.last_position())

    def wait_for_events(self, after: int, timeout: float) -> bool:
        return self._run(self._store.wait_for_events(after, timeout))

    def prune_events(self, before: datetime, limit: int) -> int:
        return self._run(self._store.prune_events(before, limit))

    def history_changes(self, after: int = 0, limit: int = 100) -> list[HistoryChange]:
        return self._run(self._store.history_changes(after, limit))

    def erase_customer(
        self,
        customer_id: str,
        *,
        erasure_id: str,
        erased_at: datetime,
        erased_by: str,
    ) -> ErasureRecord:
        return self._run(
            self._store.erase_customer(
                customer_id,
                erasure_id=erasure_id,
                erased_at=erased_at,
                erased_by=erased_by,
            )
        )

    def erasures(self) -> tuple[ErasureRecord, ...]:
        return self._run(self._store.erasures())

    def retire(self, agent_id: str, expected_version: int) -> None:
        self._run(self._store.retire(agent_id, expected_version))

    def claim_due(self, at: datetime, limit: int, lease: timedelta) -> list[str]:
        return self._run(self._store.claim_due(at, limit, lease))


def _check(store: object, awaitable: bool, page_size: object) -> None:
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise invalid_argument("page_size", "a whole number", page_size)
    if page_size < 1:
        raise invalid_argument("page_size", "at least 1", page_size)
    if not awaitable and not callable(getattr(store, "aclose", None)):
        wanted = "an AsyncStore or an awaitable giving one"
        raise invalid_argument("store", wanted, store)


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def _called(function: Callable[[], T]) -> T:
    """``function()``, called on the loop."""
    return function()


async def _page(
    entries: AsyncIterator[ContactHistoryEntry], size: int
) -> tuple[list[ContactHistoryEntry], bool]:
    """Up to ``size`` entries, and whether the iterator has ended."""
    page: list[ContactHistoryEntry] = []
    while len(page) < size:
        try:
            page.append(await anext(entries))
        except StopAsyncIteration:
            return page, True
    return page, False


async def _aclose(entries: AsyncIterator[ContactHistoryEntry]) -> None:
    aclose = getattr(entries, "aclose", None)
    if aclose is not None:
        await aclose()


async def _settle() -> None:
    """Let every other task on the loop end (within :data:`SETTLE_SECONDS`),
    then cancel those still running."""
    running = asyncio.all_tasks() - {asyncio.current_task()}
    if not running:
        return
    _, pending = await asyncio.wait(running, timeout=SETTLE_SECONDS)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


class BlockingService:
    """An :class:`~webchat_wrapup.aio.AsyncWrapUpService` over a
    :class:`BlockingStore`'s async store, each call run on that store's loop
    and waited for: the asyncio face of the service, for blocking tests
    such as :class:`~webchat_wrapup.testing.stateful.StoreComparison`
    (return one from its ``make_service``). ``store`` is the blocking store.
    """

    def __init__(self, store: BlockingStore, clock: Clock, **settings: Any) -> None:
        from ..aio import AsyncWrapUpService

        self.store = store
        self.clock = clock
        self.service = AsyncWrapUpService(store.async_store, clock, **settings)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.service, name)
        if not callable(method) or name in ("subscribe", "follow"):
            return method  # type: ignore[no-any-return]

        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self.store.wait_for(_awaited(method(*args, **kwargs)))

        return blocking
