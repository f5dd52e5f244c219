"""What a command costs on PostgreSQL, and how many a second several servers send.

Group ``command``: one wrap-up extension through :class:`WrapUpService` on
:class:`PostgresStore` with a command id, so its transaction updates the
agent's row and inserts one command row; against a floor: the same
transaction written by hand with psycopg on the same server and schema (an
autocommit connection; ``SELECT version``, ``UPDATE`` the agent's row with
state text of the same size, ``INSERT`` one dated command row, commit). Every
timed call is a real, successful extension: enough agents in wrap-up (10
extensions each, a countdown of an hour, a clock that does not move) are
prepared beforehand and used round robin; each holds a chat of its own
(one chat, one holder). Target: the store's median at
most 1.3 times the floor's.

Group ``throughput``: a fixed number of extensions split across 1, 4 and 8
worker processes (``postgres_load.py``), each on its own agents, through the
service and by hand; ``extra_info["commands_per_second"]`` is the number of
commands over the round's median wall time, from the go signal to the last
worker's report.

Nothing here asserts a duration: every test checks what the timed calls
wrote. With ``--benchmark-disable`` (the default run) each body runs once,
with a few commands. Needs a server: set WEBCHAT_WRAPUP_POSTGRES_DSN
(``.ci/run`` starts a throwaway one); without it the tests skip locally and
fail in CI (``CI=true``). Each test uses a fresh schema and drops it.
"""

from __future__ import annotations

import json
import select
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import postgres_dsn

DSN = postgres_dsn()

psycopg = pytest.importorskip("psycopg")

import postgres_load  # noqa: E402
from extend_setup import NOW, VERSION_IN_WRAP_UP, chat_of, check_outcome  # noqa: E402
from postgres_load import (  # noqa: E402
    RawStatements,
    agents_for,
    plan,
    put_in_wrap_up,
    raw_arguments,
    raw_extend,
)

from webchat_wrapup.clocks import ManualClock  # noqa: E402
from webchat_wrapup.service import WrapUpService  # noqa: E402
from webchat_wrapup.stores.postgres import PostgresStore  # noqa: E402

COMMAND_ROUNDS = 1000
WARMUP_ROUNDS = 50

THROUGHPUT_COMMANDS = 1600  # Split evenly across 1, 4 or 8 workers.
THROUGHPUT_ROUNDS = 3
DISABLED_THROUGHPUT_COMMANDS = 40
READY_SECONDS = 120.0


@pytest.fixture
def schema() -> Iterator[str]:
    """A fresh schema's name; the schema is dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(DSN, autocommit=True) as db:
        db.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _count(db: Any, query: str, *args: object) -> int:
    row = db.execute(query, args).fetchone()
    return int(row[0] or 0)


def _check_written(schema: str, agent_ids: list[str], calls: int, prefix: str) -> None:
    """``calls`` extensions, one per command row ``prefix-…``, were written."""
    with psycopg.connect(DSN, autocommit=True) as db:
        versions = _count(
            db,
            f'SELECT SUM(version) FROM "{schema}".agents WHERE agent_id = ANY(%s)',
            agent_ids,
        )
        commands = _count(
            db,
            f'SELECT COUNT(*) FROM "{schema}".commands WHERE command_id LIKE %s',
            f"{prefix}-%",
        )
    assert versions - VERSION_IN_WRAP_UP * len(agent_ids) == calls
    assert commands == calls


# The command group.


def _command_plan(benchmark: Any) -> tuple[int, list[str], list[tuple[str, int]]]:
    """Rounds, the agents to prepare and (agent, uses before) for every call."""
    rounds = 1 if benchmark.disabled else COMMAND_ROUNDS
    calls = rounds if benchmark.disabled else rounds + WARMUP_ROUNDS
    agent_ids = agents_for(calls, "agent")
    return rounds, agent_ids, plan(agent_ids, calls)


@pytest.mark.benchmark(group="command")
def test_command_postgres_store(benchmark, schema: str) -> None:
    rounds, agent_ids, calls = _command_plan(benchmark)
    with PostgresStore(DSN, schema=schema, pool_size=1) as store:
        service = WrapUpService(store, ManualClock(NOW))
        put_in_wrap_up(service, agent_ids)
        made = iter(enumerate(calls))
        last: dict[str, Any] = {}

        def setup() -> tuple[tuple[str, str], dict[str, str]]:
            n, (agent_id, used) = next(made)
            last.update(agent_id=agent_id, used=used, command_id=f"command-{n}")
            return (agent_id, chat_of(agent_id)), {"command_id": last["command_id"]}

        outcome = benchmark.pedantic(
            service.extend, setup=setup, rounds=rounds, warmup_rounds=WARMUP_ROUNDS
        )
        assert next(made, None) is None  # Every planned call was made.
        check_outcome(
            outcome, last["agent_id"], last["used"], chat_of(last["agent_id"])
        )
        record = store.find_command(last["command_id"])
        assert record is not None
        assert record.outcome == outcome
        stored = store.load(last["agent_id"])
        assert stored is not None
        (chat,) = stored.state.chats
        assert chat.extensions_used == last["used"] + 1
    _check_written(schema, agent_ids, len(calls), "command")


@pytest.mark.benchmark(group="command")
def test_command_raw_postgres(benchmark, schema: str) -> None:
    # The schema and the agents in wrap-up come from the store; the timed
    # transactions go through a connection of our own.
    rounds, agent_ids, calls = _command_plan(benchmark)
    with PostgresStore(DSN, schema=schema, pool_size=1) as store:
        put_in_wrap_up(WrapUpService(store, ManualClock(NOW)), agent_ids)
    sql = RawStatements(schema)
    made = iter(enumerate(calls))
    last: dict[str, Any] = {}
    with psycopg.connect(DSN, autocommit=True) as db:

        def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
            n, (agent_id, used) = next(made)
            last.update(version=VERSION_IN_WRAP_UP + used + 1)
            return (db, sql, *raw_arguments(db, sql, agent_id, used, f"raw-{n}")), {}

        version = benchmark.pedantic(
            raw_extend, setup=setup, rounds=rounds, warmup_rounds=WARMUP_ROUNDS
        )
    assert next(made, None) is None
    assert version == last["version"]
    _check_written(schema, agent_ids, len(calls), "raw")


# The throughput group.


class _Workers:
    """Worker processes of one round, started and prepared, waiting to go."""

    def __init__(
        self,
        folder: Path,
        schema: str,
        mode: str,
        workers: int,
        commands: int,
        tag: str,
    ) -> None:
        self.folder = folder
        self.processes: list[subprocess.Popen[bytes]] = []
        self.agents: list[str] = []
        self.tag = tag
        each = commands // workers
        assert each * workers == commands
        try:
            for number in range(workers):
                agent_ids = agents_for(each, f"{tag}-w{number}")
                self.agents += agent_ids
                config = {
                    "schema": schema,
                    "mode": mode,
                    "agents": agent_ids,
                    "commands": each,
                    "prefix": f"{tag}-w{number}",
                }
                self.processes.append(self._start(config, f"{tag}-w{number}"))
            for process in self.processes:
                line = self._line(process, READY_SECONDS)
                assert line == "ready", f"a worker said {line!r}:\n{self.stderr()}"
        except BaseException:
            self.stop()
            raise

    def _start(self, config: dict[str, Any], name: str) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.stderr").open("wb") as stderr:
            return subprocess.Popen(
                [sys.executable, postgres_load.__file__, json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )

    def _line(self, process: subprocess.Popen[bytes], timeout: float) -> str:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        return process.stdout.readline().decode().strip() if ready else ""

    def stderr(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-2000:]
            for path in sorted(self.folder.glob("*.stderr"))
        )

    def go(self) -> int:
        """Start every worker at once; the commands sent, once all have reported."""
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            process.stdin.flush()
        sent = 0
        for process in self.processes:
            line = self._line(process, READY_SECONDS)
            assert line, f"a worker did not report:\n{self.stderr()}"
            sent += int(json.loads(line)["commands"])
        return sent

    def stop(self) -> None:
        """Reap every worker; each must have exited cleanly."""
        codes = []
        for process in self.processes:
            try:
                codes.append(process.wait(timeout=30))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait(timeout=30))
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
        assert codes == [0] * len(codes), f"exit codes {codes}:\n{self.stderr()}"


def _bench_throughput(
    benchmark: Any, schema: str, folder: Path, mode: str, workers: int
) -> None:
    commands = (
        DISABLED_THROUGHPUT_COMMANDS if benchmark.disabled else THROUGHPUT_COMMANDS
    )
    rounds = 1 if benchmark.disabled else THROUGHPUT_ROUNDS
    with PostgresStore(DSN, schema=schema, pool_size=1):
        pass  # Create the schema once, before the workers open it.
    numbers = iter(range(rounds))
    durations: list[float] = []
    opened: list[_Workers] = []

    def setup() -> tuple[tuple[_Workers], dict[str, Any]]:
        tag = f"r{next(numbers)}"
        opened.append(_Workers(folder, schema, mode, workers, commands, tag))
        return (opened[-1],), {}

    def timed(group: _Workers) -> int:
        began = time.perf_counter()
        sent = group.go()
        durations.append(time.perf_counter() - began)
        return sent

    def teardown(group: _Workers) -> None:
        group.stop()
        _check_written(schema, group.agents, commands, group.tag)

    sent = benchmark.pedantic(timed, setup=setup, teardown=teardown, rounds=rounds)
    if benchmark.disabled:  # pedantic skips the teardown then
        teardown(opened[-1])
    assert sent == commands
    assert len(durations) == rounds
    per_second = commands / statistics.median(durations)
    benchmark.extra_info.update(
        commands=commands,
        workers=workers,
        mode=mode,
        commands_per_second=round(per_second, 1),
    )
    print(f"\n{mode} x{workers}: {per_second:.0f} commands/s")


@pytest.mark.benchmark(group="throughput")
def test_throughput_postgres_1(benchmark, schema: str, tmp_path: Path) -> None:
    _bench_throughput(benchmark, schema, tmp_path, "service", 1)


@pytest.mark.benchmark(group="throughput")
def test_throughput_postgres_4(benchmark, schema: str, tmp_path: Path) -> None:
    _bench_throughput(benchmark, schema, tmp_path, "service", 4)


@pytest.mark.benchmark(group="throughput")
def test_throughput_postgres_8(benchmark, schema: str, tmp_path: Path) -> None:
    _bench_throughput(benchmark, schema, tmp_path, "service", 8)


@pytest.mark.benchmark(group="throughput")
def test_throughput_raw_postgres_1(benchmark, schema: str, tmp_path: Path) -> None:
    _bench_throughput(benchmark, schema, tmp_path, "raw", 1)


@pytest.mark.benchmark(group="throughput")
def test_throughput_raw_postgres_4(benchmark, schema: str, tmp_path: Path) -> None:
    _bench_throughput(benchmark, schema, tmp_path, "raw", 4)


@pytest.mark.benchmark(group="throughput")
def test_throughput_raw_postgres_8(benchmark, schema: str, tmp_path: Path) -> None:
    _bench_throughput(benchmark, schema, tmp_path, "raw", 8)
