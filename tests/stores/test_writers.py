"""The stores' fast JSON writers write what the general route writes, and
what they write reads back."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from support import T0, queue, stored_event_row
from webchat_wrapup import (
    AbuseFlag,
    AgentState,
    AssignChat,
    Chat,
    Classification,
    Command,
    ContactHistoryEntry,
    EndedBy,
    Event,
    FinishedChat,
    Phase,
    Presence,
    Status,
    WrapUpEnding,
    WrapUpError,
    decide,
    expire_due,
)
from webchat_wrapup._core._agent import Transfer
from webchat_wrapup.stores._codec import (
    StateCodec,
    _event_from_row,
    instant_to_micros,
)
from webchat_wrapup.stores._writers import compact, entry_data, event_text
from webchat_wrapup.testing.strategies import command_sequences

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.lists(json_values, max_size=5) | st.dictionaries(st.text(), json_values))
def test_compact_text_is_the_standard_encoders(data: Any) -> None:
    assert compact(data) == json.JSONEncoder(separators=(",", ":")).encode(data)


def _a_day(steps: list[tuple[int, Command]]) -> tuple[list[Event], list[Any]]:
    """Every event and entry the core makes for ``steps`` (refusals skipped),
    then for the expiry of whatever is left."""
    state = AgentState.new("agent-1", capacity=3)
    at = T0
    events: list[Event] = []
    entries: list[ContactHistoryEntry] = []
    for gap, command in steps:
        at += timedelta(milliseconds=gap)
        try:
            decision = decide(state, command, at)
        except WrapUpError:
            continue
        state = decision.state
        events += decision.events
        entries += decision.history
    last = expire_due(state, at + timedelta(days=1))
    return events + list(last.events), entries + list(last.history)


@settings(max_examples=80, deadline=None)
@given(command_sequences(min_size=5, max_size=40))
def test_events_and_entries_are_written_as_the_general_route_writes_them(
    steps: list[tuple[int, Command]],
) -> None:
    events, entries = _a_day(steps)
    for entry in entries:
        assert entry_data(entry) == entry.to_dict()
        assert compact(entry_data(entry)) == compact(entry.to_dict())
    for event in events:
        text = event_text(event)
        assert text == compact(stored_event_row(event))
        assert _event_from_row(json.loads(text)) == event


def _states_of_a_day(
    steps: list[tuple[int, Command]], profile: frozenset[str] | None
) -> list[AgentState]:
    """Every state the core makes for ``steps`` (refusals skipped)."""
    state = AgentState.new("agent-1", capacity=3, classification_profile=profile)
    states = [state]
    at = T0
    for gap, command in steps:
        at += timedelta(milliseconds=gap)
        try:
            state = decide(state, command, at).state
        except WrapUpError:
            continue
        states.append(state)
    return states


def _reference_state(state: AgentState, key_of: Callable[[Chat], str]) -> list[Any]:
    """A state as the stores have always stored it, value by value (each
    chat's policy by ``key_of`` it)."""

    def micros(instant: datetime | None) -> int | None:
        return None if instant is None else instant_to_micros(instant)

    def chat_data(chat: Chat) -> list[Any]:
        label = chat.classification
        abuse = chat.abuse
        data: list[Any] = [
            chat.chat_id,
            chat.customer_id,
            key_of(chat),
            chat.phase.value,
            micros(chat.started_at),
            micros(chat.ended_at),
            None if chat.ended_by is None else chat.ended_by.value,
            micros(chat.deadline),
            chat.extensions_used,
            None if label is None else [label.label, label.code, label.group],
            chat.additional_text,
            None
            if abuse is None
            else [abuse.flagged_by, micros(abuse.flagged_at), abuse.reason, abuse.note],
        ]
        moved = chat.transfer
        if chat.pause_count or chat.paused_at is not None or chat.leg != 1 or moved:
            data.append([micros(chat.paused_at), chat.pause_count, chat.paused_seconds])
        if chat.leg != 1 or moved is not None:
            data.append(chat.leg)
        if moved is not None:
            data.append([moved.to_agent_id, moved.to_queue_id])
        return data

    profile = state.classification_profile
    data: list[Any] = [
        state.agent_id,
        state.capacity,
        state.status.value,
        None if profile is None else sorted(profile),
        [chat_data(chat) for chat in state.chats],
    ]
    presence = None
    if state.presence is not Presence.AVAILABLE or state.next_presence is not None:
        following = state.next_presence
        presence = [
            state.presence.value,
            state.presence_reason,
            None if following is None else following.value,
            state.next_presence_reason,
        ]
    if state.finished or presence is not None:
        data.append(
            [
                [done.chat_id, done.ending.value, micros(done.at)]
                for done in state.finished
            ]
        )
    if presence is not None:
        data.append(presence)
    return data


@settings(max_examples=80, deadline=None)
@given(
    command_sequences(min_size=5, max_size=40),
    st.none() | st.frozensets(st.sampled_from(["billing", "délai", "sales"])),
)
def test_states_are_written_as_the_stores_have_always_written_them(
    steps: list[tuple[int, Command]], profile: frozenset[str] | None
) -> None:
    codec = StateCodec()
    for state in _states_of_a_day(steps, profile):
        text, policies = codec.encode(state)
        keys = {codec.policy_key(chat.queue)[0] for chat in state.chats}
        assert set(policies) == keys
        assert text == compact(
            _reference_state(state, lambda chat: codec.policy_key(chat.queue)[0])
        )


def test_a_state_with_every_field_set_is_written_as_always() -> None:
    start = AgentState.new("agent-ñ", capacity=2, classification_profile={"Ünder"})
    state = decide(start, AssignChat("agent-ñ", "chat-1", "cust-1", queue()), T0).state
    (chat,) = state.chats
    chat = attrs.evolve(
        chat,
        phase=Phase.WRAP_UP,
        ended_at=T0 + timedelta(minutes=3),
        ended_by=EndedBy.AGENT,
        deadline=T0 + timedelta(minutes=4),
        extensions_used=2,
        classification=Classification("Refund", "refund", "Billing"),
        additional_text="réglé",
        abuse=AbuseFlag("agent-ñ", T0 + timedelta(minutes=1), "rude"),
        paused_at=T0 + timedelta(minutes=3, seconds=30),
        pause_count=1,
        paused_seconds=12.5,
        leg=2,
        transfer=Transfer("agent-2", None),
    )
    state = attrs.evolve(
        state,
        chats=(chat,),
        status=Status.WRAP_UP,
        finished=(FinishedChat("chat-0", WrapUpEnding.EXPIRED, T0),),
        presence=Presence.NOT_READY,
        presence_reason="Lunch",
        next_presence=Presence.BREAK,
    )
    codec = StateCodec()
    text, _ = codec.encode(state)
    assert text == compact(
        _reference_state(state, lambda chat: codec.policy_key(chat.queue)[0])
    )
