"""Connections of their own on which PostgreSQL followers wait for the feed.

A follower waits for the feed's notification on a connection that keeps
``LISTEN`` between waits, made from the connection string, never one of
the pool's: a follower waiting must not hold a connection a command needs.
Each is a :class:`~webchat_wrapup.stores._pg_sessions.Link` whose session
is a listening connection. A wait that ends in an error (or is cancelled)
closes its connection, which may be broken or left mid-query: the next
wait makes another. Closing the listening connections wakes any follower
waiting on one, with an error.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any

import psycopg

from ._pg_sessions import AsyncSession, Entered, Query, Session, SyncSession


class SyncListening:
    """One listening connection per thread, kept between its waits."""

    def __init__(self, conninfo: str, listen: Query) -> None:
        self._conninfo = conninfo
        self._listen = listen
        self._local = threading.local()
        self._lock = threading.Lock()
        self._every: list[psycopg.Connection[Any]] = []
        self._closed = False

    def session(self) -> Entered[Session]:
        return Entered(self._thread_session())

    @contextmanager
    def _thread_session(self) -> Iterator[Session]:
        connection: psycopg.Connection[Any] | None = getattr(
            self._local, "connection", None
        )
        if connection is None or connection.closed:
            connection = psycopg.connect(self._conninfo, autocommit=True)
            try:
                connection.execute(self._listen)
            except BaseException:
                connection.close()
                raise
            with self._lock:
                closed = self._closed
                if not closed:
                    self._every.append(connection)
            if closed:  # while this one was being made
                connection.close()
                raise psycopg.OperationalError("the listening connections are closed")
            self._local.connection = connection
        try:
            yield SyncSession(connection)
        except BaseException:
            self._drop(connection)
            raise

    def _drop(self, connection: psycopg.Connection[Any]) -> None:
        self._local.connection = None
        with self._lock:
            if connection in self._every:
                self._every.remove(connection)
        with suppress(psycopg.Error):
            connection.close()

    def close(self) -> None:
        """Close every thread's connection (a follower waiting wakes to an
        error)."""
        with self._lock:
            self._closed = True
            every, self._every = self._every, []
        for connection in every:
            with suppress(psycopg.Error):
                connection.close()


class AsyncListening:
    """Listening ``AsyncConnection`` s: each wait takes an idle one or
    makes one, and gives it back for the next wait."""

    def __init__(self, conninfo: str, listen: Query) -> None:
        self._conninfo = conninfo
        self._listen = listen
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._every: set[psycopg.AsyncConnection[Any]] = set()
        self._closed = False

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        connection = await self._take()
        try:
            yield AsyncSession(connection)
        except BaseException:
            self._every.discard(connection)
            with suppress(psycopg.Error):
                await connection.close()
            raise
        if connection in self._every:  # not closed meanwhile
            self._idle.append(connection)

    async def _take(self) -> psycopg.AsyncConnection[Any]:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
            self._every.discard(connection)
        connection = await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True
        )
        try:
            await connection.execute(self._listen)
            if self._closed:  # while this one was being made
                raise psycopg.OperationalError("the listening connections are closed")
        except BaseException:
            await connection.close()
            raise
        self._every.add(connection)
        return connection

    async def aclose(self) -> None:
        """Close every connection, idle or waiting (a follower waiting wakes
        to an error)."""
        self._closed = True
        every, self._every = self._every, set()
        self._idle.clear()
        for connection in every:
            with suppress(psycopg.Error):
                await connection.close()
