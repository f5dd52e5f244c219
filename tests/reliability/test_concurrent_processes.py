"""Several processes share one SQLite file: nothing is lost, doubled or torn.

Four worker processes send random, conflicting commands (assign, end,
classify, flag, extend, complete, expire) with unique command ids to the
same three agents, two sweeper processes call ``sweep`` in a loop, and
all of them read one clock: wall time sped up 1,000 times, so 60 s
wrap-ups really expire (in 60 ms) while the agents are busy, and some are
completed or extended first. Each process logs what it was acknowledged
(the sweepers also log the saves they commit); afterwards the logs and the
file must tell one story: the checks of ``concurrent_checks.py``, shared
with the PostgreSQL run, and SQLite's own ``integrity_check``.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from concurrent_checks import (
    RunLogs,
    StoreSnapshot,
    check_assigned_held_or_completed,
    check_commands_recorded_once,
    check_completed_once_with_one_entry,
    check_deadlines_moved_forward,
    check_each_version_acknowledged_once,
    check_every_version_accounted_for,
    check_final_states,
    check_history_keeps_acknowledged_changes,
    check_really_conflicted,
    check_shared_command_applied_once,
)
from workers import AGENTS, CAPACITY, SpedUpClock, start, stderr_of

from webchat_wrapup.service import WrapUpService
from webchat_wrapup.stores import SQLiteStore

WORKER_COUNT = 4
SWEEPER_COUNT = 2
SPEED = 1000.0
RUN_SECONDS = 6.0


class Run:
    """What one concurrent run left behind: the logs and the file, read back."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db = folder / "wrapup.db"
        self.logs = RunLogs()
        self.store: StoreSnapshot
        self.integrity: list[tuple[Any, ...]] = []

    def read_store(self) -> None:
        """Read the file through the store, and its rows by hand."""
        with closing(sqlite3.connect(self.db, timeout=10)) as db:
            versions = dict(db.execute("SELECT agent_id, version FROM agents"))
            history = db.execute("SELECT agent_id, chat_id, entry FROM history")
            history_rows = history.fetchall()
            rows = db.execute("SELECT command_id FROM commands")
            command_ids = [row[0] for row in rows]
            self.integrity = db.execute("PRAGMA integrity_check").fetchall()
        with SQLiteStore(self.db) as store:
            states = {}
            for agent_id in versions:  # the driven agents and the slot agents
                stored = store.load(agent_id)
                assert stored is not None
                states[agent_id] = stored.state
            records = {
                command_id: store.find_command(command_id)
                for command_id in self.logs.acks_by_id()
            }
        self.store = StoreSnapshot(
            states=states,
            versions=versions,
            history=history_rows,
            command_ids=command_ids,
            records=records,
        )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Run the workers and sweepers once; the tests below read what is left."""
    result = Run(tmp_path_factory.mktemp("concurrent"))
    with SQLiteStore(result.db, synchronous="NORMAL") as store:
        service = WrapUpService(store, SpedUpClock(time.monotonic(), SPEED))
        for agent_id in AGENTS:
            service.add_agent(agent_id, capacity=CAPACITY)
    origin = time.monotonic() + 1.5  # time for the children to start
    common = {
        "db": str(result.db),
        "origin": origin,
        "speed": SPEED,
        "go_at": origin,
        "stop_at": origin + RUN_SECONDS,
    }
    names = [f"w{n}" for n in range(WORKER_COUNT)]
    names += [f"s{n}" for n in range(SWEEPER_COUNT)]
    processes = []
    try:
        for number, name in enumerate(names):
            config = {**common, "name": name, "log": str(result.folder / name)}
            if name.startswith("w"):
                config |= {
                    "seed": 1000 + number,
                    "agents": list(AGENTS),
                    "max_commands": 2500,
                    "slot_seconds": 0.25,
                    "pause": 0.002,
                }
                processes.append((name, start("worker", config, result.folder)))
            else:
                config |= {"limit": 2, "pause": 0.01, "log_saves": True}
                processes.append((name, start("sweeper", config, result.folder)))
        for name, process in processes:
            code = process.wait(timeout=RUN_SECONDS + 60)
            assert code == 0, f"{name} exited {code}:\n{stderr_of(result.folder, name)}"
    finally:
        for _, process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    result.logs = RunLogs.read(result.folder, names)
    assert len(result.logs.summaries) == len(names)
    result.read_store()
    return result


def test_the_run_really_conflicted_expired_extended_and_replayed(run: Run) -> None:
    check_really_conflicted(run.logs)


def test_no_update_is_lost_each_version_was_acknowledged_once(run: Run) -> None:
    check_each_version_acknowledged_once(run.logs, run.store)


def test_every_version_was_written_by_one_command_or_one_sweep(run: Run) -> None:
    assert run.logs.saves, "the sweepers saved nothing"
    check_every_version_accounted_for(run.logs, run.store)


def test_every_acknowledged_command_is_recorded_once_with_its_outcome(
    run: Run,
) -> None:
    check_commands_recorded_once(run.logs, run.store)


def test_a_command_id_sent_by_every_worker_was_applied_once(run: Run) -> None:
    check_shared_command_applied_once(run.logs)


def test_no_chat_completes_twice_and_each_has_one_history_entry(run: Run) -> None:
    check_completed_once_with_one_entry(run.logs, run.store)


def test_every_assigned_chat_is_either_held_or_completed(run: Run) -> None:
    check_assigned_held_or_completed(run.logs, run.store)


def test_the_history_keeps_every_acknowledged_extension_flag_and_class(
    run: Run,
) -> None:
    check_history_keeps_acknowledged_changes(run.logs, run.store)


def test_deadlines_only_ever_moved_forward(run: Run) -> None:
    check_deadlines_moved_forward(run.logs)


def test_the_final_states_are_consistent_and_the_file_is_sound(run: Run) -> None:
    check_final_states(run.store)
    assert run.integrity == [("ok",)]
