"""The SQLite store passes the contract and matches the in-memory store."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from webchat_wrapup import AgentState, ErrorCode, StoreError
from webchat_wrapup.ports import Change, Store
from webchat_wrapup.stores import SQLiteStore
from webchat_wrapup.stores import sqlite as sqlite_module
from webchat_wrapup.stores.sqlite import SCHEMA_VERSION
from webchat_wrapup.testing.contract import StoreContract
from webchat_wrapup.testing.stateful import StoreComparison


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        with SQLiteStore(tmp_path / "wrapup.db", synchronous="NORMAL") as store:
            yield store


class SQLiteComparison(StoreComparison):
    def make_store(self) -> Store:
        folder = tempfile.mkdtemp(prefix="wrapup-")
        return SQLiteStore(Path(folder) / "wrapup.db", synchronous="NORMAL")


TestSQLiteComparison = SQLiteComparison.TestCase


def pragma(path: Path, name: str) -> object:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        connection.close()


def test_the_file_is_in_wal_mode_with_the_current_schema_version(
    tmp_path: Path,
) -> None:
    with SQLiteStore(tmp_path / "w.db"):
        pass
    assert pragma(tmp_path / "w.db", "journal_mode") == "wal"
    assert pragma(tmp_path / "w.db", "user_version") == SCHEMA_VERSION


@pytest.mark.parametrize(("setting", "level"), [("FULL", 2), ("NORMAL", 1)])
def test_synchronous_is_full_by_default_and_normal_on_request(
    tmp_path: Path, setting: str, level: int
) -> None:
    with SQLiteStore(tmp_path / "w.db", synchronous=setting) as store:  # type: ignore[arg-type]
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == level
    with SQLiteStore(tmp_path / "d.db") as store:
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_an_unknown_synchronous_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(tmp_path / "w.db", synchronous="OFF")  # type: ignore[arg-type]
    assert not (tmp_path / "w.db").exists()


def test_reopening_a_file_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    with SQLiteStore(path) as store:
        store.save(Change("agent-1", 0, AgentState.new("agent-1", capacity=2)))
    with SQLiteStore(path) as store:
        stored = store.load("agent-1")
    assert stored is not None
    assert (stored.version, stored.state.capacity) == (1, 2)


def test_a_file_from_a_newer_version_is_refused_and_left_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.db"
    with SQLiteStore(path):
        pass
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(StoreError) as caught:
        SQLiteStore(path)
    assert caught.value.code is ErrorCode.STORE_TOO_NEW
    assert pragma(path, "user_version") == SCHEMA_VERSION + 1


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    path.write_bytes(b"this is not a database, it is a shopping list" * 100)
    with pytest.raises(StoreError) as caught:
        SQLiteStore(path)
    assert caught.value.code is ErrorCode.STORE_CORRUPT
    assert isinstance(caught.value, OSError)


def test_a_folder_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as caught:
        SQLiteStore(tmp_path / "missing" / "w.db")
    assert caught.value.code is ErrorCode.STORE_UNAVAILABLE


def _sqlite_error(name: str | None, message: str) -> sqlite3.Error:
    error = sqlite3.OperationalError(message)
    if name is not None:
        error.sqlite_errorname = name  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(
    ("name", "message", "code"),
    [
        ("SQLITE_BUSY", "database is locked", ErrorCode.STORE_LOCKED),
        ("SQLITE_BUSY_SNAPSHOT", "database is locked", ErrorCode.STORE_LOCKED),
        ("SQLITE_READONLY_DBMOVED", "readonly", ErrorCode.STORE_READ_ONLY),
        ("SQLITE_NOTADB", "file is not a database", ErrorCode.STORE_CORRUPT),
        ("SQLITE_CORRUPT", "malformed", ErrorCode.STORE_CORRUPT),
        ("SQLITE_FULL", "database or disk is full", ErrorCode.STORE_UNAVAILABLE),
        # Python 3.10 has no error names: the message decides.
        (None, "database is locked", ErrorCode.STORE_LOCKED),
        (None, "attempt to write a readonly database", ErrorCode.STORE_READ_ONLY),
        (None, "file is not a database", ErrorCode.STORE_CORRUPT),
        (None, "disk I/O error", ErrorCode.STORE_UNAVAILABLE),
    ],
)
def test_sqlite_errors_are_translated_by_their_result_code(
    name: str | None, message: str, code: ErrorCode, tmp_path: Path
) -> None:
    error = sqlite_module._translate(_sqlite_error(name, message), str(tmp_path / "x"))
    assert error.code is code
