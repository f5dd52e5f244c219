"""The service for asyncio applications (FastAPI, Starlette, aiohttp).

:class:`AsyncWrapUpService` runs the very work of
:class:`~webchat_wrapup.service.WrapUpService` (one implementation,
:mod:`webchat_wrapup._operations`) on the event loop, awaiting an
:class:`~webchat_wrapup.ports.AsyncStore` at each store call: the same
versions and retries, the same idempotency, the same typed errors, raised
from the ``await``, and the loop is never blocked.

The store is either natively asynchronous
(:class:`~webchat_wrapup.stores.AsyncPostgresStore`: psycopg's
``AsyncConnection`` from ``psycopg_pool``'s ``AsyncConnectionPool``) or any
:class:`~webchat_wrapup.ports.Store` behind :class:`ThreadedStore`, which
runs each store call in a worker thread of its own (a SQLite write waiting
for the file's lock waits there, not on the loop).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar

from ._core._commands import Command, TransferChat
from ._core._errors import ErrorCode, StoreError, invalid_argument
from ._core._history import ContactHistoryEntry
from ._core._policy import QueuePolicy
from ._operations import Operations
from ._settings import (
    DEFAULT_ATTEMPTS,
    DEFAULT_COMMAND_RETENTION,
    DEFAULT_EVENT_RETENTION,
    DEFAULT_LEASE,
    Settings,
)
from ._shorthands import ServiceFace
from .feed import DEFAULT_WAIT, follow_async
from .observers import Observer
from .ports import (
    AsyncStore,
    Change,
    Clock,
    CommandRecord,
    ErasureRecord,
    HistoryChange,
    HistoryPage,
    Outcome,
    RemembersStates,
    Store,
    StoredAgent,
    StoredEvent,
)

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_WORKERS = 4
"""Worker threads a :class:`ThreadedStore` runs store calls in unless told
otherwise: as many store calls as that are under way at once."""

_HISTORY_BATCH = 500  # entries an all_history iterator reads per thread hop


def _awaited(
    work: Callable[Concatenate[Operations, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[AsyncWrapUpService, P], Coroutine[Any, Any, R]]:
    """The operation ``work`` of the service, awaited on the event loop."""

    @functools.wraps(work)
    async def run(self: AsyncWrapUpService, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await work(self._work, *args, **kwargs)

    return run


class AsyncWrapUpService(ServiceFace[Coroutine[Any, Any, Outcome]]):
    """:class:`~webchat_wrapup.service.WrapUpService` for asyncio, on an
    :class:`~webchat_wrapup.ports.AsyncStore`.

    Every method of the service is here as a coroutine, with the same
    arguments and settings (``attempts``, ``lease``, ``command_retention``,
    ``event_retention``, ``observer``). The store stays the application's to
    close. Subscribers and observers are called on the loop, after the
    change is committed, and must not block.
    """

    def __init__(
        self,
        store: AsyncStore,
        clock: Clock,
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        lease: timedelta = DEFAULT_LEASE,
        command_retention: timedelta = DEFAULT_COMMAND_RETENTION,
        event_retention: timedelta = DEFAULT_EVENT_RETENTION,
        observer: Observer | None = None,
    ) -> None:
        if not inspect.iscoroutinefunction(getattr(store, "save", None)):
            raise invalid_argument(
                "store",
                "an AsyncStore (wrap a synchronous store in ThreadedStore)",
                store,
            )
        settings = Settings(attempts, lease, command_retention, event_retention)
        self.store = store
        self._work = Operations(store, clock, settings, observer, store)

    def follow(
        self, after: int = 0, *, batch: int = 100, wait: float = DEFAULT_WAIT
    ) -> AsyncIterator[StoredEvent]:
        """The store's event feed after ``after``, then each new event as
        it is committed (see :func:`webchat_wrapup.feed.follow_async`)."""
        return follow_async(self.store, after, batch=batch, wait=wait)

    def execute(
        self, command: Command, *, command_id: str | None = None
    ) -> Coroutine[Any, Any, Outcome]:
        """Decide and save ``command``; a retried ``command_id`` is replayed
        (see :meth:`WrapUpService.execute
        <webchat_wrapup.service.WrapUpService.execute>`)."""
        return self._work.execute(command, command_id=command_id)

    def _transfer(
        self, command: TransferChat, queue: QueuePolicy | None, command_id: str | None
    ) -> Coroutine[Any, Any, Outcome]:
        return self._work.transfer(command, queue=queue, command_id=command_id)

    add_agent = _awaited(Operations.add_agent)
    update_agent = _awaited(Operations.update_agent)
    retire_agent = _awaited(Operations.retire_agent)
    erase_customer = _awaited(Operations.erase_customer)
    erasures = _awaited(Operations.erasures)
    view = _awaited(Operations.view)
    history = _awaited(Operations.history)
    sweep = _awaited(Operations.sweep)
    prune_commands = _awaited(Operations.prune_commands)


class ThreadedStore:
    """Any :class:`~webchat_wrapup.ports.Store` as an
    :class:`~webchat_wrapup.ports.AsyncStore`: each call runs in a worker
    thread of this object's own pool (``workers`` of them), so the event
    loop never waits for the store.

    :meth:`aclose` (or leaving ``async with``) waits for the calls under
    way, closes the store and stops the workers; later calls raise
    :class:`~webchat_wrapup.StoreError` (``store_closed``).
    """

    def __init__(self, store: Store, *, workers: int = DEFAULT_WORKERS) -> None:
        if not callable(getattr(store, "save", None)) or inspect.iscoroutinefunction(
            store.save
        ):
            raise invalid_argument("store", "a synchronous Store", store)
        if isinstance(workers, bool) or not isinstance(workers, int):
            raise invalid_argument("workers", "a whole number", workers)
        if not 1 <= workers <= 64:
            raise invalid_argument("workers", "1 to 64", workers)
        self.store = store
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="webchat-wrapup")
        self._closed = False

    async def _run(
        self, call: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        if self._closed:
            raise StoreError(ErrorCode.STORE_CLOSED, "the threaded store is closed")
        bound = functools.partial(call, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, bound)

    def load_remembered(self, agent_id: str) -> StoredAgent | None:
        """The store's remembered state, if it remembers any (no I/O)."""
        if isinstance(self.store, RemembersStates):
            return self.store.load_remembered(agent_id)
        return None

    async def load(self, agent_id: str) -> StoredAgent | None:
        """See :meth:`Store.load <webchat_wrapup.ports.Store.load>`."""
        return await self._run(self.store.load, agent_id)

    async def load_settled(self, agent_id: str) -> StoredAgent | None:
        """See :meth:`Store.load_settled <webchat_wrapup.ports.Store.load_settled>`."""
        return await self._run(self.store.load_settled, agent_id)

    async def save(self, change: Change) -> None:
        """See :meth:`Store.save <webchat_wrapup.ports.Store.save>`."""
        await self._run(self.store.save, change)

    async def save_all(self, changes: Sequence[Change]) -> None:
        """See :meth:`Store.save_all <webchat_wrapup.ports.Store.save_all>`."""
        await self._run(self.store.save_all, changes)

    async def find_command(self, command_id: str) -> CommandRecord | None:
        """See :meth:`Store.find_command <webchat_wrapup.ports.Store.find_command>`."""
        return await self._run(self.store.find_command, command_id)

    async def prune_commands(self, before: datetime, limit: int) -> int:
        """See :meth:`Store.prune_commands
        <webchat_wrapup.ports.Store.prune_commands>`."""
        return await self._run(self.store.prune_commands, before, limit)

    async def history(
        self, customer_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> HistoryPage:
        """See :meth:`Store.history <webchat_wrapup.ports.Store.history>`."""
        return await self._run(
            self.store.history, customer_id, cursor=cursor, limit=limit
        )

    async def all_history(self) -> AsyncIterator[ContactHistoryEntry]:
        """See :meth:`Store.all_history <webchat_wrapup.ports.Store.all_history>`:
        read a batch at a time on a thread of the iterator's own, so closing
        it (or cancelling its reader) waits for the batch under way."""
        if self._closed:
            raise StoreError(ErrorCode.STORE_CLOSED, "the threaded store is closed")
        loop = asyncio.get_running_loop()
        reader = ThreadPoolExecutor(1, thread_name_prefix="webchat-wrapup-history")
        try:
            entries = iter(await loop.run_in_executor(reader, self.store.all_history))
            try:
                while batch := await loop.run_in_executor(reader, _next_batch, entries):
                    for entry in batch:
                        yield entry
            finally:
                close = getattr(entries, "close", None)
                if close is not None:
                    await asyncio.shield(loop.run_in_executor(reader, close))
        finally:
            reader.shutdown(wait=False)

    async def events(self, after: int = 0, limit: int = 100) -> list[StoredEvent]:
        """See :meth:`Store.events <webchat_wrapup.ports.Store.events>`."""
        return await self._run(self.store.events, after, limit)

    async def last_position(self) -> int:
        """See :meth:`Store.last_position
        <webchat_wrapup.ports.Store.last_position>`."""
        return await self._run(self.store.last_position)

    async def wait_for_events(self, after: int, timeout: float) -> bool:
        """See :meth:`Store.wait_for_events
        <webchat_wrapup.ports.Store.wait_for_events>`: waits in a thread of
        the loop's default executor, never in one of the workers, so
        followers waiting never hold up a command."""
        if self._closed:
            raise StoreError(ErrorCode.STORE_CLOSED, "the threaded store is closed")
        return await asyncio.to_thread(self.store.wait_for_events, after, timeout)

    async def prune_events(self, before: datetime, limit: int) -> int:
        """See :meth:`Store.prune_events <webchat_wrapup.ports.Store.prune_events>`."""
        return await self._run(self.store.prune_events, before, limit)

    async def history_changes(
        self, after: int = 0, limit: int = 100
    ) -> list[HistoryChange]:
        """See :meth:`Store.history_changes
        <webchat_wrapup.ports.Store.history_changes>`."""
        return await self._run(self.store.history_changes, after, limit)

    async def erase_customer(
        self,
        customer_id: str,
        *,
        erasure_id: str,
        erased_at: datetime,
        erased_by: str,
    ) -> ErasureRecord:
        """See :meth:`Store.erase_customer
        <webchat_wrapup.ports.Store.erase_customer>`."""
        return await self._run(
            self.store.erase_customer,
            customer_id,
            erasure_id=erasure_id,
            erased_at=erased_at,
            erased_by=erased_by,
        )

    async def erasures(self) -> tuple[ErasureRecord, ...]:
        """See :meth:`Store.erasures <webchat_wrapup.ports.Store.erasures>`."""
        return await self._run(self.store.erasures)

    async def retire(self, agent_id: str, expected_version: int) -> None:
        """See :meth:`Store.retire <webchat_wrapup.ports.Store.retire>`."""
        await self._run(self.store.retire, agent_id, expected_version)

    async def claim_due(self, at: datetime, limit: int, lease: timedelta) -> list[str]:
        """See :meth:`Store.claim_due <webchat_wrapup.ports.Store.claim_due>`."""
        return await self._run(self.store.claim_due, at, limit, lease)

    async def aclose(self) -> None:
        """Wait for the calls under way, close the store, stop the workers."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._close_in_thread)

    def _close_in_thread(self) -> None:
        self._pool.shutdown(wait=True)
        self.store.close()

    async def __aenter__(self) -> ThreadedStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _next_batch(entries: Any) -> list[ContactHistoryEntry]:
    batch: list[ContactHistoryEntry] = []
    for entry in entries:
        batch.append(entry)
        if len(batch) >= _HISTORY_BATCH:
            break
    return batch
