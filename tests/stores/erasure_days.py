"""Days of chats for the erasure tests of the SQL stores.

``busy_day`` fills a store through the service, one customer's chats among
many, so a test can look for that customer's bytes afterwards.
``schema_2_day`` runs a smaller day on the reference store and gives its
rows as schema 2 wrote them, so a migration can be checked against what
the reference store erases.
"""

from __future__ import annotations

import attrs
import pytest

from webchat_wrapup import (
    CommandRefused,
    ErrorCode,
    Presence,
    QueuePolicy,
    WrapUpPolicy,
)
from webchat_wrapup.clocks import ManualClock
from webchat_wrapup.ports import Change, Store
from webchat_wrapup.service import WrapUpService
from webchat_wrapup.stores import MemoryStore
from webchat_wrapup.stores._codec import (
    StateCodec,
    instant_to_micros,
    outcome_to_json,
)
from webchat_wrapup.stores._entries import entry_to_json
from webchat_wrapup.stores._rows import HistoryRow, change_rows
from webchat_wrapup.testing.contract import T0

SECRET = "cust-erase-7f3a9c"
"""The customer erased; no other id or text contains this string's tail."""
SECRET_TEXTS = ("Refund for order 99-7f3a9c", "said 7f3a9c-rude words")
TRACES = (SECRET, "7f3a9c")
"""What must not be found anywhere once the customer is erased."""

QUEUE = QueuePolicy("support", WrapUpPolicy(countdown_seconds=60))


def busy_day(store: Store, rounds: int = 30) -> WrapUpService:
    """Five agents, ``rounds`` chats each, every command with a command id;
    the third agent serves the erased customer every seventh round, with
    their own texts."""
    clock = ManualClock(T0)
    service = WrapUpService(store, clock)
    agents = [f"agent-{number}" for number in range(5)]
    for agent in agents:
        service.add_agent(agent, capacity=3)
    for turn in range(rounds):
        for number, agent in enumerate(agents):
            secret = turn % 7 == 3 and number == 2
            customer = SECRET if secret else f"cust-{turn}-{number}"
            chat, ids = f"chat-{turn}-{number}", f"{turn}-{number}"
            service.assign(agent, chat, customer, QUEUE, command_id=f"a-{ids}")
            service.end_chat(agent, chat, command_id=f"e-{ids}")
            service.classify(
                agent,
                chat,
                text="Refund",
                additional_text=SECRET_TEXTS[0] if secret else f"text {ids}",
                command_id=f"c-{ids}",
            )
            reason = SECRET_TEXTS[1] if secret else f"reason {ids}"
            service.flag_abusive(agent, chat, reason, command_id=f"f-{ids}")
            service.extend(agent, chat, command_id=f"x-{ids}")
            service.complete(agent, chat, command_id=f"d-{ids}")
        clock.advance(1)
    return service


@attrs.frozen
class Schema2Day:
    """A day on the reference store, and its rows as schema 2 wrote them."""

    reference: MemoryStore
    agents: list[tuple[str, int, str, int | None]]
    policies: list[tuple[str, str]]
    held_chats: list[tuple[str, str]]
    commands: list[tuple[str, str, str, str, int | None]]
    history: list[HistoryRow]
    command_ids: tuple[str, ...]


COMMAND_IDS = tuple(
    f"{agent}-{step}"
    for agent, steps in (("a1", 4), ("a2", 5), ("a3", 6))
    for step in range(steps)
)


def schema_2_day() -> Schema2Day:
    """Every way a record names a customer, on the reference store.

    agent-1 holds chat-1 (cust-1) and chat-2 (cust-2, classified in wrap-up:
    the classification's event names only the chat). agent-2 finished
    chat-3 (cust-3), whose classification's record also names only the
    chat, then chose a presence (a record naming no customer). agent-3's
    assign of chat-5 (cust-5) came after chat-4's (cust-4) deadline, so its
    record carries chat-4's expiry too.
    """
    clock = ManualClock(T0)
    store = MemoryStore()
    service = WrapUpService(store, clock)
    for agent in ("agent-1", "agent-2", "agent-3"):
        service.add_agent(agent, capacity=2)
    ids = iter(COMMAND_IDS)
    service.assign("agent-1", "chat-1", "cust-1", QUEUE, command_id=next(ids))
    service.assign("agent-1", "chat-2", "cust-2", QUEUE, command_id=next(ids))
    service.end_chat("agent-1", "chat-2", command_id=next(ids))
    service.classify("agent-1", "chat-2", text="Billing", command_id=next(ids))
    service.assign("agent-2", "chat-3", "cust-3", QUEUE, command_id=next(ids))
    service.end_chat("agent-2", "chat-3", command_id=next(ids))
    service.classify(
        "agent-2", "chat-3", text="Refund", additional_text="x", command_id=next(ids)
    )
    service.complete("agent-2", "chat-3", command_id=next(ids))
    service.choose_presence(
        "agent-2", Presence.NOT_READY, "Lunch", command_id=next(ids)
    )
    service.assign("agent-3", "chat-4", "cust-4", QUEUE, command_id=next(ids))
    service.end_chat("agent-3", "chat-4", command_id=next(ids))
    service.flag_abusive("agent-3", "chat-4", "rude", command_id=next(ids))
    clock.advance(120)
    service.assign("agent-3", "chat-5", "cust-5", QUEUE, command_id=next(ids))
    service.end_chat("agent-3", "chat-5", command_id=next(ids))
    service.complete("agent-3", "chat-5", command_id=next(ids))
    return _rows(store)


def _rows(store: MemoryStore) -> Schema2Day:
    codec = StateCodec()
    agents, policies, held = [], [], []
    for agent_id in ("agent-1", "agent-2", "agent-3"):
        stored = store.load(agent_id)
        assert stored is not None
        rows = change_rows(Change(agent_id, 0, stored.state), codec, set())
        agents.append((agent_id, stored.version, rows.state, rows.due))
        policies += rows.policies
        held += [(chat.chat_id, agent_id) for chat in stored.state.chats]
    commands = []
    for command_id in COMMAND_IDS:
        record = store.find_command(command_id)
        assert record is not None
        assert record.recorded_at is not None
        commands.append(
            (
                command_id,
                record.agent_id,
                record.fingerprint,
                outcome_to_json(record.outcome),
                instant_to_micros(record.recorded_at),
            )
        )
    history = [
        (
            entry.customer_id,
            entry.agent_id,
            entry.chat_id,
            instant_to_micros(entry.chat_started_at),
            instant_to_micros(entry.wrap_up_ended_at),
            entry_to_json(entry),
        )
        for entry in store.all_history()
    ]
    return Schema2Day(
        store, agents, sorted(set(policies)), held, commands, history, COMMAND_IDS
    )


ERASABLE = ("cust-3", "cust-4", "cust-5")
"""The day's customers whose chats have ended."""
HELD = {"cust-1": ("agent-1", "chat-1"), "cust-2": ("agent-1", "chat-2")}
"""The day's customers whose chats are held: holder and chat."""


def erase(store: Store, customer_id: str) -> tuple[int, int]:
    """Erase ``customer_id``; the entries and records the erasure removed."""
    erasure = store.erase_customer(
        customer_id, erasure_id=f"e-{customer_id}", erased_at=T0, erased_by="dpo-1"
    )
    return erasure.history_entries, erasure.command_records


def check_erases_as_the_reference(store: Store, day: Schema2Day) -> list[str]:
    """A store migrated from ``day``'s schema-2 rows reads and erases exactly
    as the reference store did; the command ids left afterwards."""
    reference = day.reference
    for agent_id, *_ in day.agents:
        assert store.load(agent_id) == reference.load(agent_id)
    for command_id in day.command_ids:
        assert store.find_command(command_id) == reference.find_command(command_id)
    for customer_id, (agent_id, chat_id) in HELD.items():
        with pytest.raises(CommandRefused) as refused:
            erase(store, customer_id)
        assert refused.value.code is ErrorCode.CUSTOMER_CHAT_HELD
        assert refused.value.details["agent_id"] == agent_id
        assert refused.value.details["chat_id"] == chat_id
    for customer_id in ERASABLE:
        erased = erase(store, customer_id)
        assert erased == erase(reference, customer_id)
        assert erased[1] > 0
    left = [c for c in day.command_ids if store.find_command(c) is not None]
    assert list(store.all_history()) == list(reference.all_history()) == []
    assert left == [c for c in day.command_ids if reference.find_command(c)]
    assert left == ["a1-0", "a1-1", "a1-2", "a1-3", "a2-4"]
    return left
