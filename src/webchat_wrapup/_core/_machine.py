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
    PARKED = "parked"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"
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
    PARK = "park"
    ACTIVATE = "activate"
    TRANSFER = "transfer"
    EXTEND = "extend"
    PAUSE = "pause"
    RESUME = "resume"
    COMPLETE = "complete"
    EXPIRE = "expire"


class Presence(str, enum.Enum):
    """What the agent chose to be when holding no chat."""

    AVAILABLE = "available"
    BREAK = "break"
    OFFLINE = "offline"
    NOT_READY = "not_ready"

    @property
    def label(self) -> str:
        """The presence as the agent sees it, e.g. ``"Break"``."""
        return PRESENCE_LABELS[self]


class ChatLifecycle(StateMachine):
    """One agent's part of a chat (a leg): handled, wrapped up, then done.

    A parked chat is still held; when it ends (or is transferred) while
    parked, its wrap-up starts paused. A transfer ends this agent's leg
    like the end of the chat does; the next leg is another agent's.
    """

    active = State("Handling a chat", initial=True, value=Phase.ACTIVE)
    parked = State("Parked", value=Phase.PARKED)
    wrap_up = State("Wrap-up", value=Phase.WRAP_UP)
    paused = State("Wrap-up paused", value=Phase.PAUSED)
    done = State("Done", final=True, value=Phase.DONE)

    classify = (
        active.to.itself()  # type: ignore[no-untyped-call]
        | parked.to.itself()  # type: ignore[no-untyped-call]
        | wrap_up.to.itself()  # type: ignore[no-untyped-call]
        | paused.to.itself()  # type: ignore[no-untyped-call]
    )
    flag_abusive = (
        active.to.itself()  # type: ignore[no-untyped-call]
        | parked.to.itself()  # type: ignore[no-untyped-call]
        | wrap_up.to.itself()  # type: ignore[no-untyped-call]
        | paused.to.itself()  # type: ignore[no-untyped-call]
    )
    park = active.to(parked)
    activate = parked.to(active)
    end_chat = active.to(wrap_up) | parked.to(paused)
    transfer = active.to(wrap_up) | parked.to(paused)
    extend = wrap_up.to.itself() | paused.to.itself()  # type: ignore[no-untyped-call]
    pause = wrap_up.to(paused)
    resume = paused.to(wrap_up)
    complete = wrap_up.to(done) | paused.to(done)
    expire = wrap_up.to(done)


class AgentStatusChart(StateMachine):
    """The agent's status; it changes only as a consequence of chat actions."""

    available = State("Available", initial=True, value=Status.AVAILABLE)
    handling_chat = State("Handling a chat", value=Status.HANDLING_CHAT)
    wrap_up = State("Wrap-up", value=Status.WRAP_UP)

    chat_assigned = available.to(handling_chat) | wrap_up.to(handling_chat)
    last_active_chat_ended = handling_chat.to(wrap_up)
    last_chat_closed = handling_chat.to(available) | wrap_up.to(available)


class PresenceChart(StateMachine):
    """The presence an agent chooses; any may follow any.

    While the agent holds chats a choice waits as the *next status* and
    takes effect when the last wrap-up ends.
    """

    available = State("Available", initial=True, value=Presence.AVAILABLE)
    on_break = State("Break", value=Presence.BREAK)
    offline = State("Offline", value=Presence.OFFLINE)
    not_ready = State("Not ready", value=Presence.NOT_READY)

    choose = (
        available.to(on_break, offline, not_ready)
        | on_break.to(available, offline, not_ready)
        | offline.to(available, on_break, not_ready)
        | not_ready.to(available, on_break, offline)
        | not_ready.to.itself()  # type: ignore[no-untyped-call]
    )


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

PRESENCE_LABELS: dict[Presence, str] = {
    Presence(state.value): state.name for state in PresenceChart.states
}

PRESENCE_CHANGES: frozenset[tuple[Presence, Presence]] = frozenset(
    (Presence(state.value), Presence(transition.target.value))
    for state in PresenceChart.states
    for transition in state.transitions
)
"""Every ``(from, to)`` pair a presence can change along (a new not-ready
reason is ``not_ready`` to ``not_ready``)."""

HELD_PHASES = frozenset({Phase.ACTIVE, Phase.PARKED})
"""Phases in which the agent is handling the chat (a parked chat is held)."""

WRAP_UP_PHASES = frozenset({Phase.WRAP_UP, Phase.PAUSED})
"""Phases in which the chat's leg is over and the agent wraps it up."""


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
