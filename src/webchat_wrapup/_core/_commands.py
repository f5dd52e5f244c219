"""Commands: what an agent, a customer or a sweeper asks of the core.

Every command names the acting agent; the core refuses to act on a chat
that agent does not hold. Commands are plain values, built without checks;
:func:`check_command` refuses any field no caller could mean before
anything is decided.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, TypeAlias

import attrs

from ._agent import MAX_LEGS
from ._errors import ErrorCode, InvalidInput, invalid_argument, shown
from ._history import EndedBy
from ._instants import utc_instant
from ._json import checked, tagged_from_dict, tagged_to_dict
from ._machine import Presence
from ._policy import QueuePolicy
from ._text import USABLE, check_clean, check_identifier, check_optional_text


@attrs.frozen
class AssignChat:
    """A chat from ``queue`` is given to the agent."""

    name: ClassVar[str] = "assign_chat"
    agent_id: str
    chat_id: str
    customer_id: str
    queue: QueuePolicy
    leg: int | None = None
    """The part of the chat this assign starts: ``None`` for the first, the
    ``next_leg`` of a ``chat_transferred`` event for a chat a queue got back."""


@attrs.frozen
class EndChat:
    """The customer or the agent ends the chat; wrap-up starts."""

    name: ClassVar[str] = "end_chat"
    agent_id: str
    chat_id: str
    ended_by: EndedBy = EndedBy.CUSTOMER


@attrs.frozen
class ClassifyChat:
    """The agent classifies the chat: a dropdown ``code`` or free ``text``.

    The last classification given before the wrap-up ends stands.
    """

    name: ClassVar[str] = "classify_chat"
    agent_id: str
    chat_id: str
    code: str | None = None
    text: str | None = None
    additional_text: str | None = None


@attrs.frozen
class FlagAbusive:
    """The agent flags the chat as abusive, with an optional reason."""

    name: ClassVar[str] = "flag_abusive"
    agent_id: str
    chat_id: str
    reason: str | None = None


@attrs.frozen
class ExtendWrapUp:
    """The agent uses one extension: the deadline moves by the extension time."""

    name: ClassVar[str] = "extend_wrap_up"
    agent_id: str
    chat_id: str


@attrs.frozen
class CompleteWrapUp:
    """The agent ends the wrap-up early."""

    name: ClassVar[str] = "complete_wrap_up"
    agent_id: str
    chat_id: str


@attrs.frozen
class ExpireWrapUp:
    """A sweeper makes an expiry permanent.

    ``deadline`` is the deadline the sweeper saw. The command expires only
    wrap-ups that are due at the instant it is decided, so one computed for
    a deadline that an extension has since moved does nothing.
    """

    name: ClassVar[str] = "expire_wrap_up"
    agent_id: str
    chat_id: str
    deadline: datetime


@attrs.frozen
class TransferChat:
    """The agent transfers the chat to another agent or back to a queue.

    This agent's part of the chat (its leg) ends: wrap-up starts for it
    under this agent's queue policy. Name exactly one target.
    """

    name: ClassVar[str] = "transfer_chat"
    agent_id: str
    chat_id: str
    to_agent_id: str | None = None
    to_queue_id: str | None = None


@attrs.frozen
class ParkChat:
    """The agent sets an active chat aside; it stays held."""

    name: ClassVar[str] = "park_chat"
    agent_id: str
    chat_id: str


@attrs.frozen
class ActivateChat:
    """The agent takes a parked chat up again."""

    name: ClassVar[str] = "activate_chat"
    agent_id: str
    chat_id: str


@attrs.frozen
class PauseWrapUp:
    """The agent stops the wrap-up countdown; the time left is kept."""

    name: ClassVar[str] = "pause_wrap_up"
    agent_id: str
    chat_id: str


@attrs.frozen
class ResumeWrapUp:
    """The countdown runs again from where it stopped (also: activate a chat
    that ended while parked, whose wrap-up starts paused)."""

    name: ClassVar[str] = "resume_wrap_up"
    agent_id: str
    chat_id: str


@attrs.frozen
class ChoosePresence:
    """The agent chooses a presence: now when holding no chat, otherwise as
    the next status, which takes effect when the last wrap-up ends.

    ``reason`` names a not-ready reason (e.g. ``"Lunch"``) and goes with
    :attr:`Presence.NOT_READY` only.
    """

    name: ClassVar[str] = "choose_presence"
    agent_id: str
    presence: Presence
    reason: str | None = None


@attrs.frozen
class CancelNextPresence:
    """The agent cancels a pending next status."""

    name: ClassVar[str] = "cancel_next_presence"
    agent_id: str


ChatCommand: TypeAlias = (
    AssignChat
    | TransferChat
    | EndChat
    | ClassifyChat
    | FlagAbusive
    | ExtendWrapUp
    | CompleteWrapUp
    | ExpireWrapUp
    | ParkChat
    | ActivateChat
    | PauseWrapUp
    | ResumeWrapUp
)
"""A command that names a chat (``chat_id``)."""

Command: TypeAlias = (
    AssignChat
    | TransferChat
    | EndChat
    | ClassifyChat
    | FlagAbusive
    | ExtendWrapUp
    | CompleteWrapUp
    | ExpireWrapUp
    | ParkChat
    | ActivateChat
    | PauseWrapUp
    | ResumeWrapUp
    | ChoosePresence
    | CancelNextPresence
)
"""Any command the core decides."""

CHAT_COMMANDS = (
    AssignChat,
    TransferChat,
    EndChat,
    ClassifyChat,
    FlagAbusive,
    ExtendWrapUp,
    CompleteWrapUp,
    ExpireWrapUp,
    ParkChat,
    ActivateChat,
    PauseWrapUp,
    ResumeWrapUp,
)
"""The commands that name a chat (``chat_id``); the others act on the agent."""

COMMAND_TYPES: tuple[type[Command], ...] = (
    AssignChat,
    TransferChat,
    EndChat,
    ClassifyChat,
    FlagAbusive,
    ExtendWrapUp,
    CompleteWrapUp,
    ExpireWrapUp,
    ParkChat,
    ActivateChat,
    PauseWrapUp,
    ResumeWrapUp,
    ChoosePresence,
    CancelNextPresence,
)

_COMMANDS_BY_NAME: dict[str, type[Command]] = {cls.name: cls for cls in COMMAND_TYPES}


def command_to_dict(command: Command) -> dict[str, Any]:
    """``command`` as JSON-ready data with ``type`` and ``schema_version``."""
    return tagged_to_dict(command, command.name)


def command_from_dict(data: object) -> Command:
    """The command that :func:`command_to_dict` turned into ``data``."""
    command: Command = tagged_from_dict(data, _COMMANDS_BY_NAME, "command")
    return checked(check_command, command)


def check_command(command: object) -> None:
    """Refuse ``command`` if it is not a command or any field has a value
    no caller could mean: identifiers, enum members, types, instants."""
    check = COMMAND_CHECKS.get(type(command))
    if check is None:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"{shown(command)} is not a command",
            field="command",
        )
    check(command)


def _check_chat_command(command: Any) -> None:
    agent_id, chat_id = command.agent_id, command.chat_id
    strings = type(agent_id) is str and type(chat_id) is str
    if strings and agent_id in USABLE and chat_id in USABLE:
        return  # both found usable before: the common case, with no call
    check_identifier(agent_id, "agent_id")
    check_identifier(chat_id, "chat_id")


def _check_assign(command: AssignChat) -> None:
    _check_chat_command(command)
    check_identifier(command.customer_id, "customer_id")
    if not isinstance(command.queue, QueuePolicy):
        raise invalid_argument("queue", "a QueuePolicy", command.queue)
    leg = command.leg
    if leg is not None and (isinstance(leg, bool) or not isinstance(leg, int)):
        raise invalid_argument("leg", "a whole number", leg)
    if leg is not None and not 1 <= leg <= MAX_LEGS:
        raise invalid_argument("leg", f"1 to {MAX_LEGS}", leg)


def _check_transfer(command: TransferChat) -> None:
    _check_chat_command(command)
    targets = [t for t in (command.to_agent_id, command.to_queue_id) if t is not None]
    if len(targets) != 1:
        raise invalid_argument(
            "to_agent_id", "exactly one of to_agent_id and to_queue_id", targets
        )
    check_identifier(targets[0], "to_agent_id or to_queue_id")
    if command.to_agent_id == command.agent_id:
        raise invalid_argument("to_agent_id", "another agent", command.to_agent_id)


def _check_end(command: EndChat) -> None:
    _check_chat_command(command)
    if type(command.ended_by) is not EndedBy or command.ended_by is EndedBy.TRANSFER:
        raise invalid_argument(
            "ended_by", "EndedBy.CUSTOMER or EndedBy.AGENT", command.ended_by
        )


def _check_classify(command: ClassifyChat) -> None:
    _check_chat_command(command)
    check_optional_text(command.code, "code")
    check_optional_text(command.text, "text")
    check_optional_text(command.additional_text, "additional_text")


def _check_flag(command: FlagAbusive) -> None:
    _check_chat_command(command)
    check_optional_text(command.reason, "reason")


def _check_expire(command: ExpireWrapUp) -> None:
    _check_chat_command(command)
    utc_instant(command.deadline)


def _check_presence(command: ChoosePresence) -> None:
    check_identifier(command.agent_id, "agent_id")
    if type(command.presence) is not Presence:
        raise invalid_argument("presence", "a Presence", command.presence)
    check_optional_text(command.reason, "reason")
    if (command.reason is not None) != (command.presence is Presence.NOT_READY):
        raise invalid_argument(
            "reason", "a reason with NOT_READY, and only then", command.reason
        )
    if command.reason is not None:
        check_clean(command.reason, "reason")
        if not 1 <= len(command.reason) <= MAX_REASON_LENGTH:
            raise invalid_argument(
                "reason", f"1 to {MAX_REASON_LENGTH} characters", command.reason
            )


def _check_agent_command(command: Any) -> None:
    check_identifier(command.agent_id, "agent_id")


COMMAND_CHECKS: dict[type[Any], Callable[[Any], None]] = {
    AssignChat: _check_assign,
    TransferChat: _check_transfer,
    EndChat: _check_end,
    ClassifyChat: _check_classify,
    FlagAbusive: _check_flag,
    ExtendWrapUp: _check_chat_command,
    CompleteWrapUp: _check_chat_command,
    ExpireWrapUp: _check_expire,
    ParkChat: _check_chat_command,
    ActivateChat: _check_chat_command,
    PauseWrapUp: _check_chat_command,
    ResumeWrapUp: _check_chat_command,
    ChoosePresence: _check_presence,
    CancelNextPresence: _check_agent_command,
}

MAX_REASON_LENGTH = 60
"""The longest not-ready reason (it is shown as the agent's status)."""
