"""What lands in the customer's contact history when a chat's wrap-up ends."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import attrs

from ._json import document_from_dict, document_to_dict

ABUSE_NOTE = "This chat was marked as abusive"
"""The note the abuse flag writes to the contact history, word for word."""


class WrapUpEnding(str, enum.Enum):
    """How a chat's wrap-up came to an end."""

    COMPLETED_EARLY = "completed_early"
    EXPIRED = "expired"
    EXPIRED_WITH_DEFAULT = "expired_with_default"
    ENDED_WITHOUT_WRAP_UP = "ended_without_wrap_up"


class EndedBy(str, enum.Enum):
    """Who ended the chat."""

    CUSTOMER = "customer"
    AGENT = "agent"


@attrs.frozen
class Classification:
    """The topic of a chat: a dropdown option (code and label) or free text."""

    label: str
    code: str | None = None
    group: str | None = None

    @property
    def is_free_text(self) -> bool:
        """True when the agent typed the classification rather than picked it."""
        return self.code is None


@attrs.frozen
class AbuseFlag:
    """A chat flagged as abusive: by whom, when, and the optional reason."""

    flagged_by: str
    flagged_at: datetime
    reason: str | None = None
    note: str = ABUSE_NOTE


@attrs.frozen
class ContactHistoryEntry:
    """One chat in the customer's contact history; never changes once written."""

    customer_id: str
    chat_id: str
    agent_id: str
    queue_id: str
    classification: Classification | None
    additional_text: str | None
    chat_started_at: datetime
    chat_ended_at: datetime
    ended_by: EndedBy
    wrap_up_started_at: datetime
    wrap_up_ended_at: datetime
    ending: WrapUpEnding
    extensions_used: int
    abuse: AbuseFlag | None

    @property
    def is_timeout_default(self) -> bool:
        """True when the classification was applied by expiry, not by the agent.

        Reports keep these apart so they never pollute classification trends.
        """
        return self.ending is WrapUpEnding.EXPIRED_WITH_DEFAULT

    @property
    def notes(self) -> tuple[str, ...]:
        """The notes shown with the entry (the abuse note, when flagged)."""
        return () if self.abuse is None else (self.abuse.note,)

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready data, with ``schema_version``."""
        return document_to_dict(self)

    @classmethod
    def from_dict(cls, data: object) -> ContactHistoryEntry:
        """The value :meth:`to_dict` wrote; a typed error if ``data`` is not one."""
        return document_from_dict(cls, data)
