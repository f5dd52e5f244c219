"""Several app servers share one PostgreSQL schema: nothing is lost or doubled.

Eight worker processes, standing for eight app servers, send random,
conflicting commands (assign, end, classify, flag, extend, complete,
expire) with unique command ids to the same three agents, and now and then
send one again with the same id (it must be replayed); once per time slot
every worker sends the same command with the same id (one applies it).
Two sweeper processes call ``sweep`` in a loop. All read one clock:
wall time sped up 500 times, so 60 s wrap-ups really expire (in 120 ms)
while the agents are busy (half the SQLite run's speed: a command takes a
few round trips to the server, and some wrap-ups must live long enough to
be extended or completed first). Afterwards the logs and the schema must tell one
story: the checks of the SQLite run (``concurrent_checks.py``) and a few
more that only the logged sweeper saves and the schema's columns allow.

Needs a server: set WEBCHAT_WRAPUP_POSTGRES_DSN (``.ci/run`` starts a
throwaway one). Without it the tests skip locally and fail in CI
(``CI=true``). Each run uses a fresh schema and drops it afterwards.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import postgres_dsn

DSN = postgres_dsn()

psycopg = pytest.importorskip("psycopg")

from concurrent_checks import (  # noqa: E402
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
from workers import AGENTS, CAPACITY, SpedUpClock, start, stderr_of  # noqa: E402

from webchat_wrapup.service import WrapUpService  # noqa: E402
from webchat_wrapup.stores._codec import instant_to_micros  # noqa: E402
from webchat_wrapup.stores.postgres import PostgresStore  # noqa: E402

WORKER_COUNT = 8
SWEEPER_COUNT = 2
SPEED = 500.0
RUN_SECONDS = 8.0
START_SECONDS = 3.0
"""Time for the ten children to start and connect before the clock's origin."""
MIN_COMMANDS = 100
"""Each worker sends at least this many, going on past RUN_SECONDS if slow..."""
EXTRA_SECONDS = 12.0
"""...but for at most this long."""


class Run:
    """What one concurrent run left behind: the logs and the schema, read back."""

    def __init__(self, folder: Path, schema: str) -> None:
        self.folder = folder
        self.schema = schema
        self.logs = RunLogs()
        self.store: StoreSnapshot
        self.agent_rows: list[tuple[str, int, str, int | None, int | None]] = []
        self.history_rows: list[tuple[str, str, str, str]] = []
        self.held_rows: list[tuple[str, str]] = []
        self.seconds = 0.0

    def read_store(self) -> None:
        """Read the schema through the store, and its rows by hand."""
        schema = f'"{self.schema}"'
        with psycopg.connect(DSN, autocommit=True) as db:
            self.agent_rows = db.execute(
                "SELECT agent_id, version, state, next_deadline, claimed_until "
                f"FROM {schema}.agents"
            ).fetchall()
            self.history_rows = db.execute(
                f"SELECT agent_id, chat_id, entry, customer_id FROM {schema}.history"
            ).fetchall()
            rows = db.execute(f"SELECT command_id FROM {schema}.commands")
            command_ids = [row[0] for row in rows]
            self.held_rows = db.execute(
                f"SELECT chat_id, agent_id FROM {schema}.held_chats"
            ).fetchall()
        with PostgresStore(DSN, schema=self.schema, pool_size=1) as store:
            states = {}
            for agent_id in (row[0] for row in self.agent_rows):
                stored = store.load(agent_id)
                assert stored is not None
                states[agent_id] = stored.state
            records = {
                command_id: store.find_command(command_id)
                for command_id in self.logs.acks_by_id()
            }
        self.store = StoreSnapshot(
            states=states,
            versions={row[0]: row[1] for row in self.agent_rows},
            history=[(row[0], row[1], row[2]) for row in self.history_rows],
            command_ids=command_ids,
            records=records,
        )


def _drop(schema: str) -> None:
    with psycopg.connect(DSN, autocommit=True) as db:
        db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Run the workers and sweepers once; the tests below read what is left."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    result = Run(tmp_path_factory.mktemp("postgres-concurrent"), schema)
    try:
        _run(result)
        yield result
    finally:
        _drop(schema)


def _run(result: Run) -> None:
    began = time.monotonic()
    with PostgresStore(DSN, schema=result.schema, pool_size=1) as store:
        service = WrapUpService(store, SpedUpClock(time.monotonic(), SPEED))
        for agent_id in AGENTS:
            service.add_agent(agent_id, capacity=CAPACITY)
    origin = time.monotonic() + START_SECONDS
    common = {
        "schema": result.schema,
        "origin": origin,
        "speed": SPEED,
        "go_at": origin,
        "stop_at": origin + RUN_SECONDS,
        "hard_stop_at": origin + RUN_SECONDS + EXTRA_SECONDS,
    }
    stop_file = result.folder / "workers-done"
    names = [f"w{n}" for n in range(WORKER_COUNT)]
    names += [f"s{n}" for n in range(SWEEPER_COUNT)]
    processes = []
    try:
        for number, name in enumerate(names):
            config = {**common, "name": name, "log": str(result.folder / name)}
            if name.startswith("w"):
                config |= {
                    "seed": 2000 + number,
                    "agents": list(AGENTS),
                    "max_commands": 2500,
                    "min_commands": MIN_COMMANDS,
                    "slot_seconds": 0.25,
                    "pause": 0.002,
                }
                mode = "postgres-worker"
            else:
                config |= {
                    "limit": 2,
                    "pause": 0.01,
                    "stop_file": str(stop_file),
                    "log_saves": True,
                }
                mode = "postgres-sweeper"
            processes.append((name, start(mode, config, result.folder)))
        limit = START_SECONDS + RUN_SECONDS + EXTRA_SECONDS + 60
        for name, process in processes:
            if name.startswith("s"):
                stop_file.touch()  # The workers are done: the sweepers may stop.
            code = process.wait(timeout=limit)
            assert code == 0, f"{name} exited {code}:\n{stderr_of(result.folder, name)}"
    finally:
        for _, process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    result.logs = RunLogs.read(result.folder, names)
    assert len(result.logs.summaries) == len(names)
    result.read_store()
    result.seconds = time.monotonic() - began


def test_the_run_really_conflicted_expired_extended_and_replayed(run: Run) -> None:
    check_really_conflicted(run.logs)
    sent = sum(summary.get("sent", 0) for summary in run.logs.summaries)
    print(
        f"\n{sent} commands sent, {len(run.logs.fresh)} applied, "
        f"{len(run.logs.acks) - len(run.logs.fresh)} replayed, "
        f"{len(run.logs.sweeps)} expired by sweepers, in {run.seconds:.1f} s"
    )


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


def test_no_wrap_up_expired_twice(run: Run) -> None:
    # The sweepers' own counts agree with the completions they announced.
    expired = sum(summary.get("expired", 0) for summary in run.logs.summaries)
    assert expired == len(run.logs.sweeps)
    sweeps = sum(summary.get("sweeps", 0) for summary in run.logs.summaries)
    assert sweeps > 0


def test_every_assigned_chat_is_either_held_or_completed(run: Run) -> None:
    check_assigned_held_or_completed(run.logs, run.store)


def test_the_history_keeps_every_acknowledged_extension_flag_and_class(
    run: Run,
) -> None:
    check_history_keeps_acknowledged_changes(run.logs, run.store)


def test_deadlines_only_ever_moved_forward(run: Run) -> None:
    check_deadlines_moved_forward(run.logs)


def test_the_final_states_are_consistent(run: Run) -> None:
    check_final_states(run.store)


def test_the_rows_agree_with_the_states_they_hold(run: Run) -> None:
    driven = sorted(row[0] for row in run.agent_rows if row[0] in AGENTS)
    assert driven == sorted(AGENTS)
    slot_agents = {row[0] for row in run.agent_rows} - set(AGENTS)
    assert all(agent_id.startswith("slot-agent-") for agent_id in slot_agents)
    for agent_id, _version, _state, due, _claimed in run.agent_rows:
        deadline = run.store.states[agent_id].next_deadline()
        assert due == (None if deadline is None else instant_to_micros(deadline))
    for agent_id, chat_id, entry, customer_id in run.history_rows:
        data = json.loads(entry)
        assert (data["agent_id"], data["chat_id"]) == (agent_id, chat_id)
        assert data["customer_id"] == customer_id


def test_held_chats_name_exactly_the_chats_the_agents_hold(run: Run) -> None:
    # Kept by every save that assigned, completed or expired a chat, in
    # conflicting processes: one row per chat held, naming its holder, and
    # none left behind by a chat let go of.
    held = [
        (chat.chat_id, agent_id)
        for agent_id, state in run.store.states.items()
        for chat in state.chats
    ]
    assert sorted(run.held_rows) == sorted(held)
