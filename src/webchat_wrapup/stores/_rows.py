"""What the SQL stores share: a change as rows, history pages and cursors,
and rows read back, with damaged ones named."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import attrs

from .._core._agent import AgentState
from .._core._errors import ErrorCode, StoreError, invalid_argument, shown
from .._core._history import ContactHistoryEntry
from ..ports import (
    Change,
    CommandRecord,
    ErasureRecord,
    HistoryChange,
    HistoryPage,
    StoredEvent,
    _customers_by_chat,  # each chat's customer, as Change's methods find it
)
from ._codec import (
    StateCodec,
    event_from_json,
    instant_to_micros,
    micros_to_instant,
    outcome_from_json,
    outcome_to_json,
)
from ._entries import entry_from_json, entry_row, entry_to_json, read_row
from ._paging import encode_cursor
from ._writers import compact, entry_data, event_text

Damaged = Callable[[str, object, str], StoreError]
"""A store's ``store_corrupt`` error for (table, key, reason): a row that no
longer decodes, named so an operator can find it."""


class PolicyNeeded(Exception):
    """Raised by a ``fetch_policy`` that cannot fetch ``key`` itself (its
    caller reads the policy and decodes again): never taken for damage."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def one_change_per_agent(changes: Sequence[Change]) -> None:
    """Refuse a batch with two changes of one agent."""
    agents = [change.agent_id for change in changes]
    if len(set(agents)) != len(agents):
        raise invalid_argument("changes", "one change per agent", agents)


def held_chats(state: AgentState) -> dict[str, str]:
    """The chats ``state`` holds, as the ``held_chats`` rows keep them: each
    holding key (see ``Chat.holding_key``) with its customer."""
    return {chat.holding_key: chat.customer_id for chat in state.chats}


def held_chat_id(key: str) -> str:
    """The chat id in a holding key (see ``Chat.holding_key``)."""
    return key.split("\x1f", 1)[0]


HistoryRow = tuple[str, str, str, int, int, str]
"""customer_id, agent_id, chat_id, chat_started_at, wrap_up_ended_at, entry."""
EventRow = tuple[int, str, str | None, str]
"""recorded_at, agent_id, customer_id (``None``: no chat's), event."""


@attrs.define
class ChangeRows:
    """One change as SQL parameters: the agent row and the rows that go with it.

    Built once per save and never changed after (a mutable slotted class
    builds in a third of the time of a frozen one, on the path every
    command takes).
    """

    state: str
    due: int | None
    policies: list[tuple[str, str]]
    history: list[HistoryRow]
    command: tuple[str, str, str, str] | None
    record_customers: tuple[str, ...] = ()
    """The customers whose data the command record carries (for erasure)."""
    events: list[EventRow] = attrs.Factory(list)
    """The change's events for the feed, in order."""
    recorded_at: int | None = None
    """When the command record was made (microseconds), if there is one."""


def change_rows(
    change: Change,
    codec: StateCodec,
    known: set[str],
    entry_text: Callable[[ContactHistoryEntry], str] | None = None,
) -> ChangeRows:
    """``change`` as rows; policies in ``known`` are already stored, and
    ``entry_text`` gives the text of each history entry's row (its JSON
    document when not given).

    Each history entry is made JSON-ready once, and each event written as
    JSON once, for their own rows and the command record's copy of the
    outcome; each chat's customer is looked up once, for the feed's rows
    and the record's links.
    """
    state = change.state
    text, policies = codec.encode(state)
    deadline = state.next_deadline()
    record = change.command
    history = change.history
    entries = [entry_data(entry) for entry in history] if history else []
    events = [event_text(event) for event in change.events]
    of_events, of_record = _customers(change)
    return ChangeRows(
        text,
        None if deadline is None else instant_to_micros(deadline),
        [(key, p) for key, p in policies.items() if key not in known]
        if policies
        else [],
        _history_rows(history, entries, entry_text) if history else [],
        None if record is None else _record_row(change, record, entries, events),
        of_record,
        _feed_rows(change, events, of_events) if events else [],
        None if record is None else _maybe_micros(record.recorded_at),
    )


def event_rows(change: Change) -> list[EventRow]:
    """The change's events as (recorded at, agent, customer, JSON) rows."""
    if not change.events:
        return []
    events = [event_text(event) for event in change.events]
    return _feed_rows(change, events, change.event_customer_ids())


def _feed_rows(
    change: Change, events: list[str], customers: Sequence[str | None]
) -> list[EventRow]:
    recorded_at = change.recorded_at
    micros = 0 if recorded_at is None else instant_to_micros(recorded_at)
    agent_id = change.agent_id
    return [
        (micros, agent_id, customer, text)
        for customer, text in zip(customers, events, strict=True)
    ]


def _maybe_micros(instant: datetime | None) -> int | None:
    return None if instant is None else instant_to_micros(instant)


def _customers(change: Change) -> tuple[Sequence[str | None], tuple[str, ...]]:
    """``change.event_customer_ids()`` and ``change.record_customer_ids()``.

    When the record's outcome holds the change's own events and entries
    (as every outcome the service saves does), both come from one look-up
    of each chat's customer, as the two methods find them.
    """
    record = change.command
    events, history = change.events, change.history
    if record is not None and (
        record.outcome.events is not events or record.outcome.history is not history
    ):
        return change.event_customer_ids(), change.record_customer_ids()
    if not events and not history:
        return (), ()
    customer_of = _customers_by_chat(change.state, history, events)
    of_events = [customer_of.get(getattr(e, "chat_id", None) or "") for e in events]
    if record is None:
        return of_events, ()
    named = {entry.customer_id for entry in history}
    named.update(customer for customer in of_events if customer is not None)
    return of_events, tuple(sorted(named))


def decode_event(
    position: object, recorded_at: object, text: object, damaged: Damaged
) -> StoredEvent:
    """The event in the feed row at ``position``."""
    try:
        if type(position) is not int or type(recorded_at) is not int:
            raise ValueError(f"position {position!r} or time {recorded_at!r}")
        at = micros_to_instant(recorded_at)
        return StoredEvent(position, at, event_from_json(text))  # type: ignore[arg-type]
    except Exception as error:  # whatever damage makes the decoder raise
        raise damaged("event", position, damage_reason(error)) from error


def decode_history_change(
    position: object, text: object, damaged: Damaged
) -> HistoryChange:
    """The entry in the history row at ``position``, for the change feed."""
    if type(position) is not int:
        raise damaged("history", position, f"position {position!r}")
    return HistoryChange(position, decode_entry(text, position, damaged))


def _history_rows(
    history: Sequence[ContactHistoryEntry],
    entries: list[dict[str, Any]],
    entry_text: Callable[[ContactHistoryEntry], str] | None,
) -> list[HistoryRow]:
    return [
        (
            entry.customer_id,
            entry.agent_id,
            entry.chat_id,
            instant_to_micros(entry.chat_started_at),
            instant_to_micros(entry.wrap_up_ended_at),
            compact(data) if entry_text is None else entry_text(entry),
        )
        for entry, data in zip(history, entries, strict=True)
    ]


def history_row(
    entry: ContactHistoryEntry,
    entry_text: Callable[[ContactHistoryEntry], str] = entry_to_json,
) -> HistoryRow:
    """``entry`` as a row of the ``history`` table, its text by ``entry_text``."""
    return (
        entry.customer_id,
        entry.agent_id,
        entry.chat_id,
        instant_to_micros(entry.chat_started_at),
        instant_to_micros(entry.wrap_up_ended_at),
        entry_text(entry),
    )


def _record_row(
    change: Change,
    record: CommandRecord,
    entries: list[dict[str, Any]],
    events: list[str],
) -> tuple[str, str, str, str]:
    outcome = record.outcome
    return (
        record.command_id,
        record.agent_id,
        record.fingerprint,
        outcome_to_json(
            outcome,
            entries if outcome.history is change.history else None,
            events if outcome.events is change.events else None,
        ),
    )


def command_record(command_id: str, row: Sequence[Any] | None) -> CommandRecord | None:
    """The record in a (agent_id, fingerprint, outcome) row, if there is one."""
    if row is None:
        return None
    outcome = outcome_from_json(row[2], f"command record {shown(command_id)}")
    return CommandRecord(command_id, row[0], row[1], outcome)


def history_page(rows: Sequence[Sequence[Any]], limit: int) -> HistoryPage:
    """A page from up to ``limit + 1`` (entry, wrap_up_ended_at, sequence) rows."""
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(page[-1][1], page[-1][2])
    return HistoryPage(tuple(entry_from_json(row[0]) for row in page), next_cursor)


def decode_state(
    codec: StateCodec,
    agent_id: str,
    version: object,
    text: object,
    fetch_policy: Callable[[str], str],
    damaged: Damaged,
) -> AgentState:
    """The state in an agent row; ``damaged("agent", agent_id, ...)`` if it
    does not decode.

    ``fetch_policy`` raises :class:`StoreError` for a failing connection
    (passed on as it is) and ``store_corrupt`` for a missing policy (the
    agent's row is then the one named), or :class:`PolicyNeeded` (passed
    on) for one it leaves to the caller.
    """
    if type(version) is not int or version < 1:
        raise damaged("agent", agent_id, f"version {version!r}")
    try:
        state = codec.decode(text, fetch_policy)  # type: ignore[arg-type]
    except PolicyNeeded:
        raise
    except StoreError as error:
        if error.code is not ErrorCode.STORE_CORRUPT:
            raise  # closed, unavailable: not damage
        problem = error.details.get("problem", error.message)
        raise damaged("agent", agent_id, problem) from error
    except Exception as error:
        # Whatever a damaged row makes the decoder raise (JSONDecodeError,
        # KeyError, ValueError, TypeError, a policy's own checks...).
        raise damaged("agent", agent_id, damage_reason(error)) from error
    if state.agent_id != agent_id:
        raise damaged("agent", agent_id, f"it holds {state.agent_id!r}")
    return state


def decode_erasure(row: Sequence[Any], damaged: Damaged) -> ErasureRecord:
    """The record in an (erasure_id, erased_at, erased_by, history_entries,
    command_records, events) row."""
    erasure_id, erased_at, erased_by, entries, records, events = row
    try:
        return ErasureRecord(
            erasure_id,
            micros_to_instant(erased_at),
            erased_by,
            entries,
            records,
            events,
        )
    except Exception as error:  # whatever damage makes the decoder raise
        raise damaged("erasure", erasure_id, damage_reason(error)) from error


def decode_record(
    command_id: str, row: Sequence[Any], damaged: Damaged
) -> CommandRecord:
    """The record in an (agent_id, fingerprint, outcome, recorded_at) row."""
    agent_id, fingerprint, outcome, recorded = row
    if not (isinstance(agent_id, str) and isinstance(fingerprint, str)):
        raise damaged("command", command_id, "agent id or fingerprint")
    if recorded is not None and type(recorded) is not int:
        raise damaged("command", command_id, f"recorded at {recorded!r}")
    try:
        decoded = outcome_from_json(outcome)
        at = None if recorded is None else micros_to_instant(recorded)
    except Exception as error:  # whatever damage makes the decoder raise
        raise damaged("command", command_id, damage_reason(error)) from error
    return CommandRecord(command_id, agent_id, fingerprint, decoded, at)


def decode_entry(
    text: object, sequence: object, damaged: Damaged
) -> ContactHistoryEntry:
    """The contact-history entry in the row numbered ``sequence``."""
    try:
        return entry_from_json(text)  # type: ignore[arg-type]
    except Exception as error:  # whatever damage makes the decoder raise
        raise damaged("history", sequence, damage_reason(error)) from error


def decode_rows(
    batch: Sequence[Sequence[Any]], damaged: Damaged
) -> Iterator[list[Any]]:
    """The entries of (entry, sequence) rows as rows (``_entries.py``): a
    stored row as it is, unchecked; a document decoded and checked."""
    for text, sequence in batch:
        row = read_row(text)
        if row is None:
            row = entry_row(decode_entry(text, sequence, damaged))
        yield row


def checked_history_page(
    rows: Sequence[Sequence[Any]], limit: int, damaged: Damaged
) -> HistoryPage:
    """:func:`history_page`, naming the first damaged row if one is."""
    try:
        return history_page(rows, limit)
    except Exception:
        # Decoding the page again, row by row, costs nothing on the path
        # where no row is damaged.
        for row in rows[:limit]:
            decode_entry(row[0], row[2], damaged)
        raise


def damage_reason(error: Exception) -> str:
    """What a decoder raised, as the reason a row is damaged."""
    return f"{type(error).__name__}: {error}"
