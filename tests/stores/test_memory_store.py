"""The in-memory store passes the contract, as an integrator's store would."""

from __future__ import annotations

import pytest

from webchat_wrapup.ports import Store
from webchat_wrapup.stores import MemoryStore
from webchat_wrapup.testing.contract import StoreContract
from webchat_wrapup.testing.stateful import StoreComparison


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> Store:
        return MemoryStore()


class MemoryComparison(StoreComparison):
    def make_store(self) -> Store:
        return MemoryStore()


TestMemoryComparison = MemoryComparison.TestCase
