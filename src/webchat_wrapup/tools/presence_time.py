"""Time each agent spent in each status and presence, from the event feed.

The contact history records chats, not an agent's breaks: the feed's
``status_changed`` and ``presence_changed`` events do. An agent holding a
chat is *Handling a chat* or in *Wrap-up*; otherwise they are what they
chose to be: *Available*, *Break*, *Offline* or a not-ready reason (e.g.
*Lunch*). The time from each change to the next is counted under the
label the agent showed, up to ``until`` (the last event's instant if not
given). Time before an agent's first change in the feed is unknown and not
counted; so is time the event retention pruned.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import attrs

from .._core._events import PresenceChanged, StatusChanged
from .._core._machine import Presence, Status
from ..ports import StoredEvent


@attrs.frozen
class PresenceTime:
    """Seconds one agent showed one label."""

    agent_id: str
    label: str
    seconds: float


@attrs.define
class _Agent:
    """What an agent shows, and since when."""

    since: datetime
    status: Status
    idle_label: str

    @property
    def label(self) -> str:
        if self.status is Status.AVAILABLE:
            return self.idle_label
        return self.status.label


def _idle_label(presence: Presence, reason: str | None) -> str:
    return reason if presence is Presence.NOT_READY and reason else presence.label


def time_per_presence(
    events: Iterable[StoredEvent], until: datetime | None = None
) -> list[PresenceTime]:
    """Seconds per agent and label, sorted by agent, then label."""
    changes: list[tuple[datetime, int, StatusChanged | PresenceChanged]] = sorted(
        (stored.event.at, stored.position, stored.event)
        for stored in events
        if isinstance(stored.event, (StatusChanged, PresenceChanged))
    )
    agents: dict[str, _Agent] = {}
    seconds: dict[tuple[str, str], float] = defaultdict(float)
    for _, _, event in changes:
        agent = agents.get(event.agent_id)
        if agent is not None:
            spent = (event.at - agent.since).total_seconds()
            seconds[(event.agent_id, agent.label)] += max(spent, 0.0)
        agents[event.agent_id] = _after(agent, event)
    end = until or (changes[-1][0] if changes else None)
    for agent_id, agent in agents.items():
        if end is not None and end > agent.since:
            seconds[(agent_id, agent.label)] += (end - agent.since).total_seconds()
    return [
        PresenceTime(agent_id, label, spent)
        for (agent_id, label), spent in sorted(seconds.items())
        if spent > 0
    ]


def _after(agent: _Agent | None, event: StatusChanged | PresenceChanged) -> _Agent:
    if isinstance(event, StatusChanged):
        idle = _idle_label(event.presence, event.reason)
        return _Agent(event.at, event.status, idle)
    idle = _idle_label(event.presence, event.reason)
    status = Status.AVAILABLE if agent is None else agent.status
    return _Agent(event.at, status, idle)
