"""How the PostgreSQL conversation reaches a connection, sync or asyncio.

The stores' SQL conversation is written once, as coroutines that await a
:class:`Session` (see ``_pg_conversation``). :class:`AsyncSession` puts a
psycopg ``AsyncConnection`` behind it, for
:class:`~webchat_wrapup.stores.postgres_async.AsyncPostgresStore`.
:class:`SyncSession` puts a blocking ``Connection`` behind it: its
coroutines return without ever suspending, so :func:`run_now` drives one to
its end in a single step, with no event loop (about 0.3 µs an await,
nothing beside a round trip to the server), for
:class:`~webchat_wrapup.stores.postgres.PostgresStore`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    aclosing,
    closing,
)
from typing import Any, Protocol, TypeVar

import psycopg
from psycopg import sql

T = TypeVar("T")

Query = str | sql.SQL | sql.Composed
"""A statement as the stores hold them."""

Row = tuple[Any, ...]

Parameters = Sequence[Any] | Mapping[str, Any]

Params = Parameters | None


class ServerCursor(Protocol):
    """A named (server-side) cursor: rows handed over a batch at a time."""

    async def execute(self, query: Query) -> None:
        """Open the cursor on ``query``."""

    async def fetchmany(self, size: int) -> list[Row]:
        """Up to ``size`` more rows (none once the cursor is exhausted)."""

    async def close(self) -> None:
        """Close the cursor."""


class Session(Protocol):
    """One connection, as the conversation speaks to it."""

    @property
    def autocommit(self) -> bool:
        """Whether the connection is in autocommit mode."""

    async def fetchone(self, query: Query, params: Params = None) -> Row | None:
        """Run ``query``; its first row."""

    async def fetchall(self, query: Query, params: Params = None) -> list[Row]:
        """Run ``query``; every row."""

    async def execute(self, query: Query, params: Params = None) -> int:
        """Run ``query``; how many rows it touched."""

    async def executemany(self, query: Query, params: Iterable[Parameters]) -> None:
        """Run ``query`` once for each set of parameters."""

    def transaction(self) -> AbstractAsyncContextManager[object]:
        """A transaction, committed when the block ends, rolled back if it
        raises."""

    def server_cursor(self, name: str) -> ServerCursor:
        """A named cursor on this connection."""

    async def notified(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a notification on a channel
        this connection listens to; whether one came."""


class Link(Protocol):
    """Where sessions come from: a pool, or one new connection."""

    def session(self) -> AbstractAsyncContextManager[Session]:
        """A session, its connection given back when the block ends."""


class Entered(AbstractAsyncContextManager[T]):
    """A blocking context manager entered and left by ``async with``,
    never suspending."""

    __slots__ = ("_manager",)

    def __init__(self, manager: AbstractContextManager[T]) -> None:
        self._manager = manager

    async def __aenter__(self) -> T:
        return self._manager.__enter__()

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        return self._manager.__exit__(*exc_info)


class SyncSession:
    """A blocking psycopg connection behind :class:`Session`."""

    __slots__ = ("_connection",)

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    @property
    def autocommit(self) -> bool:
        return self._connection.autocommit

    async def fetchone(self, query: Query, params: Params = None) -> Row | None:
        return self._connection.execute(query, params).fetchone()

    async def fetchall(self, query: Query, params: Params = None) -> list[Row]:
        return self._connection.execute(query, params).fetchall()

    async def execute(self, query: Query, params: Params = None) -> int:
        return self._connection.execute(query, params).rowcount

    async def executemany(self, query: Query, params: Iterable[Parameters]) -> None:
        self._connection.cursor().executemany(query, params)

    def transaction(self) -> AbstractAsyncContextManager[object]:
        return Entered(self._connection.transaction())

    def server_cursor(self, name: str) -> ServerCursor:
        return _SyncServerCursor(self._connection.cursor(name=name))

    async def notified(self, timeout: float) -> bool:
        notifies = self._connection.notifies(timeout=timeout, stop_after=1)
        with closing(notifies):  # its lock on the connection let go at once
            for _ in notifies:
                return True
        return False


class _SyncServerCursor:
    __slots__ = ("_cursor",)

    def __init__(self, cursor: psycopg.ServerCursor[Any]) -> None:
        self._cursor = cursor

    async def execute(self, query: Query) -> None:
        self._cursor.execute(query)

    async def fetchmany(self, size: int) -> list[Row]:
        return self._cursor.fetchmany(size)

    async def close(self) -> None:
        self._cursor.close()


class SyncPool(Protocol):
    """What a blocking store needs of a pool (``psycopg_pool`` fits)."""

    def connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """A connection, returned to the pool when the block ends."""


class SyncLink:
    """Sessions on a blocking pool's connections."""

    __slots__ = ("_pool",)

    def __init__(self, pool: SyncPool) -> None:
        self._pool = pool

    def session(self) -> AbstractAsyncContextManager[Session]:
        return _SyncLease(self._pool.connection())


class _SyncLease(AbstractAsyncContextManager[Session]):
    __slots__ = ("_lease",)

    def __init__(self, lease: AbstractContextManager[psycopg.Connection[Any]]) -> None:
        self._lease = lease

    async def __aenter__(self) -> Session:
        return SyncSession(self._lease.__enter__())

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        return self._lease.__exit__(*exc_info)


class SyncDirectLink:
    """A session on one new autocommit connection, closed after it."""

    __slots__ = ("_conninfo",)

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo

    def session(self) -> AbstractAsyncContextManager[Session]:
        return _SyncLease(psycopg.connect(self._conninfo, autocommit=True))


class AsyncSession:
    """A psycopg ``AsyncConnection`` behind :class:`Session`."""

    __slots__ = ("_connection",)

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self._connection = connection

    @property
    def autocommit(self) -> bool:
        return self._connection.autocommit

    async def fetchone(self, query: Query, params: Params = None) -> Row | None:
        cursor = await self._connection.execute(query, params)
        return await cursor.fetchone()

    async def fetchall(self, query: Query, params: Params = None) -> list[Row]:
        cursor = await self._connection.execute(query, params)
        return await cursor.fetchall()

    async def execute(self, query: Query, params: Params = None) -> int:
        cursor = await self._connection.execute(query, params)
        return cursor.rowcount

    async def executemany(self, query: Query, params: Iterable[Parameters]) -> None:
        await self._connection.cursor().executemany(query, params)

    def transaction(self) -> AbstractAsyncContextManager[object]:
        return self._connection.transaction()

    def server_cursor(self, name: str) -> ServerCursor:
        return _AsyncServerCursor(self._connection.cursor(name=name))

    async def notified(self, timeout: float) -> bool:
        notifies = self._connection.notifies(timeout=timeout, stop_after=1)
        # Closed here, not by the loop's finalizer some turns later: until
        # then it holds the connection's lock.
        async with aclosing(notifies):
            async for _ in notifies:
                return True
        return False


class _AsyncServerCursor:
    __slots__ = ("_cursor",)

    def __init__(self, cursor: psycopg.AsyncServerCursor[Any]) -> None:
        self._cursor = cursor

    async def execute(self, query: Query) -> None:
        await self._cursor.execute(query)

    async def fetchmany(self, size: int) -> list[Row]:
        return await self._cursor.fetchmany(size)

    async def close(self) -> None:
        await self._cursor.close()


class AsyncPool(Protocol):
    """What an asyncio store needs of a pool (``psycopg_pool`` fits)."""

    def connection(
        self,
    ) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        """A connection, returned to the pool when the block ends."""


class AsyncLink:
    """Sessions on an asyncio pool's connections."""

    __slots__ = ("_pool",)

    def __init__(self, pool: AsyncPool) -> None:
        self._pool = pool

    def session(self) -> AbstractAsyncContextManager[Session]:
        return _AsyncLease(self._pool.connection())


class _AsyncLease(AbstractAsyncContextManager[Session]):
    __slots__ = ("_lease",)

    def __init__(
        self, lease: AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]
    ) -> None:
        self._lease = lease

    async def __aenter__(self) -> Session:
        return AsyncSession(await self._lease.__aenter__())

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        return await self._lease.__aexit__(*exc_info)


class AsyncDirectLink:
    """A session on one new autocommit ``AsyncConnection``, closed after it."""

    __slots__ = ("_conninfo",)

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo

    def session(self) -> AbstractAsyncContextManager[Session]:
        return _AsyncDirect(self._conninfo)


class _AsyncDirect(AbstractAsyncContextManager[Session]):
    __slots__ = ("_connection", "_conninfo")

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._connection: psycopg.AsyncConnection[Any] | None = None

    async def __aenter__(self) -> Session:
        connect = psycopg.AsyncConnection.connect
        self._connection = await connect(self._conninfo, autocommit=True)
        return AsyncSession(self._connection)

    async def __aexit__(self, *exc_info: Any) -> None:
        if self._connection is not None:
            await self._connection.close()
