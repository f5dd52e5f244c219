"""The service fuzzer on PostgreSQL: only typed errors, refusals change nothing.

Needs a server (see ``test_postgres_store.py``); skips locally without one
and fails in CI.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, settings

from fuzzing import ServiceFuzz
from support import postgres_dsn
from webchat_wrapup.ports import Store

DSN = postgres_dsn()

psycopg = pytest.importorskip("psycopg")
from webchat_wrapup.stores.postgres import PostgresStore  # noqa: E402


class PostgresServiceFuzz(ServiceFuzz):
    def make_store(self) -> Store:
        self.schema = f"fuzz_{uuid.uuid4().hex[:12]}"
        return PostgresStore(DSN, schema=self.schema, pool_size=1)

    def close_store(self, store: Store) -> None:
        super().close_store(store)
        with psycopg.connect(DSN, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


TestPostgresServiceFuzz = PostgresServiceFuzz.TestCase
TestPostgresServiceFuzz.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
