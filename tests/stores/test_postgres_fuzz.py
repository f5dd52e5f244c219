"""The service fuzzer on PostgreSQL: only typed errors, refusals change nothing;
and the stores' own arguments fuzzed: only typed errors there too.

Needs a server (see ``test_postgres_store.py``); skips locally without one
and fails in CI.
"""

from __future__ import annotations

import asyncio
import string
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fuzzing import ServiceFuzz
from store_arguments import fuzz_calls
from support import postgres_dsn
from webchat_wrapup import ErrorCode, StoreError, WrapUpError
from webchat_wrapup.ports import Store
from webchat_wrapup.testing import BlockingStore

DSN = postgres_dsn()

psycopg = pytest.importorskip("psycopg")
from webchat_wrapup.stores.postgres import PostgresStore  # noqa: E402
from webchat_wrapup.stores.postgres_async import AsyncPostgresStore  # noqa: E402


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


# The stores' arguments: whatever they are given, only the library's errors


class Fresh:
    """Stands for a schema of the test's own (made, then dropped)."""


def _conninfos() -> st.SearchStrategy[object]:
    # Text without "=" names no host to look up: it fails at once.
    return st.one_of(
        st.just(DSN),
        st.none(),
        st.text(alphabet=string.ascii_letters + " :/", max_size=12),
        st.integers(),
        st.binary(max_size=4),
    )


VALID: dict[str, st.SearchStrategy[object]] = {
    "conninfo": st.just(DSN),
    "pool": st.none(),
    "schema": st.builds(Fresh),
    "pool_size": st.integers(1, 8),
    "pool_timeout": st.floats(0.1, 60),
}
ANY: dict[str, st.SearchStrategy[object]] = {
    "conninfo": _conninfos(),
    "pool": st.one_of(st.none(), st.integers(), st.text(max_size=3)),
    "schema": st.one_of(st.text(max_size=8), st.integers(), st.none()),
    "pool_size": st.one_of(
        st.integers(-2, 10**6), st.floats(), st.booleans(), st.text(max_size=2)
    ),
    "pool_timeout": st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(3599, 3601),
        st.floats(1e-9, 0.01),
        st.integers(-1, 10**6),
        st.booleans(),
        st.none(),
    ),
}


@st.composite
def store_arguments(draw: st.DrawFn) -> dict[str, object]:
    """Arguments that open a store, up to three of them replaced by anything."""
    arguments = {name: draw(valid) for name, valid in VALID.items()}
    for name in draw(st.sets(st.sampled_from(sorted(ANY)), max_size=3)):
        arguments[name] = draw(ANY[name])
    return arguments


@contextmanager
def _named(arguments: dict[str, object]) -> Iterator[dict[str, object]]:
    """``arguments`` with a fresh schema's name for :class:`Fresh`, and the
    schema dropped afterwards."""
    if not isinstance(arguments["schema"], Fresh):
        yield arguments
        return
    schema = f"fuzz_{uuid.uuid4().hex[:12]}"
    try:
        yield {**arguments, "schema": schema}
    finally:
        with psycopg.connect(DSN, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@settings(max_examples=80, deadline=None)
@given(arguments=store_arguments())
def test_the_blocking_store_takes_any_arguments_raising_only_typed_errors(
    arguments: dict[str, object],
) -> None:
    with _named(arguments) as named:
        try:
            store = PostgresStore(**named)  # type: ignore[arg-type]
        except WrapUpError as error:
            event(f"refused: {error.code.value}")
            return
        event("opened")
        with store:
            _loads_nobody(store.load, named["pool_timeout"])


@settings(max_examples=80, deadline=None)
@given(arguments=store_arguments())
def test_the_async_store_opens_with_any_arguments_raising_only_typed_errors(
    arguments: dict[str, object],
) -> None:
    async def attempt(named: dict[str, object]) -> None:
        try:
            store = await AsyncPostgresStore.open(**named)  # type: ignore[arg-type]
        except WrapUpError as error:
            event(f"refused: {error.code.value}")
            return
        event("opened")
        async with store:
            try:
                assert await store.load("nobody") is None
            except StoreError as error:
                _short_wait_ran_out(error, named["pool_timeout"])

    with _named(arguments) as named:
        asyncio.run(attempt(named))


def _loads_nobody(load: Callable[[str], object], pool_timeout: object) -> None:
    try:
        assert load("nobody") is None
    except StoreError as error:
        _short_wait_ran_out(error, pool_timeout)


def _short_wait_ran_out(error: StoreError, pool_timeout: object) -> None:
    """A pool given under a second to connect may run out of time: a typed
    refusal (``store_unavailable``), never a crash."""
    assert error.code is ErrorCode.STORE_UNAVAILABLE, error
    assert isinstance(pool_timeout, (int, float)), error
    assert pool_timeout < 1, error
    event("connection wait ran out")


# Each store method with hostile arguments (see ``store_arguments.py``).


@pytest.fixture(params=["blocking", "async"])
def method_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    schema = f"fuzz_{uuid.uuid4().hex[:12]}"
    store: Store = (
        PostgresStore(DSN, schema=schema, pool_size=2)
        if request.param == "blocking"
        else BlockingStore(AsyncPostgresStore.open(DSN, schema=schema, pool_size=2))
    )
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(DSN, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_store_methods_refuse_hostile_arguments_with_typed_errors(
    method_store: Store, data: st.DataObject
) -> None:
    fuzz_calls(method_store, data, 3)
