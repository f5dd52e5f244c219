"""Memory budget: what one idle agent's state costs to keep in memory."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from webchat_wrapup import AgentState, Status

AGENTS = 10_000
BUDGET_BYTES = 300


def _bytes_per_idle_agent() -> float:
    """Traced bytes per ``AgentState.new`` kept in a list, agent id included."""
    AgentState.new("agent-warm-up")  # Anything created lazily, before tracing.
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        agents = [AgentState.new(f"agent-{i}") for i in range(AGENTS)]
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(agents) == AGENTS
    assert agents[-1].agent_id == f"agent-{AGENTS - 1}"
    assert all(agent.chats == () for agent in agents)
    assert all(agent.status is Status.AVAILABLE for agent in agents)
    return (after - before) / AGENTS


@pytest.mark.benchmark(group="memory")
def test_bytes_per_idle_agent(benchmark) -> None:
    per_agent = benchmark.pedantic(_bytes_per_idle_agent, rounds=1, iterations=1)
    benchmark.extra_info["bytes_per_idle_agent"] = per_agent
    print(f"\nbytes per idle agent: {per_agent:.1f} (budget {BUDGET_BYTES})")
    assert 0 < per_agent <= BUDGET_BYTES
