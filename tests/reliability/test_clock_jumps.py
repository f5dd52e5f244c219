"""A wall clock that jumps backwards and forwards breaks nothing that was saved.

Each wrap-up completes once with one history entry, however the clock moves
between commands and sweeps; no view shows a negative countdown; and no
deadline ever moves back. Checked on the in-memory store and on SQLite.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from workers import CUSTOMERS, QUEUES, QUEUES_BY_ID, START, check_state

from webchat_wrapup import (
    ChatNotHeld,
    CommandRefused,
    ErrorCode,
    Event,
    ExpireWrapUp,
    Phase,
    Status,
    WrapUpCompleted,
    WrapUpEnding,
    WrapUpError,
)
from webchat_wrapup.clocks import ManualClock
from webchat_wrapup.ports import Store
from webchat_wrapup.service import WrapUpService
from webchat_wrapup.stores import MemoryStore, SQLiteStore

STORES = ("memory", "sqlite")


@contextmanager
def open_store(kind: str) -> Iterator[Store]:
    """A fresh store of ``kind``; a SQLite one lives in its own folder."""
    if kind == "memory":
        yield MemoryStore()
        return
    with (
        tempfile.TemporaryDirectory(prefix="wrapup-jumps-") as folder,
        SQLiteStore(Path(folder) / "wrapup.db", synchronous="NORMAL") as store,
    ):
        yield store


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


class Desk:
    """A service on a manual clock that hears every completion."""

    def __init__(self, store: Store) -> None:
        self.clock = ManualClock(START)
        self.service = WrapUpService(store, self.clock)
        self.completed: Counter[str] = Counter()
        self.service.subscribe(self._hear)

    def _hear(self, event: Event) -> None:
        if isinstance(event, WrapUpCompleted):
            self.completed[event.chat_id] += 1

    def history(self) -> Counter[tuple[str, str]]:
        """(agent, chat) of every history entry, with how often it appears."""
        entries: Counter[tuple[str, str]] = Counter()
        for customer in CUSTOMERS:
            cursor = None
            while True:
                page = self.service.history(customer, cursor=cursor, limit=7)
                entries.update((e.agent_id, e.chat_id) for e in page.entries)
                cursor = page.next_cursor
                if cursor is None:
                    break
        return entries


@pytest.fixture(params=STORES)
def desk(request: pytest.FixtureRequest) -> Iterator[Desk]:
    with open_store(request.param) as store:
        yield Desk(store)


SALES, SUPPORT, BILLING = QUEUES


def test_a_jump_forward_expires_the_chat_once_and_a_jump_back_does_not_revive_it(
    desk: Desk,
) -> None:
    service = desk.service
    service.add_agent("agent-1")
    service.assign("agent-1", "chat-1", "cust-a", SALES)
    desk.clock.set(at(10))
    service.end_chat("agent-1", "chat-1")  # deadline at 70 s

    desk.clock.set(at(3600))
    assert service.view("agent-1").chats == ()
    assert service.sweep().expired == 1

    desk.clock.set(at(20))
    view = service.view("agent-1")
    assert view.chats == ()
    assert view.status is Status.AVAILABLE
    assert service.sweep().expired == 0
    with pytest.raises(WrapUpError) as caught:
        service.extend("agent-1", "chat-1")
    assert caught.value.code is ErrorCode.WRAP_UP_OVER

    desk.clock.set(at(7200))
    assert service.sweep().expired == 0
    assert desk.completed == {"chat-1": 1}
    assert desk.history() == {("agent-1", "chat-1"): 1}
    entry = service.history("cust-a").entries[0]
    assert entry.wrap_up_ended_at == at(70)
    assert entry.ending is WrapUpEnding.EXPIRED


def test_a_jump_back_shows_a_longer_countdown_never_a_negative_one(
    desk: Desk,
) -> None:
    service = desk.service
    service.add_agent("agent-1")
    service.assign("agent-1", "chat-1", "cust-a", SALES)
    desk.clock.set(at(100))
    service.end_chat("agent-1", "chat-1")  # deadline at 160 s

    desk.clock.set(at(0))
    (chat,) = service.view("agent-1").chats
    assert chat.deadline == at(160)
    assert chat.seconds_left == 160

    service.extend("agent-1", "chat-1")  # from the deadline, not from now
    (chat,) = service.view("agent-1").chats
    assert chat.deadline == at(190)

    desk.clock.set(at(189.5))
    (chat,) = service.view("agent-1").chats
    assert chat.seconds_left == 1
    desk.clock.set(at(190))
    assert service.view("agent-1").chats == ()
    desk.clock.set(at(185))
    (chat,) = service.view("agent-1").chats
    assert chat.seconds_left == 5
    desk.clock.set(at(500))
    assert service.sweep().expired == 1
    assert service.history("cust-a").entries[0].wrap_up_ended_at == at(190)


def test_ending_or_completing_before_the_chat_began_keeps_the_times_in_order(
    desk: Desk,
) -> None:
    service = desk.service
    service.add_agent("agent-1")
    desk.clock.set(at(1000))
    service.assign("agent-1", "chat-1", "cust-a", SALES)
    desk.clock.set(at(0))
    service.end_chat("agent-1", "chat-1")
    (chat,) = service.view("agent-1").chats
    assert chat.deadline == at(1060)
    assert chat.seconds_left is not None
    assert chat.seconds_left >= 0
    desk.clock.set(at(-500))
    service.complete("agent-1", "chat-1")
    (entry,) = service.history("cust-a").entries
    assert entry.chat_started_at == at(1000)
    assert entry.chat_started_at <= entry.chat_ended_at <= entry.wrap_up_ended_at


def test_a_sweep_before_and_after_a_jump_back_expires_each_agent_once(
    desk: Desk,
) -> None:
    service = desk.service
    for number in range(3):
        agent_id = f"agent-{number}"
        service.add_agent(agent_id)
        service.assign(agent_id, f"chat-{number}", "cust-a", SUPPORT)
        service.end_chat(agent_id, f"chat-{number}")  # deadline at 60 s
    desk.clock.set(at(61))
    assert service.sweep(limit=1).expired == 1
    desk.clock.set(at(30))
    assert service.sweep().expired == 0
    with pytest.raises(CommandRefused) as refused:
        service.expire("agent-1", "chat-1", at(60))
    assert refused.value.code is ErrorCode.WRAP_UP_NOT_DUE
    desk.clock.set(at(61))
    assert service.sweep().expired == 2
    assert service.sweep().expired == 0
    assert desk.completed == {"chat-0": 1, "chat-1": 1, "chat-2": 1}
    assert sorted(desk.history().values()) == [1, 1, 1]
    endings = {e.ending for e in service.history("cust-a").entries}
    assert endings == {WrapUpEnding.EXPIRED_WITH_DEFAULT}


ACTIONS = ("assign", "end", "end", "extend", "complete", "classify", "expire")
Step = tuple[str, int, int]
JUMPS = (-3600, -120, -61, -60, -59, -1, 0, 1, 29, 30, 59, 60, 61, 120, 3600)
jumps = st.sampled_from(JUMPS) | st.integers(-600, 600)
commands = st.tuples(st.sampled_from(ACTIONS), st.integers(0, 1), st.integers(0, 5))
steps = st.lists(
    st.one_of(
        st.tuples(st.just("jump"), jumps, st.just(0)),
        st.tuples(st.just("sweep"), st.integers(1, 3), st.just(0)),
        commands,
        commands,
        commands,
    ),
    min_size=20,
    max_size=60,
)


@pytest.mark.parametrize("kind", STORES)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(steps=steps)
def test_random_clock_jumps_never_double_expire_or_move_a_deadline_back(
    kind: str, steps: list[Step]
) -> None:
    with open_store(kind) as store:
        desk = Desk(store)
        service = desk.service
        agents = ("agent-1", "agent-2")
        for agent_id in agents:
            service.add_agent(agent_id, capacity=2)
        assigned: set[str] = set()
        deadlines: dict[str, datetime] = {}
        latest = START
        for number, (action, first, second) in enumerate(steps):
            if action == "jump":
                desk.clock.set(desk.clock.now() + timedelta(seconds=first))
                latest = max(latest, desk.clock.now())
            elif action == "sweep":
                service.sweep(limit=first)
            else:
                agent_id, pick = agents[first], second
                stored = store.load(agent_id)
                assert stored is not None
                chats = stored.state.chats
                # Refusals are expected; any other error fails the test.
                with contextlib.suppress(CommandRefused, ChatNotHeld):
                    if action == "assign" or not chats:
                        chat_id = f"chat-{number}"
                        queue = QUEUES[pick % len(QUEUES)]
                        service.assign(agent_id, chat_id, CUSTOMERS[pick % 4], queue)
                        assigned.add(chat_id)
                    else:
                        wanted = Phase.ACTIVE if action == "end" else Phase.WRAP_UP
                        fitting = [c for c in chats if c.phase is wanted] or chats
                        chat = fitting[pick % len(fitting)]
                        send(service, action, agent_id, chat.chat_id, chat.deadline)
            check_desk(desk, agents, deadlines)

        desk.clock.set(latest + timedelta(hours=2))
        for _ in range(10):
            if service.sweep().expired == 0:
                break
        for agent_id in agents:
            stored = store.load(agent_id)
            assert stored is not None
            # Only the chats that never ended, or have no countdown, stay.
            assert all(chat.deadline is None for chat in stored.state.chats)
            for chat in stored.state.chats:
                assigned.discard(chat.chat_id)
        assert set(desk.completed) == assigned
        assert set(desk.completed.values()) <= {1}
        history = desk.history()
        assert {chat for _, chat in history} == assigned
        assert set(history.values()) <= {1}


def send(
    service: WrapUpService,
    action: str,
    agent_id: str,
    chat_id: str,
    deadline: datetime | None,
) -> None:
    if action == "end":
        service.end_chat(agent_id, chat_id)
    elif action == "extend":
        service.extend(agent_id, chat_id)
    elif action == "complete":
        service.complete(agent_id, chat_id)
    elif action == "classify":
        service.classify(agent_id, chat_id, code="late")
    else:
        command = ExpireWrapUp(agent_id, chat_id, deadline or START)
        service.execute(command)


def check_desk(
    desk: Desk, agents: tuple[str, ...], deadlines: dict[str, datetime]
) -> None:
    """After every step: views, stored states, deadlines and completions."""
    assert set(desk.completed.values()) <= {1}, "a chat completed twice"
    for agent_id in agents:
        view = desk.service.view(agent_id)
        for chat_view in view.chats:
            if chat_view.seconds_left is not None:
                assert chat_view.seconds_left >= 0, chat_view
        stored = desk.service.store.load(agent_id)
        assert stored is not None
        check_state(stored.state)
        for chat in stored.state.chats:
            assert chat.queue == QUEUES_BY_ID[chat.queue.queue_id]
            if chat.deadline is None:
                continue
            previous = deadlines.get(chat.chat_id)
            assert previous is None or chat.deadline >= previous, "deadline moved back"
            deadlines[chat.chat_id] = chat.deadline
