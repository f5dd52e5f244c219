"""A sweep saves its agents' expiries in batches, one transaction each, and
one agent's trouble never costs the others theirs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import T0, queue
from webchat_wrapup import (
    ClassifyChat,
    ErrorCode,
    StoreError,
    WrapUpEnding,
    decide,
)
from webchat_wrapup.clocks import ManualClock
from webchat_wrapup.ports import Change, Store, SweepResult
from webchat_wrapup.service import SWEEP_BATCH, WrapUpService
from webchat_wrapup.stores import MemoryStore, SQLiteStore

COUNTDOWN = 60


class Interfering:
    """A store another server writes to: before a batch with an agent in
    ``racing`` is saved, that agent's chat is classified (once per agent);
    an agent in ``broken`` cannot be saved at all. It counts the saves."""

    def __init__(
        self, inner: Store, racing: Iterable[str] = (), broken: Iterable[str] = ()
    ) -> None:
        self.inner = inner
        self.racing = set(racing)
        self.broken = set(broken)
        self.batches: list[int] = []
        self.single_saves: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def save(self, change: Change) -> None:
        self.single_saves.append(change.agent_id)
        self._refuse_broken([change])
        self.inner.save(change)

    def save_all(self, changes: Sequence[Change]) -> None:
        self.batches.append(len(changes))
        for change in changes:
            if change.agent_id in self.racing:
                self.racing.discard(change.agent_id)
                self._classify(change.agent_id)
        self._refuse_broken(changes)
        self.inner.save_all(changes)

    def _classify(self, agent_id: str) -> None:
        stored = self.inner.load(agent_id)
        assert stored is not None
        (chat,) = stored.state.chats
        command = ClassifyChat(agent_id, chat.chat_id, code="refund")
        state = decide(stored.state, command, T0 + timedelta(seconds=1)).state
        self.inner.save(Change(agent_id, stored.version, state))

    def _refuse_broken(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if change.agent_id in self.broken:
                raise StoreError(ErrorCode.STORE_UNAVAILABLE, "the disk said no")


def _agent(number: int) -> str:
    return f"agent-{number:03d}"


def _in_wrap_up(store: Store, agents: int) -> None:
    """``agents`` agents, each with a wrap-up due ``COUNTDOWN`` s after T0."""
    service = WrapUpService(store, ManualClock(T0))
    for number in range(agents):
        agent_id = _agent(number)
        service.add_agent(agent_id)
        service.assign(agent_id, f"chat-{number}", f"cust-{number}", queue())
        service.end_chat(agent_id, f"chat-{number}")


def _expired(store: Store, agent_id: str) -> bool:
    stored = store.load(agent_id)
    assert stored is not None
    if stored.state.chats:
        return False
    (finished,) = stored.state.finished
    return finished.ending is WrapUpEnding.EXPIRED


@pytest.fixture(params=["memory", "sqlite"])
def inner(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    with SQLiteStore(tmp_path / "wrapup.db", synchronous="NORMAL") as sqlite:
        yield sqlite


def _sweep(store: Store | Interfering) -> tuple[WrapUpService, SweepResult]:
    """A service on ``store`` once every wrap-up is due, and its sweep."""
    clock = ManualClock(T0 + timedelta(seconds=COUNTDOWN))
    service = WrapUpService(store, clock)  # type: ignore[arg-type]
    return service, service.sweep(limit=1000)


def test_a_sweep_saves_its_agents_a_batch_to_a_transaction(inner: Store) -> None:
    _in_wrap_up(inner, 2 * SWEEP_BATCH + 7)
    store = Interfering(inner)
    _, result = _sweep(store)
    assert result.expired == 2 * SWEEP_BATCH + 7
    assert store.batches == [SWEEP_BATCH, SWEEP_BATCH, 7]
    assert store.single_saves == []
    assert all(_expired(inner, _agent(n)) for n in range(2 * SWEEP_BATCH + 7))


def test_an_agent_saved_elsewhere_costs_the_batch_nothing(inner: Store) -> None:
    _in_wrap_up(inner, 5)
    store = Interfering(inner, racing={_agent(2)})
    service, result = _sweep(store)
    assert (result.expired, result.failures) == (5, ())
    assert all(_expired(inner, _agent(n)) for n in range(5))
    # The other server's classification was kept: agent-002 was decided again.
    (entry,) = service.history("cust-2").entries
    assert entry.classification is not None
    assert store.single_saves == [_agent(2)]
    assert store.batches == [5, 4]


def test_an_agent_that_cannot_be_saved_is_named_and_the_others_expire(
    inner: Store,
) -> None:
    _in_wrap_up(inner, 5)
    store = Interfering(inner, broken={_agent(3)})
    _, result = _sweep(store)
    assert result.expired == 4
    (failure,) = result.failures
    assert failure.agent_id == _agent(3)
    assert failure.error.code is ErrorCode.STORE_UNAVAILABLE
    assert [_expired(inner, _agent(n)) for n in range(5)] == [
        True,
        True,
        True,
        False,
        True,
    ]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    agents=st.integers(1, SWEEP_BATCH + 30),
    racing=st.sets(st.integers(0, SWEEP_BATCH + 29), max_size=8),
    broken=st.sets(st.integers(0, SWEEP_BATCH + 29), max_size=3),
)
def test_every_agent_not_broken_expires_exactly_once(
    agents: int, racing: set[int], broken: set[int]
) -> None:
    inner = MemoryStore()
    _in_wrap_up(inner, agents)
    store = Interfering(inner, {_agent(n) for n in racing}, {_agent(n) for n in broken})
    heard: list[str] = []
    clock = ManualClock(T0 + timedelta(seconds=COUNTDOWN))
    service = WrapUpService(store, clock)  # type: ignore[arg-type]
    service.subscribe(lambda event: heard.append(event.agent_id))
    result = service.sweep(limit=1000)
    failing = {_agent(n) for n in broken if n < agents}
    assert {failure.agent_id for failure in result.failures} == failing
    assert len(result.failures) == len(failing)
    assert result.expired == agents - len(failing)
    for number in range(agents):
        agent_id = _agent(number)
        assert _expired(inner, agent_id) is (agent_id not in failing)
        entries = service.history(f"cust-{number}").entries
        assert len(entries) == (0 if agent_id in failing else 1)
        classified = number in racing and agent_id not in failing
        assert classified is (bool(entries) and entries[0].classification is not None)
    # Subscribers heard each saved expiry once (its events name the agent).
    assert set(heard) == {_agent(n) for n in range(agents)} - failing
    assert service.sweep(limit=1000).expired == 0
