"""Immutable events: every change the core makes is announced by one.

Each event has a ``type`` and round-trips through JSON with a schema version
(see :func:`event_to_dict` and :func:`event_from_dict`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, TypeAlias

import attrs

from ._history import (
    Classification,
    EndedBy,
    WrapUpEnding,
    broken,
    check_classification,
    instant_at,
)
from ._json import checked, tagged_from_dict, tagged_to_dict
from ._machine import Presence, Status
from ._policy import MAX_EXTENSIONS
from ._text import check_clean, check_identifier


@attrs.frozen
class ChatAssigned:
    """The agent was given a chat."""

    type: ClassVar[str] = "chat_assigned"
    agent_id: str
    at: datetime
    chat_id: str
    customer_id: str
    queue_id: str


@attrs.frozen
class ChatEnded:
    """The chat ended, by the customer or the agent."""

    type: ClassVar[str] = "chat_ended"
    agent_id: str
    at: datetime
    chat_id: str
    ended_by: EndedBy


@attrs.frozen
class WrapUpStarted:
    """Wrap-up began; ``deadline`` is ``None`` when there is no countdown."""

    type: ClassVar[str] = "wrap_up_started"
    agent_id: str
    at: datetime
    chat_id: str
    deadline: datetime | None
    extensions_left: int


@attrs.frozen
class WrapUpExtended:
    """The agent used one extension; the deadline moved to ``deadline``."""

    type: ClassVar[str] = "wrap_up_extended"
    agent_id: str
    at: datetime
    chat_id: str
    deadline: datetime
    extensions_left: int


@attrs.frozen
class ChatClassified:
    """The agent classified the chat (the last classification stands)."""

    type: ClassVar[str] = "chat_classified"
    agent_id: str
    at: datetime
    chat_id: str
    classification: Classification
    additional_text: str | None


@attrs.frozen
class ChatFlaggedAbusive:
    """The agent flagged the chat as abusive; ``note`` goes to the history."""

    type: ClassVar[str] = "chat_flagged_abusive"
    agent_id: str
    at: datetime
    chat_id: str
    reason: str | None
    note: str


@attrs.frozen
class WrapUpCompleted:
    """The wrap-up ended (``ending`` says how); the history has its entry."""

    type: ClassVar[str] = "wrap_up_completed"
    agent_id: str
    at: datetime
    chat_id: str
    customer_id: str
    ending: WrapUpEnding
    classification: Classification | None


@attrs.frozen
class ChatTransferred:
    """The agent transferred the chat: this agent's leg ended (wrap-up for
    it follows) and ``next_leg`` goes to ``to_agent_id`` at once, or waits
    in ``to_queue_id`` for a router's assign with ``leg=next_leg``."""

    type: ClassVar[str] = "chat_transferred"
    agent_id: str
    at: datetime
    chat_id: str
    customer_id: str
    to_agent_id: str | None
    to_queue_id: str | None
    next_leg: int


@attrs.frozen
class ChatParked:
    """The agent parked the chat: still held, set aside."""

    type: ClassVar[str] = "chat_parked"
    agent_id: str
    at: datetime
    chat_id: str


@attrs.frozen
class ChatActivated:
    """The agent took a parked chat up again."""

    type: ClassVar[str] = "chat_activated"
    agent_id: str
    at: datetime
    chat_id: str


@attrs.frozen
class WrapUpPaused:
    """The countdown stopped with ``seconds_left`` on it (``None``: no
    countdown); ``parked`` when the chat ended while parked."""

    type: ClassVar[str] = "wrap_up_paused"
    agent_id: str
    at: datetime
    chat_id: str
    seconds_left: float | None
    parked: bool = False


@attrs.frozen
class WrapUpResumed:
    """The countdown runs again towards ``deadline``; ``automatic`` when the
    queue's pause allowance ran out rather than the agent resuming."""

    type: ClassVar[str] = "wrap_up_resumed"
    agent_id: str
    at: datetime
    chat_id: str
    deadline: datetime | None
    automatic: bool = False


@attrs.frozen
class PresenceChanged:
    """The agent's presence changed (``reason`` names a not-ready reason)."""

    type: ClassVar[str] = "presence_changed"
    agent_id: str
    at: datetime
    previous: Presence
    presence: Presence
    reason: str | None = None


@attrs.frozen
class NextPresenceChosen:
    """While holding chats the agent chose what to be once the last wrap-up
    ends; ``presence`` ``None`` means the choice was cancelled."""

    type: ClassVar[str] = "next_presence_chosen"
    agent_id: str
    at: datetime
    presence: Presence | None
    reason: str | None = None


@attrs.frozen
class StatusChanged:
    """The agent's derived status changed; ``presence`` and ``reason`` say
    what the agent is when the status is *Available*."""

    type: ClassVar[str] = "status_changed"
    agent_id: str
    at: datetime
    previous: Status
    status: Status
    presence: Presence = Presence.AVAILABLE
    reason: str | None = None

    @property
    def label(self) -> str:
        """The new status as the agent sees it."""
        return self.status.label


Event: TypeAlias = (
    ChatAssigned
    | ChatEnded
    | WrapUpStarted
    | WrapUpExtended
    | ChatClassified
    | ChatFlaggedAbusive
    | WrapUpCompleted
    | StatusChanged
    | ChatTransferred
    | ChatParked
    | ChatActivated
    | WrapUpPaused
    | WrapUpResumed
    | PresenceChanged
    | NextPresenceChosen
)
"""Any event the core emits."""

EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        ChatAssigned,
        ChatEnded,
        WrapUpStarted,
        WrapUpExtended,
        ChatClassified,
        ChatFlaggedAbusive,
        WrapUpCompleted,
        StatusChanged,
        ChatTransferred,
        ChatParked,
        ChatActivated,
        WrapUpPaused,
        WrapUpResumed,
        PresenceChanged,
        NextPresenceChosen,
    )
}


def event_to_dict(event: Event) -> dict[str, Any]:
    """``event`` as JSON-ready data with ``type`` and ``schema_version``."""
    return tagged_to_dict(event, event.type)


def event_from_dict(data: object) -> Event:
    """The event that :func:`event_to_dict` turned into ``data``."""
    event: Event = tagged_from_dict(data, EVENT_TYPES, "event")
    return checked(check_event, event)


def check_event(event: Event) -> None:
    """Refuse an event the decide step could never have emitted."""
    for name in ("agent_id", "chat_id", "customer_id", "queue_id"):
        if hasattr(event, name):
            check_identifier(getattr(event, name), f"$.{name}")
    for name in ("to_agent_id", "to_queue_id"):  # one of the two is set
        target = getattr(event, name, None)
        if target is not None:
            check_identifier(target, f"$.{name}")
    instant_at(event.at, "$.at")
    left = getattr(event, "extensions_left", 0)
    if isinstance(left, bool) or not isinstance(left, int):
        raise broken("$.extensions_left", "is not a whole number")
    if not 0 <= left <= MAX_EXTENSIONS:
        raise broken("$.extensions_left", f"{left} is out of range")
    check_classification(getattr(event, "classification", None), "$.classification")
    for name in ("additional_text", "reason"):
        text = getattr(event, name, None)
        if text is not None:
            check_clean(text, f"$.{name}", paragraphs=True)
    if isinstance(event, StatusChanged) and event.previous is event.status:
        raise broken("$.status", "is the status it changed from")
    seconds = getattr(event, "seconds_left", None)
    if seconds is not None and not 0 <= seconds <= 10**9:
        raise broken("$.seconds_left", f"{seconds} is out of range")
