"""The pure decide step: (state, command, instant) -> new state and events.

Nothing here reads a clock, a file or a store, and nothing here decides
whether an action is allowed: each handler asks the rules module, raises
its refusal unchanged, and otherwise carries the action out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

import attrs

from ._agent import AgentState, Chat, FinishedChat, Transfer, finished_limit
from ._commands import (
    COMMAND_CHECKS,
    ActivateChat,
    AssignChat,
    CancelNextPresence,
    ChatCommand,
    ChoosePresence,
    ClassifyChat,
    Command,
    CompleteWrapUp,
    EndChat,
    ExpireWrapUp,
    ExtendWrapUp,
    FlagAbusive,
    ParkChat,
    PauseWrapUp,
    ResumeWrapUp,
    TransferChat,
    check_command,
)
from ._errors import (
    ChatNotHeld,
    CommandRefused,
    ErrorCode,
    InvalidInput,
    invalid_argument,
    shown,
)
from ._events import (
    ChatActivated,
    ChatAssigned,
    ChatClassified,
    ChatEnded,
    ChatFlaggedAbusive,
    ChatParked,
    ChatTransferred,
    Event,
    NextPresenceChosen,
    PresenceChanged,
    StatusChanged,
    WrapUpCompleted,
    WrapUpExtended,
    WrapUpPaused,
    WrapUpResumed,
    WrapUpStarted,
)
from ._history import AbuseFlag, ContactHistoryEntry, EndedBy, WrapUpEnding
from ._instants import MAX_INSTANT, MIN_INSTANT, utc_instant
from ._machine import CHAT_TRANSITIONS, Action, Phase, Presence, Status
from ._policy import ExpiryRule
from ._rules import (
    NO_COUNTDOWN,
    Refusal,
    assign_refusal,
    complete_refusal,
    expire_refusal,
    extend_refusal,
    flag_refusal,
    pause_refusal,
    phase_refusal,
    wrap_up_over_refusal,
)
from ._text import clean_paragraphs

MAX_ABUSE_REASON_LENGTH = 1000
# Enum member lookups are slow on the hot path; bind the actions once.
_CLASSIFY, _FLAG_ABUSIVE, _END_CHAT = (
    Action.CLASSIFY,
    Action.FLAG_ABUSIVE,
    Action.END_CHAT,
)
_EXTEND, _COMPLETE, _EXPIRE = Action.EXTEND, Action.COMPLETE, Action.EXPIRE
_UTC, _MIN, _MAX = timezone.utc, MIN_INSTANT, MAX_INSTANT
_WRAP_UP, _PAUSED = Phase.WRAP_UP, Phase.PAUSED
_NOT_TRANSFERRED = Transfer()


@attrs.frozen(slots=False)
class Decision:
    """What the core decided: the new state, its events, new history entries."""

    state: AgentState
    events: tuple[Event, ...] = ()
    history: tuple[ContactHistoryEntry, ...] = ()


def decide(state: AgentState, command: Command, now: datetime) -> Decision:
    """Apply ``command`` to ``state`` at the instant ``now``.

    The command's fields are checked first (:func:`check_command`). Wrap-ups
    whose deadline is at or before ``now`` expire next, exactly as
    :func:`expire_due` would. A refused command raises a
    :class:`~webchat_wrapup.WrapUpError` and changes nothing.
    """
    if type(now) is not datetime or now.tzinfo is not _UTC or not _MIN <= now <= _MAX:
        now = utc_instant(now)
    if type(state) is not AgentState:
        _check_state_type(state)
    check = COMMAND_CHECKS.get(type(command))
    if check is None:
        check_command(command)  # refuses it: not a command
    else:
        check(command)
    return _decided(state, command, now)


def decide_checked(state: AgentState, command: Command, now: datetime) -> Decision:
    """:func:`decide` for a command :func:`check_command` has already
    accepted (the service checks each command before it asks its store
    anything); the state and the instant are checked as :func:`decide`
    checks them."""
    if type(now) is not datetime or now.tzinfo is not _UTC or not _MIN <= now <= _MAX:
        now = utc_instant(now)
    if type(state) is not AgentState:
        _check_state_type(state)
    return _decided(state, command, now)


def _decided(state: AgentState, command: Command, now: datetime) -> Decision:
    """The decision on checked arguments."""
    if command.agent_id != state.agent_id:
        _wrong_agent(state, command)
    if type(command) is ExpireWrapUp:
        return _expire_named(state, command, now)
    prelude = _due(state, now)
    if prelude is not None:
        state = prelude.state
    decision = _HANDLERS[type(command)](state, command, now)
    if prelude is None:
        return decision
    return Decision(
        decision.state,
        prelude.events + decision.events,
        prelude.history + decision.history,
    )


def _wrong_agent(state: AgentState, command: Command) -> NoReturn:
    chat_id = getattr(command, "chat_id", None)
    if chat_id is None:
        raise invalid_argument("agent_id", f"{state.agent_id!r}", command.agent_id)
    raise ChatNotHeld(command.name, command.agent_id, chat_id)


def _check_state_type(state: object) -> None:
    if not isinstance(state, AgentState):
        raise invalid_argument("state", "an AgentState", state)


def expire_due(state: AgentState, now: datetime) -> Decision:
    """Expire every wrap-up of ``state`` whose deadline is at or before ``now``."""
    _check_state_type(state)
    decision = _due(state, utc_instant(now))
    return Decision(state) if decision is None else decision


def effective_state(state: AgentState, at: datetime) -> AgentState:
    """The state at instant ``at``: due expiries applied, whoever processed them."""
    return expire_due(state, at).state


def _due(state: AgentState, now: datetime) -> Decision | None:
    """Everything that happened by itself up to ``now``, in time order:
    paused countdowns whose pause allowance ran out resume, then run out."""
    for chat in state.chats:
        if chat.deadline is not None and chat.deadline <= now:
            break
        if chat.paused_at is not None and _resumes_by(chat, now):
            break
    else:
        return None  # the common case: nothing is due
    events: list[Event] = []
    history: list[ContactHistoryEntry] = []
    while (due := _next_due(state, now)) is not None:
        at, chat = due
        if chat.paused_at is not None:
            state = _replace(state, _resumed(chat, at, events, state, automatic=True))
        else:
            state = _expire(state, chat, events, history)
    if not events:
        return None
    return Decision(state, tuple(events), tuple(history))


def _resumes_by(chat: Chat, now: datetime) -> bool:
    resumes = chat.resumes_at()
    return resumes is not None and resumes <= now


def _next_due(state: AgentState, now: datetime) -> tuple[datetime, Chat] | None:
    """The earliest automatic resume or expiry at or before ``now``."""
    best: tuple[datetime, Chat] | None = None
    for chat in state.chats:
        if chat.paused_at is not None:
            at = chat.resumes_at()
        elif chat.phase is _WRAP_UP:
            at = chat.deadline
        else:
            continue
        if at is not None and at <= now and (best is None or at < best[0]):
            best = (at, chat)
    return best


def _resumed(
    chat: Chat, at: datetime, events: list[Event], state: AgentState, automatic: bool
) -> Chat:
    """``chat`` with its countdown running again from ``at``."""
    paused_at = chat.paused_at or at
    stopped = max(at - paused_at, timedelta(0))
    deadline = None if chat.deadline is None else chat.deadline + stopped
    resumed = attrs.evolve(
        chat,
        phase=_WRAP_UP,
        deadline=deadline,
        paused_at=None,
        paused_seconds=chat.paused_seconds + stopped.total_seconds(),
    )
    events.append(WrapUpResumed(state.agent_id, at, chat.chat_id, deadline, automatic))
    return resumed


def _expire(
    state: AgentState,
    chat: Chat,
    events: list[Event],
    history: list[ContactHistoryEntry],
) -> AgentState:
    at = chat.deadline or chat.started_at
    rules = chat.queue.classification
    classification, ending = chat.classification, WrapUpEnding.EXPIRED
    if classification is None and rules.on_expiry is ExpiryRule.APPLY_DEFAULT:
        classification = rules.timeout_classification()
        ending = WrapUpEnding.EXPIRED_WITH_DEFAULT
    if classification is not chat.classification:
        chat = attrs.evolve(chat, classification=classification)
    return _close(state, chat, at, ending, events, history)


def _close(
    state: AgentState,
    chat: Chat,
    at: datetime,
    ending: WrapUpEnding,
    events: list[Event],
    history: list[ContactHistoryEntry],
) -> AgentState:
    """Take a finished chat out of the state, remember it, write its entry."""
    if chat.paused_at is not None:  # completed while paused: count the pause
        stopped = max(at - chat.paused_at, timedelta(0)).total_seconds()
        chat = attrs.evolve(
            chat, paused_at=None, paused_seconds=chat.paused_seconds + stopped
        )
    ended_at = chat.ended_at or at
    history.append(_entry(state.agent_id, chat, ended_at, at, ending))
    events.append(
        WrapUpCompleted(
            state.agent_id,
            at,
            chat.chat_id,
            chat.customer_id,
            ending,
            chat.classification,
        )
    )
    chats = tuple(c for c in state.chats if c.chat_id != chat.chat_id)
    finished = (*state.finished, FinishedChat(chat.chat_id, ending, at))
    limit = finished_limit(state.capacity)
    state = _with(state, state.chats, finished=finished[-limit:])
    return _with_chats(state, chats, at, events)


def _entry(
    agent_id: str,
    chat: Chat,
    ended_at: datetime,
    wrap_up_ended_at: datetime,
    ending: WrapUpEnding,
) -> ContactHistoryEntry:
    transfer = chat.transfer or _NOT_TRANSFERRED
    return ContactHistoryEntry(
        customer_id=chat.customer_id,
        chat_id=chat.chat_id,
        agent_id=agent_id,
        queue_id=chat.queue.queue_id,
        classification=chat.classification,
        additional_text=chat.additional_text,
        chat_started_at=chat.started_at,
        chat_ended_at=ended_at,
        ended_by=_ended_by(chat),
        wrap_up_started_at=ended_at,
        wrap_up_ended_at=max(wrap_up_ended_at, ended_at),
        ending=ending,
        extensions_used=chat.extensions_used,
        abuse=chat.abuse,
        pause_count=chat.pause_count,
        paused_seconds=chat.paused_seconds,
        leg=chat.leg,
        transferred_to_agent=transfer.to_agent_id,
        transferred_to_queue=transfer.to_queue_id,
    )


def _ended_by(chat: Chat) -> EndedBy:
    if chat.ended_by is None:  # only in a state built by hand, never checked
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"chat {shown(chat.chat_id)} is in wrap-up but says nobody ended it",
            field="state",
        )
    return chat.ended_by


def _with_chats(
    state: AgentState, chats: tuple[Chat, ...], at: datetime, events: list[Event]
) -> AgentState:
    """``state`` holding ``chats``, announcing a change of derived status.

    When the last chat goes, a pending next status takes effect at ``at``.
    """
    new = _with(state, chats)
    if not chats and state.next_presence is not None:
        new = _presence_now(new, state.next_presence, state.next_presence_reason)
        events.append(
            PresenceChanged(
                state.agent_id,
                at,
                state.presence,
                new.presence,
                new.presence_reason,
            )
        )
    status = new.derived_status()
    if status is state.status:
        return new
    events.append(
        StatusChanged(
            state.agent_id,
            at,
            state.status,
            status,
            new.presence,
            new.presence_reason,
        )
    )
    return _with(new, new.chats, status)


def _with(
    state: AgentState,
    chats: tuple[Chat, ...],
    status: Status | None = None,
    finished: tuple[FinishedChat, ...] | None = None,
) -> AgentState:
    """``state`` holding ``chats`` (and with ``status`` and ``finished``,
    when given): its slots filled directly, each value already checked in
    ``state`` or by the caller. ``AgentState(...)`` sets a frozen class's
    fields one ``object.__setattr__`` at a time, and ``attrs.evolve`` costs
    more again: a quarter of an extension's time on its own."""
    new: AgentState = _new_object(AgentState)
    _set_agent_id(new, state.agent_id)
    _set_capacity(new, state.capacity)
    _set_chats(new, chats)
    _set_status(new, state.status if status is None else status)
    _set_profile(new, state.classification_profile)
    _set_finished(new, state.finished if finished is None else finished)
    _set_presence(new, state.presence)
    _set_presence_reason(new, state.presence_reason)
    _set_next_presence(new, state.next_presence)
    _set_next_presence_reason(new, state.next_presence_reason)
    return new


_new_object = object.__new__
(
    _set_agent_id,
    _set_capacity,
    _set_chats,
    _set_status,
    _set_profile,
    _set_finished,
    _set_presence,
    _set_presence_reason,
    _set_next_presence,
    _set_next_presence_reason,
) = (vars(AgentState)[field.name].__set__ for field in attrs.fields(AgentState))


def _presence_now(
    state: AgentState, presence: Presence, reason: str | None
) -> AgentState:
    return attrs.evolve(
        state,
        presence=presence,
        presence_reason=reason,
        next_presence=None,
        next_presence_reason=None,
    )


def _extended(chat: Chat, deadline: datetime, used: int) -> Chat:
    """``chat`` with ``deadline`` and ``used`` extensions: its fields copied
    as they are (every one was checked when ``chat`` was made) and the two
    computed from checked values set. Building the chat again would check
    and set every field, a fifth of an extension's time."""
    copy: Chat = object.__new__(Chat)
    fields = copy.__dict__
    fields.update(chat.__dict__)
    fields["deadline"] = deadline
    fields["extensions_used"] = used
    return copy


def _replace(state: AgentState, chat: Chat) -> AgentState:
    """``state`` with ``chat`` in place of the chat with the same id."""
    if len(state.chats) == 1:
        chats: tuple[Chat, ...] = (chat,)
    else:
        chats = tuple([chat if c.chat_id == chat.chat_id else c for c in state.chats])
    return _with(state, chats)


def _held(state: AgentState, command: ChatCommand) -> Chat:
    """The chat the command names; refused if the agent finished it lately
    (whoever stored that) or never held it."""
    for chat in state.chats:
        if chat.chat_id == command.chat_id:
            return chat
    finished = state.finished_chat(command.chat_id)
    if finished is not None:
        raise _refused(
            state, command.chat_id, wrap_up_over_refusal(finished), command.name
        )
    raise ChatNotHeld(command.name, command.agent_id, command.chat_id)


def _next_phase(state: AgentState, chat: Chat, action: Action, name: str) -> Phase:
    """The phase ``action`` leads to; refused when the phase does not allow it."""
    refusal = phase_refusal(chat, action)
    if refusal is not None:
        raise _refused(state, chat.chat_id, refusal, name)
    return CHAT_TRANSITIONS[(chat.phase, action)]


def _refused(
    state: AgentState, chat_id: str, refusal: Refusal, name: str
) -> CommandRefused:
    return CommandRefused(refusal.code, name, state.agent_id, chat_id, refusal.reason)


def _allow(state: AgentState, chat_id: str, refusal: Refusal | None, name: str) -> None:
    """Raise ``refusal`` as the command's refusal; do nothing when allowed."""
    if refusal is not None:
        raise _refused(state, chat_id, refusal, name)


def _assign(state: AgentState, command: AssignChat, now: datetime) -> Decision:
    _allow(state, command.chat_id, assign_refusal(state, command.chat_id), command.name)
    if state.finished_chat(command.chat_id) is not None:  # the id comes back
        finished = tuple(f for f in state.finished if f.chat_id != command.chat_id)
        state = attrs.evolve(state, finished=finished)
    chat = Chat(command.chat_id, command.customer_id, command.queue, Phase.ACTIVE, now)
    if command.leg is not None and command.leg != 1:
        chat = attrs.evolve(chat, leg=command.leg)
    events: list[Event] = [
        ChatAssigned(
            state.agent_id,
            now,
            chat.chat_id,
            chat.customer_id,
            command.queue.queue_id,
        )
    ]
    new = _with_chats(state, (*state.chats, chat), now, events)
    return Decision(new, tuple(events))


def _end(state: AgentState, command: EndChat, now: datetime) -> Decision:
    chat = _held(state, command)
    phase = _next_phase(state, chat, _END_CHAT, command.name)
    return _leg_ended(state, chat, phase, now, command.ended_by, None)


def _transfer(state: AgentState, command: TransferChat, now: datetime) -> Decision:
    chat = _held(state, command)
    phase = _next_phase(state, chat, Action.TRANSFER, command.name)
    transfer = Transfer(command.to_agent_id, command.to_queue_id)
    at = max(now, chat.started_at)
    moved = ChatTransferred(
        state.agent_id,
        at,
        chat.chat_id,
        chat.customer_id,
        command.to_agent_id,
        command.to_queue_id,
        chat.leg + 1,
    )
    chat = attrs.evolve(chat, transfer=transfer)
    return _leg_ended(state, chat, phase, now, EndedBy.TRANSFER, moved)


def _leg_ended(
    state: AgentState,
    chat: Chat,
    phase: Phase,
    now: datetime,
    ended_by: EndedBy,
    moved: Event | None,
) -> Decision:
    """This agent's part of the chat is over: wrap-up for it starts (paused if
    the chat was parked), or its entry is written at once without wrap-up."""
    ended_at = max(now, chat.started_at)
    events: list[Event] = [ChatEnded(state.agent_id, ended_at, chat.chat_id, ended_by)]
    if moved is not None:
        events.append(moved)
    policy = chat.queue.wrap_up
    deadline = None if policy.countdown is None else ended_at + policy.countdown
    chat = attrs.evolve(
        chat,
        phase=phase,
        ended_at=ended_at,
        ended_by=ended_by,
        deadline=deadline if policy.enabled else None,
    )
    if not policy.enabled:
        history: list[ContactHistoryEntry] = []
        ending = WrapUpEnding.ENDED_WITHOUT_WRAP_UP
        new = _close(state, chat, ended_at, ending, events, history)
        return Decision(new, tuple(events), tuple(history))
    events.append(
        WrapUpStarted(
            state.agent_id, ended_at, chat.chat_id, deadline, chat.extensions_left
        )
    )
    if phase is _PAUSED:  # ended while parked: the countdown waits for the agent
        if policy.pause_allowed:
            chat = attrs.evolve(chat, paused_at=ended_at, pause_count=1)
            left = None if deadline is None else policy.countdown_seconds
            events.append(
                WrapUpPaused(state.agent_id, ended_at, chat.chat_id, left, True)
            )
        else:
            chat = attrs.evolve(chat, phase=_WRAP_UP)
    new = _with_chats(state, _replace(state, chat).chats, ended_at, events)
    return Decision(new, tuple(events))


def _classify(state: AgentState, command: ClassifyChat, now: datetime) -> Decision:
    chat = _held(state, command)
    _next_phase(state, chat, _CLASSIFY, command.name)
    rules = chat.queue.classification
    profile = state.classification_profile
    classification = rules.choose(command.code, command.text, profile)
    additional_text = rules.clean_additional_text(command.additional_text)
    chat = attrs.evolve(
        chat, classification=classification, additional_text=additional_text
    )
    event = ChatClassified(
        state.agent_id, now, chat.chat_id, classification, additional_text
    )
    return Decision(_replace(state, chat), (event,))


def _flag(state: AgentState, command: FlagAbusive, now: datetime) -> Decision:
    chat = _held(state, command)
    _allow(state, chat.chat_id, flag_refusal(chat), command.name)
    reason = _clean_reason(command.reason)
    flag = AbuseFlag(state.agent_id, now, reason)
    chat = attrs.evolve(chat, abuse=flag)
    event = ChatFlaggedAbusive(state.agent_id, now, chat.chat_id, reason, flag.note)
    return Decision(_replace(state, chat), (event,))


def _clean_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    cleaned = clean_paragraphs(reason, "abuse reason")
    if len(cleaned) > MAX_ABUSE_REASON_LENGTH:
        raise InvalidInput(
            ErrorCode.ABUSE_REASON_TOO_LONG,
            f"abuse reason has {len(cleaned)} characters; "
            f"at most {MAX_ABUSE_REASON_LENGTH} are allowed",
            length=len(cleaned),
            max_length=MAX_ABUSE_REASON_LENGTH,
        )
    return cleaned or None


def _extend(state: AgentState, command: ExtendWrapUp, now: datetime) -> Decision:
    chat = _held(state, command)
    refusal = extend_refusal(chat)
    deadline = chat.deadline
    if refusal is not None or deadline is None:  # no deadline: refused as such
        raise _refused(state, chat.chat_id, refusal or NO_COUNTDOWN, command.name)
    policy = chat.queue.wrap_up
    used = chat.extensions_used
    deadline = deadline + policy.extension
    left = policy.max_extensions - used - 1
    extended = _extended(chat, deadline, used + 1)
    event = WrapUpExtended(state.agent_id, now, chat.chat_id, deadline, left)
    return Decision(_replace(state, extended), (event,))


def _complete(state: AgentState, command: CompleteWrapUp, now: datetime) -> Decision:
    chat = _held(state, command)
    refusal = complete_refusal(chat, state.classification_profile)
    _allow(state, chat.chat_id, refusal, command.name)
    events: list[Event] = []
    history: list[ContactHistoryEntry] = []
    ending = WrapUpEnding.COMPLETED_EARLY
    at = max(now, chat.ended_at or now)
    new = _close(state, chat, at, ending, events, history)
    return Decision(new, tuple(events), tuple(history))


def _expire_named(state: AgentState, command: ExpireWrapUp, now: datetime) -> Decision:
    """Expire the one chat the command names, at the deadline it names."""
    deadline = utc_instant(command.deadline)
    chat = _held(state, command)
    _allow(state, chat.chat_id, expire_refusal(chat, deadline, now), command.name)
    events: list[Event] = []
    history: list[ContactHistoryEntry] = []
    new = _expire(state, chat, events, history)
    return Decision(new, tuple(events), tuple(history))


def _park(state: AgentState, command: ParkChat, now: datetime) -> Decision:
    chat = _held(state, command)
    phase = _next_phase(state, chat, Action.PARK, command.name)
    event = ChatParked(state.agent_id, now, chat.chat_id)
    return Decision(_replace(state, attrs.evolve(chat, phase=phase)), (event,))


def _activate(state: AgentState, command: ActivateChat, now: datetime) -> Decision:
    chat = _held(state, command)
    phase = _next_phase(state, chat, Action.ACTIVATE, command.name)
    event = ChatActivated(state.agent_id, now, chat.chat_id)
    return Decision(_replace(state, attrs.evolve(chat, phase=phase)), (event,))


def _pause(state: AgentState, command: PauseWrapUp, now: datetime) -> Decision:
    chat = _held(state, command)
    _allow(state, chat.chat_id, pause_refusal(chat), command.name)
    at = max(now, chat.ended_at or now)
    paused = attrs.evolve(
        chat, phase=_PAUSED, paused_at=at, pause_count=chat.pause_count + 1
    )
    left = None if chat.deadline is None else (chat.deadline - at).total_seconds()
    event = WrapUpPaused(state.agent_id, at, chat.chat_id, left)
    return Decision(_replace(state, paused), (event,))


def _resume(state: AgentState, command: ResumeWrapUp, now: datetime) -> Decision:
    chat = _held(state, command)
    _next_phase(state, chat, Action.RESUME, command.name)
    events: list[Event] = []
    at = max(now, chat.paused_at or now)
    resumed = _resumed(chat, at, events, state, automatic=False)
    return Decision(_replace(state, resumed), tuple(events))


def _choose_presence(
    state: AgentState, command: ChoosePresence, now: datetime
) -> Decision:
    chosen = (command.presence, command.reason)
    if not state.chats:
        if chosen == (state.presence, state.presence_reason):
            return Decision(state)  # already so: nothing changes
        new = _presence_now(state, command.presence, command.reason)
        event: Event = PresenceChanged(
            state.agent_id, now, state.presence, command.presence, command.reason
        )
        return Decision(new, (event,))
    if chosen == (state.presence, state.presence_reason):
        return _next_presence(state, None, None, now)  # back to what it is: cancel
    return _next_presence(state, command.presence, command.reason, now)


def _cancel_next_presence(
    state: AgentState, command: CancelNextPresence, now: datetime
) -> Decision:
    return _next_presence(state, None, None, now)


def _next_presence(
    state: AgentState, presence: Presence | None, reason: str | None, now: datetime
) -> Decision:
    if (presence, reason) == (state.next_presence, state.next_presence_reason):
        return Decision(state)
    new = attrs.evolve(state, next_presence=presence, next_presence_reason=reason)
    return Decision(new, (NextPresenceChosen(state.agent_id, now, presence, reason),))


_HANDLERS: dict[type[Any], Callable[[Any, Any, datetime], Decision]]
_HANDLERS = {
    AssignChat: _assign,
    EndChat: _end,
    TransferChat: _transfer,
    ClassifyChat: _classify,
    FlagAbusive: _flag,
    ExtendWrapUp: _extend,
    CompleteWrapUp: _complete,
    ParkChat: _park,
    ActivateChat: _activate,
    PauseWrapUp: _pause,
    ResumeWrapUp: _resume,
    ChoosePresence: _choose_presence,
    CancelNextPresence: _cancel_next_presence,
}
