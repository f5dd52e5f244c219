"""The PostgreSQL stores' conversation with the server, written once.

Every statement a store sends, in order, with its checks and its error
translation, is a coroutine of :class:`PostgresConversation` that awaits a
:class:`~webchat_wrapup.stores._pg_sessions.Session`.
:class:`~webchat_wrapup.stores.postgres_async.AsyncPostgresStore` awaits
them on asyncio connections;
:class:`~webchat_wrapup.stores.postgres.PostgresStore` runs them on
blocking connections with ``run_now``, where no await ever suspends. Both
therefore keep the same guarantees: a save is one statement or one
transaction, the feed's advisory lock is taken last, the notification goes
out on commit, driver errors become the same typed errors.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timedelta
from typing import Any, NoReturn

import psycopg
import psycopg_pool
from psycopg import sql

from .._core._agent import AgentState
from .._core._errors import (
    CommandIdReused,
    CommandRefused,
    ErrorCode,
    StoreError,
    VersionConflict,
    invalid_argument,
)
from .._core._history import ContactHistoryEntry
from .._core._text import check_identifier
from ..ports import (
    Change,
    CommandRecord,
    ErasureRecord,
    HistoryChange,
    HistoryPage,
    StoredAgent,
    StoredEvent,
    customer_chat_held,
)
from ._arguments import (
    check_change,
    check_changes,
    check_claim,
    check_erasure,
    check_version,
)
from ._codec import StateCodec, instant_to_micros
from ._paging import (
    check_feed_read,
    check_limit,
    check_prune,
    check_wait,
    decode_cursor,
)
from ._pg_schema import MIGRATIONS, SCHEMA_VERSION, Statements, channel, signed
from ._pg_sessions import Link, Row, Session
from ._rows import (
    ChangeRows,
    EventRow,
    PolicyNeeded,
    change_rows,
    checked_history_page,
    decode_entry,
    decode_erasure,
    decode_event,
    decode_history_change,
    decode_record,
    decode_state,
    held_chat_id,
    held_chats,
    one_change_per_agent,
)

DEFAULT_SCHEMA = "webchat_wrapup"
"""The schema a store uses unless told otherwise."""

DEFAULT_POOL_TIMEOUT = 30.0
"""Seconds a call waits for a free connection of the store's own pool."""

BATCH = 1000
"""Rows ``all_history`` fetches at a time."""

_MAX_RECENT = 4096
"""Decoded states a store keeps (see ``PostgresConversation._recent``)."""


def one_line(error: psycopg.Error) -> str:
    """The driver's message on one line (libpq puts hints on lines of
    their own)."""
    return " ".join(str(error).split())


MAX_POOL_TIMEOUT = 3600
"""The longest wait for a pool's connection a store accepts, in seconds."""


def check_arguments(
    conninfo: object,
    pool: object,
    schema: object,
    pool_size: object,
    pool_timeout: object,
) -> None:
    """Refuse a store's arguments as :class:`~webchat_wrapup.InvalidInput`
    unless they are one of a connection string or a pool, a plain
    identifier, a whole number of at least 1 and a number of seconds above
    0, up to :data:`MAX_POOL_TIMEOUT` (a wait the platform's clock can
    count)."""
    if (conninfo is None) == (pool is None):
        raise invalid_argument("conninfo", "a connection string or a pool", pool)
    if conninfo is not None and not isinstance(conninfo, str):
        raise invalid_argument("conninfo", "a connection string", conninfo)
    if pool is not None and not callable(getattr(pool, "connection", None)):
        raise invalid_argument("pool", "a pool with a connection() method", pool)
    if not isinstance(schema, str) or not schema.isidentifier():
        raise invalid_argument("schema", "a plain identifier", schema)
    if isinstance(pool_size, bool) or not isinstance(pool_size, int):
        raise invalid_argument("pool_size", "a whole number", pool_size)
    if pool_size < 1:
        raise invalid_argument("pool_size", "at least 1", pool_size)
    seconds = pool_timeout if isinstance(pool_timeout, (int, float)) else None
    if seconds is None or isinstance(seconds, bool):
        seconds = -1.0
    if not 0 < seconds <= MAX_POOL_TIMEOUT:
        raise invalid_argument(
            "pool_timeout",
            f"a number of seconds above 0, up to {MAX_POOL_TIMEOUT}",
            pool_timeout,
        )


class PostgresConversation:
    """What both PostgreSQL stores say to the server, as coroutines.

    A store sets :attr:`_link` (where its sessions come from) and, with a
    pool of its own, :attr:`_pool_limits` (its timeout and size, for the
    message of a call that waited too long).
    """

    _link: Link

    def __init__(self, schema: str, conninfo: str | None) -> None:
        self.schema = schema
        self._closed = False
        self._conninfo = conninfo
        self._pool_limits: tuple[float, int] | None = None
        self._codec = StateCodec()
        self._known_policies: set[str] = set()
        # Decoded states by agent, as last written or read here: a load that
        # finds the same version skips decoding, and a save that finds the
        # version it replaces knows which chats the agent held without
        # reading them. A version is written once, so an entry is never
        # wrong, only stale.
        self._recent: dict[str, StoredAgent] = {}
        self._sql = Statements(schema)
        # The feed's lock and notification channel, both named by schema.
        self._feed_lock = (
            signed(zlib.crc32(f"webchat_wrapup:{schema}:feed".encode())),
            0,
        )
        self._channel = channel(schema)

    # Sessions and errors

    def _refuse_closed(self) -> NoReturn:
        raise StoreError(
            ErrorCode.STORE_CLOSED,
            f"PostgreSQL store {self.schema!r} is closed",
            schema=self.schema,
        )

    @asynccontextmanager
    async def _session(self, link: Link | None = None) -> AsyncIterator[Session]:
        """A session from ``link`` (the store's own by default), its driver
        errors translated."""
        if self._closed:
            self._refuse_closed()
        try:
            async with (link or self._link).session() as session:
                if not session.autocommit:
                    raise StoreError(
                        ErrorCode.STORE_UNAVAILABLE,
                        f"{type(self).__name__} needs autocommit connections: "
                        'create the pool with kwargs={"autocommit": True}',
                        schema=self.schema,
                    )
                yield session
        except psycopg.Error as error:
            raise self._translate(error) from error

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Session]:
        async with self._session() as session, session.transaction():
            yield session

    def _translate(self, error: psycopg.Error) -> StoreError:
        where = self.schema
        message = f"PostgreSQL store {where!r}: {one_line(error)}"
        code = ErrorCode.STORE_UNAVAILABLE
        limits = self._pool_limits
        if self._closed or isinstance(error, psycopg_pool.PoolClosed):
            code = ErrorCode.STORE_CLOSED
        elif isinstance(error, psycopg_pool.PoolTimeout) and limits is not None:
            message = (
                f"PostgreSQL store {where!r}: no connection within "
                f"{limits[0]:g} s: all {limits[1]} of the pool's connections "
                "are busy, or the server cannot be reached"
            )
        elif isinstance(error, psycopg.errors.ReadOnlySqlTransaction):
            code = ErrorCode.STORE_READ_ONLY
        elif isinstance(error, psycopg.errors.LockNotAvailable):
            code = ErrorCode.STORE_LOCKED
        elif isinstance(error, psycopg.errors.DataCorrupted):
            code = ErrorCode.STORE_CORRUPT
        return StoreError(code, message, schema=where)

    def _damaged(self, table: str, key: object, reason: str) -> StoreError:
        return StoreError(
            ErrorCode.STORE_CORRUPT,
            f"PostgreSQL store {self.schema!r}: {table} row {key!r} is damaged "
            f"({reason})",
            schema=self.schema,
            table=table,
            key=key,
        )

    # The schema

    async def _migrate(self, link: Link) -> None:
        """Create the schema, or take it to :data:`SCHEMA_VERSION`, in one
        transaction under an advisory lock (servers starting together wait
        for each other)."""
        schema = sql.Identifier(self.schema)
        async with self._session(link) as session, session.transaction():
            lock = zlib.crc32(f"webchat_wrapup:{self.schema}".encode())
            await session.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            await session.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema)
            )
            await session.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {}.meta (version INT NOT NULL)"
                ).format(schema)
            )
            row = await session.fetchone(
                sql.SQL("SELECT version FROM {}.meta").format(schema)
            )
            version = 0 if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise StoreError(
                    ErrorCode.STORE_TOO_NEW,
                    f"PostgreSQL schema {self.schema!r} has version {version}, "
                    f"newer than this library's {SCHEMA_VERSION}: upgrade the library",
                    schema=self.schema,
                    schema_version=version,
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number]:
                    await session.execute(sql.SQL(statement).format(schema=schema))
            written = "INSERT INTO {}.meta VALUES (%s)"
            if row is not None:
                written = "UPDATE {}.meta SET version = %s"
            await session.execute(sql.SQL(written).format(schema), (SCHEMA_VERSION,))

    # Agents

    def load_remembered(self, agent_id: str) -> StoredAgent | None:
        """The agent as this store last saved or loaded it, without asking
        the server: it may be stale
        (see :class:`~webchat_wrapup.ports.RemembersStates`)."""
        check_identifier(agent_id, "agent_id")
        return self._recent.get(agent_id)

    async def _read_agent(self, query: str, agent_id: str) -> StoredAgent | None:
        check_identifier(agent_id, "agent_id")
        async with self._session() as session:
            row = await session.fetchone(query, (agent_id,))
            if row is None:
                return None
            version, text = row
            recent = self._recent.get(agent_id)
            if recent is not None and recent.version == version:
                return recent  # The state this store wrote or read at that version.
            state = await self._decode_state(session, agent_id, version, text)
        stored = StoredAgent(state, version)
        self._remember(agent_id, stored)
        return stored

    async def _decode_state(
        self, session: Session, agent_id: str, version: object, text: object
    ) -> AgentState:
        """The state in an agent's row. A policy the codec has not seen yet
        is read with an await between two tries at decoding: the decoder
        itself cannot wait."""
        fetched: dict[str, str | None] = {}

        def fetch(key: str) -> str:
            if key not in fetched:
                raise PolicyNeeded(key)
            text = fetched[key]
            if text is None:
                raise StoreError(
                    ErrorCode.STORE_CORRUPT,
                    f"PostgreSQL schema {self.schema!r} lacks policy {key!r}",
                    schema=self.schema,
                )
            return text

        while True:
            try:
                return decode_state(
                    self._codec, agent_id, version, text, fetch, self._damaged
                )
            except PolicyNeeded as needed:
                row = await session.fetchone(self._sql.policy, (needed.key,))
                fetched[needed.key] = None if row is None else str(row[0])

    def _remember(self, agent_id: str, stored: StoredAgent) -> None:
        if len(self._recent) >= _MAX_RECENT:
            self._recent.clear()
        self._recent[agent_id] = stored

    # Saving

    async def _save(self, change: Change) -> None:
        check_change(change)
        rows = change_rows(change, self._codec, self._known_policies)
        before = self._held_before(change)
        after = held_chats(change.state)
        if await self._saved_in_one_statement(change, rows, before, after):
            version = change.expected_version + 1
        else:
            version = await self._save_in_transaction(change, rows, before, after)
        self._known_policies.update(key for key, _ in rows.policies)
        self._remember(change.agent_id, StoredAgent(change.state, version))

    async def _save_all(self, changes: Sequence[Change]) -> None:
        changes = check_changes(changes)
        one_change_per_agent(changes)
        if len(changes) <= 1:
            for change in changes:
                await self._save(change)
            return
        rows = [change_rows(c, self._codec, self._known_policies) for c in changes]
        befores = [self._held_before(change) for change in changes]
        async with self._transaction() as session:
            agents = sorted(change.agent_id for change in changes)
            await session.execute(self._sql.lock_agents, (agents,))
            versions = [
                await self._write_change(
                    session,
                    change,
                    written,
                    before,
                    held_chats(change.state),
                )
                for change, written, before in zip(changes, rows, befores, strict=True)
            ]
            await self._append_feed(session, rows)
        # Only once committed: a rolled-back batch must leave no trace here.
        for change, written, version in zip(changes, rows, versions, strict=True):
            self._known_policies.update(key for key, _ in written.policies)
            self._remember(change.agent_id, StoredAgent(change.state, version))

    def _held_before(self, change: Change) -> dict[str, str] | None:
        """The chats the agent held at the version it is saved from, with
        their customers, if known without asking the server (``None``: read
        them in the transaction)."""
        if change.expected_version == 0:
            return {}
        recent = self._recent.get(change.agent_id)
        if recent is None or recent.version != change.expected_version:
            return None
        return held_chats(recent.state)

    async def _save_in_transaction(
        self,
        change: Change,
        rows: ChangeRows,
        before: dict[str, str] | None,
        after: dict[str, str],
    ) -> int:
        """Save ``change`` in a transaction; the version written."""
        async with self._transaction() as session:
            version = await self._write_change(session, change, rows, before, after)
            await self._append_feed(session, (rows,))
            return version

    async def _write_change(
        self,
        session: Session,
        change: Change,
        rows: ChangeRows,
        before: dict[str, str] | None,
        after: dict[str, str],
    ) -> int:
        """Write one change in the session's transaction; the version
        written. ``before`` and ``after`` are the chats held, by holding key,
        with their customers: a chat id held again for another customer
        (the chat it named finished) is let go of and taken again, so its
        row names the new customer."""
        if before is None:
            before = await self._stored_holding_keys(session, change)
        moved = _moved(before, after)
        released = sorted(before.keys() - after.keys() | moved)
        version = await self._write_agent(session, change, rows, released)
        record = change.command
        if record is not None and rows.command is not None:
            inserted = await session.fetchone(
                self._sql.insert_command,
                (
                    *rows.command,
                    _micros(record.recorded_at),
                    list(rows.record_customers),
                ),
            )
            if inserted is None or inserted[0] != 1:
                raise CommandIdReused(rows.command[0])
        taken = after.keys() - before.keys() | moved
        if taken:
            await self._take(session, change, taken)
        if rows.policies:
            await session.executemany(self._sql.insert_policy, rows.policies)
        return version

    async def _append_feed(
        self, session: Session, written: Sequence[ChangeRows]
    ) -> None:
        """Add the changes' history entries and events, last in the
        transaction, under the feed's lock.

        The lock is held until the transaction ends, so positions (events')
        and sequences (entries') are drawn in commit order: a reader that
        has seen position 42 will never see a 41 commit later. Taken last,
        after every row lock the transaction needs, and nothing waits while
        holding it, so it cannot deadlock. The notification is sent on
        commit, to followers waiting in ``wait_for_events``.
        """
        history = [row for rows in written for row in rows.history]
        events = [row for rows in written for row in rows.events]
        if not history and not events:
            return
        columns: list[tuple[Any, ...]] = (
            list(zip(*history, strict=True)) if history else [()] * 6
        )
        parameters = {
            **self._feed_parameters(events),
            "h_customers": list(columns[0]),
            "h_agents": list(columns[1]),
            "h_chats": list(columns[2]),
            "h_started": list(columns[3]),
            "h_ended": list(columns[4]),
            "h_entries": list(columns[5]),
        }
        await session.execute(self._sql.append_feed, parameters)

    def _feed_parameters(self, events: Sequence[EventRow]) -> dict[str, object]:
        """The feed's lock and channel, and ``events`` as arrays by column."""
        return {
            "feed_a": self._feed_lock[0],
            "feed_b": self._feed_lock[1],
            "channel": self._channel,
            "event_at": [row[0] for row in events],
            "event_agents": [row[1] for row in events],
            "event_customers": [row[2] for row in events],
            "events": [row[3] for row in events],
        }

    async def _stored_holding_keys(
        self, session: Session, change: Change
    ) -> dict[str, str]:
        """The chats of the stored state the change replaces, with their
        customers (none if it is not at the expected version: the write then
        conflicts)."""
        row = await session.fetchone(self._sql.load, (change.agent_id,))
        if row is None or row[0] != change.expected_version:
            return {}
        state = await self._decode_state(session, change.agent_id, row[0], row[1])
        return held_chats(state)

    async def _take(self, session: Session, change: Change, taken: set[str]) -> None:
        """Write who holds the chats the agent takes; refuse a chat another
        agent holds (the transaction then writes nothing)."""
        agent_id = change.agent_id
        # One order, so two transactions taking the same chats never deadlock.
        keys, customer_ids = _held_columns(change, taken)
        holders = await session.fetchall(
            self._sql.take_chats, (agent_id, keys, customer_ids)
        )
        for key, holder in holders:
            if holder != agent_id:
                raise CommandRefused(
                    ErrorCode.CHAT_HELD_BY_ANOTHER_AGENT,
                    "save",
                    agent_id,
                    held_chat_id(key),
                    f"agent {holder!r} holds it",
                )

    async def _saved_in_one_statement(
        self,
        change: Change,
        rows: ChangeRows,
        before: dict[str, str] | None,
        after: dict[str, str],
    ) -> bool:
        """Save the common command (a command id, no history, no new policy,
        chats known) and its events in one statement, atomic on its own: no
        BEGIN and COMMIT round trips. False if it is not that
        command, or if a chat it takes turned out held: the transaction then
        says by whom.

        The UPDATE's version check feeds the other writes; a recorded id or
        a chat another agent holds fails the whole statement.
        """
        command = rows.command
        if (
            command is None
            or before is None
            or rows.history
            or rows.policies
            or change.expected_version == 0
            or _moved(before, after)  # let go of and taken again: two steps
        ):
            return False
        query, parameters = self._one_statement(change, command, rows, before, after)
        fed = bool(rows.events)
        async with self._session() as session:
            try:
                # The feed's forms end with a count of the records written.
                if fed:
                    row = await session.fetchone(query, parameters)
                    written = 0 if row is None else row[0]
                else:
                    written = await session.execute(query, parameters)
            except psycopg.errors.UniqueViolation as error:
                if error.diag.constraint_name == "held_chats_pkey":
                    return False
                raise CommandIdReused(command[0]) from None
        if written != 1:
            raise VersionConflict(change.agent_id, change.expected_version)
        return True

    def _one_statement(
        self,
        change: Change,
        command: tuple[str, str, str, str],
        rows: ChangeRows,
        before: dict[str, str],
        after: dict[str, str],
    ) -> tuple[str, dict[str, object]]:
        """The one statement that saves ``change`` with its ``command`` row,
        and its parameters."""
        command_id, _, fingerprint, outcome = command
        record = change.command
        parameters = {
            **_agent_parameters(change, rows),
            "command": command_id,
            "fingerprint": fingerprint,
            "outcome": outcome,
            "recorded": None if record is None else _micros(record.recorded_at),
            "customers": list(rows.record_customers),
        }
        fed = bool(rows.events)
        if fed:
            parameters.update(self._feed_parameters(rows.events))
        query = self._sql.update_record_and_feed if fed else self._sql.update_and_record
        if before != after:  # only then is held_chats touched at all
            query = (
                self._sql.update_hold_record_and_feed
                if fed
                else self._sql.update_hold_and_record
            )
            parameters["released"] = sorted(before.keys() - after.keys())
            taken, customers = _held_columns(change, after.keys() - before.keys())
            parameters["taken"] = taken
            parameters["taken_customers"] = customers
        return query, parameters

    async def _write_agent(
        self,
        session: Session,
        change: Change,
        rows: ChangeRows,
        released: list[str],
    ) -> int:
        """Insert or update the agent's row, letting go of ``released`` chats
        in the same statement (no round trip more); the version written."""
        version = change.expected_version
        if version == 0:  # a new agent, holding nothing before
            # Waits for a retirement of the same id under way, so the insert
            # reads the version it was retired at (see retire).
            lock = self._agent_lock(change.agent_id)
            await session.execute(self._sql.lock_agent_id, lock)
            row = await session.fetchone(
                self._sql.insert_agent,
                {"agent": change.agent_id, "state": rows.state, "due": rows.due},
            )
            if row is None:
                raise VersionConflict(change.agent_id, version)
            return int(row[0])
        if released:
            parameters = {**_agent_parameters(change, rows), "released": released}
            count = await session.execute(self._sql.update_and_release, parameters)
        else:
            parameters = _agent_parameters(change, rows)
            count = await session.execute(self._sql.update_agent, parameters)
        if count != 1:
            raise VersionConflict(change.agent_id, version)
        return version + 1

    def _agent_lock(self, agent_id: str) -> tuple[int, int]:
        """The two keys of the advisory lock for one agent id in this schema."""
        return (
            signed(zlib.crc32(f"webchat_wrapup:{self.schema}:agent".encode())),
            signed(zlib.crc32(agent_id.encode("utf-8", "surrogatepass"))),
        )

    # Command records

    async def _find_command(self, command_id: str) -> CommandRecord | None:
        check_identifier(command_id, "command_id")
        async with self._session() as session:
            row = await session.fetchone(self._sql.command, (command_id,))
        return None if row is None else decode_record(command_id, row, self._damaged)

    async def _prune_commands(self, before: datetime, limit: int) -> int:
        check_prune(before, limit)
        parameters = {"before": instant_to_micros(before), "limit": max(limit, 0)}
        return await self._count(self._sql.prune, parameters)

    async def _count(self, query: str, parameters: Mapping[str, object]) -> int:
        """The count a statement ends with (0 if it returns no row)."""
        async with self._session() as session:
            row = await session.fetchone(query, parameters)
        return 0 if row is None else int(row[0])

    # Erasure and retirement

    async def _erase_customer(
        self, customer_id: str, erasure_id: str, erased_at: datetime, erased_by: str
    ) -> ErasureRecord:
        check_erasure(customer_id, erasure_id, erased_at, erased_by)
        async with self._transaction() as session:
            held = await session.fetchone(self._sql.customer_held, (customer_id,))
            if held is not None:
                raise customer_chat_held(held[0], held_chat_id(held[1]))
            entries = await session.execute(self._sql.erase_history, (customer_id,))
            row = await session.fetchone(self._sql.erase_records, (customer_id,))
            records = 0 if row is None else int(row[0])
            events = await session.execute(self._sql.erase_events, (customer_id,))
            await session.execute(
                self._sql.insert_erasure,
                (
                    erasure_id,
                    instant_to_micros(erased_at),
                    erased_by,
                    entries,
                    records,
                    events,
                ),
            )
        return ErasureRecord(erasure_id, erased_at, erased_by, entries, records, events)

    async def _erasures(self) -> tuple[ErasureRecord, ...]:
        async with self._session() as session:
            rows = await session.fetchall(self._sql.erasures)
        return tuple(decode_erasure(row, self._damaged) for row in rows)

    async def _retire(self, agent_id: str, expected_version: int) -> None:
        check_identifier(agent_id, "agent_id")
        check_version(expected_version)
        async with self._transaction() as session:
            await session.execute(self._sql.lock_agent_id, self._agent_lock(agent_id))
            row = await session.fetchone(
                self._sql.retire, {"agent": agent_id, "version": expected_version}
            )
            if row is None or row[0] != 1:
                raise VersionConflict(agent_id, expected_version)
        self._recent.pop(agent_id, None)

    # The feeds

    async def _events(self, after: int, limit: int) -> list[StoredEvent]:
        check_feed_read(after, limit)
        async with self._session() as session:
            rows = await session.fetchall(self._sql.events, (after, limit))
        return [decode_event(p, at, text, self._damaged) for p, at, text in rows]

    async def _last_position(self) -> int:
        async with self._session() as session:
            row = await session.fetchone(self._sql.last_position)
        return 0 if row is None else int(row[0])

    async def _wait_on(self, session: Session, after: int, timeout: float) -> bool:
        """On a session that listens: whether an event after ``after`` is
        there, or comes within ``timeout`` seconds. The newest position is
        read after ``LISTEN``, so a commit between the two is not missed."""
        row = await session.fetchone(self._sql.last_position)
        if row is not None and int(row[0]) > after:
            return True
        return await session.notified(timeout)

    async def _wait_for_events(
        self, listening: Link | None, after: int, timeout: float
    ) -> bool:
        """Wait up to ``timeout`` seconds for an event after ``after``, on a
        connection of ``listening`` that keeps ``LISTEN`` between waits, or
        (without one) on one of the pool's, listening for this wait only: a
        store made on an application's pool knows no connection string to
        make one of its own."""
        check_feed_read(after, 1)
        check_wait(timeout)
        if listening is not None:
            async with self._session(listening) as session:
                return await self._wait_on(session, after, timeout)
        async with self._session() as session:
            await session.execute(self._sql.listen)
            try:
                return await self._wait_on(session, after, timeout)
            finally:
                await session.execute("UNLISTEN *")

    async def _prune_events(self, before: datetime, limit: int) -> int:
        check_prune(before, limit)
        parameters = {"before": instant_to_micros(before), "limit": max(limit, 0)}
        return await self._count(self._sql.prune_events, parameters)

    async def _history_changes(self, after: int, limit: int) -> list[HistoryChange]:
        check_feed_read(after, limit)
        async with self._session() as session:
            rows = await session.fetchall(self._sql.history_changes, (after, limit))
        return [decode_history_change(p, text, self._damaged) for p, text in rows]

    # The contact history

    async def _history(
        self, customer_id: str, cursor: str | None, limit: int
    ) -> HistoryPage:
        check_identifier(customer_id, "customer_id")
        check_limit(limit)
        ended, sequence = decode_cursor(cursor)
        parameters = (customer_id, ended, sequence, limit + 1)
        async with self._session() as session:
            rows = await session.fetchall(self._sql.history, parameters)
        return checked_history_page(rows, limit, self._damaged)

    async def _history_pages(self, batch: int) -> AsyncGenerator[list[Row], None]:
        """Every history row, ``batch`` at a time, from one REPEATABLE READ
        READ ONLY snapshot through a server-side cursor, on a connection
        held until the iterator is exhausted or closed (decode them with
        :meth:`_entries`)."""
        async with self._session() as session:
            await session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursor = session.server_cursor("all_history")
            try:
                await cursor.execute(self._sql.all_history)
                while rows := await cursor.fetchmany(batch):
                    yield rows
            finally:
                # Ending a read-only transaction cannot lose anything, and a
                # connection too broken to end it is dropped by the pool: an
                # error here must not hide the one that ended the read.
                with suppress(psycopg.Error):
                    await session.execute("ROLLBACK")
                # After the ROLLBACK the server has dropped the cursor, so
                # closing it costs no round trip.
                await cursor.close()

    def _entries(self, rows: list[Row]) -> Iterator[ContactHistoryEntry]:
        """The entries of a page of history rows; ``store_closed`` at the
        next one once the store is closed."""
        for row in rows:
            if self._closed:
                self._refuse_closed()
            yield decode_entry(row[0], row[1], self._damaged)

    # Sweeps

    async def _claim_due(self, at: datetime, limit: int, lease: timedelta) -> list[str]:
        check_claim(at, limit, lease)
        parameters = {
            "now": instant_to_micros(at),
            "until": instant_to_micros(at + lease),
            "limit": max(limit, 0),
        }
        async with self._session() as session:
            rows = await session.fetchall(self._sql.claim, parameters)
        return [row[0] for row in rows]


def _micros(instant: datetime | None) -> int | None:
    return None if instant is None else instant_to_micros(instant)


def _moved(before: dict[str, str], after: dict[str, str]) -> set[str]:
    """The chats held before and after under one key, for another customer."""
    return {key for key in before.keys() & after.keys() if before[key] != after[key]}


def _held_columns(change: Change, taken: set[str]) -> tuple[list[str], list[str]]:
    """The holding keys of the chats taken, in key order, and the customer
    of each."""
    chats = sorted(
        (chat.holding_key, chat.customer_id)
        for chat in change.state.chats
        if chat.holding_key in taken
    )
    return [key for key, _ in chats], [customer for _, customer in chats]


def _agent_parameters(change: Change, rows: ChangeRows) -> dict[str, object]:
    """The parameters of the statements that update an agent's row."""
    version = change.expected_version
    return {
        "version": version,
        "next": version + 1,
        "state": rows.state,
        "due": rows.due,
        "agent": change.agent_id,
    }
