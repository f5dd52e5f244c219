"""The simulation: every customer accounted for, and the same day twice."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webchat_wrapup import InvalidPolicy
from webchat_wrapup.clocks import ManualClock
from webchat_wrapup.policy_file import parse_policy_file
from webchat_wrapup.service import WrapUpService
from webchat_wrapup.simulation import (
    START,
    Simulation,
    SimulationSettings,
    draw_traffic,
    settings_from,
)
from webchat_wrapup.stores import MemoryStore

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
    service = WrapUpService(MemoryStore(), ManualClock(START))
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
    results, customers, _ = simulate(policy, day)  # type: ignore[misc]
    assert results.offered == len(customers)
    assert results.answered + results.abandoned == results.offered
    assert results.history_entries == results.answered
    assert 0 <= results.service_level <= 1
    assert 0 <= results.wrap_up_share <= results.occupancy <= 1


def test_the_same_seed_gives_the_same_day() -> None:
    day = SimulationSettings(agents=3, hours=1, arrivals_per_hour={"sales": 50})
    first, _, _ = simulate(POLICIES, day)  # type: ignore[misc]
    second, _, _ = simulate(POLICIES, day)  # type: ignore[misc]
    assert first == second


def test_traffic_does_not_depend_on_the_policy() -> None:
    day = SimulationSettings(hours=1, arrivals_per_hour={"sales": 50, "support": 5})
    assert draw_traffic(day, ["sales", "support"]) == draw_traffic(
        day, ["sales", "support"]
    )


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
