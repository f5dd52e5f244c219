"""Transfers: each agent wraps up their own leg of the chat."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import T0, at, postgres_dsn, queue
from webchat_wrapup import (
    AssignChat,
    ChatTransferred,
    CommandRefused,
    EndedBy,
    ErrorCode,
    InvalidInput,
    ManualClock,
    MemoryStore,
    Presence,
    Status,
    WrapUpService,
)
from webchat_wrapup.ports import Store
from webchat_wrapup.stores import SQLiteStore


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "sqlite":
        with SQLiteStore(tmp_path / "wrapup.db", synchronous="NORMAL") as store:
            yield store
    else:
        yield from _postgres_store()


def _postgres_store() -> Iterator[Store]:
    """A store in a fresh schema, dropped afterwards (skipped without a
    server, as the PostgreSQL store's own tests are)."""
    dsn = postgres_dsn()
    psycopg = pytest.importorskip("psycopg")
    from webchat_wrapup.stores.postgres import PostgresStore

    schema = f"test_{uuid.uuid4().hex[:12]}"
    try:
        with PostgresStore(dsn, schema=schema, pool_size=2) as store:
            yield store
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def service(store: Store, clock: ManualClock) -> WrapUpService:
    service = WrapUpService(store, clock)
    for agent_id in ("ana", "ben"):
        service.add_agent(agent_id)
    service.assign("ana", "chat-1", "cust-1", queue())
    clock.set(at(20))
    return service


def test_a_transfer_to_an_agent_starts_the_next_leg_at_once(
    service: WrapUpService, clock: ManualClock
) -> None:
    outcome = service.transfer("ana", "chat-1", to_agent_id="ben")
    (moved,) = [e for e in outcome.events if isinstance(e, ChatTransferred)]
    assert (moved.to_agent_id, moved.next_leg) == ("ben", 2)
    assert service.view("ana").status is Status.WRAP_UP
    ben = service.view("ben")
    assert ben.status is Status.HANDLING_CHAT
    assert [chat.chat_id for chat in ben.chats] == ["chat-1"]


def test_each_leg_gets_its_own_history_entry_linked_by_chat_and_leg(
    service: WrapUpService, clock: ManualClock
) -> None:
    service.transfer("ana", "chat-1", to_agent_id="ben")
    service.complete("ana", "chat-1")
    clock.set(at(100))
    service.end_chat("ben", "chat-1")
    service.complete("ben", "chat-1")
    first, second = service.history("cust-1").entries
    assert (first.agent_id, first.leg, first.ended_by) == ("ana", 1, EndedBy.TRANSFER)
    assert first.transferred_to_agent == "ben"
    assert (second.agent_id, second.leg, second.ended_by) == (
        "ben",
        2,
        EndedBy.CUSTOMER,
    )
    assert second.transferred_to_agent is None


def test_a_transfer_to_an_agent_who_cannot_take_it_changes_nothing(
    service: WrapUpService, store: Store
) -> None:
    service.choose_presence("ben", Presence.BREAK)
    before = store.load("ana"), store.load("ben")
    with pytest.raises(CommandRefused) as refused:
        service.transfer("ana", "chat-1", to_agent_id="ben")
    assert refused.value.code is ErrorCode.AGENT_NOT_AVAILABLE
    assert (store.load("ana"), store.load("ben")) == before


def test_a_transfer_to_a_queue_waits_for_the_routers_next_assign(
    service: WrapUpService,
) -> None:
    outcome = service.transfer("ana", "chat-1", to_queue_id="sales")
    (moved,) = [e for e in outcome.events if isinstance(e, ChatTransferred)]
    assert (moved.to_queue_id, moved.next_leg) == ("sales", 2)
    assert service.view("ben").chats == ()
    command = AssignChat("ben", "chat-1", "cust-1", queue("sales"), leg=moved.next_leg)
    service.execute(command)
    assert service.view("ben").chats[0].chat_id == "chat-1"


def test_a_retried_transfer_is_replayed(service: WrapUpService) -> None:
    first = service.transfer("ana", "chat-1", to_agent_id="ben", command_id="t-1")
    again = service.transfer("ana", "chat-1", to_agent_id="ben", command_id="t-1")
    assert again.replayed
    assert again.version == first.version


@pytest.mark.parametrize(
    ("to_agent", "to_queue"), [(None, None), ("ben", "sales"), ("ana", None)]
)
def test_a_transfer_names_exactly_one_other_target(
    service: WrapUpService, to_agent: str | None, to_queue: str | None
) -> None:
    with pytest.raises(InvalidInput):
        service.transfer("ana", "chat-1", to_agent_id=to_agent, to_queue_id=to_queue)
