"""Events, commands, history entries and states round-trip through JSON."""

from __future__ import annotations

import json

import pytest
from hypothesis import given

from support import at, play
from webchat_wrapup import (
    SCHEMA_VERSION,
    AgentState,
    ChatEnded,
    ContactHistoryEntry,
    EndedBy,
    ErrorCode,
    InvalidInput,
    QueuePolicy,
    command_from_dict,
    command_to_dict,
    event_from_dict,
    event_to_dict,
)
from webchat_wrapup._core._events import EVENT_TYPES
from webchat_wrapup._core._json import from_data, to_data
from webchat_wrapup.testing.strategies import command_sequences, commands


def through_json(data: object) -> object:
    return json.loads(json.dumps(data))


@given(command_sequences(max_size=25))
def test_every_event_state_and_entry_round_trips_through_json(steps: list) -> None:
    state, _, decisions = play(steps)
    assert AgentState.from_dict(through_json(state.to_dict())) == state
    for decision in decisions:
        for event in decision.events:
            data = event_to_dict(event)
            assert data["schema_version"] == SCHEMA_VERSION
            assert data["type"] == event.type
            assert event_from_dict(through_json(data)) == event
        for entry in decision.history:
            assert ContactHistoryEntry.from_dict(through_json(entry.to_dict())) == entry


@given(commands())
def test_every_command_round_trips_through_json(command: object) -> None:
    data = command_to_dict(command)  # type: ignore[arg-type]
    assert command_from_dict(through_json(data)) == command


def test_every_event_type_has_a_distinct_name() -> None:
    assert len(EVENT_TYPES) == 15
    assert set(EVENT_TYPES) == {
        "chat_transferred",
        "chat_parked",
        "chat_activated",
        "wrap_up_paused",
        "wrap_up_resumed",
        "presence_changed",
        "next_presence_chosen",
        "chat_assigned",
        "chat_ended",
        "wrap_up_started",
        "wrap_up_extended",
        "chat_classified",
        "chat_flagged_abusive",
        "wrap_up_completed",
        "status_changed",
    }


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"schema_version": 2, "type": "chat_ended"}, "unsupported_schema_version"),
        ({"type": "chat_ended"}, "unsupported_schema_version"),
        ({"schema_version": 1, "type": "nope"}, "invalid_json"),
        ({"schema_version": 1, "type": "chat_ended"}, "invalid_json"),
        (
            {
                "schema_version": 1,
                "type": "chat_ended",
                "agent_id": "a",
                "at": "yesterday",
                "chat_id": "c",
                "ended_by": "customer",
            },
            "invalid_json",
        ),
        (
            {
                "schema_version": 1,
                "type": "chat_ended",
                "agent_id": "a",
                "at": "2026-01-01T00:00:00",
                "chat_id": "c",
                "ended_by": "customer",
            },
            "invalid_json",
        ),
        (
            {
                "schema_version": 1,
                "type": "chat_ended",
                "agent_id": "a",
                "at": "2026-01-01T00:00:00Z",
                "chat_id": "c",
                "ended_by": "robot",
            },
            "invalid_json",
        ),
        (
            {
                "schema_version": 1,
                "type": "wrap_up_extended",
                "agent_id": "a",
                "at": "2026-01-01T00:00:00Z",
                "chat_id": "c",
                "deadline": "2026-01-01T00:01:00Z",
                "extensions_left": "2",
            },
            "invalid_json",
        ),
        ([], "invalid_json"),
    ],
)
def test_bad_documents_get_a_typed_error_naming_the_problem(
    data: object, code: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        event_from_dict(data)
    assert caught.value.code is ErrorCode(code)


def test_instants_are_written_in_utc_with_a_z() -> None:
    event = ChatEnded("a", at(0), "c", EndedBy.CUSTOMER)
    assert event_to_dict(event)["at"] == "2026-01-05T09:00:00Z"


def test_a_policy_document_may_leave_out_settings_that_have_defaults() -> None:
    data = {"schema_version": SCHEMA_VERSION, "queue_id": "sales"}
    assert QueuePolicy.from_dict(data) == QueuePolicy("sales")


def test_a_policy_document_with_an_unknown_classification_kind_is_refused() -> None:
    data = {
        "schema_version": SCHEMA_VERSION,
        "queue_id": "sales",
        "classification": {"choices": {"kind": "telepathy"}},
    }
    with pytest.raises(InvalidInput) as caught:
        QueuePolicy.from_dict(data)
    assert caught.value.details["path"] == "$.classification.choices"


def test_a_document_with_a_list_where_an_object_belongs_is_refused() -> None:
    data = {"schema_version": SCHEMA_VERSION, "agent_id": "a", "chats": {}}
    with pytest.raises(InvalidInput) as caught:
        AgentState.from_dict(data)
    assert caught.value.details["path"] == "$.chats"


def test_values_the_json_form_does_not_know_are_a_programming_error() -> None:
    with pytest.raises(TypeError):
        to_data(object())
    with pytest.raises(TypeError):
        from_data(complex, "1j")
