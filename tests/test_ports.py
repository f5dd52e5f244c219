"""The ports' own logic: which customers a command record carries."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings

from support import T0, queue
from webchat_wrapup import AgentState, AssignChat, Command, WrapUpError, decide
from webchat_wrapup.ports import Change, CommandRecord, Outcome
from webchat_wrapup.testing.strategies import command_sequences


def _customers_named(
    before: AgentState, after: AgentState, command: Command, outcome: Outcome
) -> set[str]:
    """The customer of every chat the outcome names, read from the states
    on either side of the command and the command itself."""
    named = {getattr(event, "chat_id", None) for event in outcome.events}
    named |= {entry.chat_id for entry in outcome.history}
    customers = {
        chat.customer_id
        for state in (before, after)
        for chat in state.chats
        if chat.chat_id in named
    }
    if isinstance(command, AssignChat) and command.chat_id in named:
        customers.add(command.customer_id)
    return customers


@settings(max_examples=300, deadline=None)
@given(steps=command_sequences(max_size=25))
def test_a_record_carries_the_customer_of_every_chat_its_outcome_names(
    steps: list[tuple[int, Command]],
) -> None:
    state = AgentState.new("agent-1", capacity=3)
    now = T0
    for delay, command in steps:
        now += timedelta(milliseconds=delay)
        try:
            decision = decide(state, command, now)
        except WrapUpError:
            continue
        outcome = Outcome("agent-1", 2, decision.events, decision.history)
        record = CommandRecord("cmd", "agent-1", "print", outcome, now)
        change = Change("agent-1", 1, decision.state, decision.history, record)
        expected = _customers_named(state, decision.state, command, outcome)
        assert set(change.record_customer_ids()) == expected
        assert list(change.record_customer_ids()) == sorted(expected)
        state = decision.state


def test_a_change_without_a_record_carries_no_customer() -> None:
    state = decide(
        AgentState.new("agent-1"),
        AssignChat("agent-1", "chat-1", "cust-1", queue()),
        T0,
    ).state
    assert Change("agent-1", 1, state).record_customer_ids() == ()
