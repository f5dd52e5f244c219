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
import threading
from collections.abc import AsyncIterator, Iterator

from ._core._errors import invalid_argument
from .ports import Store, StoredEvent
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
    is committed; ends once ``stop`` is set (within ``wait`` seconds).

    Remember the position of the last event handled: following again from
    it goes on exactly where this left off. Events pruned after the
    service's event retention, or erased with their customer, are gone.
    """
    _check_follow(after, batch, wait)
    position = after
    while stop is None or not stop.is_set():
        events = store.events(position, batch)
        for stored in events:
            yield stored
            position = stored.position
        if len(events) < batch:  # caught up: wait for the next commit
            store.wait_for_events(position, wait)


async def follow_async(
    store: Store,
    after: int = 0,
    *,
    batch: int = 100,
    wait: float = DEFAULT_WAIT,
) -> AsyncIterator[StoredEvent]:
    """:func:`follow` for asyncio: ``async for stored in follow_async(store)``.

    The store's reads and waits run in worker threads, so the event loop is
    never blocked; cancel the task (or leave the ``async for``) to stop.
    """
    _check_follow(after, batch, wait)
    position = after
    while True:
        events = await asyncio.to_thread(store.events, position, batch)
        for stored in events:
            yield stored
            position = stored.position
        if len(events) < batch:
            await asyncio.to_thread(store.wait_for_events, position, wait)


def _check_follow(after: int, batch: int, wait: float) -> None:
    check_feed_read(after, batch)
    ok = isinstance(wait, (int, float)) and not isinstance(wait, bool)
    if not ok or not 0 < wait <= 60:
        raise invalid_argument("wait", "a number of seconds above 0, up to 60", wait)
