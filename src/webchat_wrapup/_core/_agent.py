"""An agent's state and the chats the agent holds, as immutable values."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import attrs

from ._errors import InvalidInput, InvalidPolicy, shown
from ._history import (
    AbuseFlag,
    Classification,
    EndedBy,
    WrapUpEnding,
    broken,
    check_abuse,
    check_classification,
    instant_at,
)
from ._json import checked, document_from_dict, document_to_dict
from ._machine import HELD_PHASES, WRAP_UP_PHASES, Phase, Status, status_of
from ._policy import QueuePolicy
from ._text import check_clean, check_identifier

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
class FinishedChat:
    """A chat the agent finished lately: how its wrap-up ended, and when.

    Kept so that a click arriving after the wrap-up ended gets the same
    answer (``wrap_up_over``) whether or not a sweeper has stored the expiry.
    """

    chat_id: str
    ending: WrapUpEnding
    at: datetime


@attrs.frozen
class AgentState:
    """Everything the core knows about one agent at one moment.

    ``status`` is stored for stores and reports, and always equals the status
    derived from ``chats`` (see :meth:`derived_status`). ``finished`` holds
    the last chats the agent finished, newest last, at most
    :func:`finished_limit` of them.
    """

    agent_id: str
    capacity: int = 1
    chats: tuple[Chat, ...] = ()
    status: Status = Status.AVAILABLE
    classification_profile: frozenset[str] | None = None
    finished: tuple[FinishedChat, ...] = ()

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

    def finished_chat(self, chat_id: str) -> FinishedChat | None:
        """The chat with ``chat_id`` if the agent finished it lately."""
        for finished in self.finished:
            if finished.chat_id == chat_id:
                return finished
        return None

    def derived_status(self) -> Status:
        """The status the rule in the state machine module derives from the chats."""
        phases = {chat.phase for chat in self.chats}
        return status_of(bool(phases & HELD_PHASES), bool(phases & WRAP_UP_PHASES))

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
        return checked(check_state, document_from_dict(cls, data))


def finished_limit(capacity: int) -> int:
    """How many finished chats an agent of ``capacity`` remembers."""
    return 2 * capacity


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


def check_state(state: object) -> AgentState:
    """``state`` if it holds every invariant the core keeps.

    What :meth:`AgentState.to_dict` could never have written is refused with
    an :class:`InvalidInput` whose ``field`` is the path of the first broken
    part: a capacity out of range, more chats than that, a status the chats
    contradict, an end before the start, a deadline outside wrap-up, an
    extension budget overspent, a value of the wrong type.
    """
    if not isinstance(state, AgentState):
        raise broken("$", f"{shown(state)} is not an agent state")
    check_identifier(state.agent_id, "$.agent_id")
    if isinstance(state.capacity, bool) or not isinstance(state.capacity, int):
        raise broken("$.capacity", f"{shown(state.capacity)} is not a whole number")
    if not 1 <= state.capacity <= MAX_CAPACITY:
        raise broken("$.capacity", f"{state.capacity} is out of range")
    _check_chats(state)
    if not isinstance(state.status, Status) or state.status is not (
        state.derived_status()
    ):
        raise broken("$.status", f"{shown(state.status)} contradicts the chats")
    profile = state.classification_profile
    if profile is not None:
        _check_tuple(profile, "$.classification_profile", frozenset)
        for code in profile:
            check_identifier(code, "$.classification_profile[]")
    _check_finished(state)
    return state


def _check_tuple(value: object, path: str, kind: type = tuple) -> None:
    if type(value) is not kind:
        raise broken(path, f"{shown(value)} is not a {kind.__name__}")


def _check_chats(state: AgentState) -> None:
    _check_tuple(state.chats, "$.chats")
    if len(state.chats) > state.capacity:
        raise broken("$.chats", f"holds more than the capacity of {state.capacity}")
    for index, chat in enumerate(state.chats):
        _check_chat(chat, f"$.chats[{index}]")
    if len({chat.chat_id for chat in state.chats}) != len(state.chats):
        raise broken("$.chats", "holds the same chat twice")


def _check_chat(chat: object, path: str) -> None:
    if not isinstance(chat, Chat):
        raise broken(path, f"{shown(chat)} is not a chat")
    check_identifier(chat.chat_id, f"{path}.chat_id")
    check_identifier(chat.customer_id, f"{path}.customer_id")
    if not isinstance(chat.queue, QueuePolicy):
        raise broken(f"{path}.queue", f"{shown(chat.queue)} is not a queue policy")
    started = instant_at(chat.started_at, f"{path}.started_at")
    if chat.phase is Phase.ACTIVE:
        _check_active(chat, path)
    elif chat.phase is Phase.WRAP_UP:
        _check_wrap_up(chat, started, path)
    else:
        raise broken(f"{path}.phase", f"{shown(chat.phase)} is not held by an agent")
    _check_extensions(chat, path)
    check_classification(chat.classification, f"{path}.classification")
    if chat.additional_text is not None:
        check_clean(chat.additional_text, f"{path}.additional_text", paragraphs=True)
    check_abuse(chat.abuse, f"{path}.abuse")


def _check_active(chat: Chat, path: str) -> None:
    for name in ("ended_at", "ended_by", "deadline"):
        if getattr(chat, name) is not None:
            raise broken(f"{path}.{name}", "is set on a chat still active")


def _check_wrap_up(chat: Chat, started: datetime, path: str) -> None:
    ended = instant_at(chat.ended_at, f"{path}.ended_at")
    if ended < started:
        raise broken(f"{path}.ended_at", "is before the chat started")
    if not isinstance(chat.ended_by, EndedBy):
        raise broken(f"{path}.ended_by", f"{shown(chat.ended_by)} is not EndedBy")
    policy = chat.queue.wrap_up
    if not policy.enabled:
        raise broken(f"{path}.phase", "is wrap-up in a queue without one")
    if (chat.deadline is None) != (policy.countdown is None):
        raise broken(f"{path}.deadline", "does not match the queue's countdown")
    deadline = chat.deadline
    if deadline is not None and instant_at(deadline, f"{path}.deadline") < ended:
        raise broken(f"{path}.deadline", "is before the wrap-up started")


def _check_extensions(chat: Chat, path: str) -> None:
    used = chat.extensions_used
    budget = chat.queue.wrap_up.max_extensions
    if isinstance(used, bool) or not isinstance(used, int):
        raise broken(f"{path}.extensions_used", f"{shown(used)} is not a number")
    if not 0 <= used <= budget or (used and chat.phase is not Phase.WRAP_UP):
        raise broken(f"{path}.extensions_used", f"{used} is not 0 to {budget}")


def _check_finished(state: AgentState) -> None:
    _check_tuple(state.finished, "$.finished")
    if len(state.finished) > finished_limit(state.capacity):
        raise broken("$.finished", "holds more chats than an agent remembers")
    held = {chat.chat_id for chat in state.chats}
    for index, finished in enumerate(state.finished):
        path = f"$.finished[{index}]"
        if not isinstance(finished, FinishedChat):
            raise broken(path, f"{shown(finished)} is not a finished chat")
        check_identifier(finished.chat_id, f"{path}.chat_id")
        if not isinstance(finished.ending, WrapUpEnding):
            raise broken(f"{path}.ending", f"{shown(finished.ending)} is not an ending")
        instant_at(finished.at, f"{path}.at")
        held.add(finished.chat_id)
    if len(held) != len(state.chats) + len(state.finished):
        raise broken("$.finished", "names a chat twice, or one still held")
