"""What saving a decision writes, and what it answers."""

from __future__ import annotations

from datetime import datetime

from ._core._decide import Decision
from .ports import Change, CommandRecord, Outcome


def change_of(
    agent_id: str,
    version: int,
    decision: Decision,
    now: datetime,
    record: CommandRecord | None = None,
) -> Change:
    """The change that saves ``decision`` over the agent's ``version``,
    with its history, its events for the feed, and the command's record."""
    return Change(
        agent_id,
        version,
        decision.state,
        decision.history,
        record,
        decision.events,
        now,
    )


def outcome_of(agent_id: str, version: int, decision: Decision) -> Outcome:
    """What saving ``decision`` at ``version`` answers."""
    return Outcome(agent_id, version, decision.events, decision.history)
