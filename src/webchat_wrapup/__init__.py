"""webchat-wrapup: what happens when a webchat ends.

The agent's status (*Available*, *Handling a chat*, *Wrap-up*), the wrap-up
countdown with its extension budget, classification of the chat, the abuse
flag and the customer's contact history, decided by a pure core.
"""

from ._core._agent import MAX_CAPACITY, AgentState, Chat
from ._core._commands import (
    AssignChat,
    ClassifyChat,
    Command,
    CompleteWrapUp,
    EndChat,
    ExpireWrapUp,
    ExtendWrapUp,
    FlagAbusive,
    command_from_dict,
    command_to_dict,
)
from ._core._decide import Decision, decide, effective_state, expire_due
from ._core._errors import (
    AgentExists,
    ChatNotHeld,
    CommandIdReused,
    CommandRefused,
    ErrorCode,
    InvalidInput,
    InvalidPolicy,
    NotificationFailed,
    StoreError,
    UnknownAgent,
    VersionConflict,
    WrapUpError,
)
from ._core._events import (
    ChatAssigned,
    ChatClassified,
    ChatEnded,
    ChatFlaggedAbusive,
    Event,
    StatusChanged,
    WrapUpCompleted,
    WrapUpExtended,
    WrapUpStarted,
    event_from_dict,
    event_to_dict,
)
from ._core._history import (
    ABUSE_NOTE,
    AbuseFlag,
    Classification,
    ContactHistoryEntry,
    EndedBy,
    WrapUpEnding,
)
from ._core._instants import MAX_INSTANT, MIN_INSTANT, utc_instant
from ._core._json import SCHEMA_VERSION
from ._core._machine import Phase, Status
from ._core._policy import (
    ClassificationOption,
    ClassificationPolicy,
    DropdownClassification,
    ExpiryRule,
    FreeTextClassification,
    QueuePolicy,
    WrapUpPolicy,
)
from ._core._views import (
    AgentView,
    ChatView,
    DropdownInput,
    FreeTextInput,
    OptionView,
    WarningLevel,
    view_agent,
)
from .clocks import ManualClock, SystemClock
from .service import WrapUpService
from .stores import MemoryStore, SQLiteStore

__all__ = [
    "ManualClock",
    "MemoryStore",
    "SQLiteStore",
    "SystemClock",
    "WrapUpService",
    "VersionConflict",
    "UnknownAgent",
    "StoreError",
    "NotificationFailed",
    "CommandIdReused",
    "AgentExists",
    "ABUSE_NOTE",
    "MAX_CAPACITY",
    "MAX_INSTANT",
    "MIN_INSTANT",
    "SCHEMA_VERSION",
    "AbuseFlag",
    "AgentState",
    "AgentView",
    "AssignChat",
    "Chat",
    "ChatAssigned",
    "ChatClassified",
    "ChatEnded",
    "ChatFlaggedAbusive",
    "ChatNotHeld",
    "ChatView",
    "Classification",
    "ClassificationOption",
    "ClassificationPolicy",
    "ClassifyChat",
    "Command",
    "CommandRefused",
    "CompleteWrapUp",
    "ContactHistoryEntry",
    "Decision",
    "DropdownClassification",
    "DropdownInput",
    "EndChat",
    "EndedBy",
    "ErrorCode",
    "Event",
    "ExpireWrapUp",
    "ExpiryRule",
    "ExtendWrapUp",
    "FlagAbusive",
    "FreeTextClassification",
    "FreeTextInput",
    "InvalidInput",
    "InvalidPolicy",
    "OptionView",
    "Phase",
    "QueuePolicy",
    "Status",
    "StatusChanged",
    "WarningLevel",
    "WrapUpCompleted",
    "WrapUpEnding",
    "WrapUpError",
    "WrapUpExtended",
    "WrapUpPolicy",
    "WrapUpStarted",
    "command_from_dict",
    "command_to_dict",
    "decide",
    "effective_state",
    "event_from_dict",
    "event_to_dict",
    "expire_due",
    "utc_instant",
    "view_agent",
]
