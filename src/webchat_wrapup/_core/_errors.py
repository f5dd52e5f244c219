"""The error hierarchy: one base class, stable machine-readable codes.

Every error names what was refused and why. A refused command changes
nothing: the core only ever returns new values, so raising leaves the
caller's state exactly as it was. Each class owns a fixed set of codes,
says whether trying again may help (``retryable``) and which HTTP status a
web back end answers with (``http_status``). What a caller may need to act
on travels as attributes, never to be parsed back out of a message.
"""

from __future__ import annotations

import enum
import reprlib
from typing import Any, ClassVar

MAX_MESSAGE_LENGTH = 400
"""Messages and text details are cut to this length, whatever the input."""


class ErrorCode(str, enum.Enum):
    """Stable machine-readable codes; the values never change once released."""

    INVALID_POLICY = "invalid_policy"
    INVALID_INSTANT = "invalid_instant"
    INVALID_IDENTIFIER = "invalid_identifier"
    INVALID_ARGUMENT = "invalid_argument"
    INVALID_JSON = "invalid_json"
    UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
    CLASSIFICATION_MODE_MISMATCH = "classification_mode_mismatch"
    UNKNOWN_CLASSIFICATION = "unknown_classification"
    RETIRED_CLASSIFICATION = "retired_classification"
    CLASSIFICATION_NOT_IN_PROFILE = "classification_not_in_profile"
    FREE_TEXT_TOO_SHORT = "free_text_too_short"
    FREE_TEXT_TOO_LONG = "free_text_too_long"
    ADDITIONAL_TEXT_TOO_LONG = "additional_text_too_long"
    CONTROL_CHARACTERS = "control_characters"
    ABUSE_REASON_TOO_LONG = "abuse_reason_too_long"
    CHAT_NOT_HELD = "chat_not_held"
    CHAT_ALREADY_HELD = "chat_already_held"
    CAPACITY_REACHED = "capacity_reached"
    NOT_ALLOWED_IN_PHASE = "not_allowed_in_phase"
    NO_COUNTDOWN = "no_countdown"
    NO_EXTENSIONS_LEFT = "no_extensions_left"
    EARLY_EXIT_NOT_ALLOWED = "early_exit_not_allowed"
    CLASSIFICATION_REQUIRED = "classification_required"
    ALREADY_FLAGGED_ABUSIVE = "already_flagged_abusive"
    WRAP_UP_NOT_DUE = "wrap_up_not_due"
    CHAT_HELD_BY_ANOTHER_AGENT = "chat_held_by_another_agent"
    WRAP_UP_OVER = "wrap_up_over"
    PAUSE_NOT_ALLOWED = "pause_not_allowed"
    AGENT_NOT_AVAILABLE = "agent_not_available"
    NEXT_STATUS_PENDING = "next_status_pending"
    CUSTOMER_CHAT_HELD = "customer_chat_held"
    AGENT_HOLDS_CHATS = "agent_holds_chats"
    INVALID_PAGE = "invalid_page"
    INVALID_LIMIT = "invalid_limit"
    UNKNOWN_AGENT = "unknown_agent"
    AGENT_EXISTS = "agent_exists"
    VERSION_CONFLICT = "version_conflict"
    COMMAND_ID_REUSED = "command_id_reused"
    STORE_LOCKED = "store_locked"
    STORE_READ_ONLY = "store_read_only"
    STORE_CORRUPT = "store_corrupt"
    STORE_TOO_NEW = "store_too_new"
    STORE_UNAVAILABLE = "store_unavailable"
    STORE_CLOSED = "store_closed"
    STORE_PATH_REFUSED = "store_path_refused"
    NOTIFICATION_FAILED = "notification_failed"


class WrapUpError(Exception):
    """Base class of every error this library raises on purpose."""

    codes: ClassVar[frozenset[ErrorCode]] = frozenset()
    http_status: ClassVar[int] = 500
    code: ErrorCode

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        if code not in type(self).codes:
            raise TypeError(f"{type(self).__name__} does not own the code {code!r}")
        message = _short(message)
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = {
            key: _short(value) if isinstance(value, str) else value
            for key, value in details.items()
        }

    @property
    def retryable(self) -> bool:
        """True when the same call may succeed if made again a little later."""
        return False

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON-ready data: ``code``, ``message``, ``retryable``
        and details."""
        return {
            "code": self.code.value,
            "message": self.message,
            "retryable": self.retryable,
            **self.details,
        }


def _short(text: str) -> str:
    if len(text) <= MAX_MESSAGE_LENGTH:
        return text
    return text[: MAX_MESSAGE_LENGTH - 1] + "\u2026"


_SHOWN = reprlib.Repr()
_SHOWN.maxstring = 210  # an identifier (200 characters) is shown whole
_SHOWN.maxother = 80
_SHOWN.maxlevel = 2


def shown(value: object) -> str:
    """``value`` as a short repr for a message, whatever the caller sent.

    Plain ``repr`` can be huge (a megabyte of text), recurse without end (a
    list nested thousands deep) or raise (an int past 4,300 digits, an
    object whose ``__repr__`` fails); a message must never do any of that.
    """
    if type(value) is int and value.bit_length() > 64:
        return f"a {value.bit_length()}-bit whole number"
    try:
        return _SHOWN.repr(value)
    except Exception:  # a hostile __repr__: name the type instead
        return f"a {type(value).__name__}"


class InvalidPolicy(WrapUpError, ValueError):
    """A policy setting is out of range or contradicts another setting."""

    codes = frozenset({ErrorCode.INVALID_POLICY})
    http_status = 422

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(
            ErrorCode.INVALID_POLICY,
            f"invalid policy setting {shown(setting)}: {reason}",
            setting=setting,
            reason=reason,
        )
        self.setting = setting
        self.reason = self.details["reason"]


class InvalidInput(WrapUpError, ValueError):
    """A command, instant or document carries a value that can never be valid."""

    codes = frozenset(
        {
            ErrorCode.INVALID_INSTANT,
            ErrorCode.INVALID_IDENTIFIER,
            ErrorCode.INVALID_ARGUMENT,
            ErrorCode.INVALID_JSON,
            ErrorCode.UNSUPPORTED_SCHEMA_VERSION,
            ErrorCode.CLASSIFICATION_MODE_MISMATCH,
            ErrorCode.UNKNOWN_CLASSIFICATION,
            ErrorCode.RETIRED_CLASSIFICATION,
            ErrorCode.CLASSIFICATION_NOT_IN_PROFILE,
            ErrorCode.FREE_TEXT_TOO_SHORT,
            ErrorCode.FREE_TEXT_TOO_LONG,
            ErrorCode.ADDITIONAL_TEXT_TOO_LONG,
            ErrorCode.CONTROL_CHARACTERS,
            ErrorCode.ABUSE_REASON_TOO_LONG,
            ErrorCode.INVALID_PAGE,
            ErrorCode.INVALID_LIMIT,
        }
    )
    http_status = 422


def invalid_argument(field: str, wanted: str, value: object) -> InvalidInput:
    """The ``invalid_argument`` error for ``field``: what it must be, and what came."""
    return InvalidInput(
        ErrorCode.INVALID_ARGUMENT,
        f"{field} must be {wanted}, not {shown(value)}",
        field=field,
    )


class ChatNotHeld(WrapUpError, LookupError):
    """The acting agent does not hold the chat the command names."""

    codes = frozenset({ErrorCode.CHAT_NOT_HELD})
    http_status = 404

    def __init__(self, command: str, agent_id: str, chat_id: str) -> None:
        super().__init__(
            ErrorCode.CHAT_NOT_HELD,
            f"{command} refused: agent {shown(agent_id)} does not hold chat "
            f"{shown(chat_id)}",
            command=command,
            agent_id=agent_id,
            chat_id=chat_id,
        )


class CommandRefused(WrapUpError, RuntimeError):
    """The command is well formed but not allowed in the current state."""

    codes = frozenset(
        {
            ErrorCode.CHAT_ALREADY_HELD,
            ErrorCode.CAPACITY_REACHED,
            ErrorCode.NOT_ALLOWED_IN_PHASE,
            ErrorCode.NO_COUNTDOWN,
            ErrorCode.NO_EXTENSIONS_LEFT,
            ErrorCode.EARLY_EXIT_NOT_ALLOWED,
            ErrorCode.CLASSIFICATION_REQUIRED,
            ErrorCode.ALREADY_FLAGGED_ABUSIVE,
            ErrorCode.WRAP_UP_NOT_DUE,
            ErrorCode.CHAT_HELD_BY_ANOTHER_AGENT,
            ErrorCode.WRAP_UP_OVER,
            ErrorCode.PAUSE_NOT_ALLOWED,
            ErrorCode.AGENT_NOT_AVAILABLE,
            ErrorCode.NEXT_STATUS_PENDING,
            ErrorCode.CUSTOMER_CHAT_HELD,
            ErrorCode.AGENT_HOLDS_CHATS,
        }
    )
    http_status = 409

    def __init__(
        self,
        code: ErrorCode,
        command: str,
        agent_id: str,
        chat_id: str,
        reason: str,
    ) -> None:
        super().__init__(
            code,
            f"{command} refused for chat {shown(chat_id)} of agent {shown(agent_id)}: "
            f"{reason}",
            command=command,
            agent_id=agent_id,
            chat_id=chat_id,
            reason=reason,
        )
        self.reason = self.details["reason"]


class UnknownAgent(WrapUpError, LookupError):
    """No agent with this id has been added to the store."""

    codes = frozenset({ErrorCode.UNKNOWN_AGENT})
    http_status = 404

    def __init__(self, agent_id: str) -> None:
        super().__init__(
            ErrorCode.UNKNOWN_AGENT,
            f"agent {shown(agent_id)} is unknown: add the agent first",
            agent_id=agent_id,
        )


class AgentExists(WrapUpError, ValueError):
    """An agent with this id has already been added."""

    codes = frozenset({ErrorCode.AGENT_EXISTS})
    http_status = 409

    def __init__(self, agent_id: str) -> None:
        super().__init__(
            ErrorCode.AGENT_EXISTS,
            f"agent {shown(agent_id)} already exists",
            agent_id=agent_id,
        )


class VersionConflict(WrapUpError, RuntimeError):
    """The agent changed since it was loaded; nothing was written."""

    codes = frozenset({ErrorCode.VERSION_CONFLICT})
    http_status = 503

    def __init__(self, agent_id: str, expected: int, attempts: int = 1) -> None:
        tried = "" if attempts == 1 else f" (after {attempts} attempts)"
        super().__init__(
            ErrorCode.VERSION_CONFLICT,
            f"agent {shown(agent_id)} is no longer at version {expected}{tried}; "
            "nothing was written",
            agent_id=agent_id,
        )
        self.agent_id = agent_id
        self.expected_version = expected
        self.attempts = attempts

    @property
    def retryable(self) -> bool:
        """Always: the agent was busy, and nothing was written."""
        return True


class CommandIdReused(WrapUpError, ValueError):
    """A command id already applied to a different command."""

    codes = frozenset({ErrorCode.COMMAND_ID_REUSED})
    http_status = 422

    def __init__(self, command_id: str) -> None:
        super().__init__(
            ErrorCode.COMMAND_ID_REUSED,
            f"command id {shown(command_id)} was already used for a different command",
            command_id=command_id,
        )


_RETRYABLE_STORE_CODES = frozenset(
    {ErrorCode.STORE_LOCKED, ErrorCode.STORE_UNAVAILABLE}
)


class StoreError(WrapUpError, OSError):
    """The store cannot be used: locked, unavailable, read-only, corrupt,
    too new, closed, or its path refused."""

    codes = frozenset(
        {
            ErrorCode.STORE_LOCKED,
            ErrorCode.STORE_READ_ONLY,
            ErrorCode.STORE_CORRUPT,
            ErrorCode.STORE_TOO_NEW,
            ErrorCode.STORE_UNAVAILABLE,
            ErrorCode.STORE_CLOSED,
            ErrorCode.STORE_PATH_REFUSED,
        }
    )

    @property
    def retryable(self) -> bool:
        """True for a locked or unreachable store; the rest need an operator."""
        return self.code in _RETRYABLE_STORE_CODES

    @property
    def http_status(self) -> int:  # type: ignore[override]
        """503 when worth retrying, 500 otherwise."""
        return 503 if self.retryable else 500


class NotificationFailed(WrapUpError, RuntimeError):
    """The command was saved, but a subscriber raised while hearing its events.

    ``committed`` is always true: do not retry the command; report success
    and look into the subscriber. ``outcome`` is what the command did.
    """

    codes = frozenset({ErrorCode.NOTIFICATION_FAILED})
    http_status = 200
    committed: ClassVar[bool] = True

    def __init__(self, message: str, outcome: Any, failures: int) -> None:
        super().__init__(
            ErrorCode.NOTIFICATION_FAILED,
            message,
            agent_id=outcome.agent_id,
            version=outcome.version,
        )
        self.outcome = outcome
        self.failures = failures


ERROR_CLASSES: dict[ErrorCode, type[WrapUpError]] = {
    code: cls
    for cls in (
        InvalidPolicy,
        InvalidInput,
        ChatNotHeld,
        CommandRefused,
        UnknownAgent,
        AgentExists,
        VersionConflict,
        CommandIdReused,
        StoreError,
        NotificationFailed,
    )
    for code in cls.codes
}
"""The one class that raises each code."""
