"""Random commands at random instants; the invariants hold after every step."""

from __future__ import annotations

import copy
from collections import Counter
from datetime import datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from support import AGENT, T0, queue
from webchat_wrapup import (
    ActivateChat,
    AgentState,
    AssignChat,
    CancelNextPresence,
    ChatFlaggedAbusive,
    ChatNotHeld,
    ChoosePresence,
    ClassifyChat,
    Command,
    CompleteWrapUp,
    ContactHistoryEntry,
    Decision,
    EndChat,
    EndedBy,
    ExpireWrapUp,
    ExpiryRule,
    ExtendWrapUp,
    FlagAbusive,
    ParkChat,
    PauseWrapUp,
    Presence,
    PresenceChanged,
    QueuePolicy,
    ResumeWrapUp,
    StatusChanged,
    TransferChat,
    WrapUpCompleted,
    WrapUpError,
    decide,
    effective_state,
    expire_due,
    view_agent,
)
from webchat_wrapup._core._machine import HELD_PHASES, STATUS_CHANGES
from webchat_wrapup.testing.strategies import queue_policies

FIXED_POLICIES = st.sampled_from(
    [
        queue(),
        queue(max_extensions=1, extension_seconds=30),
        queue(max_extensions=0),
        queue(countdown_seconds=None),
        queue(early_exit_allowed=False),
        queue(
            required=True, on_expiry=ExpiryRule.APPLY_DEFAULT, timeout_default="other"
        ),
        queue(enabled=False),
        queue(dropdown=False, countdown_seconds=5, extension_seconds=7),
    ]
)
texts = st.none() | st.sampled_from(["Refund", "  Late  ", "x", "", "bad\x00"])
codes = st.none() | st.sampled_from(["refund", "invoice", "late", "other", "nope"])


class AgentMachine(RuleBasedStateMachine):
    """Drives one agent through the core and checks every invariant."""

    chats = Bundle("chats")

    def __init__(self) -> None:
        super().__init__()
        self.state = AgentState.new(AGENT)
        self.now = T0
        self.assigned = 0
        self.history: list[ContactHistoryEntry] = []
        self.completed: Counter[str] = Counter()
        self.flags: Counter[str] = Counter()
        self.deadlines: dict[str, datetime] = {}
        self.status_trail = [self.state.status]
        self.paused_time_left: dict[tuple[str, datetime], tuple[timedelta, int]] = {}

    @initialize(capacity=st.integers(1, 3))
    def start(self, capacity: int) -> None:
        self.state = AgentState.new(AGENT, capacity=capacity)

    def run(self, command: Command) -> Decision | None:
        before = copy.deepcopy(self.state)
        try:
            decision = decide(self.state, command, self.now)
        except WrapUpError:
            assert self.state == before, "a refused command changed the state"
            return None
        self.record(decision)
        return decision

    def record(self, decision: Decision) -> None:
        pending = self.state.next_presence, self.state.next_presence_reason
        if pending[0] is not None and not decision.state.chats:
            self.check_next_status_took_effect(decision, pending)
        self.state = decision.state
        self.history.extend(decision.history)
        for event in decision.events:
            if isinstance(event, WrapUpCompleted):
                self.completed[event.chat_id] += 1
            if isinstance(event, ChatFlaggedAbusive):
                self.flags[event.chat_id] += 1
            if isinstance(event, StatusChanged):
                assert event.previous is self.status_trail[-1]
                assert (event.previous, event.status) in STATUS_CHANGES
                self.status_trail.append(event.status)

    @rule(seconds=st.sampled_from([0, 1, 5, 20, 59, 60, 61, 200]) | st.integers(0, 300))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds, milliseconds=seconds % 7)

    @rule(seconds=st.integers(1, 30))
    def clock_jumps_back(self, seconds: int) -> None:
        self.now -= timedelta(seconds=seconds)

    @rule(target=chats, policy=FIXED_POLICIES | queue_policies())
    def assign(self, policy: QueuePolicy) -> str:
        self.assigned += 1
        chat_id = f"chat-{self.assigned}"
        self.run(AssignChat(AGENT, chat_id, f"cust-{self.assigned % 3}", policy))
        return chat_id

    @rule(chat_id=chats, ended_by=st.sampled_from(list(EndedBy)))
    def end(self, chat_id: str, ended_by: EndedBy) -> None:
        self.run(EndChat(AGENT, chat_id, ended_by))

    @rule(chat_id=chats, code=codes, text=texts, extra=texts)
    def classify(
        self, chat_id: str, code: str | None, text: str | None, extra: str | None
    ) -> None:
        self.run(ClassifyChat(AGENT, chat_id, code, text, extra))

    @rule(chat_id=chats, reason=texts)
    def flag(self, chat_id: str, reason: str | None) -> None:
        self.run(FlagAbusive(AGENT, chat_id, reason))

    @rule(chat_id=chats)
    def extend(self, chat_id: str) -> None:
        self.run(ExtendWrapUp(AGENT, chat_id))

    @rule(chat_id=chats)
    def complete(self, chat_id: str) -> None:
        self.run(CompleteWrapUp(AGENT, chat_id))

    @rule(chat_id=chats)
    def sweep(self, chat_id: str) -> None:
        chat = self.state.chat(chat_id)
        deadline = self.now if chat is None or chat.deadline is None else chat.deadline
        self.run(ExpireWrapUp(AGENT, chat_id, deadline))

    @rule(chat_id=chats)
    def transfer_to_a_queue(self, chat_id: str) -> None:
        self.run(TransferChat(AGENT, chat_id, to_queue_id="sales"))

    @rule(chat_id=chats)
    def park(self, chat_id: str) -> None:
        self.run(ParkChat(AGENT, chat_id))

    @rule(chat_id=chats)
    def activate(self, chat_id: str) -> None:
        self.run(ActivateChat(AGENT, chat_id))

    @rule(chat_id=chats)
    def pause(self, chat_id: str) -> None:
        self.run(PauseWrapUp(AGENT, chat_id))

    @rule(chat_id=chats)
    def resume(self, chat_id: str) -> None:
        self.run(ResumeWrapUp(AGENT, chat_id))

    @rule(
        presence=st.sampled_from(list(Presence)),
        reason=st.sampled_from(["Lunch", "Training"]),
    )
    def choose_presence(self, presence: Presence, reason: str) -> None:
        not_ready = presence is Presence.NOT_READY
        self.run(ChoosePresence(AGENT, presence, reason if not_ready else None))

    @rule()
    def cancel_next_presence(self) -> None:
        self.run(CancelNextPresence(AGENT))

    @rule(chat_id=chats)
    def another_agent_tries(self, chat_id: str) -> None:
        before = self.state
        with pytest.raises(ChatNotHeld):
            decide(self.state, ExtendWrapUp("agent-2", chat_id), self.now)
        assert self.state is before

    def check_next_status_took_effect(
        self, decision: Decision, pending: tuple[Presence | None, str | None]
    ) -> None:
        """The next status takes effect exactly when the last wrap-up ends
        (a presence chosen in the same command may follow it)."""
        assert decision.state.next_presence is None
        changes = [e for e in decision.events if isinstance(e, PresenceChanged)]
        ends = [e for e in decision.events if isinstance(e, WrapUpCompleted)]
        assert changes
        assert ends
        assert (changes[0].presence, changes[0].reason) == pending
        assert changes[0].at == ends[-1].at

    @invariant()
    def nothing_expires_while_paused_without_a_limit(self) -> None:
        much_later = self.now + timedelta(days=30)
        held = {chat.chat_id for chat in effective_state(self.state, much_later).chats}
        for chat in self.state.chats:
            if chat.paused_at is not None and chat.resumes_at() is None:
                assert chat.chat_id in held

    @invariant()
    def time_left_never_grows_while_paused_but_by_an_extension(self) -> None:
        for chat in self.state.chats:
            if chat.paused_at is None or chat.deadline is None:
                continue
            left = chat.deadline - chat.paused_at
            key = (chat.chat_id, chat.paused_at)
            seen = self.paused_time_left.get(key)
            if seen is not None:
                grown = chat.extensions_used - seen[1]
                assert left <= seen[0] + grown * chat.queue.wrap_up.extension
            self.paused_time_left[key] = (left, chat.extensions_used)

    @invariant()
    def an_agent_who_is_not_available_holds_no_chat(self) -> None:
        # A presence changes only with no chat held, and nothing is assigned
        # to an agent who is not Available: so such an agent holds none.
        if self.state.presence is not Presence.AVAILABLE:
            assert not self.state.chats

    @invariant()
    def extensions_never_exceed_the_budget(self) -> None:
        for chat in self.state.chats:
            assert 0 <= chat.extensions_used <= chat.queue.wrap_up.max_extensions
        for entry in self.history:
            assert entry.extensions_used <= 10

    @invariant()
    def the_deadline_is_the_countdown_plus_the_extensions_used(self) -> None:
        for chat in self.state.chats:
            policy = chat.queue.wrap_up
            if chat.deadline is None:
                assert chat.phase in HELD_PHASES or policy.countdown is None
                continue
            assert chat.ended_at is not None
            assert policy.countdown is not None
            expected = (
                chat.ended_at
                + policy.countdown
                + chat.extensions_used * policy.extension
                + timedelta(seconds=chat.paused_seconds)
            )
            assert abs(chat.deadline - expected) < timedelta(milliseconds=1)

    @invariant()
    def a_deadline_never_moves_back(self) -> None:
        for chat in self.state.chats:
            if chat.deadline is None:
                continue
            seen = self.deadlines.get(chat.chat_id)
            assert seen is None or chat.deadline >= seen
            self.deadlines[chat.chat_id] = chat.deadline

    @invariant()
    def the_status_is_the_one_derived_from_the_chats(self) -> None:
        assert self.state.status is self.state.derived_status()
        assert self.state.status is self.status_trail[-1]
        assert len(self.state.chats) <= self.state.capacity

    @invariant()
    def every_completed_chat_has_exactly_one_history_entry(self) -> None:
        written = Counter(entry.chat_id for entry in self.history)
        assert written == self.completed
        assert all(count == 1 for count in written.values())
        held = {chat.chat_id for chat in self.state.chats}
        assert not held & set(written)

    @invariant()
    def an_abuse_note_appears_at_most_once_per_chat(self) -> None:
        assert all(count <= 1 for count in self.flags.values())
        for entry in self.history:
            assert len(entry.notes) == (1 if self.flags[entry.chat_id] else 0)

    @invariant()
    def the_effective_state_equals_the_state_after_expiring(self) -> None:
        for later in (self.now, self.now + timedelta(seconds=90)):
            effective = effective_state(self.state, later)
            expired = expire_due(self.state, later)
            assert effective == expired.state
            assert expire_due(effective, later).events == ()
            assert view_agent(self.state, later).status is effective.status
            for chat in effective.chats:
                due = chat.due_at()  # a paused countdown is due only if it resumes
                assert due is None or due > later

    @invariant()
    def history_entries_are_in_time_order_within_each_entry(self) -> None:
        for entry in self.history:
            assert entry.chat_started_at <= entry.chat_ended_at
            assert entry.chat_ended_at == entry.wrap_up_started_at
            assert entry.wrap_up_started_at <= entry.wrap_up_ended_at


TestAgentMachine = AgentMachine.TestCase
TestAgentMachine.settings = settings(
    settings.default, max_examples=max(settings.default.max_examples, 200)
)
