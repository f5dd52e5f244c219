"""The SQLite store: the embedded default, one file, safe across processes.

Every write runs in ``BEGIN IMMEDIATE`` on one writer connection with
``isolation_level=None``, or as one statement, which SQLite runs as a
transaction of its own (``_one_statement.py``), so the write lock is taken
before anything is read and two processes can never both write from the
same stale read. The store checkpoints the write-ahead log itself, mostly
outside its writer's lock (``_checkpoints.py``).
Reads never wait for a writer: the file is in WAL mode, where a read sees
the last commit while a write is under way, and a read takes the writer
connection only when no thread of this store is using it, else a
connection of the thread's own. ``synchronous`` is ``FULL`` by default (a
committed command survives power loss) and may be ``NORMAL`` (it survives
a crash of the process, and is several times faster).

The file holds personal data (customers' ids, free text), so a new file is
created readable and writable by its owner only; SQLite gives its ``-wal``
and ``-shm`` files the same mode.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Generator, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from .._core._agent import Chat
from .._core._errors import (
    CommandIdReused,
    CommandRefused,
    ErrorCode,
    StoreError,
    VersionConflict,
    WrapUpError,
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
from . import _one_statement as one_statement
from ._arguments import (
    check_change,
    check_changes,
    check_claim,
    check_erasure,
    check_version,
)
from ._checkpoints import CHECKPOINT, SAFETY_PAGES, Checkpoints
from ._codec import (
    StateCodec,
    instant_to_micros,
)
from ._entries import entry_to_text, rewrite_documents_as_rows
from ._group_commit import QueuedSave, SaveQueue
from ._paging import (
    check_feed_read,
    check_limit,
    check_prune,
    check_wait,
    decode_cursor,
)
from ._rows import (
    ChangeRows,
    change_rows,
    checked_history_page,
    decode_entry,
    decode_erasure,
    decode_event,
    decode_history_change,
    decode_record,
    decode_rows,
    decode_state,
    held_chat_id,
    held_chats,
    one_change_per_agent,
)

SCHEMA_VERSION = 5
"""The newest schema this version of the library writes (``user_version``)."""

Migration = str | Callable[[sqlite3.Connection], None]
"""A statement, or a step written in Python that runs its own."""

_MIGRATIONS: tuple[tuple[Migration, ...], ...] = (
    (  # 0 -> 1: agents, policies, contact history, command records
        """
        CREATE TABLE agents (
            agent_id TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            state TEXT NOT NULL,
            next_deadline INTEGER,
            claimed_until INTEGER
        )
        """,
        """
        CREATE INDEX agents_due ON agents (next_deadline)
            WHERE next_deadline IS NOT NULL
        """,
        """
        CREATE TABLE policies (
            policy_key TEXT PRIMARY KEY,
            policy TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE history (
            sequence INTEGER PRIMARY KEY AUTOINCREMENT,
            customer_id TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            chat_started_at INTEGER NOT NULL,
            wrap_up_ended_at INTEGER NOT NULL,
            entry TEXT NOT NULL
        )
        """,
        """
        CREATE INDEX history_by_customer
            ON history (customer_id, wrap_up_ended_at, sequence)
        """,
        """
        CREATE TABLE commands (
            command_id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            outcome TEXT NOT NULL
        )
        """,
    ),
    (  # 1 -> 2: when each command ran (for pruning), who holds each chat
        "ALTER TABLE commands ADD COLUMN recorded_at INTEGER",
        # Records written before the upgrade are dated at the upgrade (the
        # wall clock, in microseconds), not left undated: an undated record
        # is pruned at the next sweep, and a retry of its command arriving
        # after that would be decided afresh, possibly applied twice.
        "UPDATE commands SET recorded_at = CAST(strftime('%s', 'now') AS INTEGER)"
        " * 1000000",
        "CREATE INDEX commands_by_time ON commands (recorded_at)",
        """
        CREATE TABLE held_chats (
            chat_id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL
        ) WITHOUT ROWID
        """,
        # The chats the stored agents hold, read from the schema-1 form of
        # an agent's state: [agent_id, capacity, status, profile, chats],
        # each chat a list that starts with its id. A migration reads the
        # form of the schema it migrates from, which never changes, so it
        # reads it here rather than through the codec (which may). Schema 1
        # did not enforce one holder per chat: should two agents hold one,
        # the first by agent id keeps the row, and the other keeps its chat
        # until it lets go of it (saves compare with the stored state).
        # Rows that are not this form hold nothing; loading them reports
        # the damage.
        """
        INSERT OR IGNORE INTO held_chats (chat_id, agent_id)
        SELECT json_extract(chat.value, '$[0]'), agents.agent_id
        FROM agents, json_each(
            CASE WHEN json_valid(agents.state) THEN agents.state ELSE '[]' END,
            '$[4]'
        ) AS chat
        WHERE chat.type = 'array' AND json_type(chat.value, '$[0]') = 'text'
        ORDER BY agents.agent_id
        """,
    ),
    (  # 2 -> 3: erasing a customer's data, retiring agents
        # Whose each held chat is: an erasure is refused while one is held,
        # and the check must see every app server's saves.
        "ALTER TABLE held_chats ADD COLUMN customer_id TEXT",
        # Read from the schema-2 form of an agent's state, in which each
        # chat is a list [chat_id, customer_id, ...]. A state too damaged
        # to read leaves it empty (loading the agent reports the damage).
        """
        UPDATE held_chats SET customer_id = (
            SELECT json_extract(chat.value, '$[1]')
            FROM agents, json_each(
                CASE WHEN json_valid(agents.state) THEN agents.state ELSE '[]' END,
                '$[4]'
            ) AS chat
            WHERE agents.agent_id = held_chats.agent_id
                AND chat.type = 'array'
                AND json_extract(chat.value, '$[0]') = held_chats.chat_id
                AND json_type(chat.value, '$[1]') = 'text'
        )
        """,
        "CREATE INDEX held_chats_by_customer ON held_chats (customer_id)",
        # The customers whose data each command record carries, so an
        # erasure finds the records by customer. One command may carry
        # several (due expiries of other chats come first).
        """
        CREATE TABLE command_customers (
            customer_id TEXT NOT NULL,
            command_id TEXT NOT NULL,
            PRIMARY KEY (customer_id, command_id)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX command_customers_by_command ON command_customers (command_id)",
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
        """
        INSERT OR IGNORE INTO command_customers (customer_id, command_id)
        SELECT json_extract(event.value, '$[4]'), commands.command_id
        FROM commands, json_each(
            CASE WHEN json_valid(commands.outcome) THEN commands.outcome
            ELSE '[]' END,
            '$[2]'
        ) AS event
        WHERE event.type = 'array'
            AND json_extract(event.value, '$[0]')
                IN ('chat_assigned', 'wrap_up_completed')
            AND json_type(event.value, '$[4]') = 'text'
        """,
        """
        INSERT OR IGNORE INTO command_customers (customer_id, command_id)
        SELECT json_extract(entry.value, '$.customer_id'), commands.command_id
        FROM commands, json_each(
            CASE WHEN json_valid(commands.outcome) THEN commands.outcome
            ELSE '[]' END,
            '$[3]'
        ) AS entry
        WHERE entry.type = 'object'
            AND json_type(entry.value, '$.customer_id') = 'text'
        """,
        """
        INSERT OR IGNORE INTO command_customers (customer_id, command_id)
        SELECT held_chats.customer_id, commands.command_id
        FROM commands, json_each(
            CASE WHEN json_valid(commands.outcome) THEN commands.outcome
            ELSE '[]' END,
            '$[2]'
        ) AS event
        JOIN held_chats
            ON held_chats.chat_id = json_extract(event.value, '$[3]')
            AND held_chats.agent_id = commands.agent_id
        WHERE event.type = 'array' AND held_chats.customer_id IS NOT NULL
        """,
        # Only for the join below: a history of millions of rows would
        # otherwise be scanned once per event.
        "CREATE INDEX history_by_chat ON history (chat_id)",
        """
        INSERT OR IGNORE INTO command_customers (customer_id, command_id)
        SELECT history.customer_id, commands.command_id
        FROM commands, json_each(
            CASE WHEN json_valid(commands.outcome) THEN commands.outcome
            ELSE '[]' END,
            '$[2]'
        ) AS event
        JOIN history
            ON history.chat_id = json_extract(event.value, '$[3]')
            AND history.agent_id = commands.agent_id
        WHERE event.type = 'array'
        """,
        "DROP INDEX history_by_chat",
        # That an erasure happened, never what it erased.
        """
        CREATE TABLE erasures (
            erasure_id TEXT PRIMARY KEY,
            erased_at INTEGER NOT NULL,
            erased_by TEXT NOT NULL,
            history_entries INTEGER NOT NULL,
            command_records INTEGER NOT NULL
        )
        """,
        # The version each retired agent had: the agent added again goes on
        # from it, so no version of one agent id is ever written twice.
        """
        CREATE TABLE retired_agents (
            agent_id TEXT PRIMARY KEY,
            version INTEGER NOT NULL
        ) WITHOUT ROWID
        """,
    ),
    (  # 3 -> 4: the event feed
        # Written in each change's own transaction. SQLite has one writer
        # at a time, so positions are given in commit order; AUTOINCREMENT
        # never gives one again, even once the newest is pruned or erased.
        # The customer of each event of a chat, for erasure.
        """
        CREATE TABLE events (
            position INTEGER PRIMARY KEY AUTOINCREMENT,
            recorded_at INTEGER NOT NULL,
            agent_id TEXT NOT NULL,
            customer_id TEXT,
            event TEXT NOT NULL
        )
        """,
        """
        CREATE INDEX events_by_customer ON events (customer_id)
            WHERE customer_id IS NOT NULL
        """,
        "ALTER TABLE erasures ADD COLUMN events INTEGER NOT NULL DEFAULT 0",
    ),
    (  # 4 -> 5: contact-history entries as rows (see _entries.py)
        # New entries are written as rows from now on; the entries already
        # there are rewritten, so that reports read them as fast. An entry
        # that does not decode is left as it was (reading it reports it).
        rewrite_documents_as_rows,
    ),
)
"""Migration ``n`` takes a file from schema ``n`` to ``n + 1``, one statement
(or step) at a time, all in the one transaction that opens the store."""

Synchronous = Literal["FULL", "NORMAL"]
_MAX_RECENT = 4096
_POLL_SECONDS = 0.002
_LAST_POSITION = "SELECT seq FROM sqlite_sequence WHERE name = 'events'"
_BATCH = 1000
_FILE_MODE = 0o600

_SELECT_AGENT = "SELECT version, state FROM agents WHERE agent_id = ?"
_SELECT_POLICY = "SELECT policy FROM policies WHERE policy_key = ?"
_INSERT_POLICY = "INSERT OR IGNORE INTO policies VALUES (?, ?)"
_INSERT_HISTORY = (
    "INSERT INTO history (customer_id, agent_id, chat_id, "
    "chat_started_at, wrap_up_ended_at, entry) VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_COMMAND = (
    "INSERT INTO commands (command_id, agent_id, fingerprint, outcome, "
    "recorded_at) VALUES (?, ?, ?, ?, ?)"
)
_INSERT_COMMAND_CUSTOMER = "INSERT INTO command_customers VALUES (?, ?)"
_INSERT_EVENT = (
    "INSERT INTO events (recorded_at, agent_id, customer_id, event) VALUES (?, ?, ?, ?)"
)
_INSERT_AGENT = "INSERT INTO agents VALUES (?, ?, ?, ?, NULL)"
_SELECT_RETIRED = "SELECT version FROM retired_agents WHERE agent_id = ?"
# Two claims, each walking the due index in deadline order and stopping at
# the limit: agents never claimed since their last save, then agents whose
# claim ran out unsaved. One query ordered by "claimed before" would sort
# every due row; these sort nothing.
_CLAIM_NEVER_CLAIMED = (
    "SELECT agent_id FROM agents WHERE next_deadline <= ? "
    "AND claimed_until IS NULL ORDER BY next_deadline LIMIT ?"
)
_CLAIM_RAN_OUT = (
    "SELECT agent_id FROM agents WHERE next_deadline <= ? "
    "AND claimed_until <= ? ORDER BY next_deadline LIMIT ?"
)
_PRUNE = (
    "SELECT rowid, command_id FROM commands "
    "WHERE recorded_at IS NULL OR recorded_at < ? LIMIT ?"
)
"""The records a prune deletes, with the customers they are found by."""
_ERASED_RECORDS = (
    "SELECT DISTINCT command_id FROM command_customers WHERE customer_id = ?"
)


_CODES_BY_NAME: dict[str, ErrorCode] = {
    "SQLITE_BUSY": ErrorCode.STORE_LOCKED,
    "SQLITE_LOCKED": ErrorCode.STORE_LOCKED,
    "SQLITE_READONLY": ErrorCode.STORE_READ_ONLY,
    "SQLITE_CORRUPT": ErrorCode.STORE_CORRUPT,
    "SQLITE_NOTADB": ErrorCode.STORE_CORRUPT,
}
"""sqlite3's result codes (``sqlite_errorname``, Python 3.11+) to ours; the
extended codes (``SQLITE_BUSY_SNAPSHOT``, ``SQLITE_READONLY_DBMOVED``) map
by their primary name."""

_READ_ONLY_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
"""Why a file cannot be created in a folder that cannot be written: its
permission bits (``EACCES``), the immutable attribute or a security module
(``EPERM``), a file system mounted read-only (``EROFS``)."""


def _translate(error: sqlite3.Error, path: str) -> StoreError:
    message = str(error)
    code = _code_of(error, path)
    return StoreError(code, f"SQLite store {path!r}: {message}", path=path)


def _code_of(error: sqlite3.Error, path: str) -> ErrorCode:
    lowered = str(error).lower()
    if isinstance(error, sqlite3.ProgrammingError) and "closed" in lowered:
        return ErrorCode.STORE_CLOSED
    name = getattr(error, "sqlite_errorname", None)
    if isinstance(name, str):
        primary = "_".join(name.split("_")[:2])
        if primary == "SQLITE_CANTOPEN" and _unwritable(path):
            return ErrorCode.STORE_READ_ONLY
        return _CODES_BY_NAME.get(primary, ErrorCode.STORE_UNAVAILABLE)
    return _code_from_message(lowered, path)  # Python 3.10: no error names


def _code_from_message(lowered: str, path: str) -> ErrorCode:
    if "locked" in lowered or "busy" in lowered:
        return ErrorCode.STORE_LOCKED
    if "readonly" in lowered or "read-only" in lowered:
        return ErrorCode.STORE_READ_ONLY
    if "not a database" in lowered or "malformed" in lowered:
        return ErrorCode.STORE_CORRUPT
    if "unable to open" in lowered and _unwritable(path):
        return ErrorCode.STORE_READ_ONLY
    return ErrorCode.STORE_UNAVAILABLE


def _unwritable(path: str) -> bool:
    """True when the file exists but it or its folder cannot be written."""
    folder = os.path.dirname(os.path.abspath(path))
    return os.path.exists(path) and not (
        os.access(path, os.W_OK) and os.access(folder, os.W_OK)
    )


def _prepare_file(path: str) -> None:
    """Refuse a symbolic link; create a missing file for its owner only.

    SQLite would follow a link and write the personal data wherever it
    points, and would create the file with the process's umask (often
    world-readable). Created here first, with ``O_EXCL`` (which never
    follows a link) and mode 0600, the file is SQLite's to open; SQLite
    gives the ``-wal`` and ``-shm`` files it creates the main file's mode.
    """
    for name in (path, f"{path}-wal", f"{path}-shm"):
        if os.path.islink(name):
            raise _symlink_refused(path, name)
    if os.path.lexists(path):
        return  # An existing file keeps the mode its operator gave it.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags, _FILE_MODE)
    except FileExistsError:
        if os.path.islink(path):  # made between the check and the open
            raise _symlink_refused(path, path) from None
        return  # another process created it first: the same as existing
    except OSError as error:
        raise _creation_error(error, path) from error
    try:
        if hasattr(os, "fchmod"):
            # The umask can only take bits off 0600; a umask such as 0277
            # would leave the owner unable to write, so set the mode exactly.
            os.fchmod(descriptor, _FILE_MODE)
    finally:
        os.close(descriptor)


def _symlink_refused(path: str, link: str) -> StoreError:
    return StoreError(
        ErrorCode.STORE_PATH_REFUSED,
        f"SQLite store {path!r}: {link!r} is a symbolic link; "
        "give the path of the file itself",
        path=path,
        link=link,
    )


def _creation_error(error: OSError, path: str) -> StoreError:
    """The store error for a new file that could not be created."""
    code = ErrorCode.STORE_UNAVAILABLE
    if error.errno in _READ_ONLY_ERRNOS:
        code = ErrorCode.STORE_READ_ONLY
    return StoreError(
        code,
        f"SQLite store {path!r}: cannot create the file ({error.strerror})",
        path=path,
    )


class _Translated:
    """Turns ``sqlite3`` errors raised in the block into store errors."""

    __slots__ = ("_path",)

    def __init__(self, path: str) -> None:
        self._path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, _: object) -> None:
        if isinstance(error, sqlite3.Error):
            raise _translate(error, self._path) from error


class _Transaction:
    """``BEGIN IMMEDIATE`` under the store's lock; commit, or roll back."""

    __slots__ = ("_store",)

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    def __enter__(self) -> sqlite3.Connection:
        store = self._store
        store._lock.acquire()
        try:
            store._db.execute("BEGIN IMMEDIATE")
        except BaseException as error:
            store._lock.release()
            if isinstance(error, sqlite3.Error):
                raise _translate(error, store.path) from error
            raise
        return store._db

    def __exit__(self, kind: object, error: BaseException | None, _: object) -> None:
        store = self._store
        try:
            store._db.execute("COMMIT" if error is None else "ROLLBACK")
        except sqlite3.Error as failure:
            _roll_back_quietly(store._db)
            raise _translate(failure, store.path) from failure
        finally:
            store._lock.release()
        if isinstance(error, sqlite3.Error):
            raise _translate(error, store.path) from error


def _roll_back_quietly(db: sqlite3.Connection) -> None:
    """End a transaction whose commit failed (a full disk, say): left open,
    the next write could not begin, and a read borrowing the writer would
    see what was never committed."""
    try:
        if db.in_transaction:
            db.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # the commit's own error is the one to report


class _Saving:
    """Changes saved together (all of them or none): their rows, or the one
    statement that writes a common save (``_one_statement.py``); then the
    versions written."""

    __slots__ = ("changes", "rows", "statement", "versions")

    def __init__(
        self,
        changes: tuple[Change, ...],
        rows: tuple[ChangeRows, ...] = (),
        statement: tuple[Any, ...] | None = None,
    ):
        self.changes = changes
        self.rows = rows
        self.statement = statement
        self.versions: list[int] = []


class _Reader:
    """A read connection, used only while its lock is held.

    :mod:`sqlite3` crashes the interpreter when one thread closes a
    connection another thread is reading on; so :meth:`SQLiteStore.close`
    closes each reader under its lock, once a read under way has ended,
    and a read after that fails as on any closed connection
    (``store_closed``).
    """

    __slots__ = ("db", "lock")

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.lock = threading.Lock()

    def rows(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
        """The rows of one query."""
        with self.lock:
            return self.db.execute(sql, parameters).fetchall()

    def close(self) -> None:
        with self.lock:
            self.db.close()


class _ThreadReader(threading.local):
    """Each thread's own read connection, opened at its first read."""

    reader: _Reader | None = None


_TRUNCATE_LOG = "PRAGMA wal_checkpoint(TRUNCATE)"
_DATA_VERSION = "PRAGMA data_version"


class SQLiteStore:
    """A store in one SQLite file (created if missing, for its owner only)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "FULL",
        busy_timeout: float = 10.0,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise invalid_argument("synchronous", "FULL or NORMAL", synchronous)
        self.path = os.fspath(path)
        self._busy_timeout = busy_timeout
        # The writer connection's. Not re-entrant: a read in a thread that
        # is inside a write must not borrow the writer (it would see the
        # write before its commit).
        self._lock = threading.Lock()
        self._saves = SaveQueue(self._lock)
        self._codec = StateCodec()
        self._known_policies: set[str] = set()
        # Decoded states by agent, as last written or read here: a load that
        # finds the same version skips decoding, and a save that finds the
        # version it replaces knows which chats the agent held. A version is
        # only ever written once, so an entry is never wrong, only stale.
        self._recent: dict[str, StoredAgent] = {}
        self._closed = False
        self._thread_reader = _ThreadReader()
        # Every read connection open, so close() can close them all; each
        # thread's with the thread, to close it once the thread has ended.
        self._readers_lock = threading.Lock()
        self._readers: dict[_Reader, weakref.ref[threading.Thread] | None] = {}
        _prepare_file(self.path)
        try:
            self._db = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=busy_timeout,
            )
        except sqlite3.Error as error:
            raise _translate(error, self.path) from error
        # The saves' statements run on this one cursor of the writer: the
        # connection's execute() makes a cursor at every call.
        self._writer = self._db.cursor()
        self._checkpoints = Checkpoints(
            self._open_checkpointer, self._finish_checkpoint
        )
        try:
            self._configure(synchronous, busy_timeout)
            self._migrate()
            with self._translated():
                for statement in one_statement.SETUP:
                    self._db.execute(statement)
        except BaseException:
            self._db.close()
            raise

    def _configure(self, synchronous: Synchronous, busy_timeout: float) -> None:
        with self._translated():
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._refuse_if_too_new()
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"cannot use WAL (journal mode {mode})")
            self._db.execute(f"PRAGMA synchronous = {synchronous}")
            # Whatever this store deletes or overwrites (an agent's earlier
            # state, a pruned record, an erased entry) is overwritten with
            # zeros, not left in the file's free space: an erasure must
            # leave no byte of the customer's data behind.
            self._db.execute("PRAGMA secure_delete = ON")
            # See _checkpoints.py: the store checkpoints outside the lock.
            self._db.execute(f"PRAGMA wal_autocheckpoint = {SAFETY_PAGES}")

    def _migrate(self) -> None:
        if self._refuse_if_too_new() == SCHEMA_VERSION:
            return  # up to date: opening takes no write lock, waits for no writer
        with self._transaction():  # checked again: another process may have migrated
            version = self._refuse_if_too_new()
            for number in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[number]:
                    _run_migration(self._db, statement)
            if version < SCHEMA_VERSION:
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _refuse_if_too_new(self) -> int:
        version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                ErrorCode.STORE_TOO_NEW,
                f"SQLite store {self.path!r} has schema version {version}, "
                f"newer than this library's {SCHEMA_VERSION}: upgrade the library",
                path=self.path,
                schema_version=version,
            )
        return version

    # Context managers as classes: @contextmanager costs a generator per use,
    # which shows on a path that takes a few tens of microseconds.

    def _translated(self) -> _Translated:
        return _Translated(self.path)

    def _transaction(self) -> _Transaction:
        return _Transaction(self)

    def close(self) -> None:
        """Close every connection; later calls raise ``store_closed``."""
        self._closed = True
        with self._lock:
            self._db.close()
        with self._readers_lock:
            readers, self._readers = self._readers, {}
        for reader in readers:
            reader.close()
        self._checkpoints.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Read connections

    def _reader(self) -> _Reader:
        """This thread's read connection."""
        reader = self._thread_reader.reader
        if reader is None:
            reader = self._open_reader(threading.current_thread())
            self._thread_reader.reader = reader
        return reader

    def _open_reader(self, thread: threading.Thread | None) -> _Reader:
        """A new read connection, kept for ``thread`` (``None``: until it is
        closed with :meth:`_close_reader`)."""
        with self._readers_lock:
            if self._closed:
                raise StoreError(
                    ErrorCode.STORE_CLOSED,
                    f"SQLite store {self.path!r} is closed",
                    path=self.path,
                )
            self._close_readers_of_ended_threads()
            try:
                db = sqlite3.connect(
                    self.path,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=self._busy_timeout,
                )
                db.execute("PRAGMA query_only = ON")
            except sqlite3.Error as error:
                raise _translate(error, self.path) from error
            reader = _Reader(db)
            self._readers[reader] = None if thread is None else weakref.ref(thread)
        return reader

    def _open_checkpointer(self) -> sqlite3.Connection:
        """The connection the store's checkpoints run on (``_checkpoints.py``)."""
        return sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self._busy_timeout,
        )

    def _finish_checkpoint(self) -> None:
        """Copy what the log holds still, no save writing meanwhile: the
        next write starts the log again (see ``_checkpoints.py``)."""
        with self._lock:
            self._db.execute(CHECKPOINT).fetchall()

    def _close_readers_of_ended_threads(self) -> None:
        for reader, thread in list(self._readers.items()):
            if thread is not None and not _alive(thread()):
                del self._readers[reader]
                reader.close()

    def _close_reader(self, reader: _Reader) -> None:
        with self._readers_lock:
            self._readers.pop(reader, None)
        reader.close()

    # Agents

    def _read(self, sql: str, parameters: tuple[Any, ...]) -> list[Any]:
        """The rows of one query, on the writer connection if it is idle,
        else on the thread's own: never waiting for a writer.

        The writer is worth borrowing: SQLite drops a connection's page
        cache whenever another connection has written, so a read on a
        connection of its own after every save re-reads its pages (a few
        microseconds a command), while the writer's cache stays warm.
        """
        lock = self._lock
        try:
            if lock.acquire(blocking=False):
                try:
                    return self._db.execute(sql, parameters).fetchall()
                finally:
                    lock.release()
            return self._reader().rows(sql, parameters)
        except sqlite3.Error as error:
            raise _translate(error, self.path) from error

    def load(self, agent_id: str) -> StoredAgent | None:
        """The agent's state and version, or ``None``; never waits for a writer."""
        check_identifier(agent_id, "agent_id")
        rows = self._read(_SELECT_AGENT, (agent_id,))
        return self._stored(agent_id, rows[0]) if rows else None

    def load_remembered(self, agent_id: str) -> StoredAgent | None:
        """The agent as this store last saved or loaded it, without reading
        the file: it may be stale
        (see :class:`~webchat_wrapup.ports.RemembersStates`)."""
        check_identifier(agent_id, "agent_id")
        return self._recent.get(agent_id)

    def load_settled(self, agent_id: str) -> StoredAgent | None:
        """The agent once every save of it under way anywhere has finished.

        Read in ``BEGIN IMMEDIATE``, which waits for the file's write lock:
        a save under way in any thread or process holds it until it commits
        or rolls back.
        """
        check_identifier(agent_id, "agent_id")
        with self._transaction() as db:
            row = db.execute(_SELECT_AGENT, (agent_id,)).fetchone()
        return None if row is None else self._stored(agent_id, row)

    def _stored(self, agent_id: str, row: Sequence[Any]) -> StoredAgent:
        version, text = row
        recent = self._recent.get(agent_id)
        if recent is not None and recent.version == version:
            return recent  # The state this store wrote or read at that version.
        state = decode_state(
            self._codec, agent_id, version, text, self._fetch_policy, self._damaged
        )
        stored = StoredAgent(state, version)
        self._remember(agent_id, stored)
        return stored

    def _damaged(self, table: str, key: object, reason: str) -> StoreError:
        return StoreError(
            ErrorCode.STORE_CORRUPT,
            f"SQLite store {self.path!r}: {table} row {key!r} is damaged ({reason})",
            path=self.path,
            table=table,
            key=key,
        )

    def _remember(self, agent_id: str, stored: StoredAgent) -> None:
        if len(self._recent) >= _MAX_RECENT:
            self._recent.clear()
        self._recent[agent_id] = stored

    def _fetch_policy(self, key: str) -> str:
        """A policy's JSON; committed before any row that names it, and
        never changed, so any connection may read it."""
        rows = self._read(_SELECT_POLICY, (key,))
        return _policy_text(rows, key, self.path)

    def _fetch_policy_in(self, db: sqlite3.Cursor) -> Callable[[str], str]:
        """Policies read inside the writer's transaction (which holds its lock)."""

        def fetch(key: str) -> str:
            with self._translated():  # a driver error is not damage
                rows = db.execute(_SELECT_POLICY, (key,)).fetchall()
            return _policy_text(rows, key, self.path)

        return fetch

    def save(self, change: Change) -> None:
        """Write ``change`` atomically if the agent is still at its version."""
        check_change(change)
        statement = one_statement.parameters(
            change, self._codec, self._known_policies, self._recent.get(change.agent_id)
        )
        lock = self._lock
        if self._saves.writing or not lock.acquire(blocking=False):
            if statement is None:  # with other threads' saves, perhaps
                self._save(_Saving((change,), (self._change_rows(change),)))
            else:
                self._save(_Saving((change,), statement=statement))
            return
        try:  # nobody else writing: nothing to wait for, nobody to write for
            self._write_alone(change, statement)
        finally:
            lock.release()
        self._checkpoints.saved(1)

    def _write_alone(self, change: Change, statement: tuple[Any, ...] | None) -> None:
        """Write one change in a transaction of its own (the lock held): the
        common save as one statement (``_one_statement.py``), else its rows."""
        if statement is not None:
            self._write_in_one_statement(change, statement)
            return
        rows = self._change_rows(change)
        writer = self._writer
        try:
            writer.execute("BEGIN IMMEDIATE")
            version = self._write_change(writer, change, rows)
            writer.execute("COMMIT")
        except BaseException as error:
            _roll_back_quietly(self._db)
            if isinstance(error, sqlite3.Error):
                raise _translate(error, self.path) from error
            raise
        self._saved_change(change, rows, version)

    def _write_in_one_statement(
        self, change: Change, parameters: tuple[Any, ...]
    ) -> None:
        """Write the common save, a transaction of its own (the lock held)."""
        try:
            version = self._write_statement(self._writer, change, parameters)
        except sqlite3.Error as error:
            raise _translate(error, self.path) from error
        self._remember(change.agent_id, StoredAgent(change.state, version))

    def _write_statement(
        self, writer: sqlite3.Cursor, change: Change, parameters: tuple[Any, ...]
    ) -> int:
        """Run the common save's statement (``_one_statement.py``); the
        version written."""
        try:
            writer.execute(one_statement.SAVE, parameters)
        except sqlite3.IntegrityError as error:
            refusal = one_statement.refusal(error, change)
            if refusal is None:
                raise
            raise refusal from None
        return change.expected_version + 1

    def save_all(self, changes: Sequence[Change]) -> None:
        """Write every change or none, in one transaction: each is checked
        as :meth:`save` checks one, in order, so a chat one change lets go
        of may be taken by a later one (a transfer)."""
        changes = check_changes(changes)
        one_change_per_agent(changes)
        if not changes:
            return
        rows = tuple(self._change_rows(c) for c in changes)
        self._save(_Saving(changes, rows))

    def _save(self, saving: _Saving) -> None:
        """Write the changes in a transaction of their own, or in one with
        the saves other threads queued meanwhile (see ``_group_commit``)."""
        save = QueuedSave(saving)
        self._saves.run(save, self._write_saves)
        if save.error is None:  # committed; the writer's lock let go
            self._checkpoints.saved(len(saving.changes))
        save.answer()

    def _write_saves(
        self, batch: list[QueuedSave], more: Callable[[], list[QueuedSave]]
    ) -> None:
        """Write the batch, and the saves queued until the commit, in one
        transaction (the writer's lock is held); each save of several
        behind a savepoint of its own."""
        writer = self._writer
        several = len(batch) > 1
        try:
            writer.execute("BEGIN IMMEDIATE")
            for save in batch:
                self._write_save(writer, save, several)
            while extra := more():
                batch += extra
                for save in extra:
                    self._write_save(writer, save, True)
            writer.execute("COMMIT")
        except (sqlite3.Error, WrapUpError) as error:
            _roll_back_quietly(self._db)
            for save in batch:
                save.error = (
                    _translate(error, self.path)
                    if isinstance(error, sqlite3.Error)
                    else error  # a single save's refusal
                )
        except BaseException:
            _roll_back_quietly(self._db)
            raise
        for save in batch:
            # Only once committed: a rolled-back save must leave no trace
            # here; and before it is done, so its thread finds it remembered.
            if save.error is None:
                self._saved(save.work)
            save.done = True

    def _write_save(
        self, writer: sqlite3.Cursor, save: QueuedSave, several: bool
    ) -> None:
        saving: _Saving = save.work
        if saving.statement is not None:
            # A refused statement undoes itself: the others stand, with no
            # savepoint.
            try:
                change = saving.changes[0]
                saving.versions = [
                    self._write_statement(writer, change, saving.statement)
                ]
            except WrapUpError as error:
                save.error = error
            return
        if several:
            writer.execute("SAVEPOINT save")
        try:
            saving.versions = [
                self._write_change(writer, change, rows)
                for change, rows in zip(saving.changes, saving.rows, strict=True)
            ]
        except WrapUpError as error:
            if not several:
                raise  # the whole transaction rolls back
            writer.execute("ROLLBACK TO save")
            writer.execute("RELEASE save")
            save.error = error
            return
        if several:
            writer.execute("RELEASE save")

    def _saved(self, saving: _Saving) -> None:
        if saving.statement is not None:
            (change,), (version,) = saving.changes, saving.versions
            self._remember(change.agent_id, StoredAgent(change.state, version))
            return
        changes = zip(saving.changes, saving.rows, saving.versions, strict=True)
        for change, rows, version in changes:
            self._saved_change(change, rows, version)

    def _saved_change(self, change: Change, rows: ChangeRows, version: int) -> None:
        """Remember what a committed change wrote."""
        if rows.policies:
            self._known_policies.update(key for key, _ in rows.policies)
        self._remember(change.agent_id, StoredAgent(change.state, version))

    def _change_rows(self, change: Change) -> ChangeRows:
        """``change`` as rows, its history entries as rows (``_entries.py``)."""
        return change_rows(change, self._codec, self._known_policies, entry_to_text)

    def _write_change(
        self, writer: sqlite3.Cursor, change: Change, rows: ChangeRows
    ) -> int:
        """Write one change in the writer's transaction; the version written."""
        held = self._held_before(change)
        if held is None:
            held = self._stored_holding_keys(writer, change)
        version = self._write_agent(writer, change, rows)
        command = rows.command
        if command is not None:
            try:
                writer.execute(_INSERT_COMMAND, (*command, rows.recorded_at))
            except sqlite3.IntegrityError:
                raise CommandIdReused(command[0]) from None
            customers = rows.record_customers
            if customers:
                _insert(
                    writer,
                    _INSERT_COMMAND_CUSTOMER,
                    [(c, command[0]) for c in customers],
                )
        self._hold(writer, change, held)
        if rows.policies:
            writer.executemany(_INSERT_POLICY, rows.policies)
        if rows.history:
            _insert(writer, _INSERT_HISTORY, rows.history)
        if rows.events:
            _insert(writer, _INSERT_EVENT, rows.events)
        return version

    def _held_before(self, change: Change) -> dict[str, str] | None:
        """The chats the agent held at the version it is saved from, if known
        without reading the file (``None``: read them in the transaction)."""
        if change.expected_version == 0:
            return {}
        recent = self._recent.get(change.agent_id)
        if recent is None or recent.version != change.expected_version:
            return None
        return held_chats(recent.state)

    def _stored_holding_keys(
        self, db: sqlite3.Cursor, change: Change
    ) -> dict[str, str]:
        """The chats of the stored state the change replaces (none if it is
        not at the expected version: the write then conflicts)."""
        row = db.execute(_SELECT_AGENT, (change.agent_id,)).fetchone()
        if row is None or row[0] != change.expected_version:
            return {}
        fetch = self._fetch_policy_in(db)
        state = decode_state(
            self._codec, change.agent_id, row[0], row[1], fetch, self._damaged
        )
        return held_chats(state)

    def _hold(self, db: sqlite3.Cursor, change: Change, before: dict[str, str]) -> None:
        """Keep ``held_chats`` in step; refuse a chat another agent holds.

        Only a change in the agent's chats touches the table, so a save that
        keeps them (an extension, a classification) costs no extra statement.
        A chat id held again for another customer (the chat it named
        finished) moves its row to that customer.
        """
        agent_id = change.agent_id
        after = held_chats(change.state)
        if after == before:
            return
        released = before.keys() - after.keys()
        if released:
            # By agent too: a chat two agents held under schema 1 keeps its
            # row for the one the migration chose.
            db.executemany(
                "DELETE FROM held_chats WHERE chat_id = ? AND agent_id = ?",
                [(key, agent_id) for key in released],
            )
        moved = [
            key for key in after.keys() & before.keys() if after[key] != before[key]
        ]
        if moved:
            db.executemany(
                "UPDATE held_chats SET customer_id = ? WHERE chat_id = ? "
                "AND agent_id = ?",
                [(after[key], key, agent_id) for key in moved],
            )
        for chat in change.state.chats:
            if chat.holding_key not in before:
                self._take(db, agent_id, chat)

    def _take(self, db: sqlite3.Cursor, agent_id: str, chat: Chat) -> None:
        """Hold ``chat`` for the agent; refused if another agent holds it."""
        key = chat.holding_key
        try:
            db.execute(
                "INSERT INTO held_chats VALUES (?, ?, ?)",
                (key, agent_id, chat.customer_id),
            )
        except sqlite3.IntegrityError:
            (holder,) = db.execute(
                "SELECT agent_id FROM held_chats WHERE chat_id = ?", (key,)
            ).fetchone()
            raise CommandRefused(
                ErrorCode.CHAT_HELD_BY_ANOTHER_AGENT,
                "save",
                agent_id,
                chat.chat_id,
                f"agent {holder!r} holds it",
            ) from None

    def _write_agent(self, db: sqlite3.Cursor, change: Change, rows: ChangeRows) -> int:
        """Insert or update the agent's row; the version written."""
        version = change.expected_version
        if version == 0:
            return self._insert_agent(db, change, rows)
        cursor = db.execute(
            "UPDATE agents SET version = ?, state = ?, next_deadline = ?, "
            "claimed_until = NULL WHERE agent_id = ? AND version = ?",
            (version + 1, rows.state, rows.due, change.agent_id, version),
        )
        if cursor.rowcount != 1:
            raise VersionConflict(change.agent_id, version)
        return version + 1

    def _insert_agent(
        self, db: sqlite3.Cursor, change: Change, rows: ChangeRows
    ) -> int:
        """A new agent at version 1, or one added again after it was retired
        at the version after that one (a version is never written twice)."""
        agent_id = change.agent_id
        retired = db.execute(_SELECT_RETIRED, (agent_id,)).fetchone()
        version = 1 if retired is None else int(retired[0]) + 1
        try:
            db.execute(_INSERT_AGENT, (agent_id, version, rows.state, rows.due))
        except sqlite3.IntegrityError:
            raise VersionConflict(agent_id, 0) from None
        if retired is not None:
            db.execute("DELETE FROM retired_agents WHERE agent_id = ?", (agent_id,))
        return version

    # Command records

    def find_command(self, command_id: str) -> CommandRecord | None:
        """The record saved with ``command_id``, if any."""
        check_identifier(command_id, "command_id")
        rows = self._read(
            "SELECT agent_id, fingerprint, outcome, recorded_at "
            "FROM commands WHERE command_id = ?",
            (command_id,),
        )
        return decode_record(command_id, rows[0], self._damaged) if rows else None

    def prune_commands(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` records recorded before ``before`` (or never
        dated); how many were deleted."""
        check_prune(before, limit)
        if limit < 1:
            return 0
        with self._transaction() as db:
            old = db.execute(_PRUNE, (instant_to_micros(before), limit)).fetchall()
            db.executemany(
                "DELETE FROM command_customers WHERE command_id = ?",
                [(command_id,) for _, command_id in old],
            )
            db.executemany(
                "DELETE FROM commands WHERE rowid = ?", [(rowid,) for rowid, _ in old]
            )
        return len(old)

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
        in one transaction, then checkpoint the write-ahead log.

        Deleted rows are overwritten with zeros (``secure_delete``, on for
        every write of this store); the checkpoint copies the erasing
        transaction into the file and truncates the ``-wal``, whose earlier
        frames still held the rows. It waits up to the busy timeout for
        readers of older snapshots; should one still be reading, the old
        frames stay in the ``-wal`` until the next checkpoint that completes.
        """
        check_erasure(customer_id, erasure_id, erased_at, erased_by)
        with self._transaction() as db:
            held = db.execute(
                "SELECT agent_id, chat_id FROM held_chats WHERE customer_id = ? "
                "ORDER BY agent_id, chat_id LIMIT 1",
                (customer_id,),
            ).fetchone()
            if held is not None:
                raise customer_chat_held(held[0], held_chat_id(held[1]))
            entries = db.execute(
                "DELETE FROM history WHERE customer_id = ?", (customer_id,)
            ).rowcount
            records = [row[0] for row in db.execute(_ERASED_RECORDS, (customer_id,))]
            # Each record's links to every customer it names, not only this one.
            db.executemany(
                "DELETE FROM command_customers WHERE command_id = ?",
                [(command_id,) for command_id in records],
            )
            db.executemany(
                "DELETE FROM commands WHERE command_id = ?",
                [(command_id,) for command_id in records],
            )
            events = db.execute(
                "DELETE FROM events WHERE customer_id = ?", (customer_id,)
            ).rowcount
            erasure = ErasureRecord(
                erasure_id, erased_at, erased_by, entries, len(records), events
            )
            db.execute(
                "INSERT INTO erasures VALUES (?, ?, ?, ?, ?, ?)",
                (
                    erasure_id,
                    instant_to_micros(erased_at),
                    erased_by,
                    entries,
                    len(records),
                    events,
                ),
            )
        self._checkpoint()
        return erasure

    def _checkpoint(self) -> None:
        """Copy the log into the file and truncate it, so no deleted bytes
        are left in it. SQLite answers "busy" at once, without waiting, while
        another connection checkpoints: the store's own are paused, and
        another process's are waited out for up to the busy timeout."""
        deadline = time.monotonic() + self._busy_timeout
        with self._checkpoints.paused():
            while True:
                with self._lock, self._translated():
                    ((busy, _, _),) = self._db.execute(_TRUNCATE_LOG).fetchall()
                if not busy:
                    return
                if time.monotonic() >= deadline:
                    raise StoreError(
                        ErrorCode.STORE_LOCKED,
                        f"SQLite store {str(self.path)!r}: the erasure is saved, "
                        "but another connection kept checkpointing the "
                        "write-ahead log, so its deleted bytes may remain in it: "
                        "erase again once it is idle",
                        path=str(self.path),
                    )
                time.sleep(0.01)

    def erasures(self) -> tuple[ErasureRecord, ...]:
        """Every erasure record, oldest first."""
        rows = self._read(
            "SELECT erasure_id, erased_at, erased_by, history_entries, "
            "command_records, events FROM erasures ORDER BY erased_at, erasure_id",
            (),
        )
        return tuple(decode_erasure(row, self._damaged) for row in rows)

    def retire(self, agent_id: str, expected_version: int) -> None:
        """Remove the agent if it is still at ``expected_version``; remember
        the version, so the agent added again goes on from it."""
        check_identifier(agent_id, "agent_id")
        check_version(expected_version)
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM agents WHERE agent_id = ? AND version = ?",
                (agent_id, expected_version),
            )
            if cursor.rowcount != 1:
                raise VersionConflict(agent_id, expected_version)
            db.execute("DELETE FROM held_chats WHERE agent_id = ?", (agent_id,))
            db.execute(
                "INSERT OR REPLACE INTO retired_agents VALUES (?, ?)",
                (agent_id, expected_version),
            )
        self._recent.pop(agent_id, None)

    # Contact history

    def history(
        self, customer_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> HistoryPage:
        """A page of the customer's history, by wrap-up end then write order."""
        check_identifier(customer_id, "customer_id")
        check_limit(limit)
        ended, sequence = decode_cursor(cursor)
        rows = self._read(
            "SELECT entry, wrap_up_ended_at, sequence FROM history "
            "WHERE customer_id = ? AND (wrap_up_ended_at, sequence) > (?, ?) "
            "ORDER BY wrap_up_ended_at, sequence LIMIT ?",
            (customer_id, ended, sequence, limit + 1),
        )
        return checked_history_page(rows, limit, self._damaged)

    def all_history(self) -> Iterator[ContactHistoryEntry]:
        """Every contact-history entry, by wrap-up end (for reports).

        Read in batches on a connection of its own, from one snapshot (WAL),
        so a long report neither holds the whole history in memory nor
        waits behind, or blocks, the store's writers.
        """
        batches = self._batches(
            "SELECT entry, sequence FROM history ORDER BY wrap_up_ended_at, sequence"
        )
        for rows in batches:
            for row in rows:
                yield decode_entry(row[0], row[1], self._damaged)

    # The feeds

    def events(self, after: int = 0, limit: int = 100) -> list[StoredEvent]:
        """Up to ``limit`` events after position ``after``, in order."""
        check_feed_read(after, limit)
        rows = self._read(
            "SELECT position, recorded_at, event FROM events "
            "WHERE position > ? ORDER BY position LIMIT ?",
            (after, limit),
        )
        return [decode_event(p, at, text, self._damaged) for p, at, text in rows]

    def last_position(self) -> int:
        """The newest event's position (0 for none yet)."""
        rows = self._read(_LAST_POSITION, ())
        return int(rows[0][0]) if rows else 0

    def wait_for_events(self, after: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an event after ``after``.

        Polls ``PRAGMA data_version`` on the thread's own connection, which
        changes when any other connection, in any process, commits: a few
        microseconds a poll, no page read, until something was written.
        """
        check_feed_read(after, 1)
        check_wait(timeout)
        give_up = time.monotonic() + timeout
        with self._translated():  # a store closed meanwhile: store_closed
            reader = self._reader()
            while True:
                seen = reader.rows(_DATA_VERSION)[0][0]
                rows = reader.rows(_LAST_POSITION)
                if rows and int(rows[0][0]) > after:
                    return True
                while reader.rows(_DATA_VERSION)[0][0] == seen:
                    left = give_up - time.monotonic()
                    if left <= 0:
                        return False
                    time.sleep(min(_POLL_SECONDS, left))

    def prune_events(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` of the oldest events recorded before
        ``before``, stopping at the first younger one."""
        check_prune(before, limit)
        if limit < 1:
            return 0
        with self._transaction() as db:
            rows = db.execute(
                "SELECT position, recorded_at FROM events ORDER BY position LIMIT ?",
                (limit,),
            ).fetchall()
            cutoff = instant_to_micros(before)
            old = 0
            for _, recorded_at in rows:
                if recorded_at >= cutoff:
                    break
                old += 1
            if old:
                db.execute(
                    "DELETE FROM events WHERE position <= ?", (rows[old - 1][0],)
                )
        return old

    def history_changes(self, after: int = 0, limit: int = 100) -> list[HistoryChange]:
        """Up to ``limit`` entries written after position ``after``, in
        commit order (the history's AUTOINCREMENT sequence: one writer at
        a time gives it in commit order)."""
        check_feed_read(after, limit)
        rows = self._read(
            "SELECT sequence, entry FROM history WHERE sequence > ? "
            "ORDER BY sequence LIMIT ?",
            (after, limit),
        )
        return [decode_history_change(p, text, self._damaged) for p, text in rows]

    def history_rows(self) -> Generator[list[Any], None, None]:
        """Every contact-history entry as a row (``_entries.ROW_FIELDS``),
        for reports: in write order (sorting a year's entries by wrap-up
        end would cost more than counting them), from one snapshot as
        :meth:`all_history` reads. A row is handed over as stored, not
        decoded into an entry, so its values are unchecked; text that is
        neither a row nor an entry is ``store_corrupt``, naming it."""
        for batch in self._batches(
            "SELECT entry, sequence FROM history ORDER BY sequence"
        ):
            yield from decode_rows(batch, self._damaged)

    def _batches(self, sql: str) -> Generator[list[Any], None, None]:
        """The rows of ``sql`` in batches, from one snapshot, on a read
        connection of their own (closed once read, or given up)."""
        reader = self._open_reader(None)
        try:
            with self._translated():
                with reader.lock:
                    reader.db.execute("BEGIN")  # one snapshot for the whole read
                    cursor = reader.db.execute(sql)
                while True:
                    with reader.lock:  # a close() waits for the batch
                        batch = cursor.fetchmany(_BATCH)
                    if not batch:
                        return
                    yield batch
        finally:
            self._close_reader(reader)

    # Due wrap-ups

    def claim_due(self, at: datetime, limit: int, lease: timedelta) -> list[str]:
        """Claim up to ``limit`` agents with a wrap-up due at ``at``: agents
        never claimed since their last save first, then claims run out;
        each group by earliest deadline."""
        check_claim(at, limit, lease)
        now = instant_to_micros(at)
        until = instant_to_micros(at + lease)
        with self._transaction() as db:
            rows = db.execute(_CLAIM_NEVER_CLAIMED, (now, limit)).fetchall()
            if len(rows) < limit:
                rows += db.execute(
                    _CLAIM_RAN_OUT, (now, now, limit - len(rows))
                ).fetchall()
            agents = [row[0] for row in rows]
            db.executemany(
                "UPDATE agents SET claimed_until = ? WHERE agent_id = ?",
                [(until, agent_id) for agent_id in agents],
            )
        return agents


def _insert(writer: sqlite3.Cursor, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run ``sql`` for each row: a single row by execute(), which costs less."""
    if len(rows) == 1:
        writer.execute(sql, rows[0])
    else:
        writer.executemany(sql, rows)


def _run_migration(db: sqlite3.Connection, statement: Migration) -> None:
    if isinstance(statement, str):
        db.execute(statement)
    else:
        statement(db)


def _policy_text(rows: list[Any], key: str, path: str) -> str:
    if not rows:
        raise StoreError(
            ErrorCode.STORE_CORRUPT,
            f"SQLite store {path!r} lacks policy {key!r}",
            path=path,
        )
    return str(rows[0][0])


def _alive(thread: threading.Thread | None) -> bool:
    return thread is not None and thread.is_alive()
