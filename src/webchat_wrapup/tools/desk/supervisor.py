"""The supervisor's read model: figures kept by following the event feed.

:class:`SupervisorProjection` applies each stored event to a few SQLite
tables (agents by status, chats held and their wrap-ups, per-queue figures
per day, abuse flags, classifications per hour); :func:`snapshot` reads
them back as the JSON the supervisor page draws. Nothing here asks the
store for an agent's state: every figure comes from the events, so any
number of desk servers following one feed agree.

Days and hours are UTC, taken from each event's ``at`` (for an expiry, its
deadline), so a wrap-up swept late still counts where it ended.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from ..._core._events import (
    ChatAssigned,
    ChatFlaggedAbusive,
    Event,
    PresenceChanged,
    StatusChanged,
    WrapUpCompleted,
    WrapUpExtended,
    WrapUpPaused,
    WrapUpResumed,
    WrapUpStarted,
)
from ..._core._history import WrapUpEnding
from ..._core._instants import utc_instant
from ..._core._machine import Presence, Status
from ...ports import StoredEvent

SCHEMA = """
CREATE TABLE IF NOT EXISTS desk_agents (
    agent_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    presence TEXT NOT NULL,
    reason TEXT,
    since TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS desk_chats (
    agent_id TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    wrap_up_started_at TEXT,
    deadline TEXT,
    paused_seconds_left REAL,
    paused INTEGER NOT NULL DEFAULT 0,
    extensions_left INTEGER,
    PRIMARY KEY (agent_id, chat_id)
);
CREATE TABLE IF NOT EXISTS desk_queue_days (
    day TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    wrap_ups INTEGER NOT NULL DEFAULT 0,
    wrap_up_seconds REAL NOT NULL DEFAULT 0,
    extensions INTEGER NOT NULL DEFAULT 0,
    expiries INTEGER NOT NULL DEFAULT 0,
    abuse_flags INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, queue_id)
);
CREATE TABLE IF NOT EXISTS desk_classifications (
    day TEXT NOT NULL,
    minute INTEGER NOT NULL,
    label TEXT NOT NULL,
    timeout_default INTEGER NOT NULL,
    chats INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, minute, label, timeout_default)
);
CREATE TABLE IF NOT EXISTS desk_abuse_flags (
    position INTEGER PRIMARY KEY,
    day TEXT NOT NULL,
    at TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    reason TEXT
);
"""

UNKNOWN_QUEUE = "?"
"""The queue of a chat whose assignment the feed no longer holds."""
UNCLASSIFIED = "Unclassified"
RECENT_FLAGS = 20
"""How many of the day's abuse flags the snapshot lists, newest first."""
BUCKET_MINUTES = (1, 5, 15, 30, 60)
"""The trend chart's bar widths: the narrowest that keeps the day so far
within :data:`MAX_BARS`, so a morning's first minutes show a trend too."""
MAX_BARS = 48


def create_tables(db: sqlite3.Connection) -> None:
    """Create the read model's tables in ``db`` if they are missing.

    One statement at a time: ``executescript`` would commit the caller's
    open transaction first.
    """
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


class SupervisorProjection:
    """Keeps the supervisor's figures from the event feed, one event at a time.

    Meant for :class:`~webchat_wrapup.projections.ProjectionRunner`, which
    calls :meth:`apply` inside the transaction that also moves its position,
    so a figure is never counted twice nor missed after a restart.
    """

    name = "desk_supervisor"

    def create(self, db: sqlite3.Connection) -> None:
        """Create the tables if missing."""
        create_tables(db)

    def apply(self, db: sqlite3.Connection, stored: StoredEvent) -> None:
        """Fold one stored event into the tables."""
        event = stored.event
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(db, event, stored.position)


def _day(at: datetime) -> str:
    return utc_instant(at).date().isoformat()


def _minute(at: datetime) -> int:
    at = utc_instant(at)
    return at.hour * 60 + at.minute


def _text(at: datetime | None) -> str | None:
    return None if at is None else utc_instant(at).isoformat()


def _queue_of(db: sqlite3.Connection, agent_id: str, chat_id: str) -> str:
    row = db.execute(
        "SELECT queue_id FROM desk_chats WHERE agent_id = ? AND chat_id = ?",
        (agent_id, chat_id),
    ).fetchone()
    return UNKNOWN_QUEUE if row is None else str(row[0])


def _add_to_queue(
    db: sqlite3.Connection, at: datetime, queue_id: str, **amounts: float
) -> None:
    # The column names come from the keywords of this module's own calls.
    columns = ", ".join(amounts)
    sets = ", ".join(f"{name} = {name} + excluded.{name}" for name in amounts)
    marks = ", ".join("?" for _ in amounts)
    db.execute(
        f"INSERT INTO desk_queue_days (day, queue_id, {columns}) "
        f"VALUES (?, ?, {marks}) ON CONFLICT (day, queue_id) DO UPDATE SET {sets}",
        (_day(at), queue_id, *amounts.values()),
    )


def _on_status(
    db: sqlite3.Connection, event: StatusChanged | PresenceChanged, _: int
) -> None:
    status = event.status.value if isinstance(event, StatusChanged) else None
    db.execute(
        "INSERT INTO desk_agents (agent_id, status, presence, reason, since) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (agent_id) DO UPDATE SET "
        "status = coalesce(?, status), presence = excluded.presence, "
        "reason = excluded.reason, since = excluded.since",
        (
            event.agent_id,
            status or Status.AVAILABLE.value,
            event.presence.value,
            event.reason,
            _text(event.at),
            status,
        ),
    )


def _on_assigned(db: sqlite3.Connection, event: ChatAssigned, _: int) -> None:
    db.execute(
        "INSERT OR REPLACE INTO desk_chats (agent_id, chat_id, queue_id) "
        "VALUES (?, ?, ?)",
        (event.agent_id, event.chat_id, event.queue_id),
    )


def _on_started(db: sqlite3.Connection, event: WrapUpStarted, _: int) -> None:
    queue_id = _queue_of(db, event.agent_id, event.chat_id)
    db.execute(
        "INSERT OR REPLACE INTO desk_chats (agent_id, chat_id, queue_id, "
        "wrap_up_started_at, deadline, extensions_left) VALUES (?, ?, ?, ?, ?, ?)",
        (
            event.agent_id,
            event.chat_id,
            queue_id,
            _text(event.at),
            _text(event.deadline),
            event.extensions_left,
        ),
    )


def _on_extended(db: sqlite3.Connection, event: WrapUpExtended, _: int) -> None:
    # A paused countdown keeps its time left frozen: the extension adds to it.
    row = db.execute(
        "SELECT deadline FROM desk_chats WHERE agent_id = ? AND chat_id = ? "
        "AND paused = 1 AND deadline IS NOT NULL",
        (event.agent_id, event.chat_id),
    ).fetchone()
    if row is not None and event.deadline is not None:
        added = (event.deadline - datetime.fromisoformat(row[0])).total_seconds()
        db.execute(
            "UPDATE desk_chats SET paused_seconds_left = paused_seconds_left + ? "
            "WHERE agent_id = ? AND chat_id = ?",
            (added, event.agent_id, event.chat_id),
        )
    db.execute(
        "UPDATE desk_chats SET deadline = ?, extensions_left = ? "
        "WHERE agent_id = ? AND chat_id = ?",
        (_text(event.deadline), event.extensions_left, event.agent_id, event.chat_id),
    )
    _add_to_queue(
        db, event.at, _queue_of(db, event.agent_id, event.chat_id), extensions=1
    )


def _on_paused(db: sqlite3.Connection, event: WrapUpPaused, _: int) -> None:
    db.execute(
        "UPDATE desk_chats SET paused = 1, paused_seconds_left = ? "
        "WHERE agent_id = ? AND chat_id = ?",
        (event.seconds_left, event.agent_id, event.chat_id),
    )


def _on_resumed(db: sqlite3.Connection, event: WrapUpResumed, _: int) -> None:
    db.execute(
        "UPDATE desk_chats SET paused = 0, paused_seconds_left = NULL, deadline = ? "
        "WHERE agent_id = ? AND chat_id = ?",
        (_text(event.deadline), event.agent_id, event.chat_id),
    )


def _on_flagged(
    db: sqlite3.Connection, event: ChatFlaggedAbusive, position: int
) -> None:
    queue_id = _queue_of(db, event.agent_id, event.chat_id)
    db.execute(
        "INSERT OR IGNORE INTO desk_abuse_flags "
        "(position, day, at, agent_id, chat_id, queue_id, reason) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            position,
            _day(event.at),
            _text(event.at),
            event.agent_id,
            event.chat_id,
            queue_id,
            event.reason,
        ),
    )
    _add_to_queue(db, event.at, queue_id, abuse_flags=1)


def _on_completed(db: sqlite3.Connection, event: WrapUpCompleted, _: int) -> None:
    row = db.execute(
        "SELECT queue_id, wrap_up_started_at FROM desk_chats "
        "WHERE agent_id = ? AND chat_id = ?",
        (event.agent_id, event.chat_id),
    ).fetchone()
    queue_id, started = (UNKNOWN_QUEUE, None) if row is None else row
    seconds = 0.0
    if started is not None:
        seconds = max((event.at - datetime.fromisoformat(started)).total_seconds(), 0)
    expired = event.ending in (WrapUpEnding.EXPIRED, WrapUpEnding.EXPIRED_WITH_DEFAULT)
    _add_to_queue(
        db,
        event.at,
        queue_id,
        wrap_ups=1,
        wrap_up_seconds=seconds,
        expiries=int(expired),
    )
    _count_classification(db, event)
    db.execute(
        "DELETE FROM desk_chats WHERE agent_id = ? AND chat_id = ?",
        (event.agent_id, event.chat_id),
    )


def _count_classification(db: sqlite3.Connection, event: WrapUpCompleted) -> None:
    label = UNCLASSIFIED if event.classification is None else event.classification.label
    timeout_default = event.ending is WrapUpEnding.EXPIRED_WITH_DEFAULT
    db.execute(
        "INSERT INTO desk_classifications (day, minute, label, timeout_default, "
        "chats) VALUES (?, ?, ?, ?, 1) "
        "ON CONFLICT (day, minute, label, timeout_default) "
        "DO UPDATE SET chats = chats + 1",
        (_day(event.at), _minute(event.at), label, int(timeout_default)),
    )


_HANDLERS: dict[type[Event], Any] = {
    StatusChanged: _on_status,
    PresenceChanged: _on_status,
    ChatAssigned: _on_assigned,
    WrapUpStarted: _on_started,
    WrapUpExtended: _on_extended,
    WrapUpPaused: _on_paused,
    WrapUpResumed: _on_resumed,
    ChatFlaggedAbusive: _on_flagged,
    WrapUpCompleted: _on_completed,
}


def agent_label(status: str, presence: str, reason: str | None) -> str:
    """What a desk shows as the agent's status (see ``AgentState.label``)."""
    if status != Status.AVAILABLE.value:
        return Status(status).label
    if presence == Presence.NOT_READY.value and reason:
        return reason
    return Presence(presence).label


def snapshot(db: sqlite3.Connection, now: datetime) -> dict[str, Any]:
    """The supervisor page's figures at ``now`` (the server's clock), as JSON."""
    now = utc_instant(now)
    day = _day(now)
    queues = _queues(db, day)
    return {
        "at": _text(now),
        "day": day,
        "agents": _agents(db),
        "wrap_ups": _wrap_ups(db, now),
        "queues": queues,
        "totals": {
            name: sum(queue[name] for queue in queues)
            for name in (
                "wrap_ups",
                "wrap_up_seconds",
                "extensions",
                "expiries",
                "abuse_flags",
            )
        },
        "abuse_flags": _flags(db, day),
        "trends": _trends(db, day),
    }


def _agents(db: sqlite3.Connection) -> dict[str, Any]:
    rows = db.execute(
        "SELECT agent_id, status, presence, reason, since FROM desk_agents "
        "ORDER BY agent_id"
    ).fetchall()
    agents = [
        {"agent_id": a, "status_label": agent_label(s, p, r), "since": since}
        for a, s, p, r, since in rows
    ]
    counts: dict[str, int] = {}
    for agent in agents:
        counts[agent["status_label"]] = counts.get(agent["status_label"], 0) + 1
    by_status = [{"label": label, "agents": n} for label, n in sorted(counts.items())]
    return {"by_status": by_status, "list": agents}


def _wrap_ups(db: sqlite3.Connection, now: datetime) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT agent_id, chat_id, queue_id, wrap_up_started_at, deadline, paused, "
        "paused_seconds_left, extensions_left FROM desk_chats "
        "WHERE wrap_up_started_at IS NOT NULL ORDER BY deadline IS NULL, deadline"
    ).fetchall()
    return [_wrap_up(row, now) for row in rows]


def _wrap_up(row: tuple[Any, ...], now: datetime) -> dict[str, Any]:
    agent_id, chat_id, queue_id, started, deadline, paused, frozen, left = row
    seconds_left: float | None = None
    if paused:
        seconds_left = frozen
    elif deadline is not None:
        remaining = datetime.fromisoformat(deadline) - now
        seconds_left = max(remaining, timedelta(0)).total_seconds()
    return {
        "agent_id": agent_id,
        "chat_id": chat_id,
        "queue_id": queue_id,
        "started_at": started,
        "deadline": deadline,
        "paused": bool(paused),
        "seconds_left": seconds_left,
        "extensions_left": left,
    }


def _queues(db: sqlite3.Connection, day: str) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT queue_id, wrap_ups, wrap_up_seconds, extensions, expiries, "
        "abuse_flags FROM desk_queue_days WHERE day = ? ORDER BY queue_id",
        (day,),
    ).fetchall()
    return [
        {
            "queue_id": queue_id,
            "wrap_ups": wrap_ups,
            "wrap_up_seconds": seconds,
            "average_wrap_up_seconds": seconds / wrap_ups if wrap_ups else None,
            "extensions": extensions,
            "expiries": expiries,
            "abuse_flags": flags,
        }
        for queue_id, wrap_ups, seconds, extensions, expiries, flags in rows
    ]


def _flags(db: sqlite3.Connection, day: str) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT at, agent_id, chat_id, queue_id, reason FROM desk_abuse_flags "
        "WHERE day = ? ORDER BY position DESC LIMIT ?",
        (day, RECENT_FLAGS),
    ).fetchall()
    names = ("at", "agent_id", "chat_id", "queue_id", "reason")
    return [dict(zip(names, row, strict=True)) for row in rows]


def _trends(db: sqlite3.Connection, day: str) -> dict[str, Any]:
    """Wrap-ups per bar of the day, one series per classification label;
    timeout defaults are series of their own so they never swell a trend."""
    rows = db.execute(
        "SELECT minute, label, timeout_default, chats FROM desk_classifications "
        "WHERE day = ?",
        (day,),
    ).fetchall()
    if not rows:
        return {"bucket_minutes": BUCKET_MINUTES[0], "starts": [], "series": []}
    first = min(row[0] for row in rows)
    last = max(row[0] for row in rows)
    width = next(
        (w for w in BUCKET_MINUTES if last // w - first // w < MAX_BARS),
        BUCKET_MINUTES[-1],
    )
    starts = list(range(first // width * width, last // width * width + 1, width))
    series: dict[tuple[str, bool], list[int]] = {}
    for minute, label, timeout_default, chats in rows:
        bars = series.setdefault((label, bool(timeout_default)), [0] * len(starts))
        bars[(minute // width * width - starts[0]) // width] += chats
    ordered = sorted(series.items(), key=lambda item: (item[0][1], -sum(item[1])))
    return {
        "bucket_minutes": width,
        "starts": starts,
        "series": [
            {"label": label, "timeout_default": timeout_default, "chats": bars}
            for (label, timeout_default), bars in ordered
        ],
    }
