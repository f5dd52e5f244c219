"""The common save as one statement (``_one_statement.py``): the rows the
general route writes, atomic on its own, refused as the general route
refuses, and nothing in the file's schema."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

from support import T0, queue
from webchat_wrapup import (
    AgentState,
    AssignChat,
    ClassifyChat,
    CommandIdReused,
    EndChat,
    ErrorCode,
    ExtendWrapUp,
    FlagAbusive,
    StoreError,
    VersionConflict,
    WrapUpError,
    decide,
)
from webchat_wrapup.clocks import ManualClock
from webchat_wrapup.ports import Change, CommandRecord, Outcome
from webchat_wrapup.service import WrapUpService
from webchat_wrapup.stores import SQLiteStore
from webchat_wrapup.stores import _one_statement as one_statement
from webchat_wrapup.testing.strategies import command_sequences

TABLES = {
    "agents": "agent_id",
    "commands": "command_id",
    "command_customers": "customer_id, command_id",
    "held_chats": "chat_id",
    "events": "position",
    "history": "sequence",
    "policies": "policy_key",
}


def _rows(path: Path) -> dict[str, list[Any]]:
    db = sqlite3.connect(path)
    try:
        return {
            table: db.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            for table, order in TABLES.items()
        }
    finally:
        db.close()


class _WithoutFeed(SQLiteStore):
    """A store that drops every change's events (its records keep theirs):
    the outcome's events are then not the change's."""

    def save(self, change: Change) -> None:
        super().save(attrs.evolve(change, events=()))

    def save_all(self, changes: Sequence[Change]) -> None:
        super().save_all([attrs.evolve(change, events=()) for change in changes])


def _a_day(
    path: Path, steps: list[tuple[int, Any]], kind: type[SQLiteStore] = SQLiteStore
) -> int:
    """``steps`` through a service on a new file of a store of ``kind``,
    each with a command id; how many saves took one statement."""
    statements = 0
    with kind(path, synchronous="NORMAL") as store:
        write = store._write_statement

        def counted(*args: Any) -> int:
            nonlocal statements
            statements += 1
            return write(*args)

        store._write_statement = counted  # type: ignore[method-assign]
        clock = ManualClock(T0)
        service = WrapUpService(store, clock)
        service.add_agent("agent-1", capacity=3)
        for number, (gap, command) in enumerate(steps):
            clock.advance(gap / 1000)
            with contextlib.suppress(WrapUpError):
                service.execute(command, command_id=f"command-{number}")
        service.sweep()
    return statements


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(command_sequences(min_size=5, max_size=30))
def test_one_statement_writes_the_rows_the_general_route_writes(
    tmp_path_factory: pytest.TempPathFactory,
    steps: list[tuple[int, Any]],
) -> None:
    folder = tmp_path_factory.mktemp("day")
    for kind in (SQLiteStore, _WithoutFeed):
        _a_day(folder / f"one-{kind.__name__}.db", steps, kind)
        general = one_statement.parameters
        try:
            one_statement.parameters = lambda *args: None  # type: ignore[assignment]
            assert _a_day(folder / f"general-{kind.__name__}.db", steps, kind) == 0
        finally:
            one_statement.parameters = general
        one, other = (folder / f"{r}-{kind.__name__}.db" for r in ("one", "general"))
        assert _rows(one) == _rows(other)


@pytest.mark.parametrize(
    ("kind", "statements"),
    # The chat's end announces two events: without the feed, it takes one
    # statement too.
    [(SQLiteStore, 3), (_WithoutFeed, 4)],
)
def test_a_day_of_extensions_classifications_and_flags_takes_one_statement_each(
    tmp_path: Path, kind: type[SQLiteStore], statements: int
) -> None:
    steps = [
        (0, AssignChat("agent-1", "c1", "cust-1", queue())),
        (1000, EndChat("agent-1", "c1")),
        (1000, ExtendWrapUp("agent-1", "c1")),
        (1000, ClassifyChat("agent-1", "c1", code="refund")),
        (1000, FlagAbusive("agent-1", "c1", reason="insults")),
    ]
    assert _a_day(tmp_path / "day.db", steps, kind) == statements


# Refusals: nothing of the statement is written.


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "w.db"


@pytest.fixture
def store(path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(path, synchronous="NORMAL") as store:
        service = WrapUpService(store, ManualClock(T0))
        service.add_agent("agent-1")
        service.assign("agent-1", "c1", "cust-1", queue())
        service.end_chat("agent-1", "c1")
        yield store


def _extension(store: SQLiteStore, command_id: str, seconds: int = 10) -> Change:
    """The extension of agent-1's chat on the state ``store`` remembers."""
    stored = store.load_remembered("agent-1")
    assert stored is not None
    at = T0 + timedelta(seconds=seconds)
    decision = decide(stored.state, ExtendWrapUp("agent-1", "c1"), at)
    outcome = Outcome("agent-1", stored.version + 1, decision.events)
    record = CommandRecord(command_id, "agent-1", "print", outcome, at)
    return Change(
        "agent-1", stored.version, decision.state, (), record, decision.events, at
    )


def test_a_stale_version_is_refused_and_nothing_written(
    store: SQLiteStore, path: Path
) -> None:
    stale = _extension(store, "late")
    with SQLiteStore(path) as other:  # another process saves first
        other.load("agent-1")
        other.save(_extension(other, "first"))
    before = _rows(path)
    with pytest.raises(VersionConflict):
        store.save(stale)
    assert _rows(path) == before


def test_a_command_id_used_already_is_refused_and_nothing_written(
    store: SQLiteStore, path: Path
) -> None:
    store.save(_extension(store, "click"))
    before = _rows(path)
    with pytest.raises(CommandIdReused):
        store.save(_extension(store, "click", seconds=20))
    assert _rows(path) == before  # the agent's row too: the statement undid it


def test_a_file_another_process_writes_refuses_after_the_busy_timeout(
    path: Path, store: SQLiteStore
) -> None:
    change = _extension(store, "click")
    store._writer.execute("PRAGMA busy_timeout = 50")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError) as caught:
            store.save(change)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert caught.value.code is ErrorCode.STORE_LOCKED
    store.save(change)  # nothing was written: it applies now


def test_in_a_batch_a_refused_statement_leaves_the_others(
    store: SQLiteStore, path: Path
) -> None:
    stale = _extension(store, "late")
    with SQLiteStore(path) as other:
        other.load("agent-1")
        other.save(_extension(other, "first"))
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    answers: dict[str, object] = {}

    def save(name: str, change: Change) -> None:
        try:
            store.save(change)
            answers[name] = "saved"
        except VersionConflict as error:
            answers[name] = error

    with store._lock:  # a save under way: these two wait, then go together
        threads = [
            threading.Thread(target=save, args=("stale", stale)),
            threading.Thread(
                target=save,
                args=("new", Change("agent-3", 0, AgentState.new("agent-3"))),
            ),
        ]
        for thread in threads:
            thread.start()
        while len(store._saves._queued) < 1:
            threading.Event().wait(0.001)
    for thread in threads:
        thread.join(10)
    assert isinstance(answers["stale"], VersionConflict)
    assert answers["new"] == "saved"
    # One transaction; the refused statement undid itself, with no savepoint
    # to roll back to.
    assert statements.count("BEGIN IMMEDIATE") == statements.count("COMMIT") == 1
    assert "ROLLBACK TO save" not in statements
    assert store.load("agent-3") is not None
    commands = sqlite3.connect(path).execute("SELECT command_id FROM commands")
    assert commands.fetchall() == [("first",)]


def test_the_view_and_its_trigger_are_not_in_the_file(
    store: SQLiteStore, path: Path
) -> None:
    store.save(_extension(store, "click"))
    db = sqlite3.connect(path)
    try:
        names = db.execute("SELECT name FROM sqlite_master").fetchall()
    finally:
        db.close()
    assert ("command_saves",) not in names
    assert ("command_save",) not in names
