"""The PostgreSQL store passes the contract and matches the in-memory store.

The tests need a server: set WEBCHAT_WRAPUP_POSTGRES_DSN (``.ci/run``
starts a throwaway one). Without it they skip locally and fail in CI
(``CI=true``), so they can never silently not run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from support import postgres_dsn
from webchat_wrapup import AgentState, ErrorCode, StoreError
from webchat_wrapup.ports import Change, Store
from webchat_wrapup.testing.contract import StoreContract
from webchat_wrapup.testing.stateful import StoreComparison

DSN = postgres_dsn()

psycopg = pytest.importorskip("psycopg")
from webchat_wrapup.stores.postgres import (  # noqa: E402
    _MIGRATIONS,
    SCHEMA_VERSION,
    PostgresStore,
)


def fresh_schema() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


def drop(schema: str) -> None:
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def schema() -> Iterator[str]:
    name = fresh_schema()
    yield name
    drop(name)


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, schema: str) -> Iterator[Store]:
        with PostgresStore(DSN, schema=schema) as store:
            yield store


class PostgresComparison(StoreComparison):
    def make_store(self) -> Store:
        self.schema_name = fresh_schema()
        return PostgresStore(DSN, schema=self.schema_name, pool_size=2)

    def close_store(self, store: Store) -> None:
        super().close_store(store)
        drop(self.schema_name)


TestPostgresComparison = PostgresComparison.TestCase


def test_two_schemas_in_one_database_are_independent(schema: str) -> None:
    other = fresh_schema()
    try:
        with (
            PostgresStore(DSN, schema=schema) as one,
            PostgresStore(DSN, schema=other) as two,
        ):
            one.save(Change("agent-1", 0, AgentState.new("agent-1")))
            assert two.load("agent-1") is None
    finally:
        drop(other)


def test_a_schema_from_a_newer_version_is_refused(schema: str) -> None:
    with PostgresStore(DSN, schema=schema):
        pass
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(f'UPDATE "{schema}".meta SET version = %s', (99,))
    with pytest.raises(StoreError) as caught:
        PostgresStore(DSN, schema=schema)
    assert caught.value.code is ErrorCode.STORE_TOO_NEW
    with psycopg.connect(DSN, autocommit=True) as connection:
        version = connection.execute(f'SELECT version FROM "{schema}".meta').fetchone()
    assert version == (99,)
    assert SCHEMA_VERSION == 1


FIRST_RELEASE = """
    CREATE TABLE {schema}.agents (
        agent_id TEXT PRIMARY KEY,
        version BIGINT NOT NULL,
        state TEXT NOT NULL,
        next_deadline BIGINT,
        claimed_until BIGINT
    );
    CREATE INDEX agents_due ON {schema}.agents (next_deadline)
        WHERE next_deadline IS NOT NULL;
    CREATE TABLE {schema}.policies (
        policy_key TEXT PRIMARY KEY,
        policy TEXT NOT NULL
    );
    CREATE TABLE {schema}.history (
        sequence BIGSERIAL PRIMARY KEY,
        customer_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        chat_started_at BIGINT NOT NULL,
        wrap_up_ended_at BIGINT NOT NULL,
        entry TEXT NOT NULL
    );
    CREATE INDEX history_by_customer
        ON {schema}.history (customer_id, wrap_up_ended_at, sequence);
    CREATE TABLE {schema}.commands (
        command_id TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        outcome TEXT NOT NULL
    );
    CREATE TABLE {schema}.meta (version INT NOT NULL);
    INSERT INTO {schema}.meta VALUES (1);
"""
"""Schema version 1 as the first release wrote it: one script split on ``;``."""


def layout(schema: str) -> list[tuple[str, ...]]:
    """The schema's columns and indexes, with its name taken out."""
    with psycopg.connect(DSN, autocommit=True) as connection:
        columns = connection.execute(
            "SELECT table_name, column_name, data_type, is_nullable, "
            "coalesce(column_default, '') FROM information_schema.columns "
            "WHERE table_schema = %s",
            (schema,),
        ).fetchall()
        indexes = connection.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = %s",
            (schema,),
        ).fetchall()
    rows = [tuple(str(cell) for cell in row) for row in [*columns, *indexes]]
    return sorted(tuple(cell.replace(schema, "S") for cell in row) for row in rows)


def test_a_schema_of_the_first_release_is_used_as_it_is(schema: str) -> None:
    made = fresh_schema()
    try:
        with PostgresStore(DSN, schema=made):
            pass
        with psycopg.connect(DSN, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{schema}"')
            for statement in FIRST_RELEASE.split(";"):
                if statement.strip():
                    connection.execute(statement.format(schema=f'"{schema}"'))
        assert layout(made) == layout(schema)
    finally:
        drop(made)
    with PostgresStore(DSN, schema=schema) as store:
        store.save(Change("agent-1", 0, AgentState.new("agent-1", capacity=2)))
        stored = store.load("agent-1")
    assert stored is not None
    assert stored.state.capacity == 2


def test_each_migration_step_is_a_list_of_single_statements() -> None:
    # Executed one by one, never split on ";" (which a string literal or a
    # function body in a later migration could contain).
    assert len(_MIGRATIONS) == SCHEMA_VERSION
    for step in _MIGRATIONS:
        assert step
        assert all(";" not in statement for statement in step)


def test_reopening_a_schema_keeps_its_data(schema: str) -> None:
    with PostgresStore(DSN, schema=schema) as store:
        store.save(Change("agent-1", 0, AgentState.new("agent-1", capacity=3)))
    with PostgresStore(DSN, schema=schema) as store:
        stored = store.load("agent-1")
    assert stored is not None
    assert stored.state.capacity == 3


def test_an_unreachable_server_gives_a_typed_error() -> None:
    with pytest.raises(StoreError) as caught:
        PostgresStore(
            "host=127.0.0.1 port=1 user=nobody dbname=none connect_timeout=2",
            schema="x",
        )
    assert caught.value.code is ErrorCode.STORE_UNAVAILABLE
    assert isinstance(caught.value.__cause__, psycopg.Error)


@pytest.mark.parametrize("bad", ["", "drop table", "a;b", "1abc"])
def test_a_schema_name_must_be_a_plain_identifier(bad: str) -> None:
    with pytest.raises(ValueError, match="identifier"):
        PostgresStore(DSN, schema=bad)


def test_a_pool_from_the_application_is_used_and_not_closed(schema: str) -> None:
    connection = psycopg.connect(DSN, autocommit=True)
    borrowed: list[int] = []

    class Pool:
        @contextmanager
        def connection(self) -> Iterator[object]:
            borrowed.append(1)
            yield connection

    with PostgresStore(pool=Pool(), schema=schema) as store:  # type: ignore[arg-type]
        assert store.load("nobody") is None
    assert borrowed
    assert not connection.closed
    connection.close()


def test_a_pool_without_autocommit_is_refused_before_anything_is_lost(
    schema: str,
) -> None:
    connection = psycopg.connect(DSN)  # autocommit off, as psycopg defaults

    class Pool:
        @contextmanager
        def connection(self) -> Iterator[object]:
            yield connection

    try:
        with pytest.raises(StoreError) as caught:
            PostgresStore(pool=Pool(), schema=schema)  # type: ignore[arg-type]
        assert "autocommit" in str(caught.value)
    finally:
        connection.close()
