"""The service: load, decide, save atomically, then notify; retries; replays."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from support import T0, at, queue
from webchat_wrapup import (
    AgentExists,
    AgentView,
    AssignChat,
    ChatAssigned,
    ClassifyChat,
    CommandIdReused,
    CommandRefused,
    ErrorCode,
    Event,
    ExtendWrapUp,
    InvalidInput,
    InvalidPolicy,
    NotificationFailed,
    QueuePolicy,
    Status,
    StatusChanged,
    UnknownAgent,
    VersionConflict,
    WrapUpCompleted,
    WrapUpExtended,
    WrapUpPaused,
    WrapUpPolicy,
    decide,
)
from webchat_wrapup.clocks import ManualClock
from webchat_wrapup.ports import Change, Store
from webchat_wrapup.service import WrapUpService, fingerprint_of
from webchat_wrapup.stores import MemoryStore, SQLiteStore


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    with SQLiteStore(tmp_path / "wrapup.db", synchronous="NORMAL") as sqlite:
        yield sqlite


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def service(store: Store, clock: ManualClock) -> WrapUpService:
    service = WrapUpService(store, clock)
    service.add_agent("agent-1")
    return service


def in_wrap_up(service: WrapUpService, clock: ManualClock, chat_id: str = "c1") -> None:
    service.assign("agent-1", chat_id, "cust-1", queue())
    clock.advance(30)
    service.end_chat("agent-1", chat_id)


def test_a_command_is_saved_and_its_events_returned(
    service: WrapUpService, clock: ManualClock
) -> None:
    outcome = service.assign("agent-1", "c1", "cust-1", queue())
    assert outcome.version == 2
    assert [type(e) for e in outcome.events] == [ChatAssigned, StatusChanged]
    assert service.view("agent-1").status is Status.HANDLING_CHAT


def test_subscribers_hear_every_event_after_the_change_is_committed(
    service: WrapUpService, store: Store, clock: ManualClock
) -> None:
    seen: list[tuple[Event, int]] = []

    def listener(event: Event) -> None:
        stored = store.load("agent-1")
        assert stored is not None
        seen.append((event, stored.version))

    service.subscribe(listener)
    outcome = service.assign("agent-1", "c1", "cust-1", queue())
    assert [event for event, _ in seen] == list(outcome.events)
    assert all(version == outcome.version for _, version in seen)


def test_unsubscribing_stops_the_events(service: WrapUpService) -> None:
    seen: list[Event] = []
    unsubscribe = service.subscribe(seen.append)
    unsubscribe()
    service.assign("agent-1", "c1", "cust-1", queue())
    assert seen == []


def test_a_refused_command_saves_nothing_and_notifies_no_one(
    service: WrapUpService, store: Store
) -> None:
    seen: list[Event] = []
    service.subscribe(seen.append)
    service.assign("agent-1", "c1", "cust-1", queue())
    seen.clear()
    with pytest.raises(CommandRefused) as caught:
        service.extend("agent-1", "c1")
    assert caught.value.code is ErrorCode.NOT_ALLOWED_IN_PHASE
    stored = store.load("agent-1")
    assert stored is not None
    assert stored.version == 2
    assert seen == []


def test_a_failing_subscriber_does_not_undo_the_command(
    service: WrapUpService, store: Store
) -> None:
    heard: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("desk offline")

    service.subscribe(broken)
    service.subscribe(heard.append)
    with pytest.raises(NotificationFailed) as caught:
        service.assign("agent-1", "c1", "cust-1", queue())
    assert caught.value.code is ErrorCode.NOTIFICATION_FAILED
    assert len(heard) == 2
    stored = store.load("agent-1")
    assert stored is not None
    assert stored.version == 2


def test_commands_for_an_unknown_agent_are_refused(service: WrapUpService) -> None:
    with pytest.raises(UnknownAgent) as caught:
        service.assign("agent-9", "c1", "cust-1", queue())
    assert caught.value.code is ErrorCode.UNKNOWN_AGENT
    with pytest.raises(UnknownAgent):
        service.view("agent-9")


def test_adding_an_agent_twice_is_refused(service: WrapUpService) -> None:
    with pytest.raises(AgentExists) as caught:
        service.add_agent("agent-1", capacity=2)
    assert caught.value.code is ErrorCode.AGENT_EXISTS


def test_an_agent_can_be_added_with_a_capacity_and_a_profile(
    service: WrapUpService,
) -> None:
    state = service.add_agent("agent-2", capacity=2, classification_profile=["late"])
    assert state.capacity == 2
    assert state.classification_profile == frozenset({"late"})


# Idempotency


def test_a_retried_command_id_returns_the_first_outcome_and_changes_nothing(
    service: WrapUpService, store: Store, clock: ManualClock
) -> None:
    in_wrap_up(service, clock)
    heard: list[Event] = []
    service.subscribe(heard.append)
    first = service.extend("agent-1", "c1", command_id="req-1")
    clock.advance(5)
    again = service.extend("agent-1", "c1", command_id="req-1")
    assert again.replayed
    assert not first.replayed
    assert (again.events, again.version) == (first.events, first.version)
    assert len(heard) == 1
    stored = store.load("agent-1")
    assert stored is not None
    assert stored.state.chats[0].extensions_used == 1


def test_the_same_command_id_with_a_different_command_is_refused(
    service: WrapUpService, clock: ManualClock
) -> None:
    in_wrap_up(service, clock)
    service.extend("agent-1", "c1", command_id="req-1")
    with pytest.raises(CommandIdReused) as caught:
        service.complete("agent-1", "c1", command_id="req-1")
    assert caught.value.code is ErrorCode.COMMAND_ID_REUSED


def test_a_refused_expiry_with_a_command_id_records_nothing(
    service: WrapUpService, store: Store, clock: ManualClock
) -> None:
    in_wrap_up(service, clock)
    with pytest.raises(CommandRefused):
        service.expire("agent-1", "c1", at(90), command_id="sweep-1")
    assert store.find_command("sweep-1") is None


def test_a_refused_command_with_an_id_can_be_retried_once_it_is_allowed(
    service: WrapUpService, clock: ManualClock
) -> None:
    service.assign("agent-1", "c1", "cust-1", queue())
    with pytest.raises(CommandRefused):
        service.extend("agent-1", "c1", command_id="req-1")
    clock.advance(10)
    service.end_chat("agent-1", "c1")
    outcome = service.extend("agent-1", "c1", command_id="req-1")
    assert isinstance(outcome.events[0], WrapUpExtended)


def test_an_unusable_command_id_is_refused(service: WrapUpService) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - InvalidInput is a ValueError
        service.assign("agent-1", "c1", "cust-1", queue(), command_id="")


# Conflicts


class RacingStore:
    """A store whose next loads return a stale version, as if another
    process had written in between."""

    def __init__(self, inner: Store, races: int) -> None:
        self.inner = inner
        self.races = races
        self.saves = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def save(self, change: Change) -> None:
        self.saves += 1
        if self.races > 0:
            self.races -= 1
            stored = self.inner.load(change.agent_id)
            assert stored is not None
            bump = ClassifyChat(change.agent_id, "c1", code="late")
            state = decide(stored.state, bump, T0 + timedelta(seconds=40)).state
            self.inner.save(Change(change.agent_id, stored.version, state))
        self.inner.save(change)


def test_a_conflict_is_retried_on_fresh_state(clock: ManualClock) -> None:
    inner = MemoryStore()
    setup = WrapUpService(inner, clock)
    setup.add_agent("agent-1")
    in_wrap_up(setup, clock)
    racing = RacingStore(inner, races=2)
    service = WrapUpService(racing, clock)  # type: ignore[arg-type]
    outcome = service.extend("agent-1", "c1")
    assert racing.saves == 3
    stored = inner.load("agent-1")
    assert stored is not None
    chat = stored.state.chats[0]
    assert chat.extensions_used == 1
    assert chat.classification is not None
    assert outcome.version == stored.version


def test_a_conflict_that_never_clears_raises_after_the_attempts(
    clock: ManualClock,
) -> None:
    inner = MemoryStore()
    setup = WrapUpService(inner, clock)
    setup.add_agent("agent-1")
    in_wrap_up(setup, clock)
    racing = RacingStore(inner, races=100)
    service = WrapUpService(racing, clock, attempts=3)  # type: ignore[arg-type]
    with pytest.raises(VersionConflict) as caught:
        service.extend("agent-1", "c1")
    assert caught.value.code is ErrorCode.VERSION_CONFLICT
    assert "after 3 attempts" in str(caught.value)
    assert racing.saves == 3


def test_a_command_no_longer_valid_after_a_conflict_raises_its_own_error(
    clock: ManualClock,
) -> None:
    inner = MemoryStore()
    setup = WrapUpService(inner, clock)
    setup.add_agent("agent-1")
    in_wrap_up(setup, clock)

    class CompletingStore(RacingStore):
        def save(self, change: Change) -> None:
            if self.races:
                self.races = 0
                setup.complete("agent-1", "c1")
            self.inner.save(change)

    service = WrapUpService(CompletingStore(inner, 1), clock)  # type: ignore[arg-type]
    with pytest.raises(Exception) as caught:  # noqa: PT011
        service.extend("agent-1", "c1")
    assert getattr(caught.value, "code", None) is ErrorCode.WRAP_UP_OVER


def test_attempts_must_be_positive(store: Store, clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="attempts"):
        WrapUpService(store, clock, attempts=0)


# Sweeping


def test_a_sweep_makes_due_expiries_permanent_exactly_once(
    service: WrapUpService, store: Store, clock: ManualClock
) -> None:
    service.add_agent("agent-2")
    in_wrap_up(service, clock)
    service.assign("agent-2", "c2", "cust-2", queue())
    service.end_chat("agent-2", "c2")
    heard: list[Event] = []
    service.subscribe(heard.append)
    clock.advance(59)
    assert service.sweep().expired == 0
    clock.advance(1)
    assert service.sweep().expired == 2
    assert service.sweep().expired == 0
    completed = [e for e in heard if isinstance(e, WrapUpCompleted)]
    assert sorted(e.chat_id for e in completed) == ["c1", "c2"]
    assert len(service.history("cust-1").entries) == 1


def test_views_do_not_wait_for_a_sweep(
    service: WrapUpService, clock: ManualClock
) -> None:
    in_wrap_up(service, clock)
    clock.advance(61)
    assert service.view("agent-1").status is Status.AVAILABLE


def test_a_sweep_respects_its_limit(service: WrapUpService, clock: ManualClock) -> None:
    for number in range(2, 6):
        agent_id = f"agent-{number}"
        service.add_agent(agent_id)
        service.assign(agent_id, f"c{number}", "cust-1", queue())
        service.end_chat(agent_id, f"c{number}")
    clock.advance(100)
    assert service.sweep(limit=3).expired == 3
    assert service.sweep(limit=3).expired == 1


def test_a_sweep_after_an_extension_expires_nothing_early(
    service: WrapUpService, clock: ManualClock
) -> None:
    in_wrap_up(service, clock)
    clock.advance(50)
    service.execute(ExtendWrapUp("agent-1", "c1"))
    clock.advance(20)
    assert service.sweep().expired == 0
    clock.advance(60)
    assert service.sweep().expired == 1


@pytest.mark.parametrize("limit", [0, -1, True, 2.5])
def test_a_sweep_limit_must_be_a_positive_whole_number(
    service: WrapUpService, limit: object
) -> None:
    with pytest.raises(InvalidInput) as caught:
        service.sweep(limit)  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.INVALID_LIMIT


def test_a_failing_subscriber_does_not_stop_a_sweep(
    service: WrapUpService, clock: ManualClock
) -> None:
    service.add_agent("agent-2")
    in_wrap_up(service, clock)
    service.assign("agent-2", "c2", "cust-2", queue())
    service.end_chat("agent-2", "c2")

    def broken(event: Event) -> None:
        raise RuntimeError("desk offline")

    service.subscribe(broken)
    clock.advance(61)
    result = service.sweep()
    assert result.expired == 2
    assert {failure.agent_id for failure in result.failures} == {"agent-1", "agent-2"}
    assert all(isinstance(f.error, NotificationFailed) for f in result.failures)
    assert all(f.error.committed for f in result.failures)
    assert service.sweep().expired == 0
    assert len(service.history("cust-1").entries) == 1
    assert len(service.history("cust-2").entries) == 1


def test_a_pause_with_a_command_id_is_recorded_and_replayed(
    service: WrapUpService, clock: ManualClock
) -> None:
    # Its event holds the seconds left, a float: records once refused it.
    in_wrap_up(service, clock)
    clock.advance(1.5)
    first = service.pause("agent-1", "c1", command_id="pause-1")
    (paused,) = first.events
    assert isinstance(paused, WrapUpPaused)
    assert paused.seconds_left == 58.5
    again = service.pause("agent-1", "c1", command_id="pause-1")
    assert again.replayed
    assert again.events == first.events


def test_the_command_fingerprint_is_pinned_across_releases() -> None:
    # A changed value here breaks every retry stored by an earlier release.
    assign = AssignChat("agent-ana", "chat-1", "cust-42", QueuePolicy("support"))
    classify = ClassifyChat(
        "agent-ana", "chat-1", code="refund", additional_text="Wants a refund"
    )
    assert fingerprint_of(assign) == (
        "92f46cb9eb4829ae25376fbe0fed4ac3ba32b40a295e9d8148e8d3aae66016bd"
    )
    assert fingerprint_of(classify) == (
        "00d0f70f77fad76da1c070fdb31bc15f3e55209cef5530ca236bdbd2c2ea7b56"
    )


def test_a_retried_assign_replays_after_the_queue_policy_is_edited(
    service: WrapUpService,
) -> None:
    first = service.assign("agent-1", "c1", "cust-1", queue(), command_id="route-1")
    edited = QueuePolicy("support", WrapUpPolicy(countdown_seconds=45))
    again = service.assign("agent-1", "c1", "cust-1", edited, command_id="route-1")
    assert again.replayed
    assert again.version == first.version


def test_add_agent_with_exist_ok_returns_the_stored_agent(
    service: WrapUpService,
) -> None:
    service.add_agent("agent-9", capacity=3)
    again = service.add_agent("agent-9", capacity=1, exist_ok=True)
    assert again.capacity == 3
    with pytest.raises(AgentExists):
        service.add_agent("agent-9")


def test_outcomes_and_history_pages_are_json_ready(
    service: WrapUpService, clock: ManualClock
) -> None:
    in_wrap_up(service, clock)
    outcome = service.complete("agent-1", "c1")
    data = json.loads(json.dumps(outcome.to_dict()))
    assert data["agent_id"] == "agent-1"
    assert data["events"][0]["type"] == "wrap_up_completed"
    page = json.loads(json.dumps(service.history("cust-1").to_dict()))
    assert page["next_cursor"] is None
    assert page["entries"][0]["chat_id"] == "c1"


def test_a_sweep_prunes_command_records_past_their_retention(
    store: Store, clock: ManualClock
) -> None:
    service = WrapUpService(store, clock, command_retention=timedelta(hours=1))
    service.add_agent("agent-1")
    service.assign("agent-1", "c1", "cust-1", queue(), command_id="route-1")
    clock.advance(minutes=30)
    service.end_chat("agent-1", "c1", command_id="end-1")
    clock.advance(minutes=31)
    result = service.sweep()
    assert result.pruned == 1
    assert store.find_command("route-1") is None
    assert store.find_command("end-1") is not None
    assert service.prune_commands() == 0


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("attempts", 0),
        ("attempts", True),
        ("lease", timedelta(0)),
        ("command_retention", 3600),
    ],
)
def test_the_service_refuses_settings_that_could_never_work(
    store: Store, clock: ManualClock, setting: str, value: object
) -> None:
    with pytest.raises(InvalidInput) as caught:
        WrapUpService(store, clock, **{setting: value})  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT


def test_a_late_click_gets_one_answer_before_and_after_a_sweep_on_every_store(
    service: WrapUpService, store: Store, clock: ManualClock
) -> None:
    in_wrap_up(service, clock)  # the deadline is 60 s after the end
    clock.advance(61)
    with pytest.raises(CommandRefused) as before_sweep:
        service.classify("agent-1", "c1", code="refund")
    assert service.sweep().expired == 1
    with pytest.raises(CommandRefused) as after_sweep:
        service.classify("agent-1", "c1", code="refund")
    assert before_sweep.value.code is after_sweep.value.code is ErrorCode.WRAP_UP_OVER
    assert before_sweep.value.reason == after_sweep.value.reason
    stored = store.load("agent-1")
    assert stored is not None
    assert [f.chat_id for f in stored.state.finished] == ["c1"]


def test_a_late_click_with_a_command_id_records_nothing(
    service: WrapUpService, store: Store, clock: ManualClock
) -> None:
    in_wrap_up(service, clock)
    service.complete("agent-1", "c1")
    with pytest.raises(CommandRefused):
        service.extend("agent-1", "c1", command_id="late-1")
    assert store.find_command("late-1") is None


# Erasing a customer's data

TEXTS = ("Call back on 0612 7f3a", "said 7f3a rude words")


def a_finished_chat(
    service: WrapUpService,
    clock: ManualClock,
    chat_id: str,
    customer_id: str,
    agent_id: str = "agent-1",
) -> list[str]:
    """A chat with texts, from assign to complete, every command with an id;
    the ids."""
    ids = [f"{chat_id}-{step}" for step in range(5)]
    service.assign(agent_id, chat_id, customer_id, queue(), command_id=ids[0])
    clock.advance(30)
    service.end_chat(agent_id, chat_id, command_id=ids[1])
    service.classify(
        agent_id, chat_id, code="refund", additional_text=TEXTS[0], command_id=ids[2]
    )
    service.flag_abusive(agent_id, chat_id, TEXTS[1], command_id=ids[3])
    service.complete(agent_id, chat_id, command_id=ids[4])
    return ids


def test_erasing_a_customer_removes_their_history_and_their_command_records(
    service: WrapUpService, store: Store, clock: ManualClock
) -> None:
    mine = a_finished_chat(service, clock, "c1", "cust-1")
    theirs = a_finished_chat(service, clock, "c2", "cust-2")
    clock.advance(10)
    erasure = service.erase_customer("cust-1", erased_by="dpo-ana")
    assert (erasure.history_entries, erasure.command_records) == (1, 5)
    assert (erasure.erased_at, erasure.erased_by) == (clock.now(), "dpo-ana")
    assert str(uuid.UUID(erasure.erasure_id)) == erasure.erasure_id
    assert service.history("cust-1").entries == ()
    assert [c for c in mine if store.find_command(c)] == []
    assert [c for c in theirs if store.find_command(c)] == theirs
    assert len(service.history("cust-2").entries) == 1
    assert service.erasures() == (erasure,)
    assert "cust-1" not in json.dumps(erasure.to_dict())


def test_a_retry_of_an_erased_command_is_decided_afresh(
    service: WrapUpService, clock: ManualClock
) -> None:
    ids = a_finished_chat(service, clock, "c1", "cust-1")
    service.erase_customer("cust-1", erased_by="dpo-ana")
    with pytest.raises(CommandRefused) as caught:  # no record to replay
        service.complete("agent-1", "c1", command_id=ids[4])
    assert caught.value.code is ErrorCode.WRAP_UP_OVER


def test_an_agent_keeps_no_data_of_a_customer_whose_chats_ended(
    service: WrapUpService, store: Store, clock: ManualClock
) -> None:
    a_finished_chat(service, clock, "c1", "cust-1")
    stored = store.load("agent-1")
    assert stored is not None
    assert [finished.chat_id for finished in stored.state.finished] == ["c1"]
    text = json.dumps(stored.state.to_dict())
    assert [t for t in ("cust-1", *TEXTS) if t in text] == []


@pytest.mark.parametrize("phase", ["active", "parked", "wrap-up", "paused"])
def test_an_erasure_is_refused_while_the_customers_chat_is_held(
    service: WrapUpService, store: Store, clock: ManualClock, phase: str
) -> None:
    a_finished_chat(service, clock, "c1", "cust-1")
    service.add_agent("agent-2")
    service.assign("agent-2", "c2", "cust-1", queue())
    if phase == "parked":
        service.park("agent-2", "c2")
    if phase in ("wrap-up", "paused"):
        service.end_chat("agent-2", "c2")
    if phase == "paused":
        service.pause("agent-2", "c2")
    with pytest.raises(CommandRefused) as caught:
        service.erase_customer("cust-1", erased_by="dpo-ana")
    assert caught.value.code is ErrorCode.CUSTOMER_CHAT_HELD
    assert (caught.value.details["agent_id"], caught.value.details["chat_id"]) == (
        "agent-2",
        "c2",
    )
    assert len(service.history("cust-1").entries) == 1
    assert store.find_command("c1-0") is not None
    assert service.erasures() == ()


def test_an_erasure_makes_a_due_expiry_permanent_first(
    service: WrapUpService, clock: ManualClock
) -> None:
    heard: list[Event] = []
    service.subscribe(heard.append)
    in_wrap_up(service, clock)  # the deadline is 60 s after the end
    clock.advance(61)
    erasure = service.erase_customer("cust-1", erased_by="dpo-ana")
    assert erasure.history_entries == 1  # the expiry's entry, written then erased
    assert [type(e) for e in heard if isinstance(e, WrapUpCompleted)] == [
        WrapUpCompleted
    ]
    assert service.history("cust-1").entries == ()


@pytest.mark.parametrize(
    ("customer_id", "erased_by"), [("", "dpo"), ("cust-1", " dpo"), (7, "dpo")]
)
def test_an_erasure_checks_its_ids_first(
    service: WrapUpService, customer_id: object, erased_by: str
) -> None:
    with pytest.raises(InvalidInput):
        service.erase_customer(customer_id, erased_by=erased_by)  # type: ignore[arg-type]
    assert service.erasures() == ()


# Managing agents


def test_a_lowered_capacity_keeps_the_chats_held_and_takes_none_until_below(
    service: WrapUpService, clock: ManualClock
) -> None:
    service.add_agent("agent-3", capacity=3)
    for chat_id in ("c1", "c2", "c3"):
        service.assign("agent-3", chat_id, f"cust-{chat_id}", queue())
    state = service.update_agent("agent-3", capacity=1)
    assert (state.capacity, [c.chat_id for c in state.chats]) == (1, ["c1", "c2", "c3"])
    view = service.view("agent-3")
    assert AgentView.from_dict(view.to_dict()) == view
    for finished in ("c1", "c2", "c3"):
        with pytest.raises(CommandRefused) as caught:
            service.assign("agent-3", "c9", "cust-9", queue())
        assert caught.value.code is ErrorCode.CAPACITY_REACHED
        service.end_chat("agent-3", finished)
        service.complete("agent-3", finished)
    service.assign("agent-3", "c9", "cust-9", queue())
    with pytest.raises(CommandRefused):
        service.assign("agent-3", "c10", "cust-9", queue())


def test_a_raised_capacity_takes_more_chats(service: WrapUpService) -> None:
    service.assign("agent-1", "c1", "cust-1", queue())
    service.update_agent("agent-1", capacity=2)
    service.assign("agent-1", "c2", "cust-2", queue())
    assert len(service.view("agent-1").chats) == 2


def test_updating_an_agent_changes_only_the_settings_given(
    service: WrapUpService, store: Store
) -> None:
    service.add_agent("agent-2", capacity=2, classification_profile=["late"])
    state = service.update_agent("agent-2", capacity=3)
    assert (state.capacity, state.classification_profile) == (3, frozenset({"late"}))
    state = service.update_agent("agent-2", classification_profile=["refund"])
    assert (state.capacity, state.classification_profile) == (3, frozenset({"refund"}))
    state = service.update_agent("agent-2", classification_profile=None)
    assert (state.capacity, state.classification_profile) == (3, None)
    stored = store.load("agent-2")
    assert stored is not None
    assert (stored.state, stored.version) == (state, 4)
    assert service.update_agent("agent-2") == state  # nothing given: no save
    assert store.load("agent-2") == stored


def test_a_new_profile_applies_from_the_next_classification(
    service: WrapUpService, clock: ManualClock
) -> None:
    in_wrap_up(service, clock)
    service.update_agent("agent-1", classification_profile=["late"])
    with pytest.raises(InvalidInput) as caught:
        service.classify("agent-1", "c1", code="refund")
    assert caught.value.code is ErrorCode.CLASSIFICATION_NOT_IN_PROFILE
    service.classify("agent-1", "c1", code="late")


def test_a_lowered_capacity_remembers_only_the_newest_finished_chats(
    service: WrapUpService, clock: ManualClock
) -> None:
    service.add_agent("agent-3", capacity=3)
    for number in range(6):
        service.assign("agent-3", f"c{number}", "cust-1", queue())
        service.end_chat("agent-3", f"c{number}")
        service.complete("agent-3", f"c{number}")
    state = service.update_agent("agent-3", capacity=1)
    assert [finished.chat_id for finished in state.finished] == ["c4", "c5"]


@pytest.mark.parametrize(
    "settings",
    [
        {"capacity": 0},
        {"capacity": 11},
        {"capacity": True},
        {"classification_profile": "late"},
    ],
)
def test_updating_an_agent_refuses_bad_settings_and_saves_nothing(
    service: WrapUpService, store: Store, settings: dict[str, object]
) -> None:
    with pytest.raises(InvalidPolicy):
        service.update_agent("agent-1", **settings)  # type: ignore[arg-type]
    stored = store.load("agent-1")
    assert stored is not None
    assert stored.version == 1


def test_an_unknown_agent_cannot_be_updated_or_retired(service: WrapUpService) -> None:
    with pytest.raises(UnknownAgent):
        service.update_agent("agent-9", capacity=2)
    with pytest.raises(UnknownAgent):
        service.retire_agent("agent-9")


class SavesBetween(MemoryStore):
    """A memory store on which another server saves the agent once, between
    the service's load and its save."""

    def __init__(self) -> None:
        super().__init__()
        self.other: Callable[[], object] | None = None

    def save(self, change: Change) -> None:
        other, self.other = self.other, None
        if other is not None:
            other()
        super().save(change)


def test_updating_an_agent_decides_again_after_a_conflict(clock: ManualClock) -> None:
    store = SavesBetween()
    service = WrapUpService(store, clock)
    service.add_agent("agent-1")
    store.other = lambda: service.assign("agent-1", "c1", "cust-1", queue())
    state = service.update_agent("agent-1", capacity=2)
    assert (state.capacity, [c.chat_id for c in state.chats]) == (2, ["c1"])
    assert service.view("agent-1").capacity == 2


def test_retiring_an_agent_holding_a_chat_is_refused(
    service: WrapUpService, store: Store
) -> None:
    service.assign("agent-1", "c1", "cust-1", queue())
    with pytest.raises(CommandRefused) as caught:
        service.retire_agent("agent-1")
    assert caught.value.code is ErrorCode.AGENT_HOLDS_CHATS
    assert caught.value.details["chat_id"] == "c1"
    stored = store.load("agent-1")
    assert stored is not None
    assert stored.version == 2


def test_a_retired_agent_is_unknown_and_may_be_added_again(
    service: WrapUpService, clock: ManualClock
) -> None:
    a_finished_chat(service, clock, "c1", "cust-1")
    service.retire_agent("agent-1")
    with pytest.raises(UnknownAgent):
        service.view("agent-1")
    with pytest.raises(UnknownAgent):
        service.assign("agent-1", "c2", "cust-1", queue())
    assert len(service.history("cust-1").entries) == 1  # the customer's, kept
    state = service.add_agent("agent-1", capacity=2)
    assert service.view("agent-1").capacity == state.capacity == 2
    service.assign("agent-1", "c2", "cust-1", queue())


def test_retiring_an_agent_makes_its_due_expiries_permanent_first(
    service: WrapUpService, clock: ManualClock
) -> None:
    heard: list[Event] = []
    service.subscribe(heard.append)
    in_wrap_up(service, clock)
    clock.advance(61)
    service.retire_agent("agent-1")
    assert [entry.chat_id for entry in service.history("cust-1").entries] == ["c1"]
    assert any(isinstance(event, WrapUpCompleted) for event in heard)
    with pytest.raises(UnknownAgent):
        service.view("agent-1")


def refuse_every_event(event: Event) -> None:
    raise RuntimeError("desk offline")


def test_a_failing_subscriber_on_a_due_expiry_does_not_stop_an_erasure(
    service: WrapUpService, clock: ManualClock
) -> None:
    in_wrap_up(service, clock)
    clock.advance(61)
    service.subscribe(refuse_every_event)
    with pytest.raises(NotificationFailed):
        service.erase_customer("cust-1", erased_by="dpo-ana")
    (erasure,) = service.erasures()
    assert erasure.history_entries == 1
    assert service.history("cust-1").entries == ()


def test_a_failing_subscriber_on_a_due_expiry_does_not_stop_a_retirement(
    service: WrapUpService, clock: ManualClock
) -> None:
    in_wrap_up(service, clock)
    clock.advance(61)
    service.subscribe(refuse_every_event)
    with pytest.raises(NotificationFailed):
        service.retire_agent("agent-1")
    with pytest.raises(UnknownAgent):
        service.view("agent-1")
    assert len(service.history("cust-1").entries) == 1
