"""The storage form of a contact-history entry: a flat JSON array.

The SQLite store keeps each entry as a *row*: its 24 values in the order
of :data:`ROW_FIELDS`, instants as microseconds since the Unix epoch. A
row is a third of the size of the entry's JSON document and reads several
times faster, and a report reads the values it counts straight from it.
Entries whose values are not the plain types the core writes are kept as
their JSON document instead, as are the entries that files written before
schema version 5 hold until the upgrade rewrites them: every reader takes
both forms.

Reading is strict: text that is neither form, or decodes to an entry the
core could never have written, is a ``store_corrupt`` :class:`StoreError`.
"""

from __future__ import annotations

import json
import json.scanner
import sqlite3
from collections.abc import Callable
from datetime import timezone
from typing import Any

from .._core._history import (
    AbuseFlag,
    Classification,
    ContactHistoryEntry,
    broken,
)
from .._core._history_json import checked_entry, is_plain
from ._codec import _DAMAGE, damaged
from ._instants import instant_to_micros, micros_to_instant
from ._writers import compact

ROW_FIELDS = (
    "customer_id",
    "chat_id",
    "agent_id",
    "queue_id",
    "classification.label",  # null: no classification
    "classification.code",
    "classification.group",
    "additional_text",
    "chat_started_at",
    "chat_ended_at",
    "ended_by",
    "wrap_up_started_at",
    "wrap_up_ended_at",
    "ending",
    "extensions_used",
    "abuse.flagged_by",  # null: not flagged
    "abuse.flagged_at",
    "abuse.reason",
    "abuse.note",
    "pause_count",
    "paused_seconds",
    "leg",
    "transferred_to_agent",
    "transferred_to_queue",
)
"""What each value of a row is, in order."""

ROW_LENGTH = len(ROW_FIELDS)
_PAUSED_SECONDS = ROW_FIELDS.index("paused_seconds")
_WIDE = 2**63
# json.loads less its wrapping (space around the value): a third faster.
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder()  # type: ignore[arg-type]  # typeshed: a context, not the class
)
_UTC = timezone.utc
_NO_CLASSIFICATION = (None, None, None)
_NO_ABUSE = (None, None, None, None)


def entry_row(entry: ContactHistoryEntry) -> list[Any]:
    """``entry``'s values in the order of :data:`ROW_FIELDS`."""
    classification, abuse = entry.classification, entry.abuse
    return [
        entry.customer_id,
        entry.chat_id,
        entry.agent_id,
        entry.queue_id,
        *(
            _NO_CLASSIFICATION
            if classification is None
            else (classification.label, classification.code, classification.group)
        ),
        entry.additional_text,
        instant_to_micros(entry.chat_started_at),
        instant_to_micros(entry.chat_ended_at),
        entry.ended_by.value,
        instant_to_micros(entry.wrap_up_started_at),
        instant_to_micros(entry.wrap_up_ended_at),
        entry.ending.value,
        entry.extensions_used,
        *(
            _NO_ABUSE
            if abuse is None
            else (
                abuse.flagged_by,
                instant_to_micros(abuse.flagged_at),
                abuse.reason,
                abuse.note,
            )
        ),
        entry.pause_count,
        entry.paused_seconds,
        entry.leg,
        entry.transferred_to_agent,
        entry.transferred_to_queue,
    ]


def entry_to_text(entry: ContactHistoryEntry) -> str:
    """``entry`` as a row; as its JSON document if a row cannot hold it as
    it is (a value of an unexpected type, an instant not in UTC)."""
    if not _fits_a_row(entry):
        return entry_to_json(entry)
    return compact(entry_row(entry))


def _fits_a_row(entry: ContactHistoryEntry) -> bool:
    if not is_plain(entry):
        return False
    abuse = entry.abuse
    return (
        -_WIDE <= entry.extensions_used < _WIDE
        and -_WIDE <= entry.pause_count < _WIDE
        and -_WIDE <= entry.leg < _WIDE
        and -_WIDE < entry.paused_seconds < _WIDE
        and entry.chat_started_at.tzinfo is _UTC
        and entry.chat_ended_at.tzinfo is _UTC
        and entry.wrap_up_started_at.tzinfo is _UTC
        and entry.wrap_up_ended_at.tzinfo is _UTC
        and (abuse is None or abuse.flagged_at.tzinfo is _UTC)
    )


def entry_to_json(entry: ContactHistoryEntry) -> str:
    """``entry`` as its JSON document (the form before rows)."""
    return compact(entry.to_dict())


def entry_from_json(
    text: str, what: str = "a contact-history entry"
) -> ContactHistoryEntry:
    """The entry :func:`entry_to_text` or :func:`entry_to_json` wrote;
    ``what`` names it if damaged."""
    try:
        row = read_row(text)
        if row is not None:
            return entry_of_row(row)
        data = json.loads(text)
        if type(data) is list:
            return entry_of_row(data)
        return ContactHistoryEntry.from_dict(data)
    except _DAMAGE as error:
        raise damaged(what, error) from error


def read_row(text: object) -> list[Any] | None:
    """The row ``text`` holds as it is stored, its values unchecked; ``None``
    if it holds something else (an entry's document, or damage)."""
    if type(text) is not str:
        return None
    try:
        row = _load_row(text)
    except Exception:  # whatever damage makes the parser raise
        return None
    if type(row) is not list or len(row) != ROW_LENGTH:
        return None
    return row


def scan_row(text: str) -> Any:
    """The JSON value ``text`` holds, by the standard library's scanner
    (``json.loads`` less its handling of surrounding space)."""
    value, end = _scan(text, 0)
    if end != len(text):
        raise ValueError("text after the value")
    return value


def _first_load(text: str) -> Any:
    """Parse ``text`` with the best parser installed, found at first use:
    importing the package must load no third-party module."""
    global _load_row
    _load_row = _best_parser()
    return _load_row(text)


def _best_parser() -> Callable[[str], Any]:
    """orjson (the ``fast`` extra) parses a row in a third of the time of
    the standard library's scanner, which is used without it."""
    try:
        from orjson import loads
    except ImportError:  # pragma: no cover - depends on what is installed
        return scan_row
    return loads


_load_row: Callable[[str], Any] = _first_load


def entry_of_row(row: list[Any]) -> ContactHistoryEntry:
    """The entry in a row, checked as ``ContactHistoryEntry.from_dict``
    checks a document; and its whole numbers 64 bits wide at most, as
    every parser reads them alike (orjson reads wider ones as fractions)."""
    try:
        entry = _entry_of_row(row)
    except _DAMAGE:
        _refuse_wide_numbers(row)  # the same error whichever parser read it
        raise
    if not (
        -_WIDE <= entry.extensions_used < _WIDE
        and -_WIDE <= entry.pause_count < _WIDE
        and -_WIDE <= entry.leg < _WIDE
    ):
        _refuse_wide_numbers(row)
    return entry


def _refuse_wide_numbers(row: list[Any]) -> None:
    """Refuse a row holding a number no row is written with: a whole number
    wider than 64 bits, or a fraction anywhere but the paused seconds,
    however deep in a value it sits."""
    for index, value in enumerate(row):
        kind = type(value)
        if (kind is int and not -_WIDE <= value < _WIDE) or (
            kind is float and (index != _PAUSED_SECONDS or not abs(value) < _WIDE)
        ):
            raise broken(f"$[{index}]", "is not a number a row holds")
        if kind is list or kind is dict:
            _refuse_numbers_within(value, f"$[{index}]")


def _refuse_numbers_within(value: list[Any] | dict[str, Any], path: str) -> None:
    """Refuse a wide whole number or a fraction anywhere inside ``value``
    (parsers read a wide one differently), walked without recursion."""
    waiting: list[Any] = [value]
    while waiting:
        item = waiting.pop()
        kind = type(item)
        if kind is float or (kind is int and not -_WIDE <= item < _WIDE):
            raise broken(path, "is not a number a row holds")
        if kind is list:
            waiting.extend(item)
        elif kind is dict:
            waiting.extend(item.values())


def _entry_of_row(row: list[Any]) -> ContactHistoryEntry:
    (
        customer_id,
        chat_id,
        agent_id,
        queue_id,
        label,
        code,
        group,
        additional_text,
        chat_started_at,
        chat_ended_at,
        ended_by,
        wrap_up_started_at,
        wrap_up_ended_at,
        ending,
        extensions_used,
        flagged_by,
        flagged_at,
        reason,
        note,
        pause_count,
        paused_seconds,
        leg,
        transferred_to_agent,
        transferred_to_queue,
    ) = row
    ended = micros_to_instant(chat_ended_at)
    return checked_entry(
        customer_id,
        chat_id,
        agent_id,
        queue_id,
        None
        if label is None and code is None and group is None
        else Classification(label, code, group),
        additional_text,
        micros_to_instant(chat_started_at),
        ended,
        ended_by,
        ended
        if type(wrap_up_started_at) is int and wrap_up_started_at == chat_ended_at
        else micros_to_instant(wrap_up_started_at),
        micros_to_instant(wrap_up_ended_at),
        ending,
        extensions_used,
        None
        if flagged_by is None and flagged_at is None and reason is None and note is None
        else AbuseFlag(flagged_by, micros_to_instant(flagged_at), reason, note),
        pause_count,
        paused_seconds,
        leg,
        transferred_to_agent,
        transferred_to_queue,
    )


_BATCH = 1000


def rewrite_documents_as_rows(db: sqlite3.Connection) -> None:
    """Rewrite each entry a SQLite ``history`` table holds as its JSON
    document as a row (the upgrade to schema version 5), in batches, in the
    caller's transaction.

    Only entries that decode are rewritten, and only when a row holds them
    as they are: a damaged one is left as it was, for reading it to report
    the damage as before.
    """
    after = -1
    while batch := db.execute(
        "SELECT sequence, entry FROM history WHERE sequence > ? "
        "ORDER BY sequence LIMIT ?",
        (after, _BATCH),
    ).fetchall():
        after = batch[-1][0]
        rows = [(_as_row(text), sequence) for sequence, text in batch]
        db.executemany(
            "UPDATE history SET entry = ? WHERE sequence = ?",
            [(text, sequence) for text, sequence in rows if text is not None],
        )


def _as_row(text: object) -> str | None:
    """``text`` as a row, if it is a document that decodes; else ``None``."""
    if not isinstance(text, str) or not text.startswith("{"):
        return None
    try:
        row = entry_to_text(ContactHistoryEntry.from_dict(json.loads(text)))
    except _DAMAGE:
        return None
    return None if row.startswith("{") else row
