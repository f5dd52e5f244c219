"""A writer killed with SIGKILL at random points loses and tears nothing.

One SQLite file (``synchronous=FULL``) is written by a series of writer
processes. Each sends commands with ids as fast as it can and logs, with
``fsync``, every command id it was acknowledged; the test kills it with
``SIGKILL`` after a random 50 to 300 ms, checks the file, re-sends the
command the writer was in the middle of (with the same id), and starts the
next writer on the same file.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from workers import (
    AGENTS,
    CAPACITY,
    SpedUpClock,
    check_state,
    read_jsonl,
    start,
    stderr_of,
    stop,
    table_rows,
    wait_line,
)

from webchat_wrapup import (
    ChatAssigned,
    WrapUpCompleted,
    WrapUpError,
    command_from_dict,
)
from webchat_wrapup.service import WrapUpService
from webchat_wrapup.stores import SQLiteStore

KILLS = 24
SPEED = 600.0

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX only"
)


class Seen:
    """What the test knows so far: acknowledged ids and the records checked.

    Command records never change once written, so each is decoded and
    checked once; the checks that relate records to the current states run
    on every kill.
    """

    def __init__(self) -> None:
        self.acknowledged: dict[str, int] = {}
        self.records: set[str] = set()
        self.assigned: set[tuple[str, str]] = set()
        self.completed: set[tuple[str, str]] = set()

    def acknowledge(self, command_id: str, version: int) -> None:
        assert self.acknowledged.setdefault(command_id, version) == version


def test_a_writer_killed_at_random_points_leaves_a_sound_complete_file(
    tmp_path: Path,
) -> None:
    db = tmp_path / "wrapup.db"
    origin = time.monotonic()
    clock = SpedUpClock(origin, SPEED)
    with SQLiteStore(db) as store:
        service = WrapUpService(store, clock)
        for agent_id in AGENTS:
            service.add_agent(agent_id, capacity=CAPACITY)
    rng = random.Random(20260105)
    seen = Seen()
    replayed = executed = 0
    for kill in range(KILLS):
        log = tmp_path / f"writer-{kill}.log"
        config = {
            "name": f"k{kill}",
            "db": str(db),
            "log": str(log),
            "seed": kill,
            "origin": origin,
            "speed": SPEED,
            "agents": list(AGENTS),
            "max_seconds": 20,
        }
        writer = start("writer", config, tmp_path, stdout=subprocess.PIPE)
        try:
            ready = wait_line(writer, timeout=30)
            assert ready == "ready", stderr_of(tmp_path, f"k{kill}")
            time.sleep(rng.uniform(0.05, 0.3))
            assert writer.poll() is None, stderr_of(tmp_path, f"k{kill}")
            writer.send_signal(signal.SIGKILL)
        finally:
            stop(writer)
        assert writer.returncode == -signal.SIGKILL

        records = read_jsonl(log, torn_tail=True)
        for record in records:
            if "ack" in record:
                seen.acknowledge(record["ack"], record["version"])
        check_file(db, seen)

        pending = pending_intent(records)
        if pending is not None:
            outcome = resend(db, clock, pending)
            if outcome is not None:
                seen.acknowledge(pending["intent"], outcome[0])
                replayed += outcome[1]
                executed += not outcome[1]
            check_file(db, seen)

    # The run must have had something to lose: many acknowledged commands,
    # and kills that landed mid-command more than once.
    assert len(seen.acknowledged) > KILLS * 3
    assert replayed + executed > 1


def pending_intent(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The command the writer was sending when it was killed, if any."""
    settled = {r.get("ack") or r.get("refused") for r in records}
    intents = [r for r in records if "intent" in r]
    if intents and intents[-1]["intent"] not in settled:
        return intents[-1]
    return None


def resend(
    db: Path, clock: SpedUpClock, intent: dict[str, Any]
) -> tuple[int, bool] | None:
    """Send the interrupted command again with its id, as a client retrying would.

    If the killed writer had committed it, the retry is a replay of that
    outcome; if not, it runs now (or is refused, and nothing is recorded).
    """
    command_id = intent["intent"]
    command = command_from_dict(intent["command"])
    with SQLiteStore(db) as store:
        before = store.find_command(command_id)
        service = WrapUpService(store, clock)
        try:
            outcome = service.execute(command, command_id=command_id)
        except WrapUpError:
            assert before is None, "a recorded command id must be replayed"
            assert store.find_command(command_id) is None
            return None
    if before is not None:
        assert outcome.replayed
        assert outcome.version == before.outcome.version
        assert outcome.events == before.outcome.events
    else:
        assert not outcome.replayed
    return outcome.version, outcome.replayed


def check_file(db: Path, seen: Seen) -> None:
    """The file after a kill: sound, complete, and no command half applied."""
    assert table_rows(db, "PRAGMA integrity_check") == [("ok",)]

    # A record's outcome is stored as [agent_id, version, events, history].
    recorded = dict(
        table_rows(db, "SELECT command_id, json_extract(outcome, '$[1]') FROM commands")
    )
    for command_id, version in seen.acknowledged.items():
        assert command_id in recorded, "an acknowledged command was lost"
        assert recorded[command_id] == version
    # A record is written with its state: it is never ahead of its agent.
    ahead = table_rows(
        db,
        "SELECT command_id FROM commands JOIN agents USING (agent_id) "
        "WHERE json_extract(outcome, '$[1]') > agents.version",
    )
    assert ahead == []

    history = set(table_rows(db, "SELECT agent_id, chat_id FROM history"))
    entries = table_rows(db, "SELECT COUNT(*) FROM history")[0][0]
    assert entries == len(history), "a chat has two history entries"

    with SQLiteStore(db) as store:
        held: set[tuple[str, str]] = set()
        for agent_id in AGENTS:
            stored = store.load(agent_id)
            assert stored is not None
            check_state(stored.state)
            held.update((agent_id, chat.chat_id) for chat in stored.state.chats)
        for command_id in recorded.keys() - seen.records:
            record = store.find_command(command_id)
            assert record is not None
            for event in record.outcome.events:
                if isinstance(event, ChatAssigned):
                    seen.assigned.add((event.agent_id, event.chat_id))
                if isinstance(event, WrapUpCompleted):
                    seen.completed.add((event.agent_id, event.chat_id))
            for entry in record.outcome.history:
                seen.completed.add((entry.agent_id, entry.chat_id))
            seen.records.add(command_id)

    assert held.isdisjoint(history), "a completed chat is still held"
    # Completions a record announces were written with their history entry.
    assert seen.completed <= history
    # Every chat was assigned by a recorded command: no state without its record.
    assert held <= seen.assigned
    assert history <= seen.assigned


def test_the_writer_logs_well_formed_lines(tmp_path: Path) -> None:
    """The helper the kill test relies on: intents, acks, torn tails."""
    log = tmp_path / "log"
    lines = [
        {"intent": "k0-1", "kind": "assign", "command": {}},
        {"ack": "k0-1", "version": 2},
        {"intent": "k0-2", "kind": "end", "command": {}},
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"ack": "k')
    records = read_jsonl(log, torn_tail=True)
    assert records == lines
    pending = pending_intent(records)
    assert pending is not None
    assert pending["intent"] == "k0-2"
    with pytest.raises(json.JSONDecodeError):
        read_jsonl(log)
