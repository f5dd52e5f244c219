"""The simulation: every customer accounted for, and the same day twice."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webchat_wrapup import InvalidPolicy
from webchat_wrapup.clocks import ManualClock
from webchat_wrapup.service import WrapUpService
from webchat_wrapup.stores import MemoryStore
from webchat_wrapup.tools.policy_file import parse_policy_file
from webchat_wrapup.tools.runs import EPOCH
from webchat_wrapup.tools.simulation import (
    Customer,
    Simulation,
    SimulationSettings,
    draw_traffic,
    settings_from,
)

POLICIES = {
    "defaults": {
        "classification": "dropdown",
        "options": [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}],
        "on_expiry": "apply_default",
        "timeout_default": "a",
    },
    "queues": {"sales": {"capacity": 2}, "support": {"max_extensions": 0}},
}


def simulate(policy: dict[str, object], day: SimulationSettings) -> object:
    policies = parse_policy_file(policy)
    customers = draw_traffic(day, sorted(policies.queues))
    service = WrapUpService(MemoryStore(), ManualClock(EPOCH))
    results = Simulation(service, policies, day, run="t").run_day(customers)
    return results, customers, service


@settings(max_examples=15, deadline=None)
@given(
    agents=st.integers(1, 6),
    seed=st.integers(0, 10**6),
    forget=st.sampled_from([0.0, 0.5, 1.0]),
    extend=st.sampled_from([0.0, 0.5, 1.0]),
    countdown=st.sampled_from([10, 60, False]),
)
def test_every_customer_is_answered_or_abandons_and_every_chat_ends(
    agents: int, seed: int, forget: float, extend: float, countdown: object
) -> None:
    policy = {
        **POLICIES,
        "defaults": {**POLICIES["defaults"], "countdown_seconds": countdown},
    }  # type: ignore[dict-item]
    day = SimulationSettings(
        agents=agents,
        hours=0.5,
        seed=seed,
        arrivals_per_hour={"sales": 40, "support": 30},
        forget_share=forget,
        extend_share=extend,
    )
    results, customers, service = simulate(policy, day)  # type: ignore[misc]
    assert results.offered == len(customers)
    assert results.answered + results.abandoned == results.offered
    history = list(service.store.all_history())
    assert results.history_entries == results.answered == len(history)
    expired = [e for e in history if e.ending.value.startswith("expired")]
    assert results.expired == len(expired)
    assert 0 <= results.service_level <= 1
    assert 0 <= results.wrap_up_share <= results.occupancy <= 1


def test_the_same_seed_gives_the_same_day() -> None:
    day = SimulationSettings(agents=3, hours=1, arrivals_per_hour={"sales": 50})
    first, _, _ = simulate(POLICIES, day)  # type: ignore[misc]
    second, _, _ = simulate(POLICIES, day)  # type: ignore[misc]
    assert first == second


def test_two_policies_see_exactly_the_same_customers() -> None:
    day = SimulationSettings(
        agents=2, hours=1, arrivals_per_hour={"sales": 50, "support": 5}
    )
    short = {**POLICIES, "defaults": {**POLICIES["defaults"], "countdown_seconds": 5}}
    first, customers, _ = simulate(POLICIES, day)  # type: ignore[misc]
    second, _, _ = simulate(short, day)  # type: ignore[misc]
    assert first.offered == second.offered == len(customers)
    assert first != second


def test_an_extended_wrap_up_expires_at_its_new_deadline() -> None:
    # One agent; a 10 s wrap-up extended once by 10 s; the agent forgets to
    # complete. The next customer, arriving well after, must be answered.
    policies = parse_policy_file(
        {"queues": {"q": {"countdown_seconds": 10, "extension_seconds": 10}}}
    )
    day = SimulationSettings(agents=1, hours=1, patience_seconds=30)
    first = Customer(1, "q", 0.0, 20.0, 30.0, True, 8.0, True, True, False, 0.1)
    second = attrs.evolve(first, number=2, arrives=100.0, extends=False)
    service = WrapUpService(MemoryStore(), ManualClock(EPOCH))
    simulation = Simulation(service, policies, day, run="t")
    simulation._on_end = _extend_then_forget(simulation)  # type: ignore[method-assign]
    results = simulation.run_day([first, second])
    assert (results.answered, results.abandoned, results.expired) == (2, 0, 2)
    entries = sorted(service.store.all_history(), key=lambda e: e.chat_id)
    first_entry = entries[0]
    assert first_entry.extensions_used == 1
    wrap_up = first_entry.wrap_up_ended_at - first_entry.wrap_up_started_at
    assert wrap_up.total_seconds() == 20
    # 20 s of wrap-up for the first chat, 10 s for the second, over the
    # one-hour day (everything drained at 130 s, well within it).
    assert results.wrap_up_share == pytest.approx(30 / 3600)


def _extend_then_forget(simulation: Simulation) -> Any:
    original = simulation._on_end

    def on_end(chat_id: str) -> None:
        customer = simulation._chats[chat_id][0]
        original(chat_id)
        if customer.extends:
            simulation._at(simulation._now + 5, simulation._on_extend, chat_id)

    return on_end


def test_customers_who_never_abandon_leave_occupancy_sensible() -> None:
    # Their abandonments are scheduled a thousand days on, long after every
    # chat was answered: they must not stretch the measured day.
    day = SimulationSettings(
        agents=2, hours=1, patience_seconds=100_000_000, arrivals_per_hour={"sales": 40}
    )
    results, _, _ = simulate(POLICIES, day)  # type: ignore[misc]
    assert results.abandoned == 0
    assert 0.5 < results.occupancy <= 1
    assert 0 < results.wrap_up_share < results.occupancy


def test_the_day_is_measured_until_the_last_chat_drains() -> None:
    # One customer, arriving just before the day ends: the agent's chat and
    # wrap-up run past the end of the day and count in full.
    policies = parse_policy_file({"queues": {"q": {"countdown_seconds": 10}}})
    day = SimulationSettings(agents=1, hours=1, patience_seconds=30)
    late = Customer(1, "q", 3590.0, 50.0, 30.0, True, 5.0, False, True, False, 0.1)
    service = WrapUpService(MemoryStore(), ManualClock(EPOCH))
    results = Simulation(service, policies, day, run="t").run_day([late])
    # 50 s of chat then 10 s of wrap-up, over the hour plus 50 s of drain.
    assert results.occupancy == pytest.approx(60 / 3650)
    assert results.wrap_up_share == pytest.approx(10 / 3650)


def test_more_wrap_up_time_means_more_time_in_wrap_up() -> None:
    day = SimulationSettings(
        agents=4, hours=2, forget_share=1.0, arrivals_per_hour={"sales": 30}
    )
    short = {**POLICIES, "defaults": {**POLICIES["defaults"], "countdown_seconds": 10}}
    long = {**POLICIES, "defaults": {**POLICIES["defaults"], "countdown_seconds": 300}}
    quick, _, _ = simulate(short, day)  # type: ignore[misc]
    slow, _, _ = simulate(long, day)  # type: ignore[misc]
    assert slow.wrap_up_share > quick.wrap_up_share


def test_settings_come_from_the_section_then_the_flags() -> None:
    settings = settings_from(
        {"agents": 5, "arrivals": {"sales": 10}}, {"agents": 7}, ["sales", "support"]
    )
    assert settings.agents == 7
    assert settings.arrivals_per_hour == {"sales": 10, "support": 60.0}


@pytest.mark.parametrize(
    ("section", "setting"),
    [
        ({"agents": 0}, "agents"),
        ({"agents": 2.5}, "agents"),
        ({"forget_share": 1.5}, "forget_share"),
        ({"chat_length": "normal"}, "chat_length"),
        ({"arrivals": {"vip": 3}}, "simulation.arrivals.vip"),
        ({"arrivals": {"sales": -3}}, "arrivals.sales"),
        ({"speed": 3}, "simulation.speed"),
    ],
)
def test_bad_simulation_settings_are_refused(
    section: dict[str, object], setting: str
) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        settings_from(section, {}, ["sales"])
    assert caught.value.setting == setting
