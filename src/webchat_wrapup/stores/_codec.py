"""The storage form of an agent's state: compact JSON, policies by reference.

Stores keep each queue policy once, under a key derived from its content,
and each agent's state as JSON that names its chats' policies by key. This
keeps agent rows small and saves fast; it is a storage format, versioned by
the stores' schema, not a public document.

Reading is strict: a row that cannot be decoded, or decodes to a value the
core could never have written, is a :class:`StoreError` with the code
``store_corrupt`` naming the row, whatever went wrong inside.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import typing
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any

import attrs

from .._core._agent import AgentState, Chat, FinishedChat, Transfer, check_state
from .._core._errors import ErrorCode, StoreError, WrapUpError, shown
from .._core._events import EVENT_TYPES, Event, check_event
from .._core._history import (
    AbuseFlag,
    Classification,
    ContactHistoryEntry,
    EndedBy,
    WrapUpEnding,
)
from .._core._machine import Phase, Presence, Status
from .._core._policy import QueuePolicy
from .._core._text import check_identifier
from ..ports import Outcome
from ._instants import instant_to_micros as instant_to_micros
from ._instants import micros_to_instant as micros_to_instant
from ._writers import (
    classification_text,
    compact,
    entry_data,
    event_text,
    optional_text,
)

_PHASES = {phase.value: phase for phase in Phase}
_STATUSES = {status.value: status for status in Status}
_PRESENCES = {presence.value: presence for presence in Presence}
_ENDED_BY = {who.value: who for who in EndedBy}
_ENDINGS = {ending.value: ending for ending in WrapUpEnding}
# Everything decoding damaged JSON can raise: json's errors are ValueErrors,
# the core's InvalidInput too; deep nesting raises RecursionError, huge
# numbers OverflowError.
_DAMAGE = (ValueError, LookupError, TypeError, ArithmeticError, RecursionError)
_MAX_CACHED = 4096
_json_string: Callable[[str], str] = json.encoder.encode_basestring_ascii


def _maybe_micros(instant: datetime | None) -> int | None:
    return None if instant is None else instant_to_micros(instant)


def _maybe_instant(micros: int | None) -> datetime | None:
    return None if micros is None else micros_to_instant(micros)


class StateCodec:
    """Encodes agent states, remembering the policies it has seen.

    One codec belongs to one store; it is safe to share between threads
    because its caches only ever grow with equal values.
    """

    def __init__(self) -> None:
        self._keys: dict[int, tuple[QueuePolicy, str, str]] = {}
        self._policies: dict[str, QueuePolicy] = {}

    def policy_key(self, policy: QueuePolicy) -> tuple[str, str]:
        """The policy's content key and its JSON text."""
        cached = self._keys.get(id(policy))
        if cached is not None and cached[0] is policy:
            return cached[1], cached[2]
        if len(self._keys) >= _MAX_CACHED:
            self._keys.clear()
        text = json.dumps(policy.to_dict(), sort_keys=True, separators=(",", ":"))
        key = hashlib.sha256(text.encode()).hexdigest()[:32]
        self._keys[id(policy)] = (policy, key, text)
        self._policies.setdefault(key, policy)
        return key, text

    def encode(self, state: AgentState) -> tuple[str, dict[str, str]]:
        """The state's JSON, and ``{key: policy JSON}`` for its chats' policies.

        The array ``[agent_id, capacity, status, profile, chats, finished,
        presence]`` (the last two only when needed: rows written before they
        existed still read), each chat the array :func:`_chat_text` writes.
        Written as text directly: every save encodes its agent's state.
        """
        policies: dict[str, str] = {}
        chats = []
        for chat in state.chats:
            key, text = self.policy_key(chat.queue)
            policies[key] = text
            chats.append(_chat_text(chat, key))
        profile = state.classification_profile
        text = (
            f"[{_json_string(state.agent_id)},{state.capacity:d},"
            f'"{state.status._value_}",'  # the member's own attribute: no descriptor
            f"{'null' if profile is None else compact(sorted(profile))},"
            f"[{','.join(chats)}]"
        )
        presence = _presence_data(state)
        if state.finished or presence is not None:
            tail = [[_finished_data(finished) for finished in state.finished]]
            if presence is not None:
                tail.append(presence)
            text += "," + compact(tail)[1:-1]
        return text + "]", policies

    def decode(self, text: str, fetch_policy: Callable[[str], str]) -> AgentState:
        """The state :meth:`encode` wrote; ``fetch_policy`` reads unknown keys.

        A damaged row is a ``store_corrupt`` :class:`StoreError`.
        """
        try:
            return check_state(self._state(text, fetch_policy))
        except _DAMAGE as error:
            raise damaged(f"agent row {_agent_named_in(text)}", error) from error

    def _state(self, text: str, fetch_policy: Callable[[str], str]) -> AgentState:
        agent_id, capacity, status, profile, chats, *rest = _items(json.loads(text))
        if len(rest) > 2:
            raise ValueError("the row has elements after the presence")
        finished = _items(rest[0]) if rest else []
        presence_data: list[Any] = (
            _items(rest[1], 4) if len(rest) == 2 else ["available", None, None, None]
        )
        presence, reason, next_presence, next_reason = presence_data
        return AgentState(
            agent_id,
            capacity,
            tuple(self._chat(data, fetch_policy) for data in _items(chats)),
            _STATUSES[status],
            None if profile is None else frozenset(_items(profile)),
            tuple(_finished(data) for data in finished),
            _PRESENCES[presence],
            reason,
            None if next_presence is None else _PRESENCES[next_presence],
            next_reason,
        )

    def policy(self, key: str, fetch_policy: Callable[[str], str]) -> QueuePolicy:
        """The policy stored under ``key``; a damaged one is ``store_corrupt``."""
        policy = self._policies.get(key)
        if policy is None:
            text = fetch_policy(key)
            try:
                policy = QueuePolicy.from_dict(json.loads(text))
            except _DAMAGE as error:
                raise damaged(f"policy {shown(key)}", error) from error
            self._policies[key] = policy
        return policy

    def _chat(self, data: Any, fetch_policy: Callable[[str], str]) -> Chat:
        items = _items(data)
        if not 12 <= len(items) <= 15:  # pauses, the leg, a transfer, if needed
            raise TypeError("expected an array of 12 to 15 items")
        (chat_id, customer_id, key, phase, started, ended, ended_by, deadline) = items[
            :8
        ]
        used, classification, additional_text, abuse = items[8:12]
        pause_data: list[Any] = (
            _items(items[12], 3) if len(items) >= 13 else [None, 0, 0.0]
        )
        leg = items[13] if len(items) >= 14 else 1
        moved = Transfer(*_items(items[14], 2)) if len(items) == 15 else None
        paused_at, pause_count, paused_seconds = pause_data
        return Chat(
            chat_id,
            customer_id,
            self.policy(key, fetch_policy),
            _PHASES[phase],
            micros_to_instant(started),
            _maybe_instant(ended),
            None if ended_by is None else _ENDED_BY[ended_by],
            _maybe_instant(deadline),
            used,
            None if classification is None else _classification(classification),
            additional_text,
            None if abuse is None else _abuse(abuse),
            _maybe_instant(paused_at),
            pause_count,
            paused_seconds,
            leg,
            moved,
        )


def _presence_data(state: AgentState) -> list[Any] | None:
    if state.presence is Presence.AVAILABLE and state.next_presence is None:
        return None
    following = state.next_presence
    return [
        state.presence.value,
        state.presence_reason,
        None if following is None else following.value,
        state.next_presence_reason,
    ]


def damaged(what: str, error: BaseException) -> StoreError:
    """The ``store_corrupt`` error for a stored ``what`` that cannot be read."""
    problem = error.message if isinstance(error, WrapUpError) else repr(error)
    return StoreError(
        ErrorCode.STORE_CORRUPT,
        f"{what} is damaged: {problem}",
        damaged=what,
        problem=problem,
    )


def _agent_named_in(text: object) -> str:
    """The agent a damaged row names, if it still names one."""
    try:
        agent_id = json.loads(text)[0]  # type: ignore[arg-type]
        return repr(check_identifier(agent_id, "agent_id"))
    except (*_DAMAGE, WrapUpError):
        return "(agent unknown)"


def _items(value: Any, length: int | None = None) -> list[Any]:
    """``value`` if it is a JSON array (of ``length`` items, when given)."""
    if type(value) is not list or (length is not None and len(value) != length):
        raise TypeError(f"expected an array of {length or 'any number of'} items")
    return value


def _classification(data: Any) -> Classification:
    return Classification(*_items(data, 3))


def _finished_data(finished: FinishedChat) -> list[Any]:
    return [finished.chat_id, finished.ending.value, instant_to_micros(finished.at)]


def _finished(data: Any) -> FinishedChat:
    chat_id, ending, at = _items(data, 3)
    return FinishedChat(chat_id, _ENDINGS[ending], micros_to_instant(at))


def _chat_text(chat: Chat, key: str) -> str:
    """The chat as a JSON array: ``[chat_id, customer_id, policy key, phase,
    started, ended, ended_by, deadline, extensions used, classification
    ([label, code, group]), additional text, abuse flag ([by, at, reason,
    note])]``, instants in microseconds, then (only when needed, as rows
    written before they existed still read) ``[paused at, pauses, seconds
    paused]``, the leg, and ``[to agent, to queue]`` of a transfer."""
    classification = chat.classification
    abuse = chat.abuse
    text = (
        f"[{_json_string(chat.chat_id)},{_json_string(chat.customer_id)},"
        f'"{key}","{chat.phase._value_}",{instant_to_micros(chat.started_at):d},'
        f"{_micros_text(chat.ended_at)},"
        f"{'null' if chat.ended_by is None else _json_string(chat.ended_by._value_)},"
        f"{_micros_text(chat.deadline)},{chat.extensions_used:d},"
        f"{'null' if classification is None else classification_text(classification)},"
        f"{optional_text(chat.additional_text)},"
        f"{'null' if abuse is None else _abuse_text(abuse)}"
    )
    moved = chat.transfer
    if chat.pause_count or chat.paused_at is not None or chat.leg != 1 or moved:
        paused = [_maybe_micros(chat.paused_at), chat.pause_count, chat.paused_seconds]
        tail: list[Any] = [paused]
        if chat.leg != 1 or moved is not None:
            tail.append(chat.leg)
        if moved is not None:
            tail.append([moved.to_agent_id, moved.to_queue_id])
        text += "," + compact(tail)[1:-1]
    return text + "]"


def _micros_text(instant: datetime | None) -> str:
    return "null" if instant is None else str(instant_to_micros(instant))


def _abuse_text(abuse: AbuseFlag) -> str:
    return (
        f"[{_json_string(abuse.flagged_by)},{instant_to_micros(abuse.flagged_at):d},"
        f"{optional_text(abuse.reason)},{_json_string(abuse.note)}]"
    )


def _abuse(data: Any) -> AbuseFlag:
    flagged_by, flagged_at, reason, note = _items(data, 4)
    return AbuseFlag(flagged_by, micros_to_instant(flagged_at), reason, note)


def outcome_to_json(
    outcome: Outcome,
    entries: list[dict[str, Any]] | None = None,
    events: list[str] | None = None,
) -> str:
    """A command's outcome as compact JSON text, for command records.

    Events are stored positionally (type, then field values), as the agent
    state is; this is a storage format, read back by
    :func:`outcome_from_json`, not a public document. ``entries`` are the
    outcome's history entries as data, and ``events`` its events' JSON
    texts, when already built (for their own rows): the text is the same.
    """
    if entries is None:
        entries = [entry_data(entry) for entry in outcome.history]
    if events is None:
        events = [event_text(event) for event in outcome.events]
    return (
        f"[{_json_string(outcome.agent_id)},{outcome.version:d},"
        f"[{','.join(events)}],{compact(entries) if entries else '[]'}]"
    )


def outcome_from_json(text: str, what: str = "a command record") -> Outcome:
    """The outcome :func:`outcome_to_json` wrote; ``what`` names it if damaged."""
    try:
        agent_id, version, events, history = _items(json.loads(text), 4)
        check_identifier(agent_id, "agent_id")
        if type(version) is not int or version < 1:
            raise ValueError(f"version {shown(version)} is not a stored version")
        return Outcome(
            agent_id,
            version,
            tuple(_event_from_row(row) for row in _items(events)),
            tuple(ContactHistoryEntry.from_dict(entry) for entry in _items(history)),
        )
    except _DAMAGE as error:
        raise damaged(what, error) from error


def _event_from_row(row: Any) -> Event:
    cls: Any = EVENT_TYPES[_items(row)[0]]
    readers = _EVENT_FIELDS[cls][1]
    values = [
        None if value is None else read(value)
        for read, value in zip(readers, row[1:], strict=True)
    ]
    event: Event = cls(*values)
    check_event(event)
    return event


def _reader(hint: Any) -> Callable[[Any], Any]:
    options = [o for o in typing.get_args(hint) if o is not type(None)] or [hint]
    kind = options[0]
    if kind is datetime:
        return micros_to_instant
    if kind is Classification:
        return _classification
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind
    return lambda value: value


def _event_fields() -> dict[
    type, tuple[tuple[str, ...], tuple[Callable[[Any], Any], ...]]
]:
    table = {}
    for cls in EVENT_TYPES.values():
        hints = typing.get_type_hints(cls)
        names = tuple(field.name for field in attrs.fields(cls))
        table[cls] = (names, tuple(_reader(hints[name]) for name in names))
    return table


_EVENT_FIELDS = _event_fields()


def event_to_json(event: Event) -> str:
    """An event as compact JSON text, for the event feed (the positional
    form command records use; read back by :func:`event_from_json`)."""
    return event_text(event)


def event_from_json(text: str, what: str = "an event") -> Event:
    """The event :func:`event_to_json` wrote; ``what`` names it if damaged."""
    try:
        return _event_from_row(json.loads(text))
    except _DAMAGE as error:
        raise damaged(what, error) from error
