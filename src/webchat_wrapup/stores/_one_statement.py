"""The common save as one statement: the agent's row, the command record,
its customer's link and the feed's event, written by a trigger.

Every statement :mod:`sqlite3` runs costs a Python call, the interpreter
lock let go and taken back, and for SQLite a statement to look up, bind,
step and reset. The common command (an extension, a classification, a
note: the agent keeps the chats it holds, the record names one customer,
one event for the feed) writes four rows; in a transaction of its own,
with ``BEGIN IMMEDIATE`` and ``COMMIT``, that is six statements. Here it is
one: an ``INSERT`` into a view whose ``INSTEAD OF`` trigger writes the
rows. SQLite runs a statement outside a transaction as a transaction of its
own, atomic, taking the write lock as it starts (before it reads anything,
as ``BEGIN IMMEDIATE`` does) and committing as it ends; should the agent's
version have moved on, the trigger aborts the statement and nothing of it
is written. Inside a transaction (saves written together), a refused
statement undoes itself and leaves the others: no savepoint is needed.

The statement's values are made straight from the change, as the general
route makes them (``_rows.py``: the same texts, which tests hold equal), with
no rows object in between. The view and the trigger are ``TEMP``: they
belong to the writer connection, created when it opens, not to the file,
whose schema stays as it is. Every other save takes the general route
(``sqlite.py``).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from .._core._agent import AgentState
from .._core._errors import CommandIdReused, VersionConflict, WrapUpError
from ..ports import Change, StoredAgent
from ._codec import StateCodec, instant_to_micros, outcome_to_json
from ._writers import event_text

VERSION_MOVED_ON = "webchat_wrapup: the agent's version moved on"

SETUP = (
    # The view and the trigger are the only temporary objects: kept in
    # memory, never in a temporary file.
    "PRAGMA temp_store = MEMORY",
    """
    CREATE TEMP VIEW command_saves (
        agent_id, version, state, due,
        command_id, record_agent_id, fingerprint, outcome, recorded_at,
        customer_id, event_recorded_at, event_customer_id, event
    ) AS SELECT
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL
    WHERE 0
    """,
    f"""
    CREATE TEMP TRIGGER command_save INSTEAD OF INSERT ON command_saves BEGIN
        UPDATE agents SET version = NEW.version + 1, state = NEW.state,
            next_deadline = NEW.due, claimed_until = NULL
        WHERE agent_id = NEW.agent_id AND version = NEW.version;
        SELECT RAISE(ABORT, '{VERSION_MOVED_ON.replace("'", "''")}')
        WHERE changes() = 0;
        INSERT INTO commands (
            command_id, agent_id, fingerprint, outcome, recorded_at
        )
        SELECT NEW.command_id, NEW.record_agent_id, NEW.fingerprint,
            NEW.outcome, NEW.recorded_at
        WHERE NEW.command_id IS NOT NULL;
        INSERT INTO command_customers (customer_id, command_id)
        SELECT NEW.customer_id, NEW.command_id
        WHERE NEW.customer_id IS NOT NULL;
        INSERT INTO events (recorded_at, agent_id, customer_id, event)
        SELECT NEW.event_recorded_at, NEW.agent_id, NEW.event_customer_id,
            NEW.event
        WHERE NEW.event IS NOT NULL;
    END
    """,
)
"""Run on the writer connection once it is open (and its schema current)."""

SAVE = "INSERT INTO command_saves VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def parameters(
    change: Change, codec: StateCodec, known: set[str], recent: StoredAgent | None
) -> tuple[Any, ...] | None:
    """:data:`SAVE`'s parameters for ``change``, or ``None`` when it is not
    the common save: the agent at the version ``recent`` remembers, holding
    the same chats, with no policy to store first (all in ``known``), no
    history entry, one event at most, and a command record (if any) that
    names one customer at most.

    Built straight from the change, with the texts and values ``_rows.py``
    makes for the general route (tests hold the two routes' rows equal).
    """
    if not _common(change, recent):
        return None
    state = change.state
    text, policies = codec.encode(state)
    if any(key not in known for key in policies):
        return None
    recorded_at = _micros(change.recorded_at)
    event = customer = None
    if change.events:
        event = event_text(change.events[0])
        customer = _customer(change)
    record = _record(change, recorded_at, event, customer)
    if record is None:
        return None
    return (
        change.agent_id,
        change.expected_version,
        text,
        _micros(state.next_deadline()),
        *record,
        None if event is None else recorded_at or 0,
        customer,
        event,
    )


def _common(change: Change, recent: StoredAgent | None) -> bool:
    """Whether ``change`` may be the common save, its policies and its
    record's customers aside."""
    return (
        recent is not None
        and recent.version == change.expected_version
        and not change.history
        and len(change.events) <= 1
        and _holds_the_same_chats(change.state, recent.state)
    )


def _holds_the_same_chats(state: AgentState, before: AgentState) -> bool:
    """Whether ``state`` holds the chats ``before`` held, in the same order,
    for the same customers: their ``held_chats`` rows (``_rows.py``) stay as
    they are. (Held in another order they would too; such a change takes the
    general route, which finds that out.)"""
    chats = before.chats
    if len(state.chats) != len(chats):
        return False
    for chat, held in zip(state.chats, chats, strict=True):
        if (
            chat.chat_id != held.chat_id
            or chat.leg != held.leg  # with the chat id, the holding key
            or chat.customer_id != held.customer_id
        ):
            return False
    return True


def _customer(change: Change) -> str | None:
    """The customer of the change's one event, as
    ``Change.event_customer_ids`` finds it: a chat held first."""
    chat_id = getattr(change.events[0], "chat_id", None) or ""
    for chat in reversed(change.state.chats):  # the look-up keeps the last
        if chat.chat_id == chat_id:
            return chat.customer_id
    return change.event_customer_ids()[0]


def _record(
    change: Change, recorded_at: int | None, event: str | None, customer: str | None
) -> tuple[Any, ...] | None:
    """The command record's columns: its id, agent, fingerprint, outcome,
    time, and the customer it is found by (``None``: it names several)."""
    record = change.command
    if record is None:
        return (None,) * 6
    outcome = record.outcome
    if outcome.events is change.events and not outcome.history:
        # Its event is the change's, written once (as the general route does).
        text = outcome_to_json(outcome, [], [] if event is None else [event])
        customers: tuple[str | None, ...] = (customer,)
    else:
        text = outcome_to_json(outcome)
        customers = change.record_customer_ids() or (None,)
    if len(customers) > 1:
        return None
    if record.recorded_at is not change.recorded_at:
        recorded_at = _micros(record.recorded_at)
    return (
        record.command_id,
        record.agent_id,
        record.fingerprint,
        text,
        recorded_at,
        customers[0],
    )


def _micros(instant: datetime | None) -> int | None:
    return None if instant is None else instant_to_micros(instant)


def refusal(error: sqlite3.IntegrityError, change: Change) -> WrapUpError | None:
    """What the statement's ``error`` means for the save: the version moved
    on, or the command id was used already (``None``: neither)."""
    message = str(error)
    if message == VERSION_MOVED_ON:
        return VersionConflict(change.agent_id, change.expected_version)
    record = change.command
    if record is not None and "commands.command_id" in message:
        return CommandIdReused(record.command_id)
    return None
