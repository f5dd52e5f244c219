"""A change as rows: each event written once serves the feed and the command
record, each chat's customer looked up once serves both too, and what comes
out is what the general route makes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import attrs
from hypothesis import given, settings

from support import T0, stored_event_row
from webchat_wrapup import AgentState, Command, WrapUpError, decide, expire_due
from webchat_wrapup.ports import Change, CommandRecord, Outcome
from webchat_wrapup.stores._codec import StateCodec, instant_to_micros, outcome_to_json
from webchat_wrapup.stores._rows import change_rows
from webchat_wrapup.stores._writers import compact, entry_data, event_text
from webchat_wrapup.testing.strategies import command_sequences


def _changes(steps: list[tuple[int, Command]]) -> Iterator[Change]:
    """The change each accepted command of ``steps`` makes, with a command
    record whose outcome holds the change's own events and entries (as the
    service's do); then the change expiring whatever is left."""
    state = AgentState.new("agent-1", capacity=3)
    at = T0
    for number, (gap, command) in enumerate(steps):
        at += timedelta(milliseconds=gap)
        try:
            decision = decide(state, command, at)
        except WrapUpError:
            continue
        yield _change(number, state, decision.state, decision, at)
        state = decision.state
    at += timedelta(days=1)
    last = expire_due(state, at)
    yield _change(len(steps), state, last.state, last, at)


def _change(
    number: int, before: AgentState, after: AgentState, decision: object, at: datetime
) -> Change:
    events, history = decision.events, decision.history  # type: ignore[attr-defined]
    outcome = Outcome(before.agent_id, number + 1, events, history)
    record = CommandRecord(f"command-{number}", before.agent_id, "print", outcome, at)
    return Change(before.agent_id, number, after, history, record, events, at)


def _reference_outcome(outcome: Outcome) -> str:
    """An outcome's text as command records have always held it."""
    return compact(
        [
            outcome.agent_id,
            outcome.version,
            [stored_event_row(event) for event in outcome.events],
            [entry.to_dict() for entry in outcome.history],
        ]
    )


@settings(max_examples=80, deadline=None)
@given(command_sequences(min_size=5, max_size=40))
def test_an_outcome_is_written_alike_from_its_events_written_once(
    steps: list[tuple[int, Command]],
) -> None:
    for change in _changes(steps):
        outcome = change.command.outcome  # type: ignore[union-attr]
        texts = [event_text(event) for event in outcome.events]
        entries = [entry_data(entry) for entry in outcome.history]
        expected = _reference_outcome(outcome)
        assert outcome_to_json(outcome) == expected
        assert outcome_to_json(outcome, entries, texts) == expected


@settings(max_examples=80, deadline=None)
@given(command_sequences(min_size=5, max_size=40))
def test_a_change_as_rows_finds_the_customers_the_change_names(
    steps: list[tuple[int, Command]],
) -> None:
    codec = StateCodec()
    for change in _changes(steps):
        record = change.command
        assert record is not None
        # Shared events and entries, an outcome of copies, no record at all.
        copied = attrs.evolve(
            record,
            outcome=attrs.evolve(
                record.outcome,
                events=(*record.outcome.events,),  # a new tuple: not shared
                history=tuple(list(record.outcome.history)[:1]),
            ),
        )
        # Entries without the events that name their chats.
        quiet = attrs.evolve(record, outcome=attrs.evolve(record.outcome, events=()))
        for variant in (
            change,
            attrs.evolve(change, command=copied),
            attrs.evolve(change, command=None),
            attrs.evolve(change, command=quiet, events=()),
        ):
            rows = change_rows(variant, codec, set())
            assert rows.record_customers == variant.record_customer_ids()
            assert [row[2] for row in rows.events] == list(variant.event_customer_ids())
            assert [row[3] for row in rows.events] == [
                compact(stored_event_row(event)) for event in variant.events
            ]
            if variant.command is None:
                assert (rows.command, rows.recorded_at) == (None, None)
                continue
            outcome = variant.command.outcome
            assert rows.command == (
                variant.command.command_id,
                variant.agent_id,
                "print",
                _reference_outcome(outcome),
            )
            assert rows.recorded_at == instant_to_micros(change.recorded_at)  # type: ignore[arg-type]
