"""What the SQL stores share: a change as rows, history pages and cursors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from .._core._errors import shown
from ..ports import Change, CommandRecord, HistoryPage
from ._codec import (
    StateCodec,
    entry_from_json,
    entry_to_json,
    instant_to_micros,
    outcome_from_json,
    outcome_to_json,
)
from ._paging import encode_cursor

HistoryRow = tuple[str, str, str, int, int, str]
"""customer_id, agent_id, chat_id, chat_started_at, wrap_up_ended_at, entry."""


@attrs.frozen
class ChangeRows:
    """One change as SQL parameters: the agent row and the rows that go with it."""

    state: str
    due: int | None
    policies: list[tuple[str, str]]
    history: list[HistoryRow]
    command: tuple[str, str, str, str] | None


def change_rows(change: Change, codec: StateCodec, known: set[str]) -> ChangeRows:
    """``change`` as rows; policies in ``known`` are already stored."""
    text, policies = codec.encode(change.state)
    deadline = change.state.next_deadline()
    record = change.command
    return ChangeRows(
        state=text,
        due=None if deadline is None else instant_to_micros(deadline),
        policies=[(key, p) for key, p in policies.items() if key not in known],
        history=[
            (
                entry.customer_id,
                entry.agent_id,
                entry.chat_id,
                instant_to_micros(entry.chat_started_at),
                instant_to_micros(entry.wrap_up_ended_at),
                entry_to_json(entry),
            )
            for entry in change.history
        ],
        command=None
        if record is None
        else (
            record.command_id,
            record.agent_id,
            record.fingerprint,
            outcome_to_json(record.outcome),
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
