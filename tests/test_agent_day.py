"""The rest of an agent's day in the core: pause and park, presence and the
next status."""

from __future__ import annotations

import pytest

from support import AGENT, Desk, at, queue
from webchat_wrapup import (
    ActivateChat,
    AgentState,
    AssignChat,
    CancelNextPresence,
    ChoosePresence,
    CommandRefused,
    CompleteWrapUp,
    EndChat,
    ErrorCode,
    ExtendWrapUp,
    ParkChat,
    PauseWrapUp,
    Phase,
    Presence,
    PresenceChanged,
    ResumeWrapUp,
    Status,
    WrapUpEnding,
    WrapUpPaused,
    WrapUpResumed,
    effective_state,
    expire_due,
    view_agent,
)


def refused(desk: Desk, command: object, seconds: float) -> ErrorCode:
    with pytest.raises(CommandRefused) as caught:
        desk.do(command, seconds)  # type: ignore[arg-type]
    return caught.value.code


# Pause and resume (the countdown keeps its time left)


def test_a_paused_wrap_up_keeps_its_time_left_and_resumes_from_there() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())  # ends at 30 s: deadline 90 s
    desk.do(PauseWrapUp(AGENT, "chat-1"), 50)  # 40 s left
    (chat,) = view_agent(desk.state, at(500)).chats
    assert chat.paused
    assert chat.seconds_left == 40
    assert effective_state(desk.state, at(10_000)).chats  # nothing expires
    desk.do(ResumeWrapUp(AGENT, "chat-1"), 600)
    assert desk.state.chats[0].deadline == at(640)
    assert desk.state.chats[0].phase is Phase.WRAP_UP


def test_an_extension_while_paused_adds_to_the_time_left() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    desk.do(PauseWrapUp(AGENT, "chat-1"), 50)
    desk.do(ExtendWrapUp(AGENT, "chat-1"), 60)
    (chat,) = view_agent(desk.state, at(70)).chats
    assert chat.seconds_left == 100
    assert chat.extensions_left == 2


def test_the_history_entry_counts_the_pauses_and_their_time() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    desk.do(PauseWrapUp(AGENT, "chat-1"), 40)
    desk.do(ResumeWrapUp(AGENT, "chat-1"), 55)
    desk.do(PauseWrapUp(AGENT, "chat-1"), 60)
    (entry,) = desk.do(CompleteWrapUp(AGENT, "chat-1"), 70).history
    assert entry.pause_count == 2
    assert entry.paused_seconds == pytest.approx(25.0)


def test_a_paused_countdown_resumes_by_itself_when_the_allowance_runs_out() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(max_paused_seconds=20))
    desk.do(PauseWrapUp(AGENT, "chat-1"), 50)  # 40 s left; resumes at 70 s
    (chat,) = view_agent(desk.state, at(60)).chats
    assert chat.resumes_at == at(70)
    later = effective_state(desk.state, at(109))
    assert later.chats[0].phase is Phase.WRAP_UP
    assert later.chats[0].deadline == at(110)
    decision = expire_due(desk.state, at(200))
    resumed = [e for e in decision.events if isinstance(e, WrapUpResumed)]
    assert resumed[0].automatic
    assert resumed[0].at == at(70)
    assert decision.history[0].ending is WrapUpEnding.EXPIRED
    assert decision.history[0].paused_seconds == 20.0
    assert decision.history[0].wrap_up_ended_at == at(110)


def test_a_queue_may_forbid_pausing() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(pause_allowed=False))
    assert refused(desk, PauseWrapUp(AGENT, "chat-1"), 40) is (
        ErrorCode.PAUSE_NOT_ALLOWED
    )
    (chat,) = view_agent(desk.state, at(40)).chats
    assert chat.pause_disabled_reason is ErrorCode.PAUSE_NOT_ALLOWED


# Park and activate


def test_a_parked_chat_is_still_held_and_counts_towards_capacity() -> None:
    desk = Desk()
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue()), 0)
    desk.do(ParkChat(AGENT, "chat-1"), 5)
    assert desk.state.status is Status.HANDLING_CHAT
    assert refused(desk, AssignChat(AGENT, "chat-2", "c", queue()), 6) is (
        ErrorCode.CAPACITY_REACHED
    )
    desk.do(ActivateChat(AGENT, "chat-1"), 7)
    assert desk.state.chats[0].phase is Phase.ACTIVE


def test_a_chat_that_ends_while_parked_goes_to_a_paused_wrap_up() -> None:
    desk = Desk()
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue()), 0)
    desk.do(ParkChat(AGENT, "chat-1"), 5)
    decision = desk.do(EndChat(AGENT, "chat-1"), 10)
    paused = [e for e in decision.events if isinstance(e, WrapUpPaused)]
    assert paused[0].parked
    assert paused[0].seconds_left == 60
    assert effective_state(desk.state, at(5000)).chats  # countdown not started
    desk.do(ResumeWrapUp(AGENT, "chat-1"), 100)
    assert desk.state.chats[0].deadline == at(160)


def test_a_parked_chat_cannot_be_paused_or_extended() -> None:
    desk = Desk()
    desk.do(AssignChat(AGENT, "chat-1", "cust-1", queue()), 0)
    desk.do(ParkChat(AGENT, "chat-1"), 5)
    assert refused(desk, PauseWrapUp(AGENT, "chat-1"), 6) is (
        ErrorCode.NOT_ALLOWED_IN_PHASE
    )
    assert refused(desk, ExtendWrapUp(AGENT, "chat-1"), 6) is (
        ErrorCode.NOT_ALLOWED_IN_PHASE
    )


# Presence and the next status


def test_a_presence_chosen_with_no_chat_changes_at_once_and_stops_assigns() -> None:
    desk = Desk()
    desk.do(ChoosePresence(AGENT, Presence.BREAK), 0)
    assert desk.state.presence is Presence.BREAK
    assert view_agent(desk.state, at(1)).status_label == "Break"
    code = refused(desk, AssignChat(AGENT, "chat-1", "c", queue()), 1)
    assert code is ErrorCode.AGENT_NOT_AVAILABLE


def test_a_not_ready_reason_is_the_label_a_desk_shows() -> None:
    desk = Desk()
    desk.do(ChoosePresence(AGENT, Presence.NOT_READY, "Lunch"), 0)
    assert view_agent(desk.state, at(1)).status_label == "Lunch"


def test_a_break_chosen_during_wrap_up_starts_when_the_wrap_up_ends() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    desk.do(ChoosePresence(AGENT, Presence.BREAK), 40)
    view = view_agent(desk.state, at(41))
    assert view.next_presence is Presence.BREAK
    assert view.status_label == "Wrap-up"
    assert refused(desk, AssignChat(AGENT, "chat-2", "c", queue()), 42) is (
        ErrorCode.NEXT_STATUS_PENDING
    )
    after = effective_state(desk.state, at(91))  # expired at 90 s
    assert after.presence is Presence.BREAK
    assert after.next_presence is None
    decision = desk.do(ChoosePresence(AGENT, Presence.AVAILABLE), 95)
    (change,) = [e for e in desk.events if isinstance(e, PresenceChanged)][:1]
    assert change.at == at(90)
    assert decision.state.presence is Presence.AVAILABLE


def test_a_pending_next_status_keeps_new_chats_away_and_can_be_cancelled() -> None:
    desk = Desk(AgentState.new(AGENT, capacity=2))
    desk.in_wrap_up(queue())
    desk.do(ChoosePresence(AGENT, Presence.OFFLINE), 40)
    code = refused(desk, AssignChat(AGENT, "chat-2", "c", queue()), 41)
    assert code is ErrorCode.NEXT_STATUS_PENDING
    desk.do(CancelNextPresence(AGENT), 42)
    desk.do(AssignChat(AGENT, "chat-2", "c", queue()), 43)
    desk.do(CompleteWrapUp(AGENT, "chat-1"), 44)
    assert desk.state.presence is Presence.AVAILABLE


def test_a_not_ready_presence_needs_a_reason_and_others_refuse_one() -> None:
    from webchat_wrapup import InvalidInput

    desk = Desk()
    with pytest.raises(InvalidInput):
        desk.do(ChoosePresence(AGENT, Presence.NOT_READY), 0)
    with pytest.raises(InvalidInput):
        desk.do(ChoosePresence(AGENT, Presence.BREAK, "Lunch"), 0)


def test_the_pause_allowance_caps_a_pause_before_the_deadline_passes() -> None:
    desk = Desk()
    desk.in_wrap_up(queue(max_paused_seconds=20))  # deadline 90 s
    desk.do(PauseWrapUp(AGENT, "chat-1"), 40)  # resumes by itself at 60 s
    (chat,) = view_agent(desk.state, at(61)).chats
    assert not chat.paused
    assert chat.deadline == at(110)
    (entry,) = desk.do(CompleteWrapUp(AGENT, "chat-1"), 65).history
    assert entry.paused_seconds == 20.0
