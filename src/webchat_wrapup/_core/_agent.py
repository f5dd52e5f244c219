"""An agent's state and the chats the agent holds, as immutable values."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
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
from ._machine import (
    HELD_PHASES,
    WRAP_UP_PHASES,
    Phase,
    Presence,
    Status,
    status_of,
)
from ._policy import QueuePolicy
from ._text import check_clean, check_identifier

MAX_CAPACITY = 10
MAX_LEGS = 100
"""The most parts one chat may have (transfers from agent to agent)."""


@attrs.frozen
class Transfer:
    """Where a transferred chat went: another agent, or back to a queue."""

    to_agent_id: str | None = None
    to_queue_id: str | None = None


@attrs.frozen(slots=False)  # a dict-backed chat copies fast (see _decide._extended)
class Chat:
    """One chat an agent holds: active or parked, or in wrap-up (maybe paused).

    ``deadline`` is the absolute UTC instant the wrap-up countdown runs out;
    it is ``None`` while the chat is active or parked, or when the queue has
    no countdown. While the wrap-up is paused (``paused_at`` set) the
    deadline is the one the countdown had when it stopped: the time left is
    ``deadline - paused_at``, and resuming at ``t`` moves the deadline on by
    ``t - paused_at``. ``pause_count`` and ``paused_seconds`` (pauses already
    over) are kept for the history entry. ``leg`` numbers the agents' parts
    of one chat (a transfer starts the next). Finished chats leave the
    agent's state for the contact history.
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
    paused_at: datetime | None = None
    pause_count: int = 0
    paused_seconds: float = 0.0
    leg: int = 1
    transfer: Transfer | None = None

    @property
    def extensions_left(self) -> int:
        """How many more times the agent may extend: the number in the icon."""
        return self.queue.wrap_up.max_extensions - self.extensions_used

    @property
    def holding_key(self) -> str:
        """What makes this chat's holder unique across agents: the chat id,
        and the leg after the first (a transfer's next leg is held by another
        agent while this one wraps up the last). Identifiers are printable,
        so the separator can never occur in one."""
        return self.chat_id if self.leg == 1 else f"{self.chat_id}\x1f{self.leg}"

    def resumes_at(self) -> datetime | None:
        """When a paused wrap-up resumes by itself (its pause allowance is
        used up), or ``None`` when it is not paused or has no limit."""
        limit = self.queue.wrap_up.max_paused_seconds
        if self.paused_at is None or limit is None:
            return None
        left = max(0.0, limit - self.paused_seconds)
        return self.paused_at + timedelta(seconds=left)

    def due_at(self) -> datetime | None:
        """When the wrap-up expires if nobody acts: the deadline, or for a
        paused countdown the deadline moved on by the pause still allowed."""
        if self.deadline is None or self.paused_at is None:
            return self.deadline
        resumes = self.resumes_at()
        return None if resumes is None else self.deadline + (resumes - self.paused_at)


@attrs.frozen
class FinishedChat:
    """A chat the agent finished lately: how its wrap-up ended, and when.

    Kept so that a click arriving after the wrap-up ended gets the same
    answer (``wrap_up_over``) whether or not a sweeper has stored the expiry.
    """

    chat_id: str
    ending: WrapUpEnding
    at: datetime


@attrs.frozen  # slotted: an idle agent's state costs under 300 bytes
class AgentState:
    """Everything the core knows about one agent at one moment.

    ``status`` is stored for stores and reports, and always equals the status
    derived from ``chats`` (see :meth:`derived_status`). ``finished`` holds
    the last chats the agent finished, newest last, at most
    :func:`finished_limit` of them. ``presence`` is what the agent chose to
    be when holding no chat (with the not-ready reason, if any);
    ``next_presence``, chosen while holding chats, takes effect the instant
    the last wrap-up ends.
    """

    agent_id: str
    capacity: int = 1
    chats: tuple[Chat, ...] = ()
    status: Status = Status.AVAILABLE
    classification_profile: frozenset[str] | None = None
    finished: tuple[FinishedChat, ...] = ()
    presence: Presence = Presence.AVAILABLE
    presence_reason: str | None = None
    next_presence: Presence | None = None
    next_presence_reason: str | None = None

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
        """The earliest instant a wrap-up of the agent's expires if nobody
        acts (a paused countdown counts from when it resumes by itself)."""
        earliest = None
        for chat in self.chats:  # a loop, not min(): every save asks
            due = None if chat.deadline is None else chat.due_at()
            if due is not None and (earliest is None or due < earliest):
                earliest = due
        return earliest

    def label(self) -> str:
        """What the desk shows: the work status while the agent holds chats,
        otherwise the presence (a not-ready reason by its name)."""
        if self.chats:
            return self.status.label
        if self.presence is Presence.NOT_READY and self.presence_reason:
            return self.presence_reason
        return self.presence.label

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
    part: a capacity out of range, more chats than ``MAX_CAPACITY`` (an
    agent may hold more than its own capacity after it was lowered), a
    status the chats contradict, an end before the start, a deadline
    outside wrap-up, an extension budget overspent, a value of the wrong
    type.
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
    _check_presence(state)
    return state


def _check_presence(state: AgentState) -> None:
    for field in ("presence", "next_presence"):
        value = getattr(state, field)
        if value is not None and not isinstance(value, Presence):
            raise broken(f"$.{field}", f"{shown(value)} is not a presence")
        reason = getattr(state, f"{field}_reason")
        if (reason is not None) != (value is Presence.NOT_READY):
            raise broken(f"$.{field}_reason", "goes with a not-ready presence only")
        if reason is not None:
            check_clean(reason, f"$.{field}_reason")
    if state.presence is None:
        raise broken("$.presence", "is missing")
    if state.next_presence is not None and not state.chats:
        raise broken("$.next_presence", "is pending for an agent holding no chat")


def _check_tuple(value: object, path: str, kind: type = tuple) -> None:
    if type(value) is not kind:
        raise broken(path, f"{shown(value)} is not a {kind.__name__}")


def _check_chats(state: AgentState) -> None:
    _check_tuple(state.chats, "$.chats")
    # Up to the most any agent may hold, not the agent's own capacity: an
    # agent whose capacity is lowered keeps the chats it holds, and takes
    # no new one until it holds fewer than the new capacity.
    if len(state.chats) > MAX_CAPACITY:
        raise broken("$.chats", f"holds more than {MAX_CAPACITY} chats")
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
    if chat.phase in HELD_PHASES:
        _check_active(chat, path)
    elif chat.phase in WRAP_UP_PHASES:
        _check_wrap_up(chat, started, path)
        _check_pause(chat, path)
    else:
        raise broken(f"{path}.phase", f"{shown(chat.phase)} is not held by an agent")
    _check_extensions(chat, path)
    check_classification(chat.classification, f"{path}.classification")
    if chat.additional_text is not None:
        check_clean(chat.additional_text, f"{path}.additional_text", paragraphs=True)
    check_abuse(chat.abuse, f"{path}.abuse")
    _check_leg(chat, path)


def _check_active(chat: Chat, path: str) -> None:
    for name in ("ended_at", "ended_by", "deadline", "paused_at"):
        if getattr(chat, name) is not None:
            raise broken(f"{path}.{name}", "is set on a chat still active")
    if chat.pause_count or chat.paused_seconds:
        raise broken(f"{path}.pause_count", "counts pauses of a chat still active")


def _check_leg(chat: Chat, path: str) -> None:
    if isinstance(chat.leg, bool) or not isinstance(chat.leg, int):
        raise broken(f"{path}.leg", f"{shown(chat.leg)} is not a whole number")
    if not 1 <= chat.leg <= MAX_LEGS:
        raise broken(f"{path}.leg", f"{chat.leg} is out of range")
    transfer = chat.transfer
    if transfer is None:
        return
    if not isinstance(transfer, Transfer) or chat.ended_by is not EndedBy.TRANSFER:
        raise broken(f"{path}.transfer", "goes with a chat ended by a transfer")
    targets = [t for t in (transfer.to_agent_id, transfer.to_queue_id) if t]
    if len(targets) != 1:
        raise broken(f"{path}.transfer", "names one agent or one queue")
    check_identifier(targets[0], f"{path}.transfer")


def _check_pause(chat: Chat, path: str) -> None:
    count, seconds = chat.pause_count, chat.paused_seconds
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise broken(f"{path}.pause_count", f"{shown(count)} is not a count")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise broken(f"{path}.paused_seconds", f"{shown(seconds)} is not a number")
    if not 0 <= seconds <= 1e9:
        raise broken(f"{path}.paused_seconds", f"{seconds} is out of range")
    paused = chat.phase is Phase.PAUSED
    if paused != (chat.paused_at is not None):
        raise broken(f"{path}.paused_at", "does not match the chat's phase")
    if paused and instant_at(chat.paused_at, f"{path}.paused_at") < (
        chat.ended_at or chat.started_at
    ):
        raise broken(f"{path}.paused_at", "is before the wrap-up started")


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
    if not 0 <= used <= budget or (used and chat.phase not in WRAP_UP_PHASES):
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
