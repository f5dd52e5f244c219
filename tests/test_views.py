"""What a desk shows, and that it agrees with what the core would do."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support import AGENT, Desk, at, play, queue
from webchat_wrapup import (
    ActivateChat,
    AgentState,
    AgentView,
    AssignChat,
    ClassifyChat,
    CompleteWrapUp,
    DropdownInput,
    ErrorCode,
    ExtendWrapUp,
    FlagAbusive,
    FreeTextClassification,
    FreeTextInput,
    ParkChat,
    PauseWrapUp,
    ResumeWrapUp,
    Status,
    WarningLevel,
    WrapUpError,
    decide,
    view_agent,
)
from webchat_wrapup.testing.strategies import command_sequences


def test_a_desk_in_wrap_up_shows_the_countdown_and_the_extensions_left() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    view = view_agent(desk.state, at(40))
    assert view.status_label == "Wrap-up"
    (chat,) = view.chats
    assert chat.seconds_left == 50
    assert chat.extensions_left == 3
    assert chat.extend_enabled
    assert chat.complete_enabled
    assert chat.warning_level is WarningLevel.NORMAL


def test_seconds_left_round_up_and_never_go_negative() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    assert view_agent(desk.state, at(89.5)).chats[0].seconds_left == 1
    assert view_agent(desk.state, at(30)).chats[0].seconds_left == 60
    assert view_agent(desk.state, at(95)).chats == ()


@pytest.mark.parametrize(
    ("seconds", "level"),
    [
        (30, WarningLevel.NORMAL),
        (59, WarningLevel.NORMAL),
        (60, WarningLevel.LOW),
        (74, WarningLevel.LOW),
        (75, WarningLevel.CRITICAL),
        (89, WarningLevel.CRITICAL),
    ],
)
def test_the_warning_level_rises_as_time_runs_low(
    seconds: int, level: WarningLevel
) -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    assert view_agent(desk.state, at(seconds)).chats[0].warning_level is level


def test_the_extend_button_greys_out_when_no_extensions_are_left() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(max_extensions=1))
    desk.do(ExtendWrapUp(AGENT, "chat-1"), 40)
    (chat,) = view_agent(desk.state, at(41)).chats
    assert chat.extensions_left == 0
    assert not chat.extend_enabled
    assert chat.extend_disabled_reason is ErrorCode.NO_EXTENSIONS_LEFT


def test_complete_is_disabled_with_its_reason() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(required=True))
    (chat,) = view_agent(desk.state, at(40)).chats
    assert not chat.complete_enabled
    assert chat.complete_disabled_reason is ErrorCode.CLASSIFICATION_REQUIRED
    forced = Desk()
    forced.in_wrap_up(queue(early_exit_allowed=False))
    (chat,) = view_agent(forced.state, at(40)).chats
    assert chat.complete_disabled_reason is ErrorCode.EARLY_EXIT_NOT_ALLOWED


def test_an_active_chat_shows_no_countdown_and_both_buttons_disabled() -> None:
    desk = Desk()
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue()), 0)
    view = view_agent(desk.state, at(5))
    assert view.status is Status.HANDLING_CHAT
    (chat,) = view.chats
    assert chat.seconds_left is None
    assert chat.warning_level is None
    assert chat.extend_disabled_reason is ErrorCode.NOT_ALLOWED_IN_PHASE
    assert chat.complete_disabled_reason is ErrorCode.NOT_ALLOWED_IN_PHASE


def test_a_wrap_up_with_no_countdown_shows_none_and_greys_out_extend() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(countdown_seconds=None))
    (chat,) = view_agent(desk.state, at(40)).chats
    assert chat.seconds_left is None
    assert chat.extend_disabled_reason is ErrorCode.NO_COUNTDOWN


def test_the_dropdown_shows_only_the_options_this_agent_may_choose() -> None:
    state = AgentState.new(AGENT, classification_profile=frozenset({"late", "old"}))
    desk = Desk(state)
    desk.in_wrap_up(queue())
    (chat,) = view_agent(desk.state, at(40)).chats
    assert isinstance(chat.classification_input, DropdownInput)
    assert [o.code for o in chat.classification_input.options] == ["late"]


def test_a_free_text_queue_shows_the_text_limits() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(dropdown=False, choices=FreeTextClassification(min_length=3)))
    (chat,) = view_agent(desk.state, at(40)).chats
    assert chat.classification_input == FreeTextInput(min_length=3, max_length=100)


def test_the_view_shows_the_classification_and_abuse_flag() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    desk.do(ClassifyChat(AGENT, "chat-1", code="late", additional_text="x"), 40)
    desk.do(FlagAbusive(AGENT, "chat-1"), 41)
    (chat,) = view_agent(desk.state, at(42)).chats
    assert chat.classification is not None
    assert chat.classification.label == "Late delivery"
    assert chat.additional_text == "x"
    assert chat.flagged_abusive


def test_a_view_round_trips_through_json() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    view = view_agent(desk.state, at(40))
    text = json.dumps(view.to_dict())
    assert AgentView.from_dict(json.loads(text)) == view


def _try(state: AgentState, command: object, moment: datetime) -> ErrorCode | None:
    """The code the core refuses ``command`` with, or None if it accepts it."""
    try:
        decide(state, command, moment)  # type: ignore[arg-type]
    except WrapUpError as error:
        return error.code
    return None


@given(command_sequences(max_size=20), st.integers(0, 400_000))
def test_buttons_are_enabled_exactly_when_the_core_would_accept_the_click(
    steps: list, later_ms: int
) -> None:
    state, now, _ = play(steps)
    moment = now + timedelta(milliseconds=later_ms)
    view = view_agent(state, moment)
    assert view.to_dict() == AgentView.from_dict(view.to_dict()).to_dict()
    for chat in view.chats:
        assert chat.seconds_left is None or chat.seconds_left >= 0
        for command, enabled, reason in (
            (
                ExtendWrapUp(AGENT, chat.chat_id),
                chat.extend_enabled,
                chat.extend_disabled_reason,
            ),
            (
                CompleteWrapUp(AGENT, chat.chat_id),
                chat.complete_enabled,
                chat.complete_disabled_reason,
            ),
            (
                FlagAbusive(AGENT, chat.chat_id),
                chat.flag_abusive_enabled,
                chat.flag_abusive_disabled_reason,
            ),
            (
                PauseWrapUp(AGENT, chat.chat_id),
                chat.pause_enabled,
                chat.pause_disabled_reason,
            ),
            (
                ResumeWrapUp(AGENT, chat.chat_id),
                chat.resume_enabled,
                chat.resume_disabled_reason,
            ),
            (
                ParkChat(AGENT, chat.chat_id),
                chat.park_enabled,
                chat.park_disabled_reason,
            ),
            (
                ActivateChat(AGENT, chat.chat_id),
                chat.activate_enabled,
                chat.activate_disabled_reason,
            ),
        ):
            outcome = _try(state, command, moment)
            assert outcome is reason
            assert enabled is (outcome is None)


def test_flag_as_abusive_is_disabled_once_the_chat_is_flagged() -> None:
    desk = Desk()
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue()), 0)
    (chat,) = view_agent(desk.state, at(5)).chats
    assert chat.flag_abusive_enabled
    assert chat.flag_abusive_disabled_reason is None
    desk.do(FlagAbusive(AGENT, "chat-1"), 6)
    (chat,) = view_agent(desk.state, at(7)).chats
    assert not chat.flag_abusive_enabled
    assert chat.flag_abusive_disabled_reason is ErrorCode.ALREADY_FLAGGED_ABUSIVE


def test_complete_is_enabled_when_the_agent_cannot_give_a_required_code() -> None:
    desk = Desk(AgentState.new(AGENT, classification_profile=frozenset()))
    desk.in_wrap_up(queue(required=True))
    (chat,) = view_agent(desk.state, at(40)).chats
    assert chat.complete_enabled
    assert isinstance(chat.classification_input, DropdownInput)
    assert chat.classification_input.options == ()
