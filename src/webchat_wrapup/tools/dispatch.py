"""Who takes the next chat in a simulated day: the simulated agents, the
legs of chats they hold, and the agents with room for a chat, per queue.

The simulation keeps these from the service's events alone; the core's
assign rule has the last word, and these mirror it so that no assign the
dispatcher makes is refused.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping

import attrs

from .._core._machine import Presence
from .results import AgentTime
from .traffic import Customer


@attrs.frozen
class Leg:
    """One agent's part of a customer's chat: ``number`` 1 for the first."""

    customer: Customer
    seconds: float
    """How long this leg's conversation lasts."""
    waiting_since: float
    number: int = 1
    transfers: bool = False
    """Whether this leg ends in a transfer rather than the customer leaving."""


@attrs.define
class SimulatedAgent:
    """What the dispatcher knows of one agent."""

    agent_id: str
    capacity: int
    chats: set[str] = attrs.field(factory=set)
    free_since: float = 0.0
    stamp: int = 0
    """Moves on whenever ``chats``, ``free_since`` or the presence change:
    older entries for this agent in the free-agent heaps are stale."""
    presence: Presence = Presence.AVAILABLE
    next_presence: Presence | None = None
    time: AgentTime = attrs.field(factory=AgentTime)

    def takes_chats(self) -> bool:
        """What the core's assign rule says of presence: Available, and no
        other next status pending."""
        return self.presence is Presence.AVAILABLE and self.next_presence in (
            None,
            Presence.AVAILABLE,
        )


class FreeAgents:
    """The agents with room for a chat of each queue, longest-idle first.

    Each queue keeps a heap, by (idle since, id), of the agents with room
    for its chats; entries made stale by a later change are dropped as they
    surface, so finding an agent never scans every agent.
    """

    def __init__(
        self, agents: Mapping[str, SimulatedAgent], queue_capacity: Mapping[str, int]
    ) -> None:
        self._agents = agents
        self._capacity = dict(queue_capacity)
        self._heaps: dict[str, list[tuple[float, str, int]]] = {
            queue: [] for queue in queue_capacity
        }

    def touch(self, agent: SimulatedAgent) -> None:
        """The agent's chats, idle time or presence changed: file it again."""
        agent.stamp += 1
        if not agent.takes_chats():
            return  # back in the heaps when the presence allows it again
        entry = (agent.free_since, agent.agent_id, agent.stamp)
        for queue, limit in self._capacity.items():
            if len(agent.chats) < min(limit, agent.capacity):
                heapq.heappush(self._heaps[queue], entry)

    def take(self, queue: str, chat_id: str) -> SimulatedAgent | None:
        """The longest-idle agent with room for a chat of ``queue``, other
        than one still wrapping up an earlier leg of ``chat_id``; it leaves
        the heaps until it is touched again."""
        free = self._heaps[queue]
        passed_over = None
        found = None
        while free and found is None:
            entry = heapq.heappop(free)
            agent = self._agents[entry[1]]
            if entry[2] != agent.stamp:
                continue
            if chat_id in agent.chats:
                passed_over = entry  # at most one agent holds the chat
            else:
                found = agent
        if passed_over is not None:
            heapq.heappush(free, passed_over)
        return found
