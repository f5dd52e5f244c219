"""The declarations of what can happen, and the tables derived from them.

Two python-statemachine declarations are the single source of truth for
which action each phase allows and which status changes exist; the rules
module (``_rules``) adds, by name, every refusal the tables cannot express.

* :class:`ChatLifecycle`: what an agent (or the customer) may do to one chat
  in each of its phases.
* :class:`AgentStatusChart`: which changes of the agent's derived status can
  happen at all.

python-statemachine costs tens of microseconds per ``send``; the hot path
instead runs plain tables derived from the declarations when this module is
imported. The test suite proves the tables and the declarations agree.
"""

from __future__ import annotations

import enum

from statemachine import State, StateMachine


class Phase(str, enum.Enum):
    """Where one chat is in its life."""

    ACTIVE = "active"
    WRAP_UP = "wrap_up"
    DONE = "done"


class Status(str, enum.Enum):
    """The agent's status, derived from the agent's chats."""

    AVAILABLE = "available"
    HANDLING_CHAT = "handling_chat"
    WRAP_UP = "wrap_up"

    @property
    def label(self) -> str:
        """The status as the agent sees it, e.g. ``"Handling a chat"``."""
        return STATUS_LABELS[self]


class Action(str, enum.Enum):
    """Everything that can happen to one chat."""

    CLASSIFY = "classify"
    FLAG_ABUSIVE = "flag_abusive"
    END_CHAT = "end_chat"
    EXTEND = "extend"
    COMPLETE = "complete"
    EXPIRE = "expire"


class ChatLifecycle(StateMachine):
    """One chat: handled, then wrapped up, then done."""

    active = State("Handling a chat", initial=True, value=Phase.ACTIVE)
    wrap_up = State("Wrap-up", value=Phase.WRAP_UP)
    done = State("Done", final=True, value=Phase.DONE)

    classify = active.to.itself() | wrap_up.to.itself()  # type: ignore[no-untyped-call]
    flag_abusive = active.to.itself() | wrap_up.to.itself()  # type: ignore[no-untyped-call]
    end_chat = active.to(wrap_up)
    extend = wrap_up.to.itself()  # type: ignore[no-untyped-call]
    complete = wrap_up.to(done)
    expire = wrap_up.to(done)


class AgentStatusChart(StateMachine):
    """The agent's status; it changes only as a consequence of chat actions."""

    available = State("Available", initial=True, value=Status.AVAILABLE)
    handling_chat = State("Handling a chat", value=Status.HANDLING_CHAT)
    wrap_up = State("Wrap-up", value=Status.WRAP_UP)

    chat_assigned = available.to(handling_chat) | wrap_up.to(handling_chat)
    last_active_chat_ended = handling_chat.to(wrap_up)
    last_chat_closed = handling_chat.to(available) | wrap_up.to(available)


def _chat_transitions() -> dict[tuple[Phase, Action], Phase]:
    table: dict[tuple[Phase, Action], Phase] = {}
    for state in ChatLifecycle.states:
        for transition in state.transitions:
            for event in transition.events:
                key = (Phase(state.value), Action(str(event)))
                table[key] = Phase(transition.target.value)
    return table


def _status_changes() -> frozenset[tuple[Status, Status]]:
    return frozenset(
        (Status(state.value), Status(transition.target.value))
        for state in AgentStatusChart.states
        for transition in state.transitions
    )


CHAT_TRANSITIONS: dict[tuple[Phase, Action], Phase] = _chat_transitions()
"""``(phase, action) -> next phase`` for every allowed action."""

STATUS_CHANGES: frozenset[tuple[Status, Status]] = _status_changes()
"""Every ``(from, to)`` pair the agent's status can change along."""

STATUS_LABELS: dict[Status, str] = {
    Status(state.value): state.name for state in AgentStatusChart.states
}

PHASE_LABELS: dict[Phase, str] = {
    Phase(state.value): state.name for state in ChatLifecycle.states
}


def next_phase(phase: Phase, action: Action) -> Phase | None:
    """The phase after ``action``, or ``None`` when it is not allowed."""
    return CHAT_TRANSITIONS.get((phase, action))


def status_of(has_active_chat: bool, has_chat_in_wrap_up: bool) -> Status:
    """The rule that derives the agent's status from the agent's chats."""
    if has_active_chat:
        return Status.HANDLING_CHAT
    if has_chat_in_wrap_up:
        return Status.WRAP_UP
    return Status.AVAILABLE
