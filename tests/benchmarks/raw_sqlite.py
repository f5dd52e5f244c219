"""The floor of the SQLite command benchmarks: the store's write transaction
by hand, with :mod:`sqlite3`, on the store's own schema and settings.

Fair means the same work: the floor writes exactly the rows and columns the
store must write for the same extension, with the same bytes (the texts are
encoded beforehand, outside the timed call, by the store's own codec): the
agent's row (version, state, next deadline, claim cleared), the command
record, and one link row per customer the record carries (which erasure
needs, see ``Change.record_customer_ids``). The connection is set up as the
store's writer is, ``secure_delete`` included (an erasure must leave no
byte behind, so the store cannot write without it). What the floor leaves
out is the Python around the SQL: loading, deciding, encoding, the checks.

Each kind of row is written by a function of its own, all listed in
``ROW_WRITERS``, so a row the store comes to write (an event feed, say) is
one more function there and one more field in :class:`RawRows`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from webchat_wrapup import Command, decide
from webchat_wrapup.ports import Change, CommandRecord, Outcome, StoredAgent
from webchat_wrapup.service import fingerprint_of
from webchat_wrapup.stores._codec import (
    StateCodec,
    instant_to_micros,
    outcome_to_json,
)
from webchat_wrapup.stores._rows import event_rows


def connect(path: Path, synchronous: str) -> sqlite3.Connection:
    """A connection set up as the SQLite store sets up its writer."""
    db = sqlite3.connect(path, isolation_level=None, timeout=10.0)
    db.execute("PRAGMA busy_timeout = 10000")
    assert db.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
    db.execute(f"PRAGMA synchronous = {synchronous}")
    db.execute("PRAGMA secure_delete = ON")
    return db


@dataclass(frozen=True)
class RawRows:
    """What one command writes, encoded as the store encodes it."""

    agent_id: str
    state: str
    next_deadline: int | None
    command_id: str
    fingerprint: str
    outcome: str
    recorded_at: int
    customers: tuple[str, ...]
    events: tuple[tuple[int, str, str | None, str], ...]
    """The feed's rows: recorded at, agent, the chat's customer, the event."""


def rows_of(
    stored: StoredAgent, command: Command, command_id: str, now: datetime
) -> tuple[RawRows, Outcome]:
    """The rows the store writes for ``command`` on ``stored`` at ``now``,
    and the outcome the store would answer."""
    decision = decide(stored.state, command, now)
    outcome = Outcome(
        command.agent_id, stored.version + 1, decision.events, decision.history
    )
    assert not decision.history  # no history rows to write
    fingerprint = fingerprint_of(command)
    record = CommandRecord(command_id, command.agent_id, fingerprint, outcome, now)
    change = Change(
        command.agent_id,
        stored.version,
        decision.state,
        (),
        record,
        decision.events,
        now,
    )
    state, _ = StateCodec().encode(decision.state)
    deadline = decision.state.next_deadline()
    rows = RawRows(
        command.agent_id,
        state,
        None if deadline is None else instant_to_micros(deadline),
        command_id,
        fingerprint,
        outcome_to_json(outcome),
        instant_to_micros(now),
        change.record_customer_ids(),
        tuple(event_rows(change)),
    )
    return rows, outcome


def _write_agent(db: sqlite3.Connection, rows: RawRows, version: int) -> None:
    cursor = db.execute(
        "UPDATE agents SET version = ?, state = ?, next_deadline = ?, "
        "claimed_until = NULL WHERE agent_id = ? AND version = ?",
        (version + 1, rows.state, rows.next_deadline, rows.agent_id, version),
    )
    if cursor.rowcount != 1:
        raise AssertionError(f"{rows.agent_id} changed under the transaction")


def _write_command(db: sqlite3.Connection, rows: RawRows) -> None:
    db.execute(
        "INSERT INTO commands (command_id, agent_id, fingerprint, outcome, "
        "recorded_at) VALUES (?, ?, ?, ?, ?)",
        (
            rows.command_id,
            rows.agent_id,
            rows.fingerprint,
            rows.outcome,
            rows.recorded_at,
        ),
    )


def _write_customer_links(db: sqlite3.Connection, rows: RawRows) -> None:
    for customer_id in rows.customers:
        db.execute(
            "INSERT INTO command_customers VALUES (?, ?)",
            (customer_id, rows.command_id),
        )


def _write_events(db: sqlite3.Connection, rows: RawRows) -> None:
    for row in rows.events:
        db.execute(
            "INSERT INTO events (recorded_at, agent_id, customer_id, event) "
            "VALUES (?, ?, ?, ?)",
            row,
        )


ROW_WRITERS: tuple[Callable[[sqlite3.Connection, RawRows], None], ...] = (
    _write_command,
    _write_customer_links,
    _write_events,
)
"""The rows written after the agent's, in the store's order."""


def extend(db: sqlite3.Connection, rows: RawRows) -> int:
    """Read the version, write the agent's row and the rows that go with it,
    in one transaction; the version written."""
    db.execute("BEGIN IMMEDIATE")
    try:
        (version,) = db.execute(
            "SELECT version FROM agents WHERE agent_id = ?", (rows.agent_id,)
        ).fetchone()
        _write_agent(db, rows, version)
        for write in ROW_WRITERS:
            write(db, rows)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return int(version) + 1
