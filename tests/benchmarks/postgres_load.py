"""What ``test_postgres.py`` shares with the worker processes it starts.

Imported by the benchmarks (pytest's default ``prepend`` import mode puts
this folder on ``sys.path``) and run as a script in each worker process of
the ``throughput`` group::

    python postgres_load.py CONFIG_JSON

A worker puts its own agents in wrap-up through the service (untimed),
prints ``ready``, waits for a line on stdin, then sends its commands as fast
as it can and prints one JSON line: how many it sent and in how many
seconds. ``CONFIG_JSON`` says which schema, which agents, how many commands
and whether they go ``service`` (:meth:`WrapUpService.extend` with a command
id) or ``raw`` (:func:`raw_extend`, the same transaction written by hand).
The server's DSN comes from ``WEBCHAT_WRAPUP_POSTGRES_DSN``, kept off argv.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from typing import Any

import psycopg
from extend_setup import (
    ENDED_AT,
    MAX_EXTENSIONS,
    NOW,
    QUEUE,
    T0,
    VERSION_IN_WRAP_UP,
    chat_of,
    deadline_after,
)

from webchat_wrapup import (
    ExtendWrapUp,
    WrapUpExtended,
    command_to_dict,
    event_to_dict,
)
from webchat_wrapup.clocks import ManualClock
from webchat_wrapup.service import WrapUpService
from webchat_wrapup.stores._codec import instant_to_micros
from webchat_wrapup.stores.postgres import PostgresStore

DSN_VARIABLE = "WEBCHAT_WRAPUP_POSTGRES_DSN"


def dsn() -> str:
    return os.environ[DSN_VARIABLE]


def put_in_wrap_up(service: WrapUpService, agent_ids: list[str]) -> None:
    """Add the agents and end a chat for each: all in wrap-up at ``NOW``.

    The chats get command ids too (``prep-…``), so the service's every
    statement has run before the timed commands.
    """
    clock = service.clock
    assert isinstance(clock, ManualClock)
    for agent_id in agent_ids:
        service.add_agent(agent_id)
        clock.set(T0)
        service.assign(
            agent_id,
            chat_of(agent_id),
            f"customer-{agent_id}",
            QUEUE,
            command_id=f"prep-a-{agent_id}",
        )
        clock.set(ENDED_AT)
        service.end_chat(agent_id, chat_of(agent_id), command_id=f"prep-e-{agent_id}")
    clock.set(NOW)


def plan(agent_ids: list[str], count: int) -> list[tuple[str, int]]:
    """(agent, extensions used before) for ``count`` calls, round robin."""
    assert count <= len(agent_ids) * MAX_EXTENSIONS
    return [(agent_ids[n % len(agent_ids)], n // len(agent_ids)) for n in range(count)]


def agents_for(count: int, prefix: str) -> list[str]:
    """Enough agents for ``count`` extensions, ``MAX_EXTENSIONS`` each at most."""
    return [f"{prefix}-{i}" for i in range(max(1, -(-count // MAX_EXTENSIONS)))]


class RawStatements:
    """The raw transaction's SQL on ``schema`` (the store's own tables)."""

    def __init__(self, schema: str) -> None:
        name = f'"{schema}"'
        self.version = f"SELECT version FROM {name}.agents WHERE agent_id = %s"
        self.update = (
            f"UPDATE {name}.agents SET version = %s, state = %s, next_deadline = %s, "
            "claimed_until = NULL WHERE agent_id = %s AND version = %s"
        )
        self.insert = f"INSERT INTO {name}.commands VALUES (%s, %s, %s, %s, %s)"
        self.state = f"SELECT state FROM {name}.agents WHERE agent_id = %s"


def raw_extend(
    db: psycopg.Connection[Any],
    sql: RawStatements,
    agent_id: str,
    state: str,
    deadline: int,
    command_id: str,
    fingerprint: str,
    outcome: str,
    recorded_at: int,
) -> int:
    """Read the version, write the agent and one command row, in one transaction."""
    with db.transaction():
        row = db.execute(sql.version, (agent_id,)).fetchone()
        assert row is not None
        version = int(row[0])
        cursor = db.execute(
            sql.update, (version + 1, state, deadline, agent_id, version)
        )
        if cursor.rowcount != 1:
            raise AssertionError(f"{agent_id} changed under the transaction")
        db.execute(
            sql.insert, (command_id, agent_id, fingerprint, outcome, recorded_at)
        )
    return version + 1


def raw_arguments(
    db: psycopg.Connection[Any],
    sql: RawStatements,
    agent_id: str,
    used: int,
    command_id: str,
) -> tuple[str, str, int, str, str, str, int]:
    """What :func:`raw_extend` writes for the ``used + 1``-th extension: the
    stored state (the size the store would write) and the command row the
    store would write (dated, as the store's is), computed here, outside any
    timing."""
    row = db.execute(sql.state, (agent_id,)).fetchone()
    assert row is not None
    deadline = deadline_after(used + 1)
    chat_id = chat_of(agent_id)
    command = ExtendWrapUp(agent_id, chat_id)
    text = json.dumps(command_to_dict(command), sort_keys=True, separators=(",", ":"))
    event = WrapUpExtended(agent_id, NOW, chat_id, deadline, MAX_EXTENSIONS - used - 1)
    outcome = {
        "agent_id": agent_id,
        "version": VERSION_IN_WRAP_UP + used + 1,
        "events": [event_to_dict(event)],
        "history": [],
    }
    return (
        agent_id,
        str(row[0]),
        instant_to_micros(deadline),
        command_id,
        hashlib.sha256(text.encode()).hexdigest(),
        json.dumps(outcome, separators=(",", ":")),
        instant_to_micros(NOW),
    )


def run_worker(config: dict[str, Any]) -> None:
    """Prepare, print ``ready``, wait for stdin, send the commands, report."""
    schema: str = config["schema"]
    agent_ids: list[str] = config["agents"]
    prefix: str = config["prefix"]
    calls = plan(agent_ids, config["commands"])
    with PostgresStore(dsn(), schema=schema, pool_size=1) as store:
        service = WrapUpService(store, ManualClock(NOW))
        put_in_wrap_up(service, agent_ids)
        if config["mode"] == "service":
            print("ready", flush=True)
            sys.stdin.readline()
            began = time.perf_counter()
            for n, (agent_id, used) in enumerate(calls):
                outcome = service.extend(
                    agent_id, chat_of(agent_id), command_id=f"{prefix}-{n}"
                )
                assert outcome.version == VERSION_IN_WRAP_UP + used + 1
            seconds = time.perf_counter() - began
        else:
            with psycopg.connect(dsn(), autocommit=True) as db:
                sql = RawStatements(schema)
                arguments = [
                    raw_arguments(db, sql, agent_id, used, f"{prefix}-{n}")
                    for n, (agent_id, used) in enumerate(calls)
                ]
                print("ready", flush=True)
                sys.stdin.readline()
                began = time.perf_counter()
                for (_, used), args in zip(calls, arguments, strict=True):
                    version = raw_extend(db, sql, *args)
                    assert version == VERSION_IN_WRAP_UP + used + 1
                seconds = time.perf_counter() - began
    print(json.dumps({"commands": len(calls), "seconds": seconds}), flush=True)


if __name__ == "__main__":
    run_worker(json.loads(sys.argv[1]))
