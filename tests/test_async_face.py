"""The asyncio face passes the same contract tests as the blocking one.

Any store behind :class:`~webchat_wrapup.aio.ThreadedStore` passes the store
contract through :class:`~webchat_wrapup.testing.BlockingStore`, and
:class:`~webchat_wrapup.aio.AsyncWrapUpService` keeps step with the blocking
service over the reference store in the stateful comparison (commands with
and without ids, transfers, settings, retirements, erasures, sweeps).
``tests/stores/test_postgres_async_store.py`` does both on PostgreSQL's
asyncio store.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from webchat_wrapup import ManualClock, MemoryStore, SQLiteStore
from webchat_wrapup.aio import ThreadedStore
from webchat_wrapup.ports import Store
from webchat_wrapup.testing import BlockingService, BlockingStore
from webchat_wrapup.testing.contract import RemembersStatesContract, StoreContract
from webchat_wrapup.testing.stateful import StoreComparison


class TestThreadedSQLiteStore(StoreContract, RemembersStatesContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        sqlite = SQLiteStore(tmp_path / "wrapup.db", synchronous="NORMAL")
        with BlockingStore(ThreadedStore(sqlite)) as store:
            yield store


class TestThreadedMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        with BlockingStore(ThreadedStore(MemoryStore())) as store:
            yield store


class AsyncFaceComparison(StoreComparison):
    """The asyncio service over SQLite in worker threads, against the
    blocking service over the reference store."""

    def make_store(self) -> Store:
        self.folder = tempfile.mkdtemp(prefix="wrapup-")
        sqlite = SQLiteStore(Path(self.folder) / "wrapup.db", synchronous="NORMAL")
        return BlockingStore(ThreadedStore(sqlite))

    def make_service(self, store: Store, clock: ManualClock) -> BlockingService:
        assert isinstance(store, BlockingStore)  # made just above
        return BlockingService(store, clock)


TestAsyncFaceComparison = AsyncFaceComparison.TestCase
TestAsyncFaceComparison.settings = settings(
    TestAsyncFaceComparison.settings, max_examples=40
)
