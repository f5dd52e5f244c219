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
from webchat_wrapup.stores.postgres import SCHEMA_VERSION, PostgresStore  # noqa: E402


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
