"""What the contract's tests build their data from: one instant and one
kind of contact-history entry."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .._core._history import ContactHistoryEntry, EndedBy, WrapUpEnding

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    """``seconds`` after :data:`T0`."""
    return T0 + timedelta(seconds=seconds)


def history_entry(customer_id: str, chat_id: str, ended: float) -> ContactHistoryEntry:
    """A chat of ``agent-1`` completed early, its wrap-up ended at ``ended``."""
    return ContactHistoryEntry(
        customer_id=customer_id,
        chat_id=chat_id,
        agent_id="agent-1",
        queue_id="support",
        classification=None,
        additional_text=None,
        chat_started_at=T0,
        chat_ended_at=T0,
        ended_by=EndedBy.CUSTOMER,
        wrap_up_started_at=T0,
        wrap_up_ended_at=at(ended),
        ending=WrapUpEnding.COMPLETED_EARLY,
        extensions_used=0,
        abuse=None,
    )
