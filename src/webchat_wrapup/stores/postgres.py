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
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import datetime, timedelta
from typing import Any, NoReturn, Protocol

import psycopg
import psycopg_pool
from psycopg import sql

from .._core._errors import (
    CommandIdReused,
    CommandRefused,
    ErrorCode,
    StoreError,
    VersionConflict,
    invalid_argument,
)
from .._core._history import ContactHistoryEntry
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
from ._codec import StateCodec, instant_to_micros, micros_to_instant
from ._paging import (
    check_feed_read,
    check_limit,
    check_prune,
    check_wait,
    decode_cursor,
)
from ._rows import (
    ChangeRows,
    EventRow,
    change_rows,
    checked_history_page,
    damage_reason,
    decode_entry,
    decode_event,
    decode_history_change,
    decode_record,
    decode_state,
    held_chat_id,
    one_change_per_agent,
)

SCHEMA_VERSION = 4
"""The newest schema this version of the library writes."""

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE {schema}.agents (
            agent_id TEXT PRIMARY KEY,
            version BIGINT NOT NULL,
            state TEXT NOT NULL,
            next_deadline BIGINT,
            claimed_until BIGINT
        )""",
        """CREATE INDEX agents_due ON {schema}.agents (next_deadline)
            WHERE next_deadline IS NOT NULL""",
        """CREATE TABLE {schema}.policies (
            policy_key TEXT PRIMARY KEY,
            policy TEXT NOT NULL
        )""",
        """CREATE TABLE {schema}.history (
            sequence BIGSERIAL PRIMARY KEY,
            customer_id TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            chat_started_at BIGINT NOT NULL,
            wrap_up_ended_at BIGINT NOT NULL,
            entry TEXT NOT NULL
        )""",
        """CREATE INDEX history_by_customer
            ON {schema}.history (customer_id, wrap_up_ended_at, sequence)""",
        """CREATE TABLE {schema}.commands (
            command_id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            outcome TEXT NOT NULL
        )""",
    ),
    (  # 1 -> 2: when each command ran (for pruning), who holds each chat
        "ALTER TABLE {schema}.commands ADD COLUMN recorded_at BIGINT",
        # Records written before the upgrade are dated at the upgrade (in
        # microseconds), not left undated: an undated record is pruned at
        # the next sweep, and a retry of its command arriving after that
        # would be decided afresh, possibly applied twice.
        """UPDATE {schema}.commands SET recorded_at =
            (extract(epoch FROM transaction_timestamp()) * 1000000)::BIGINT""",
        "CREATE INDEX commands_by_time ON {schema}.commands (recorded_at)",
        """CREATE TABLE {schema}.held_chats (
            chat_id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL
        )""",
        # A damaged state must not stop the upgrade (every server would then
        # fail to open the store), and a failed cast aborts the transaction:
        # only a PL/pgSQL block can catch it (PostgreSQL 16's
        # pg_input_is_valid would do, but 15 is still supported). Dropped
        # below, in the same transaction, so no one else ever sees it.
        """CREATE FUNCTION {schema}.jsonb_or_null(text) RETURNS jsonb
            LANGUAGE plpgsql IMMUTABLE AS $$
            BEGIN
                RETURN $1::jsonb;
            EXCEPTION WHEN data_exception THEN
                RETURN NULL;
            END
            $$""",
        # The chats the stored agents hold, read from the schema-1 form of
        # an agent's state: [agent_id, capacity, status, profile, chats],
        # each chat a list that starts with its id. A migration reads the
        # form of the schema it migrates from, which never changes, so it
        # reads it here rather than through the codec (which may). Schema 1
        # did not enforce one holder per chat: should two agents hold one,
        # the first by agent id keeps the row, and the other keeps its chat
        # until it lets go of it (saves compare with the stored state).
        # Rows that are not this form hold nothing; loading them reports
        # the damage. Each type is checked: jsonb reads a scalar as an array
        # of one (the string "c" -> 0 is "c").
        """INSERT INTO {schema}.held_chats (chat_id, agent_id)
            SELECT DISTINCT ON (chat ->> 0) chat ->> 0, agent_id
            FROM (
                SELECT agent_id, {schema}.jsonb_or_null(state) AS state
                FROM {schema}.agents
            ) AS stored,
            jsonb_array_elements(
                CASE WHEN jsonb_typeof(state) = 'array'
                    AND jsonb_typeof(state -> 4) = 'array'
                THEN state -> 4 ELSE '[]' END
            ) AS chat
            WHERE jsonb_typeof(chat) = 'array'
                AND jsonb_typeof(chat -> 0) = 'string'
            ORDER BY chat ->> 0, agent_id""",
        "DROP FUNCTION {schema}.jsonb_or_null(text)",
    ),
    (  # 2 -> 3: erasing a customer's data, retiring agents
        # Whose each held chat is: an erasure is refused while one is held,
        # and the check must see every app server's saves.
        "ALTER TABLE {schema}.held_chats ADD COLUMN customer_id TEXT",
        "CREATE INDEX held_chats_by_customer ON {schema}.held_chats (customer_id)",
        # As in 1 -> 2: damaged JSON must not stop the upgrade.
        """CREATE FUNCTION {schema}.jsonb_or_null(text) RETURNS jsonb
            LANGUAGE plpgsql IMMUTABLE AS $$
            BEGIN
                RETURN $1::jsonb;
            EXCEPTION WHEN data_exception THEN
                RETURN NULL;
            END
            $$""",
        # Read from the schema-2 form of an agent's state, in which each
        # chat is a list [chat_id, customer_id, ...]. A state too damaged
        # to read leaves it empty (loading the agent reports the damage).
        """UPDATE {schema}.held_chats AS held SET customer_id = chat ->> 1
            FROM (
                SELECT agent_id, {schema}.jsonb_or_null(state) AS state
                FROM {schema}.agents
            ) AS stored,
            jsonb_array_elements(
                CASE WHEN jsonb_typeof(state) = 'array'
                    AND jsonb_typeof(state -> 4) = 'array'
                THEN state -> 4 ELSE '[]' END
            ) AS chat
            WHERE stored.agent_id = held.agent_id
                AND jsonb_typeof(chat) = 'array'
                AND chat ->> 0 = held.chat_id
                AND jsonb_typeof(chat -> 1) = 'string'""",
        # The customers whose data each command record carries, so an
        # erasure finds the records by customer. One command may carry
        # several (due expiries of other chats come first).
        """CREATE TABLE {schema}.command_customers (
            customer_id TEXT NOT NULL,
            command_id TEXT NOT NULL,
            PRIMARY KEY (customer_id, command_id)
        )""",
        """CREATE INDEX command_customers_by_command
            ON {schema}.command_customers (command_id)""",
        # Only for the join below: a history of millions of rows would
        # otherwise be scanned for the events' chats.
        "CREATE INDEX history_by_chat ON {schema}.history (chat_id)",
        # Records written before the upgrade, read from the schema-2 form of
        # an outcome: [agent_id, version, events, entries], each event a
        # list [type, agent_id, at, chat_id, ...] (chat_assigned and
        # wrap_up_completed then name the customer), each entry an object
        # with its customer_id. An event such as a classification names
        # only its chat, whose customer is found where the chat is now: held
        # by the record's agent, or in that agent's history. Should a chat
        # id have come back for another customer, the record is found by
        # both: erasing either deletes it, which only means a retry of that
        # command is decided afresh, as after the retention.
        """INSERT INTO {schema}.command_customers (customer_id, command_id)
            WITH records AS (
                SELECT command_id, agent_id,
                    {schema}.jsonb_or_null(outcome) AS outcome
                FROM {schema}.commands
            ), events AS (
                SELECT command_id, agent_id, event
                FROM records, jsonb_array_elements(
                    CASE WHEN jsonb_typeof(outcome) = 'array'
                        AND jsonb_typeof(outcome -> 2) = 'array'
                    THEN outcome -> 2 ELSE '[]' END
                ) AS event
                WHERE jsonb_typeof(event) = 'array'
            )
            SELECT event ->> 4, command_id FROM events
            WHERE event ->> 0 IN ('chat_assigned', 'wrap_up_completed')
                AND jsonb_typeof(event -> 4) = 'string'
            UNION
            SELECT entry ->> 'customer_id', command_id
            FROM records, jsonb_array_elements(
                CASE WHEN jsonb_typeof(outcome) = 'array'
                    AND jsonb_typeof(outcome -> 3) = 'array'
                THEN outcome -> 3 ELSE '[]' END
            ) AS entry
            WHERE jsonb_typeof(entry -> 'customer_id') = 'string'
            UNION
            SELECT held.customer_id, events.command_id
            FROM events JOIN {schema}.held_chats AS held
                ON held.chat_id = events.event ->> 3
                AND held.agent_id = events.agent_id
            WHERE held.customer_id IS NOT NULL
            UNION
            SELECT history.customer_id, events.command_id
            FROM events JOIN {schema}.history AS history
                ON history.chat_id = events.event ->> 3
                AND history.agent_id = events.agent_id""",
        "DROP INDEX {schema}.history_by_chat",
        "DROP FUNCTION {schema}.jsonb_or_null(text)",
        # That an erasure happened, never what it erased.
        """CREATE TABLE {schema}.erasures (
            erasure_id TEXT PRIMARY KEY,
            erased_at BIGINT NOT NULL,
            erased_by TEXT NOT NULL,
            history_entries BIGINT NOT NULL,
            command_records BIGINT NOT NULL
        )""",
        # The version each retired agent had: the agent added again goes on
        # from it, so no version of one agent id is ever written twice.
        """CREATE TABLE {schema}.retired_agents (
            agent_id TEXT PRIMARY KEY,
            version BIGINT NOT NULL
        )""",
    ),
    (
        # The event feed. Positions (and the history's sequence) are drawn
        # only under the feed's lock, held to commit, so they are given in
        # commit order: see PostgresStore._append_feed.
        """CREATE TABLE {schema}.events (
            position BIGSERIAL PRIMARY KEY,
            recorded_at BIGINT NOT NULL,
            agent_id TEXT NOT NULL,
            customer_id TEXT,
            event TEXT NOT NULL
        )""",
        """CREATE INDEX events_by_customer ON {schema}.events (customer_id)
            WHERE customer_id IS NOT NULL""",
        "ALTER TABLE {schema}.erasures ADD COLUMN events BIGINT NOT NULL DEFAULT 0",
    ),
)
"""The statements that take a schema from version ``n`` to ``n + 1``, at
index ``n``; each one executed as it is, with ``{schema}`` quoted in."""

DEFAULT_SCHEMA = "webchat_wrapup"
"""The schema a store uses unless told otherwise."""

DEFAULT_POOL_TIMEOUT = 30.0
"""Seconds a call waits for a free connection of the store's own pool."""

_BATCH = 1000
"""Rows :meth:`PostgresStore.all_history` fetches at a time."""

_MAX_RECENT = 4096
"""Decoded states a store keeps (see ``PostgresStore._recent``)."""


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
            f"PostgreSQL store {schema!r}: {_one_line(error)}",
            schema=schema,
        ) from error
    return row is not None and row[0] is not None


def _one_line(error: psycopg.Error) -> str:
    # libpq adds hints on lines of their own; an error message is one line.
    return " ".join(str(error).split())


class ConnectionPool(Protocol):
    """What the store needs of an application's pool (psycopg_pool fits)."""

    def connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """A connection, returned to the pool when the block ends."""


class PostgresStore:
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

    ``schema`` is the schema's name, a plain identifier.
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
        if (conninfo is None) == (pool is None):
            raise invalid_argument("conninfo", "a connection string or a pool", pool)
        if not isinstance(schema, str) or not schema.isidentifier():
            raise invalid_argument("schema", "a plain identifier", schema)
        if isinstance(pool_size, bool) or not isinstance(pool_size, int):
            raise invalid_argument("pool_size", "a whole number", pool_size)
        if pool_size < 1:
            raise invalid_argument("pool_size", "at least 1", pool_size)
        if not isinstance(pool_timeout, (int, float)) or not pool_timeout > 0:
            raise invalid_argument("pool_timeout", "a positive number", pool_timeout)
        self.schema = schema
        self._closed = False
        self._codec = StateCodec()
        self._known_policies: set[str] = set()
        # Decoded states by agent, as last written or read here: a load that
        # finds the same version skips decoding, and a save that finds the
        # version it replaces knows which chats the agent held without
        # reading them. A version is written once, so an entry is never
        # wrong, only stale.
        self._recent: dict[str, StoredAgent] = {}
        self._sql = _Statements(schema)
        self._conninfo = conninfo
        # Each waiting thread's connection in LISTEN, and all of them, to
        # close with the store.
        self._listeners = threading.local()
        self._listeners_lock = threading.Lock()
        self._all_listeners: list[psycopg.Connection[Any]] = []
        # The feed's lock and notification channel, both named by schema.
        self._feed_lock = (
            _signed(zlib.crc32(f"webchat_wrapup:{schema}:feed".encode())),
            0,
        )
        self._channel = _channel(schema)
        self._own: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] | None = None
        if pool is not None:
            self._pool = pool
            self._migrate(self._connection)
            return
        if conninfo is None:  # refused above; this tells the type checker
            raise invalid_argument("conninfo", "a connection string", conninfo)
        # Migrate on a connection of its own before the pool opens: an
        # unreachable server then fails at once with the driver's reason,
        # where a pool would retry in the background until its timeout.
        self._migrate(lambda: self._direct(conninfo))
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
        self._pool = self._own

    def close(self) -> None:
        """Refuse every later call (``store_closed``) and close the store's
        own pool; a pool the application passed in stays open.

        An :meth:`all_history` iterator still being read stops at its next
        entry with ``store_closed`` and gives its connection back.
        """
        self._closed = True
        with self._listeners_lock:
            listeners, self._all_listeners = self._all_listeners, []
        for connection in listeners:  # a follower waiting wakes to an error
            with suppress(psycopg.Error):
                connection.close()
        if self._own is not None:
            self._own.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _refuse_closed(self) -> NoReturn:
        raise StoreError(
            ErrorCode.STORE_CLOSED,
            f"PostgreSQL store {self.schema!r} is closed",
            schema=self.schema,
        )

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        if self._closed:
            self._refuse_closed()
        try:
            with self._pool.connection() as connection:
                if not connection.autocommit:
                    raise StoreError(
                        ErrorCode.STORE_UNAVAILABLE,
                        "PostgresStore needs autocommit connections: create the "
                        'pool with kwargs={"autocommit": True}',
                        schema=self.schema,
                    )
                yield connection
        except psycopg.Error as error:
            raise self._translate(error) from error

    @contextmanager
    def _direct(self, conninfo: str) -> Iterator[psycopg.Connection[Any]]:
        try:
            with psycopg.connect(conninfo, autocommit=True) as connection:
                yield connection
        except psycopg.Error as error:
            raise self._translate(error) from error

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

    def _translate(self, error: psycopg.Error) -> StoreError:
        where = self.schema
        message = f"PostgreSQL store {where!r}: {_one_line(error)}"
        code = ErrorCode.STORE_UNAVAILABLE
        if self._closed or isinstance(error, psycopg_pool.PoolClosed):
            code = ErrorCode.STORE_CLOSED
        elif isinstance(error, psycopg_pool.PoolTimeout) and self._own is not None:
            message = (
                f"PostgreSQL store {where!r}: no connection within "
                f"{self._own.timeout:g} s: all {self._own.max_size} of the "
                "pool's connections are busy, or the server cannot be reached"
            )
        elif isinstance(error, psycopg.errors.ReadOnlySqlTransaction):
            code = ErrorCode.STORE_READ_ONLY
        elif isinstance(error, psycopg.errors.LockNotAvailable):
            code = ErrorCode.STORE_LOCKED
        elif isinstance(error, psycopg.errors.DataCorrupted):
            code = ErrorCode.STORE_CORRUPT
        return StoreError(code, message, schema=where)

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Cursor[Any]]:
        with self._connection() as connection, connection.transaction():
            yield connection.cursor()

    def _migrate(
        self,
        connect: Callable[[], AbstractContextManager[psycopg.Connection[Any]]],
    ) -> None:
        schema = sql.Identifier(self.schema)
        with connect() as connection, connection.transaction():
            cursor = connection.cursor()
            lock = zlib.crc32(f"webchat_wrapup:{self.schema}".encode())
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            cursor.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
            cursor.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {}.meta (version INT NOT NULL)"
                ).format(schema)
            )
            cursor.execute(sql.SQL("SELECT version FROM {}.meta").format(schema))
            row = cursor.fetchone()
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
                for statement in _MIGRATIONS[number]:
                    cursor.execute(sql.SQL(statement).format(schema=schema))
            if row is None:
                cursor.execute(
                    sql.SQL("INSERT INTO {}.meta VALUES (%s)").format(schema),
                    (SCHEMA_VERSION,),
                )
            else:
                cursor.execute(
                    sql.SQL("UPDATE {}.meta SET version = %s").format(schema),
                    (SCHEMA_VERSION,),
                )

    def load(self, agent_id: str) -> StoredAgent | None:
        """The agent's state and version, or ``None``."""
        return self._read_agent(self._sql.load, agent_id)

    def load_remembered(self, agent_id: str) -> StoredAgent | None:
        """The agent as this store last saved or loaded it, without asking
        the server: it may be stale
        (see :class:`~webchat_wrapup.ports.RemembersStates`)."""
        return self._recent.get(agent_id)

    def load_settled(self, agent_id: str) -> StoredAgent | None:
        """The agent once every save of it under way anywhere has ended.

        Read ``FOR SHARE``: a save holds the agent's row lock from its
        ``UPDATE`` to its commit or rollback, and the read waits for it,
        then sees the row as the save left it.
        """
        return self._read_agent(self._sql.load_settled, agent_id)

    def _read_agent(self, query: str, agent_id: str) -> StoredAgent | None:
        with self._connection() as connection:
            row = connection.execute(query, (agent_id,)).fetchone()
            if row is None:
                return None
            version, text = row
            recent = self._recent.get(agent_id)
            if recent is not None and recent.version == version:
                return recent  # The state this store wrote or read at that version.
            fetch = self._policy_fetcher(connection)
            state = decode_state(
                self._codec, agent_id, version, text, fetch, self._damaged
            )
        stored = StoredAgent(state, version)
        self._remember(agent_id, stored)
        return stored

    def _remember(self, agent_id: str, stored: StoredAgent) -> None:
        if len(self._recent) >= _MAX_RECENT:
            self._recent.clear()
        self._recent[agent_id] = stored

    def _damaged(self, table: str, key: object, reason: str) -> StoreError:
        return StoreError(
            ErrorCode.STORE_CORRUPT,
            f"PostgreSQL store {self.schema!r}: {table} row {key!r} is damaged "
            f"({reason})",
            schema=self.schema,
            table=table,
            key=key,
        )

    def _policy_fetcher(
        self, connection: psycopg.Connection[Any]
    ) -> Callable[[str], str]:
        def fetch(key: str) -> str:
            try:
                row = connection.execute(self._sql.policy, (key,)).fetchone()
            except psycopg.Error as error:
                # Translated here: the decoder takes any other exception
                # for a damaged row.
                raise self._translate(error) from error
            if row is None:
                raise StoreError(
                    ErrorCode.STORE_CORRUPT,
                    f"PostgreSQL schema {self.schema!r} lacks policy {key!r}",
                    schema=self.schema,
                )
            return str(row[0])

        return fetch

    def save(self, change: Change) -> None:
        """Write ``change`` atomically if the agent is still at its version,
        and refuse a chat another agent holds."""
        rows = change_rows(change, self._codec, self._known_policies)
        before = self._held_before(change)
        after = {chat.holding_key for chat in change.state.chats}
        if self._saved_in_one_statement(change, rows, before, after):
            version = change.expected_version + 1
        else:
            version = self._save_in_transaction(change, rows, before, after)
        self._known_policies.update(key for key, _ in rows.policies)
        self._remember(change.agent_id, StoredAgent(change.state, version))

    def save_all(self, changes: Sequence[Change]) -> None:
        """Write every change or none, in one transaction on one connection:
        each is checked as :meth:`save` checks one, in order, so a chat one
        change lets go of may be taken by a later one (a transfer).

        The agents' rows are locked first, in agent order, so two batches
        naming the same agents in another order wait rather than deadlock.
        """
        changes = tuple(changes)
        one_change_per_agent(changes)
        if len(changes) <= 1:
            for change in changes:
                self.save(change)
            return
        rows = [change_rows(c, self._codec, self._known_policies) for c in changes]
        befores = [self._held_before(change) for change in changes]
        with self._transaction() as cursor:
            agents = sorted(change.agent_id for change in changes)
            cursor.execute(self._sql.lock_agents, (agents,))
            versions = [
                self._write_change(
                    cursor,
                    change,
                    written,
                    before,
                    {chat.holding_key for chat in change.state.chats},
                )
                for change, written, before in zip(changes, rows, befores, strict=True)
            ]
            self._append_feed(cursor, rows)
        # Only once committed: a rolled-back batch must leave no trace here.
        for change, written, version in zip(changes, rows, versions, strict=True):
            self._known_policies.update(key for key, _ in written.policies)
            self._remember(change.agent_id, StoredAgent(change.state, version))

    def _held_before(self, change: Change) -> set[str] | None:
        """The chats the agent held at the version it is saved from, if known
        without asking the server (``None``: read them in the transaction)."""
        if change.expected_version == 0:
            return set()
        recent = self._recent.get(change.agent_id)
        if recent is None or recent.version != change.expected_version:
            return None
        return {chat.holding_key for chat in recent.state.chats}

    def _save_in_transaction(
        self,
        change: Change,
        rows: ChangeRows,
        before: set[str] | None,
        after: set[str],
    ) -> int:
        """Save ``change`` in a transaction; the version written."""
        with self._transaction() as cursor:
            version = self._write_change(cursor, change, rows, before, after)
            self._append_feed(cursor, (rows,))
            return version

    def _write_change(
        self,
        cursor: psycopg.Cursor[Any],
        change: Change,
        rows: ChangeRows,
        before: set[str] | None,
        after: set[str],
    ) -> int:
        """Write one change in the cursor's transaction; the version written.
        ``before`` and ``after`` are the holding keys of the chats held."""
        if before is None:
            before = self._stored_holding_keys(cursor, change)
        version = self._write_agent(cursor, change, rows, sorted(before - after))
        record = change.command
        if record is not None and rows.command is not None:
            cursor.execute(
                self._sql.insert_command,
                (
                    *rows.command,
                    _micros(record.recorded_at),
                    list(rows.record_customers),
                ),
            )
            inserted = cursor.fetchone()
            if inserted is None or inserted[0] != 1:
                raise CommandIdReused(rows.command[0])
        taken = after - before
        if taken:
            self._take(cursor, change, taken)
        if rows.policies:
            cursor.executemany(self._sql.insert_policy, rows.policies)
        return version

    def _append_feed(
        self, cursor: psycopg.Cursor[Any], written: Sequence[ChangeRows]
    ) -> None:
        """Add the changes' history entries and events, last in the
        transaction, under the feed's lock.

        The lock is held until the transaction ends, so positions (events')
        and sequences (entries') are drawn in commit order: a reader that
        has seen position 42 will never see a 41 commit later. Taken last,
        after every row lock the transaction needs, and nothing waits while
        holding it, so it cannot deadlock. The notification is sent on
        commit, to followers waiting in :meth:`wait_for_events`.
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
        cursor.execute(self._sql.append_feed, parameters)

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

    def _stored_holding_keys(
        self, cursor: psycopg.Cursor[Any], change: Change
    ) -> set[str]:
        """The chats of the stored state the change replaces (none if it is
        not at the expected version: the write then conflicts)."""
        row = cursor.execute(self._sql.load, (change.agent_id,)).fetchone()
        if row is None or row[0] != change.expected_version:
            return set()
        fetch = self._policy_fetcher(cursor.connection)
        state = decode_state(
            self._codec, change.agent_id, row[0], row[1], fetch, self._damaged
        )
        return {chat.holding_key for chat in state.chats}

    def _take(
        self, cursor: psycopg.Cursor[Any], change: Change, taken: set[str]
    ) -> None:
        """Write who holds the chats the agent takes; refuse a chat another
        agent holds (the transaction then writes nothing)."""
        agent_id = change.agent_id
        # One order, so two transactions taking the same chats never deadlock.
        keys, customer_ids = _held_columns(change, taken)
        cursor.execute(self._sql.take_chats, (agent_id, keys, customer_ids))
        for key, holder in cursor.fetchall():
            if holder != agent_id:
                raise CommandRefused(
                    ErrorCode.CHAT_HELD_BY_ANOTHER_AGENT,
                    "save",
                    agent_id,
                    held_chat_id(key),
                    f"agent {holder!r} holds it",
                )

    def _saved_in_one_statement(
        self,
        change: Change,
        rows: ChangeRows,
        before: set[str] | None,
        after: set[str],
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
        ):
            return False
        version = change.expected_version
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
            parameters["released"] = sorted(before - after)
            taken, customers = _held_columns(change, after - before)
            parameters["taken"] = taken
            parameters["taken_customers"] = customers
        with self._connection() as connection:
            try:
                cursor = connection.execute(query, parameters)
                # The feed's forms end with a count of the records written.
                row = cursor.fetchone() if fed else (cursor.rowcount,)
                written = 0 if row is None else row[0]
            except psycopg.errors.UniqueViolation as error:
                if error.diag.constraint_name == "held_chats_pkey":
                    return False
                raise CommandIdReused(command_id) from None
        if written != 1:
            raise VersionConflict(change.agent_id, version)
        return True

    def _write_agent(
        self,
        cursor: psycopg.Cursor[Any],
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
            cursor.execute(self._sql.lock_agent_id, self._agent_lock(change.agent_id))
            row = cursor.execute(
                self._sql.insert_agent,
                {"agent": change.agent_id, "state": rows.state, "due": rows.due},
            ).fetchone()
            if row is None:
                raise VersionConflict(change.agent_id, version)
            return int(row[0])
        if released:
            parameters = {**_agent_parameters(change, rows), "released": released}
            cursor.execute(self._sql.update_and_release, parameters)
        else:
            cursor.execute(self._sql.update_agent, _agent_parameters(change, rows))
        if cursor.rowcount != 1:
            raise VersionConflict(change.agent_id, version)
        return version + 1

    def find_command(self, command_id: str) -> CommandRecord | None:
        """The record saved with ``command_id``, if any."""
        with self._connection() as connection:
            row = connection.execute(self._sql.command, (command_id,)).fetchone()
        return None if row is None else decode_record(command_id, row, self._damaged)

    def prune_commands(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` records recorded before ``before`` (or never
        dated); how many were deleted."""
        check_prune(before, limit)
        with self._connection() as connection:
            row = connection.execute(
                self._sql.prune,
                {"before": instant_to_micros(before), "limit": max(limit, 0)},
            ).fetchone()
        return 0 if row is None else int(row[0])

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
        with self._transaction() as cursor:
            held = cursor.execute(self._sql.customer_held, (customer_id,)).fetchone()
            if held is not None:
                raise customer_chat_held(held[0], held_chat_id(held[1]))
            entries = cursor.execute(self._sql.erase_history, (customer_id,)).rowcount
            row = cursor.execute(self._sql.erase_records, (customer_id,)).fetchone()
            records = 0 if row is None else int(row[0])
            events = cursor.execute(self._sql.erase_events, (customer_id,)).rowcount
            cursor.execute(
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

    def erasures(self) -> tuple[ErasureRecord, ...]:
        """Every erasure record, oldest first."""
        with self._connection() as connection:
            rows = connection.execute(self._sql.erasures).fetchall()
        return tuple(self._erasure(row) for row in rows)

    def _erasure(self, row: tuple[Any, ...]) -> ErasureRecord:
        erasure_id, erased_at, erased_by, entries, records, events = row
        try:
            return ErasureRecord(
                erasure_id,
                micros_to_instant(erased_at),
                erased_by,
                entries,
                records,
                events,
            )
        except Exception as error:  # whatever damage makes the decoder raise
            reason = damage_reason(error)
            raise self._damaged("erasure", erasure_id, reason) from error

    def retire(self, agent_id: str, expected_version: int) -> None:
        """Remove the agent if it is still at ``expected_version``; remember
        the version, so the agent added again goes on from it.

        Under the same advisory lock as adding an agent: an add racing this
        retirement waits for it to commit, then reads the version kept here
        (at READ COMMITTED, an insert that waited on the deleted row would
        otherwise go on with what it read before, and start again at 1).
        """
        with self._transaction() as cursor:
            cursor.execute(self._sql.lock_agent_id, self._agent_lock(agent_id))
            row = cursor.execute(
                self._sql.retire, {"agent": agent_id, "version": expected_version}
            ).fetchone()
            if row is None or row[0] != 1:
                raise VersionConflict(agent_id, expected_version)
        self._recent.pop(agent_id, None)

    # The feeds

    def events(self, after: int = 0, limit: int = 100) -> list[StoredEvent]:
        """Up to ``limit`` events after position ``after``, in order."""
        check_feed_read(after, limit)
        with self._connection() as connection:
            rows = connection.execute(self._sql.events, (after, limit)).fetchall()
        return [decode_event(p, at, text, self._damaged) for p, at, text in rows]

    def last_position(self) -> int:
        """The newest event's position (0 for none yet)."""
        with self._connection() as connection:
            row = connection.execute(self._sql.last_position).fetchone()
        return 0 if row is None else int(row[0])

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
        check_feed_read(after, 1)
        check_wait(timeout)
        if self._closed:
            self._refuse_closed()
        if self._conninfo is None:
            with self._connection() as connection:
                connection.execute(self._sql.listen)
                try:
                    return self._wait_on(connection, after, timeout)
                finally:
                    connection.execute("UNLISTEN *")
        connection = self._listening_connection(self._conninfo)
        try:
            return self._wait_on(connection, after, timeout)
        except psycopg.Error as error:
            self._drop_listening_connection(connection)
            raise self._translate(error) from error

    def _wait_on(
        self, connection: psycopg.Connection[Any], after: int, timeout: float
    ) -> bool:
        row = connection.execute(self._sql.last_position).fetchone()
        if row is not None and int(row[0]) > after:
            return True
        for _ in connection.notifies(timeout=timeout, stop_after=1):
            return True
        return False

    def _listening_connection(self, conninfo: str) -> psycopg.Connection[Any]:
        """The calling thread's connection in ``LISTEN``, made at its first
        wait (closed with the store)."""
        connection: psycopg.Connection[Any] | None = getattr(
            self._listeners, "connection", None
        )
        if connection is None or connection.closed:
            try:
                connection = psycopg.connect(conninfo, autocommit=True)
                connection.execute(self._sql.listen)
            except psycopg.Error as error:
                raise self._translate(error) from error
            self._listeners.connection = connection
            with self._listeners_lock:
                self._all_listeners.append(connection)
        return connection

    def _drop_listening_connection(self, connection: psycopg.Connection[Any]) -> None:
        self._listeners.connection = None
        with self._listeners_lock:
            if connection in self._all_listeners:
                self._all_listeners.remove(connection)
        with suppress(psycopg.Error):
            connection.close()

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
        check_prune(before, limit)
        parameters = {"before": instant_to_micros(before), "limit": max(limit, 0)}
        with self._connection() as connection:
            row = connection.execute(self._sql.prune_events, parameters).fetchone()
        return 0 if row is None else int(row[0])

    def history_changes(self, after: int = 0, limit: int = 100) -> list[HistoryChange]:
        """Up to ``limit`` entries written after position ``after``, in
        commit order (sequences are drawn under the feed's lock)."""
        check_feed_read(after, limit)
        with self._connection() as connection:
            rows = connection.execute(
                self._sql.history_changes, (after, limit)
            ).fetchall()
        return [decode_history_change(p, text, self._damaged) for p, text in rows]

    def _agent_lock(self, agent_id: str) -> tuple[int, int]:
        """The two keys of the advisory lock for one agent id in this schema."""
        return (
            _signed(zlib.crc32(f"webchat_wrapup:{self.schema}:agent".encode())),
            _signed(zlib.crc32(agent_id.encode("utf-8", "surrogatepass"))),
        )

    def history(
        self, customer_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> HistoryPage:
        """A page of the customer's history, by wrap-up end then write order."""
        check_limit(limit)
        ended, sequence = decode_cursor(cursor)
        with self._connection() as connection:
            rows = connection.execute(
                self._sql.history, (customer_id, ended, sequence, limit + 1)
            ).fetchall()
        return checked_history_page(rows, limit, self._damaged)

    def all_history(self) -> Iterator[ContactHistoryEntry]:
        """Every contact-history entry, by wrap-up end then write order.

        At the first ``next()`` the iterator takes a connection of its own
        from the pool and opens a REPEATABLE READ READ ONLY transaction: one
        snapshot for the whole read, which blocks no writer. A server-side
        cursor hands the rows over ``_BATCH`` at a time, so memory stays
        flat. The connection goes back to the pool when the iterator is
        exhausted, closed or garbage-collected.
        """
        with self._connection() as connection:
            connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursor = connection.cursor(name="all_history")
            try:
                cursor.execute(self._sql.all_history)
                while rows := cursor.fetchmany(_BATCH):
                    for row in rows:
                        if self._closed:
                            self._refuse_closed()
                        yield decode_entry(row[0], row[1], self._damaged)
            finally:
                # Ending a read-only transaction cannot lose anything, and a
                # connection too broken to end it is dropped by the pool: an
                # error here must not hide the one that ended the read.
                with suppress(psycopg.Error):
                    connection.execute("ROLLBACK")
                # After the ROLLBACK the server has dropped the cursor, so
                # closing it costs no round trip.
                cursor.close()

    def claim_due(self, at: datetime, limit: int, lease: timedelta) -> list[str]:
        """Claim up to ``limit`` agents with a wrap-up due at ``at``: agents
        never claimed since their last save first, then claims run out;
        each group by earliest deadline."""
        parameters = {
            "now": instant_to_micros(at),
            "until": instant_to_micros(at + lease),
            "limit": max(limit, 0),
        }
        with self._connection() as connection:
            rows = connection.execute(self._sql.claim, parameters).fetchall()
        return [row[0] for row in rows]


def _micros(instant: datetime | None) -> int | None:
    return None if instant is None else instant_to_micros(instant)


def _signed(key: int) -> int:
    """An unsigned 32-bit number as the signed ``int4`` an advisory lock takes."""
    return key - (1 << 32) if key >= 1 << 31 else key


def _held_columns(change: Change, taken: set[str]) -> tuple[list[str], list[str]]:
    """The holding keys of the chats taken, in key order, and the customer
    of each."""
    chats = sorted(
        (chat.holding_key, chat.customer_id)
        for chat in change.state.chats
        if chat.holding_key in taken
    )
    return [key for key, _ in chats], [customer for _, customer in chats]


class AsyncListener:
    """Waits for a PostgreSQL store's feed on an asyncio connection that
    keeps ``LISTEN`` between waits; close it with :meth:`aclose`."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._connection: psycopg.AsyncConnection[Any] | None = None

    async def wait(self, after: int, timeout: float) -> bool:
        """:meth:`PostgresStore.wait_for_events`, without blocking the loop."""
        store = self._store
        check_feed_read(after, 1)
        check_wait(timeout)
        if store._conninfo is None:
            return await asyncio.to_thread(store.wait_for_events, after, timeout)
        if store._closed:
            store._refuse_closed()
        try:
            connection = await self._listening(store._conninfo)
            cursor = await connection.execute(store._sql.last_position)
            row = await cursor.fetchone()
            if row is not None and int(row[0]) > after:
                return True
            async for _ in connection.notifies(timeout=timeout, stop_after=1):
                return True
            return False
        except psycopg.Error as error:
            await self.aclose()  # a broken connection: the next wait makes one
            raise store._translate(error) from error

    async def _listening(self, conninfo: str) -> psycopg.AsyncConnection[Any]:
        if self._connection is None or self._connection.closed:
            connection = await psycopg.AsyncConnection.connect(
                conninfo, autocommit=True
            )
            await connection.execute(self._store._sql.listen)
            self._connection = connection
        return self._connection

    async def aclose(self) -> None:
        """Close the listener's connection."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with suppress(psycopg.Error):
                await connection.close()


def _channel(schema: str) -> str:
    """The notification channel of a schema's feed: short, whatever the
    schema's length (channel names are cut at 63 bytes)."""
    return f"webchat_wrapup_{zlib.crc32(schema.encode()):08x}"


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


class _Statements:
    """The store's SQL, with the schema name quoted once."""

    def __init__(self, schema: str) -> None:
        # Rendered once: a Composed query is rendered again on every execute.
        # The name is a plain identifier (checked), so quoting it is enough.
        name = f'"{schema}"'

        def q(text: str) -> str:
            return text.format(schema=name)

        self.load = q("SELECT version, state FROM {schema}.agents WHERE agent_id = %s")
        self.load_settled = q(
            "SELECT version, state FROM {schema}.agents WHERE agent_id = %s FOR SHARE"
        )
        self.policy = q("SELECT policy FROM {schema}.policies WHERE policy_key = %s")
        self.insert_policy = q(
            "INSERT INTO {schema}.policies VALUES (%s, %s) ON CONFLICT DO NOTHING"
        )
        # A new agent, or one added again after it was retired: it goes on
        # from the version it was retired at, and the mark is removed.
        self.insert_agent = q(
            "WITH retired AS (DELETE FROM {schema}.retired_agents "
            "WHERE agent_id = %(agent)s RETURNING version) "
            "INSERT INTO {schema}.agents SELECT %(agent)s, "
            "1 + coalesce((SELECT version FROM retired), 0), %(state)s, %(due)s, "
            "NULL ON CONFLICT DO NOTHING RETURNING version"
        )
        self.lock_agent_id = "SELECT pg_advisory_xact_lock(%s, %s)"
        # Locked as returned, so in agent order.
        self.lock_agents = q(
            "SELECT agent_id FROM {schema}.agents WHERE agent_id = ANY(%s::text[]) "
            "ORDER BY agent_id FOR UPDATE"
        )
        set_agent = (
            "UPDATE {schema}.agents SET version = %(next)s, state = %(state)s, "
            "next_deadline = %(due)s, claimed_until = NULL "
            "WHERE agent_id = %(agent)s AND version = %(version)s"
        )
        updated = f"WITH updated AS ({set_agent} RETURNING agent_id)"
        # Each runs only if the UPDATE did (it reads `updated`). Released by
        # agent too: a chat two agents held under schema 1 keeps its row for
        # the one the migration chose.
        released = (
            "released AS (DELETE FROM {schema}.held_chats "
            "WHERE agent_id = (SELECT agent_id FROM updated) "
            "AND chat_id = ANY(%(released)s::text[]))"
        )
        taken = (
            "taken AS (INSERT INTO {schema}.held_chats "
            "SELECT chat_id, agent_id, customer_id FROM updated, "
            "unnest(%(taken)s::text[], %(taken_customers)s::text[]) "
            "AS chats (chat_id, customer_id))"
        )
        linked = (
            "linked AS (INSERT INTO {schema}.command_customers "
            "SELECT customer_id, %(command)s FROM updated, "
            "unnest(%(customers)s::text[]) AS customer_id)"
        )
        recorded = (
            "INSERT INTO {schema}.commands (command_id, agent_id, fingerprint, "
            "outcome, recorded_at) SELECT %(command)s, agent_id, %(fingerprint)s, "
            "%(outcome)s, %(recorded)s FROM updated"
        )
        self.update_agent = q(set_agent)
        self.update_and_release = q(
            f"{updated}, {released} SELECT agent_id FROM updated"
        )
        # The feed's part of a one-statement save: the lock is taken only
        # once every other write of the statement is done (the scalar
        # subqueries read them to the end first), so nothing waits while
        # holding it; then the events are inserted, in order, and the
        # notification goes out on commit.
        fed = (
            "fed AS (INSERT INTO {schema}.events (recorded_at, agent_id, "
            "customer_id, event) SELECT e.recorded_at, e.agent_id, e.customer_id, "
            "e.event FROM locked, unnest(%(event_at)s::bigint[], "
            "%(event_agents)s::text[], %(event_customers)s::text[], "
            "%(events)s::text[]) WITH ORDINALITY "
            "AS e (recorded_at, agent_id, customer_id, event, n) ORDER BY e.n)"
        )

        def locked(*writes: str) -> str:
            done = " AND ".join(f"(SELECT count(*) FROM {w}) >= 0" for w in writes)
            return (
                "locked AS (SELECT pg_advisory_xact_lock(%(feed_a)s, %(feed_b)s), "
                f"pg_notify(%(channel)s, '') FROM updated WHERE {done})"
            )

        recorded_returning = f"recorded AS ({recorded} RETURNING 1)"
        linked_returning = (
            "linked AS (INSERT INTO {schema}.command_customers "
            "SELECT customer_id, %(command)s FROM updated, "
            "unnest(%(customers)s::text[]) AS customer_id RETURNING 1)"
        )
        released_returning = (
            "released AS (DELETE FROM {schema}.held_chats "
            "WHERE agent_id = (SELECT agent_id FROM updated) "
            "AND chat_id = ANY(%(released)s::text[]) RETURNING 1)"
        )
        taken_returning = (
            "taken AS (INSERT INTO {schema}.held_chats "
            "SELECT chat_id, agent_id, customer_id FROM updated, "
            "unnest(%(taken)s::text[], %(taken_customers)s::text[]) "
            "AS chats (chat_id, customer_id) RETURNING 1)"
        )
        self.update_and_record = q(f"{updated}, {linked} {recorded}")
        self.update_hold_and_record = q(
            f"{updated}, {released}, {taken}, {linked} {recorded}"
        )
        self.update_record_and_feed = q(
            f"{updated}, {linked_returning}, {recorded_returning}, "
            f"{locked('linked', 'recorded')}, {fed} "
            "SELECT count(*) FROM recorded"
        )
        self.update_hold_record_and_feed = q(
            f"{updated}, {released_returning}, {taken_returning}, "
            f"{linked_returning}, {recorded_returning}, "
            f"{locked('released', 'taken', 'linked', 'recorded')}, {fed} "
            "SELECT count(*) FROM recorded"
        )
        # A transaction's history entries and events, last in it, in one
        # statement under the feed's lock (see PostgresStore._append_feed).
        self.append_feed = q(
            "WITH locked AS (SELECT pg_advisory_xact_lock(%(feed_a)s, %(feed_b)s), "
            "pg_notify(%(channel)s, '')), "
            "entries AS (INSERT INTO {schema}.history (customer_id, agent_id, "
            "chat_id, chat_started_at, wrap_up_ended_at, entry) "
            "SELECT h.customer_id, h.agent_id, h.chat_id, h.started, h.ended, "
            "h.entry FROM locked, unnest(%(h_customers)s::text[], "
            "%(h_agents)s::text[], %(h_chats)s::text[], %(h_started)s::bigint[], "
            "%(h_ended)s::bigint[], %(h_entries)s::text[]) WITH ORDINALITY "
            "AS h (customer_id, agent_id, chat_id, started, ended, entry, n) "
            "ORDER BY h.n), "
            f"{fed} SELECT 1"
        )
        # The record and the customers it is found by, in one statement;
        # the count is 0 when the command id was already recorded.
        self.insert_command = q(
            "WITH recorded AS (INSERT INTO {schema}.commands (command_id, "
            "agent_id, fingerprint, outcome, recorded_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING "
            "RETURNING command_id), "
            "linked AS (INSERT INTO {schema}.command_customers "
            "SELECT customer_id, command_id FROM recorded, "
            "unnest(%s::text[]) AS customer_id) "
            "SELECT count(*) FROM recorded"
        )
        self.command = q(
            "SELECT agent_id, fingerprint, outcome, recorded_at "
            "FROM {schema}.commands WHERE command_id = %s"
        )
        # Undated records, then the oldest, each group read from the index
        # and stopping at the limit: a single "IS NULL OR <" condition would
        # gather every old record before the limit applies, so a backlog
        # would make each prune slower. SKIP LOCKED: two sweepers pruning
        # at once share the work rather than one waiting for the other. The
        # DELETE finds its rows by key through an array, as the claim does.
        # The records' links to customers go with them.
        self.prune = q(
            "WITH undated AS (SELECT command_id FROM {schema}.commands "
            "WHERE recorded_at IS NULL LIMIT %(limit)s FOR UPDATE SKIP LOCKED), "
            "oldest AS (SELECT command_id FROM {schema}.commands "
            "WHERE recorded_at < %(before)s ORDER BY recorded_at "
            "LIMIT %(limit)s - (SELECT count(*) FROM undated) "
            "FOR UPDATE SKIP LOCKED), "
            "pruned AS (DELETE FROM {schema}.commands WHERE command_id = ANY(ARRAY("
            "SELECT command_id FROM undated UNION ALL SELECT command_id FROM oldest)) "
            "RETURNING command_id), "
            "unlinked AS (DELETE FROM {schema}.command_customers "
            "WHERE command_id = ANY(ARRAY(SELECT command_id FROM pruned))) "
            "SELECT count(*) FROM pruned"
        )
        self.customer_held = q(
            "SELECT agent_id, chat_id FROM {schema}.held_chats "
            "WHERE customer_id = %s ORDER BY agent_id, chat_id LIMIT 1"
        )
        self.erase_history = q("DELETE FROM {schema}.history WHERE customer_id = %s")
        # Each record's links to every customer it names go with it, not
        # only this customer's.
        self.erase_records = q(
            "WITH found AS (SELECT command_id FROM {schema}.command_customers "
            "WHERE customer_id = %s), "
            "unlinked AS (DELETE FROM {schema}.command_customers "
            "WHERE command_id = ANY(ARRAY(SELECT command_id FROM found))), "
            "erased AS (DELETE FROM {schema}.commands "
            "WHERE command_id = ANY(ARRAY(SELECT command_id FROM found)) "
            "RETURNING command_id) "
            "SELECT count(*) FROM erased"
        )
        self.insert_erasure = q(
            "INSERT INTO {schema}.erasures VALUES (%s, %s, %s, %s, %s, %s)"
        )
        self.erasures = q(
            "SELECT erasure_id, erased_at, erased_by, history_entries, "
            "command_records, events FROM {schema}.erasures "
            "ORDER BY erased_at, erasure_id"
        )
        self.erase_events = q("DELETE FROM {schema}.events WHERE customer_id = %s")
        self.listen = sql.SQL("LISTEN {}").format(sql.Identifier(_channel(schema)))
        self.events = q(
            "SELECT position, recorded_at, event FROM {schema}.events "
            "WHERE position > %s ORDER BY position LIMIT %s"
        )
        self.last_position = q("SELECT coalesce(max(position), 0) FROM {schema}.events")
        # The oldest first, stopping at the first younger one (as every
        # store does), reading no more than the limit from the key's index.
        self.prune_events = q(
            "WITH oldest AS (SELECT position, recorded_at FROM {schema}.events "
            "ORDER BY position LIMIT %(limit)s), "
            "stop AS (SELECT min(position) AS position FROM oldest "
            "WHERE recorded_at >= %(before)s), "
            "pruned AS (DELETE FROM {schema}.events WHERE position <= "
            "(SELECT max(position) FROM oldest) AND position < coalesce("
            "(SELECT position FROM stop), 9223372036854775807) RETURNING 1) "
            "SELECT count(*) FROM pruned"
        )
        self.history_changes = q(
            "SELECT sequence, entry FROM {schema}.history WHERE sequence > %s "
            "ORDER BY sequence LIMIT %s"
        )
        self.retire = q(
            "WITH gone AS (DELETE FROM {schema}.agents "
            "WHERE agent_id = %(agent)s AND version = %(version)s "
            "RETURNING agent_id, version), "
            "released AS (DELETE FROM {schema}.held_chats "
            "WHERE agent_id = (SELECT agent_id FROM gone)), "
            "kept AS (INSERT INTO {schema}.retired_agents "
            "SELECT agent_id, version FROM gone ON CONFLICT (agent_id) "
            "DO UPDATE SET version = EXCLUDED.version) "
            "SELECT count(*) FROM gone"
        )
        # A chat another agent holds is returned with its holder, its row
        # locked until this transaction ends; one inserted by a transaction
        # still under way makes this wait for it to end.
        self.take_chats = q(
            "INSERT INTO {schema}.held_chats AS held "
            "SELECT chat_id, %s, customer_id "
            "FROM unnest(%s::text[], %s::text[]) AS chats (chat_id, customer_id) "
            "ON CONFLICT (chat_id) DO UPDATE SET agent_id = held.agent_id "
            "RETURNING chat_id, agent_id"
        )
        self.history = q(
            "SELECT entry, wrap_up_ended_at, sequence FROM {schema}.history "
            "WHERE customer_id = %s AND (wrap_up_ended_at, sequence) > (%s, %s) "
            "ORDER BY wrap_up_ended_at, sequence LIMIT %s"
        )
        self.all_history = q(
            "SELECT entry, sequence FROM {schema}.history "
            "ORDER BY wrap_up_ended_at, sequence"
        )
        # Two groups, each walking the due index in deadline order and
        # stopping at its limit: agents never claimed since their last save,
        # then agents whose claim ran out unsaved. One scan ordered by
        # "claimed before" would sort every due row; these sort nothing but
        # the rows they return. The UPDATE finds its rows by key through an
        # array: a join with the groups could be planned as a scan of every
        # agent.
        self.claim = q(
            "WITH never AS (SELECT agent_id, next_deadline FROM {schema}.agents "
            "WHERE next_deadline <= %(now)s AND claimed_until IS NULL "
            "ORDER BY next_deadline LIMIT %(limit)s FOR UPDATE SKIP LOCKED), "
            "ran_out AS (SELECT agent_id, next_deadline FROM {schema}.agents "
            "WHERE next_deadline <= %(now)s AND claimed_until <= %(now)s "
            "ORDER BY next_deadline "
            "LIMIT %(limit)s - (SELECT count(*) FROM never) "
            "FOR UPDATE SKIP LOCKED), "
            "chosen AS (SELECT agent_id, next_deadline, 0 AS claimed_before "
            "FROM never UNION ALL SELECT agent_id, next_deadline, 1 FROM ran_out), "
            "claimed AS (UPDATE {schema}.agents SET claimed_until = %(until)s "
            "WHERE agent_id = ANY(ARRAY(SELECT agent_id FROM chosen))) "
            "SELECT agent_id FROM chosen "
            "ORDER BY claimed_before, next_deadline, agent_id"
        )
