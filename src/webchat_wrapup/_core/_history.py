"""What lands in the customer's contact history when a chat's wrap-up ends."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

import attrs

from ._errors import ErrorCode, InvalidInput, shown
from ._instants import MAX_INSTANT, MIN_INSTANT, utc_instant
from ._text import check_clean, check_identifier, check_text

_UTC = timezone.utc

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
    TRANSFER = "transfer"
    """The agent transferred the chat: this agent's part (leg) ended."""


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
    pause_count: int = 0
    paused_seconds: float = 0.0
    leg: int = 1
    transferred_to_agent: str | None = None
    transferred_to_queue: str | None = None

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
        return _history_json.entry_to_dict(self)

    @classmethod
    def from_dict(cls, data: object) -> ContactHistoryEntry:
        """The value :meth:`to_dict` wrote; a typed error if ``data`` is not one."""
        return _history_json.entry_from_dict(data)


def broken(path: str, problem: str) -> InvalidInput:
    """The error for a value no decoder should accept: ``path`` says where."""
    return InvalidInput(ErrorCode.INVALID_JSON, f"{path}: {problem}", field=path)


def instant_at(value: object, path: str) -> datetime:
    """``value`` as an accepted instant, or an error naming ``path``."""
    if (  # what the stores read: checked without going through utc_instant
        type(value) is datetime
        and value.tzinfo is _UTC
        and MIN_INSTANT <= value <= MAX_INSTANT
    ):
        return value
    try:
        return utc_instant(value)
    except InvalidInput as error:
        raise broken(path, error.message) from None


def check_entry(entry: ContactHistoryEntry) -> None:
    """Refuse an entry the decide step could never have written."""
    # Written out rather than looped over: every store reads entries by the
    # thousand, and each is checked.
    if not isinstance(entry, ContactHistoryEntry):
        raise broken("$", f"{shown(entry)} is not a contact-history entry")
    check_identifier(entry.customer_id, "$.customer_id")
    check_identifier(entry.chat_id, "$.chat_id")
    check_identifier(entry.agent_id, "$.agent_id")
    check_identifier(entry.queue_id, "$.queue_id")
    started = instant_at(entry.chat_started_at, "$.chat_started_at")
    ended = instant_at(entry.chat_ended_at, "$.chat_ended_at")
    if ended < started or entry.wrap_up_started_at != ended:
        raise broken("$.chat_ended_at", "does not follow the start, or start wrap-up")
    if instant_at(entry.wrap_up_ended_at, "$.wrap_up_ended_at") < ended:
        raise broken("$.wrap_up_ended_at", "is before the wrap-up started")
    used = entry.extensions_used
    if type(used) is not int and (isinstance(used, bool) or not isinstance(used, int)):
        raise broken("$.extensions_used", f"{shown(used)} is not a count")
    if used < 0:
        raise broken("$.extensions_used", f"{shown(used)} is not a count")
    classification = entry.classification
    if classification is None:
        if entry.ending is WrapUpEnding.EXPIRED_WITH_DEFAULT:
            raise broken("$.classification", "is missing from a timeout default")
    else:
        check_classification(classification, "$.classification")
    text = entry.additional_text
    if text is not None and not (type(text) is str and text.isprintable()):
        check_clean(text, "$.additional_text", paragraphs=True)
    if entry.abuse is not None:
        check_abuse(entry.abuse, "$.abuse")


def check_classification(value: object, path: str) -> None:
    """Refuse a classification of the wrong types or with control characters."""
    if value is None:
        return
    if not isinstance(value, Classification):
        raise broken(path, f"{shown(value)} is not a classification")
    label, code, group = value.label, value.code, value.group
    if not (type(label) is str and label.isprintable()):  # else clean, surely
        check_clean(label, f"{path}.label")
    if code is not None:
        check_identifier(code, f"{path}.code")
    if group is not None and not (type(group) is str and group.isprintable()):
        check_clean(group, f"{path}.group")


def check_abuse(value: object, path: str) -> None:
    """Refuse an abuse flag of the wrong types."""
    if value is None:
        return
    if not isinstance(value, AbuseFlag):
        raise broken(path, f"{shown(value)} is not an abuse flag")
    check_identifier(value.flagged_by, f"{path}.flagged_by")
    instant_at(value.flagged_at, f"{path}.flagged_at")
    if value.reason is not None:
        check_clean(value.reason, f"{path}.reason", paragraphs=True)
    check_text(value.note, f"{path}.note")


# Last: the hand-written JSON form of an entry needs the classes above.
from . import _history_json  # noqa: E402
