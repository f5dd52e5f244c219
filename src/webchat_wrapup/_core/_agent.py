"""An agent's state and the chats the agent holds, as immutable values."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import attrs

from ._errors import InvalidInput, InvalidPolicy, shown
from ._history import AbuseFlag, Classification, EndedBy
from ._json import document_from_dict, document_to_dict
from ._machine import Phase, Status, status_of
from ._policy import QueuePolicy
from ._text import check_identifier

MAX_CAPACITY = 10


@attrs.frozen
class Chat:
    """One chat an agent holds: active, or in wrap-up.

    ``deadline`` is the absolute UTC instant the wrap-up countdown runs out;
    it is ``None`` while the chat is active or when the queue has no
    countdown. Finished chats leave the agent's state for the contact history.
    """

    chat_id: str
    customer_id: str
    queue: QueuePolicy
    phase: Phase
    started_at: datetime
    ended_at: datetime | None = None
    ended_by: EndedBy | None = None
    deadline: datetime | None = None
    extensions_used: int = 0
    classification: Classification | None = None
    additional_text: str | None = None
    abuse: AbuseFlag | None = None

    @property
    def extensions_left(self) -> int:
        """How many more times the agent may extend: the number in the icon."""
        return self.queue.wrap_up.max_extensions - self.extensions_used


@attrs.frozen
class AgentState:
    """Everything the core knows about one agent at one moment.

    ``status`` is stored for stores and reports, and always equals the status
    derived from ``chats`` (see :meth:`derived_status`).
    """

    agent_id: str
    capacity: int = 1
    chats: tuple[Chat, ...] = ()
    status: Status = Status.AVAILABLE
    classification_profile: frozenset[str] | None = None

    @classmethod
    def new(
        cls,
        agent_id: str,
        *,
        capacity: int = 1,
        classification_profile: Iterable[str] | None = None,
    ) -> AgentState:
        """An available agent holding no chat, with its inputs checked.

        ``classification_profile`` is a list, tuple or set of option codes; a
        lone string is refused rather than read as a set of letters.
        """
        check_identifier(agent_id, "agent_id")
        _check_capacity(capacity)
        profile = _profile(classification_profile)
        return cls(agent_id, capacity, (), Status.AVAILABLE, profile)

    def chat(self, chat_id: str) -> Chat | None:
        """The chat with ``chat_id`` if this agent holds it."""
        for chat in self.chats:
            if chat.chat_id == chat_id:
                return chat
        return None

    def derived_status(self) -> Status:
        """The status the rule in the state machine module derives from the chats."""
        phases = {chat.phase for chat in self.chats}
        return status_of(Phase.ACTIVE in phases, Phase.WRAP_UP in phases)

    def next_deadline(self) -> datetime | None:
        """The earliest wrap-up deadline among the agent's chats, if any."""
        deadlines = [chat.deadline for chat in self.chats if chat.deadline is not None]
        return min(deadlines, default=None)

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready data, with ``schema_version``."""
        return document_to_dict(self)

    @classmethod
    def from_dict(cls, data: object) -> AgentState:
        """The value :meth:`to_dict` wrote; a typed error if ``data`` is not one."""
        return document_from_dict(cls, data)


def _check_capacity(capacity: object) -> None:
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        raise _bad_capacity(capacity)
    if not 1 <= capacity <= MAX_CAPACITY:
        raise _bad_capacity(capacity)


def _bad_capacity(capacity: object) -> InvalidPolicy:
    return InvalidPolicy(
        "capacity",
        f"must be a whole number from 1 to {MAX_CAPACITY}, not {shown(capacity)}",
    )


def _profile(value: object) -> frozenset[str] | None:
    """A classification profile as a frozen set of option codes."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise InvalidPolicy(
            "classification_profile",
            f"must be a collection of option codes, not {shown(value)}",
        )
    try:
        for code in value:
            check_identifier(code, "a classification profile's code")
    except InvalidInput as error:
        raise InvalidPolicy("classification_profile", error.message) from None
    return frozenset(value)
