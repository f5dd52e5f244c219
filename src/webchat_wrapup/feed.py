"""Following a store's event feed: every event once, in commit order.

Every store writes a change's events in the change's own transaction, at
positions given in commit order across all agents (see
:meth:`webchat_wrapup.ports.Store.events`). A follower remembers the last
position it handled and asks for what comes after it, so it never misses an
event and never sees one twice, whichever app server or sweeper wrote it.

:func:`follow` does that in a thread, :func:`follow_async` in an asyncio
task; both wait cheaply while nothing is written (PostgreSQL ``LISTEN``,
SQLite ``PRAGMA data_version``, a condition in memory).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Protocol, cast

from ._core._errors import invalid_argument
from .ports import AsyncStore, Store, StoredEvent
from .stores._paging import check_feed_read

DEFAULT_WAIT = 1.0
"""Seconds a follower waits for a commit before looking again (and before
noticing that it was asked to stop)."""


def follow(
    store: Store,
    after: int = 0,
    *,
    batch: int = 100,
    stop: threading.Event | None = None,
    wait: float = DEFAULT_WAIT,
) -> Iterator[StoredEvent]:
    """The feed's events after position ``after``, then each new one as it
    is committed; once ``stop`` is set, ends as soon as it has caught up
    (within ``wait`` seconds). With ``stop`` set from the start it reads
    what is there and ends.

    Remember the position of the last event handled: following again from
    it goes on exactly where this left off. Events pruned after the
    service's event retention, or erased with their customer, are gone.
    """
    _check_follow(after, batch, wait)
    position = after
    while True:
        events = store.events(position, batch)
        for stored in events:
            yield stored
            position = stored.position
        if len(events) < batch:  # caught up: wait for the next commit
            if stop is not None and stop.is_set():
                return
            store.wait_for_events(position, wait)


async def follow_async(
    store: Store | AsyncStore,
    after: int = 0,
    *,
    batch: int = 100,
    wait: float = DEFAULT_WAIT,
) -> AsyncIterator[StoredEvent]:
    """:func:`follow` for asyncio: ``async for stored in follow_async(store)``.

    An :class:`~webchat_wrapup.ports.AsyncStore` is awaited. A
    :class:`~webchat_wrapup.ports.Store`'s reads run in worker threads, so
    the event loop is never blocked; one with an ``async_listener()``
    (PostgreSQL) waits on an asyncio connection, the others in a worker
    thread. Cancel the task (or leave the ``async for``) to stop.
    """
    _check_follow(after, batch, wait)
    if inspect.iscoroutinefunction(getattr(store, "events", None)):
        feed: _AsyncFeed = cast(AsyncStore, store)
    else:
        feed = _FeedInThreads(cast(Store, store))
    position = after
    try:
        while True:
            events = await feed.events(position, batch)
            for stored in events:
                yield stored
                position = stored.position
            if len(events) < batch:
                await feed.wait_for_events(position, wait)
    finally:
        if isinstance(feed, _FeedInThreads):
            await feed.aclose()


class _AsyncFeed(Protocol):
    """What :func:`follow_async` reads."""

    async def events(self, after: int = 0, limit: int = 100) -> list[StoredEvent]:
        """The events after ``after``."""

    async def wait_for_events(self, after: int, timeout: float) -> bool:
        """Wait for an event after ``after`` without blocking the loop."""


class _FeedInThreads:
    """A synchronous store's feed, read in worker threads; waiting on its
    ``async_listener()`` if it has one."""

    def __init__(self, store: Store) -> None:
        self._store = store
        make_listener = getattr(store, "async_listener", None)
        self._listener: _AsyncListener | None = (
            None if make_listener is None else make_listener()
        )

    async def events(self, after: int = 0, limit: int = 100) -> list[StoredEvent]:
        return await asyncio.to_thread(self._store.events, after, limit)

    async def wait_for_events(self, after: int, timeout: float) -> bool:
        if self._listener is None:
            return await asyncio.to_thread(self._store.wait_for_events, after, timeout)
        return await self._listener.wait(after, timeout)

    async def aclose(self) -> None:
        if self._listener is not None:
            await self._listener.aclose()


class _AsyncListener(Protocol):
    """What a store's ``async_listener()`` gives, if it has one."""

    async def wait(self, after: int, timeout: float) -> bool:
        """Wait for an event after ``after`` without blocking the loop."""

    async def aclose(self) -> None:
        """Release what the listener holds."""


def _check_follow(after: int, batch: int, wait: float) -> None:
    check_feed_read(after, batch)
    ok = isinstance(wait, (int, float)) and not isinstance(wait, bool)
    if not ok or not 0 < wait <= 60:
        raise invalid_argument("wait", "a number of seconds above 0, up to 60", wait)
