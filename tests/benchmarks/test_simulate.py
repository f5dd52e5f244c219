"""Benchmark (groups ``simulate``, ``simulate-scale``): simulated days.

An 8-hour day for 100 agents, and a 2-hour day for 20 and for 500 agents
with traffic scaled to match.

Runs the real simulation through the service on SQLite (synchronous NORMAL,
as ``webchat-wrapup simulate`` uses) and on the in-memory store, and records
the wall time, the chats per second and the share of the time spent inside
the store. ``test_simulate_100_agents_4h`` is there to show that the cost
grows linearly with the number of chats.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from webchat_wrapup.clocks import ManualClock
from webchat_wrapup.service import WrapUpService
from webchat_wrapup.stores import MemoryStore, SQLiteStore
from webchat_wrapup.tools.policy_file import PolicyFile, load_policy_file
from webchat_wrapup.tools.runs import EPOCH
from webchat_wrapup.tools.simulation import (
    Results,
    Simulation,
    SimulationSettings,
    draw_traffic,
)

POLICY = Path(__file__).resolve().parents[2] / "examples" / "policy.toml"
STORE_METHODS = ("load", "save", "find_command", "claim_due", "history")


class TimedStore:
    """Forwards to a store and adds up the time spent in it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name not in STORE_METHODS:
            return method

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


def day(agents: int, hours: float) -> SimulationSettings:
    scale = agents / 20
    return SimulationSettings(
        agents=agents,
        hours=hours,
        seed=1,
        arrivals_per_hour={"sales": 80 * scale, "support": 120 * scale},
        classify_seconds=40,
    )


def simulate(
    policies: PolicyFile, settings: SimulationSettings, make_store: Callable[[], Any]
) -> tuple[Results, float, float]:
    customers = draw_traffic(settings, sorted(policies.queues))
    store = TimedStore(make_store())
    service = WrapUpService(store, ManualClock(EPOCH))  # type: ignore[arg-type]
    started = time.perf_counter()
    results = Simulation(service, policies, settings, run="bench").run_day(customers)
    elapsed = time.perf_counter() - started
    close = getattr(store.inner, "close", None)
    if close is not None:
        close()
    return results, elapsed, store.seconds


def run_benchmark(
    benchmark: Any, tmp_path: Path, store: str, hours: float, agents: int = 100
) -> None:
    policies = load_policy_file(POLICY)
    agents = min(agents, 10) if benchmark.disabled else agents
    settings = day(agents, 0.5 if benchmark.disabled else hours)
    runs: list[tuple[Results, float, float]] = []
    counter = iter(range(1000))

    def make_store() -> Any:
        if store == "memory":
            return MemoryStore()
        return SQLiteStore(tmp_path / f"day-{next(counter)}.db", synchronous="NORMAL")

    def once() -> None:
        runs.append(simulate(policies, settings, make_store))

    benchmark.pedantic(once, rounds=1 if benchmark.disabled else 2, iterations=1)
    results, elapsed, in_store = min(runs, key=lambda run: run[1])
    assert results.answered + results.abandoned == results.offered
    assert results.history_entries == results.answered > 0
    benchmark.extra_info.update(
        chats=results.answered,
        seconds=round(elapsed, 3),
        chats_per_second=round(results.answered / elapsed, 1),
        store_share=round(in_store / elapsed, 3),
    )


@pytest.mark.parametrize("store", ["sqlite", "memory"])
def test_simulate_100_agents_8h(benchmark: Any, tmp_path: Path, store: str) -> None:
    benchmark.group = "simulate"
    run_benchmark(benchmark, tmp_path, store, hours=8)


@pytest.mark.parametrize("store", ["sqlite", "memory"])
def test_simulate_100_agents_4h(benchmark: Any, tmp_path: Path, store: str) -> None:
    benchmark.group = "simulate"
    run_benchmark(benchmark, tmp_path, store, hours=4)


# Dispatch must not scan every agent: chats per second with 500 agents (and
# 25 times the traffic) stays close to that with 20 (compare.py's target).


def test_simulate_20_agents_memory(benchmark: Any, tmp_path: Path) -> None:
    benchmark.group = "simulate-scale"
    run_benchmark(benchmark, tmp_path, "memory", hours=2, agents=20)


def test_simulate_500_agents_memory(benchmark: Any, tmp_path: Path) -> None:
    benchmark.group = "simulate-scale"
    run_benchmark(benchmark, tmp_path, "memory", hours=2, agents=500)
