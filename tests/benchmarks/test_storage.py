"""What a command and a sweep cost once a store is behind the service.

Group ``command``: one wrap-up extension through :class:`WrapUpService`, on
the in-memory store and on the SQLite store (``synchronous`` FULL, the
default, then NORMAL), against a floor: the same transaction written by hand
with :mod:`sqlite3` on the same schema and the same connection settings,
writing the same rows (``raw_sqlite.py``). Every timed call is a real,
successful extension: a pool of agents in wrap-up (10 extensions each, a
countdown of an hour, a clock that does not move) is used round robin and
grown between rounds when it runs out. ``test_command_sqlite_threads_1`` and
``_2`` time 400 extensions (NORMAL) split between one or two threads on one
store, each thread on agents of its own.

Group ``sweep``: ``sweep(limit=1000)`` once, when 1,000 of 10,000 or of
100,000 agents have a wrap-up due; the others are idle or in wrap-up with a
deadline 50 minutes ahead, so only the due index keeps the cost flat. Every
round starts from the same population: a fresh in-memory store, or a copy of
a SQLite file built once per size (the sweep runs with the default
``synchronous`` FULL). On SQLite, ``test_sweep_sqlite_10k`` and ``_100k``
time the sweep as round 2 made it (one transaction per agent, by hand
through the store's API), the baseline of ``test_sweep_sqlite_1000_due``,
the service's sweep on 100,000 agents.

Group ``read``: ``service.view`` of an agent in wrap-up on the SQLite store
while a save of the same store waits inside its write lock for another
connection's: the view is answered on the thread's own read connection,
and the save is still waiting when the last round ends.

``compare.py`` prints the ratios between the medians. Nothing here asserts a
duration: every test checks what the timed calls did, so a wrong result fails
whatever the timings are. With ``--benchmark-disable`` (the default run) each
body runs once, and the 100,000-agent sweeps use 10,000 agents to stay fast.
"""

from __future__ import annotations

import gc
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import attrs
import pytest
import raw_sqlite
from extend_setup import (
    ENDED_AT,
    MAX_EXTENSIONS,
    NOW,
    POLICY,
    QUEUE,
    T0,
    VERSION_IN_WRAP_UP,
    chat_of,
    check_outcome,
    deadline_after,
)

from webchat_wrapup import (
    AgentState,
    AssignChat,
    Chat,
    EndChat,
    EndedBy,
    ExtendWrapUp,
    Phase,
    Status,
    WrapUpCompleted,
    WrapUpEnding,
    decide,
    expire_due,
)
from webchat_wrapup.clocks import ManualClock
from webchat_wrapup.ports import Change
from webchat_wrapup.service import WrapUpService
from webchat_wrapup.stores import MemoryStore, SQLiteStore

# Rounds of the command benchmarks (after the warm-up rounds).
MEMORY_ROUNDS = 5000
SQLITE_ROUNDS = 1000
WARMUP_ROUNDS = 50
THREAD_COMMANDS = 400  # a round's, split evenly among its threads
THREAD_ROUNDS = 15

SWEEP_AT = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
DUE = 1000
MEMORY_SWEEP_ROUNDS = 10
SQLITE_SWEEP_ROUNDS = 7
DISABLED_MAX_AGENTS = 10_000


# The command group.


class _ExtendPool:
    """Agents in wrap-up, each extended at most ``MAX_EXTENSIONS`` times.

    Call ``n`` goes to agent ``n % size`` of the current generation; a new
    generation is put in wrap-up (by ``prepare``, outside the timed call)
    when the last one has used all its extensions.
    """

    def __init__(
        self, prepare: Callable[[str], None], calls: int, prefix: str = "agent"
    ) -> None:
        self._prepare = prepare
        self._prefix = prefix
        self.size = max(1, -(-calls // MAX_EXTENSIONS))
        self.calls = 0
        self.agents: list[str] = []

    def next(self) -> tuple[str, int]:
        """The agent to extend next, and how many extensions it has used."""
        generation, rest = divmod(self.calls, self.size * MAX_EXTENSIONS)
        used, index = divmod(rest, self.size)
        if rest == 0:
            self.agents = [f"{self._prefix}-{generation}-{i}" for i in range(self.size)]
            for agent_id in self.agents:
                self._prepare(agent_id)
        self.calls += 1
        return self.agents[index], used

    def uses_in_generation(self) -> int:
        """How many extensions the current generation has used in all."""
        return (self.calls - 1) % (self.size * MAX_EXTENSIONS) + 1


def _put_in_wrap_up(service: WrapUpService) -> Callable[[str], None]:
    def prepare(agent_id: str) -> None:
        service.add_agent(agent_id)
        service.clock.set(T0)  # type: ignore[attr-defined]
        service.assign(agent_id, chat_of(agent_id), f"customer-{agent_id}", QUEUE)
        service.clock.set(ENDED_AT)  # type: ignore[attr-defined]
        service.end_chat(agent_id, chat_of(agent_id))
        service.clock.set(NOW)  # type: ignore[attr-defined]

    return prepare


def _calls(benchmark: Any, rounds: int) -> int:
    return 1 if benchmark.disabled else rounds + WARMUP_ROUNDS


def _check_pool(service: WrapUpService, pool: _ExtendPool) -> None:
    """Every call made was a successful extension: the stores count them all."""
    used = 0
    for agent_id in pool.agents:
        stored = service.store.load(agent_id)
        assert stored is not None
        (chat,) = stored.state.chats
        assert chat.phase is Phase.WRAP_UP
        assert chat.deadline == deadline_after(chat.extensions_used)
        assert stored.version == VERSION_IN_WRAP_UP + chat.extensions_used
        used += chat.extensions_used
    assert used == pool.uses_in_generation()


def _bench_store_extend(
    benchmark: Any, service: WrapUpService, rounds: int, *, command_ids: bool
) -> None:
    pool = _ExtendPool(_put_in_wrap_up(service), _calls(benchmark, rounds))
    last: dict[str, Any] = {}

    def setup() -> tuple[tuple[str, str], dict[str, str]]:
        agent_id, used = pool.next()
        last.update(agent_id=agent_id, used=used)
        if not command_ids:
            return (agent_id, chat_of(agent_id)), {}
        last["command_id"] = f"command-{pool.calls}"
        return (agent_id, chat_of(agent_id)), {"command_id": last["command_id"]}

    outcome = benchmark.pedantic(
        service.extend, setup=setup, rounds=rounds, warmup_rounds=WARMUP_ROUNDS
    )
    check_outcome(outcome, last["agent_id"], last["used"], chat_of(last["agent_id"]))
    _check_pool(service, pool)
    if command_ids:
        record = service.store.find_command(last["command_id"])
        assert record is not None
        assert record.outcome == outcome


@pytest.mark.benchmark(group="command")
def test_command_memory_store(benchmark) -> None:
    service = WrapUpService(MemoryStore(), ManualClock(NOW))
    _bench_store_extend(benchmark, service, MEMORY_ROUNDS, command_ids=False)


def _sqlite_service(path: Path, synchronous: str) -> Iterator[WrapUpService]:
    store = SQLiteStore(path, synchronous=synchronous)  # type: ignore[arg-type]
    try:
        yield WrapUpService(store, ManualClock(NOW))
    finally:
        store.close()


@pytest.fixture
def sqlite_full(tmp_path: Path) -> Iterator[WrapUpService]:
    yield from _sqlite_service(tmp_path / "wrapup.db", "FULL")


@pytest.fixture
def sqlite_normal(tmp_path: Path) -> Iterator[WrapUpService]:
    yield from _sqlite_service(tmp_path / "wrapup.db", "NORMAL")


@pytest.mark.benchmark(group="command")
def test_command_sqlite_store(benchmark, sqlite_full: WrapUpService) -> None:
    _bench_store_extend(benchmark, sqlite_full, SQLITE_ROUNDS, command_ids=True)


# The floor: the store's write transaction by hand, on the store's own schema
# (raw_sqlite.py). Each FULL or NORMAL pair runs back to back (in the order of
# this file), so that a slow spell of the disk is less likely to fall on one
# of the pair only.


def _bench_raw_extend(benchmark: Any, path: Path, synchronous: str) -> None:
    # The schema and the agents in wrap-up come from the store; the timed
    # transactions go through a connection of our own.
    store = SQLiteStore(path, synchronous=synchronous)  # type: ignore[arg-type]
    service = WrapUpService(store, ManualClock(NOW))
    pool = _ExtendPool(_put_in_wrap_up(service), _calls(benchmark, SQLITE_ROUNDS))
    db = raw_sqlite.connect(path, synchronous)
    last: dict[str, Any] = {}

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        agent_id, used = pool.next()
        stored = store.load(agent_id)  # what the raw floor wrote last
        assert stored is not None
        command = ExtendWrapUp(agent_id, chat_of(agent_id))
        command_id = f"c-{pool.calls}"
        rows, outcome = raw_sqlite.rows_of(stored, command, command_id, NOW)
        check_outcome(outcome, agent_id, used, chat_of(agent_id))
        last.update(agent_id=agent_id, version=outcome.version, rows=rows)
        return (db, rows), {}

    try:
        version = benchmark.pedantic(
            raw_sqlite.extend,
            setup=setup,
            rounds=SQLITE_ROUNDS,
            warmup_rounds=WARMUP_ROUNDS,
        )
        assert version == last["version"]
        _check_pool(service, pool)
        (commands,) = db.execute("SELECT count(*) FROM commands").fetchone()
        assert commands == pool.calls
        rows = last["rows"]
        assert rows.customers == (f"customer-{last['agent_id']}",)
        links = db.execute(
            "SELECT customer_id FROM command_customers WHERE command_id = ?",
            (rows.command_id,),
        ).fetchall()
        assert links == [(customer,) for customer in rows.customers]
        record = store.find_command(rows.command_id)
        assert record is not None
        assert record.agent_id == last["agent_id"]
    finally:
        db.close()
        store.close()


@pytest.mark.benchmark(group="command")
def test_command_raw_sqlite(benchmark, tmp_path: Path) -> None:
    _bench_raw_extend(benchmark, tmp_path / "raw.db", "FULL")


@pytest.mark.benchmark(group="command")
def test_command_sqlite_store_normal(benchmark, sqlite_normal: WrapUpService) -> None:
    _bench_store_extend(benchmark, sqlite_normal, SQLITE_ROUNDS, command_ids=True)


@pytest.mark.benchmark(group="command")
def test_command_raw_sqlite_normal(benchmark, tmp_path: Path) -> None:
    _bench_raw_extend(benchmark, tmp_path / "raw.db", "NORMAL")


# Threads sharing one store: a round is a fixed number of extensions split
# evenly among its threads, each on agents of its own, so two threads that
# get as much done as one take no longer per round.

Plan = list[tuple[str, int, str]]
"""One thread's calls in a round: agent, extensions used before, command id."""


def _extend_all(
    service: WrapUpService, plan: Plan, outcomes: list[Any], failures: list[Any]
) -> None:
    try:
        for agent_id, _, command_id in plan:
            outcomes.append(
                service.extend(agent_id, chat_of(agent_id), command_id=command_id)
            )
    except BaseException as error:  # reported by the main thread
        failures.append(error)


def _in_threads(service: WrapUpService, plans: list[Plan]) -> list[list[Any]]:
    """Each plan run by a thread of its own; their outcomes, plan by plan."""
    outcomes: list[list[Any]] = [[] for _ in plans]
    failures: list[Any] = []
    workers = [
        threading.Thread(target=_extend_all, args=(service, plan, done, failures))
        for plan, done in zip(plans, outcomes, strict=True)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise failures[0]
    return outcomes


def _bench_threads(benchmark: Any, service: WrapUpService, threads: int) -> None:
    commands = 2 * threads if benchmark.disabled else THREAD_COMMANDS
    per_thread = commands // threads
    rounds = 1 if benchmark.disabled else THREAD_ROUNDS + 1  # + the warm-up
    prepare = _put_in_wrap_up(service)
    pools = [
        _ExtendPool(prepare, rounds * per_thread, f"thread-{n}") for n in range(threads)
    ]
    last: list[Plan] = []

    def setup() -> tuple[tuple[WrapUpService, list[Plan]], dict[str, Any]]:
        plans = [
            [(*pool.next(), f"command-{n}-{pool.calls}") for _ in range(per_thread)]
            for n, pool in enumerate(pools)
        ]
        last[:] = plans
        return (service, plans), {}

    outcomes = benchmark.pedantic(
        _in_threads, setup=setup, rounds=THREAD_ROUNDS, warmup_rounds=1
    )
    for plan, done in zip(last, outcomes, strict=True):
        assert len(done) == len(plan)
        for (agent_id, used, _), outcome in zip(plan, done, strict=True):
            check_outcome(outcome, agent_id, used, chat_of(agent_id))
    for pool in pools:
        _check_pool(service, pool)
    benchmark.extra_info.update(threads=threads, commands_per_round=commands)
    if not benchmark.disabled:
        per_second = commands / benchmark.stats.stats.median
        benchmark.extra_info["commands_per_second"] = round(per_second)


@pytest.mark.benchmark(group="command")
def test_command_sqlite_threads_1(benchmark, sqlite_normal: WrapUpService) -> None:
    _bench_threads(benchmark, sqlite_normal, 1)


@pytest.mark.benchmark(group="command")
def test_command_sqlite_threads_2(benchmark, sqlite_normal: WrapUpService) -> None:
    _bench_threads(benchmark, sqlite_normal, 2)


# The sweep group.


class _Population:
    """``size`` agents, ``DUE`` of them (spread evenly) with a wrap-up due at
    ``SWEEP_AT``; of the others, one in two is idle and the rest are in
    wrap-up with a deadline 50 minutes after ``SWEEP_AT``."""

    def __init__(self, size: int) -> None:
        assert size % DUE == 0
        step = size // DUE
        states: list[AgentState] = []
        due: list[int] = []
        later: list[int] = []
        for i in range(size):
            if i % step == 0:
                # Deadlines from 1 s to 1,000 s before the sweep.
                deadline = SWEEP_AT - timedelta(seconds=len(due) + 1)
                states.append(_in_wrap_up(i, deadline - POLICY.countdown))  # type: ignore[operator]
                due.append(i)
            elif i % 2:
                states.append(AgentState.new(_agent(i)))
            else:
                ended = SWEEP_AT - timedelta(minutes=10) + timedelta(microseconds=i)
                states.append(_in_wrap_up(i, ended))
                later.append(i)
        self.size = size
        self.states = tuple(states)
        self.due = tuple(due)
        self.later = tuple(later)


def _agent(i: int) -> str:
    return f"agent-{i:06d}"


def _in_wrap_up(i: int, ended: datetime) -> AgentState:
    """Agent ``i`` once chat ``i``, assigned 5 minutes earlier, ended at ``ended``."""
    chat = Chat(
        f"chat-{i}",
        f"customer-{i}",
        QUEUE,
        Phase.WRAP_UP,
        ended - timedelta(minutes=5),
        ended,
        EndedBy.CUSTOMER,
        ended + POLICY.countdown,  # type: ignore[operator]
    )
    return AgentState(_agent(i), 1, (chat,), Status.WRAP_UP)


def _check_in_wrap_up() -> None:
    """The states built directly are the ones the core makes."""
    ended = SWEEP_AT - timedelta(minutes=10)
    agent_id = _agent(7)
    state = AgentState.new(agent_id)
    assign = AssignChat(agent_id, "chat-7", "customer-7", QUEUE)
    state = decide(state, assign, ended - timedelta(minutes=5)).state
    state = decide(state, EndChat(agent_id, "chat-7"), ended).state
    assert state == _in_wrap_up(7, ended)


@pytest.fixture(scope="module")
def population() -> Callable[[int], _Population]:
    """The population of a size, built once per module."""
    _check_in_wrap_up()
    return cache(_Population)


@pytest.fixture(scope="module")
def sqlite_template(
    tmp_path_factory: pytest.TempPathFactory,
    population: Callable[[int], _Population],
) -> Callable[[int], Path]:
    """A SQLite file holding the population of a size, built once per module."""
    folder = tmp_path_factory.mktemp("sweep")

    @cache
    def build(size: int) -> Path:
        path = folder / f"agents-{size}.db"
        # NORMAL only to build faster; every round opens its copy with FULL.
        with SQLiteStore(path, synchronous="NORMAL") as store:
            for state in population(size).states:
                store.save(Change(state.agent_id, 0, state))
        db = sqlite3.connect(path)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        wal = path.with_name(path.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        return path

    return build


def _sweep_size(benchmark: Any, size: int) -> int:
    return min(size, DISABLED_MAX_AGENTS) if benchmark.disabled else size


def _check_swept(service: WrapUpService, population: _Population) -> None:
    """The due wrap-ups, and only they, expired."""
    for i in population.due:
        stored = service.store.load(_agent(i))
        assert stored is not None
        (expired,) = stored.state.finished
        assert (expired.chat_id, expired.ending) == (f"chat-{i}", WrapUpEnding.EXPIRED)
        assert attrs.evolve(stored.state, finished=()) == AgentState.new(_agent(i))
        assert stored.version == 2
    for i in (population.later[0], population.later[-1]):
        stored = service.store.load(_agent(i))
        assert stored is not None
        assert stored.version == 1
        assert stored.state.chats[0].deadline > SWEEP_AT  # type: ignore[operator]
    first = population.due[0]
    (entry,) = service.history(f"customer-{first}").entries
    assert entry.wrap_up_ended_at == SWEEP_AT - timedelta(seconds=1)
    assert service.sweep(limit=DUE).expired == 0


Sweep = Callable[[WrapUpService], int]
"""A sweep of up to ``DUE`` agents; how many wrap-ups it expired."""


def _service_sweep(service: WrapUpService) -> int:
    return service.sweep(limit=DUE).expired


def _sweep_one_by_one(service: WrapUpService) -> int:
    """The sweep as round 2 made it, by hand through the store's API: each
    claimed agent loaded, its expiries decided and saved in a transaction of
    its own; then the records past their retention pruned."""
    store = service.store
    now = service.clock.now()
    expired = 0
    for agent_id in store.claim_due(now, DUE, service.lease):
        stored = store.load(agent_id)
        assert stored is not None
        decision = expire_due(stored.state, now)
        change = Change(
            agent_id,
            stored.version,
            decision.state,
            decision.history,
            None,
            decision.events,
            now,
        )
        store.save(change)
        expired += sum(isinstance(e, WrapUpCompleted) for e in decision.events)
    store.prune_commands(now - service.command_retention, DUE)
    return expired


def _bench_sweep(
    benchmark: Any,
    population: _Population,
    open_service: Callable[[], WrapUpService],
    close_service: Callable[[WrapUpService], None],
    rounds: int,
    sweep: Sweep = _service_sweep,
) -> None:
    opened: list[WrapUpService] = []

    def setup() -> tuple[tuple[WrapUpService], dict[str, Any]]:
        service = open_service()
        opened.append(service)
        gc.collect()  # Every round starts with the collector in the same state.
        return (service,), {}

    def teardown(service: WrapUpService) -> None:
        try:
            _check_swept(service, population)
        finally:
            close_service(service)

    expired = benchmark.pedantic(
        sweep,
        setup=setup,
        teardown=teardown,
        rounds=rounds,
        warmup_rounds=1,
    )
    assert expired == DUE
    if benchmark.disabled:  # pedantic skips the teardown then
        teardown(opened[-1])
    benchmark.extra_info.update(agents=population.size, due=DUE)


def _bench_memory_sweep(benchmark: Any, population: _Population) -> None:
    def open_service() -> WrapUpService:
        store = MemoryStore()
        for state in population.states:
            store.save(Change(state.agent_id, 0, state))
        return WrapUpService(store, ManualClock(SWEEP_AT))

    _bench_sweep(
        benchmark, population, open_service, lambda _: None, MEMORY_SWEEP_ROUNDS
    )


def _bench_sqlite_sweep(
    benchmark: Any,
    population: _Population,
    template: Path,
    folder: Path,
    sweep: Sweep,
) -> None:
    copies = iter(range(1_000_000))

    def open_service() -> WrapUpService:
        path = folder / f"round-{next(copies)}.db"
        shutil.copy(template, path)
        with path.open("rb+") as copy:  # Not left for writeback in the timed call.
            os.fsync(copy.fileno())
        return WrapUpService(SQLiteStore(path), ManualClock(SWEEP_AT))

    def close_service(service: WrapUpService) -> None:
        store = service.store
        assert isinstance(store, SQLiteStore)
        store.close()
        for suffix in ("", "-wal", "-shm"):
            Path(store.path + suffix).unlink(missing_ok=True)

    _bench_sweep(
        benchmark,
        population,
        open_service,
        close_service,
        SQLITE_SWEEP_ROUNDS,
        sweep,
    )


@pytest.mark.benchmark(group="sweep")
def test_sweep_memory_10k(benchmark, population) -> None:
    _bench_memory_sweep(benchmark, population(_sweep_size(benchmark, 10_000)))


@pytest.mark.benchmark(group="sweep")
def test_sweep_memory_100k(benchmark, population) -> None:
    _bench_memory_sweep(benchmark, population(_sweep_size(benchmark, 100_000)))


# test_sweep_sqlite_10k and _100k keep their round-2 names and work (one
# transaction per agent) as the baseline of test_sweep_sqlite_1000_due, the
# service's sweep, run in the same session.


@pytest.mark.benchmark(group="sweep")
def test_sweep_sqlite_10k(benchmark, population, sqlite_template, tmp_path) -> None:
    size = _sweep_size(benchmark, 10_000)
    _bench_sqlite_sweep(
        benchmark, population(size), sqlite_template(size), tmp_path, _sweep_one_by_one
    )


@pytest.mark.benchmark(group="sweep")
def test_sweep_sqlite_100k(benchmark, population, sqlite_template, tmp_path) -> None:
    size = _sweep_size(benchmark, 100_000)
    _bench_sqlite_sweep(
        benchmark, population(size), sqlite_template(size), tmp_path, _sweep_one_by_one
    )


@pytest.mark.benchmark(group="sweep")
def test_sweep_sqlite_1000_due(
    benchmark, population, sqlite_template, tmp_path
) -> None:
    size = _sweep_size(benchmark, 100_000)
    _bench_sqlite_sweep(
        benchmark, population(size), sqlite_template(size), tmp_path, _service_sweep
    )


# The read group.


@pytest.mark.benchmark(group="read")
def test_view_while_a_save_waits_sqlite(benchmark, tmp_path: Path) -> None:
    path = tmp_path / "wrapup.db"
    store = SQLiteStore(path, busy_timeout=600)
    service = WrapUpService(store, ManualClock(NOW))
    pool = _ExtendPool(_put_in_wrap_up(service), 1)
    agent_id, _ = pool.next()
    holder = raw_sqlite.connect(path, "FULL")  # another process, writing
    holder.execute("BEGIN IMMEDIATE")
    saving = threading.Thread(target=service.extend, args=(agent_id, chat_of(agent_id)))
    try:
        saving.start()
        while not store._lock.locked():  # the save is inside, waiting
            saving.join(0.001)
        view = benchmark.pedantic(
            service.view,
            args=(agent_id,),
            rounds=SQLITE_ROUNDS,
            warmup_rounds=WARMUP_ROUNDS,
        )
        assert saving.is_alive()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        saving.join()
        store.close()
    (chat,) = view.chats
    assert chat.chat_id == chat_of(agent_id)
    # The waiting save's extension is not seen; it was saved after the holder.
    assert chat.deadline == deadline_after(0)
    with SQLiteStore(path) as reopened:
        stored = reopened.load(agent_id)
    assert stored is not None
    assert stored.state.chats[0].deadline == deadline_after(1)
