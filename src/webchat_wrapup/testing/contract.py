"""The store contract: one pytest class every store adapter must pass.

Subclass :class:`StoreContract` in your test suite and override the
``store`` fixture to yield a fresh, empty store::

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            with MyStore(tmp_path / "db") as store:
                yield store

The built-in stores are tested exactly this way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

from .._core._agent import AgentState
from .._core._commands import (
    AssignChat,
    ClassifyChat,
    EndChat,
    ExtendWrapUp,
    TransferChat,
)
from .._core._decide import decide
from .._core._errors import (
    CommandIdReused,
    CommandRefused,
    ErrorCode,
    InvalidInput,
    StoreError,
    VersionConflict,
    WrapUpError,
)
from .._core._history import ContactHistoryEntry
from .._core._policy import QueuePolicy, WrapUpPolicy
from ..ports import (
    Change,
    CommandRecord,
    ErasureRecord,
    Outcome,
    RemembersStates,
    Store,
)
from ._builders import T0 as T0
from ._builders import at as _at
from ._builders import history_entry as _entry
from .feed_contract import FeedContract
from .strategies import command_sequences

LEASE = timedelta(seconds=30)


def _in_wrap_up(agent_id: str, ended: float, countdown: int = 60) -> AgentState:
    policy = QueuePolicy("support", WrapUpPolicy(countdown_seconds=countdown))
    state = AgentState.new(agent_id)
    chat_id = f"chat-of-{agent_id}"  # one chat, one holder: ids differ by agent
    state = decide(state, AssignChat(agent_id, chat_id, "cust-1", policy), T0).state
    return decide(state, EndChat(agent_id, chat_id), _at(ended)).state


def _record(
    command_id: str, agent_id: str = "agent-1", recorded: float | None = 0
) -> CommandRecord:
    at = None if recorded is None else _at(recorded)
    return CommandRecord(command_id, agent_id, "fingerprint", Outcome(agent_id, 2), at)


def _holding(agent_id: str, *chat_ids: str, customer_id: str = "cust-1") -> AgentState:
    policy = QueuePolicy("support")
    state = AgentState.new(agent_id, capacity=10)
    for chat_id in chat_ids:
        assign = AssignChat(agent_id, chat_id, customer_id, policy)
        state = decide(state, assign, T0).state
    return state


def _naming(
    command_id: str, *entries: ContactHistoryEntry, agent_id: str = "agent-1"
) -> CommandRecord:
    """A record whose outcome carries ``entries`` (and so their customers)."""
    outcome = Outcome(agent_id, 2, (), entries)
    return CommandRecord(command_id, agent_id, "fingerprint", outcome, T0)


def _erase(store: Store, customer_id: str, seconds: float = 0) -> ErasureRecord:
    return store.erase_customer(
        customer_id,
        erasure_id=f"erasure-{customer_id}-{seconds}",
        erased_at=_at(seconds),
        erased_by="dpo-1",
    )


def _version(store: Store, agent_id: str) -> int:
    stored = store.load(agent_id)
    return 0 if stored is None else stored.version


class StoreContract(FeedContract):
    """Everything a :class:`~webchat_wrapup.ports.Store` must do (the feeds'
    part in :class:`~webchat_wrapup.testing.feed_contract.FeedContract`)."""

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        """Override: yield a fresh, empty store."""
        raise NotImplementedError("override the store fixture")

    # Agents and versions

    def test_an_agent_never_saved_loads_as_none(self, store: Store) -> None:
        assert store.load("nobody") is None

    def test_a_new_agent_is_stored_at_version_one(self, store: Store) -> None:
        state = AgentState.new("agent-1", capacity=2)
        store.save(Change("agent-1", 0, state))
        stored = store.load("agent-1")
        assert stored is not None
        assert (stored.state, stored.version) == (state, 1)

    def test_adding_an_agent_twice_conflicts(self, store: Store) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        with pytest.raises(VersionConflict):
            store.save(Change("agent-1", 0, AgentState.new("agent-1", capacity=3)))
        stored = store.load("agent-1")
        assert stored is not None
        assert stored.state.capacity == 1

    def test_each_save_moves_the_version_on_by_one(self, store: Store) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        state = _in_wrap_up("agent-1", 30)
        store.save(Change("agent-1", 1, state))
        stored = store.load("agent-1")
        assert stored is not None
        assert (stored.state, stored.version) == (state, 2)

    def test_a_stale_save_conflicts_and_writes_nothing(self, store: Store) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        store.save(Change("agent-1", 1, _in_wrap_up("agent-1", 30)))
        stale = Change(
            "agent-1",
            1,
            AgentState.new("agent-1", capacity=5),
            (_entry("cust-1", "chat-1", 1),),
            _record("cmd-1"),
        )
        with pytest.raises(VersionConflict) as caught:
            store.save(stale)
        assert isinstance(caught.value, WrapUpError)
        stored = store.load("agent-1")
        assert stored is not None
        assert stored.version == 2
        assert stored.state.capacity == 1
        assert store.history("cust-1").entries == ()
        assert store.find_command("cmd-1") is None

    def test_saving_an_unknown_agent_at_a_version_conflicts(self, store: Store) -> None:
        with pytest.raises(VersionConflict):
            store.save(Change("ghost", 3, AgentState.new("ghost")))
        assert store.load("ghost") is None

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(steps=command_sequences(max_size=15))
    def test_every_reachable_state_loads_back_equal(
        self, store: Store, steps: list[tuple[int, object]]
    ) -> None:
        agent_id = "agent-1"
        stored = store.load(agent_id)
        version = 0 if stored is None else stored.version
        state = AgentState.new(agent_id, capacity=3)
        now = T0
        for delay, command in steps:
            now += timedelta(milliseconds=delay)
            try:
                state = decide(state, command, now).state  # type: ignore[arg-type]
            except WrapUpError:
                continue
            store.save(Change(agent_id, version, state))
            version += 1
            loaded = store.load(agent_id)
            assert loaded is not None
            assert (loaded.state, loaded.version) == (state, version)

    # History and command records

    def test_a_save_writes_the_state_its_history_and_its_record_together(
        self, store: Store
    ) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        entry = _entry("cust-1", "chat-1", 5)
        store.save(
            Change("agent-1", 1, AgentState.new("agent-1"), (entry,), _record("c-1"))
        )
        assert store.history("cust-1").entries == (entry,)
        record = store.find_command("c-1")
        assert record == _record("c-1")

    def test_a_reused_command_id_is_refused_and_writes_nothing(
        self, store: Store
    ) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1"), (), _record("c-1")))
        store.save(Change("agent-2", 0, AgentState.new("agent-2")))
        with pytest.raises(CommandIdReused):
            store.save(
                Change(
                    "agent-2",
                    1,
                    AgentState.new("agent-2", capacity=4),
                    (_entry("cust-9", "chat-9", 1),),
                    _record("c-1", "agent-2"),
                )
            )
        stored = store.load("agent-2")
        assert stored is not None
        assert (stored.version, stored.state.capacity) == (1, 1)
        assert store.history("cust-9").entries == ()

    def test_a_chat_id_may_come_back_once_its_chat_is_done(self, store: Store) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        entry = _entry("cust-1", "chat-1", 5)
        store.save(Change("agent-1", 1, AgentState.new("agent-1"), (entry,)))
        store.save(Change("agent-1", 2, AgentState.new("agent-1"), (entry,)))
        assert store.history("cust-1").entries == (entry, entry)

    def test_an_unknown_command_id_has_no_record(self, store: Store) -> None:
        assert store.find_command("never") is None

    def test_a_record_keeps_when_it_was_recorded(self, store: Store) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1"), (), _record("c")))
        found = store.find_command("c")
        assert found is not None
        assert found.recorded_at == _at(0)

    def test_records_older_than_the_horizon_are_pruned_up_to_the_limit(
        self, store: Store
    ) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        for number in range(5):
            record = _record(f"old-{number}", recorded=number)
            change = Change("agent-1", number + 1, AgentState.new("agent-1"))
            store.save(attrs.evolve(change, command=record))
        young = _record("young", recorded=100)
        store.save(Change("agent-1", 6, AgentState.new("agent-1"), (), young))
        assert store.prune_commands(_at(50), 3) == 3
        assert store.prune_commands(_at(50), 3) == 2
        assert store.prune_commands(_at(50), 3) == 0
        assert all(store.find_command(f"old-{n}") is None for n in range(5))
        assert store.find_command("young") == young

    def test_a_record_without_a_time_counts_as_old(self, store: Store) -> None:
        record = _record("timeless", recorded=None)
        store.save(Change("agent-1", 0, AgentState.new("agent-1"), (), record))
        assert store.prune_commands(T0, 10) == 1
        assert store.find_command("timeless") is None

    def test_a_settled_load_sees_the_latest_save(self, store: Store) -> None:
        assert store.load_settled("agent-1") is None
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        store.save(Change("agent-1", 1, _holding("agent-1", "chat-1")))
        settled = store.load_settled("agent-1")
        assert settled is not None
        assert settled.version == 2
        assert settled == store.load("agent-1")

    # One chat, one holder

    def test_a_chat_held_by_one_agent_cannot_be_saved_for_another(
        self, store: Store
    ) -> None:
        store.save(Change("agent-1", 0, _holding("agent-1", "chat-1")))
        store.save(Change("agent-2", 0, AgentState.new("agent-2")))
        with pytest.raises(CommandRefused) as refused:
            store.save(Change("agent-2", 1, _holding("agent-2", "chat-1")))
        assert refused.value.code is ErrorCode.CHAT_HELD_BY_ANOTHER_AGENT
        stored = store.load("agent-2")
        assert stored is not None
        assert (stored.version, stored.state.chats) == (1, ())

    def test_save_all_writes_every_change_or_none(self, store: Store) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        store.save(Change("agent-2", 0, AgentState.new("agent-2")))
        entry = _entry("cust-1", "chat-9", 1)
        good = Change("agent-1", 1, _holding("agent-1", "chat-1"), (entry,))
        stale = Change("agent-2", 7, _holding("agent-2", "chat-2"))
        with pytest.raises(VersionConflict):
            store.save_all([good, stale])
        assert [s.version for s in map(store.load, ("agent-1", "agent-2")) if s] == [
            1,
            1,
        ]
        assert store.history("cust-1").entries == ()
        fresh = Change("agent-2", 1, _holding("agent-2", "chat-2"))
        store.save_all([good, fresh])
        assert store.history("cust-1").entries == (entry,)
        loaded = store.load("agent-2")
        assert loaded is not None
        assert loaded.version == 2

    def test_a_transfer_hands_the_next_leg_over_in_one_save(self, store: Store) -> None:
        policy = QueuePolicy("support")
        first = _holding("agent-1", "chat-1")
        store.save(Change("agent-1", 0, first))
        store.save(Change("agent-2", 0, AgentState.new("agent-2")))
        moved = TransferChat("agent-1", "chat-1", to_agent_id="agent-2")
        after = decide(first, moved, T0).state  # leg 1 in wrap-up
        taken = AssignChat("agent-2", "chat-1", "cust-1", policy, leg=2)
        second = decide(AgentState.new("agent-2", capacity=10), taken, T0).state
        store.save_all([Change("agent-1", 1, after), Change("agent-2", 1, second)])
        # leg 2 is agent-2's; nobody else may take leg 2, or leg 1 again
        store.save(Change("agent-3", 0, AgentState.new("agent-3")))
        also = AssignChat("agent-3", "chat-1", "cust-1", policy, leg=2)
        again = decide(AgentState.new("agent-3", capacity=10), also, T0).state
        with pytest.raises(CommandRefused):
            store.save(Change("agent-3", 1, again))
        with pytest.raises(CommandRefused):
            store.save(Change("agent-3", 1, _holding("agent-3", "chat-1")))

    def test_a_chat_released_by_one_agent_may_be_held_by_another(
        self, store: Store
    ) -> None:
        store.save(Change("agent-1", 0, _holding("agent-1", "chat-1", "chat-2")))
        store.save(Change("agent-1", 1, _holding("agent-1", "chat-2")))
        store.save(Change("agent-2", 0, _holding("agent-2", "chat-1")))
        with pytest.raises(CommandRefused):
            store.save(Change("agent-2", 1, _holding("agent-2", "chat-1", "chat-2")))
        loaded = store.load("agent-2")
        assert loaded is not None
        assert [chat.chat_id for chat in loaded.state.chats] == ["chat-1"]

    def test_of_two_agents_taking_one_chat_at_once_exactly_one_holds_it(
        self, store: Store
    ) -> None:
        agents = [f"agent-{number}" for number in range(6)]
        for agent_id in agents:
            store.save(Change(agent_id, 0, AgentState.new(agent_id)))
        barrier = threading.Barrier(len(agents))
        won: list[str] = []

        def take(agent_id: str) -> None:
            barrier.wait()
            try:
                store.save(Change(agent_id, 1, _holding(agent_id, "chat-x")))
            except CommandRefused:
                return
            won.append(agent_id)

        threads = [threading.Thread(target=take, args=(a,)) for a in agents]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1
        holders = [a for a in agents if (s := store.load(a)) and s.state.chats]
        assert holders == won

    def test_history_is_ordered_by_the_end_of_wrap_up(self, store: Store) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        late, early = _entry("cust-1", "chat-1", 50), _entry("cust-1", "chat-2", 10)
        other = _entry("cust-2", "chat-3", 1)
        store.save(Change("agent-1", 1, AgentState.new("agent-1"), (late, other)))
        store.save(Change("agent-1", 2, AgentState.new("agent-1"), (early,)))
        assert store.history("cust-1").entries == (early, late)
        assert store.history("cust-2").entries == (other,)
        assert store.history("cust-3").entries == ()

    def test_history_pages_cover_every_entry_once(self, store: Store) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        entries = tuple(_entry("cust-1", f"chat-{i}", i % 4) for i in range(11))
        store.save(Change("agent-1", 1, AgentState.new("agent-1"), entries))
        seen: list[ContactHistoryEntry] = []
        cursor = None
        for _ in range(10):
            page = store.history("cust-1", cursor=cursor, limit=3)
            assert len(page.entries) <= 3
            seen.extend(page.entries)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert sorted(e.chat_id for e in seen) == sorted(e.chat_id for e in entries)
        assert len(seen) == len(entries)
        ends = [entry.wrap_up_ended_at for entry in seen]
        assert ends == sorted(ends)

    def test_all_history_yields_every_entry_in_history_order(
        self, store: Store
    ) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        first = tuple(_entry(f"cust-{i % 3}", f"chat-{i}", i % 5) for i in range(9))
        second = (_entry("cust-9", "chat-9", 2), _entry("cust-0", "chat-10", 0))
        store.save(Change("agent-1", 1, AgentState.new("agent-1"), first))
        store.save(Change("agent-1", 2, AgentState.new("agent-1"), second))
        written = [*first, *second]
        expected = sorted(written, key=lambda e: (e.wrap_up_ended_at, written.index(e)))
        assert list(store.all_history()) == expected

    def test_all_history_reads_one_snapshot_and_does_not_block_writers(
        self, store: Store
    ) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        old = (_entry("cust-1", "chat-1", 1), _entry("cust-1", "chat-2", 2))
        store.save(Change("agent-1", 1, AgentState.new("agent-1"), old))
        reading = store.all_history()
        assert next(reading) == old[0]
        late = _entry("cust-1", "chat-3", 0)
        store.save(Change("agent-1", 2, AgentState.new("agent-1"), (late,)))
        assert list(reading) == [old[1]]
        assert [e.chat_id for e in store.all_history()] == [
            "chat-3",
            "chat-1",
            "chat-2",
        ]

    def test_a_history_read_dropped_half_way_leaves_the_store_usable(
        self, store: Store
    ) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        entries = tuple(_entry("cust-1", f"chat-{i}", i) for i in range(5))
        store.save(Change("agent-1", 1, AgentState.new("agent-1"), entries))
        for _ in range(20):
            reading = store.all_history()
            next(reading)
            reading.close()  # type: ignore[attr-defined]
        store.save(Change("agent-1", 2, AgentState.new("agent-1")))
        assert len(list(store.all_history())) == 5

    def test_a_closed_store_refuses_every_call_as_closed(self, store: Store) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        store.close()
        calls: list[Callable[[], object]] = [
            lambda: store.load("agent-1"),
            lambda: store.save(Change("agent-2", 0, AgentState.new("agent-2"))),
            lambda: store.find_command("command-1"),
            lambda: store.history("cust-1"),
            lambda: list(store.all_history()),
            lambda: store.claim_due(T0, 10, LEASE),
        ]
        for call in calls:
            with pytest.raises(StoreError) as raised:
                call()
            assert raised.value.code is ErrorCode.STORE_CLOSED
        store.close()  # closing twice is allowed

    def test_leaving_a_with_block_closes_the_store(self, store: Store) -> None:
        with store as entered:
            assert entered is store
            assert store.load("agent-1") is None
        with pytest.raises(StoreError) as raised:
            store.load("agent-1")
        assert raised.value.code is ErrorCode.STORE_CLOSED

    @pytest.mark.parametrize("limit", [0, -1, 1001])
    def test_a_page_size_out_of_range_is_refused(
        self, store: Store, limit: int
    ) -> None:
        with pytest.raises(InvalidInput) as caught:
            store.history("cust-1", limit=limit)
        assert caught.value.code is ErrorCode.INVALID_PAGE

    def test_a_bad_cursor_is_refused(self, store: Store) -> None:
        with pytest.raises(InvalidInput) as caught:
            store.history("cust-1", cursor="not a cursor")
        assert caught.value.code is ErrorCode.INVALID_PAGE

    # Due wrap-ups and claims

    def test_only_agents_with_a_wrap_up_due_are_claimed_earliest_first(
        self, store: Store
    ) -> None:
        for number, ended in enumerate([40, 10, 500, 25]):
            agent_id = f"agent-{number}"
            store.save(Change(agent_id, 0, _in_wrap_up(agent_id, ended)))
        store.save(Change("idle", 0, AgentState.new("idle")))
        due = store.claim_due(_at(100), 10, LEASE)
        assert due == ["agent-1", "agent-3", "agent-0"]

    def test_a_claim_returns_at_most_the_limit(self, store: Store) -> None:
        for number in range(5):
            store.save(Change(f"a-{number}", 0, _in_wrap_up(f"a-{number}", number)))
        assert len(store.claim_due(_at(1000), 2, LEASE)) == 2
        assert len(store.claim_due(_at(1000), 10, LEASE)) == 3

    def test_a_claimed_agent_is_not_claimed_again_until_its_lease_ends(
        self, store: Store
    ) -> None:
        store.save(Change("agent-1", 0, _in_wrap_up("agent-1", 0)))
        assert store.claim_due(_at(60), 10, LEASE) == ["agent-1"]
        assert store.claim_due(_at(61), 10, LEASE) == []
        assert store.claim_due(_at(60) + LEASE, 10, LEASE) == ["agent-1"]

    def test_agents_never_claimed_come_before_claims_that_ran_out(
        self, store: Store
    ) -> None:
        for number, ended in enumerate((0, 5, 10)):
            agent_id = f"agent-{number}"
            store.save(Change(agent_id, 0, _in_wrap_up(agent_id, ended)))
        # agent-0 (earliest) is claimed, then its sweep fails: no save.
        assert store.claim_due(_at(200), 1, LEASE) == ["agent-0"]
        later = _at(200) + LEASE
        assert store.claim_due(later, 3, LEASE) == ["agent-1", "agent-2", "agent-0"]

    def test_saving_an_agent_releases_its_claim(self, store: Store) -> None:
        store.save(Change("agent-1", 0, _in_wrap_up("agent-1", 0, countdown=10)))
        assert store.claim_due(_at(10), 10, LEASE) == ["agent-1"]
        extended = decide(
            _in_wrap_up("agent-1", 0, countdown=10),
            ExtendWrapUp("agent-1", "chat-of-agent-1"),
            _at(5),
        ).state
        store.save(Change("agent-1", 1, extended))
        assert store.claim_due(_at(20), 10, LEASE) == []
        assert store.claim_due(_at(70), 10, LEASE) == ["agent-1"]

    def test_an_agent_with_nothing_due_is_never_claimed(self, store: Store) -> None:
        store.save(Change("agent-1", 0, _in_wrap_up("agent-1", 0)))
        store.save(Change("agent-1", 1, AgentState.new("agent-1")))
        assert store.claim_due(_at(10**6), 10, LEASE) == []

    # Concurrency

    def test_of_concurrent_saves_at_one_version_exactly_one_wins(
        self, store: Store
    ) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        results: list[str] = []
        barrier = threading.Barrier(8)

        def writer(capacity: int) -> None:
            barrier.wait()
            state = AgentState.new("agent-1", capacity=capacity)
            try:
                store.save(Change("agent-1", 1, state))
            except VersionConflict:
                results.append("conflict")
            else:
                results.append(f"won {capacity}")

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(1, 9)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [result for result in results if result.startswith("won")]
        assert len(winners) == 1
        assert results.count("conflict") == 7
        stored = store.load("agent-1")
        assert stored is not None
        assert stored.version == 2
        assert winners == [f"won {stored.state.capacity}"]

    def test_of_concurrent_claims_each_agent_goes_to_one_claimant(
        self, store: Store
    ) -> None:
        for number in range(40):
            store.save(Change(f"a-{number}", 0, _in_wrap_up(f"a-{number}", 0)))
        claims: list[list[str]] = []
        barrier = threading.Barrier(4)

        def sweeper() -> None:
            barrier.wait()
            claims.append(store.claim_due(_at(100), 15, LEASE))

        threads = [threading.Thread(target=sweeper) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        claimed = [agent for claim in claims for agent in claim]
        assert len(claimed) == len(set(claimed)) == 40

    # Erasing a customer's data

    def test_erasing_a_customer_deletes_their_entries_and_records_only(
        self, store: Store
    ) -> None:
        mine = (_entry("cust-1", "chat-1", 1), _entry("cust-1", "chat-2", 2))
        theirs = _entry("cust-2", "chat-3", 3)
        idle = AgentState.new("agent-1")
        store.save(Change("agent-1", 0, idle, mine, _naming("c-1", *mine)))
        store.save(Change("agent-1", 1, idle, (theirs,), _naming("c-2", theirs)))
        store.save(Change("agent-1", 2, idle, (), _record("c-3")))
        erasure = _erase(store, "cust-1", 5)
        assert erasure == ErasureRecord("erasure-cust-1-5", _at(5), "dpo-1", 2, 1)
        assert store.history("cust-1").entries == ()
        assert store.find_command("c-1") is None
        assert store.history("cust-2").entries == (theirs,)
        assert store.find_command("c-2") == _naming("c-2", theirs)
        assert store.find_command("c-3") == _record("c-3")
        assert list(store.all_history()) == [theirs]
        assert store.erasures() == (erasure,)

    def test_a_record_naming_two_customers_goes_with_either(self, store: Store) -> None:
        both = (_entry("cust-1", "chat-1", 1), _entry("cust-2", "chat-2", 1))
        idle = AgentState.new("agent-1")
        store.save(Change("agent-1", 0, idle, both, _naming("c-1", *both)))
        assert _erase(store, "cust-2").command_records == 1
        assert store.find_command("c-1") is None
        later = _erase(store, "cust-1", 1)
        assert (later.history_entries, later.command_records) == (1, 0)

    def test_a_record_is_found_by_the_customer_of_the_chat_its_events_name(
        self, store: Store
    ) -> None:
        # A classification's event names only its chat; the store finds the
        # customer in the state the record was saved with.
        state = AgentState.new("agent-1")
        assign = AssignChat("agent-1", "chat-1", "cust-7", QueuePolicy("support"))
        state = decide(state, assign, T0).state
        store.save(Change("agent-1", 0, state))
        classify = ClassifyChat("agent-1", "chat-1", text="Refund", additional_text="x")
        decision = decide(state, classify, _at(1))
        outcome = Outcome("agent-1", 2, decision.events)
        record = CommandRecord("c-1", "agent-1", "fingerprint", outcome, T0)
        store.save(Change("agent-1", 1, decision.state, (), record))
        store.save(Change("agent-1", 2, AgentState.new("agent-1")))  # it ended
        assert _erase(store, "cust-7").command_records == 1
        assert store.find_command("c-1") is None

    @pytest.mark.parametrize("ended", [None, 30.0], ids=["active", "in wrap-up"])
    def test_erasing_a_customer_whose_chat_is_held_is_refused_and_deletes_nothing(
        self, store: Store, ended: float | None
    ) -> None:
        entry = _entry("cust-1", "chat-0", 1)
        idle = AgentState.new("agent-2")
        store.save(Change("agent-2", 0, idle, (entry,), _naming("c-1", entry)))
        held = (
            _holding("agent-1", "chat-1")
            if ended is None
            else (_in_wrap_up("agent-1", ended))
        )
        store.save(Change("agent-1", 0, held))
        with pytest.raises(CommandRefused) as refused:
            _erase(store, "cust-1")
        assert refused.value.code is ErrorCode.CUSTOMER_CHAT_HELD
        assert refused.value.details["agent_id"] == "agent-1"
        assert refused.value.details["chat_id"] == held.chats[0].chat_id
        assert store.history("cust-1").entries == (entry,)
        assert store.find_command("c-1") is not None
        assert store.erasures() == ()

    def test_an_erasure_refused_names_the_first_holder_by_agent_id(
        self, store: Store
    ) -> None:
        # Saved in the other order: the store names by id, not by write.
        store.save(Change("agent-b", 0, _holding("agent-b", "chat-1", "chat-2")))
        store.save(Change("agent-a", 0, _holding("agent-a", "chat-9", "chat-3")))
        with pytest.raises(CommandRefused) as refused:
            _erase(store, "cust-1")
        assert refused.value.details["agent_id"] == "agent-a"
        assert refused.value.details["chat_id"] == "chat-3"

    def test_a_customer_may_be_erased_once_their_chat_is_let_go_of(
        self, store: Store
    ) -> None:
        store.save(Change("agent-1", 0, _holding("agent-1", "chat-1")))
        store.save(Change("agent-2", 0, _holding("agent-2", "chat-2", customer_id="x")))
        with pytest.raises(CommandRefused):
            _erase(store, "cust-1")
        store.save(Change("agent-1", 1, AgentState.new("agent-1")))
        assert _erase(store, "cust-1") == ErasureRecord(
            "erasure-cust-1-0", T0, "dpo-1", 0, 0
        )

    def test_a_chat_id_held_again_for_another_customer_names_that_customer(
        self, store: Store
    ) -> None:
        # The wrap-up of chat-3 (cust-2) ran out, and the same chat id came
        # back for cust-1 before any sweep: the agent holds cust-1's chat.
        before = _in_wrap_up("agent-1", 0)  # chat-of-agent-1, for cust-1
        chat_id = "chat-of-agent-1"
        store.save(Change("agent-1", 0, before))
        policy = QueuePolicy("support")
        again = decide(
            before, AssignChat("agent-1", chat_id, "cust-2", policy), _at(90)
        )
        assert again.history  # the wrap-up before expired on the way
        store.save(Change("agent-1", 1, again.state, again.history))
        with pytest.raises(CommandRefused) as refused:
            _erase(store, "cust-2")
        assert refused.value.code is ErrorCode.CUSTOMER_CHAT_HELD
        assert _erase(store, "cust-1").history_entries == 1

    def test_a_pruned_record_is_not_counted_by_a_later_erasure(
        self, store: Store
    ) -> None:
        entry = _entry("cust-1", "chat-1", 1)
        idle = AgentState.new("agent-1")
        store.save(Change("agent-1", 0, idle, (entry,), _naming("c-1", entry)))
        assert store.prune_commands(_at(1), 10) == 1
        assert _erase(store, "cust-1").command_records == 0

    def test_erasures_read_back_oldest_first(self, store: Store) -> None:
        late = _erase(store, "cust-1", 20)
        early = _erase(store, "cust-2", 10)
        assert store.erasures() == (early, late)

    # Retiring an agent

    def test_a_retired_agent_is_gone_with_its_claim(self, store: Store) -> None:
        store.save(Change("agent-1", 0, _in_wrap_up("agent-1", 0)))
        store.save(Change("agent-2", 0, _in_wrap_up("agent-2", 0)))
        store.retire("agent-1", 1)
        assert store.load("agent-1") is None
        assert store.load_settled("agent-1") is None
        assert store.claim_due(_at(100), 10, LEASE) == ["agent-2"]

    def test_the_chats_of_a_retired_agent_may_be_held_by_another(
        self, store: Store
    ) -> None:
        # The store removes what the agent holds (the service retires only
        # agents holding nothing): no stale holder is left behind.
        store.save(Change("agent-1", 0, _holding("agent-1", "chat-1")))
        store.retire("agent-1", 1)
        assert _erase(store, "cust-1").history_entries == 0
        store.save(Change("agent-2", 0, _holding("agent-2", "chat-1")))
        stored = store.load("agent-2")
        assert stored is not None
        assert [chat.chat_id for chat in stored.state.chats] == ["chat-1"]

    def test_retiring_at_a_stale_version_conflicts_and_removes_nothing(
        self, store: Store
    ) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        store.save(Change("agent-1", 1, AgentState.new("agent-1", capacity=2)))
        with pytest.raises(VersionConflict):
            store.retire("agent-1", 1)
        with pytest.raises(VersionConflict):
            store.retire("ghost", 1)
        stored = store.load("agent-1")
        assert stored is not None
        assert (stored.version, stored.state.capacity) == (2, 2)

    def test_an_agent_added_again_goes_on_from_its_retired_version(
        self, store: Store
    ) -> None:
        for version in range(3):
            store.save(Change("agent-1", version, AgentState.new("agent-1")))
        store.retire("agent-1", 3)
        again = AgentState.new("agent-1", capacity=4)
        store.save(Change("agent-1", 0, again))
        stored = store.load("agent-1")
        assert stored is not None
        assert (stored.state, stored.version) == (again, 4)
        # A state read before the retirement can never be saved over it.
        for stale in (1, 2, 3):
            with pytest.raises(VersionConflict):
                store.save(Change("agent-1", stale, AgentState.new("agent-1")))
        store.save(Change("agent-1", 4, again))
        store.retire("agent-1", 5)
        store.save(Change("agent-1", 0, again))
        assert _version(store, "agent-1") == 6

    def test_retiring_an_agent_keeps_its_customers_history(self, store: Store) -> None:
        entry = _entry("cust-1", "chat-1", 1)
        store.save(Change("agent-1", 0, AgentState.new("agent-1"), (entry,)))
        store.retire("agent-1", 1)
        assert store.history("cust-1").entries == (entry,)

    def test_a_closed_store_refuses_erasure_and_retirement_as_closed(
        self, store: Store
    ) -> None:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        store.close()
        calls: list[Callable[[], object]] = [
            lambda: _erase(store, "cust-1"),
            lambda: store.erasures(),
            lambda: store.retire("agent-1", 1),
        ]
        for call in calls:
            with pytest.raises(StoreError) as raised:
                call()
            assert raised.value.code is ErrorCode.STORE_CLOSED


class RemembersStatesContract:
    """For a store that also offers ``load_remembered`` (the optional
    :class:`~webchat_wrapup.ports.RemembersStates`): subclass it beside
    :class:`StoreContract`, with the same ``store`` fixture."""

    def test_a_remembered_state_is_one_that_was_stored(self, store: Store) -> None:
        assert isinstance(store, RemembersStates)
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        store.save(Change("agent-1", 1, _holding("agent-1", "chat-1")))
        refused = Change("agent-1", 1, AgentState.new("agent-1", capacity=2))
        with pytest.raises(VersionConflict):
            store.save(refused)
        rolled_back = [
            Change("agent-1", 2, _holding("agent-1", "chat-2")),
            Change("agent-2", 5, AgentState.new("agent-2")),
        ]
        with pytest.raises(VersionConflict):
            store.save_all(rolled_back)
        assert store.load_remembered("agent-1") in (None, store.load("agent-1"))
        assert store.load_remembered("agent-2") is None
