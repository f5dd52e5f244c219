"""What a desk shows for an agent at an instant, as plain JSON-ready data."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any, ClassVar

import attrs

from ._agent import MAX_CAPACITY, AgentState, Chat
from ._decide import effective_state
from ._errors import ErrorCode
from ._history import Classification, broken, check_classification
from ._instants import utc_instant
from ._json import checked, document_from_dict, document_to_dict
from ._machine import Phase, Status
from ._policy import (
    MAX_ADDITIONAL_TEXT_LENGTH,
    MAX_EXTENSIONS,
    MAX_FREE_TEXT_LENGTH,
    DropdownClassification,
)
from ._rules import complete_refusal, extend_refusal, flag_refusal
from ._text import check_clean, check_identifier

_ONE_SECOND = timedelta(seconds=1)


class WarningLevel(str, enum.Enum):
    """How low the countdown runs: more than half, down to a quarter, below."""

    NORMAL = "normal"
    LOW = "low"
    CRITICAL = "critical"


@attrs.frozen
class OptionView:
    """One dropdown option the agent may choose."""

    code: str
    label: str
    group: str | None


@attrs.frozen
class DropdownInput:
    """The classification input is a dropdown of these options."""

    kind: ClassVar[str] = "dropdown"
    options: tuple[OptionView, ...]


@attrs.frozen
class FreeTextInput:
    """The classification input is a text box with these limits."""

    kind: ClassVar[str] = "free_text"
    min_length: int
    max_length: int


@attrs.frozen
class ChatView:
    """One chat as the desk shows it.

    ``extend_enabled`` false means the extend button is greyed out; each
    ``*_disabled_reason`` is the error code a click on that button would be
    refused with, from the same rule the decide step asks.
    """

    chat_id: str
    customer_id: str
    queue_id: str
    phase: Phase
    deadline: datetime | None
    seconds_left: int | None
    warning_level: WarningLevel | None
    extensions_left: int
    extend_enabled: bool
    extend_disabled_reason: ErrorCode | None
    complete_enabled: bool
    complete_disabled_reason: ErrorCode | None
    flag_abusive_enabled: bool
    flag_abusive_disabled_reason: ErrorCode | None
    classification_input: DropdownInput | FreeTextInput
    classification_required: bool
    additional_text_max_length: int
    classification: Classification | None
    additional_text: str | None
    flagged_abusive: bool


@attrs.frozen
class AgentView:
    """Everything a desk shows for one agent at instant ``at``."""

    agent_id: str
    at: datetime
    status: Status
    status_label: str
    capacity: int
    chats: tuple[ChatView, ...]

    def to_dict(self) -> dict[str, Any]:
        """The view as JSON-ready data, with ``schema_version``."""
        return document_to_dict(self)

    @classmethod
    def from_dict(cls, data: object) -> AgentView:
        """The view :meth:`to_dict` wrote; a typed error if ``data`` is not one."""
        return checked(check_view, document_from_dict(cls, data))


def check_view(view: AgentView) -> None:
    """Refuse a view :func:`view_agent` could never have built."""
    check_identifier(view.agent_id, "$.agent_id")
    if view.status_label != view.status.label:
        raise broken("$.status_label", "is not the status's label")
    if not 1 <= view.capacity <= MAX_CAPACITY or len(view.chats) > MAX_CAPACITY:
        # A lowered capacity leaves the chats already held: fewer is fine.
        raise broken("$.capacity", "is out of range, or the chats too many")
    for index, chat in enumerate(view.chats):
        _check_chat_view(chat, f"$.chats[{index}]")


def _check_chat_view(chat: ChatView, path: str) -> None:
    for name in ("chat_id", "customer_id", "queue_id"):
        check_identifier(getattr(chat, name), f"{path}.{name}")
    if chat.phase is Phase.DONE:
        raise broken(f"{path}.phase", "a desk never shows a finished chat")
    counting = chat.seconds_left is not None
    if counting != (chat.warning_level is not None) or counting != (
        chat.deadline is not None
    ):
        raise broken(f"{path}.seconds_left", "disagrees with the deadline")
    if chat.seconds_left is not None and chat.seconds_left < 0:
        raise broken(f"{path}.seconds_left", "is negative")
    if not 0 <= chat.extensions_left <= MAX_EXTENSIONS:
        raise broken(f"{path}.extensions_left", "is out of range")
    for button in ("extend", "complete", "flag_abusive"):
        enabled = getattr(chat, f"{button}_enabled")
        if enabled != (getattr(chat, f"{button}_disabled_reason") is None):
            raise broken(f"{path}.{button}_enabled", "disagrees with its reason")
    if not 0 <= chat.additional_text_max_length <= MAX_ADDITIONAL_TEXT_LENGTH:
        raise broken(f"{path}.additional_text_max_length", "is out of range")
    _check_input(chat.classification_input, f"{path}.classification_input")
    check_classification(chat.classification, f"{path}.classification")
    if chat.additional_text is not None:
        check_clean(chat.additional_text, f"{path}.additional_text", paragraphs=True)


def _check_input(box: DropdownInput | FreeTextInput, path: str) -> None:
    if isinstance(box, DropdownInput):
        for index, option in enumerate(box.options):
            check_identifier(option.code, f"{path}.options[{index}].code")
            check_clean(option.label, f"{path}.options[{index}].label")
    elif not 1 <= box.min_length <= box.max_length <= MAX_FREE_TEXT_LENGTH:
        raise broken(path, "has lengths out of range")


def view_agent(state: AgentState, at: datetime) -> AgentView:
    """What the agent's desk shows at ``at`` (due expiries already applied)."""
    at = utc_instant(at)
    state = effective_state(state, at)
    chats = tuple(_view_chat(state, chat, at) for chat in state.chats)
    status = state.status
    return AgentView(state.agent_id, at, status, status.label, state.capacity, chats)


def _view_chat(state: AgentState, chat: Chat, at: datetime) -> ChatView:
    seconds_left, level = _countdown(chat, at)
    extend = extend_refusal(chat)
    complete = complete_refusal(chat, state.classification_profile)
    flag = flag_refusal(chat)
    rules = chat.queue.classification
    return ChatView(
        chat_id=chat.chat_id,
        customer_id=chat.customer_id,
        queue_id=chat.queue.queue_id,
        phase=chat.phase,
        deadline=chat.deadline,
        seconds_left=seconds_left,
        warning_level=level,
        extensions_left=chat.extensions_left,
        extend_enabled=extend is None,
        extend_disabled_reason=None if extend is None else extend.code,
        complete_enabled=complete is None,
        complete_disabled_reason=None if complete is None else complete.code,
        flag_abusive_enabled=flag is None,
        flag_abusive_disabled_reason=None if flag is None else flag.code,
        classification_input=_input(state, chat),
        classification_required=rules.required,
        additional_text_max_length=rules.additional_text_max_length,
        classification=chat.classification,
        additional_text=chat.additional_text,
        flagged_abusive=chat.abuse is not None,
    )


def _countdown(chat: Chat, at: datetime) -> tuple[int | None, WarningLevel | None]:
    if chat.deadline is None or chat.ended_at is None:
        return None, None
    remaining = max(chat.deadline - at, timedelta(0))
    seconds_left = -(-remaining // _ONE_SECOND)
    share = remaining / (chat.deadline - chat.ended_at)
    if share > 0.5:
        return seconds_left, WarningLevel.NORMAL
    if share > 0.25:
        return seconds_left, WarningLevel.LOW
    return seconds_left, WarningLevel.CRITICAL


def _input(state: AgentState, chat: Chat) -> DropdownInput | FreeTextInput:
    choices = chat.queue.classification.choices
    if isinstance(choices, DropdownClassification):
        offered = choices.offered(state.classification_profile)
        return DropdownInput(
            tuple(OptionView(o.code, o.label, o.group) for o in offered)
        )
    return FreeTextInput(choices.min_length, choices.max_length)
