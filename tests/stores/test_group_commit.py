"""Saves from several threads: those that wait while another thread writes
are written with it, in one transaction, and each gets its own answer."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from webchat_wrapup import AgentState, VersionConflict
from webchat_wrapup.ports import Change
from webchat_wrapup.stores import SQLiteStore
from webchat_wrapup.stores._group_commit import QueuedSave, SaveQueue

Batches = list[list[str]]


class Writer:
    """A writer that records its batches; the first waits for ``go``."""

    def __init__(self) -> None:
        self.batches: Batches = []
        self.writing = threading.Event()
        self.go = threading.Event()
        self.interrupt_first = False

    def __call__(
        self, batch: list[QueuedSave], more: Callable[[], list[QueuedSave]]
    ) -> None:
        first = not self.batches
        self.batches.append([save.work for save in batch])
        if first:
            self.writing.set()
            self.go.wait(10)
            if self.interrupt_first:
                raise KeyboardInterrupt
        batch += more()
        self.batches[-1] = [save.work for save in batch]
        for save in batch:
            save.done = True


def _in_threads(queue: SaveQueue, writer: Writer, names: list[str]) -> list[str]:
    """Save ``names[0]`` in a thread and, once it is writing, the others in
    threads of their own; then let the first go. The names whose thread
    was interrupted."""
    interrupted: list[str] = []

    def save(name: str) -> None:
        try:
            queue.run(QueuedSave(name), writer)
        except KeyboardInterrupt:
            interrupted.append(name)

    first = threading.Thread(target=save, args=(names[0],))
    first.start()
    assert writer.writing.wait(10)
    others = [threading.Thread(target=save, args=(name,)) for name in names[1:]]
    for thread in others:
        thread.start()
    while len(queue._queued) < len(others):  # all of them waiting
        threading.Event().wait(0.001)
    writer.go.set()
    for thread in [first, *others]:
        thread.join(10)
        assert not thread.is_alive()
    return interrupted


def test_a_save_alone_is_written_at_once() -> None:
    queue, writer = SaveQueue(threading.Lock()), Writer()
    writer.go.set()
    queue.run(QueuedSave("a"), writer)
    assert writer.batches == [["a"]]


def test_saves_queued_while_a_thread_writes_join_its_transaction() -> None:
    queue, writer = SaveQueue(threading.Lock()), Writer()
    assert _in_threads(queue, writer, ["a", "b", "c", "d"]) == []
    assert writer.batches[0][0] == "a"
    assert sorted(writer.batches[0]) == ["a", "b", "c", "d"]
    assert len(writer.batches) == 1


def test_a_writer_interrupted_leaves_the_others_to_write_their_own() -> None:
    queue, writer = SaveQueue(threading.Lock()), Writer()
    writer.interrupt_first = True
    assert _in_threads(queue, writer, ["a", "b", "c"]) == ["a"]
    written = [name for batch in writer.batches[1:] for name in batch]
    assert sorted(written) == ["b", "c"]


# The SQLite store


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    store = SQLiteStore(tmp_path / "wrapup.db", synchronous="NORMAL")
    for number in range(4):
        agent_id = f"agent-{number}"
        store.save(Change(agent_id, 0, AgentState.new(agent_id)))
    return store


def test_threads_saving_while_the_writer_is_busy_share_one_commit(
    store: SQLiteStore,
) -> None:
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    answers: dict[str, object] = {}

    def save(agent_id: str, version: int) -> None:
        change = Change(agent_id, version, AgentState.new(agent_id, capacity=2))
        try:
            store.save(change)
            answers[agent_id] = "saved"
        except VersionConflict as error:
            answers[agent_id] = error

    # A writer holding the lock, as a save under way would.
    with store._lock:
        threads = [
            threading.Thread(target=save, args=(f"agent-{n}", 7 if n == 2 else 1))
            for n in range(4)
        ]
        for thread in threads:
            thread.start()
        # All of them waiting: one for the lock, to write, the others queued
        # behind it (a save is queued only once a thread is writing).
        while len(store._saves._queued) < 3:
            threading.Event().wait(0.001)
    for thread in threads:
        thread.join(10)
    assert answers.keys() == {"agent-0", "agent-1", "agent-2", "agent-3"}
    assert isinstance(answers.pop("agent-2"), VersionConflict)
    assert set(answers.values()) == {"saved"}
    assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]
    assert statements.count("ROLLBACK TO save") == 1
    versions = sqlite3.connect(store.path).execute(
        "SELECT agent_id, version FROM agents ORDER BY agent_id"
    )
    assert versions.fetchall() == [
        ("agent-0", 2),
        ("agent-1", 2),
        ("agent-2", 1),
        ("agent-3", 2),
    ]
    remembered = store.load_remembered("agent-2")
    assert remembered is not None
    assert remembered.version == 1
    store.close()
