"""The declarations are the single source of truth; the tables follow them."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from statemachine.exceptions import TransitionNotAllowed

from webchat_wrapup import Phase, Status
from webchat_wrapup._core._machine import (
    CHAT_TRANSITIONS,
    STATUS_CHANGES,
    Action,
    AgentStatusChart,
    ChatLifecycle,
    chat_diagram,
    next_phase,
    status_diagram,
    status_of,
)

DOCS = Path(__file__).resolve().parent.parent / "docs"


@given(st.lists(st.sampled_from(list(Action)), max_size=12))
def test_the_table_agrees_with_python_statemachine_on_any_sequence(
    actions: list[Action],
) -> None:
    machine = ChatLifecycle()
    phase = Phase.ACTIVE
    for action in actions:
        expected = next_phase(phase, action)
        try:
            machine.send(action.value)
        except TransitionNotAllowed:
            assert expected is None
            continue
        assert expected is not None
        phase = expected
        assert Phase(machine.current_state_value) is phase


def test_every_declared_transition_is_in_the_table() -> None:
    declared = {
        (Phase(state.value), Action(str(event)), Phase(transition.target.value))
        for state in ChatLifecycle.states
        for transition in state.transitions
        for event in transition.events
    }
    assert declared == {(p, a, t) for (p, a), t in CHAT_TRANSITIONS.items()}


def test_every_action_has_a_declared_event() -> None:
    assert {str(event.id) for event in ChatLifecycle.events} == {
        action.value for action in Action
    }


def test_nothing_happens_to_a_chat_that_is_done() -> None:
    assert not any(phase is Phase.DONE for phase, _ in CHAT_TRANSITIONS)


@given(st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_every_derived_status_change_is_declared(
    active_before: bool, wrap_before: bool, active_after: bool, wrap_after: bool
) -> None:
    before = status_of(active_before, wrap_before)
    after = status_of(active_after, wrap_after)
    # Chats that are in wrap-up can only come from chats that were active.
    if before is Status.AVAILABLE and after is Status.WRAP_UP:
        return
    assert before == after or (before, after) in STATUS_CHANGES


def test_status_labels_are_the_words_agents_see() -> None:
    labels = {status: status.label for status in Status}
    assert labels == {
        Status.AVAILABLE: "Available",
        Status.HANDLING_CHAT: "Handling a chat",
        Status.WRAP_UP: "Wrap-up",
    }
    assert {state.name for state in AgentStatusChart.states} == set(labels.values())


def mermaid_blocks(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return [block.split("```")[0].strip() for block in text.split("```mermaid")[1:]]


def test_the_diagrams_in_the_docs_are_the_declarations() -> None:
    blocks = mermaid_blocks(DOCS / "concepts.md")
    assert blocks == [chat_diagram().strip(), status_diagram().strip()]
