"""The SQLite store: the embedded default, one file, safe across processes.

Every write runs in ``BEGIN IMMEDIATE`` on a connection with
``isolation_level=None``, so the write lock is taken before anything is
read and two processes can never both write from the same stale read.
The file is in WAL mode with a busy timeout; ``synchronous`` is ``FULL`` by
default (a committed command survives power loss) and may be ``NORMAL``
(it survives a crash of the process, and is several times faster).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Literal

from .._core._errors import (
    CommandIdReused,
    ErrorCode,
    StoreError,
    VersionConflict,
)
from .._core._history import ContactHistoryEntry
from ..ports import Change, CommandRecord, HistoryPage, StoredAgent
from ._codec import StateCodec, entry_from_json, instant_to_micros
from ._paging import check_limit, decode_cursor
from ._rows import ChangeRows, change_rows, command_record, history_page

SCHEMA_VERSION = 1
"""The newest schema this version of the library writes (``user_version``)."""

_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE agents (
        agent_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        state TEXT NOT NULL,
        next_deadline INTEGER,
        claimed_until INTEGER
    );
    CREATE INDEX agents_due ON agents (next_deadline)
        WHERE next_deadline IS NOT NULL;
    CREATE TABLE policies (
        policy_key TEXT PRIMARY KEY,
        policy TEXT NOT NULL
    );
    CREATE TABLE history (
        sequence INTEGER PRIMARY KEY AUTOINCREMENT,
        customer_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        chat_started_at INTEGER NOT NULL,
        wrap_up_ended_at INTEGER NOT NULL,
        entry TEXT NOT NULL
    );
    CREATE INDEX history_by_customer
        ON history (customer_id, wrap_up_ended_at, sequence);
    CREATE TABLE commands (
        command_id TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        outcome TEXT NOT NULL
    );
    """,
)

Synchronous = Literal["FULL", "NORMAL"]
_MAX_RECENT = 4096
_BATCH = 1000

_INSERT_POLICY = "INSERT OR IGNORE INTO policies VALUES (?, ?)"
_INSERT_HISTORY = (
    "INSERT INTO history (customer_id, agent_id, chat_id, "
    "chat_started_at, wrap_up_ended_at, entry) VALUES (?, ?, ?, ?, ?, ?)"
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
            raise _translate(failure, store.path) from failure
        finally:
            store._lock.release()
        if isinstance(error, sqlite3.Error):
            raise _translate(error, store.path) from error


class SQLiteStore:
    """A store in one SQLite file (created if missing)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "FULL",
        busy_timeout: float = 10.0,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        self.path = os.fspath(path)
        self._busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._codec = StateCodec()
        self._known_policies: set[str] = set()
        # Decoded states by agent, as last written or read here: a load that
        # finds the same version skips decoding.
        self._recent: dict[str, StoredAgent] = {}
        try:
            self._db = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=busy_timeout,
            )
        except sqlite3.Error as error:
            raise _translate(error, self.path) from error
        try:
            self._configure(synchronous, busy_timeout)
            self._migrate()
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

    def _migrate(self) -> None:
        with self._transaction():
            version = self._refuse_if_too_new()
            for number in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
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
        """Close the connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def load(self, agent_id: str) -> StoredAgent | None:
        """The agent's state and version, or ``None``."""
        with self._lock, self._translated():
            row = self._db.execute(
                "SELECT version, state FROM agents WHERE agent_id = ?", (agent_id,)
            ).fetchone()
            if row is None:
                return None
            recent = self._recent.get(agent_id)
            if recent is not None and recent.version == row[0]:
                return recent  # The state this store wrote or read at that version.
            state = self._codec.decode(row[1], self._fetch_policy)
            stored = StoredAgent(state, row[0])
            self._remember(agent_id, stored)
            return stored

    def _remember(self, agent_id: str, stored: StoredAgent) -> None:
        if len(self._recent) >= _MAX_RECENT:
            self._recent.clear()
        self._recent[agent_id] = stored

    def _fetch_policy(self, key: str) -> str:
        row = self._db.execute(
            "SELECT policy FROM policies WHERE policy_key = ?", (key,)
        ).fetchone()
        if row is None:
            raise StoreError(
                ErrorCode.STORE_CORRUPT,
                f"SQLite store {self.path!r} lacks policy {key!r}",
                path=self.path,
            )
        return str(row[0])

    def save(self, change: Change) -> None:
        """Write ``change`` atomically if the agent is still at its version."""
        rows = change_rows(change, self._codec, self._known_policies)
        with self._transaction() as db:
            self._write_agent(db, change, rows)
            if rows.policies:
                db.executemany(_INSERT_POLICY, rows.policies)
            if rows.history:
                db.executemany(_INSERT_HISTORY, rows.history)
            if rows.command is not None:
                try:
                    db.execute("INSERT INTO commands VALUES (?, ?, ?, ?)", rows.command)
                except sqlite3.IntegrityError:
                    raise CommandIdReused(rows.command[0]) from None
        self._known_policies.update(key for key, _ in rows.policies)
        with self._lock:
            self._remember(
                change.agent_id, StoredAgent(change.state, change.expected_version + 1)
            )

    def _write_agent(
        self, db: sqlite3.Connection, change: Change, rows: ChangeRows
    ) -> None:
        version = change.expected_version
        if version == 0:
            try:
                db.execute(
                    "INSERT INTO agents VALUES (?, 1, ?, ?, NULL)",
                    (change.agent_id, rows.state, rows.due),
                )
            except sqlite3.IntegrityError:
                raise VersionConflict(change.agent_id, version) from None
            return
        cursor = db.execute(
            "UPDATE agents SET version = ?, state = ?, next_deadline = ?, "
            "claimed_until = NULL WHERE agent_id = ? AND version = ?",
            (version + 1, rows.state, rows.due, change.agent_id, version),
        )
        if cursor.rowcount != 1:
            raise VersionConflict(change.agent_id, version)

    def find_command(self, command_id: str) -> CommandRecord | None:
        """The record saved with ``command_id``, if any."""
        with self._lock, self._translated():
            row = self._db.execute(
                "SELECT agent_id, fingerprint, outcome FROM commands "
                "WHERE command_id = ?",
                (command_id,),
            ).fetchone()
        return command_record(command_id, row)

    def history(
        self, customer_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> HistoryPage:
        """A page of the customer's history, by wrap-up end then write order."""
        check_limit(limit)
        ended, sequence = decode_cursor(cursor)
        with self._lock, self._translated():
            rows = self._db.execute(
                "SELECT entry, wrap_up_ended_at, sequence FROM history "
                "WHERE customer_id = ? AND (wrap_up_ended_at, sequence) > (?, ?) "
                "ORDER BY wrap_up_ended_at, sequence LIMIT ?",
                (customer_id, ended, sequence, limit + 1),
            ).fetchall()
        return history_page(rows, limit)

    def all_history(self) -> Iterator[ContactHistoryEntry]:
        """Every contact-history entry, by wrap-up end (for reports).

        Read in batches on a connection of its own, from one snapshot (WAL),
        so a long report neither holds the whole history in memory nor
        waits behind, or blocks, the store's writers.
        """
        with self._lock, self._translated():
            self._db.execute("SELECT 1")  # a closed store refuses here
        reader = self._reader()
        try:
            with self._translated():
                cursor = reader.execute(
                    "SELECT entry FROM history ORDER BY wrap_up_ended_at, sequence"
                )
                while rows := cursor.fetchmany(_BATCH):
                    for row in rows:
                        yield entry_from_json(row[0])
        finally:
            reader.close()

    def _reader(self) -> sqlite3.Connection:
        with self._translated():
            reader = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False
            )
            reader.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            reader.execute("BEGIN")  # one snapshot for the whole read
        return reader

    def claim_due(self, at: datetime, limit: int, lease: timedelta) -> list[str]:
        """Claim up to ``limit`` agents with a wrap-up due at ``at``."""
        now = instant_to_micros(at)
        until = instant_to_micros(at + lease)
        with self._transaction() as db:
            rows = db.execute(
                "SELECT agent_id FROM agents WHERE next_deadline <= ? "
                "AND (claimed_until IS NULL OR claimed_until <= ?) "
                "ORDER BY next_deadline LIMIT ?",
                (now, now, limit),
            ).fetchall()
            agents = [row[0] for row in rows]
            db.executemany(
                "UPDATE agents SET claimed_until = ? WHERE agent_id = ?",
                [(until, agent_id) for agent_id in agents],
            )
        return agents
