"""The PostgreSQL store's own connection pool under threads.

Two defects of ``_OwnPool`` (both fail today; see each test):

* a thread waiting for a connection is not woken when a broken connection
  is dropped and the pool could open a new one: it waits the full 30 s;
* a wait that runs out raises ``queue.Empty``, not a ``StoreError``.

The pool waits 30 s before giving up; the tests shorten that wait to keep
them fast (``_shorten_waits``), which changes nothing else. The fix, in
``stores/postgres.py``: one ``threading.Condition`` guards a list of idle
connections and the count made; returning or dropping a connection
notifies a waiter, which takes the idle one or opens a new one; a wait
that runs out (``WAIT_SECONDS``, 30) raises ``StoreError``
(``store_unavailable``).

Needs a server: set WEBCHAT_WRAPUP_POSTGRES_DSN; without it the tests skip
locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from support import postgres_dsn
from webchat_wrapup import StoreError

DSN = postgres_dsn()

psycopg = pytest.importorskip("psycopg")
from webchat_wrapup.stores.postgres import PostgresStore  # noqa: E402

WAIT_SECONDS = 2.0
"""The pool's wait for a free connection, shortened from 30 s."""


@pytest.fixture
def store() -> Iterator[PostgresStore]:
    """A store with a pool of one connection, in a fresh schema."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(DSN, schema=schema, pool_size=1)
    try:
        _shorten_waits(store)
        yield store
    finally:
        store.close()
        with psycopg.connect(DSN, autocommit=True) as db:
            db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _shorten_waits(store: PostgresStore) -> None:
    pool: Any = store._own
    if hasattr(pool, "WAIT_SECONDS"):  # The pool as fixed: a setting.
        pool.WAIT_SECONDS = WAIT_SECONDS
        return
    idle = pool._idle  # Today's pool: a queue, waited on for 30 s.
    get = idle.get

    def shorter(block: bool = True, timeout: float | None = None) -> Any:
        if timeout is not None:
            timeout = min(timeout, WAIT_SECONDS)
        return get(block, timeout)

    idle.get = shorter  # type: ignore[method-assign]


def test_a_waiting_thread_connects_anew_when_a_broken_connection_is_dropped(
    store: PostgresStore,
) -> None:
    # One thread holds the pool's only connection, which breaks (here it is
    # closed; a restarted server does the same). Meanwhile another thread
    # waits for a connection. Once the broken one is dropped the pool may
    # open a new one, so the waiting thread should get it at once.
    pool = store._own
    assert pool is not None
    held = threading.Event()
    release = threading.Event()
    outcome: dict[str, Any] = {}

    def holder() -> None:
        with pool.connection() as connection:
            held.set()
            release.wait(10)
            connection.close()

    def waiter() -> None:
        began = time.monotonic()
        try:
            outcome["loaded"] = store.load("nobody")
        except BaseException as error:
            outcome["error"] = error
        outcome["seconds"] = time.monotonic() - began

    holding = threading.Thread(target=holder)
    holding.start()
    assert held.wait(10)
    waiting = threading.Thread(target=waiter)
    waiting.start()
    time.sleep(0.3)  # The waiter is now blocked on the empty pool.
    release.set()
    holding.join(10)
    waiting.join(WAIT_SECONDS + 10)
    assert "error" not in outcome, (
        f"the waiter got {outcome['error']!r} after {outcome['seconds']:.1f} s "
        "although the pool had room for a new connection"
    )
    assert outcome["loaded"] is None
    assert outcome["seconds"] < WAIT_SECONDS


def test_an_exhausted_pool_raises_a_store_error(store: PostgresStore) -> None:
    # Every connection is in use for longer than the pool waits: the caller
    # should get the library's typed error, as for any unusable store.
    pool = store._own
    assert pool is not None
    with pool.connection(), pytest.raises(StoreError):
        store.load("nobody")
