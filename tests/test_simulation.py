"""The simulation: every customer accounted for, and the same day twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webchat_wrapup import (
    ChatAssigned,
    EndedBy,
    Event,
    InvalidPolicy,
    NextPresenceChosen,
    Presence,
    PresenceChanged,
    WrapUpCompleted,
)
from webchat_wrapup.clocks import ManualClock
from webchat_wrapup.service import WrapUpService
from webchat_wrapup.stores import MemoryStore
from webchat_wrapup.tools.policy_file import parse_policy_file
from webchat_wrapup.tools.runs import EPOCH
from webchat_wrapup.tools.simulation import (
    Customer,
    Results,
    Simulation,
    SimulationSettings,
    break_starts,
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
    pause=st.sampled_from([0.0, 0.5, 1.0]),
    pause_limit=st.sampled_from([5, False]),
    breaks=st.integers(0, 2),
    transfer=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_every_customer_is_answered_or_abandons_and_every_chat_ends(
    agents: int,
    seed: int,
    forget: float,
    extend: float,
    countdown: object,
    pause: float,
    pause_limit: object,
    breaks: int,
    transfer: float,
) -> None:
    wrap_up = {"countdown_seconds": countdown, "max_paused_seconds": pause_limit}
    policy = {**POLICIES, "defaults": {**POLICIES["defaults"], **wrap_up}}
    day = SimulationSettings(
        agents=agents,
        hours=0.5,
        seed=seed,
        arrivals_per_hour={"sales": 40, "support": 30},
        forget_share=forget,
        extend_share=extend,
        pause_share=pause,
        breaks=breaks,
        break_minutes=5,
        transfer_share=transfer,
    )
    results, customers, service = simulate(policy, day)  # type: ignore[misc]
    assert results.offered == len(customers)
    assert results.answered + results.abandoned == results.offered
    history = list(service.store.all_history())
    assert results.history_entries == results.legs == len(history)
    assert results.legs == results.answered + results.transfers
    expired = [e for e in history if e.ending.value.startswith("expired")]
    assert results.expired == len(expired)
    assert 0 <= results.service_level <= 1
    assert 0 <= results.wrap_up_share <= results.occupancy <= 1
    assert results.pauses == sum(e.pause_count for e in history)
    assert results.paused_seconds == pytest.approx(
        sum(e.paused_seconds for e in history)
    )
    assert results.breaks <= agents * breaks
    assert 0 <= results.break_share < 1


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

    def on_end(held: tuple[str, str]) -> None:
        customer = simulation._chats[held].customer
        original(held)
        if customer.extends:
            simulation._at(simulation._now + 5, simulation._on_extend, held)

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
        ({"pause_share": 1.5}, "pause_share"),
        ({"pause_seconds": 0}, "pause_seconds"),
        ({"breaks": -1}, "breaks"),
        ({"breaks": 1.5}, "breaks"),
        ({"breaks": 4, "hours": 1, "break_minutes": 15}, "break_minutes"),
        ({"transfer_share": 1.5}, "transfer_share"),
        ({"transfer_share": "some"}, "transfer_share"),
        ({"transfer_after": 0}, "transfer_after"),
        ({"transfer_after": 1}, "transfer_after"),
    ],
)
def test_bad_simulation_settings_are_refused(
    section: dict[str, object], setting: str
) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        settings_from(section, {}, ["sales"])
    assert caught.value.setting == setting


# Pauses and breaks.

BUSY_DAY = SimulationSettings(
    agents=4, hours=2, arrivals_per_hour={"sales": 30, "support": 20}
)


def without_pauses(customers: list[Customer]) -> list[Customer]:
    return [attrs.evolve(c, pauses=False, pause_seconds=0.0) for c in customers]


def test_a_day_without_pauses_or_breaks_is_the_day_it_was_before_them() -> None:
    # The figures this day gave before pauses and breaks existed.
    results, customers, _ = simulate(POLICIES, BUSY_DAY)  # type: ignore[misc]
    assert not any(customer.pauses for customer in customers)
    assert (results.offered, results.answered, results.abandoned) == (93, 85, 8)
    assert results.service_level == pytest.approx(0.8064516129032258)
    assert results.occupancy == pytest.approx(0.6150348714814158)
    assert (results.pauses, results.breaks, results.break_share) == (0, 0, 0)


def test_breaks_lower_the_service_level_on_the_same_traffic() -> None:
    on_breaks = attrs.evolve(BUSY_DAY, breaks=2, break_minutes=20)
    plain, customers, _ = simulate(POLICIES, BUSY_DAY)  # type: ignore[misc]
    away, same_customers, _ = simulate(POLICIES, on_breaks)  # type: ignore[misc]
    assert same_customers == customers
    assert away.breaks == 4 * 2
    # 8 breaks of 20 minutes over 4 agents' 2 hours, or a little less when
    # the day is measured on while the last chats drain.
    assert 0.25 < away.break_share <= 1 / 3
    assert away.service_level < plain.service_level
    assert away.average_speed_of_answer > plain.average_speed_of_answer
    assert away.abandoned > plain.abandoned


def test_pausing_lengthens_the_time_in_wrap_up_on_the_same_traffic() -> None:
    pausing = attrs.evolve(BUSY_DAY, pause_share=1.0, pause_seconds=120)
    plain, customers, plain_service = simulate(POLICIES, BUSY_DAY)  # type: ignore[misc]
    paused, pausers, paused_service = simulate(POLICIES, pausing)  # type: ignore[misc]
    assert without_pauses(pausers) == without_pauses(customers)
    assert all(customer.pauses for customer in pausers)
    assert plain.pauses == 0 < paused.pauses
    assert paused.mean_pause_seconds > 0
    assert paused.wrap_up_share > plain.wrap_up_share

    def mean_wrap_up(service: WrapUpService) -> float:
        entries = list(service.store.all_history())
        seconds = [
            (e.wrap_up_ended_at - e.wrap_up_started_at).total_seconds() for e in entries
        ]
        return sum(seconds) / len(seconds)

    assert mean_wrap_up(paused_service) > mean_wrap_up(plain_service)


def paused_day(wrap_up: dict[str, object]) -> tuple[Results, list[Any]]:
    """A day on which every agent pauses every wrap-up for 2 minutes or so."""
    policy = {**POLICIES, "defaults": {**POLICIES["defaults"], **wrap_up}}
    pausing = attrs.evolve(BUSY_DAY, pause_share=1.0, pause_seconds=120)
    results, _, service = simulate(policy, pausing)  # type: ignore[misc]
    return results, list(service.store.all_history())


@pytest.mark.parametrize(
    "wrap_up", [{}, {"max_paused_seconds": 20}, {"pause_allowed": False}]
)
def test_the_pauses_counted_are_the_ones_the_contact_history_holds(
    wrap_up: dict[str, object],
) -> None:
    results, history = paused_day(wrap_up)
    assert results.pauses == sum(e.pause_count for e in history)
    assert results.paused_seconds == pytest.approx(
        sum(e.paused_seconds for e in history)
    )


def test_agents_may_pause_as_long_as_they_like_unless_the_queue_says_not() -> None:
    _, history = paused_day({})
    assert max(e.paused_seconds for e in history) > 120
    refused, history = paused_day({"pause_allowed": False})
    assert refused.pauses == 0
    assert not any(e.pause_count for e in history)


def test_the_queues_pause_allowance_caps_every_pause() -> None:
    results, history = paused_day({"max_paused_seconds": 20})
    assert results.pauses > 0
    assert max(e.paused_seconds for e in history) <= 20


def test_no_chat_goes_to_an_agent_away_and_a_break_waits_for_the_wrap_up() -> None:
    day = attrs.evolve(BUSY_DAY, breaks=3, break_minutes=10)
    policies = parse_policy_file(POLICIES)
    service = WrapUpService(MemoryStore(), ManualClock(EPOCH))
    heard: list[Event] = []
    service.subscribe(heard.append)
    simulation = Simulation(service, policies, day, run="t")
    results = simulation.run_day(draw_traffic(day, sorted(policies.queues)))
    assert results.breaks == 4 * 3
    waited = 0
    for agent in {event.agent_id for event in heard}:
        on_break = pending = False
        last_wrap_up_ended = None
        for event in (e for e in heard if e.agent_id == agent):
            if isinstance(event, ChatAssigned):
                away = on_break or pending
                assert not away, f"{agent} got a chat while away"
            elif isinstance(event, WrapUpCompleted):
                last_wrap_up_ended = event.at
            elif isinstance(event, NextPresenceChosen):
                pending = event.presence is Presence.BREAK
            elif isinstance(event, PresenceChanged):
                if pending:  # chosen while busy: starts as the last wrap-up ends
                    assert event.at == last_wrap_up_ended
                    waited += 1
                on_break = event.presence is Presence.BREAK
                pending = False
    assert waited > 0


def test_each_agents_breaks_are_staggered_and_fit_in_their_part_of_the_day() -> None:
    day = SimulationSettings(agents=5, hours=8, breaks=2, break_minutes=30)
    starts = [break_starts(day, number) for number in range(1, 6)]
    every = sorted(start for agent in starts for start in agent)
    assert len(set(every)) == 10
    for first, second in starts:
        assert 0 < first < first + 30 * 60 <= 4 * 3600
        assert 4 * 3600 < second < second + 30 * 60 <= 8 * 3600
    assert break_starts(attrs.evolve(day, breaks=0), 1) == []


def test_results_print_pauses_presence_and_breaks() -> None:
    results = Results(
        "p", 10, 10, 0, 1.0, 0.0, 0.0, 0.5, 0.1, 0, 0, 10, 4, 200.0, 3, 0.25
    )
    rows = dict(results.rows())
    assert rows["pauses per chat"] == "0.40"
    assert rows["mean time paused"] == "50.0 s"
    assert rows["presence Available"] == "75.0%"
    assert rows["presence Break"] == "25.0%"
    assert rows["breaks taken"] == "3"
    assert rows["chats transferred"] == "0 (0.0%)"


def test_results_print_transfers_and_legs() -> None:
    results = Results(
        "p", 10, 10, 0, 1.0, 0.0, 0.0, 0.5, 0.1, 0, 0, 12, legs=12, transfers=2
    )
    rows = dict(results.rows())
    assert rows["chats transferred"] == "2 (20.0%)"
    assert rows["transfers back to the queue"] == "0"
    assert rows["legs handled"] == "12"


# Transfers.


def without_transfers(customers: list[Customer]) -> list[Customer]:
    return [attrs.evolve(c, transfers=False) for c in customers]


def test_a_day_without_transfers_is_the_day_it_was_before_them() -> None:
    # The figures this day, with pauses and breaks, gave before transfers
    # existed: the transfer draws disturb no other draw.
    day = attrs.evolve(BUSY_DAY, seed=7, pause_share=0.5, breaks=2, break_minutes=10)
    results, customers, _ = simulate(POLICIES, day)  # type: ignore[misc]
    assert not any(customer.transfers for customer in customers)
    assert (results.offered, results.answered, results.abandoned) == (95, 77, 18)
    assert results.service_level == pytest.approx(0.6631578947368421)
    assert results.occupancy == pytest.approx(0.7377785966829583)
    assert results.wrap_up_share == pytest.approx(0.06386951580013561)
    assert (results.pauses, results.breaks) == (36, 8)
    assert (results.transfers, results.legs, results.history_entries) == (0, 77, 77)
    transferring = draw_traffic(attrs.evolve(day, transfer_share=0.5), ["sales"])
    assert without_transfers(transferring) == draw_traffic(day, ["sales"])


TRANSFERRING_DAY = attrs.evolve(BUSY_DAY, transfer_share=0.5)


def test_transfers_lower_the_service_level_and_raise_occupancy_on_a_busy_day() -> None:
    plain, customers, _ = simulate(POLICIES, BUSY_DAY)  # type: ignore[misc]
    moved, movers, _ = simulate(POLICIES, TRANSFERRING_DAY)  # type: ignore[misc]
    assert without_transfers(movers) == customers
    assert plain.transfers == 0 < moved.transfers
    assert moved.offered == plain.offered
    # Each transfer adds a leg, and the leg's wrap-up is agent time: the
    # next customers wait longer for the agents it keeps.
    assert moved.legs == moved.answered + moved.transfers > plain.legs
    assert moved.occupancy > plain.occupancy
    assert moved.wrap_up_share > plain.wrap_up_share
    assert moved.service_level < plain.service_level
    assert moved.average_speed_of_answer > plain.average_speed_of_answer


def test_every_transferred_chat_has_one_history_entry_per_leg() -> None:
    results, customers, service = simulate(POLICIES, TRANSFERRING_DAY)  # type: ignore[misc]
    legs: dict[str, list[Any]] = {}
    for entry in service.store.all_history():
        legs.setdefault(entry.chat_id, []).append(entry)
    transferring = {f"t:chat-{c.number}" for c in customers if c.transfers}
    queued = 0
    for chat_id, entries in legs.items():
        entries.sort(key=lambda entry: entry.leg)
        if chat_id not in transferring:
            assert [e.leg for e in entries] == [1]
            continue
        first, second = entries
        assert (first.leg, second.leg) == (1, 2)
        assert first.customer_id == second.customer_id
        assert first.ended_by is EndedBy.TRANSFER
        assert second.ended_by is EndedBy.CUSTOMER
        if first.transferred_to_queue is None:  # straight to a free agent
            assert first.transferred_to_agent == second.agent_id != first.agent_id
            assert second.chat_started_at == first.chat_ended_at
        else:
            queued += 1
            assert first.transferred_to_queue == first.queue_id
            assert second.chat_started_at >= first.chat_ended_at
    assert results.transfers == len(transferring & set(legs)) > 0
    assert 0 < results.transfers_queued == queued < results.transfers
    assert results.history_entries == sum(len(e) for e in legs.values())


def test_the_first_leg_takes_its_part_of_the_chat_and_the_next_leg_the_rest() -> None:
    policies = parse_policy_file({"queues": {"q": {"wrap_up": False}}})
    day = SimulationSettings(agents=2, hours=1, transfer_after=0.25)
    chat = Customer(1, "q", 0.0, 100.0, 30.0, True, 8.0, False, False, False, 0.1)
    service = WrapUpService(MemoryStore(), ManualClock(EPOCH))
    simulation = Simulation(service, policies, day, run="t")
    simulation.run_day([attrs.evolve(chat, transfers=True)])
    first, second = sorted(service.store.all_history(), key=lambda e: e.leg)
    assert first.chat_ended_at - first.chat_started_at == timedelta(seconds=25)
    assert second.chat_ended_at - second.chat_started_at == timedelta(seconds=75)


def test_a_transfer_waits_in_the_queue_for_its_own_agent_to_finish() -> None:
    # One agent: nobody else can take the next leg, so it goes back to the
    # queue and waits until the agent has wrapped up the first.
    policies = parse_policy_file({"queues": {"q": {"countdown_seconds": 30}}})
    day = SimulationSettings(agents=1, hours=1)
    chat = Customer(1, "q", 0.0, 100.0, 30.0, True, 8.0, False, False, False, 0.1)
    service = WrapUpService(MemoryStore(), ManualClock(EPOCH))
    simulation = Simulation(service, policies, day, run="t")
    results = simulation.run_day([attrs.evolve(chat, transfers=True)])
    assert (results.transfers, results.transfers_queued, results.legs) == (1, 1, 2)
    first, second = sorted(service.store.all_history(), key=lambda e: e.leg)
    assert first.transferred_to_queue == "q"
    assert first.agent_id == second.agent_id
    assert second.chat_started_at == first.wrap_up_ended_at
