"""Contact-history entries to JSON-ready data and back, written by hand.

Every store reads entries by the thousand (history pages, reports), so the
entry's JSON form is not left to the reflective codec of ``_json.py``:
:func:`entry_to_dict` and :func:`entry_from_dict` write and read it field
by field. They are an optimisation only. The encoder writes exactly what
``document_to_dict`` writes; the decoder reads the canonical form (every
field present, nothing else) and hands anything else to the reflective
decoder, so what it accepts, and every error, is the reflective codec's
(``tests/test_history_json.py`` checks both on generated entries).

:func:`checked_entry` builds an entry from already-decoded values with the
same checks: the stores' compact rows are read through it too.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ._errors import shown
from ._history import (
    AbuseFlag,
    Classification,
    ContactHistoryEntry,
    EndedBy,
    WrapUpEnding,
    broken,
    check_entry,
)
from ._json import (
    SCHEMA_VERSION,
    _parse_instant,
    checked,
    document_from_dict,
    document_to_dict,
)

_ENDED_BY = {who.value: who for who in EndedBy}
_ENDINGS = {ending.value: ending for ending in WrapUpEnding}
_UTC = timezone.utc
_KEYS = 20  # schema_version and the entry's 19 fields


class _NotCanonical(Exception):
    """The fast decoder's signal to hand the data to the reflective one."""


def entry_to_dict(entry: ContactHistoryEntry) -> dict[str, Any]:
    """``entry.to_dict()``: what ``document_to_dict`` writes, without reflection."""
    if not is_plain(entry):
        return document_to_dict(entry)
    classification, abuse = entry.classification, entry.abuse
    return {
        "schema_version": SCHEMA_VERSION,
        "customer_id": entry.customer_id,
        "chat_id": entry.chat_id,
        "agent_id": entry.agent_id,
        "queue_id": entry.queue_id,
        "classification": None
        if classification is None
        else {
            "label": classification.label,
            "code": classification.code,
            "group": classification.group,
        },
        "additional_text": entry.additional_text,
        "chat_started_at": _iso(entry.chat_started_at),
        "chat_ended_at": _iso(entry.chat_ended_at),
        "ended_by": entry.ended_by.value,
        "wrap_up_started_at": _iso(entry.wrap_up_started_at),
        "wrap_up_ended_at": _iso(entry.wrap_up_ended_at),
        "ending": entry.ending.value,
        "extensions_used": entry.extensions_used,
        "abuse": None
        if abuse is None
        else {
            "flagged_by": abuse.flagged_by,
            "flagged_at": _iso(abuse.flagged_at),
            "reason": abuse.reason,
            "note": abuse.note,
        },
        "pause_count": entry.pause_count,
        "paused_seconds": entry.paused_seconds,
        "leg": entry.leg,
        "transferred_to_agent": entry.transferred_to_agent,
        "transferred_to_queue": entry.transferred_to_queue,
    }


def is_plain(entry: ContactHistoryEntry) -> bool:
    """Whether every field has the type the core writes (so that writing it
    by hand gives what the reflective codec would)."""
    if type(entry) is not ContactHistoryEntry:
        return False
    classification, abuse = entry.classification, entry.abuse
    return (
        type(entry.customer_id) is str
        and type(entry.chat_id) is str
        and type(entry.agent_id) is str
        and type(entry.queue_id) is str
        and _optional_text_is_plain(entry.additional_text)
        and _optional_text_is_plain(entry.transferred_to_agent)
        and _optional_text_is_plain(entry.transferred_to_queue)
        and (classification is None or _classification_is_plain(classification))
        and (abuse is None or _abuse_is_plain(abuse))
        and type(entry.ended_by) is EndedBy
        and type(entry.ending) is WrapUpEnding
        and type(entry.extensions_used) is int
        and type(entry.pause_count) is int
        and (type(entry.paused_seconds) is float or type(entry.paused_seconds) is int)
        and type(entry.leg) is int
        and type(entry.chat_started_at) is datetime
        and type(entry.chat_ended_at) is datetime
        and type(entry.wrap_up_started_at) is datetime
        and type(entry.wrap_up_ended_at) is datetime
    )


def _optional_text_is_plain(value: object) -> bool:
    return value is None or type(value) is str


def _classification_is_plain(value: Classification) -> bool:
    return (
        type(value) is Classification
        and type(value.label) is str
        and _optional_text_is_plain(value.code)
        and _optional_text_is_plain(value.group)
    )


def _abuse_is_plain(value: AbuseFlag) -> bool:
    return (
        type(value) is AbuseFlag
        and type(value.flagged_by) is str
        and type(value.note) is str
        and _optional_text_is_plain(value.reason)
        and type(value.flagged_at) is datetime
    )


def _iso(instant: datetime) -> str:
    if instant.tzinfo is not _UTC:
        instant = instant.astimezone(_UTC)
    return instant.isoformat().replace("+00:00", "Z")


def entry_from_dict(data: object) -> ContactHistoryEntry:
    """``ContactHistoryEntry.from_dict``: the canonical form read by hand,
    any other handed to the reflective decoder (which raises the error)."""
    if type(data) is dict and len(data) == _KEYS:
        try:
            return _canonical_entry(data)
        except Exception:  # whatever it is, the reflective decoder says it
            pass
    return checked(check_entry, document_from_dict(ContactHistoryEntry, data))


def _canonical_entry(data: dict[str, Any]) -> ContactHistoryEntry:
    version = data["schema_version"]
    if type(version) is not int or version != SCHEMA_VERSION:
        raise _NotCanonical
    return checked_entry(
        data["customer_id"],
        data["chat_id"],
        data["agent_id"],
        data["queue_id"],
        _classification(data["classification"]),
        data["additional_text"],
        _instant(data["chat_started_at"]),
        _instant(data["chat_ended_at"]),
        data["ended_by"],
        _instant(data["wrap_up_started_at"]),
        _instant(data["wrap_up_ended_at"]),
        data["ending"],
        data["extensions_used"],
        _abuse(data["abuse"]),
        data["pause_count"],
        data["paused_seconds"],
        data["leg"],
        data["transferred_to_agent"],
        data["transferred_to_queue"],
    )


def _instant(value: object) -> datetime:
    return _parse_instant(value, "$")


def _classification(value: object) -> Classification | None:
    if value is None:
        return None
    if type(value) is not dict or len(value) != 3:
        raise _NotCanonical
    return Classification(value["label"], value["code"], value["group"])


def _abuse(value: object) -> AbuseFlag | None:
    if value is None:
        return None
    if type(value) is not dict or len(value) != 4:
        raise _NotCanonical
    flagged_at = _instant(value["flagged_at"])
    return AbuseFlag(value["flagged_by"], flagged_at, value["reason"], value["note"])


def checked_entry(
    customer_id: Any,
    chat_id: Any,
    agent_id: Any,
    queue_id: Any,
    classification: Classification | None,
    additional_text: Any,
    chat_started_at: datetime,
    chat_ended_at: datetime,
    ended_by: Any,
    wrap_up_started_at: datetime,
    wrap_up_ended_at: datetime,
    ending: Any,
    extensions_used: Any,
    abuse: AbuseFlag | None,
    pause_count: Any,
    paused_seconds: Any,
    leg: Any,
    transferred_to_agent: Any,
    transferred_to_queue: Any,
) -> ContactHistoryEntry:
    """The entry of decoded JSON values (instants and nested values already
    built, enums as their values), or an ``invalid_json`` error naming the
    field where the reflective decoder would refuse it."""
    if not (  # one test while all is well; the failing field is named below
        type(pause_count) is int
        and type(leg) is int
        and (transferred_to_agent is None or type(transferred_to_agent) is str)
        and (transferred_to_queue is None or type(transferred_to_queue) is str)
        and type(ended_by) is str
        and ended_by in _ENDED_BY
        and type(ending) is str
        and ending in _ENDINGS
        and (type(paused_seconds) is float or type(paused_seconds) is int)
        and -1e15 <= paused_seconds <= 1e15  # and not NaN
    ):
        _refuse(
            pause_count,
            leg,
            transferred_to_agent,
            transferred_to_queue,
            ended_by,
            ending,
            paused_seconds,
        )
    entry = ContactHistoryEntry(
        customer_id,
        chat_id,
        agent_id,
        queue_id,
        classification,
        additional_text,
        chat_started_at,
        chat_ended_at,
        _ENDED_BY[ended_by],
        wrap_up_started_at,
        wrap_up_ended_at,
        _ENDINGS[ending],
        extensions_used,
        abuse,
        pause_count,
        float(paused_seconds),
        leg,
        transferred_to_agent,
        transferred_to_queue,
    )
    return checked(check_entry, entry)


def _refuse(
    pause_count: object,
    leg: object,
    transferred_to_agent: object,
    transferred_to_queue: object,
    ended_by: object,
    ending: object,
    paused_seconds: object,
) -> None:
    """Raise the error for the first of these values that is refused."""
    _whole_number(pause_count, "$.pause_count")
    _whole_number(leg, "$.leg")
    _optional_text(transferred_to_agent, "$.transferred_to_agent")
    _optional_text(transferred_to_queue, "$.transferred_to_queue")
    _member(_ENDED_BY, ended_by, "$.ended_by")
    _member(_ENDINGS, ending, "$.ending")
    _seconds(paused_seconds, "$.paused_seconds")


def _whole_number(value: object, path: str) -> None:
    if type(value) is not int:
        raise broken(path, f"expected a whole number, not {shown(value)}")


def _optional_text(value: object, path: str) -> None:
    if value is not None and type(value) is not str:
        raise broken(path, f"expected str, not {type(value).__name__}")


def _member(members: dict[str, Any], value: object, path: str) -> None:
    if type(value) is not str or value not in members:
        raise broken(path, f"{shown(value)} is not one of {', '.join(members)}")


def _seconds(value: object, path: str) -> None:
    if type(value) is not float and type(value) is not int:
        raise broken(path, f"expected a number, not {shown(value)}")
    raise broken(path, f"{shown(value)} is out of range")
