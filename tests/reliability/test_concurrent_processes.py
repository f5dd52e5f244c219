"""Several processes share one SQLite file: nothing is lost, doubled or torn.

Four worker processes send random, conflicting commands (assign, end,
classify, flag, extend, complete, expire) with unique command ids to the
same three agents, two sweeper processes call ``expire_due`` in a loop, and
all of them read one clock: wall time sped up 1,000 times, so 60 s
wrap-ups really expire (in 60 ms) while the agents are busy, and some are
completed or extended first. Each process logs what it
was acknowledged; afterwards the logs and the file must tell one story.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from workers import (
    AGENTS,
    CAPACITY,
    QUEUES_BY_ID,
    SpedUpClock,
    check_state,
    completed_chats,
    read_jsonl,
    start,
    stderr_of,
    table_rows,
)

from webchat_wrapup import AgentState, WrapUpEnding, event_to_dict
from webchat_wrapup.ports import Outcome
from webchat_wrapup.service import WrapUpService
from webchat_wrapup.stores import SQLiteStore

WORKER_COUNT = 4
SWEEPER_COUNT = 2
SPEED = 1000.0
RUN_SECONDS = 6.0


class Run:
    """What one concurrent run left behind: the file and every log."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db = folder / "wrapup.db"
        self.acks: list[dict[str, Any]] = []
        self.sweeps: list[dict[str, Any]] = []
        self.summaries: list[dict[str, Any]] = []

    @property
    def fresh(self) -> list[dict[str, Any]]:
        """Acknowledgements that applied their command (not replays)."""
        return [ack for ack in self.acks if not ack["replayed"]]

    def events(self) -> list[dict[str, Any]]:
        """Every event of the fresh acknowledgements, in per-agent version order."""
        ordered = sorted(self.fresh, key=lambda ack: (ack["agent"], ack["version"]))
        return [event for ack in ordered for event in ack["events"]]

    def states(self) -> dict[str, AgentState]:
        with SQLiteStore(self.db) as store:
            states = {}
            for agent_id in AGENTS:
                stored = store.load(agent_id)
                assert stored is not None
                states[agent_id] = stored.state
            return states


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
                config |= {"limit": 2, "pause": 0.01}
                processes.append((name, start("sweeper", config, result.folder)))
        for name, process in processes:
            code = process.wait(timeout=RUN_SECONDS + 60)
            assert code == 0, f"{name} exited {code}:\n{stderr_of(result.folder, name)}"
    finally:
        for _, process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    for name, _ in processes:
        for record in read_jsonl(result.folder / name):
            if "summary" in record:
                result.summaries.append(record)
            elif name.startswith("w"):
                result.acks.append(record)
            else:
                result.sweeps.append(record)
    assert len(result.summaries) == len(names)
    return result


def test_the_run_really_conflicted_expired_extended_and_replayed(run: Run) -> None:
    kinds = Counter(ack["kind"] for ack in run.fresh)
    assert all(kinds[kind] > 0 for kind in ("assign", "end", "extend", "complete"))
    assert kinds["classify"] > 0
    assert kinds["flag"] > 0
    completions = [e for e in run.events() if e["type"] == "wrap_up_completed"]
    endings = Counter(event["ending"] for event in completions + run.sweeps)
    assert endings[WrapUpEnding.COMPLETED_EARLY.value] > 0
    assert (
        endings[WrapUpEnding.EXPIRED.value]
        + endings[WrapUpEnding.EXPIRED_WITH_DEFAULT.value]
        > 0
    )
    assert run.sweeps, "the sweepers expired nothing"
    assert any(ack["replayed"] for ack in run.acks)
    refused: Counter[str] = Counter()
    for summary in run.summaries:
        refused.update(summary.get("refused", {}))
    assert refused, "no command was ever refused: the commands did not conflict"


def test_no_update_is_lost_each_version_was_acknowledged_once(run: Run) -> None:
    versions = Counter((ack["agent"], ack["version"]) for ack in run.fresh)
    doubled = [pair for pair, count in versions.items() if count > 1]
    assert doubled == []
    stored = dict(table_rows(run.db, "SELECT agent_id, version FROM agents"))
    for agent_id, version in versions:
        assert version <= stored[agent_id]


def test_every_acknowledged_command_is_recorded_once_with_its_outcome(
    run: Run,
) -> None:
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ack in run.acks:
        by_id[ack["id"]].append(ack)
    with SQLiteStore(run.db) as store:
        for command_id, acks in by_id.items():
            record = store.find_command(command_id)
            assert record is not None, command_id
            assert sum(not ack["replayed"] for ack in acks) == 1, acks
            recorded = _record_events(record.outcome)
            for ack in acks:
                assert ack["agent"] == record.agent_id
                assert ack["version"] == record.outcome.version
                assert ack["events"] == recorded
    rows = table_rows(run.db, "SELECT command_id FROM commands")
    assert sorted(row[0] for row in rows) == sorted(by_id)


def test_a_command_id_sent_by_every_worker_was_applied_once(run: Run) -> None:
    shared = [ack for ack in run.acks if ack["kind"] == "shared"]
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ack in shared:
        by_id[ack["id"]].append(ack)
    assert any(len(acks) > 1 for acks in by_id.values())
    for acks in by_id.values():
        assert sum(not ack["replayed"] for ack in acks) == 1
        assert len({ack["version"] for ack in acks}) == 1


def test_no_chat_completes_twice_and_each_has_one_history_entry(run: Run) -> None:
    completions = Counter(completed_chats(run.events()))
    completions.update(completed_chats(run.sweeps))
    assert [pair for pair, count in completions.items() if count > 1] == []
    rows = table_rows(
        run.db,
        "SELECT agent_id, chat_id, COUNT(*) FROM history GROUP BY agent_id, chat_id",
    )
    assert [row for row in rows if row[2] != 1] == []
    assert {(row[0], row[1]) for row in rows} == set(completions)


def test_every_assigned_chat_is_either_held_or_completed(run: Run) -> None:
    events = run.events()
    assigned = Counter(
        (e["agent_id"], e["chat_id"]) for e in events if e["type"] == "chat_assigned"
    )
    assert max(assigned.values()) == 1
    completed = set(completed_chats(events)) | set(completed_chats(run.sweeps))
    held = {
        (agent_id, chat.chat_id)
        for agent_id, state in run.states().items()
        for chat in state.chats
    }
    assert completed.isdisjoint(held)
    assert completed | held == set(assigned)


def test_the_history_keeps_every_acknowledged_extension_flag_and_class(
    run: Run,
) -> None:
    extensions: Counter[str] = Counter()
    flagged: set[str] = set()
    classified: dict[str, dict[str, Any]] = {}
    for event in run.events():
        if event["type"] == "wrap_up_extended":
            extensions[event["chat_id"]] += 1
        elif event["type"] == "chat_flagged_abusive":
            assert event["chat_id"] not in flagged
            flagged.add(event["chat_id"])
        elif event["type"] == "chat_classified":
            classified[event["chat_id"]] = event["classification"]
    entries = [
        _entry(row[0]) for row in table_rows(run.db, "SELECT entry FROM history")
    ]
    for entry in entries:
        chat_id = entry["chat_id"]
        assert entry["extensions_used"] == extensions[chat_id], entry
        assert (entry["abuse"] is not None) == (chat_id in flagged), entry
        expected = classified.get(chat_id)
        if expected is None and entry["ending"] == "expired_with_default":
            assert entry["classification"]["code"] == "other"
        else:
            assert entry["classification"] == expected, entry
    for state in run.states().values():
        for chat in state.chats:
            assert chat.extensions_used == extensions[chat.chat_id]
            assert (chat.abuse is not None) == (chat.chat_id in flagged)


def test_deadlines_only_ever_moved_forward(run: Run) -> None:
    deadlines: dict[str, list[str]] = defaultdict(list)
    for event in run.events():
        moved = event["type"] in ("wrap_up_started", "wrap_up_extended")
        if moved and event["deadline"] is not None:
            deadlines[event["chat_id"]].append(event["deadline"])
    assert deadlines
    for chat_id, seen in deadlines.items():
        assert seen == sorted(seen), chat_id
        assert len(set(seen)) == len(seen), chat_id


def test_the_final_states_are_consistent_and_the_file_is_sound(run: Run) -> None:
    for state in run.states().values():
        check_state(state)
        for chat in state.chats:
            assert chat.queue == QUEUES_BY_ID[chat.queue.queue_id]
    assert table_rows(run.db, "PRAGMA integrity_check") == [("ok",)]


def _record_events(outcome: Outcome) -> list[dict[str, Any]]:
    return [event_to_dict(event) for event in outcome.events]


def _entry(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    return data
