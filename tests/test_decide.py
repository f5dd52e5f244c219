"""The decide step, behaviour by behaviour."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import AGENT, Desk, at, queue
from webchat_wrapup import (
    ABUSE_NOTE,
    AgentState,
    AssignChat,
    Chat,
    ChatAssigned,
    ChatClassified,
    ChatEnded,
    ChatFlaggedAbusive,
    ChatNotHeld,
    ClassifyChat,
    CommandRefused,
    CompleteWrapUp,
    ContactHistoryEntry,
    EndChat,
    EndedBy,
    ErrorCode,
    ExpireWrapUp,
    ExpiryRule,
    ExtendWrapUp,
    FlagAbusive,
    FreeTextClassification,
    InvalidInput,
    InvalidPolicy,
    Phase,
    Status,
    StatusChanged,
    WrapUpCompleted,
    WrapUpEnding,
    WrapUpError,
    WrapUpExtended,
    WrapUpStarted,
    decide,
    effective_state,
    expire_due,
)
from webchat_wrapup._core._decide import _with
from webchat_wrapup.testing.strategies import command_sequences


def refused(desk: Desk, command: object, seconds: float) -> WrapUpError:
    """Run a command that must be refused; check it changed nothing."""
    before = desk.state
    with pytest.raises(WrapUpError) as caught:
        desk.do(command, seconds)  # type: ignore[arg-type]
    assert desk.state is before
    return caught.value


# Statuses and chats


def test_a_new_agent_is_available_and_holds_no_chat() -> None:
    state = AgentState.new(AGENT)
    assert state.status is Status.AVAILABLE
    assert state.status.label == "Available"
    assert state.chats == ()


def test_assigning_a_chat_makes_the_agent_handling_a_chat() -> None:
    desk = Desk()
    decision = desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue()), 0)
    assert desk.state.status is Status.HANDLING_CHAT
    assert desk.state.status.label == "Handling a chat"
    assert [type(e) for e in decision.events] == [ChatAssigned, StatusChanged]
    assert desk.state.chats[0].phase is Phase.ACTIVE


def test_when_the_chat_ends_the_status_changes_to_wrap_up_automatically() -> None:
    desk = Desk()
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue()), 0)
    decision = desk.do(EndChat(AGENT, "chat-1"), 30)
    assert desk.state.status is Status.WRAP_UP
    assert [type(e) for e in decision.events] == [
        ChatEnded,
        WrapUpStarted,
        StatusChanged,
    ]
    started = decision.events[1]
    assert isinstance(started, WrapUpStarted)
    assert started.deadline == at(90)
    assert started.extensions_left == 3


def test_the_agent_can_end_the_chat_too() -> None:
    desk = Desk()
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue()), 0)
    desk.do(EndChat(AGENT, "chat-1", EndedBy.AGENT), 30)
    assert desk.state.chats[0].ended_by is EndedBy.AGENT


def test_status_is_handling_while_any_chat_is_active() -> None:
    desk = Desk(AgentState.new(AGENT, capacity=2))
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue()), 0)
    desk.do(AssignChat(AGENT, "chat-2", "cust-2", queue()), 1)
    desk.do(EndChat(AGENT, "chat-1"), 10)
    assert desk.state.status is Status.HANDLING_CHAT
    desk.do(EndChat(AGENT, "chat-2"), 20)
    assert desk.state.status is Status.WRAP_UP


def test_a_new_chat_during_another_chats_wrap_up_makes_the_agent_handling() -> None:
    desk = Desk(AgentState.new(AGENT, capacity=2))
    desk.in_wrap_up(queue())
    desk.do(AssignChat(AGENT, "chat-2", "cust-2", queue()), 40)
    assert desk.state.status is Status.HANDLING_CHAT


def test_assigning_beyond_capacity_is_refused() -> None:
    desk = Desk()
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue()), 0)
    error = refused(desk, AssignChat(AGENT, "chat-2", "cust-2", queue()), 1)
    assert error.code is ErrorCode.CAPACITY_REACHED
    assert isinstance(error, RuntimeError)


def test_a_chat_in_wrap_up_still_counts_against_capacity() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    error = refused(desk, AssignChat(AGENT, "chat-2", "cust-2", queue()), 40)
    assert error.code is ErrorCode.CAPACITY_REACHED


def test_assigning_a_chat_the_agent_already_holds_is_refused() -> None:
    desk = Desk(AgentState.new(AGENT, capacity=2))
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue()), 0)
    error = refused(desk, AssignChat(AGENT, "chat-1", "cust-1", queue()), 1)
    assert error.code is ErrorCode.CHAT_ALREADY_HELD


@pytest.mark.parametrize("capacity", [0, 11, -1, True, 1.5, "2"])
def test_an_agent_capacity_out_of_range_is_refused(capacity: object) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        AgentState.new(AGENT, capacity=capacity)  # type: ignore[arg-type]
    assert caught.value.setting == "capacity"


@pytest.mark.parametrize("chat_id", ["", " padded ", "tab\there", "x" * 201])
def test_an_unusable_chat_id_is_refused(chat_id: str) -> None:
    desk = Desk()
    error = refused(desk, AssignChat(AGENT, chat_id, "cust-1", queue()), 0)
    assert error.code is ErrorCode.INVALID_IDENTIFIER
    assert isinstance(error, ValueError)


# Who may act


@pytest.mark.parametrize(
    "command",
    [
        EndChat(AGENT, "chat-9"),
        ClassifyChat(AGENT, "chat-9", code="refund"),
        FlagAbusive(AGENT, "chat-9"),
        ExtendWrapUp(AGENT, "chat-9"),
        CompleteWrapUp(AGENT, "chat-9"),
    ],
)
def test_acting_on_a_chat_the_agent_does_not_hold_is_refused(command: object) -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    error = refused(desk, command, 40)
    assert isinstance(error, ChatNotHeld)
    assert isinstance(error, LookupError)
    assert error.code is ErrorCode.CHAT_NOT_HELD


def test_another_agent_cannot_act_on_this_agents_chat() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    error = refused(desk, ExtendWrapUp("agent-2", "chat-1"), 40)
    assert error.code is ErrorCode.CHAT_NOT_HELD
    assert "agent-2" in str(error)


# Countdown and extensions


def test_extending_adds_the_extension_time_to_the_deadline_not_to_now() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(extension_seconds=45))
    decision = desk.do(ExtendWrapUp(AGENT, "chat-1"), 80)
    assert desk.state.chats[0].deadline == at(90 + 45)
    (event,) = decision.events
    assert isinstance(event, WrapUpExtended)
    assert event.deadline == at(135)
    assert event.extensions_left == 2


def test_extending_with_no_extensions_left_is_refused() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(max_extensions=2))
    desk.do(ExtendWrapUp(AGENT, "chat-1"), 31)
    desk.do(ExtendWrapUp(AGENT, "chat-1"), 32)
    error = refused(desk, ExtendWrapUp(AGENT, "chat-1"), 33)
    assert error.code is ErrorCode.NO_EXTENSIONS_LEFT
    assert "2 of 2" in str(error)


def test_a_policy_with_zero_extensions_refuses_the_first_extend() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(max_extensions=0))
    assert refused(desk, ExtendWrapUp(AGENT, "chat-1"), 31).code is (
        ErrorCode.NO_EXTENSIONS_LEFT
    )


def test_extending_a_wrap_up_with_no_countdown_is_refused() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(countdown_seconds=None))
    error = refused(desk, ExtendWrapUp(AGENT, "chat-1"), 31)
    assert error.code is ErrorCode.NO_COUNTDOWN


def test_extending_outside_wrap_up_is_refused() -> None:
    desk = Desk()
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue()), 0)
    error = refused(desk, ExtendWrapUp(AGENT, "chat-1"), 10)
    assert error.code is ErrorCode.NOT_ALLOWED_IN_PHASE
    assert "Handling a chat" in str(error)


def test_extending_after_the_deadline_is_refused_as_expired() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    error = refused(desk, ExtendWrapUp(AGENT, "chat-1"), 90)
    assert error.code is ErrorCode.WRAP_UP_OVER
    assert "expired at 2026-01-05T09:01:30" in str(error)


def test_a_wrap_up_with_no_countdown_never_expires() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(countdown_seconds=None))
    later = effective_state(desk.state, at(10**7))
    assert later.status is Status.WRAP_UP
    assert desk.state.chats[0].deadline is None


# Completing and expiring


def test_completing_early_makes_the_agent_available_and_writes_history() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    decision = desk.do(CompleteWrapUp(AGENT, "chat-1"), 50)
    assert desk.state.status is Status.AVAILABLE
    assert desk.state.chats == ()
    (entry,) = decision.history
    assert entry.ending is WrapUpEnding.COMPLETED_EARLY
    assert entry.wrap_up_started_at == at(30)
    assert entry.wrap_up_ended_at == at(50)
    assert [type(e) for e in decision.events] == [WrapUpCompleted, StatusChanged]


def test_completing_early_is_refused_in_no_early_exit_mode() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(early_exit_allowed=False))
    error = refused(desk, CompleteWrapUp(AGENT, "chat-1"), 50)
    assert error.code is ErrorCode.EARLY_EXIT_NOT_ALLOWED


def test_completing_before_a_required_classification_is_refused() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(required=True))
    error = refused(desk, CompleteWrapUp(AGENT, "chat-1"), 50)
    assert error.code is ErrorCode.CLASSIFICATION_REQUIRED
    desk.do(ClassifyChat(AGENT, "chat-1", code="refund"), 51)
    desk.do(CompleteWrapUp(AGENT, "chat-1"), 52)
    assert desk.state.status is Status.AVAILABLE


def test_completing_a_chat_that_is_still_active_is_refused() -> None:
    desk = Desk()
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue()), 0)
    error = refused(desk, CompleteWrapUp(AGENT, "chat-1"), 5)
    assert error.code is ErrorCode.NOT_ALLOWED_IN_PHASE


def test_ending_a_chat_twice_is_refused() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    assert refused(desk, EndChat(AGENT, "chat-1"), 40).code is (
        ErrorCode.NOT_ALLOWED_IN_PHASE
    )


def test_an_agent_past_the_deadline_is_available_before_anyone_expires_it() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    assert effective_state(desk.state, at(89.999)).status is Status.WRAP_UP
    assert effective_state(desk.state, at(90)).status is Status.AVAILABLE
    assert desk.state.status is Status.WRAP_UP


def test_expiring_writes_the_entry_at_the_deadline_not_when_processed() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    decision = desk.do(ExpireWrapUp(AGENT, "chat-1", at(90)), 500)
    (entry,) = decision.history
    assert entry.wrap_up_ended_at == at(90)
    assert entry.ending is WrapUpEnding.EXPIRED
    assert all(event.at == at(90) for event in decision.events)


def test_expiring_a_chat_already_expired_is_refused_as_over() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    desk.do(ExpireWrapUp(AGENT, "chat-1", at(90)), 90)
    assert refused(desk, ExpireWrapUp(AGENT, "chat-1", at(90)), 91).code is (
        ErrorCode.WRAP_UP_OVER
    )
    assert len(desk.history) == 1


def test_an_expire_computed_for_an_old_deadline_is_refused_after_an_extend() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    desk.do(ExtendWrapUp(AGENT, "chat-1"), 80)
    before = desk.state
    with pytest.raises(CommandRefused) as refused:
        desk.do(ExpireWrapUp(AGENT, "chat-1", at(90)), 95)
    assert refused.value.code is ErrorCode.WRAP_UP_NOT_DUE
    assert desk.state == before
    assert desk.state.chats[0].deadline == at(150)


def test_an_expire_sent_before_the_deadline_is_refused_as_not_due() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    with pytest.raises(CommandRefused) as refused:
        desk.do(ExpireWrapUp(AGENT, "chat-1", at(90)), 60)
    assert refused.value.code is ErrorCode.WRAP_UP_NOT_DUE
    assert desk.state.status is Status.WRAP_UP


def test_an_expire_acts_only_on_the_chat_it_names() -> None:
    desk = Desk(AgentState.new(AGENT, capacity=2))
    desk.in_wrap_up(queue(), "chat-1")
    desk.do(AssignChat(AGENT, "chat-2", "cust-2", queue()), 31)
    desk.do(EndChat(AGENT, "chat-2"), 32)
    decision = desk.do(ExpireWrapUp(AGENT, "chat-2", at(92)), 200)
    assert [entry.chat_id for entry in decision.history] == ["chat-2"]
    assert [chat.chat_id for chat in desk.state.chats] == ["chat-1"]


def test_any_command_first_applies_the_expiries_that_are_due() -> None:
    desk = Desk(AgentState.new(AGENT, capacity=2))
    desk.in_wrap_up(queue())
    decision = desk.do(AssignChat(AGENT, "chat-2", "cust-2", queue()), 100)
    kinds = [type(e) for e in decision.events]
    assert kinds == [WrapUpCompleted, StatusChanged, ChatAssigned, StatusChanged]
    assert len(decision.history) == 1


def test_expiry_applies_the_default_classification_to_an_unclassified_chat() -> None:
    policy = queue(on_expiry=ExpiryRule.APPLY_DEFAULT, timeout_default="other")
    desk = Desk()
    desk.in_wrap_up(policy)
    (entry,) = expire_due(desk.state, at(90)).history
    assert entry.ending is WrapUpEnding.EXPIRED_WITH_DEFAULT
    assert entry.is_timeout_default
    assert entry.classification is not None
    assert entry.classification.code == "other"


def test_expiry_keeps_a_classification_chosen_but_not_confirmed() -> None:
    policy = queue(on_expiry=ExpiryRule.APPLY_DEFAULT, timeout_default="other")
    desk = Desk()
    desk.in_wrap_up(policy)
    desk.do(
        ClassifyChat(AGENT, "chat-1", code="late", additional_text="parcel lost"), 60
    )
    (entry,) = expire_due(desk.state, at(90)).history
    assert entry.ending is WrapUpEnding.EXPIRED
    assert not entry.is_timeout_default
    assert entry.classification is not None
    assert entry.classification.code == "late"
    assert entry.additional_text == "parcel lost"


def test_expiry_can_complete_an_unclassified_chat_unclassified() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(on_expiry=ExpiryRule.COMPLETE_UNCLASSIFIED))
    (entry,) = expire_due(desk.state, at(90)).history
    assert entry.classification is None
    assert entry.ending is WrapUpEnding.EXPIRED


def test_expiry_wins_over_a_required_classification() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(required=True))
    assert effective_state(desk.state, at(90)).status is Status.AVAILABLE


def test_with_wrap_up_disabled_the_chat_goes_to_history_when_it_ends() -> None:
    desk = Desk()
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue(enabled=False)), 0)
    decision = desk.do(EndChat(AGENT, "chat-1"), 30)
    assert desk.state.status is Status.AVAILABLE
    assert [type(e) for e in decision.events] == [
        ChatEnded,
        WrapUpCompleted,
        StatusChanged,
    ]
    (entry,) = decision.history
    assert entry.ending is WrapUpEnding.ENDED_WITHOUT_WRAP_UP
    assert entry.wrap_up_started_at == entry.wrap_up_ended_at == at(30)


def test_expiring_two_chats_writes_them_in_deadline_order() -> None:
    desk = Desk(AgentState.new(AGENT, capacity=2))
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue(countdown_seconds=100)), 0)
    desk.do(AssignChat(AGENT, "chat-2", "cust-2", queue(countdown_seconds=10)), 0)
    desk.do(EndChat(AGENT, "chat-1"), 5)
    desk.do(EndChat(AGENT, "chat-2"), 6)
    decision = expire_due(desk.state, at(1000))
    assert [entry.chat_id for entry in decision.history] == ["chat-2", "chat-1"]
    assert decision.state.status is Status.AVAILABLE


# Classification


def test_classifying_during_the_chat_from_the_dropdown() -> None:
    desk = Desk()
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue()), 0)
    decision = desk.do(ClassifyChat(AGENT, "chat-1", code="refund"), 5)
    (event,) = decision.events
    assert isinstance(event, ChatClassified)
    assert event.classification.code == "refund"
    assert event.classification.label == "Refund"
    assert event.classification.group == "Billing"


def test_the_last_classification_before_completion_stands() -> None:
    desk = Desk()
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue()), 0)
    desk.do(ClassifyChat(AGENT, "chat-1", code="refund"), 5)
    desk.do(EndChat(AGENT, "chat-1"), 30)
    desk.do(ClassifyChat(AGENT, "chat-1", code="late", additional_text="lost"), 40)
    (entry,) = desk.do(CompleteWrapUp(AGENT, "chat-1"), 50).history
    assert isinstance(entry, ContactHistoryEntry)
    assert entry.classification is not None
    assert entry.classification.code == "late"
    assert entry.additional_text == "lost"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("nope", ErrorCode.UNKNOWN_CLASSIFICATION),
        ("old", ErrorCode.RETIRED_CLASSIFICATION),
    ],
)
def test_unknown_or_retired_codes_are_refused(code: str, expected: ErrorCode) -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    error = refused(desk, ClassifyChat(AGENT, "chat-1", code=code), 40)
    assert error.code is expected
    assert isinstance(error, ValueError)


def test_a_profile_limits_the_codes_an_agent_may_choose() -> None:
    desk = Desk(AgentState.new(AGENT, classification_profile=frozenset({"late"})))
    desk.in_wrap_up(queue())
    error = refused(desk, ClassifyChat(AGENT, "chat-1", code="refund"), 40)
    assert error.code is ErrorCode.CLASSIFICATION_NOT_IN_PROFILE
    desk.do(ClassifyChat(AGENT, "chat-1", code="late"), 41)


@pytest.mark.parametrize(
    ("code", "text"), [(None, None), (None, "Refund"), ("refund", "Refund")]
)
def test_a_dropdown_queue_needs_a_code_and_only_a_code(
    code: str | None, text: str | None
) -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    error = refused(desk, ClassifyChat(AGENT, "chat-1", code=code, text=text), 40)
    assert error.code is ErrorCode.CLASSIFICATION_MODE_MISMATCH


def test_free_text_is_trimmed_and_nfc_normalised() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(dropdown=False))
    decision = desk.do(ClassifyChat(AGENT, "chat-1", text="  Cafe\u0301 order  "), 40)
    (event,) = decision.events
    assert isinstance(event, ChatClassified)
    assert event.classification.label == "Caf\u00e9 order"
    assert event.classification.code is None
    assert event.classification.is_free_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a", ErrorCode.FREE_TEXT_TOO_SHORT),
        ("   ", ErrorCode.FREE_TEXT_TOO_SHORT),
        ("x" * 21, ErrorCode.FREE_TEXT_TOO_LONG),
        ("line\nbreak", ErrorCode.CONTROL_CHARACTERS),
        ("bell\x07", ErrorCode.CONTROL_CHARACTERS),
    ],
)
def test_free_text_outside_the_limits_is_refused(
    text: str, expected: ErrorCode
) -> None:
    rules = FreeTextClassification(min_length=2, max_length=20)
    desk = Desk()
    desk.in_wrap_up(queue(dropdown=False, choices=rules))
    error = refused(desk, ClassifyChat(AGENT, "chat-1", text=text), 40)
    assert error.code is expected


def test_a_free_text_queue_refuses_a_code() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(dropdown=False))
    error = refused(desk, ClassifyChat(AGENT, "chat-1", code="refund"), 40)
    assert error.code is ErrorCode.CLASSIFICATION_MODE_MISMATCH


def test_additional_text_keeps_line_breaks_and_has_a_maximum_length() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(additional_text_max_length=10))
    desk.do(ClassifyChat(AGENT, "chat-1", code="late", additional_text="a\r\nb"), 40)
    assert desk.state.chats[0].additional_text == "a\nb"
    error = refused(
        desk, ClassifyChat(AGENT, "chat-1", code="late", additional_text="x" * 11), 41
    )
    assert error.code is ErrorCode.ADDITIONAL_TEXT_TOO_LONG


def test_blank_additional_text_is_stored_as_none() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    desk.do(ClassifyChat(AGENT, "chat-1", code="late", additional_text="   "), 40)
    assert desk.state.chats[0].additional_text is None


# Abuse flag


def test_flagging_as_abusive_adds_the_note_to_the_contact_history() -> None:
    desk = Desk()
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue()), 0)
    decision = desk.do(FlagAbusive(AGENT, "chat-1", "  threats "), 10)
    (event,) = decision.events
    assert isinstance(event, ChatFlaggedAbusive)
    assert event.note == ABUSE_NOTE == "This chat was marked as abusive"
    assert event.reason == "threats"
    desk.do(EndChat(AGENT, "chat-1"), 30)
    (entry,) = desk.do(CompleteWrapUp(AGENT, "chat-1"), 40).history
    assert entry.notes == (ABUSE_NOTE,)
    assert entry.abuse is not None
    assert entry.abuse.flagged_by == AGENT
    assert entry.abuse.flagged_at == at(10)


def test_flagging_during_wrap_up_is_allowed() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    desk.do(FlagAbusive(AGENT, "chat-1"), 40)
    assert desk.state.chats[0].abuse is not None


def test_a_second_flag_is_refused_and_keeps_the_first() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    desk.do(FlagAbusive(AGENT, "chat-1", "first"), 40)
    error = refused(desk, FlagAbusive(AGENT, "chat-1", "second"), 41)
    assert error.code is ErrorCode.ALREADY_FLAGGED_ABUSIVE
    abuse = desk.state.chats[0].abuse
    assert abuse is not None
    assert abuse.reason == "first"


def test_an_abuse_reason_that_is_too_long_is_refused() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    error = refused(desk, FlagAbusive(AGENT, "chat-1", "x" * 1001), 40)
    assert error.code is ErrorCode.ABUSE_REASON_TOO_LONG


# Contact history entry


def test_the_history_entry_holds_everything_about_the_chat() -> None:
    desk = Desk()
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue("sales")), 0)
    desk.do(ClassifyChat(AGENT, "chat-1", code="invoice", additional_text="PO"), 10)
    desk.do(EndChat(AGENT, "chat-1"), 30)
    desk.do(ExtendWrapUp(AGENT, "chat-1"), 40)
    (entry,) = desk.do(CompleteWrapUp(AGENT, "chat-1"), 70).history
    assert entry == ContactHistoryEntry(
        customer_id="cust-1",
        chat_id="chat-1",
        agent_id=AGENT,
        queue_id="sales",
        classification=entry.classification,
        additional_text="PO",
        chat_started_at=at(0),
        chat_ended_at=at(30),
        ended_by=EndedBy.CUSTOMER,
        wrap_up_started_at=at(30),
        wrap_up_ended_at=at(70),
        ending=WrapUpEnding.COMPLETED_EARLY,
        extensions_used=1,
        abuse=None,
    )
    assert entry.classification is not None
    assert (entry.classification.code, entry.classification.label) == (
        "invoice",
        "Invoice query",
    )
    assert entry.notes == ()


# Instants


def test_naive_instants_are_refused() -> None:
    state = AgentState.new(AGENT)
    with pytest.raises(InvalidInput) as caught:
        decide(state, AssignChat(AGENT, "c", "u", queue()), datetime(2026, 1, 1))
    assert caught.value.code is ErrorCode.INVALID_INSTANT


def test_instants_in_other_zones_are_converted_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    desk = Desk()
    local = datetime(2026, 1, 5, 10, 0, tzinfo=paris)
    decision = decide(desk.state, AssignChat(AGENT, "c", "u", queue()), local)
    assert decision.state.chats[0].started_at == datetime(
        2026, 1, 5, 9, 0, tzinfo=timezone.utc
    )
    assert decision.state.chats[0].started_at.tzinfo is timezone.utc


def test_a_clock_that_jumps_back_never_ends_a_chat_before_it_started() -> None:
    desk = Desk()
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue()), 100)
    desk.do(EndChat(AGENT, "chat-1"), 50)
    chat = desk.state.chats[0]
    assert chat.ended_at == at(100)
    assert chat.deadline == at(160)


def test_decide_refuses_something_that_is_not_a_command() -> None:
    state = AgentState.new(AGENT)

    class Fake:
        name = "fake"
        agent_id = AGENT
        chat_id = "c"

    with pytest.raises(InvalidInput) as caught:
        decide(state, Fake(), at(0))  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT
    assert isinstance(caught.value, ValueError)


def test_a_required_classification_the_agent_cannot_give_does_not_hold_them() -> None:
    state = AgentState.new(AGENT, classification_profile=frozenset({"elsewhere"}))
    desk = Desk(state)
    desk.in_wrap_up(queue(required=True, countdown_seconds=None))
    error = refused(desk, ClassifyChat(AGENT, "chat-1", code="refund"), 40)
    assert error.code is ErrorCode.CLASSIFICATION_NOT_IN_PROFILE
    (entry,) = desk.do(CompleteWrapUp(AGENT, "chat-1"), 41).history
    assert entry.classification is None
    assert desk.state.status is Status.AVAILABLE


def test_the_chat_fields_keep_the_order_the_fast_paths_rely_on() -> None:
    # decide's extend and the storage codec build and read chats positionally.
    assert [field.name for field in attrs.fields(Chat)] == [
        "chat_id",
        "customer_id",
        "queue",
        "phase",
        "started_at",
        "ended_at",
        "ended_by",
        "deadline",
        "extensions_used",
        "classification",
        "additional_text",
        "abuse",
        "paused_at",
        "pause_count",
        "paused_seconds",
        "leg",
        "transfer",
    ]


# A late click: one answer whatever the sweeper has done.

LATE_CLICKS = [
    ClassifyChat(AGENT, "chat-1", code="refund"),
    FlagAbusive(AGENT, "chat-1"),
    ExtendWrapUp(AGENT, "chat-1"),
    CompleteWrapUp(AGENT, "chat-1"),
    EndChat(AGENT, "chat-1"),
]


@pytest.mark.parametrize("click", LATE_CLICKS, ids=lambda c: c.name)
def test_a_click_after_expiry_gets_the_same_answer_before_and_after_a_sweep(
    click: object,
) -> None:
    unswept = Desk()
    unswept.in_wrap_up(queue())  # the deadline is at 90 s
    swept = Desk(unswept.state)
    swept.do(ExpireWrapUp(AGENT, "chat-1", at(90)), 95)

    before_sweep = refused(unswept, click, 100)
    after_sweep = refused(swept, click, 100)
    assert before_sweep.code is after_sweep.code is ErrorCode.WRAP_UP_OVER
    assert isinstance(before_sweep, CommandRefused)
    assert before_sweep.reason == after_sweep.reason
    assert before_sweep.reason == "its wrap-up expired at 2026-01-05T09:01:30+00:00"


def test_a_click_after_the_agent_completed_says_when_it_was_completed() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    desk.do(CompleteWrapUp(AGENT, "chat-1"), 40)
    error = refused(desk, ExtendWrapUp(AGENT, "chat-1"), 41)
    assert error.code is ErrorCode.WRAP_UP_OVER
    assert "was completed at 2026-01-05T09:00:40" in str(error)


def test_a_click_on_a_chat_that_ended_without_wrap_up_says_so() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(enabled=False))
    error = refused(desk, ClassifyChat(AGENT, "chat-1", code="refund"), 31)
    assert error.code is ErrorCode.WRAP_UP_OVER
    assert "with no wrap-up" in str(error)


def test_a_chat_never_held_is_still_not_held() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    desk.do(CompleteWrapUp(AGENT, "chat-1"), 40)
    assert refused(desk, ExtendWrapUp(AGENT, "chat-7"), 41).code is (
        ErrorCode.CHAT_NOT_HELD
    )


def test_a_finished_chat_id_may_come_back_in_a_new_assign() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    desk.do(CompleteWrapUp(AGENT, "chat-1"), 40)
    desk.do(AssignChat(AGENT, "chat-1", "cust-2", queue()), 50)
    assert desk.state.finished == ()
    desk.do(EndChat(AGENT, "chat-1"), 60)
    assert desk.state.chats[0].customer_id == "cust-2"


def test_an_agent_remembers_twice_its_capacity_of_finished_chats() -> None:
    desk = Desk()  # capacity 1
    for n in range(1, 5):
        desk.do(AssignChat(AGENT, f"chat-{n}", "cust-1", queue()), n * 10)
        desk.do(EndChat(AGENT, f"chat-{n}"), n * 10 + 1)
        desk.do(CompleteWrapUp(AGENT, f"chat-{n}"), n * 10 + 2)
    assert [f.chat_id for f in desk.state.finished] == ["chat-3", "chat-4"]
    assert refused(desk, ExtendWrapUp(AGENT, "chat-2"), 60).code is (
        ErrorCode.CHAT_NOT_HELD
    )
    assert refused(desk, ExtendWrapUp(AGENT, "chat-3"), 60).code is (
        ErrorCode.WRAP_UP_OVER
    )


def test_finished_chats_round_trip_through_the_json_form() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    desk.do(ExpireWrapUp(AGENT, "chat-1", at(90)), 95)
    assert AgentState.from_dict(desk.state.to_dict()) == desk.state
    assert desk.state.to_dict()["finished"] == [
        {"chat_id": "chat-1", "ending": "expired", "at": "2026-01-05T09:01:30Z"}
    ]


@given(sequence=command_sequences(), status=st.sampled_from(Status))
@settings(max_examples=100, deadline=None)
def test_a_state_rebuilt_field_by_field_equals_the_state_it_copies(
    sequence: list[tuple[int, object]], status: Status
) -> None:
    # The extension's path fills an agent's slots one by one: every field
    # must land where it belongs, whatever the state.
    state = AgentState.new("agent-1", capacity=3)
    now = at(0)
    for millis, command in sequence:
        now += timedelta(milliseconds=millis)
        with contextlib.suppress(WrapUpError):
            state = decide(state, command, now).state
        assert _with(state, state.chats) == state
        changed = _with(state, (), status, ())
        assert changed == attrs.evolve(state, chats=(), status=status, finished=())
