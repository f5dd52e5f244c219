"""The supervisor's read model, kept from the event feed."""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import T0, at, queue
from webchat_wrapup import ExpiryRule, Presence, WrapUpEnding, WrapUpError
from webchat_wrapup.clocks import ManualClock
from webchat_wrapup.projections import ProjectionRunner
from webchat_wrapup.service import WrapUpService
from webchat_wrapup.stores import MemoryStore
from webchat_wrapup.tools.desk.supervisor import (
    UNCLASSIFIED,
    SupervisorProjection,
    snapshot,
)

SUPPORT = queue("support", on_expiry=ExpiryRule.APPLY_DEFAULT, timeout_default="other")
SALES = queue("sales", on_expiry=ExpiryRule.APPLY_DEFAULT, timeout_default="other")


def figures(service: WrapUpService, path: Path | str = ":memory:") -> dict[str, Any]:
    runner = ProjectionRunner(path, SupervisorProjection())
    try:
        while runner.catch_up(service.store):
            pass
        return snapshot(runner.db, service.clock.now())
    finally:
        runner.close()


@pytest.fixture
def service() -> WrapUpService:
    service = WrapUpService(MemoryStore(), ManualClock(T0))
    for agent in ("ana", "ben", "cara"):
        service.add_agent(agent)
    return service


def clock_of(service: WrapUpService) -> ManualClock:
    clock = service.clock
    assert isinstance(clock, ManualClock)
    return clock


def test_a_day_of_wrap_ups_is_counted_per_queue(service: WrapUpService) -> None:
    clock = clock_of(service)
    service.assign("ana", "chat-1", "cust-1", SUPPORT)
    service.assign("ben", "chat-2", "cust-2", SALES)
    clock.set(at(20))
    service.end_chat("ben", "chat-2")  # expires unclassified at 80
    clock.set(at(30))
    service.end_chat("ana", "chat-1")
    clock.set(at(40))
    service.extend("ana", "chat-1")
    service.classify("ana", "chat-1", code="refund")
    service.flag_abusive("ana", "chat-1", "Insults")
    clock.set(at(50))
    service.complete("ana", "chat-1")
    service.choose_presence("cara", Presence.BREAK)
    clock.set(at(100))
    service.sweep()

    seen = figures(service)

    queues = {q["queue_id"]: q for q in seen["queues"]}
    assert queues["support"] == {
        "queue_id": "support",
        "wrap_ups": 1,
        "wrap_up_seconds": 20.0,
        "average_wrap_up_seconds": 20.0,
        "extensions": 1,
        "expiries": 0,
        "abuse_flags": 1,
    }
    assert queues["sales"]["wrap_up_seconds"] == 60.0  # from 20 s to its deadline
    assert queues["sales"]["expiries"] == 1
    assert seen["totals"]["wrap_ups"] == 2
    assert seen["totals"]["wrap_up_seconds"] == 80.0
    assert seen["wrap_ups"] == []
    assert seen["agents"]["by_status"] == [
        {"label": "Available", "agents": 2},
        {"label": "Break", "agents": 1},
    ]
    [flag] = seen["abuse_flags"]
    assert (flag["agent_id"], flag["queue_id"], flag["reason"]) == (
        "ana",
        "support",
        "Insults",
    )
    series = {
        (s["label"], s["timeout_default"]): s["chats"] for s in seen["trends"]["series"]
    }
    assert series == {("Refund", False): [1, 0], ("Other", True): [0, 1]}
    assert seen["trends"]["bucket_minutes"] == 1
    assert seen["trends"]["starts"] == [9 * 60, 9 * 60 + 1]  # 09:00, 09:01


def test_a_wrap_up_in_progress_shows_its_time_left_frozen_while_paused(
    service: WrapUpService,
) -> None:
    clock = clock_of(service)
    service.assign("ana", "chat-1", "cust-1", SUPPORT)
    service.end_chat("ana", "chat-1")
    clock.set(at(15))
    [running] = figures(service)["wrap_ups"]
    assert running["seconds_left"] == 45.0
    assert running["extensions_left"] == 3
    assert running["queue_id"] == "support"
    service.pause("ana", "chat-1")
    clock.set(at(500))
    [paused] = figures(service)["wrap_ups"]
    assert (paused["paused"], paused["seconds_left"]) == (True, 45.0)
    service.resume("ana", "chat-1")
    clock.set(at(510))
    [resumed] = figures(service)["wrap_ups"]
    assert (resumed["paused"], resumed["seconds_left"]) == (False, 35.0)


def test_an_extension_while_paused_adds_to_the_frozen_time_left(
    service: WrapUpService,
) -> None:
    clock = clock_of(service)
    service.assign("ana", "chat-1", "cust-1", SUPPORT)
    service.end_chat("ana", "chat-1")
    clock.set(at(15))
    service.pause("ana", "chat-1")
    service.extend("ana", "chat-1")
    clock.set(at(400))
    [paused] = figures(service)["wrap_ups"]
    (chat,) = service.view("ana").to_dict()["chats"]
    assert paused["paused"] is True
    assert paused["seconds_left"] == chat["seconds_left"] > 45


def test_a_wrap_up_past_its_deadline_and_not_yet_swept_shows_no_time_left(
    service: WrapUpService,
) -> None:
    service.assign("ana", "chat-1", "cust-1", SUPPORT)
    service.end_chat("ana", "chat-1")
    clock_of(service).set(at(600))
    [due] = figures(service)["wrap_ups"]
    assert due["seconds_left"] == 0.0


def test_the_trend_bars_widen_as_the_day_goes_on(service: WrapUpService) -> None:
    clock = clock_of(service)
    for number, hours in enumerate((0, 5)):
        clock.set(T0 + timedelta(hours=hours))
        chat = f"chat-{number}"
        service.assign("ana", chat, "cust-1", SUPPORT)
        service.end_chat("ana", chat)
        service.complete("ana", chat)
    trends = figures(service)["trends"]
    assert trends["bucket_minutes"] == 15  # 5 hours in at most 48 bars
    assert len(trends["starts"]) == 21
    assert trends["series"] == [
        {"label": UNCLASSIFIED, "timeout_default": False, "chats": [1] + [0] * 19 + [1]}
    ]


def test_figures_kept_across_a_restart_equal_figures_built_in_one_go(
    service: WrapUpService, tmp_path: Path
) -> None:
    clock = clock_of(service)
    service.assign("ana", "chat-1", "cust-1", SUPPORT)
    service.end_chat("ana", "chat-1")
    service.extend("ana", "chat-1")
    halfway = ProjectionRunner(tmp_path / "desk.sqlite", SupervisorProjection())
    halfway.catch_up(service.store, 2)  # stopped after two events
    halfway.close()
    clock.set(at(30))
    service.complete("ana", "chat-1")
    assert figures(service, tmp_path / "desk.sqlite") == figures(service)


Step = tuple[str, int, int]
ACTIONS = ("assign", "end", "extend", "classify", "flag", "pause", "resume")
ACTIONS += ("complete", "park", "activate", "wait", "sweep")


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(ACTIONS),
            st.integers(0, 2),
            st.integers(1, 200),
        ),
        max_size=40,
    )
)
def test_the_figures_agree_with_the_contact_history(steps: list[Step]) -> None:
    service = WrapUpService(MemoryStore(), ManualClock(T0))
    agents = ("ana", "ben", "cara")
    for agent in agents:
        service.add_agent(agent, capacity=2)
    numbers = itertools.count(1)
    for action, who, amount in steps:
        _run(service, action, agents[who], amount, numbers)
    _finish_every_chat(service, agents)

    seen = figures(service)
    entries = list(service.store.all_history())
    totals = seen["totals"]
    assert totals["wrap_ups"] == len(entries)
    assert totals["extensions"] == sum(e.extensions_used for e in entries)
    expired = (WrapUpEnding.EXPIRED, WrapUpEnding.EXPIRED_WITH_DEFAULT)
    assert totals["expiries"] == sum(e.ending in expired for e in entries)
    assert totals["abuse_flags"] == sum(e.abuse is not None for e in entries)
    spent = sum(
        (e.wrap_up_ended_at - e.wrap_up_started_at).total_seconds() for e in entries
    )
    assert totals["wrap_up_seconds"] == pytest.approx(spent)
    counted: Counter[tuple[str, bool]] = Counter()
    for series in seen["trends"]["series"]:
        counted[series["label"], series["timeout_default"]] += sum(series["chats"])
    expected = Counter(
        (
            UNCLASSIFIED if e.classification is None else e.classification.label,
            e.is_timeout_default,
        )
        for e in entries
    )
    assert counted == expected
    assert seen["wrap_ups"] == []
    labels = {a["agent_id"]: a["status_label"] for a in seen["agents"]["list"]}
    for agent, label in labels.items():
        assert label == service.view(agent).status_label


def _run(
    service: WrapUpService,
    action: str,
    agent: str,
    amount: int,
    numbers: itertools.count[int],
) -> None:
    clock = clock_of(service)
    if action == "wait":
        clock.advance(amount)
        return
    if action == "sweep":
        service.sweep()
        return
    if action == "assign":
        number = next(numbers)
        chosen = SUPPORT if number % 2 else SALES
        call: Any = lambda: service.assign(agent, f"chat-{number}", "c", chosen)  # noqa: E731
    else:
        held = [chat.chat_id for chat in service.view(agent).chats]
        if not held:
            return
        chat_id = held[amount % len(held)]
        call = {
            "end": lambda: service.end_chat(agent, chat_id),
            "extend": lambda: service.extend(agent, chat_id),
            "classify": lambda: service.classify(agent, chat_id, code="refund"),
            "flag": lambda: service.flag_abusive(agent, chat_id),
            "pause": lambda: service.pause(agent, chat_id),
            "resume": lambda: service.resume(agent, chat_id),
            "complete": lambda: service.complete(agent, chat_id),
            "park": lambda: service.park(agent, chat_id),
            "activate": lambda: service.activate(agent, chat_id),
        }[action]
    with contextlib.suppress(WrapUpError):  # refused: the figures must not count it
        call()


def _finish_every_chat(service: WrapUpService, agents: tuple[str, ...]) -> None:
    """End, resume and let expire every chat held, so each has its entry."""
    for agent in agents:
        for chat in service.view(agent).chats:
            for call in (service.activate, service.end_chat, service.resume):
                with contextlib.suppress(WrapUpError):
                    call(agent, chat.chat_id)
    clock_of(service).advance(3600)
    service.sweep()
