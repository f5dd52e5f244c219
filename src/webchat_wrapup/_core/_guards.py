"""The guards on extend and complete: the one place that says why not.

The state machine module says which action a chat's phase allows; these
guards add what the queue's policy says. The decide step raises their
refusals, and the desk view shows the same codes on greyed-out buttons, so
the two can never disagree.
"""

from __future__ import annotations

from ._agent import Chat
from ._errors import ErrorCode
from ._machine import CHAT_TRANSITIONS, PHASE_LABELS, Action
from ._policy import DropdownClassification

Refusal = tuple[ErrorCode, str]

_EXTEND, _COMPLETE = Action.EXTEND, Action.COMPLETE


def phase_refusal(chat: Chat, action: Action) -> Refusal | None:
    """Why ``action`` is not allowed in the chat's phase, if it is not."""
    if (chat.phase, action) in CHAT_TRANSITIONS:
        return None
    label = PHASE_LABELS[chat.phase]
    return ErrorCode.NOT_ALLOWED_IN_PHASE, f"not allowed while the chat is in {label}"


def extend_refusal(chat: Chat) -> Refusal | None:
    """Why the agent may not extend this chat's wrap-up now, if not."""
    refusal = phase_refusal(chat, _EXTEND)
    if refusal is not None:
        return refusal
    if chat.deadline is None:
        return ErrorCode.NO_COUNTDOWN, "this queue's wrap-up has no countdown to extend"
    budget = chat.queue.wrap_up.max_extensions
    if chat.extensions_used >= budget:
        used = chat.extensions_used
        return ErrorCode.NO_EXTENSIONS_LEFT, (
            f"no extensions left ({used} of {budget} used)"
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
        return (
            ErrorCode.EARLY_EXIT_NOT_ALLOWED,
            "this queue does not let agents end wrap-up early",
        )
    rules = chat.queue.classification
    if rules.required and chat.classification is None and _can_classify(chat, profile):
        return ErrorCode.CLASSIFICATION_REQUIRED, "the chat must be classified first"
    return None


def _can_classify(chat: Chat, profile: frozenset[str] | None) -> bool:
    choices = chat.queue.classification.choices
    if isinstance(choices, DropdownClassification):
        return bool(choices.offered(profile))
    return True
