"""Every "may I?" of the core: the one place that says yes, or why not.

The python-statemachine declaration in ``_machine`` says which action each
phase of a chat allows. The rules here add what the table cannot express,
each by name: holding a chat twice and capacity (assign), a flag that
cannot be changed (flag), the agent's presence and next status (assign),
a queue that forbids pausing (pause), the extension budget and a queue
without a countdown (extend), no early exit and a required classification (complete),
a named expiry that is not due, and any action on a chat whose wrap-up is
over. Each rule returns ``None`` when the action is allowed and a
:class:`Refusal` otherwise.

The decide step raises a refusal unchanged, and the desk view shows the
same code on the greyed-out button, so a click and a button never disagree.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from ._agent import AgentState, Chat, FinishedChat
from ._errors import ErrorCode
from ._history import WrapUpEnding
from ._machine import CHAT_TRANSITIONS, PHASE_LABELS, Action, Presence
from ._policy import DropdownClassification

_EXTEND, _COMPLETE = Action.EXTEND, Action.COMPLETE
_FLAG_ABUSIVE, _EXPIRE = Action.FLAG_ABUSIVE, Action.EXPIRE
_PAUSE = Action.PAUSE


@attrs.frozen
class Refusal:
    """Why an action is not allowed: a stable code and a readable reason."""

    code: ErrorCode
    reason: str


NO_COUNTDOWN = Refusal(
    ErrorCode.NO_COUNTDOWN, "this queue's wrap-up has no countdown to extend"
)


def phase_refusal(chat: Chat, action: Action) -> Refusal | None:
    """Why ``action`` is not allowed in the chat's phase, if it is not."""
    if (chat.phase, action) in CHAT_TRANSITIONS:
        return None
    label = PHASE_LABELS[chat.phase]
    return Refusal(
        ErrorCode.NOT_ALLOWED_IN_PHASE, f"not allowed while the chat is in {label}"
    )


def assign_refusal(state: AgentState, chat_id: str) -> Refusal | None:
    """Why the agent may not take chat ``chat_id`` now, if not.

    A router must not give a chat to an agent who is not *Available*, nor
    to one whose chosen next status is something else: otherwise a busy
    agent's break would never start.
    """
    if state.presence is not Presence.AVAILABLE:
        return Refusal(
            ErrorCode.AGENT_NOT_AVAILABLE,
            f"the agent is {state.label()}, not Available",
        )
    pending = state.next_presence
    if pending is not None and pending is not Presence.AVAILABLE:
        name = state.next_presence_reason or pending.label
        return Refusal(
            ErrorCode.NEXT_STATUS_PENDING,
            f"the agent chose {name} as the next status; cancel it to take chats",
        )
    if state.chat(chat_id) is not None:
        return Refusal(ErrorCode.CHAT_ALREADY_HELD, "the agent already holds this chat")
    if len(state.chats) >= state.capacity:
        return Refusal(
            ErrorCode.CAPACITY_REACHED,
            f"the agent already holds {len(state.chats)} of {state.capacity} chats",
        )
    return None


def flag_refusal(chat: Chat) -> Refusal | None:
    """Why the agent may not flag this chat as abusive now, if not."""
    refusal = phase_refusal(chat, _FLAG_ABUSIVE)
    if refusal is None and chat.abuse is not None:
        return Refusal(
            ErrorCode.ALREADY_FLAGGED_ABUSIVE,
            "the chat is already flagged as abusive; the flag cannot be changed",
        )
    return refusal


def pause_refusal(chat: Chat) -> Refusal | None:
    """Why the agent may not pause this chat's wrap-up now, if not."""
    refusal = phase_refusal(chat, _PAUSE)
    if refusal is None and not chat.queue.wrap_up.pause_allowed:
        return Refusal(
            ErrorCode.PAUSE_NOT_ALLOWED, "this queue does not let agents pause wrap-up"
        )
    return refusal


def extend_refusal(chat: Chat) -> Refusal | None:
    """Why the agent may not extend this chat's wrap-up now, if not."""
    refusal = phase_refusal(chat, _EXTEND)
    if refusal is not None:
        return refusal
    if chat.deadline is None:
        return NO_COUNTDOWN
    budget = chat.queue.wrap_up.max_extensions
    if chat.extensions_used >= budget:
        used = chat.extensions_used
        return Refusal(
            ErrorCode.NO_EXTENSIONS_LEFT,
            f"no extensions left ({used} of {budget} used)",
        )
    return None


def complete_refusal(chat: Chat, profile: frozenset[str] | None) -> Refusal | None:
    """Why the agent may not complete this chat's wrap-up now, if not.

    A required classification is only enforced when the agent can give one:
    an agent whose profile offers none of the queue's options may complete
    unclassified, rather than be held in wrap-up for ever.
    """
    refusal = phase_refusal(chat, _COMPLETE)
    if refusal is not None:
        return refusal
    if not chat.queue.wrap_up.early_exit_allowed:
        return Refusal(
            ErrorCode.EARLY_EXIT_NOT_ALLOWED,
            "this queue does not let agents end wrap-up early",
        )
    rules = chat.queue.classification
    if rules.required and chat.classification is None and _can_classify(chat, profile):
        return Refusal(
            ErrorCode.CLASSIFICATION_REQUIRED, "the chat must be classified first"
        )
    return None


def expire_refusal(chat: Chat, deadline: datetime, now: datetime) -> Refusal | None:
    """Why a sweeper may not expire this chat's wrap-up at ``deadline`` now.

    The deadline named must still be the chat's and must have passed: an
    expiry computed before an extension moved the deadline does nothing.
    """
    refusal = phase_refusal(chat, _EXPIRE)
    if refusal is not None:
        return refusal
    if chat.deadline is None or chat.deadline != deadline or deadline > now:
        return Refusal(
            ErrorCode.WRAP_UP_NOT_DUE,
            f"the wrap-up is not due at {now.isoformat()} "
            f"(its deadline is {_instant(chat.deadline)})",
        )
    return None


def wrap_up_over_refusal(finished: FinishedChat) -> Refusal:
    """Why nothing more may be done to a chat the agent finished lately.

    The same answer before and after a sweeper stores an expiry, so a late
    click is never mistaken for a chat the agent never had.
    """
    when = finished.at.isoformat()
    if finished.ending is WrapUpEnding.COMPLETED_EARLY:
        reason = f"its wrap-up was completed at {when}"
    elif finished.ending is WrapUpEnding.ENDED_WITHOUT_WRAP_UP:
        reason = f"it ended at {when}, with no wrap-up"
    else:
        reason = f"its wrap-up expired at {when}"
    return Refusal(ErrorCode.WRAP_UP_OVER, reason)


def _instant(value: datetime | None) -> str:
    return "none" if value is None else value.isoformat()


def _can_classify(chat: Chat, profile: frozenset[str] | None) -> bool:
    choices = chat.queue.classification.choices
    if isinstance(choices, DropdownClassification):
        return bool(choices.offered(profile))
    return True
