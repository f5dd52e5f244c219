"""Time per status and presence, read from the event feed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from webchat_wrapup import (
    ManualClock,
    MemoryStore,
    Presence,
    QueuePolicy,
    WrapUpError,
    WrapUpPolicy,
    WrapUpService,
)
from webchat_wrapup.tools.presence_time import PresenceTime, time_per_presence

T0 = datetime(2026, 11, 30, 9, tzinfo=timezone.utc)
POLICY = QueuePolicy("support", WrapUpPolicy(countdown_seconds=60))


def minutes(clock: ManualClock, count: float) -> None:
    clock.advance(timedelta(minutes=count))


def test_a_morning_is_split_by_what_the_agent_showed() -> None:
    store, clock = MemoryStore(), ManualClock(T0)
    service = WrapUpService(store, clock)
    service.add_agent("agent-1")
    service.assign("agent-1", "chat-1", "cust-1", POLICY)
    minutes(clock, 5)
    service.end_chat("agent-1", "chat-1")
    minutes(clock, 0.5)
    service.complete("agent-1", "chat-1")
    minutes(clock, 4.5)
    service.choose_presence("agent-1", Presence.BREAK)
    minutes(clock, 15)
    service.choose_presence("agent-1", Presence.NOT_READY, "Lunch")
    minutes(clock, 30)
    service.choose_presence("agent-1", Presence.AVAILABLE)
    until = T0 + timedelta(minutes=60)
    assert time_per_presence(store.events(limit=1000), until) == [
        PresenceTime("agent-1", "Available", 4.5 * 60 + 5 * 60),
        PresenceTime("agent-1", "Break", 15 * 60),
        PresenceTime("agent-1", "Handling a chat", 5 * 60),
        PresenceTime("agent-1", "Lunch", 30 * 60),
        PresenceTime("agent-1", "Wrap-up", 30),
    ]


def test_a_break_chosen_during_wrap_up_starts_when_the_wrap_up_ends() -> None:
    store, clock = MemoryStore(), ManualClock(T0)
    service = WrapUpService(store, clock)
    service.add_agent("agent-1")
    service.assign("agent-1", "chat-1", "cust-1", POLICY)
    service.end_chat("agent-1", "chat-1")
    service.choose_presence("agent-1", Presence.BREAK)  # the next status
    minutes(clock, 10)
    service.sweep()  # the wrap-up expired at 09:01
    events = store.events(limit=1000)
    spent = {t.label: t.seconds for t in time_per_presence(events, clock.now())}
    assert spent == {"Wrap-up": 60.0, "Break": 9 * 60.0}


def test_no_change_no_time() -> None:
    assert time_per_presence([]) == []


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["assign", "end", "complete", "break", "back", "sweep"]),
        st.integers(0, 2),
        st.floats(0, 600),
    ),
    max_size=40,
)


@given(ACTIONS)
@settings(max_examples=60, deadline=None)
def test_each_agents_time_adds_up_to_the_span_it_was_seen(
    actions: list[tuple[str, int, float]],
) -> None:
    store, clock = MemoryStore(), ManualClock(T0)
    service = WrapUpService(store, clock)
    for number in range(3):
        service.add_agent(f"agent-{number}", capacity=2)
    for step, (action, number, seconds) in enumerate(actions):
        clock.advance(timedelta(seconds=seconds))
        agent_id = f"agent-{number}"
        try:
            if action == "assign":
                service.assign(agent_id, f"chat-{step}", "cust-1", POLICY)
            elif action in ("end", "complete"):
                stored = store.load(agent_id)
                for chat in () if stored is None else stored.state.chats:
                    if action == "end":
                        service.end_chat(agent_id, chat.chat_id)
                    else:
                        service.complete(agent_id, chat.chat_id)
            elif action == "break":
                service.choose_presence(agent_id, Presence.BREAK)
            elif action == "back":
                service.choose_presence(agent_id, Presence.AVAILABLE)
            else:
                service.sweep()
        except WrapUpError:
            pass
    until = clock.now() + timedelta(seconds=1)
    events = store.events(limit=1000)
    times = time_per_presence(events, until)
    for number in range(3):
        agent_id = f"agent-{number}"
        seen = [e.event.at for e in events if e.event.agent_id == agent_id]
        changes = [
            e.event.at
            for e in events
            if e.event.agent_id == agent_id
            and e.event.type in ("status_changed", "presence_changed")
        ]
        total = sum(t.seconds for t in times if t.agent_id == agent_id)
        expected = (until - min(changes)).total_seconds() if changes else 0.0
        assert abs(total - expected) < 1e-6, (agent_id, seen)
        assert all(t.seconds > 0 for t in times)
