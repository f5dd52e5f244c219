"""The SQLite store passes the contract and matches the in-memory store."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from webchat_wrapup.ports import Store
from webchat_wrapup.stores import SQLiteStore
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
