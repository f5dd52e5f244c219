"""Store adapters: in memory (the reference), SQLite (the embedded default)
and PostgreSQL (for several app servers; needs the ``postgres`` extra),
blocking or for asyncio.

``PostgresStore`` and ``AsyncPostgresStore`` are imported on first use, so
importing this package never loads psycopg.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .memory import MemoryStore
from .sqlite import SQLiteStore

if TYPE_CHECKING:
    from .postgres import PostgresStore
    from .postgres_async import AsyncPostgresStore

__all__ = ["AsyncPostgresStore", "MemoryStore", "PostgresStore", "SQLiteStore"]


def __getattr__(name: str) -> Any:
    if name == "PostgresStore":
        from .postgres import PostgresStore

        return PostgresStore
    if name == "AsyncPostgresStore":
        from .postgres_async import AsyncPostgresStore

        return AsyncPostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
