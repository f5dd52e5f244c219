"""Store adapters: in memory (the reference) and SQLite (the embedded default)."""

from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = ["MemoryStore", "SQLiteStore"]
