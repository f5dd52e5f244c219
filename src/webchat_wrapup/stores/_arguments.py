"""What every store checks of the arguments it is given.

The service checks what it hands a store, but a store is also called
directly (a desk reading a history page, an integrator's tool, a test), so
each store refuses an argument of the wrong kind with the library's own
:class:`~webchat_wrapup.InvalidInput` before it reads or writes anything,
rather than failing somewhere inside with a ``TypeError`` or a driver's
error. Identifiers must be usable identifiers (as the service requires);
a change's parts must be of their types. What a change holds is written as
the core made it: a state is not checked again on every save (one that
comes from outside is checked as ``AgentState.from_dict`` reads it).

Each check is a few type tests on the path every command takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from .._core._agent import AgentState
from .._core._errors import ErrorCode, InvalidInput, invalid_argument, shown
from .._core._events import EVENT_TYPES
from .._core._history import ContactHistoryEntry
from .._core._text import USABLE, check_identifier
from ..ports import Change, CommandRecord, Outcome
from ._paging import check_instant, check_whole_limit

_EVENT_CLASSES: frozenset[type] = frozenset(EVENT_TYPES.values())
_ENTRY_CLASSES: frozenset[type] = frozenset({ContactHistoryEntry})


_MAX_VERSION = 2**63 - 2
"""The version after it still fits SQL's BIGINT."""


def check_version(
    version: object, field: str = "expected_version", most: int = _MAX_VERSION
) -> None:
    """Refuse a version that is not a whole number from 0 to ``most`` (by
    default, one whose next version SQL still holds)."""
    if type(version) is not int or not 0 <= version <= most:
        raise invalid_argument(field, f"a whole number from 0 to {most}", version)


def check_change(change: object) -> Change:
    """``change`` if it is a :class:`~webchat_wrapup.ports.Change` whose
    parts are of their types, its state the named agent's.

    Written as one pass of type tests, helpers called only for what is
    uncommon or wrong: every save takes this path.
    """
    if type(change) is not Change:
        raise invalid_argument("change", "a Change", change)
    agent_id = change.agent_id
    if type(agent_id) is not str or agent_id not in USABLE:
        check_identifier(agent_id, "change.agent_id")
    version = change.expected_version
    if type(version) is not int or not 0 <= version <= _MAX_VERSION:
        check_version(version, "change.expected_version")
    state = change.state
    if type(state) is not AgentState or state.agent_id != agent_id:
        raise invalid_argument("change.state", f"the AgentState of {agent_id!r}", state)
    if type(change.history) is not tuple or change.history:
        _check_entries(change.history, "change.history")
    events = change.events
    if type(events) is not tuple:
        raise invalid_argument("change.events", "a tuple of events", events)
    for event in events:
        if type(event) not in _EVENT_CLASSES:
            raise invalid_argument("change.events", "a tuple of events", events)
    if change.command is not None:
        _check_record(change.command, change)
    at = change.recorded_at
    if at is not None and (type(at) is not datetime or at.tzinfo is not timezone.utc):
        _check_optional_instant(at, "change.recorded_at")
    return change


def check_changes(changes: object) -> tuple[Change, ...]:
    """``changes`` as a tuple, each checked as :func:`check_change` checks it."""
    if isinstance(changes, (str, bytes)) or not isinstance(changes, Sequence):
        raise invalid_argument("changes", "a sequence of Change", changes)
    return tuple(check_change(change) for change in changes)


def check_claim(at: object, limit: object, lease: object) -> None:
    """Refuse a claim at anything but an aware instant, of a limit that is
    not a whole number SQL holds, or for a lease that is not a positive
    duration ending before the calendar does."""
    check_instant(at, "at")
    check_whole_limit(limit)
    if limit < 0:  # type: ignore[operator]
        raise InvalidInput(
            ErrorCode.INVALID_LIMIT,
            f"limit must be a whole number from 0, not {shown(limit)}",
            field="limit",
        )
    if type(lease) is not timedelta or lease <= timedelta(0):
        raise invalid_argument("lease", "a positive timedelta", lease)
    try:
        at + lease  # type: ignore[operator]  # as the stores add them
    except OverflowError:
        raise invalid_argument(
            "lease", "a duration that ends before the year 10000", lease
        ) from None


def check_erasure(
    customer_id: object, erasure_id: object, erased_at: object, erased_by: object
) -> None:
    """Refuse an erasure whose identifiers or instant are of the wrong kind."""
    check_identifier(customer_id, "customer_id")
    check_identifier(erasure_id, "erasure_id")
    check_instant(erased_at, "erased_at")
    check_identifier(erased_by, "erased_by")


def _check_record(record: object, change: Change) -> None:
    """The command record's parts, those it shares with the change (as the
    service's records do) not checked twice."""
    if type(record) is not CommandRecord:
        raise invalid_argument("change.command", "a CommandRecord or None", record)
    check_identifier(record.command_id, "change.command.command_id")
    if record.agent_id is not change.agent_id:
        check_identifier(record.agent_id, "change.command.agent_id")
    check_identifier(record.fingerprint, "change.command.fingerprint")
    outcome = record.outcome
    if type(outcome) is not Outcome:
        raise invalid_argument("change.command.outcome", "an Outcome", outcome)
    if outcome.agent_id is not change.agent_id:
        check_identifier(outcome.agent_id, "change.command.outcome.agent_id")
    check_version(outcome.version, "change.command.outcome.version", 2**63 - 1)
    if outcome.history is not change.history:  # most often the change's own
        _check_entries(outcome.history, "change.command.outcome.history")
    if outcome.events is not change.events:
        _check_events(outcome.events, "change.command.outcome.events")
    if record.recorded_at is not change.recorded_at:
        _check_optional_instant(record.recorded_at, "change.command.recorded_at")


def _check_entries(entries: object, field: str) -> None:
    _check_tuple(entries, _ENTRY_CLASSES, field, "a tuple of ContactHistoryEntry")


def _check_events(events: object, field: str) -> None:
    _check_tuple(events, _EVENT_CLASSES, field, "a tuple of events")


def _check_tuple(
    values: object, kinds: frozenset[type], field: str, wanted: str
) -> None:
    if type(values) is not tuple or any(type(value) not in kinds for value in values):
        raise invalid_argument(field, wanted, values)


def _check_optional_instant(instant: object, field: str) -> None:
    if instant is None or (
        type(instant) is datetime and instant.tzinfo is timezone.utc
    ):
        return
    if not isinstance(instant, datetime):
        raise invalid_argument(field, "a datetime or None", instant)
    check_instant(instant, field)  # refuses a naive one
