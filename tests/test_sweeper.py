"""The sweeper loop and the observer hooks."""

from __future__ import annotations

import threading

import pytest

from support import T0, at, queue
from webchat_wrapup import (
    CommandRefused,
    ErrorCode,
    InvalidInput,
    ManualClock,
    MemoryStore,
    WrapUpService,
)
from webchat_wrapup.observers import CountingObserver
from webchat_wrapup.ports import SweepResult
from webchat_wrapup.sweeper import SweeperTotals, run_sweeper


def _due(service: WrapUpService, clock: ManualClock, agents: int) -> None:
    for number in range(agents):
        agent_id = f"agent-{number}"
        service.add_agent(agent_id)
        service.assign(agent_id, f"chat-{number}", "cust-1", queue())
        service.end_chat(agent_id, f"chat-{number}")
    clock.set(at(61))


def test_a_backlog_drains_in_full_batches_without_waiting_between_them() -> None:
    clock = ManualClock(T0)
    service = WrapUpService(MemoryStore(), clock)
    _due(service, clock, 25)
    stop = threading.Event()
    seen: list[SweepResult] = []

    def on_sweep(result: SweepResult) -> None:
        seen.append(result)
        if result.claimed < 10:
            stop.set()  # drained: end the loop instead of waiting

    totals = run_sweeper(service, stop, interval=3600, limit=10, on_sweep=on_sweep)
    assert [result.claimed for result in seen] == [10, 10, 5]
    assert totals == SweeperTotals(sweeps=3, expired=25, failures=0, pruned=0)


def test_a_stopped_sweeper_returns_promptly_from_its_wait() -> None:
    service = WrapUpService(MemoryStore(), ManualClock(T0))
    stop = threading.Event()
    swept = threading.Event()
    thread = threading.Thread(
        target=run_sweeper,
        args=(service, stop),
        kwargs={"interval": 3600, "on_sweep": lambda _: swept.set()},
    )
    thread.start()
    assert swept.wait(5)  # in its hour-long wait now
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


@pytest.mark.parametrize("interval", [0, -1, True, "1", 3601])
def test_a_sweeper_refuses_an_interval_that_could_never_work(interval: object) -> None:
    service = WrapUpService(MemoryStore(), ManualClock(T0))
    with pytest.raises(InvalidInput) as caught:
        run_sweeper(service, threading.Event(), interval=interval)  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.INVALID_LIMIT


def test_the_observer_counts_commands_refusals_replays_and_sweeps() -> None:
    clock = ManualClock(T0)
    observer = CountingObserver()
    service = WrapUpService(MemoryStore(), clock, observer=observer)
    service.add_agent("agent-1")
    service.assign("agent-1", "chat-1", "cust-1", queue(), command_id="a-1")
    service.assign("agent-1", "chat-1", "cust-1", queue(), command_id="a-1")
    with pytest.raises(CommandRefused):
        service.extend("agent-1", "chat-1")
    service.end_chat("agent-1", "chat-1")
    clock.set(at(61))
    service.sweep()
    counts = observer.snapshot()
    assert counts["commands"] == {
        "assign_chat": 2,
        "extend_wrap_up": 1,
        "end_chat": 1,
    }
    assert counts["refusals"] == {"not_allowed_in_phase": 1}
    assert counts["replays"] == 1
    assert (counts["sweeps"], counts["expiries"]) == (1, 1)
    assert counts["command_seconds"] > 0
