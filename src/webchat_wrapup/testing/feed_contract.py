"""The store contract's event feed and history change feed.

Part of :class:`~webchat_wrapup.testing.contract.StoreContract`, which
runs these tests on the store its ``store`` fixture yields.
"""

from __future__ import annotations

import threading
import time

import pytest

from .._core._agent import AgentState
from .._core._commands import AssignChat, ClassifyChat, EndChat
from .._core._decide import decide
from .._core._errors import ErrorCode, InvalidInput, StoreError, VersionConflict
from .._core._events import Event
from .._core._policy import QueuePolicy
from ..feed import follow
from ..ports import Change, Store
from ._builders import T0
from ._builders import at as _at
from ._builders import history_entry as _entry

_POLICY = QueuePolicy("support")


def _assigned(store: Store, agent_id: str, chat_id: str, customer_id: str) -> None:
    """Save ``agent_id`` (new) holding ``chat_id``, with the assign's events."""
    decision = decide(
        AgentState.new(agent_id, capacity=5),
        AssignChat(agent_id, chat_id, customer_id, _POLICY),
        T0,
    )
    store.save(Change(agent_id, 0, decision.state, events=decision.events))


def _then(
    store: Store, agent_id: str, command: object, seconds: float = 1
) -> tuple[Event, ...]:
    """Decide ``command`` on the stored agent and save it with its events."""
    stored = store.load(agent_id)
    assert stored is not None
    decision = decide(stored.state, command, _at(seconds))  # type: ignore[arg-type]
    change = Change(
        agent_id,
        stored.version,
        decision.state,
        decision.history,
        None,
        decision.events,
        _at(seconds),
    )
    store.save(change)
    return decision.events


class FeedContract:
    """The event feed and the history change feed, on every store."""

    def test_events_are_read_back_in_commit_order_after_a_position(
        self, store: Store
    ) -> None:
        assert store.events() == []
        assert store.last_position() == 0
        _assigned(store, "agent-1", "chat-1", "cust-1")
        _assigned(store, "agent-2", "chat-2", "cust-2")
        written = _then(store, "agent-1", EndChat("agent-1", "chat-1"))
        feed = store.events()
        positions = [stored.position for stored in feed]
        assert positions == sorted(set(positions))
        assert positions[0] >= 1
        assert [stored.event for stored in feed][-len(written) :] == list(written)
        assert store.last_position() == positions[-1]
        assert store.events(after=positions[2]) == feed[3:]
        assert store.events(after=positions[0], limit=2) == feed[1:3]
        assert store.events(after=positions[-1]) == []

    def test_a_refused_save_adds_no_event(self, store: Store) -> None:
        _assigned(store, "agent-1", "chat-1", "cust-1")
        before = store.events()
        assign = AssignChat("agent-1", "chat-9", "cust-9", _POLICY)
        stale = decide(AgentState.new("agent-1"), assign, _at(1))
        with pytest.raises(VersionConflict):
            store.save(Change("agent-1", 0, stale.state, events=stale.events))
        assert store.events() == before

    def test_the_events_of_a_batch_follow_the_order_of_its_changes(
        self, store: Store
    ) -> None:
        _assigned(store, "agent-1", "chat-1", "cust-1")
        _assigned(store, "agent-2", "chat-2", "cust-2")
        last = store.last_position()
        changes = []
        events: list[Event] = []
        for agent_id, chat_id in (("agent-2", "chat-2"), ("agent-1", "chat-1")):
            stored = store.load(agent_id)
            assert stored is not None
            decision = decide(stored.state, EndChat(agent_id, chat_id), _at(2))
            changes.append(
                Change(
                    agent_id,
                    stored.version,
                    decision.state,
                    events=decision.events,
                    recorded_at=_at(2),
                )
            )
            events += decision.events
        store.save_all(changes)
        assert [stored.event for stored in store.events(after=last)] == events

    def test_each_event_keeps_when_its_change_was_recorded(self, store: Store) -> None:
        _assigned(store, "agent-1", "chat-1", "cust-1")
        last = store.last_position()
        _then(store, "agent-1", EndChat("agent-1", "chat-1"), seconds=42)
        assert {stored.recorded_at for stored in store.events(after=last)} == {_at(42)}

    def test_a_wait_returns_at_once_when_an_event_is_there(self, store: Store) -> None:
        _assigned(store, "agent-1", "chat-1", "cust-1")
        started = time.monotonic()
        assert store.wait_for_events(0, 30) is True
        assert time.monotonic() - started < 10

    def test_a_wait_with_nothing_new_times_out(self, store: Store) -> None:
        _assigned(store, "agent-1", "chat-1", "cust-1")
        assert store.wait_for_events(store.last_position(), 0.05) is False

    def test_a_wait_wakes_when_another_thread_commits(self, store: Store) -> None:
        _assigned(store, "agent-1", "chat-1", "cust-1")
        last = store.last_position()
        woke: list[bool] = []
        waiter = threading.Thread(
            target=lambda: woke.append(store.wait_for_events(last, 30))
        )
        waiter.start()
        time.sleep(0.2)
        started = time.monotonic()
        _then(store, "agent-1", EndChat("agent-1", "chat-1"))
        waiter.join(30)
        assert woke == [True]
        assert time.monotonic() - started < 10
        assert store.events(after=last)

    def test_pruning_deletes_the_oldest_events_and_no_younger_one(
        self, store: Store
    ) -> None:
        _assigned(store, "agent-1", "chat-1", "cust-1")
        _then(store, "agent-1", EndChat("agent-1", "chat-1"), seconds=100)
        feed = store.events()
        old = [e for e in feed if e.recorded_at < _at(50)]
        assert 0 < len(old) < len(feed)
        assert store.prune_events(_at(50), 1) == 1
        assert store.prune_events(_at(50), 1000) == len(old) - 1
        assert store.events() == feed[len(old) :]
        assert store.prune_events(_at(50), 1000) == 0

    def test_positions_are_never_given_again_once_pruned(self, store: Store) -> None:
        _assigned(store, "agent-1", "chat-1", "cust-1")
        last = store.last_position()
        store.prune_events(_at(10_000), 1000)
        assert store.events() == []
        _then(store, "agent-1", EndChat("agent-1", "chat-1"))
        assert min(stored.position for stored in store.events()) > last

    def test_erasing_a_customer_erases_the_events_of_their_chats(
        self, store: Store
    ) -> None:
        _assigned(store, "agent-1", "chat-1", "cust-1")
        _assigned(store, "agent-2", "chat-2", "cust-2")
        _then(store, "agent-1", ClassifyChat("agent-1", "chat-1", text="refund"))
        _then(store, "agent-1", EndChat("agent-1", "chat-1"))
        stored = store.load("agent-1")
        assert stored is not None
        # The agent lets go of the chat (the service does so on completion).
        store.save(Change("agent-1", stored.version, AgentState.new("agent-1")))
        others = [e for e in store.events() if e.event.agent_id == "agent-2"]
        chat_events = [
            e for e in store.events() if getattr(e.event, "chat_id", None) == "chat-1"
        ]
        erasure = store.erase_customer(
            "cust-1", erasure_id="erasure-1", erased_at=_at(5), erased_by="dpo"
        )
        assert erasure.events == len(chat_events) > 0
        left = store.events()
        assert not [e for e in left if getattr(e.event, "chat_id", None) == "chat-1"]
        assert [e for e in left if e.event.agent_id == "agent-2"] == others
        assert store.erasures()[-1].events == erasure.events
        assert "refund" not in repr(left)

    def test_history_changes_come_in_commit_order(self, store: Store) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        late = _entry("cust-1", "chat-1", ended=300)
        early = _entry("cust-2", "chat-2", ended=10)  # a late expiry, say
        store.save(Change("agent-1", 1, AgentState.new("agent-1"), (late,)))
        store.save(Change("agent-1", 2, AgentState.new("agent-1"), (early,)))
        changes = store.history_changes()
        assert [change.entry for change in changes] == [late, early]
        assert changes[0].position < changes[1].position
        assert store.history_changes(after=changes[0].position) == changes[1:]
        assert store.history_changes(limit=1) == changes[:1]

    def test_history_changes_of_an_erased_customer_are_gone(self, store: Store) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        kept = _entry("cust-2", "chat-2", ended=10)
        entries = (_entry("cust-1", "chat-1", ended=5), kept)
        store.save(Change("agent-1", 1, AgentState.new("agent-1"), entries))
        store.erase_customer(
            "cust-1", erasure_id="erasure-1", erased_at=_at(5), erased_by="dpo"
        )
        assert [change.entry for change in store.history_changes()] == [kept]

    @pytest.mark.parametrize("after", [-1, True, "3", 2.0, None, 2**63])
    def test_a_bad_position_is_refused(self, store: Store, after: object) -> None:
        for read in (store.events, store.history_changes):
            with pytest.raises(InvalidInput) as raised:
                read(after)  # type: ignore[arg-type]
            assert raised.value.code is ErrorCode.INVALID_PAGE
        with pytest.raises(InvalidInput):
            store.wait_for_events(after, 0.01)  # type: ignore[arg-type]

    @pytest.mark.parametrize("limit", [0, 1001, True, "5"])
    def test_a_bad_feed_page_size_is_refused(self, store: Store, limit: object) -> None:
        for read in (store.events, store.history_changes):
            with pytest.raises(InvalidInput):
                read(0, limit)  # type: ignore[arg-type]

    @pytest.mark.parametrize("timeout", [-1, 3601, "1", None, True])
    def test_a_bad_wait_is_refused(self, store: Store, timeout: object) -> None:
        with pytest.raises(InvalidInput):
            store.wait_for_events(0, timeout)  # type: ignore[arg-type]

    def test_a_closed_store_refuses_the_feeds_as_closed(self, store: Store) -> None:
        store.close()
        for call in (
            store.events,
            store.last_position,
            store.history_changes,
            lambda: store.wait_for_events(0, 0.01),
            lambda: store.prune_events(T0, 10),
        ):
            with pytest.raises(StoreError) as raised:
                call()
            assert raised.value.code is ErrorCode.STORE_CLOSED

    def test_a_follower_waiting_when_the_store_closes_stops_as_closed(
        self, store: Store
    ) -> None:
        _assigned(store, "agent-1", "chat-1", "cust-1")
        last = store.last_position()
        raised: list[StoreError] = []

        def follower() -> None:
            try:
                for _ in follow(store, last, wait=5):
                    pass
            except StoreError as error:
                raised.append(error)

        thread = threading.Thread(target=follower)
        thread.start()
        time.sleep(0.3)  # waiting now
        store.close()
        thread.join(4)  # well within its wait of 5 s
        assert not thread.is_alive()
        assert [error.code for error in raised] == [ErrorCode.STORE_CLOSED]

    def test_prunes_refuse_bad_arguments_and_a_limit_below_one_prunes_nothing(
        self, store: Store
    ) -> None:
        _assigned(store, "agent-1", "chat-1", "cust-1")
        feed = store.events()
        for prune in (store.prune_events, store.prune_commands):
            for before, limit in ((T0, None), (T0, 2.0), (None, 5), ("9", 5)):
                with pytest.raises(InvalidInput):
                    prune(before, limit)  # type: ignore[arg-type]
            assert prune(_at(10_000), 0) == 0
            assert prune(_at(10_000), -1) == 0
        assert store.events() == feed
