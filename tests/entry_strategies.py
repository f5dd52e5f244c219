"""Hypothesis strategies for contact-history entries, valid or not quite.

``history_entries`` draws entries the decide step could have written (the
checks of ``ContactHistoryEntry.from_dict`` pass), with every optional part
present or not; ``damaged_values`` draws JSON values to put in their place.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from webchat_wrapup import (
    AbuseFlag,
    Classification,
    ContactHistoryEntry,
    EndedBy,
    WrapUpEnding,
)

START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)

identifiers = st.sampled_from(
    ["agent-1", "cust-7", "sim1-2:agent-003", "chat-9", "sales", "ünï", "a b"]
) | st.text(
    st.characters(
        codec="utf-8",
        exclude_categories=("Cc", "Cs", "Cf", "Co", "Cn", "Zs", "Zl", "Zp"),
    ),
    min_size=1,
    max_size=12,
)
clean_texts = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=30
)
paragraphs = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"))
    | st.sampled_from("\n\t"),
    max_size=40,
)
durations = st.integers(0, 4 * 3600 * 10**6).map(lambda us: timedelta(microseconds=us))
classifications = st.builds(
    Classification, clean_texts, st.none() | identifiers, st.none() | clean_texts
)
paused_seconds = (
    st.just(0.0)
    | st.floats(0, 10_000, allow_nan=False)
    | st.integers(0, 10_000).map(lambda s: s / 7)
)


@st.composite
def history_entries(
    draw: st.DrawFn, *, start: datetime = START, span_hours: int = 48
) -> ContactHistoryEntry:
    """Entries the core could have written, their instants within
    ``span_hours`` of ``start`` (a small span makes ties)."""
    started = start + draw(
        st.integers(0, span_hours * 3600).map(lambda s: timedelta(seconds=s))
    )
    started += draw(st.sampled_from([timedelta(0), timedelta(microseconds=250_001)]))
    ended = started + draw(durations)
    wrapped = ended + draw(durations)
    ending = draw(st.sampled_from(list(WrapUpEnding)))
    classification = draw(st.none() | classifications)
    if ending is WrapUpEnding.EXPIRED_WITH_DEFAULT and classification is None:
        classification = Classification("Other", "other")
    abuse = draw(
        st.none()
        | st.builds(
            AbuseFlag,
            identifiers,
            st.just(ended),
            st.none() | paragraphs,
            st.sampled_from(["This chat was marked as abusive", "Flagged"]),
        )
    )
    pauses = draw(st.integers(0, 3))
    return ContactHistoryEntry(
        customer_id=draw(identifiers),
        chat_id=draw(identifiers),
        agent_id=draw(identifiers),
        queue_id=draw(identifiers),
        classification=classification,
        additional_text=draw(st.none() | paragraphs),
        chat_started_at=started,
        chat_ended_at=ended,
        ended_by=draw(st.sampled_from(list(EndedBy))),
        wrap_up_started_at=ended,
        wrap_up_ended_at=wrapped,
        ending=ending,
        extensions_used=draw(st.integers(0, 3)),
        abuse=abuse,
        pause_count=pauses,
        paused_seconds=draw(paused_seconds) if pauses else 0.0,
        leg=draw(st.integers(1, 3)),
        transferred_to_agent=draw(st.none() | identifiers),
        transferred_to_queue=draw(st.none() | identifiers),
    )


damaged_values: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(
        ["2026-01-05T09:00:00Z", "2026-01-05T09:00:00", "expired", "transfer", ""]
    ),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.sampled_from(["label", "code", "group", "x"]), st.text()),
)
"""Values of every JSON type, and a few that nearly fit."""
