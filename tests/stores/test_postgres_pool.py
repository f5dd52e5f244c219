"""The PostgreSQL store's connections: pooled, checked, released, closed.

The store keeps a ``psycopg_pool.ConnectionPool`` of its own. What matters
to an application: a restarted server costs a retry, not an error; a pool
with every connection busy raises a typed error instead of hanging; a
history read holds one connection and gives it back however it ends; a
closed store refuses every call and leaves no session open on the server.

Needs a server: set WEBCHAT_WRAPUP_POSTGRES_DSN; without it the tests skip
locally and fail in CI (``CI=true``). The restart test starts a throwaway
server of its own (``initdb`` from the PostgreSQL server package), never
touching the shared one.
"""

from __future__ import annotations

import gc
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from support import postgres_dsn
from webchat_wrapup import AgentState, ErrorCode, StoreError
from webchat_wrapup._core._history import (
    ContactHistoryEntry,
    EndedBy,
    WrapUpEnding,
)
from webchat_wrapup.ports import Change

DSN = postgres_dsn()

psycopg = pytest.importorskip("psycopg")
psycopg_pool = pytest.importorskip("psycopg_pool")
from webchat_wrapup.stores import postgres  # noqa: E402
from webchat_wrapup.stores.postgres import PostgresStore  # noqa: E402

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
SHORT_WAIT = 0.5
"""A pool timeout short enough that a test expecting it to run out is quick."""


def entry(chat_id: str, ended: float) -> ContactHistoryEntry:
    return ContactHistoryEntry(
        customer_id="cust-1",
        chat_id=chat_id,
        agent_id="agent-1",
        queue_id="support",
        classification=None,
        additional_text=None,
        chat_started_at=T0 - timedelta(hours=1),
        chat_ended_at=T0 - timedelta(hours=1),
        ended_by=EndedBy.CUSTOMER,
        wrap_up_started_at=T0 - timedelta(hours=1),
        wrap_up_ended_at=T0 + timedelta(seconds=ended),
        ending=WrapUpEnding.COMPLETED_EARLY,
        extensions_used=0,
        abuse=None,
    )


def with_history(store: PostgresStore, count: int) -> list[ContactHistoryEntry]:
    """Add agent-1 with ``count`` history entries, one second apart."""
    entries = [entry(f"chat-{i}", i) for i in range(count)]
    store.save(Change("agent-1", 0, AgentState.new("agent-1"), tuple(entries)))
    return entries


def drop(dsn: str, schema: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        # A failed test may leave a history read open, holding its lock on
        # the table: fail the drop rather than wait for ever.
        connection.execute("SET lock_timeout = '10s'")
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    drop(DSN, name)


@pytest.fixture
def app_name() -> str:
    """An application_name that tells this test's sessions on the server."""
    return f"wrapup_test_{uuid.uuid4().hex[:12]}"


def sessions(app_name: str) -> list[tuple[str, str]]:
    """(state, query) of the server's sessions with this application_name."""
    with psycopg.connect(DSN, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT state, query FROM pg_stat_activity WHERE application_name = %s",
            (app_name,),
        ).fetchall()
    return [(str(state), str(query)) for state, query in rows]


def until(condition: object, seconds: float = 10.0) -> bool:
    """Poll ``condition()`` until it is true or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# A pool that runs out


def test_an_exhausted_pool_raises_a_typed_error_and_recovers(schema: str) -> None:
    with PostgresStore(
        DSN, schema=schema, pool_size=1, pool_timeout=SHORT_WAIT
    ) as store:
        with_history(store, 3)
        reading = store.all_history()
        next(reading)  # holds the pool's only connection
        with pytest.raises(StoreError) as caught:
            store.load("agent-1")
        assert caught.value.code is ErrorCode.STORE_UNAVAILABLE
        assert isinstance(caught.value.__cause__, psycopg_pool.PoolTimeout)
        assert "busy" in caught.value.message
        reading.close()
        assert store.load("agent-1") is not None


@pytest.mark.parametrize("ending", ["exhausted", "closed", "garbage-collected"])
def test_a_history_read_gives_its_connection_back(schema: str, ending: str) -> None:
    with PostgresStore(
        DSN, schema=schema, pool_size=1, pool_timeout=SHORT_WAIT
    ) as store:
        entries = with_history(store, 3)
        reading = store.all_history()
        assert next(reading) == entries[0]
        if ending == "exhausted":
            assert list(reading) == entries[1:]
        elif ending == "closed":
            reading.close()  # type: ignore[attr-defined]
        else:
            del reading
            gc.collect()
        # The pool has one connection: this waits SHORT_WAIT and fails if
        # the read still held it.
        stored = store.load("agent-1")
        assert stored is not None
        assert stored.version == 1


def test_history_is_read_in_batches_inside_one_snapshot(
    schema: str, app_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "BATCH", 2)
    dsn = f"{DSN} application_name={app_name}"
    with PostgresStore(dsn, schema=schema) as store:
        entries = with_history(store, 5)
        reading = store.all_history()
        assert next(reading) == entries[0]
        # The reader's session sits in its transaction between fetches of
        # two rows from a server-side cursor.
        assert ("idle in transaction", 'FETCH FORWARD 2 FROM "all_history"') in (
            sessions(app_name)
        )
        late = entry("chat-late", -1)
        store.save(Change("agent-1", 1, AgentState.new("agent-1"), (late,)))
        # Three more fetches, all from the snapshot taken at the first.
        assert list(reading) == entries[1:]
        assert next(store.all_history()) == late


# Closing


def test_closing_leaves_no_session_on_the_server(schema: str, app_name: str) -> None:
    dsn = f"{DSN} application_name={app_name}"
    store = PostgresStore(dsn, schema=schema, pool_size=3)
    with_history(store, 2)
    first, second = store.all_history(), store.all_history()
    next(first), next(second)  # two connections in use...
    first.close()  # type: ignore[attr-defined]
    second.close()  # type: ignore[attr-defined]
    store.load("agent-1")  # ...now idle in the pool
    assert len(sessions(app_name)) >= 2
    store.close()
    assert until(lambda: not sessions(app_name)), sessions(app_name)


def test_closing_the_store_stops_a_history_read_half_way(
    schema: str, app_name: str
) -> None:
    dsn = f"{DSN} application_name={app_name}"
    store = PostgresStore(dsn, schema=schema)
    with_history(store, 3)
    reading = store.all_history()
    next(reading)
    store.close()
    with pytest.raises(StoreError) as caught:
        next(reading)
    assert caught.value.code is ErrorCode.STORE_CLOSED
    assert until(lambda: not sessions(app_name)), sessions(app_name)


def test_a_closed_store_with_a_pool_of_one_refuses_at_once(schema: str) -> None:
    # With the hand-written pool a closed store went on working, or with a
    # pool of one waited 30 s for the connection it had just closed.
    store = PostgresStore(DSN, schema=schema, pool_size=1)
    store.close()
    with pytest.raises(StoreError) as caught:
        store.load("agent-1")
    assert caught.value.code is ErrorCode.STORE_CLOSED


def test_the_applications_pool_stays_open_but_the_store_refuses(
    schema: str,
) -> None:
    with psycopg_pool.ConnectionPool(
        DSN, kwargs={"autocommit": True}, min_size=0, max_size=2, open=True
    ) as pool:
        with PostgresStore(pool=pool, schema=schema) as store:
            entries = with_history(store, 2)
            assert list(store.all_history()) == entries
        with pytest.raises(StoreError) as caught:
            store.load("agent-1")
        assert caught.value.code is ErrorCode.STORE_CLOSED
        assert not pool.closed
        with pool.connection() as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)


def test_a_pool_closed_by_the_application_is_reported_as_closed(
    schema: str,
) -> None:
    pool = psycopg_pool.ConnectionPool(
        DSN, kwargs={"autocommit": True}, min_size=0, max_size=1, open=True
    )
    store = PostgresStore(pool=pool, schema=schema)
    pool.close()
    with pytest.raises(StoreError) as caught:
        store.load("agent-1")
    assert caught.value.code is ErrorCode.STORE_CLOSED


@pytest.mark.parametrize(
    ("setting", "value"), [("pool_size", 0), ("pool_timeout", 0.0)]
)
def test_pool_settings_out_of_range_are_refused(
    schema: str, setting: str, value: float
) -> None:
    with pytest.raises(ValueError, match=setting):
        PostgresStore(DSN, schema=schema, **{setting: value})  # type: ignore[arg-type]


# A restarted server


def _pg_bin() -> Path | None:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: [int(p) for p in path.parent.name.split(".") if p.isdigit()],
    )
    found = [path for path in candidates if (path / "initdb").exists()]
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return None if initdb is None else Path(initdb).parent


class Server:
    """A throwaway PostgreSQL server in a temporary folder, trusting local users."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        # Not pytest's tmp_path: as root, the server runs as `postgres`,
        # which cannot enter root's private temporary folders.
        self.folder = Path(tempfile.mkdtemp(prefix="webchat-wrapup-pg-"))
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.folder, "postgres")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        subprocess.run(
            [*prefix, *command], check=True, capture_output=True, timeout=120
        )

    def _pg_ctl(self, *action: str) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder}"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.folder / "data"),
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-o",
            options,
            *action,
        )

    def start(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.folder / "data"),
            "--auth=trust",
            "--no-sync",
            "-U",
            "postgres",
        )
        self._pg_ctl("start")

    def restart(self) -> None:
        self._pg_ctl("-m", "fast", "restart")

    def remove(self) -> None:
        try:
            self._pg_ctl("-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def own_server() -> Iterator[Server]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        reason = "no PostgreSQL server binaries (initdb) to start a server with"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run this test)", pytrace=False)
        pytest.skip(reason)
    server = Server(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.remove()


def test_a_restarted_server_costs_a_retry_not_an_error(own_server: Server) -> None:
    with PostgresStore(own_server.dsn, schema="restart", pool_size=3) as store:
        entries = with_history(store, 2)
        readers = [store.all_history() for _ in range(3)]
        for reader in readers:
            next(reader)  # three connections open at once...
        for reader in readers:
            reader.close()  # type: ignore[attr-defined]
        # ...and idle in the pool when the server goes down and comes back.
        own_server.restart()
        assert store.load("agent-1") is not None
        store.save(Change("agent-1", 1, AgentState.new("agent-1")))
        assert store.history("cust-1").entries == tuple(entries)
        assert list(store.all_history()) == entries
        assert store.claim_due(T0, 10, timedelta(seconds=30)) == []


# What the extra installs


def test_the_postgres_extra_brings_a_driver_with_libpq_built_in() -> None:
    # psycopg[binary] ships libpq in its wheel, so the extra works on a
    # machine without the PostgreSQL client libraries; psycopg[c] would not.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    project = tomllib.loads(
        (Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    )["project"]
    extra = [
        requirement.replace(" ", "")
        for requirement in project["optional-dependencies"]["postgres"]
    ]
    assert any(requirement.startswith("psycopg[binary]") for requirement in extra)
    assert any(requirement.startswith("psycopg-pool") for requirement in extra)
