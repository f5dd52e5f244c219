"""The error hierarchy: one base class, stable machine-readable codes.

Every error names what was refused and why. A refused command changes
nothing: the core only ever returns new values, so raising leaves the
caller's state exactly as it was.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(str, enum.Enum):
    """Stable machine-readable codes; the values never change once released."""

    INVALID_POLICY = "invalid_policy"
    INVALID_INSTANT = "invalid_instant"
    INVALID_IDENTIFIER = "invalid_identifier"
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
    NOTIFICATION_FAILED = "notification_failed"


class WrapUpError(Exception):
    """Base class of every error this library raises on purpose."""

    code: ErrorCode

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON-ready data: ``code``, ``message`` and details."""
        return {"code": self.code.value, "message": self.message, **self.details}


class InvalidPolicy(WrapUpError, ValueError):
    """A policy setting is out of range or contradicts another setting."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(
            ErrorCode.INVALID_POLICY,
            f"invalid policy setting {setting!r}: {message}",
            setting=setting,
        )
        self.setting = setting


class InvalidInput(WrapUpError, ValueError):
    """A command, instant or document carries a value that can never be valid."""


class ChatNotHeld(WrapUpError, LookupError):
    """The acting agent does not hold the chat the command names."""

    def __init__(self, command: str, agent_id: str, chat_id: str) -> None:
        super().__init__(
            ErrorCode.CHAT_NOT_HELD,
            f"{command} refused: agent {agent_id!r} does not hold chat {chat_id!r}",
            command=command,
            agent_id=agent_id,
            chat_id=chat_id,
        )


class CommandRefused(WrapUpError, RuntimeError):
    """The command is well formed but not allowed in the current state."""

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
            f"{command} refused for chat {chat_id!r} of agent {agent_id!r}: {reason}",
            command=command,
            agent_id=agent_id,
            chat_id=chat_id,
        )


class UnknownAgent(WrapUpError, LookupError):
    """No agent with this id has been added to the store."""

    def __init__(self, agent_id: str) -> None:
        super().__init__(
            ErrorCode.UNKNOWN_AGENT,
            f"agent {agent_id!r} is unknown: add the agent first",
            agent_id=agent_id,
        )


class AgentExists(WrapUpError, ValueError):
    """An agent with this id has already been added."""

    def __init__(self, agent_id: str) -> None:
        super().__init__(
            ErrorCode.AGENT_EXISTS,
            f"agent {agent_id!r} already exists",
            agent_id=agent_id,
        )


class VersionConflict(WrapUpError, RuntimeError):
    """The agent changed since it was loaded; nothing was written."""

    def __init__(self, agent_id: str, expected: int, attempts: int = 1) -> None:
        tried = "" if attempts == 1 else f" (after {attempts} attempts)"
        super().__init__(
            ErrorCode.VERSION_CONFLICT,
            f"agent {agent_id!r} is no longer at version {expected}{tried}; "
            "nothing was written",
            agent_id=agent_id,
            expected_version=expected,
            attempts=attempts,
        )


class CommandIdReused(WrapUpError, ValueError):
    """A command id already applied to a different command."""

    def __init__(self, command_id: str) -> None:
        super().__init__(
            ErrorCode.COMMAND_ID_REUSED,
            f"command id {command_id!r} was already used for a different command",
            command_id=command_id,
        )


class StoreError(WrapUpError, OSError):
    """The store cannot be used: locked, read-only, corrupt or too new."""


class NotificationFailed(WrapUpError, RuntimeError):
    """The command was saved, but a subscriber raised while hearing its events."""
