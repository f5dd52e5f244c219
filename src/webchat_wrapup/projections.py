"""Read models kept from the event feed, each event applied exactly once.

A projection (a supervisor's wallboard figures, a CRM export, a search
index) stores what it makes of the events in a SQLite file of its own. The
:class:`ProjectionRunner` commits the projection's writes for a batch of
events and the position of the last one in the same transaction (a
*tracking* row): should the process die half-way, the batch is rolled back
as a whole and applied again from the position committed, so no event is
lost and none counts twice.

The same pattern works in any database with transactions: keep the
position in a table next to the projection's data, and update both in one
transaction.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Protocol

from ._core._errors import invalid_argument
from .feed import DEFAULT_WAIT
from .ports import Store, StoredEvent
from .stores._paging import MAX_PAGE, check_limit

_TRACKING = """
CREATE TABLE IF NOT EXISTS tracking (
    projection TEXT PRIMARY KEY,
    position INTEGER NOT NULL
)
"""


class Projection(Protocol):
    """What a runner needs of a projection."""

    name: str
    """Its name, the key of its tracking row (one file may hold several)."""

    def create(self, db: sqlite3.Connection) -> None:
        """Create the projection's tables if missing (run in a transaction)."""

    def apply(self, db: sqlite3.Connection, stored: StoredEvent) -> None:
        """Apply one event, in the runner's open transaction on ``db``."""


class ProjectionRunner:
    """Applies a store's events to a projection kept in the SQLite file at
    ``path``, each event once, in feed order.

    Not shared between threads: one runner per follower thread (another
    thread may read the file through a connection of its own).
    """

    def __init__(self, path: str | Path, projection: Projection) -> None:
        if not isinstance(path, (str, Path)):
            raise invalid_argument("path", "a file path", path)
        name = getattr(projection, "name", None)
        if not isinstance(name, str) or not name:
            raise invalid_argument("projection", "a projection with a name", name)
        self.projection = projection
        self._db = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode = WAL")
        with self._transaction():
            self._db.execute(_TRACKING)
            projection.create(self._db)
            self._db.execute(
                "INSERT OR IGNORE INTO tracking VALUES (?, 0)", (projection.name,)
            )

    @property
    def db(self) -> sqlite3.Connection:
        """The runner's connection, for reading the projection's tables."""
        return self._db

    @property
    def position(self) -> int:
        """The position of the last event applied and committed."""
        row = self._db.execute(
            "SELECT position FROM tracking WHERE projection = ?",
            (self.projection.name,),
        ).fetchone()
        return int(row[0])

    def catch_up(self, store: Store, limit: int = MAX_PAGE) -> int:
        """Apply up to ``limit`` pending events in one transaction with
        their tracking row; how many were applied. An event the projection
        fails on rolls the whole batch back and is raised."""
        check_limit(limit)
        events = store.events(self.position, limit)
        if events:
            self._apply(events)
        return len(events)

    def run(
        self,
        store: Store,
        stop: threading.Event,
        *,
        batch: int = 100,
        wait: float = DEFAULT_WAIT,
    ) -> None:
        """Keep the projection current until ``stop`` is set."""
        check_limit(batch)
        while not stop.is_set():
            if self.catch_up(store, batch) < batch:
                store.wait_for_events(self.position, wait)

    def close(self) -> None:
        """Close the projection's file."""
        self._db.close()

    def _apply(self, events: list[StoredEvent]) -> None:
        with self._transaction():
            for stored in events:
                self.projection.apply(self._db, stored)
            self._db.execute(
                "UPDATE tracking SET position = ? WHERE projection = ?",
                (events[-1].position, self.projection.name),
            )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """``BEGIN IMMEDIATE``; commit, or roll back on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: BaseException | None, _: object) -> None:
        self._db.execute("COMMIT" if error is None else "ROLLBACK")
