"""The PostgreSQL store for asyncio: :class:`AsyncPostgresStore`.

Needs the ``postgres`` extra, as
:class:`~webchat_wrapup.stores.postgres.PostgresStore` does. It is that
store on psycopg's ``AsyncConnection`` and ``psycopg_pool``'s
``AsyncConnectionPool``: the same schema and migrations, the same
statements in the same order (both run one conversation, written once),
so the same guarantees and errors, and the two may share a schema. Every
call awaits the server without blocking the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from datetime import datetime, timedelta
from typing import Any, NoReturn

import psycopg
import psycopg_pool

from .._core._errors import ErrorCode, StoreError
from .._core._history import ContactHistoryEntry
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
)
from ._pg_listening import AsyncListening
from ._pg_sessions import AsyncDirectLink, AsyncLink, AsyncPool

__all__ = ["AsyncConnectionPool", "AsyncPostgresStore"]

AsyncConnectionPool = AsyncPool
"""What the store needs of an application's pool (psycopg_pool's
``AsyncConnectionPool`` fits): a ``connection()`` async context manager
yielding an autocommit ``AsyncConnection``."""


class AsyncPostgresStore(PostgresConversation):
    """A :class:`~webchat_wrapup.ports.AsyncStore` in one PostgreSQL schema
    (created and migrated if needed), for asyncio applications.

    Make one with :meth:`open`, which migrates the schema before it returns,
    and use it on the event loop that opened it (its connections belong to
    that loop)::

        store = await AsyncPostgresStore.open(dsn, schema="wrapup")
        async with store:
            ...

    Given a connection string, it keeps a ``psycopg_pool.AsyncConnectionPool``
    of its own (up to ``pool_size`` autocommit connections, made as needed,
    each checked on checkout; a call that finds every one busy for
    ``pool_timeout`` seconds raises ``store_unavailable``), and its followers
    wait in :meth:`wait_for_events` on connections of their own. Or give it
    the application's ``AsyncConnectionPool(..., kwargs={"autocommit":
    True})``: its own timeout and checks then apply, each wait borrows one
    of its connections, and :meth:`aclose` leaves it open.

    Everything else is :class:`~webchat_wrapup.stores.postgres.PostgresStore`:
    each method has the meaning, the guarantees and the errors of the one of
    the same name there. It also offers
    :class:`~webchat_wrapup.ports.RemembersStates` (``load_remembered``, a
    plain method: it never waits).
    """

    def __init__(
        self,
        conninfo: str | None = None,
        *,
        pool: AsyncConnectionPool | None = None,
        schema: str = DEFAULT_SCHEMA,
        pool_size: int = 4,
        pool_timeout: float = DEFAULT_POOL_TIMEOUT,
    ) -> None:
        """Check the arguments; nothing is opened (see :meth:`open`)."""
        check_arguments(conninfo, pool, schema, pool_size, pool_timeout)
        super().__init__(schema, conninfo)
        self._opened = False
        self._closed = True  # until open() has migrated the schema
        self._pool = pool
        self._pool_size = pool_size
        self._pool_timeout = float(pool_timeout)
        self._own: psycopg_pool.AsyncConnectionPool[Any] | None = None
        self._listening: AsyncListening | None = None

    @classmethod
    async def open(
        cls,
        conninfo: str | None = None,
        *,
        pool: AsyncConnectionPool | None = None,
        schema: str = DEFAULT_SCHEMA,
        pool_size: int = 4,
        pool_timeout: float = DEFAULT_POOL_TIMEOUT,
    ) -> AsyncPostgresStore:
        """A store, its schema created or migrated: from a connection string
        (with a pool of its own) or on the application's ``pool``.

        Arguments of the wrong kind raise
        :class:`~webchat_wrapup.InvalidInput`; a server that cannot be
        reached, ``store_unavailable``; a schema from a newer library,
        ``store_too_new``.
        """
        store = cls(
            conninfo,
            pool=pool,
            schema=schema,
            pool_size=pool_size,
            pool_timeout=pool_timeout,
        )
        await store._open()
        return store

    async def _open(self) -> None:
        self._closed = False
        try:
            if self._pool is not None:
                self._link = AsyncLink(self._pool)
                await self._migrate(self._link)
            elif self._conninfo is not None:
                await self._open_own(self._conninfo)
        except BaseException:
            self._closed = True
            raise
        self._opened = True

    async def _open_own(self, conninfo: str) -> None:
        # Migrate on a connection of its own before the pool opens: an
        # unreachable server then fails at once with the driver's reason,
        # where a pool would retry in the background until its timeout.
        await self._migrate(AsyncDirectLink(conninfo))
        self._own = psycopg_pool.AsyncConnectionPool(
            conninfo,
            kwargs={"autocommit": True},
            min_size=0,  # made while a caller waits, as PostgresStore's
            max_size=self._pool_size,
            timeout=self._pool_timeout,
            check=self._check_connection,
            name=f"webchat_wrapup.{self.schema}",
            open=False,
        )
        await self._own.open()
        self._pool_limits = (self._pool_timeout, self._pool_size)
        self._link = AsyncLink(self._own)
        self._listening = AsyncListening(conninfo, self._sql.listen)

    async def aclose(self) -> None:
        """Refuse every later call (``store_closed``), wake any follower
        waiting in :meth:`wait_for_events` (with ``store_closed``) and close
        the store's own pool; a pool the application passed in stays open.
        Closing twice is harmless."""
        self._closed = True
        if self._listening is not None:
            await self._listening.aclose()
        if self._own is not None:
            await self._own.close()

    async def __aenter__(self) -> AsyncPostgresStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _refuse_closed(self) -> NoReturn:
        if self._opened:
            super()._refuse_closed()
        raise StoreError(
            ErrorCode.STORE_CLOSED,
            f"PostgreSQL store {self.schema!r} is not open: make it with "
            "`await AsyncPostgresStore.open(...)`",
            schema=self.schema,
        )

    async def _check_connection(self, connection: psycopg.AsyncConnection[Any]) -> None:
        try:
            await psycopg_pool.AsyncConnectionPool.check_connection(connection)
        except psycopg.Error:
            # As PostgresStore's: sweep every stale connection at once.
            if self._own is not None:
                await self._own.check()
            raise

    async def load(self, agent_id: str) -> StoredAgent | None:
        """The agent's state and version, or ``None``."""
        return await self._read_agent(self._sql.load, agent_id)

    async def load_settled(self, agent_id: str) -> StoredAgent | None:
        """The agent once every save of it under way anywhere has ended
        (read ``FOR SHARE``)."""
        return await self._read_agent(self._sql.load_settled, agent_id)

    async def save(self, change: Change) -> None:
        """Write ``change`` atomically if the agent is still at its version,
        and refuse a chat another agent holds."""
        await self._save(change)

    async def save_all(self, changes: Sequence[Change]) -> None:
        """Write every change or none, in one transaction, the agents' rows
        locked first in agent order."""
        await self._save_all(changes)

    async def find_command(self, command_id: str) -> CommandRecord | None:
        """The record saved with ``command_id``, if any."""
        return await self._find_command(command_id)

    async def prune_commands(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` records recorded before ``before`` (or never
        dated); how many were deleted."""
        return await self._prune_commands(before, limit)

    async def erase_customer(
        self,
        customer_id: str,
        *,
        erasure_id: str,
        erased_at: datetime,
        erased_by: str,
    ) -> ErasureRecord:
        """Delete the customer's entries, events and the records holding
        their data, in one transaction; refused while one of their chats is
        held."""
        return await self._erase_customer(customer_id, erasure_id, erased_at, erased_by)

    async def erasures(self) -> tuple[ErasureRecord, ...]:
        """Every erasure record, oldest first."""
        return await self._erasures()

    async def retire(self, agent_id: str, expected_version: int) -> None:
        """Remove the agent if it is still at ``expected_version``; the agent
        added again goes on from that version."""
        await self._retire(agent_id, expected_version)

    async def events(self, after: int = 0, limit: int = 100) -> list[StoredEvent]:
        """Up to ``limit`` events after position ``after``, in order."""
        return await self._events(after, limit)

    async def last_position(self) -> int:
        """The newest event's position (0 for none yet)."""
        return await self._last_position()

    async def wait_for_events(self, after: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an event after ``after``,
        without blocking the loop: on a connection of the store's own that
        keeps ``LISTEN`` between waits (one per follower waiting at once),
        or, on the application's pool, one borrowed from it for the wait."""
        return await self._wait_for_events(self._listening, after, timeout)

    async def prune_events(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` of the oldest events recorded before
        ``before``, stopping at the first younger one."""
        return await self._prune_events(before, limit)

    async def history_changes(
        self, after: int = 0, limit: int = 100
    ) -> list[HistoryChange]:
        """Up to ``limit`` entries written after position ``after``, in
        commit order."""
        return await self._history_changes(after, limit)

    async def history(
        self, customer_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> HistoryPage:
        """A page of the customer's history, by wrap-up end then write order."""
        return await self._history(customer_id, cursor, limit)

    async def all_history(self) -> AsyncIterator[ContactHistoryEntry]:
        """Every contact-history entry, by wrap-up end then write order
        (``async for``), from one REPEATABLE READ READ ONLY snapshot read
        through a server-side cursor, on one pooled connection held until
        the iterator is exhausted or closed (``aclose()``)."""
        async with aclosing(self._history_pages(BATCH)) as pages:
            async for rows in pages:
                for entry in self._entries(rows):
                    yield entry

    async def claim_due(self, at: datetime, limit: int, lease: timedelta) -> list[str]:
        """Claim up to ``limit`` agents with a wrap-up due at ``at``."""
        return await self._claim_due(at, limit, lease)
