"""Checkpoints of the write-ahead log, mostly outside the writer's lock.

SQLite copies its write-ahead log into the database file (a checkpoint)
once the log holds about 1,000 pages, by default at the end of the commit
that crossed the mark: a few milliseconds during which the store's writer
lock is held, so every other thread's save waits, however little it has to
write. The store checkpoints itself instead. Once a save has committed and
let go of the lock, the thread that saved copies the log on a connection of
its own, while the other threads go on writing; then it copies what they
wrote meanwhile, again while each pass finds less, and what is left under
the writer's lock (a few pages). The log is then all in the file, and the
next write starts it again from its beginning: it stays about as long as
SQLite's own checkpoints keep it. A thread writing alone pays what it paid
before, once per checkpoint; threads writing together no longer wait for it.

A checkpoint is due once :attr:`Checkpoints.every` changes were saved since
the last one; each checkpoint says how many pages the log had grown to, and
``every`` is set from it, to aim at :data:`TARGET_PAGES` pages. The writer
keeps SQLite's own checkpoint at :data:`SAFETY_PAGES`, so the log stays
bounded should these fall behind (a long read holding the log, say). A
checkpoint that fails is left to the next one: the save it follows has
committed, whatever happens to the checkpoint.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

TARGET_PAGES = 1000
"""Pages in the log at a checkpoint, as SQLite's own checkpoint aims at."""
SAFETY_PAGES = 4 * TARGET_PAGES
"""The writer's own checkpoint, should the store's fall behind."""
FIRST_EVERY = 64
"""Changes between checkpoints until the first one has counted pages."""
MIN_EVERY, MAX_EVERY = 8, 512
OUTSIDE_PASSES = 2
"""Passes after the first (while others commit meanwhile) before the rest
is copied under the writer's lock."""
CHECKPOINT = "PRAGMA wal_checkpoint(PASSIVE)"


class Checkpoints:
    """When to checkpoint, and the connection to do it on.

    ``connect`` opens that connection; ``finish`` runs :data:`CHECKPOINT`
    on the writer connection, under the writer's lock.
    """

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], finish: Callable[[], None]
    ) -> None:
        self._connect = connect
        self._finish = finish
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one checkpoint at a time
        self._closed = False
        self.every = FIRST_EVERY
        self._saved = 0

    def saved(self, changes: int) -> None:
        """Count ``changes`` saved; checkpoint if one is due (the writer's
        lock not held). Counted without a lock: a count lost to a race only
        moves a checkpoint by a change."""
        self._saved += changes
        if self._saved >= self.every:
            self.run()

    def run(self) -> None:
        """Checkpoint now, unless another thread is at it (the count is then
        kept, for the next save to try again)."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            if self._closed:
                return
            saved = self._saved
            db = self._connection()
            seen = _data_version(db)
            pages = _copy(db)
            self._catch_up(db, seen)
            # What was saved meanwhile is in the file too, and the log starts
            # again: the next count starts now.
            self._saved = 0
            self._adapt(saved, pages)
        except sqlite3.Error:
            self._saved = 0  # left to the next checkpoint (or the writer's own)
        finally:
            self._lock.release()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No checkpoint of the store's runs in the block (one under way
        ends first): SQLite refuses a second checkpoint while one runs, and
        an erasure's must truncate the log."""
        with self._lock:
            yield

    def close(self) -> None:
        """Close the connection, once a checkpoint under way has ended."""
        with self._lock:
            self._closed = True
            if self._db is not None:
                self._db.close()

    def _catch_up(self, db: sqlite3.Connection, seen: int) -> None:
        """Copy what other threads wrote meanwhile: on this connection while
        they go on, then under the writer's lock."""
        for _ in range(OUTSIDE_PASSES):
            latest = _data_version(db)
            if latest == seen:
                return  # nothing committed meanwhile: the log starts again
            seen = latest
            _copy(db)
        if _data_version(db) != seen:
            self._finish()

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._connect()
        return self._db

    def _adapt(self, saved: int, pages: int) -> None:
        """Set :attr:`every` from the pages ``saved`` changes wrote (the log
        starting again after each checkpoint), by half or double at most: a
        count that a change saved out of step skews moves it little."""
        if pages > 0 and saved > 0:
            every = saved * TARGET_PAGES // pages
            every = max(self.every // 2, min(2 * self.every, every))
            self.every = max(MIN_EVERY, min(MAX_EVERY, every))


def _copy(db: sqlite3.Connection) -> int:
    """Copy the log into the file; the pages it had grown to."""
    ((_, pages, _),) = db.execute(CHECKPOINT).fetchall()
    return int(pages)


def _data_version(db: sqlite3.Connection) -> int:
    """A number that changes whenever another connection commits."""
    return int(db.execute("PRAGMA data_version").fetchall()[0][0])
