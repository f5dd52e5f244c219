"""A retry never contradicts the first attempt, whatever the timing."""

from __future__ import annotations

import threading

import pytest

from support import T0, at, queue
from webchat_wrapup import CommandRefused, ManualClock, MemoryStore, WrapUpService
from webchat_wrapup.ports import Change, StoredAgent


class HeldOpenStore(MemoryStore):
    """A memory store whose next save of a command record stops half-way.

    The save is held open until the test lets it go (as a database holds
    the agent's row lock until it commits), so a second request can be
    decided on the state from before it, and :meth:`load_settled` waits for
    the held save to end, as a database's read ``FOR SHARE`` waits for the
    row lock.
    """

    def __init__(self) -> None:
        super().__init__()
        self.saving = threading.Event()
        self.release = threading.Event()
        self.settling = threading.Event()
        self.saved = threading.Event()
        self.hold_next = False

    def save(self, change: Change) -> None:
        if not (self.hold_next and change.command is not None):
            super().save(change)
            return
        self.hold_next = False
        try:
            self.saving.set()
            self.release.wait(10)
            super().save(change)
        finally:
            self.saved.set()

    def load_settled(self, agent_id: str) -> StoredAgent | None:
        self.settling.set()
        if self.saving.is_set():
            self.saved.wait(10)
        return super().load_settled(agent_id)


@pytest.fixture
def held() -> tuple[WrapUpService, HeldOpenStore, ManualClock]:
    store = HeldOpenStore()
    clock = ManualClock(T0)
    service = WrapUpService(store, clock)
    service.add_agent("agent-1")
    service.assign("agent-1", "c1", "cust-1", queue())
    clock.set(at(30))
    service.end_chat("agent-1", "c1")  # deadline at 90 s
    return service, store, clock


def test_a_retry_decided_during_the_first_save_is_told_what_the_first_did(
    held: tuple[WrapUpService, HeldOpenStore, ManualClock],
) -> None:
    service, store, clock = held
    clock.set(at(89))
    store.hold_next = True
    first: dict[str, object] = {}

    def click() -> None:
        first["outcome"] = service.extend("agent-1", "c1", command_id="click-1")

    clicking = threading.Thread(target=click)
    clicking.start()
    assert store.saving.wait(10)
    # The client gave up and resent; meanwhile the deadline passed, so on
    # the state from before the extension the retry would be refused.
    clock.set(at(91))
    answers: dict[str, object] = {}

    def retry() -> None:
        try:
            answers["outcome"] = service.extend("agent-1", "c1", command_id="click-1")
        except CommandRefused as error:
            answers["refused"] = error

    retrying = threading.Thread(target=retry)
    retrying.start()
    assert store.settling.wait(10)  # refused on the old state; now it waits
    store.release.set()
    clicking.join(10)
    retrying.join(10)
    assert "refused" not in answers
    again = answers["outcome"]
    assert again.replayed  # type: ignore[attr-defined]
    assert again.version == first["outcome"].version  # type: ignore[attr-defined]
    view = service.view("agent-1")
    assert view.chats[0].deadline == at(150)


def test_a_refusal_stands_when_no_save_was_under_way(
    held: tuple[WrapUpService, HeldOpenStore, ManualClock],
) -> None:
    service, store, clock = held
    clock.set(at(91))
    before = store.load("agent-1")
    with pytest.raises(CommandRefused):
        service.extend("agent-1", "c1", command_id="late-click")
    assert store.settling.is_set()  # checked that no save was under way
    assert store.find_command("late-click") is None
    assert store.load("agent-1") == before
