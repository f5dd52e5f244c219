"""Opening a store the command line is pointed at: a SQLite file or PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

from ...ports import Store
from ...stores.sqlite import SQLiteStore
from .errors import UsageError

_CONNINFO = re.compile(r"\s*[A-Za-z_]+\s*=")
"""How a libpq connection string such as ``host=db dbname=contact`` begins."""


def open_existing_store(db: str, schema: str | None, pool_size: int = 1) -> Store:
    """The store ``--db`` names: a PostgreSQL connection string (a URL, or
    ``key=value`` words that libpq accepts and no file of that name), or else
    a SQLite file. Either must exist already: nothing here creates a store.
    ``pool_size`` is how many PostgreSQL connections it keeps."""
    if _is_postgres(db):
        return _postgres_store(db, schema, pool_size)
    if schema is not None:
        raise UsageError("--schema is for a PostgreSQL --db only")
    if not Path(db).exists():
        raise UsageError(f"no database at {db}; run simulate first")
    return SQLiteStore(db)


def describe_store(db: str, schema: str | None) -> str:
    """``--db`` as a report names it: a SQLite file as given, a PostgreSQL
    store by database, host and schema (never a password)."""
    if not _is_postgres(db):
        return db
    try:
        from psycopg import Error
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        return "PostgreSQL"
    try:
        parts = conninfo_to_dict(db)
    except Error:
        return "PostgreSQL"
    name = parts.get("dbname") or parts.get("user") or "(default)"
    host = parts.get("host") or "localhost"
    shown = schema or "webchat_wrapup"
    return f"{name} on {host} (PostgreSQL, schema {shown})"


def _is_postgres(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://")) or bool(
        _CONNINFO.match(db) and not Path(db).exists() and _is_conninfo(db)
    )


def _is_conninfo(text: str) -> bool:
    try:
        from psycopg import Error
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        return True  # then _postgres_store says what to install
    try:
        conninfo_to_dict(text)
    except Error:
        return False
    return True


def _postgres_store(conninfo: str, schema: str | None, pool_size: int) -> Store:
    try:
        from ...stores.postgres import DEFAULT_SCHEMA, PostgresStore, schema_exists
    except ImportError:
        raise UsageError(
            "a PostgreSQL --db needs the postgres extra: "
            "python -m pip install -e '.[postgres]' from a checkout"
        ) from None
    schema = DEFAULT_SCHEMA if schema is None else schema
    if not schema.isidentifier():
        raise UsageError(f"--schema must be a plain identifier, not {schema!r}")
    # Opening a store creates a missing schema: a report must not.
    if not schema_exists(conninfo, schema):
        raise UsageError(
            f"no webchat-wrapup store in schema {schema!r} of that database"
        )
    return PostgresStore(conninfo, schema=schema, pool_size=pool_size)
