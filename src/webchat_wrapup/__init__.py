"""webchat-wrapup: what happens when a webchat ends.

The agent's status (*Available*, *Handling a chat*, *Wrap-up*), the wrap-up
countdown with its extension budget, classification of the chat, the abuse
flag and the customer's contact history, decided by a pure core.
"""

from ._agent import MAX_CAPACITY, AgentState, Chat, utc_instant
from ._commands import (
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
from ._decide import Decision, decide, effective_state, expire_due
from ._errors import (
    ChatNotHeld,
    CommandRefused,
    ErrorCode,
    InvalidInput,
    InvalidPolicy,
    WrapUpError,
)
from ._events import (
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
from ._history import (
    ABUSE_NOTE,
    AbuseFlag,
    Classification,
    ContactHistoryEntry,
    EndedBy,
    WrapUpEnding,
)
from ._json import SCHEMA_VERSION
from ._machine import AgentStatusChart, ChatLifecycle, Phase, Status
from ._policy import (
    ClassificationOption,
    ClassificationPolicy,
    DropdownClassification,
    ExpiryRule,
    FreeTextClassification,
    QueuePolicy,
    WrapUpPolicy,
)
from ._views import (
    AgentView,
    ChatView,
    DropdownInput,
    FreeTextInput,
    OptionView,
    WarningLevel,
    view_agent,
)

__all__ = [
    "ABUSE_NOTE",
    "MAX_CAPACITY",
    "SCHEMA_VERSION",
    "AbuseFlag",
    "AgentState",
    "AgentStatusChart",
    "AgentView",
    "AssignChat",
    "Chat",
    "ChatAssigned",
    "ChatClassified",
    "ChatEnded",
    "ChatFlaggedAbusive",
    "ChatLifecycle",
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
