"""The PostgreSQL store: many app servers, one shared database.

Needs the ``postgres`` extra (``psycopg[binary]`` and ``psycopg-pool``).
Nothing else in the library imports this module.

Writes run at READ COMMITTED. Each save is one transaction whose
``UPDATE ... WHERE version = %s`` takes the agent's row lock and re-checks
the version against the latest committed row, so of two app servers saving
the same agent from the same version exactly one succeeds; the other gets
:class:`~webchat_wrapup.VersionConflict` and nothing is written.
:meth:`PostgresStore.load_settled` reads the row ``FOR SHARE``, which waits
for that row lock, so it answers once a save under way has ended.

One chat, one holder: ``held_chats`` has one row per held chat, keyed by
the chat and its leg (``Chat.holding_key``), written in the transaction of
the save that takes it. Of two
servers saving different agents taking one chat, the second's insert waits
on the key for the first to end, then finds the row and is refused.

Due claims use ``FOR UPDATE SKIP LOCKED``, so sweepers on any number of
servers drain the due wrap-ups without waiting for each other or claiming
one twice. :meth:`PostgresStore.all_history` reads a REPEATABLE READ READ
ONLY snapshot through a server-side cursor, so a report neither holds the
whole history in memory nor blocks a writer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
import psycopg_pool

from .._core._errors import ErrorCode, StoreError, invalid_argument
from .._core._history import ContactHistoryEntry
from .._immediate import run_now
from ..ports import (
    Change,
    CommandRecord,
    ErasureRecord,
    HistoryChange,
    HistoryPage,
    StoredAgent,
    StoredEvent,
)
from ._pg_conversation import (
    BATCH,
    DEFAULT_POOL_TIMEOUT,
    DEFAULT_SCHEMA,
    PostgresConversation,
    check_arguments,
    one_line,
)
from ._pg_listening import AsyncListening, SyncListening
from ._pg_schema import SCHEMA_VERSION
from ._pg_sessions import SyncDirectLink, SyncLink, SyncPool

__all__ = [
    "DEFAULT_POOL_TIMEOUT",
    "DEFAULT_SCHEMA",
    "SCHEMA_VERSION",
    "AsyncListener",
    "ConnectionPool",
    "PostgresStore",
    "schema_exists",
]

ConnectionPool = SyncPool
"""What the store needs of an application's pool (psycopg_pool fits): a
``connection()`` context manager yielding an autocommit connection."""


def schema_exists(conninfo: str, schema: str = DEFAULT_SCHEMA) -> bool:
    """Whether the database holds a store in ``schema``.

    For tools that read a store and must not create one: opening a
    :class:`PostgresStore` creates its schema when missing.
    """
    if not schema.isidentifier():
        raise ValueError(f"schema must be a plain identifier, not {schema!r}")
    try:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            row = connection.execute(
                "SELECT to_regclass(%s)", (f'"{schema}".meta',)
            ).fetchone()
    except psycopg.Error as error:
        raise StoreError(
            ErrorCode.STORE_UNAVAILABLE,
            f"PostgreSQL store {schema!r}: {one_line(error)}",
            schema=schema,
        ) from error
    return row is not None and row[0] is not None


class PostgresStore(PostgresConversation):
    """A store in one PostgreSQL schema (created and migrated if needed).

    Give it a connection string (a ``postgresql://`` URL or
    ``host=... dbname=...``), and it keeps a ``psycopg_pool.ConnectionPool``
    of its own: up to ``pool_size`` autocommit connections, made as needed,
    each checked on checkout so a restarted server costs a retry, not an
    error. A call that finds every connection busy for ``pool_timeout``
    seconds raises :class:`~webchat_wrapup.StoreError` (``store_unavailable``).

    Or give it the application's pool: any object whose ``connection()`` is a
    context manager yielding an autocommit psycopg connection, such as
    ``psycopg_pool.ConnectionPool(..., kwargs={"autocommit": True})``. Its
    own timeout and checks then apply, and :meth:`close` leaves it open.

    ``schema`` is the schema's name, a plain identifier. For asyncio, the
    same store on ``AsyncConnection`` s is
    :class:`~webchat_wrapup.stores.AsyncPostgresStore`.
    """

    def __init__(
        self,
        conninfo: str | None = None,
        *,
        pool: ConnectionPool | None = None,
        schema: str = DEFAULT_SCHEMA,
        pool_size: int = 4,
        pool_timeout: float = DEFAULT_POOL_TIMEOUT,
    ) -> None:
        check_arguments(conninfo, pool, schema, pool_size, pool_timeout)
        super().__init__(schema, conninfo)
        self._own: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] | None = None
        self._listening: SyncListening | None = None
        if pool is not None:
            self._link = SyncLink(pool)
            run_now(self._migrate(self._link))
            return
        if conninfo is None:  # refused above; this tells the type checker
            raise invalid_argument("conninfo", "a connection string", conninfo)
        # Migrate on a connection of its own before the pool opens: an
        # unreachable server then fails at once with the driver's reason,
        # where a pool would retry in the background until its timeout.
        run_now(self._migrate(SyncDirectLink(conninfo)))
        self._own = psycopg_pool.ConnectionPool(
            conninfo,
            kwargs={"autocommit": True},
            # None opened ahead: a connection is made while a caller waits
            # for it, never behind the application's back (the pool's own
            # threads draw from the global `random`, which Hypothesis
            # refuses to see change while it draws).
            min_size=0,
            max_size=pool_size,
            timeout=pool_timeout,
            check=self._check_connection,
            name=f"webchat_wrapup.{schema}",
            open=True,
        )
        self._pool_limits = (float(pool_timeout), pool_size)
        self._link = SyncLink(self._own)
        # Each waiting thread's connection in LISTEN (closed with the store).
        self._listening = SyncListening(conninfo, self._sql.listen)

    def close(self) -> None:
        """Refuse every later call (``store_closed``) and close the store's
        own pool; a pool the application passed in stays open.

        An :meth:`all_history` iterator still being read stops at its next
        entry with ``store_closed`` and gives its connection back.
        """
        self._closed = True
        if self._listening is not None:  # a follower waiting wakes to an error
            self._listening.close()
        if self._own is not None:
            self._own.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_connection(self, connection: psycopg.Connection[Any]) -> None:
        try:
            psycopg_pool.ConnectionPool.check_connection(connection)
        except psycopg.Error:
            # A restarted server breaks every idle connection at once. Sweep
            # them all now, so the caller's next try gets a fresh one: the
            # pool alone would hand out the stale ones in turn, waiting 1 s,
            # then 2 s, 4 s... between tries.
            if self._own is not None:
                self._own.check()
            raise

    def load(self, agent_id: str) -> StoredAgent | None:
        """The agent's state and version, or ``None``."""
        return run_now(self._read_agent(self._sql.load, agent_id))

    def load_settled(self, agent_id: str) -> StoredAgent | None:
        """The agent once every save of it under way anywhere has ended.

        Read ``FOR SHARE``: a save holds the agent's row lock from its
        ``UPDATE`` to its commit or rollback, and the read waits for it,
        then sees the row as the save left it.
        """
        return run_now(self._read_agent(self._sql.load_settled, agent_id))

    def save(self, change: Change) -> None:
        """Write ``change`` atomically if the agent is still at its version,
        and refuse a chat another agent holds."""
        run_now(self._save(change))

    def save_all(self, changes: Sequence[Change]) -> None:
        """Write every change or none, in one transaction on one connection:
        each is checked as :meth:`save` checks one, in order, so a chat one
        change lets go of may be taken by a later one (a transfer).

        The agents' rows are locked first, in agent order, so two batches
        naming the same agents in another order wait rather than deadlock.
        """
        run_now(self._save_all(changes))

    def find_command(self, command_id: str) -> CommandRecord | None:
        """The record saved with ``command_id``, if any."""
        return run_now(self._find_command(command_id))

    def prune_commands(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` records recorded before ``before`` (or never
        dated); how many were deleted."""
        return run_now(self._prune_commands(before, limit))

    # Erasure and retirement

    def erase_customer(
        self,
        customer_id: str,
        *,
        erasure_id: str,
        erased_at: datetime,
        erased_by: str,
    ) -> ErasureRecord:
        """Delete the customer's entries and the records holding their data,
        in one transaction.

        The held-chat check reads ``held_chats``, which every server's saves
        keep in their own transactions: a chat being let go of by a save
        still under way is still seen as held (the erasure is refused; try
        again once it has ended), and one being taken by a save still under
        way belongs to a chat that begins after the erasure.
        """
        return run_now(
            self._erase_customer(customer_id, erasure_id, erased_at, erased_by)
        )

    def erasures(self) -> tuple[ErasureRecord, ...]:
        """Every erasure record, oldest first."""
        return run_now(self._erasures())

    def retire(self, agent_id: str, expected_version: int) -> None:
        """Remove the agent if it is still at ``expected_version``; remember
        the version, so the agent added again goes on from it.

        Under the same advisory lock as adding an agent: an add racing this
        retirement waits for it to commit, then reads the version kept here
        (at READ COMMITTED, an insert that waited on the deleted row would
        otherwise go on with what it read before, and start again at 1).
        """
        run_now(self._retire(agent_id, expected_version))

    # The feeds

    def events(self, after: int = 0, limit: int = 100) -> list[StoredEvent]:
        """Up to ``limit`` events after position ``after``, in order."""
        return run_now(self._events(after, limit))

    def last_position(self) -> int:
        """The newest event's position (0 for none yet)."""
        return run_now(self._last_position())

    def wait_for_events(self, after: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an event after ``after``.

        ``LISTEN`` first, then a look at the newest position (so a commit
        between the two is not missed), then the notification each commit
        with events sends. Each waiting thread listens on a connection of
        its own, made from the connection string and kept between waits,
        so followers never take the pool's connections from commands. A
        store made on an application's pool (no connection string) borrows
        one of the pool's for each wait: count followers in its size.
        """
        return run_now(self._wait_for_events(self._listening, after, timeout))

    def async_listener(self) -> AsyncListener:
        """A listener for :func:`~webchat_wrapup.feed.follow_async`: waits on
        a psycopg ``AsyncConnection`` of its own, so an asyncio follower
        needs no thread (a store made on an application's pool, whose
        connection string it does not know, waits in a worker thread)."""
        if self._closed:
            self._refuse_closed()
        return AsyncListener(self)

    def prune_events(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` of the oldest events recorded before
        ``before``, stopping at the first younger one."""
        return run_now(self._prune_events(before, limit))

    def history_changes(self, after: int = 0, limit: int = 100) -> list[HistoryChange]:
        """Up to ``limit`` entries written after position ``after``, in
        commit order (sequences are drawn under the feed's lock)."""
        return run_now(self._history_changes(after, limit))

    def history(
        self, customer_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> HistoryPage:
        """A page of the customer's history, by wrap-up end then write order."""
        return run_now(self._history(customer_id, cursor, limit))

    def all_history(self) -> Iterator[ContactHistoryEntry]:
        """Every contact-history entry, by wrap-up end then write order.

        At the first ``next()`` the iterator takes a connection of its own
        from the pool and opens a REPEATABLE READ READ ONLY transaction: one
        snapshot for the whole read, which blocks no writer. A server-side
        cursor hands the rows over ``BATCH`` at a time, so memory stays
        flat. The connection goes back to the pool when the iterator is
        exhausted, closed or garbage-collected.
        """
        pages = self._history_pages(BATCH)
        try:
            while True:
                try:
                    rows = run_now(pages.__anext__())
                except StopAsyncIteration:
                    return
                yield from self._entries(rows)
        finally:
            run_now(pages.aclose())

    def claim_due(self, at: datetime, limit: int, lease: timedelta) -> list[str]:
        """Claim up to ``limit`` agents with a wrap-up due at ``at``: agents
        never claimed since their last save first, then claims run out;
        each group by earliest deadline."""
        return run_now(self._claim_due(at, limit, lease))


class AsyncListener:
    """Waits for a :class:`PostgresStore`'s feed on an asyncio connection
    that keeps ``LISTEN`` between waits; close it with :meth:`aclose`."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        conninfo = store._conninfo
        self._listening = (
            None if conninfo is None else AsyncListening(conninfo, store._sql.listen)
        )

    async def wait(self, after: int, timeout: float) -> bool:
        """:meth:`PostgresStore.wait_for_events`, without blocking the loop."""
        if self._listening is None:
            wait = self._store.wait_for_events
            return await asyncio.to_thread(wait, after, timeout)
        return await self._store._wait_for_events(self._listening, after, timeout)

    async def aclose(self) -> None:
        """Close the listener's connection."""
        if self._listening is not None:
            await self._listening.aclose()
