"""The PostgreSQL store's schema 2: damaged rows named, one holder per chat
across servers, settled loads, and claims and pruning on their indexes.

Another server's transaction under way is played by a psycopg connection
of the test's own; a store's session is known on the server by its
``application_name``, so a test sees it wait for a lock without measuring
any time.

Needs a server: set WEBCHAT_WRAPUP_POSTGRES_DSN; without it the tests skip
locally and fail in CI (``CI=true``). Each test uses a fresh schema and
drops it.
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import attrs
import pytest

from support import postgres_dsn
from webchat_wrapup import (
    AgentState,
    AssignChat,
    CommandRefused,
    ContactHistoryEntry,
    EndChat,
    EndedBy,
    ErrorCode,
    QueuePolicy,
    StoreError,
    WrapUpEnding,
    WrapUpPolicy,
    decide,
)
from webchat_wrapup.clocks import ManualClock
from webchat_wrapup.ports import Change, CommandRecord, Outcome, StoredAgent
from webchat_wrapup.service import WrapUpService
from webchat_wrapup.testing.contract import T0

DSN = postgres_dsn()

psycopg = pytest.importorskip("psycopg")
from webchat_wrapup.stores.postgres import PostgresStore  # noqa: E402

WAIT_LIMIT = 30.0
"""How long a test polls for a session to wait on a lock before failing:
a bound on a hung test, not a measure of anything."""


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(DSN, autocommit=True) as connection:
        # A failed test may leave a transaction of its own holding a lock.
        connection.execute("SET lock_timeout = '10s'")
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def app_name() -> str:
    """An application_name that tells the store's sessions on the server."""
    return f"wrapup_test_{uuid.uuid4().hex[:12]}"


def execute(schema: str, query: str, *parameters: object) -> list[Any]:
    """Run ``query`` (``{schema}`` is the schema's quoted name) on a
    connection of the test's own; its rows, if it returns any."""
    with psycopg.connect(DSN, autocommit=True) as connection:
        cursor = connection.execute(
            query.format(schema=f'"{schema}"'), parameters or None
        )
        return cursor.fetchall() if cursor.description else []


def waits_for_a_lock(app_name: str) -> bool:
    """Whether a session of the store's waits for a lock on the server."""
    with psycopg.connect(DSN, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = %s AND wait_event_type = 'Lock'",
            (app_name,),
        ).fetchone()
    return bool(row[0])


def until(condition: Callable[[], bool]) -> bool:
    """Poll ``condition`` until it holds, or ``WAIT_LIMIT`` has passed."""
    deadline = time.monotonic() + WAIT_LIMIT
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class InThread:
    """A call run in a thread of its own: its result or its error."""

    def __init__(self, call: Callable[[], object]) -> None:
        self.result: object = None
        self.error: BaseException | None = None
        self._call = call
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = self._call()
        except BaseException as error:
            self.error = error

    def done(self) -> bool:
        return not self.thread.is_alive()

    def join(self) -> None:
        self.thread.join()


def holding(agent_id: str, *chat_ids: str, capacity: int = 5) -> AgentState:
    state = AgentState.new(agent_id, capacity=capacity)
    for chat_id in chat_ids:
        assign = AssignChat(agent_id, chat_id, "cust-1", QueuePolicy("support"))
        state = decide(state, assign, T0).state
    return state


def record(command_id: str, agent_id: str, version: int) -> CommandRecord:
    return CommandRecord(command_id, agent_id, "print", Outcome(agent_id, version), T0)


def entry(chat_id: str) -> ContactHistoryEntry:
    return ContactHistoryEntry(
        customer_id="cust-1",
        chat_id=chat_id,
        agent_id="agent-2",
        queue_id="support",
        classification=None,
        additional_text=None,
        chat_started_at=T0,
        chat_ended_at=T0,
        ended_by=EndedBy.CUSTOMER,
        wrap_up_started_at=T0,
        wrap_up_ended_at=T0,
        ending=WrapUpEnding.COMPLETED_EARLY,
        extensions_used=0,
        abuse=None,
    )


# Damaged rows


@pytest.fixture
def filled(schema: str) -> str:
    with PostgresStore(DSN, schema=schema) as store:
        store.save(Change("agent-1", 0, holding("agent-1", "chat-1")))
        store.save(Change("agent-2", 0, holding("agent-2", "chat-2")))
        entries = (entry("chat-0"), entry("chat-2"))  # history rows 1 and 2
        change = Change("agent-2", 1, holding("agent-2"), entries)
        store.save(attrs.evolve(change, command=record("cmd-1", "agent-2", 2)))
    return schema


AGENT_DAMAGE: dict[str, tuple[str, tuple[object, ...]]] = {
    "not JSON": (
        "UPDATE {schema}.agents SET state = 'garbage' WHERE agent_id = 'agent-1'",
        (),
    ),
    "wrong shape": (
        "UPDATE {schema}.agents SET state = '[1]' WHERE agent_id = 'agent-1'",
        (),
    ),
    "unknown phase": (
        "UPDATE {schema}.agents SET state = replace(state, '\"active\"', '\"lost\"') "
        "WHERE agent_id = 'agent-1'",
        (),
    ),
    "version": (
        "UPDATE {schema}.agents SET version = 0 WHERE agent_id = 'agent-1'",
        (),
    ),
    "another agent": (
        "UPDATE {schema}.agents SET state = "
        "(SELECT state FROM {schema}.agents WHERE agent_id = 'agent-2') "
        "WHERE agent_id = 'agent-1'",
        (),
    ),
    "policy": ("UPDATE {schema}.policies SET policy = %s", ('{"queue_id": 7}',)),
    "no policy": ("DELETE FROM {schema}.policies", ()),
}


@pytest.mark.parametrize("damage", AGENT_DAMAGE.values(), ids=AGENT_DAMAGE.keys())
@pytest.mark.parametrize("settled", [False, True], ids=["load", "load_settled"])
def test_a_damaged_agent_row_is_store_corrupt_naming_the_agent(
    filled: str, damage: tuple[str, tuple[object, ...]], settled: bool
) -> None:
    execute(filled, damage[0], *damage[1])
    with PostgresStore(DSN, schema=filled) as store:
        load = store.load_settled if settled else store.load
        with pytest.raises(StoreError) as caught:
            load("agent-1")
    error = caught.value
    assert error.code is ErrorCode.STORE_CORRUPT
    assert (error.details["table"], error.details["key"]) == ("agent", "agent-1")
    assert error.details["schema"] == filled
    assert "agent row 'agent-1' is damaged" in error.message


def test_a_save_over_a_damaged_row_it_never_read_is_store_corrupt(
    filled: str,
) -> None:
    execute(filled, AGENT_DAMAGE["not JSON"][0])
    # The store must read the chats the row holds, and cannot.
    with (
        PostgresStore(DSN, schema=filled) as store,
        pytest.raises(StoreError) as caught,
    ):
        store.save(Change("agent-1", 1, holding("agent-1", "chat-1", "chat-9")))
    assert caught.value.code is ErrorCode.STORE_CORRUPT
    assert caught.value.details["key"] == "agent-1"
    held = execute(filled, "SELECT chat_id, agent_id FROM {schema}.held_chats")
    assert held == [("chat-1", "agent-1")]


HISTORY_DAMAGE: dict[str, tuple[str, tuple[object, ...]]] = {
    "not JSON": (
        "UPDATE {schema}.history SET entry = 'garbage' WHERE sequence = 2",
        (),
    ),
    "missing field": (
        "UPDATE {schema}.history SET entry = (entry::jsonb - 'chat_id')::text "
        "WHERE sequence = 2",
        (),
    ),
    "wrong type": (
        "UPDATE {schema}.history SET entry = "
        "jsonb_set(entry::jsonb, %s, '[]')::text WHERE sequence = 2",
        (["wrap_up_ended_at"],),
    ),
}


@pytest.mark.parametrize("damage", HISTORY_DAMAGE.values(), ids=HISTORY_DAMAGE.keys())
@pytest.mark.parametrize("read", ["history", "all_history"])
def test_a_damaged_history_row_is_store_corrupt_naming_the_row(
    filled: str, damage: tuple[str, tuple[object, ...]], read: str
) -> None:
    execute(filled, damage[0], *damage[1])
    with PostgresStore(DSN, schema=filled) as store:
        call = {
            "history": lambda: store.history("cust-1"),
            "all_history": lambda: list(store.all_history()),
        }[read]
        with pytest.raises(StoreError) as caught:
            call()
        assert store.load("agent-2") is not None  # the connection went back
    error = caught.value
    assert error.code is ErrorCode.STORE_CORRUPT
    assert (error.details["table"], error.details["key"]) == ("history", 2)
    assert "history row 2 is damaged" in error.message


COMMAND_DAMAGE: dict[str, tuple[str, tuple[object, ...]]] = {
    "outcome": ("UPDATE {schema}.commands SET outcome = '[\"agent-1\"]'", ()),
    "not JSON": ("UPDATE {schema}.commands SET outcome = 'garbage'", ()),
    "recorded at": ("UPDATE {schema}.commands SET recorded_at = %s", (2**63 - 1,)),
}


@pytest.mark.parametrize("damage", COMMAND_DAMAGE.values(), ids=COMMAND_DAMAGE.keys())
def test_a_damaged_command_record_is_store_corrupt_naming_it(
    filled: str, damage: tuple[str, tuple[object, ...]]
) -> None:
    execute(filled, damage[0], *damage[1])
    with PostgresStore(DSN, schema=filled) as store, pytest.raises(StoreError) as e:
        store.find_command("cmd-1")
    assert e.value.code is ErrorCode.STORE_CORRUPT
    assert (e.value.details["table"], e.value.details["key"]) == ("command", "cmd-1")


def test_rows_next_to_a_damaged_one_still_read(filled: str) -> None:
    execute(filled, AGENT_DAMAGE["not JSON"][0])
    with PostgresStore(DSN, schema=filled) as store:
        stored = store.load("agent-2")
        assert stored is not None
        assert stored.version == 2
        assert store.find_command("cmd-1") is not None
        assert len(store.history("cust-1").entries) == 2


def in_wrap_up(agent_id: str, ended: float) -> AgentState:
    queue = QueuePolicy("support", WrapUpPolicy(countdown_seconds=60))
    chat_id = f"chat-of-{agent_id}"
    state = decide(
        AgentState.new(agent_id), AssignChat(agent_id, chat_id, "c", queue), T0
    ).state
    return decide(
        state, EndChat(agent_id, chat_id), T0 + timedelta(seconds=ended)
    ).state


def test_a_sweep_goes_past_a_damaged_agent_and_takes_it_after_new_ones(
    schema: str,
) -> None:
    with PostgresStore(DSN, schema=schema) as store:
        for number in range(3):
            agent_id = f"agent-{number}"
            store.save(Change(agent_id, 0, in_wrap_up(agent_id, number)))
    # The earliest due, so the first every sweep would claim.
    execute(schema, AGENT_DAMAGE["not JSON"][0].replace("agent-1", "agent-0"))
    clock = ManualClock(T0 + timedelta(minutes=5))
    with PostgresStore(DSN, schema=schema) as store:
        service = WrapUpService(store, clock, lease=timedelta(seconds=30))
        first = service.sweep(limit=10)
        for number in (3, 4):
            agent_id = f"agent-{number}"
            store.save(Change(agent_id, 0, in_wrap_up(agent_id, 100 + number)))
        clock.advance(timedelta(minutes=1))  # agent-0's claim has run out
        second = service.sweep(limit=2)
        third = service.sweep(limit=2)
    assert (first.claimed, first.expired) == (3, 2)
    [failure] = first.failures
    assert failure.agent_id == "agent-0"
    assert isinstance(failure.error, StoreError)
    assert failure.error.code is ErrorCode.STORE_CORRUPT
    assert (second.claimed, second.expired, second.failures) == (2, 2, ())
    assert [f.agent_id for f in third.failures] == ["agent-0"]


# One chat, one holder, across servers


def test_a_store_that_never_read_the_agent_still_keeps_one_holder(
    schema: str,
) -> None:
    with PostgresStore(DSN, schema=schema) as first:
        first.save(Change("agent-1", 0, holding("agent-1", "chat-1")))
        first.save(Change("agent-2", 0, AgentState.new("agent-2")))
    with PostgresStore(DSN, schema=schema) as second:  # nothing of agent-1 known
        with pytest.raises(CommandRefused):
            second.save(Change("agent-2", 1, holding("agent-2", "chat-1")))
        second.save(Change("agent-1", 1, holding("agent-1", "chat-5")))
    with PostgresStore(DSN, schema=schema) as third:
        third.save(Change("agent-2", 1, holding("agent-2", "chat-1")))
        with pytest.raises(CommandRefused):
            third.save(Change("agent-2", 2, holding("agent-2", "chat-1", "chat-5")))
    held = execute(schema, "SELECT chat_id, agent_id FROM {schema}.held_chats")
    assert sorted(held) == [("chat-1", "agent-2"), ("chat-5", "agent-1")]


@pytest.mark.parametrize("ending", ["commit", "rollback"])
@pytest.mark.parametrize("with_id", [False, True], ids=["no id", "command id"])
def test_a_chat_another_server_is_taking_goes_to_whichever_commits(
    schema: str, app_name: str, ending: str, with_id: bool
) -> None:
    with PostgresStore(f"{DSN} application_name={app_name}", schema=schema) as store:
        store.save(Change("agent-2", 0, AgentState.new("agent-2")))
        change = Change("agent-2", 1, holding("agent-2", "chat-x"))
        if with_id:  # the one-statement save, then the transaction's
            change = attrs.evolve(change, command=record("cmd-1", "agent-2", 2))
        with psycopg.connect(DSN) as other:  # agent-1's save, under way
            other.execute(
                f'INSERT INTO "{schema}".held_chats VALUES (%s, %s)',
                ("chat-x", "agent-1"),
            )
            saving = InThread(lambda: store.save(change))
            assert until(lambda: saving.done() or waits_for_a_lock(app_name))
            waited = not saving.done()
            getattr(other, ending)()
        saving.join()
        stored = store.load("agent-2")
        found = store.find_command("cmd-1")
    assert waited
    assert stored is not None
    if ending == "commit":
        assert isinstance(saving.error, CommandRefused)
        assert saving.error.details["reason"] == "agent 'agent-1' holds it"
        assert (stored.version, stored.state.chats, found) == (1, (), None)
    else:
        assert saving.error is None
        assert stored == StoredAgent(change.state, 2)
        assert (found is not None) == with_id
    held = execute(schema, "SELECT agent_id FROM {schema}.held_chats")
    assert held == [("agent-1",) if ending == "commit" else ("agent-2",)]


# Erasure and retirement, across servers


def erase(store: PostgresStore, customer_id: str) -> tuple[int, int]:
    erasure = store.erase_customer(
        customer_id, erasure_id=f"e-{customer_id}", erased_at=T0, erased_by="dpo-1"
    )
    return erasure.history_entries, erasure.command_records


def test_an_erasure_sees_a_chat_another_server_holds(schema: str) -> None:
    with (
        PostgresStore(DSN, schema=schema) as first,
        PostgresStore(DSN, schema=schema) as second,
    ):
        first.save(Change("agent-1", 0, holding("agent-1", "chat-1")))
        with pytest.raises(CommandRefused) as refused:
            erase(second, "cust-1")
        assert refused.value.code is ErrorCode.CUSTOMER_CHAT_HELD
        first.save(Change("agent-1", 1, holding("agent-1"), (entry("chat-1"),)))
        assert erase(second, "cust-1") == (1, 0)


def test_a_chat_a_save_under_way_lets_go_of_is_still_held_for_an_erasure(
    schema: str,
) -> None:
    with PostgresStore(DSN, schema=schema) as store:
        store.save(Change("agent-1", 0, holding("agent-1", "chat-1")))
        with psycopg.connect(DSN) as other:  # agent-1's save, under way
            other.execute(f'DELETE FROM "{schema}".held_chats')
            with pytest.raises(CommandRefused):
                erase(store, "cust-1")  # refused at once: it waits for nothing
            other.commit()
        assert erase(store, "cust-1") == (0, 0)


def test_an_agent_added_while_its_retirement_is_under_way_goes_on_from_it(
    schema: str, app_name: str
) -> None:
    with PostgresStore(f"{DSN} application_name={app_name}", schema=schema) as store:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        store.save(Change("agent-1", 1, holding("agent-1")))
        again = AgentState.new("agent-1", capacity=3)
        with psycopg.connect(DSN) as other:  # another server's retire_agent
            other.execute(store._sql.lock_agent_id, store._agent_lock("agent-1"))
            other.execute(store._sql.retire, {"agent": "agent-1", "version": 2})
            adding = InThread(lambda: store.save(Change("agent-1", 0, again)))
            assert until(lambda: adding.done() or waits_for_a_lock(app_name))
            waited = not adding.done()
            other.commit()
        adding.join()
        stored = store.load("agent-1")
    assert waited
    assert adding.error is None
    assert stored == StoredAgent(again, 3)
    assert execute(schema, "SELECT * FROM {schema}.retired_agents") == []


def test_of_agents_taking_one_chat_with_command_ids_exactly_one_holds_it(
    schema: str,
) -> None:
    agents = [f"agent-{number}" for number in range(6)]
    with PostgresStore(DSN, schema=schema, pool_size=6) as store:
        for agent_id in agents:
            store.save(Change(agent_id, 0, AgentState.new(agent_id)))
        barrier = threading.Barrier(len(agents))
        won: list[str] = []

        def take(agent_id: str) -> None:
            change = Change(agent_id, 1, holding(agent_id, "chat-x"))
            barrier.wait()
            try:
                store.save(attrs.evolve(change, command=record(agent_id, agent_id, 2)))
            except CommandRefused:
                return
            won.append(agent_id)

        threads = [threading.Thread(target=take, args=(a,)) for a in agents]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        recorded = [a for a in agents if store.find_command(a) is not None]
    assert len(won) == 1
    assert recorded == won
    assert execute(schema, "SELECT agent_id FROM {schema}.held_chats") == [(won[0],)]


SAVES_OF_AGENT_1: dict[str, tuple[AgentState, bool]] = {
    # The new state of agent-1 (holding chat-1 at version 1), and whether
    # the save must touch held_chats.
    "keeps its chats": (holding("agent-1", "chat-1", capacity=6), False),
    "takes a chat": (holding("agent-1", "chat-1", "chat-2"), True),
    "lets go of one": (holding("agent-1"), True),
}


@pytest.mark.parametrize("save", SAVES_OF_AGENT_1.values(), ids=SAVES_OF_AGENT_1.keys())
@pytest.mark.parametrize("with_id", [False, True], ids=["no id", "command id"])
def test_only_a_save_that_changes_the_chats_touches_held_chats(
    schema: str, app_name: str, save: tuple[AgentState, bool], with_id: bool
) -> None:
    state, touches = save
    with PostgresStore(f"{DSN} application_name={app_name}", schema=schema) as store:
        store.save(Change("agent-1", 0, holding("agent-1", "chat-1")))
        change = Change("agent-1", 1, state)
        if with_id:
            change = attrs.evolve(change, command=record("cmd-1", "agent-1", 2))
        with psycopg.connect(DSN) as locker:
            locker.execute(f'LOCK TABLE "{schema}".held_chats IN ACCESS EXCLUSIVE MODE')
            saving = InThread(lambda: store.save(change))
            assert until(lambda: saving.done() or waits_for_a_lock(app_name))
            waited = not saving.done()
            locker.rollback()
        saving.join()
        stored = store.load("agent-1")
    assert saving.error is None
    assert stored == StoredAgent(state, 2)
    assert waited == touches


# Round trips


class TracedPool:
    """One autocommit connection whose traffic can be traced."""

    def __init__(self) -> None:
        self.db = psycopg.connect(DSN, autocommit=True)

    @contextmanager
    def connection(self) -> Iterator[Any]:
        yield self.db

    def trace(self, call: Callable[[], object]) -> str:
        """What ``call`` sent and received, as libpq traces it."""
        with tempfile.TemporaryFile() as file:
            self.db.pgconn.trace(file.fileno())
            try:
                call()
            finally:
                self.db.pgconn.untrace()  # flushes the trace
            file.seek(0)
            return file.read().decode()


def round_trips(trace: str) -> int:
    """Each exchange with the server ends with its ReadyForQuery."""
    return trace.count("ReadyForQuery")


@pytest.mark.parametrize(
    "state",
    [holding("agent-1", "chat-1", capacity=6), holding("agent-1", "chat-1", "chat-2")],
    ids=["keeps its chats", "takes a chat"],
)
def test_a_command_with_an_id_and_no_history_is_one_round_trip(
    schema: str, state: AgentState
) -> None:
    pool = TracedPool()
    try:
        with PostgresStore(pool=pool, schema=schema) as store:
            store.save(Change("agent-1", 0, holding("agent-1", "chat-1")))
            assert store.load("agent-1") is not None  # as the service does
            change = Change("agent-1", 1, state, (), record("cmd-1", "agent-1", 2))
            trace = pool.trace(lambda: store.save(change))
            assert store.load("agent-1") == StoredAgent(state, 2)
    finally:
        pool.db.close()
    assert round_trips(trace) == 1


@pytest.mark.parametrize(
    ("chats", "touches"),
    [(("chat-1",), False), ((), True)],
    ids=["keeps its chats", "lets go of its chat"],
)
def test_a_save_with_history_costs_the_same_round_trips_whatever_its_chats(
    schema: str, chats: tuple[str, ...], touches: bool
) -> None:
    pool = TracedPool()
    try:
        with PostgresStore(pool=pool, schema=schema) as store:
            store.save(Change("agent-1", 0, holding("agent-1", "chat-1")))
            state = holding("agent-1", *chats, capacity=6)
            with_history = Change("agent-1", 1, state, (entry("chat-0"),))
            trace = pool.trace(lambda: store.save(with_history))
    finally:
        pool.db.close()
    assert ("held_chats" in trace) == touches
    # BEGIN, UPDATE (letting go of chats in the same statement), INSERT the
    # entry, COMMIT.
    assert round_trips(trace) == 4


# Settled loads


def test_a_settled_load_waits_for_a_save_under_way(schema: str, app_name: str) -> None:
    with PostgresStore(f"{DSN} application_name={app_name}", schema=schema) as store:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        with psycopg.connect(DSN) as other:  # another server's save, under way
            other.execute(
                f"UPDATE \"{schema}\".agents SET version = 2 WHERE agent_id = 'agent-1'"
            )
            loaded = store.load("agent-1")
            settled = InThread(lambda: store.load_settled("agent-1"))
            assert until(lambda: settled.done() or waits_for_a_lock(app_name))
            waited = not settled.done()
            other.commit()
        settled.join()
    assert loaded is not None
    assert loaded.version == 1
    assert waited
    assert isinstance(settled.result, StoredAgent)
    assert settled.result.version == 2


def test_a_settled_load_does_not_wait_for_another_settled_load(
    schema: str, app_name: str
) -> None:
    with PostgresStore(f"{DSN} application_name={app_name}", schema=schema) as store:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        with psycopg.connect(DSN) as other:  # a settled load, its lock kept
            other.execute(f'SELECT * FROM "{schema}".agents FOR SHARE')
            settled = InThread(lambda: store.load_settled("agent-1"))
            assert until(lambda: settled.done() or waits_for_a_lock(app_name))
            waited = not settled.done()
            other.rollback()
        settled.join()
    assert not waited
    assert isinstance(settled.result, StoredAgent)
    assert settled.result.version == 1


# Claims and pruning stay on their indexes


@pytest.fixture(scope="module")
def crowded() -> Iterator[PostgresStore]:
    """A schema with 50,000 agents (half due, a third of those claimed) and
    50,000 command records, its statistics up to date."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(DSN, schema=name)
    try:
        execute(
            name,
            "INSERT INTO {schema}.agents SELECT 'agent-' || i, 1, '[]', "
            "CASE WHEN i % 2 = 0 THEN i END, CASE WHEN i % 3 = 0 THEN i END "
            "FROM generate_series(1, 50000) AS i",
        )
        execute(
            name,
            "INSERT INTO {schema}.commands SELECT 'command-' || i, 'agent-1', "
            "'print', '[]', CASE WHEN i % 1000 <> 0 THEN i END "
            "FROM generate_series(1, 50000) AS i",
        )
        execute(name, "ANALYZE {schema}.agents")
        execute(name, "ANALYZE {schema}.commands")
        yield store
    finally:
        store.close()
        execute(name, "DROP SCHEMA {schema} CASCADE")


def plan(query: str, parameters: dict[str, object]) -> str:
    """How the server would run one of the store's statements."""
    with psycopg.connect(DSN, autocommit=True) as connection:
        rows = connection.execute(f"EXPLAIN {query}", parameters).fetchall()
    return "\n".join(row[0] for row in rows)


def test_claims_walk_the_due_index_and_sort_only_what_they_claim(
    crowded: PostgresStore,
) -> None:
    parameters = {"now": 40_000, "until": 50_000, "limit": 100}
    found = plan(crowded._sql.claim, parameters)
    assert "Seq Scan" not in found
    assert found.count("Index Scan using agents_due") == 2  # each group
    # The claimed, by key: an index scan, or a bitmap scan when the planner
    # expects many (either way the key's index, never every agent).
    assert "agents_pkey" in found
    assert "Index Cond: (agent_id = ANY" in found
    sort_keys = [line for line in found.splitlines() if "Sort Key" in line]
    assert all("chosen." in line for line in sort_keys), found


def test_pruning_reads_old_records_from_their_index(
    crowded: PostgresStore,
) -> None:
    found = plan(crowded._sql.prune, {"before": 10_000, "limit": 100})
    assert "Seq Scan" not in found
    assert found.count("commands_by_time") == 2  # the undated, the oldest
    assert "Sort" not in found


def test_a_prune_deletes_the_undated_then_the_oldest(schema: str) -> None:
    with PostgresStore(DSN, schema=schema) as store:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        for number, seconds in enumerate([30, None, 10, 20]):
            at = None if seconds is None else T0 + timedelta(seconds=seconds)
            made = CommandRecord(f"c-{number}", "agent-1", "p", Outcome("a", 1), at)
            change = Change("agent-1", number + 1, AgentState.new("agent-1"))
            store.save(attrs.evolve(change, command=made))
        assert store.prune_commands(T0 + timedelta(hours=1), 2) == 2
        left = [c for c in ("c-0", "c-1", "c-2", "c-3") if store.find_command(c)]
    assert left == ["c-0", "c-3"]
