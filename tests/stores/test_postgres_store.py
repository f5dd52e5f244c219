"""The PostgreSQL store passes the contract and matches the in-memory store.

The tests need a server: set WEBCHAT_WRAPUP_POSTGRES_DSN (``.ci/run``
starts a throwaway one). Without it they skip locally and fail in CI
(``CI=true``), so they can never silently not run.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import pytest
from erasure_days import (
    SECRET,
    TRACES,
    Schema2Day,
    busy_day,
    check_erases_as_the_reference,
    schema_2_day,
)

from support import postgres_dsn
from webchat_wrapup import (
    AgentState,
    AssignChat,
    CommandRefused,
    ErrorCode,
    QueuePolicy,
    StoreError,
    decide,
)
from webchat_wrapup.ports import Change, CommandRecord, Outcome, Store, StoredAgent
from webchat_wrapup.stores._codec import StateCodec
from webchat_wrapup.stores._rows import change_rows
from webchat_wrapup.testing.contract import T0, RemembersStatesContract, StoreContract
from webchat_wrapup.testing.stateful import StoreComparison

DSN = postgres_dsn()

psycopg = pytest.importorskip("psycopg")
from webchat_wrapup.stores import _pg_conversation  # noqa: E402
from webchat_wrapup.stores._pg_schema import MIGRATIONS as _MIGRATIONS  # noqa: E402
from webchat_wrapup.stores.postgres import (  # noqa: E402
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


class TestPostgresStore(StoreContract, RemembersStatesContract):
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
    assert SCHEMA_VERSION == 4


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


def run_first_release(schema: str) -> None:
    """Create ``schema`` with the first release's script."""
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
        for statement in FIRST_RELEASE.split(";"):
            if statement.strip():
                connection.execute(statement.format(schema=f'"{schema}"'))


def test_migration_zero_is_the_first_release(schema: str) -> None:
    released = fresh_schema()
    try:
        run_first_release(released)
        with psycopg.connect(DSN, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{schema}"')
            connection.execute(f'CREATE TABLE "{schema}".meta (version INT NOT NULL)')
            for statement in _MIGRATIONS[0]:
                connection.execute(statement.format(schema=f'"{schema}"'))
        assert layout(schema) == layout(released)
    finally:
        drop(released)


def test_a_schema_of_the_first_release_is_migrated_to_the_layout_of_a_new_one(
    schema: str,
) -> None:
    made = fresh_schema()
    try:
        with PostgresStore(DSN, schema=made):
            pass
        run_first_release(schema)
        with PostgresStore(DSN, schema=schema) as store:
            store.save(Change("agent-1", 0, AgentState.new("agent-1", capacity=2)))
            stored = store.load("agent-1")
        assert layout(schema) == layout(made)
    finally:
        drop(made)
    assert stored is not None
    assert stored.state.capacity == 2


def test_each_migration_step_is_a_list_of_single_statements() -> None:
    # Executed one by one, never split on ";" (which a string literal or a
    # function body could contain: schema 2's does, between its $$ quotes).
    assert len(_MIGRATIONS) == SCHEMA_VERSION
    for step in _MIGRATIONS:
        assert step
        for statement in step:
            assert statement.count("$$") % 2 == 0
            assert ";" not in re.sub(r"\$\$.*?\$\$", "", statement, flags=re.S)


# Schema 1 is migrated to schema 2 on open


def holding(agent_id: str, *chat_ids: str) -> AgentState:
    state = AgentState.new(agent_id, capacity=5)
    for chat_id in chat_ids:
        assign = AssignChat(agent_id, chat_id, "cust-1", QueuePolicy("support"))
        state = decide(state, assign, T0).state
    return state


def write_schema_1(schema: str, changes: list[Change]) -> None:
    """A version-1 schema holding ``changes``' rows as the codec writes them."""
    run_first_release(schema)
    codec = StateCodec()
    name = f'"{schema}"'
    with psycopg.connect(DSN, autocommit=True) as connection:
        for change in changes:
            rows = change_rows(change, codec, set())
            connection.execute(
                f"INSERT INTO {name}.agents VALUES (%s, %s, %s, %s, NULL)",
                (change.agent_id, change.expected_version + 1, rows.state, rows.due),
            )
            for policy in rows.policies:
                connection.execute(
                    f"INSERT INTO {name}.policies VALUES (%s, %s) "
                    "ON CONFLICT DO NOTHING",
                    policy,
                )
            if rows.command is not None:
                connection.execute(
                    f"INSERT INTO {name}.commands VALUES (%s, %s, %s, %s)",
                    rows.command,
                )


SCHEMA_1_CHANGES = [
    Change("agent-1", 0, holding("agent-1", "chat-1", "chat-2")),
    Change(
        "agent-2",
        0,
        holding("agent-2", "chat-3"),
        command=CommandRecord("cmd-1", "agent-2", "print", Outcome("agent-2", 1)),
    ),
    Change("agent-3", 0, AgentState.new("agent-3")),
    # Schema 1 did not keep one holder per chat: two agents may hold one.
    Change("agent-4", 0, holding("agent-4", "chat-3")),
]


def rows_of(schema: str, query: str, *parameters: object) -> list[tuple[object, ...]]:
    """The rows of ``query``, with ``{schema}`` the schema's quoted name."""
    with psycopg.connect(DSN, autocommit=True) as connection:
        text = query.format(schema=f'"{schema}"')
        return connection.execute(text, parameters or None).fetchall()


def test_a_schema_1_is_migrated_on_open_and_keeps_everything(schema: str) -> None:
    write_schema_1(schema, SCHEMA_1_CHANGES)
    opened = datetime.now(timezone.utc)
    with PostgresStore(DSN, schema=schema) as store:
        for change in SCHEMA_1_CHANGES:
            assert store.load(change.agent_id) == StoredAgent(change.state, 1)
        record = store.find_command("cmd-1")
    assert rows_of(schema, "SELECT version FROM {schema}.meta") == [(4,)]
    assert record is not None
    assert (record.agent_id, record.outcome) == ("agent-2", Outcome("agent-2", 1))
    # Dated at the upgrade, so a retry within the retention is still replayed.
    assert record.recorded_at is not None
    assert opened <= record.recorded_at <= datetime.now(timezone.utc)
    held = rows_of(schema, "SELECT chat_id, agent_id FROM {schema}.held_chats")
    assert sorted(held) == [
        ("chat-1", "agent-1"),
        ("chat-2", "agent-1"),
        ("chat-3", "agent-2"),
    ]
    functions = rows_of(
        schema,
        "SELECT proname FROM pg_proc WHERE pronamespace = to_regnamespace(%s)",
        schema,
    )
    assert functions == []  # the migration's helper is gone


def test_a_migrated_schema_keeps_one_holder_per_chat(schema: str) -> None:
    write_schema_1(schema, SCHEMA_1_CHANGES)
    with PostgresStore(DSN, schema=schema) as store:
        with pytest.raises(CommandRefused) as refused:
            store.save(Change("agent-3", 1, holding("agent-3", "chat-2")))
        assert refused.value.code is ErrorCode.CHAT_HELD_BY_ANOTHER_AGENT
        assert refused.value.details["reason"] == "agent 'agent-1' holds it"
        # agent-4 held chat-3 beside agent-2 before the upgrade: it keeps it
        # and may go on saving, until it lets go of it.
        store.save(Change("agent-4", 1, holding("agent-4", "chat-3", "chat-9")))
        store.save(Change("agent-4", 2, holding("agent-4", "chat-9")))
        with pytest.raises(CommandRefused):
            store.save(Change("agent-4", 3, holding("agent-4", "chat-9", "chat-3")))
        store.save(Change("agent-1", 1, holding("agent-1", "chat-1")))
        store.save(Change("agent-3", 1, holding("agent-3", "chat-2")))


STATE_DAMAGE = {
    "not JSON": '["agent-1", 1, {',
    "numbers": "[1, 2, 3, 4, 5]",
    "a string": '"agent-1"',
    "an object": '{"chats": [["chat-1"]]}',
    "chats not a list": '["agent-1", 1, "active", null, {"a": 1}]',
    "a chat not a list": '["agent-1", 1, "active", null, ["chat-1"]]',
    "a chat id not text": '["agent-1", 1, "active", null, [[7]]]',
}


@pytest.mark.parametrize("damage", STATE_DAMAGE.values(), ids=STATE_DAMAGE.keys())
def test_a_damaged_agent_row_does_not_stop_the_migration(
    schema: str, damage: str
) -> None:
    write_schema_1(schema, SCHEMA_1_CHANGES)
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(
            f"UPDATE \"{schema}\".agents SET state = %s WHERE agent_id = 'agent-1'",
            (damage,),
        )
    with PostgresStore(DSN, schema=schema) as store:
        assert store.load("agent-2") == StoredAgent(SCHEMA_1_CHANGES[1].state, 1)
        with pytest.raises(StoreError) as caught:
            store.load("agent-1")
        assert caught.value.code is ErrorCode.STORE_CORRUPT
        # What agent-1 held is free: its row holds nothing the store can read.
        store.save(Change("agent-3", 1, holding("agent-3", "chat-1")))
    assert rows_of(schema, "SELECT version FROM {schema}.meta") == [(4,)]


def test_a_migration_that_fails_leaves_the_schema_at_1(
    schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_schema_1(schema, SCHEMA_1_CHANGES)
    first, second, *later = _MIGRATIONS
    broken = (*second, "SELECT no_such_function()")
    monkeypatch.setattr(_pg_conversation, "MIGRATIONS", (first, broken, *later))
    with pytest.raises(StoreError):
        PostgresStore(DSN, schema=schema)
    assert rows_of(schema, "SELECT version FROM {schema}.meta") == [(1,)]
    columns = rows_of(
        schema,
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = 'commands' "
        "ORDER BY ordinal_position",
        schema,
    )
    assert [c for (c,) in columns] == [
        "command_id",
        "agent_id",
        "fingerprint",
        "outcome",
    ]
    held_chats = rows_of(schema, "SELECT to_regclass(%s)", f"{schema}.held_chats")
    assert held_chats == [(None,)]
    monkeypatch.undo()
    with PostgresStore(DSN, schema=schema) as store:  # and migrates once fixed
        assert store.load("agent-1") == StoredAgent(SCHEMA_1_CHANGES[0].state, 1)


# Schema 2 is migrated to schema 3 on open


def write_schema_2(schema: str, day: Schema2Day) -> None:
    """A version-2 schema (the first two migrations, as the version-2 code
    ran them) holding ``day``'s rows as that code wrote them."""
    name = f'"{schema}"'
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {name}")
        connection.execute(f"CREATE TABLE {name}.meta (version INT NOT NULL)")
        for step in _MIGRATIONS[:2]:
            for statement in step:
                connection.execute(statement.format(schema=name))
        connection.execute(f"INSERT INTO {name}.meta VALUES (2)")
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {name}.agents VALUES (%s, %s, %s, %s, NULL)", day.agents
            )
            cursor.executemany(
                f"INSERT INTO {name}.policies VALUES (%s, %s)", day.policies
            )
            cursor.executemany(
                f"INSERT INTO {name}.held_chats VALUES (%s, %s)", day.held_chats
            )
            cursor.executemany(
                f"INSERT INTO {name}.commands VALUES (%s, %s, %s, %s, %s)",
                day.commands,
            )
            cursor.executemany(
                f"INSERT INTO {name}.history (customer_id, agent_id, chat_id, "
                "chat_started_at, wrap_up_ended_at, entry) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                day.history,
            )


def test_a_schema_2_is_migrated_and_erases_as_the_reference_store(
    schema: str,
) -> None:
    day = schema_2_day()
    write_schema_2(schema, day)
    with PostgresStore(DSN, schema=schema) as store:
        check_erases_as_the_reference(store, day)
    assert rows_of(schema, "SELECT version FROM {schema}.meta") == [(4,)]
    leftovers = rows_of(
        schema,
        "SELECT count(*) FROM pg_proc WHERE pronamespace = to_regnamespace(%s)",
        schema,
    )
    helper = rows_of(schema, "SELECT to_regclass(%s)", f"{schema}.history_by_chat")
    assert (leftovers, helper) == ([(0,)], [(None,)])  # the migration's own


def test_a_schema_2_migrated_has_the_layout_of_a_new_one(schema: str) -> None:
    made = fresh_schema()
    try:
        with PostgresStore(DSN, schema=made):
            pass
        write_schema_2(schema, schema_2_day())
        with PostgresStore(DSN, schema=schema):
            pass
        assert layout(schema) == layout(made)
    finally:
        drop(made)


# Erasure leaves nothing in a dump


def pg_dump(schema: str) -> str:
    """The schema as ``pg_dump`` writes it: every live row, as SQL text."""
    found = shutil.which("pg_dump") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))), None
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the erasure dump test: no pg_dump")
        pytest.skip("no pg_dump to dump the schema with")
    done = subprocess.run(
        [found, f"--dbname={DSN}", f"--schema={schema}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_an_erased_customer_is_in_no_dump_of_the_schema(schema: str) -> None:
    with PostgresStore(DSN, schema=schema) as store:
        service = busy_day(store, rounds=15)
        before = pg_dump(schema)
        erasure = service.erase_customer(SECRET, erased_by="dpo-1")
        after = pg_dump(schema)
        assert service.history("cust-3-1").entries != ()
    assert all(trace in before for trace in TRACES)  # the test can fail
    assert (erasure.history_entries, erasure.command_records) == (2, 12)
    assert [trace for trace in TRACES if trace in after] == []
    assert erasure.erasure_id in after  # the record of it stays


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
