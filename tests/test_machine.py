"""The declarations are the single source of truth; the tables follow them."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st
from statemachine import StateMachine
from statemachine.exceptions import TransitionNotAllowed

from webchat_wrapup import Phase, Status
from webchat_wrapup._core._machine import (
    CHAT_TRANSITIONS,
    STATUS_CHANGES,
    Action,
    AgentStatusChart,
    ChatLifecycle,
    PresenceChart,
    next_phase,
    status_of,
)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SVG = "{http://www.w3.org/2000/svg}"


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


def diagrams_hook() -> ModuleType:
    """The MkDocs hook that draws the docs' diagrams, loaded from its file."""
    path = ROOT / "docs" / "_hooks" / "diagrams.py"
    spec = importlib.util.spec_from_file_location("docs_diagrams", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def needs_graphviz() -> None:
    if shutil.which("dot") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must draw the diagrams: install Graphviz (.ci/run does)")
        pytest.skip("Graphviz's dot is not installed")


def drawn(svg: str) -> tuple[set[tuple[str, str]], set[tuple[str, str, str]]]:
    """The boxes (id, label) and arrows (from, to, label) an SVG diagram shows."""
    boxes, arrows = set(), set()
    for group in ElementTree.fromstring(svg).iter(f"{SVG}g"):
        title = group.findtext(f"{SVG}title", "")
        label = " ".join(text.text or "" for text in group.iter(f"{SVG}text"))
        if group.get("class") == "node" and label:
            boxes.add((title, label))
        elif group.get("class") == "edge" and not title.startswith("__initial"):
            source, _, target = title.partition("->")
            arrows.add((source, target, label))
    return boxes, arrows


def declared(machine: type[StateMachine]) -> tuple[set[Any], set[Any]]:
    boxes = {(state.id, state.name) for state in machine.states}
    arrows = {
        (state.id, transition.target.id, event.name)
        for state in machine.states
        for transition in state.transitions
        for event in transition.events
    }
    return boxes, arrows


@pytest.mark.parametrize("machine", [ChatLifecycle, AgentStatusChart, PresenceChart])
def test_the_docs_diagrams_show_exactly_the_declared_states_and_transitions(
    machine: type[StateMachine],
) -> None:
    needs_graphviz()
    hook = diagrams_hook()
    assert machine in hook.DIAGRAMS.values()
    assert drawn(hook.svg_of(machine)) == declared(machine)


def test_the_concepts_page_shows_the_drawn_diagrams_and_loads_no_script() -> None:
    page = (DOCS / "concepts.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", page)
    assert images == list(diagrams_hook().DIAGRAMS)
    site = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "docs/_hooks/diagrams.py" in site
    for text in (page, site):
        assert "mermaid" not in text
