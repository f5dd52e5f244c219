"""The stores' fast JSON writers write what the general route writes, and
what they write reads back."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from support import T0
from webchat_wrapup import (
    AgentState,
    Classification,
    Command,
    ContactHistoryEntry,
    Event,
    WrapUpError,
    decide,
    expire_due,
)
from webchat_wrapup.stores._codec import _event_from_row, instant_to_micros
from webchat_wrapup.stores._writers import compact, entry_data, event_row
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


def _reference_row(event: Event) -> list[Any]:
    """An event as the stores have always stored it, value by value."""

    def flat(value: Any) -> Any:
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, datetime):
            return instant_to_micros(value)
        if isinstance(value, Classification):
            return [value.label, value.code, value.group]
        assert value is None or isinstance(value, (str, int, float))
        return value

    fields = attrs.fields(type(event))
    return [event.type, *[flat(getattr(event, field.name)) for field in fields]]


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
        row = event_row(event)
        assert row == _reference_row(event)
        assert _event_from_row(json.loads(compact(row))) == event
