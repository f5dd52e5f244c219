"""The SQLite store checkpoints its write-ahead log itself, after a save and
outside the writer's lock, about as often as SQLite would; a checkpoint that
fails never fails the save it follows."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from webchat_wrapup import AgentState
from webchat_wrapup.ports import Change
from webchat_wrapup.stores import SQLiteStore
from webchat_wrapup.stores._checkpoints import (
    FIRST_EVERY,
    MAX_EVERY,
    MIN_EVERY,
    SAFETY_PAGES,
    TARGET_PAGES,
    Checkpoints,
)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with SQLiteStore(tmp_path / "w.db", synchronous="NORMAL") as store:
        yield store


def _add(store: SQLiteStore, count: int, first: int = 0) -> None:
    for number in range(first, first + count):
        agent_id = f"agent-{number}"
        store.save(Change(agent_id, 0, AgentState.new(agent_id)))


def _in_the_file(path: str) -> int:
    """The agents the database file holds itself, its log left aside: those
    a checkpoint has copied into it."""
    db = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        tables = db.execute("SELECT name FROM sqlite_master WHERE name = 'agents'")
        if tables.fetchone() is None:
            return 0  # not even the schema yet
        return int(db.execute("SELECT count(*) FROM agents").fetchone()[0])
    finally:
        db.close()


def test_the_writer_leaves_checkpoints_to_the_store_up_to_a_safety_mark(
    store: SQLiteStore,
) -> None:
    (pages,) = store._db.execute("PRAGMA wal_autocheckpoint").fetchone()
    assert pages == SAFETY_PAGES


class Recorder:
    """A checkpoint connection that notes, at each pass, whether the
    writer's lock was held."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.db = store._open_checkpointer()
        self.locked: list[bool] = []

    def execute(self, sql: str) -> sqlite3.Cursor:
        if "wal_checkpoint" in sql:  # a pass
            self.locked.append(self.store._lock.locked())
        return self.db.execute(sql)

    def close(self) -> None:
        self.db.close()


def test_a_checkpoint_copies_the_log_after_the_save_without_the_lock(
    store: SQLiteStore,
) -> None:
    recorder = Recorder(store)
    store._checkpoints._connect = lambda: recorder  # type: ignore[assignment,return-value]
    _add(store, FIRST_EVERY - 1)
    assert recorder.locked == []
    assert _in_the_file(store.path) == 0
    _add(store, 1, FIRST_EVERY - 1)
    # One pass: nothing was written meanwhile.
    assert recorder.locked == [False]
    assert _in_the_file(store.path) == FIRST_EVERY


def test_what_others_wrote_meanwhile_is_copied_after(store: SQLiteStore) -> None:
    numbers = iter(range(100, 200))

    class Busy(Recorder):
        def execute(self, sql: str) -> sqlite3.Cursor:
            cursor = super().execute(sql)
            if "wal_checkpoint" not in sql:
                return cursor
            # Another thread saves during every pass.
            saving = threading.Thread(target=_add, args=(self.store, 1, next(numbers)))
            saving.start()
            saving.join()
            return cursor

    busy = Busy(store)
    store._checkpoints._connect = lambda: busy  # type: ignore[assignment,return-value]
    finished: list[bool] = []
    finish = store._finish_checkpoint

    def noted() -> None:
        finished.append(store._lock.locked())
        finish()

    store._checkpoints._finish = noted
    _add(store, FIRST_EVERY)
    # The first pass, two more (each finding more written), then the rest
    # under the lock: every agent is in the file.
    assert busy.locked == [False, False, False]
    assert finished == [False]
    assert _in_the_file(store.path) == FIRST_EVERY + 3


def test_a_failing_checkpoint_fails_no_save_and_is_tried_again(
    store: SQLiteStore,
) -> None:
    tries: list[int] = []

    def broken() -> sqlite3.Connection:
        tries.append(1)
        raise sqlite3.OperationalError("disk I/O error")

    store._checkpoints._connect = broken
    _add(store, 2 * FIRST_EVERY)
    assert len(tries) == 2  # when due, then when due again
    assert store.load(f"agent-{2 * FIRST_EVERY - 1}") is not None
    assert _in_the_file(store.path) == 0
    store._checkpoints._connect = store._open_checkpointer
    _add(store, FIRST_EVERY, 2 * FIRST_EVERY)
    assert _in_the_file(store.path) == 3 * FIRST_EVERY


def test_checkpoints_aim_at_the_target_pages_by_half_or_double_at_most() -> None:
    class Log:
        def __init__(self, pages: int) -> None:
            self.pages = pages

        def execute(self, sql: str) -> Any:
            return self

        def fetchall(self) -> list[tuple[int, ...]]:
            return [(0, self.pages, self.pages)]  # data_version reads pages too

    log = Log(TARGET_PAGES // 2)
    checkpoints = Checkpoints(lambda: log, lambda: None)  # type: ignore[arg-type,return-value]
    checkpoints.saved(FIRST_EVERY)
    assert checkpoints.every == 2 * FIRST_EVERY  # half the pages: twice the changes
    log.pages = 10 * TARGET_PAGES
    checkpoints.saved(checkpoints.every)
    assert checkpoints.every == FIRST_EVERY  # ten times the pages: half at most
    log.pages = TARGET_PAGES
    for _ in range(10):
        checkpoints.saved(checkpoints.every)
    assert checkpoints.every == FIRST_EVERY  # on target: it stays
    log.pages = TARGET_PAGES * TARGET_PAGES
    for _ in range(10):
        checkpoints.saved(checkpoints.every)
    assert checkpoints.every == MIN_EVERY
    log.pages = 1
    for _ in range(10):
        checkpoints.saved(checkpoints.every)
    assert checkpoints.every == MAX_EVERY


def test_a_closed_store_checkpoints_no_more(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "w.db")
    _add(store, FIRST_EVERY)
    checkpointer = store._checkpoints._db
    assert checkpointer is not None
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        checkpointer.execute("SELECT 1")
    store._checkpoints.run()  # nothing, and no error
