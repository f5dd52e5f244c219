"""How long one wrap-up extension takes: the core against a floor and two libraries.

All four benchmarks are in the group ``transition``; ``compare.py`` reads the
JSON that ``--benchmark-json`` writes and prints the ratios between them.
Nothing here asserts a duration: every test checks what the timed call
returned, so a wrong result fails whatever the timings are.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from transitions import Machine

import webchat_wrapup as ww
from webchat_wrapup import (
    AgentState,
    AssignChat,
    Chat,
    Decision,
    EndChat,
    ExtendWrapUp,
    Phase,
    QueuePolicy,
    Status,
    WrapUpExtended,
    WrapUpPolicy,
)
from webchat_wrapup._core._machine import ChatLifecycle

pytestmark = pytest.mark.benchmark(group="transition", warmup=True)

AGENT = "agent-1"
CHAT = "chat-1"
T0 = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)
ENDED_AT = T0 + timedelta(minutes=5)
NOW = ENDED_AT + timedelta(seconds=10)
POLICY = WrapUpPolicy(countdown_seconds=60, extension_seconds=30, max_extensions=3)
QUEUE = QueuePolicy("sales", wrap_up=POLICY)


def _agent_in_wrap_up() -> AgentState:
    """An agent whose one chat has ended: deadline in the future, 3 extensions left."""
    state = AgentState.new(AGENT)
    state = ww.decide(state, AssignChat(AGENT, CHAT, "customer-1", QUEUE), T0).state
    state = ww.decide(state, EndChat(AGENT, CHAT), ENDED_AT).state
    (chat,) = state.chats
    assert chat.phase is Phase.WRAP_UP
    assert chat.deadline == ENDED_AT + timedelta(seconds=60)
    assert chat.deadline > NOW
    assert chat.extensions_left == 3
    assert state.status is Status.WRAP_UP
    return state


def _check_extended(before: AgentState, decision: Decision) -> None:
    (old,) = before.chats
    (new,) = decision.state.chats
    assert old.deadline is not None
    assert new.deadline == old.deadline + timedelta(seconds=30)
    assert new.extensions_used == old.extensions_used + 1
    assert new.phase is Phase.WRAP_UP
    assert _same_except(old, new, {"deadline", "extensions_used"})
    assert decision.state.status is Status.WRAP_UP
    assert decision.events == (WrapUpExtended(AGENT, NOW, CHAT, new.deadline, 2),)
    assert decision.history == ()


def _same_except(old: Chat, new: Chat, changed: set[str]) -> bool:
    fields = [f for f in Chat.__attrs_attrs__ if f.name not in changed]
    return all(getattr(old, f.name) == getattr(new, f.name) for f in fields)


# The floor: a hand-written extend with no framework and no library helper.

_ALLOWED: dict[tuple[Phase, str], Phase] = {
    (Phase.ACTIVE, "classify"): Phase.ACTIVE,
    (Phase.ACTIVE, "flag_abusive"): Phase.ACTIVE,
    (Phase.ACTIVE, "end_chat"): Phase.WRAP_UP,
    (Phase.WRAP_UP, "classify"): Phase.WRAP_UP,
    (Phase.WRAP_UP, "flag_abusive"): Phase.WRAP_UP,
    (Phase.WRAP_UP, "extend"): Phase.WRAP_UP,
    (Phase.WRAP_UP, "complete"): Phase.DONE,
    (Phase.WRAP_UP, "expire"): Phase.DONE,
}


def _extend_by_hand(state: AgentState, now: datetime) -> Decision:
    chat = state.chats[0]
    phase = _ALLOWED[(chat.phase, "extend")]
    policy = chat.queue.wrap_up
    deadline = chat.deadline + policy.extension  # type: ignore[operator]
    used = chat.extensions_used + 1
    extended = Chat(
        chat.chat_id,
        chat.customer_id,
        chat.queue,
        phase,
        chat.started_at,
        chat.ended_at,
        chat.ended_by,
        deadline,
        used,
        chat.classification,
        chat.additional_text,
        chat.abuse,
    )
    new = AgentState(
        state.agent_id,
        state.capacity,
        (extended,),
        state.status,
        state.classification_profile,
        state.finished,
    )
    event = WrapUpExtended(
        state.agent_id, now, chat.chat_id, deadline, policy.max_extensions - used
    )
    return Decision(new, (event,))


def test_transition_baseline_handwritten(benchmark) -> None:
    state = _agent_in_wrap_up()
    decision = benchmark(_extend_by_hand, state, NOW)
    _check_extended(state, decision)
    # The floor does exactly the work of the core: same result, field for field.
    assert decision == ww.decide(state, ExtendWrapUp(AGENT, CHAT), NOW)


def test_transition_core(benchmark) -> None:
    state = _agent_in_wrap_up()
    command = ExtendWrapUp(AGENT, CHAT)
    decide = ww.decide
    decision = benchmark(decide, state, command, NOW)
    _check_extended(state, decision)


def test_transition_psm_send(benchmark) -> None:
    machine = ChatLifecycle()
    machine.send("end_chat")
    assert machine.wrap_up.is_active
    benchmark(machine.send, "extend")
    assert machine.wrap_up.is_active
    assert machine.current_state_value is Phase.WRAP_UP
    assert machine.configuration_values == {Phase.WRAP_UP}


class _ChatModel:
    state: str


def _transitions_machine() -> _ChatModel:
    model = _ChatModel()
    Machine(
        model=model,
        states=["active", "wrap_up", "done"],
        initial="active",
        auto_transitions=False,
        transitions=[
            {"trigger": "classify", "source": ["active", "wrap_up"], "dest": "="},
            {"trigger": "flag_abusive", "source": ["active", "wrap_up"], "dest": "="},
            {"trigger": "end_chat", "source": "active", "dest": "wrap_up"},
            # An external self-transition (exit, then enter), as ChatLifecycle's.
            {"trigger": "extend", "source": "wrap_up", "dest": "wrap_up"},
            {"trigger": "complete", "source": "wrap_up", "dest": "done"},
            {"trigger": "expire", "source": "wrap_up", "dest": "done"},
        ],
    )
    return model


def test_transition_transitions_trigger(benchmark) -> None:
    model = _transitions_machine()
    assert model.trigger("end_chat") is True
    assert model.state == "wrap_up"
    result = benchmark(model.trigger, "extend")
    assert result is True
    assert model.state == "wrap_up"
    assert model.trigger("complete") is True
    assert model.state == "done"
