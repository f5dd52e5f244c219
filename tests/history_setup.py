"""A contact history as a mid-size centre writes it in a year, made without
simulating one, and written to a SQLite store in bulk.

Shared by the report tests and the report and history-page benchmarks
(``benchmarks/test_history_reads.py``). The entries are a deterministic
function of their number: 60 agents in 6 queues, a dozen classifications
(in groups or not, some typed as free text), about 5 % timeout defaults
and 3 % unclassified expiries, 1 % abuse flags, 10 % paused wrap-ups, 3 %
transfers, additional text on one in three, a quarter of the wrap-ups
ending on the minute (so some end at the same instant); the chats start at
even intervals over ``SPAN`` (a year), in order. Every tenth entry is
``PAGE_CUSTOMER``'s.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from webchat_wrapup import (
    AbuseFlag,
    Classification,
    ContactHistoryEntry,
    EndedBy,
    WrapUpEnding,
)
from webchat_wrapup.stores import SQLiteStore
from webchat_wrapup.stores._entries import entry_to_text
from webchat_wrapup.stores._rows import history_row
from webchat_wrapup.stores.sqlite import _INSERT_HISTORY

START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
SPAN = timedelta(days=365)
AGENTS = 60
QUEUES = ("sales", "billing", "support", "returns", "vip", "overflow")
CLASSIFICATIONS = (
    Classification("Refund", "refund", "Money"),
    Classification("Invoice question", "invoice", "Money"),
    Classification("Late delivery", "late", "Delivery"),
    Classification("Broken item", "broken", "Delivery"),
    Classification("Wrong item", "wrong", "Delivery"),
    Classification("Password reset", "password", "Account"),
    Classification("Close account", "close", "Account"),
    Classification("Other", "other"),
    Classification("Complaint", "complaint"),
    Classification("asked about opening hours"),
    Classification("wanted a callback"),
    Classification("Spam", "spam"),
)
TEXTS = (
    "Customer will call back tomorrow.",
    "Sent the returns label by email.\nAsked to keep the receipt.",
    "Escalated to the team lead.",
)
BATCH = 10_000
PAGE_CUSTOMER = "cust-page"
"""The customer of every tenth entry: 10,000 of a history of 100,000."""


def entry(
    number: int, size: int, customer_id: str | None = None, span: timedelta = SPAN
) -> ContactHistoryEntry:
    """Entry ``number`` of a history of ``size`` entries over ``span``."""
    started = START + span * number / size
    chat_ended = started + timedelta(seconds=120 + number % 900)
    wrap_up_ended = chat_ended + timedelta(microseconds=5_000_000 + number * 7_919)
    if number % 4 == 0:  # on the minute: wrap-ups that end at the same instant
        wrap_up_ended = wrap_up_ended.replace(second=0, microsecond=0)
        wrap_up_ended += timedelta(minutes=1)
    agent = number % AGENTS
    ending, classification = _ending(number)
    paused = number % 10 == 4  # some end on the minute: see above
    return ContactHistoryEntry(
        customer_id=customer_id or _customer(number),
        chat_id=f"chat-{number}",
        agent_id=f"agent-{agent:03d}",
        queue_id=QUEUES[agent % len(QUEUES)],
        classification=classification,
        additional_text=TEXTS[number % 9] if number % 9 < len(TEXTS) else None,
        chat_started_at=started,
        chat_ended_at=chat_ended,
        ended_by=_ended_by(number),
        wrap_up_started_at=chat_ended,
        wrap_up_ended_at=wrap_up_ended,
        ending=ending,
        extensions_used=(number // 3) % 3 if number % 4 == 0 else 0,
        abuse=_abuse(number, wrap_up_ended),
        pause_count=(number // 10) % 3 + 1 if paused else 0,
        paused_seconds=(number % 9973) / 137 if paused else 0.0,
        leg=2 if number % 29 == 0 else 1,
        transferred_to_agent=_to_agent(number),
        transferred_to_queue=QUEUES[0] if number % 62 == 0 else None,
    )


def _customer(number: int) -> str:
    return PAGE_CUSTOMER if number % 10 == 0 else f"cust-{number % 150_000}"


def _ended_by(number: int) -> EndedBy:
    if number % 31 == 0:
        return EndedBy.TRANSFER
    return EndedBy.AGENT if number % 2 else EndedBy.CUSTOMER


def _to_agent(number: int) -> str | None:
    if number % 62 != 31:
        return None
    return f"agent-{(number + 1) % AGENTS:03d}"


def _ending(number: int) -> tuple[WrapUpEnding, Classification | None]:
    classification = CLASSIFICATIONS[(number * number) % len(CLASSIFICATIONS)]
    if number % 20 == 7:
        return WrapUpEnding.EXPIRED_WITH_DEFAULT, CLASSIFICATIONS[7]
    if number % 33 == 5:
        return WrapUpEnding.EXPIRED, None
    if number % 50 == 11:
        return WrapUpEnding.ENDED_WITHOUT_WRAP_UP, None
    if number % 5 == 1:
        return WrapUpEnding.EXPIRED, classification
    return WrapUpEnding.COMPLETED_EARLY, classification


def _abuse(number: int, at: datetime) -> AbuseFlag | None:
    if number % 100 != 42:
        return None
    reason = "Threatened the agent" if number % 200 == 42 else None
    return AbuseFlag(f"agent-{number % AGENTS:03d}", at, reason)


def entries(size: int, span: timedelta = SPAN) -> Iterator[ContactHistoryEntry]:
    """The history of ``size`` entries over ``span``, in order of the chats'
    start (not quite that of their wrap-ups' end)."""
    return (entry(number, size, span=span) for number in range(size))


def write(path: Path, history: Iterable[ContactHistoryEntry]) -> Path:
    """A SQLite store at ``path`` holding ``history``, written in bulk: the
    store's own schema and row form, batches of rows inserted by hand."""
    SQLiteStore(path, synchronous="NORMAL").close()  # the schema
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous = OFF")
        batch: list[tuple[object, ...]] = []
        for item in history:
            batch.append(history_row(item, entry_to_text))
            if len(batch) == BATCH:
                _insert(db, batch)
        _insert(db, batch)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return path


def _insert(db: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    db.execute("BEGIN")
    db.executemany(_INSERT_HISTORY, rows)
    db.execute("COMMIT")
    rows.clear()
