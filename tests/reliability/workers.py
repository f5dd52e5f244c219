"""Shared helpers for the reliability tests, and the processes they start.

The tests import this module (``from workers import ...``: pytest's default
``prepend`` import mode puts this folder on ``sys.path``) and also run it as
a script in child processes::

    python workers.py MODE CONFIG_JSON

with MODE one of ``worker``, ``sweeper``, ``writer`` and ``hold-lock``.
Running it as a script needs nothing but the installed library, so the
children work whatever the import mode and whatever the working directory.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

from webchat_wrapup import (
    AgentState,
    AssignChat,
    ClassificationOption,
    ClassificationPolicy,
    ClassifyChat,
    Command,
    CompleteWrapUp,
    DropdownClassification,
    EndChat,
    EndedBy,
    Event,
    ExpireWrapUp,
    ExpiryRule,
    ExtendWrapUp,
    FlagAbusive,
    Phase,
    QueuePolicy,
    WrapUpCompleted,
    WrapUpError,
    WrapUpPolicy,
    command_to_dict,
    event_to_dict,
)
from webchat_wrapup.ports import Change, Outcome, Store
from webchat_wrapup.service import WrapUpService
from webchat_wrapup.stores import SQLiteStore

WORKERS = Path(__file__).resolve()
START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
"""The simulated instant at a run's origin."""

OPTIONS = (
    ClassificationOption("refund", "Refund", "Billing"),
    ClassificationOption("late", "Late delivery", "Delivery"),
    ClassificationOption("other", "Other"),
)
CODES = tuple(option.code for option in OPTIONS)

QUEUES = (
    # Extensions of 30 s, two of them; classification optional.
    QueuePolicy(
        "sales",
        WrapUpPolicy(countdown_seconds=60, extension_seconds=30, max_extensions=2),
        ClassificationPolicy(DropdownClassification(OPTIONS)),
    ),
    # Classification required to complete; expiry applies a default.
    QueuePolicy(
        "support",
        WrapUpPolicy(countdown_seconds=60, extension_seconds=60, max_extensions=1),
        ClassificationPolicy(
            DropdownClassification(OPTIONS),
            required=True,
            on_expiry=ExpiryRule.APPLY_DEFAULT,
            timeout_default="other",
        ),
    ),
    # No wrap-up at all: ending the chat completes it.
    QueuePolicy(
        "billing",
        WrapUpPolicy(enabled=False),
        ClassificationPolicy(DropdownClassification(OPTIONS)),
    ),
)
QUEUES_BY_ID = {queue.queue_id: queue for queue in QUEUES}
CUSTOMERS = ("cust-a", "cust-b", "cust-c", "cust-d")
AGENTS = ("agent-1", "agent-2", "agent-3")
CAPACITY = 2

KINDS = ("assign", "end", "classify", "flag", "extend", "complete", "expire")
WEIGHTS = (3, 3, 2, 1, 2, 1, 2)


class SpedUpClock:
    """Wall time sped up: ``START`` at monotonic ``origin``, ``speed`` times fast.

    ``time.monotonic`` is system-wide on Linux, so processes given the same
    origin share one clock.
    """

    def __init__(self, origin: float, speed: float, start: datetime = START) -> None:
        self.origin = origin
        self.speed = speed
        self.start = start

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self.origin) * self.speed
        return self.start + timedelta(seconds=elapsed)


class Driver:
    """Picks random, often conflicting, commands for the agents it is shown."""

    def __init__(self, seed: int, prefix: str) -> None:
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.count = 0

    def next_command(self, state: AgentState) -> tuple[str, Command]:
        """A command kind and a command for the agent in ``state``."""
        rng = self.rng
        agent_id = state.agent_id
        kind = rng.choices(KINDS, WEIGHTS)[0]
        active = [c for c in state.chats if c.phase is Phase.ACTIVE]
        wrapping = [c for c in state.chats if c.phase is Phase.WRAP_UP]
        if kind == "end" and active:
            chat = rng.choice(active)
        elif kind in ("extend", "complete", "expire") and wrapping:
            chat = rng.choice(wrapping)
        elif kind in ("classify", "flag") and state.chats:
            chat = rng.choice(state.chats)
        else:
            self.count += 1
            chat_id = f"{self.prefix}-c{self.count}"
            customer = rng.choice(CUSTOMERS)
            return "assign", AssignChat(agent_id, chat_id, customer, rng.choice(QUEUES))
        if kind == "end":
            return kind, EndChat(
                agent_id, chat.chat_id, rng.choice([EndedBy.CUSTOMER, EndedBy.AGENT])
            )
        if kind == "classify":
            return kind, ClassifyChat(agent_id, chat.chat_id, code=rng.choice(CODES))
        if kind == "flag":
            reason = rng.choice([None, "rude language"])
            return kind, FlagAbusive(agent_id, chat.chat_id, reason)
        if kind == "extend":
            return kind, ExtendWrapUp(agent_id, chat.chat_id)
        if kind == "complete":
            return kind, CompleteWrapUp(agent_id, chat.chat_id)
        deadline = chat.deadline or START
        return "expire", ExpireWrapUp(agent_id, chat.chat_id, deadline)


def ack_record(command_id: str, kind: str, outcome: Outcome) -> dict[str, Any]:
    """What a process logs for an acknowledged command."""
    return {
        "id": command_id,
        "agent": outcome.agent_id,
        "kind": kind,
        "version": outcome.version,
        "replayed": outcome.replayed,
        "events": [event_to_dict(event) for event in outcome.events],
        "history": [[entry.agent_id, entry.chat_id] for entry in outcome.history],
    }


def read_jsonl(path: Path, *, torn_tail: bool = False) -> list[dict[str, Any]]:
    """The JSON lines of ``path``; with ``torn_tail`` a cut last line is dropped."""
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if torn_tail and number == len(lines):
                break
            raise
    return records


# Reading a store's file directly.


def connect(path: Path) -> sqlite3.Connection:
    """A plain connection to the store's file, for checks."""
    return sqlite3.connect(path, timeout=10)


def table_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """The rows ``sql`` returns from the file at ``path``."""
    db = connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def check_state(state: AgentState) -> None:
    """Assert the invariants every stored agent state keeps."""
    assert state.status is state.derived_status(), state
    assert len(state.chats) <= state.capacity, state
    assert len({chat.chat_id for chat in state.chats}) == len(state.chats), state
    for chat in state.chats:
        policy = chat.queue.wrap_up
        assert 0 <= chat.extensions_used <= policy.max_extensions, chat
        if chat.phase is Phase.ACTIVE:
            assert chat.deadline is None, chat
            assert chat.ended_at is None, chat
        else:
            assert chat.ended_at is not None, chat
            assert policy.countdown is not None, chat
            expected = (
                chat.ended_at
                + policy.countdown
                + chat.extensions_used * policy.extension
            )
            assert chat.deadline == expected, chat


def completed_chats(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The (agent, chat) pairs the ``wrap_up_completed`` events name."""
    return [
        (event["agent_id"], event["chat_id"])
        for event in events
        if event["type"] == WrapUpCompleted.type
    ]


# Starting and stopping children.


def start(
    mode: str, config: dict[str, Any], folder: Path, *, stdout: int | None = None
) -> subprocess.Popen[bytes]:
    """Run ``workers.py MODE`` with ``config``; stderr goes to a file in folder."""
    name = config.get("name", mode)
    stderr = (folder / f"{name}.stderr").open("wb")
    try:
        return subprocess.Popen(
            [sys.executable, str(WORKERS), mode, json.dumps(config)],
            stdin=subprocess.PIPE if mode == "hold-lock" else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if stdout is None else stdout,
            stderr=stderr,
        )
    finally:
        stderr.close()


def stderr_of(folder: Path, name: str) -> str:
    """What the child named ``name`` wrote to stderr (the tail)."""
    path = folder / f"{name}.stderr"
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def wait_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    """The next line the child prints, waiting at most ``timeout`` seconds."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        return ""
    return process.stdout.readline().decode().strip()


def stop(process: subprocess.Popen[bytes]) -> None:
    """Kill the child if it still runs, reap it and close its pipes."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


# The children.


def _open_log(path: str) -> IO[str]:
    return open(path, "a", buffering=1)


def _sleep_until(instant: float) -> None:
    delay = instant - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def run_worker(config: dict[str, Any]) -> None:
    """Send random commands with unique ids to the agents until ``stop_at``.

    Every acknowledged command is logged with its outcome. Now and then the
    worker sends a command again with the same id (it must be replayed), and
    once per time slot every worker sends the same ``shared`` command with
    the same id (exactly one of them may apply it).
    """
    store = SQLiteStore(config["db"], synchronous="NORMAL")
    with store, _open_log(config["log"]) as log:
        drive_worker(config, store, log)


def run_sweeper(config: dict[str, Any]) -> None:
    """Call ``sweep`` in a loop; log every completion the sweeps make."""
    store = SQLiteStore(config["db"], synchronous="NORMAL")
    with store, _open_log(config["log"]) as log:
        drive_sweeper(config, store, log)


def run_writer(config: dict[str, Any]) -> None:
    """Send commands as fast as possible until killed (or ``max_seconds``).

    Before each command an ``intent`` line is written (one ``write`` call,
    so a kill leaves it whole or absent); after each acknowledgement an
    ``ack`` line, flushed and fsynced before the next command starts.
    """
    clock = SpedUpClock(config["origin"], config["speed"])
    store = SQLiteStore(config["db"], synchronous="FULL")
    service = WrapUpService(store, clock)
    driver = Driver(config["seed"], config["name"])
    agents: list[str] = config["agents"]
    fd = os.open(config["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def line(record: dict[str, Any]) -> None:
        os.write(fd, (json.dumps(record) + "\n").encode())

    print("ready", flush=True)
    give_up = time.monotonic() + config["max_seconds"]
    sent = 0
    while time.monotonic() < give_up:
        sent += 1
        agent_id = driver.rng.choice(agents)
        stored = store.load(agent_id)
        assert stored is not None
        kind, command = driver.next_command(stored.state)
        command_id = f"{config['name']}-{sent}"
        line({"intent": command_id, "kind": kind, "command": command_to_dict(command)})
        try:
            outcome = service.execute(command, command_id=command_id)
        except WrapUpError as error:
            line({"refused": command_id, "code": error.code.value})
        else:
            line({"ack": command_id, **ack_record(command_id, kind, outcome)})
            os.fsync(fd)
        if sent % 7 == 0:
            service.sweep(limit=5)
    os.close(fd)
    store.close()


def hold_lock(config: dict[str, Any]) -> None:
    """Hold the write lock (``BEGIN IMMEDIATE`` or ``EXCLUSIVE``) until stdin ends."""
    db = sqlite3.connect(config["db"], isolation_level=None, timeout=5)
    db.execute(config["begin"])
    print("locked", flush=True)
    sys.stdin.read()
    db.execute("ROLLBACK")
    db.close()


# The PostgreSQL children: the same commands and sweeps on a shared server.

POSTGRES_DSN_VARIABLE = "WEBCHAT_WRAPUP_POSTGRES_DSN"
"""The children read the server's DSN here (inherited, kept off ``argv``)."""


class SaveLog:
    """A store that logs the agent and new version of each save that commits.

    Everything else is the wrapped store's. The sweepers wrap theirs, so a
    run's logs name every version of every agent: the workers' fresh
    acknowledgements and the sweepers' saves.
    """

    def __init__(self, store: Store, log: IO[str]) -> None:
        self.store = store
        self.log = log

    def save(self, change: Change) -> None:
        self.store.save(change)
        self._logged(change)

    def save_all(self, changes: Sequence[Change]) -> None:
        self.store.save_all(changes)
        for change in changes:
            self._logged(change)

    def _logged(self, change: Change) -> None:
        saved = {"saved": change.agent_id, "version": change.expected_version + 1}
        self.log.write(json.dumps(saved) + "\n")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def _postgres_store(config: dict[str, Any]) -> Store:
    from webchat_wrapup.stores.postgres import PostgresStore

    dsn = os.environ[POSTGRES_DSN_VARIABLE]
    return PostgresStore(dsn, schema=config["schema"], pool_size=1)


def drive_worker(config: dict[str, Any], store: Store, log: IO[str]) -> None:
    """The loop of :func:`run_worker` on any store, logging to ``log``.

    With ``min_commands`` the worker goes on past ``stop_at`` until it has
    sent that many (a slow machine still makes a meaningful run), but never
    past ``hard_stop_at``.
    """
    name: str = config["name"]
    clock = SpedUpClock(config["origin"], config["speed"])
    service = WrapUpService(store, clock, lease=timedelta(seconds=1))
    driver = Driver(config["seed"], name)
    rng = driver.rng
    agents: list[str] = config["agents"]
    refusals: dict[str, int] = {}
    last_slot = -1
    sent = 0

    def send(command_id: str, kind: str, command: Command) -> Outcome | None:
        try:
            outcome = service.execute(command, command_id=command_id)
        except WrapUpError as error:
            refusals[error.code.value] = refusals.get(error.code.value, 0) + 1
            return None
        log.write(json.dumps(ack_record(command_id, kind, outcome)) + "\n")
        return outcome

    min_commands: int = config.get("min_commands", 0)
    hard_stop_at: float = config.get("hard_stop_at", config["stop_at"])

    def going() -> bool:
        now = time.monotonic()
        if sent >= config["max_commands"] or now >= hard_stop_at:
            return False
        return now < config["stop_at"] or sent < min_commands

    _sleep_until(config["go_at"])
    while going():
        slot = int((time.monotonic() - config["go_at"]) / config["slot_seconds"])
        if slot != last_slot:
            last_slot = slot
            # Every worker sends the same command with the same id: one
            # applies it, the others must be told what it did (a replay).
            slot_agent = f"slot-agent-{slot}"
            service.add_agent(slot_agent, exist_ok=True)
            shared = AssignChat(slot_agent, f"slot-{slot}", "cust-shared", QUEUES[0])
            send(f"shared-{slot}", "shared", shared)
        agent_id = rng.choice(agents)
        stored = store.load(agent_id)
        assert stored is not None
        kind, command = driver.next_command(stored.state)
        sent += 1
        command_id = f"{name}-{sent}"
        outcome = send(command_id, kind, command)
        if outcome is not None and rng.random() < 0.1:
            send(command_id, kind, command)
        time.sleep(config["pause"])
        if sent % 25 == 0:
            view = service.view(agent_id)
            for chat in view.chats:
                assert chat.seconds_left is None or chat.seconds_left >= 0, chat
    log.write(json.dumps({"summary": name, "sent": sent, "refused": refusals}))
    log.write("\n")


def drive_sweeper(config: dict[str, Any], store: Store, log: IO[str]) -> None:
    """The loop of :func:`run_sweeper` on any store (with ``log_saves``, the
    saves it commits are logged too).

    With ``stop_file`` the sweeper goes on past ``stop_at`` until that file
    exists (the workers are done), but never past ``hard_stop_at``.
    """
    clock = SpedUpClock(config["origin"], config["speed"])
    if config.get("log_saves"):
        store = SaveLog(store, log)
    service = WrapUpService(store, clock, lease=timedelta(seconds=1))
    sweeps = expired = 0

    def hear(event: Event) -> None:
        if isinstance(event, WrapUpCompleted):
            record = {
                "type": event.type,
                "agent_id": event.agent_id,
                "chat_id": event.chat_id,
                "ending": event.ending.value,
            }
            log.write(json.dumps(record) + "\n")

    service.subscribe(hear)
    stop_file = config.get("stop_file")
    hard_stop_at: float = config.get("hard_stop_at", config["stop_at"])

    def going() -> bool:
        now = time.monotonic()
        if now >= hard_stop_at:
            return False
        return now < config["stop_at"] or not (stop_file and Path(stop_file).exists())

    _sleep_until(config["go_at"])
    while going():
        expired += service.sweep(limit=config["limit"]).expired
        sweeps += 1
        time.sleep(config["pause"])
    summary = {"summary": config["name"], "sweeps": sweeps, "expired": expired}
    log.write(json.dumps(summary) + "\n")


def run_postgres_worker(config: dict[str, Any]) -> None:
    """:func:`run_worker` against the PostgreSQL schema ``config["schema"]``."""
    store = _postgres_store(config)
    try:
        with _open_log(config["log"]) as log:
            drive_worker(config, store, log)
    finally:
        store.close()  # type: ignore[attr-defined]


def run_postgres_sweeper(config: dict[str, Any]) -> None:
    """:func:`run_sweeper` against the PostgreSQL schema ``config["schema"]``."""
    store = _postgres_store(config)
    try:
        with _open_log(config["log"]) as log:
            drive_sweeper(config, store, log)
    finally:
        store.close()  # type: ignore[attr-defined]


MODES = {
    "worker": run_worker,
    "sweeper": run_sweeper,
    "writer": run_writer,
    "hold-lock": hold_lock,
}
MODES.update(
    {"postgres-worker": run_postgres_worker, "postgres-sweeper": run_postgres_sweeper}
)


def iter_chats(states: dict[str, AgentState]) -> Iterator[tuple[str, str]]:
    """(agent, chat) for every chat held in ``states``."""
    for agent_id, state in states.items():
        for chat in state.chats:
            yield agent_id, chat.chat_id


if __name__ == "__main__":
    MODES[sys.argv[1]](json.loads(sys.argv[2]))
