"""A discrete-event simulation of webchat traffic, through the real service.

Customers arrive per queue as a Poisson process and wait, first come first
served, until an agent with free capacity takes them (the longest-idle
agent first); they may abandon after a patience time. Agents classify,
extend, pause, forget and flag as configured, and take breaks on a
schedule. Time comes from a manual clock moved from event to event
(nothing sleeps), and every action goes through
:class:`~webchat_wrapup.service.WrapUpService`, so the store ends up with
the contact history a real day would leave.

The dispatcher knows only what the service's events tell it: who holds
which chat, and each agent's presence and chosen next status. A break is
chosen as the next status while the agent is busy, so it starts the
instant the last wrap-up ends; an agent on a break, or with a break
pending, gets no chat (the core would refuse the assign).

The day's settings and traffic are in :mod:`webchat_wrapup.tools.traffic`,
the figures in :mod:`webchat_wrapup.tools.results`; both are re-exported
here.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import attrs

from .._core._errors import WrapUpError
from .._core._events import (
    Event,
    NextPresenceChosen,
    PresenceChanged,
    StatusChanged,
    WrapUpCompleted,
    WrapUpExtended,
    WrapUpPaused,
    WrapUpResumed,
    WrapUpStarted,
)
from .._core._history import EndedBy
from .._core._machine import Presence
from .._core._policy import DropdownClassification
from ..clocks import ManualClock
from ..service import WrapUpService
from . import runs
from .policy_file import PolicyFile
from .results import AgentTime, Results
from .traffic import (
    DEFAULT_ARRIVALS_PER_HOUR,
    Customer,
    SimulationSettings,
    break_starts,
    draw_traffic,
    settings_from,
)

__all__ = [
    "DEFAULT_ARRIVALS_PER_HOUR",
    "Customer",
    "Results",
    "Simulation",
    "SimulationSettings",
    "break_starts",
    "draw_traffic",
    "settings_from",
]

_FORGETFUL_AGENTS_REMEMBER_AFTER_SECONDS = 300.0
"""How late an agent who forgot completes a wrap-up that has no countdown."""

_Handler = Callable[[Any], None]


@attrs.define
class _Agent:
    agent_id: str
    capacity: int
    chats: set[str] = attrs.field(factory=set)
    free_since: float = 0.0
    stamp: int = 0
    """Moves on whenever ``chats``, ``free_since`` or the presence change:
    older entries for this agent in the free-agent heap are stale."""
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


def _seconds(instant: datetime) -> float:
    return (instant - runs.EPOCH).total_seconds()


class Simulation:
    """One simulated day of one policy file, through one service."""

    def __init__(
        self,
        service: WrapUpService,
        policies: PolicyFile,
        settings: SimulationSettings,
        *,
        run: str,
        progress: Callable[[float, int], None] | None = None,
    ) -> None:
        clock = service.clock
        if not isinstance(clock, ManualClock):
            raise TypeError("the simulation needs a service with a ManualClock")
        self.clock = clock
        self.service = service
        self.policies = policies
        self.settings = settings
        self.run = run
        self.progress = progress
        self._events: list[tuple[float, int, _Handler, Any]] = []
        self._order = itertools.count()
        self._waiting: dict[str, deque[Customer]] = {
            queue: deque() for queue in policies.queues
        }
        self._agents: dict[str, _Agent] = {}
        self._free: dict[str, list[tuple[float, str, int]]] = {
            queue: [] for queue in policies.queue_capacity
        }
        self._chats: dict[str, tuple[Customer, str]] = {}
        self._waits: list[float] = []
        self._abandoned = 0
        self._extensions = 0
        self._expired = 0
        self._history = 0
        self._pauses = 0
        self._paused_seconds = 0.0
        self._paused_since: dict[str, float] = {}
        self._breaks = 0
        self._now = 0.0
        self._last_change = 0.0
        service.subscribe(self._hear)

    def _at(self, seconds: float, handler: _Handler, payload: Any) -> None:
        # The counter breaks ties, so handlers are never compared.
        heapq.heappush(self._events, (seconds, next(self._order), handler, payload))

    def run_day(self, customers: list[Customer]) -> Results:
        """Play the day; stops cleanly (results so far) on Ctrl-C."""
        for number in range(1, self.settings.agents + 1):
            agent = runs.agent_id(self.run, number)
            self._add_agent(agent)
            for seconds in break_starts(self.settings, number):
                self._at(seconds, self._on_break_due, agent)
        for customer in customers:
            self._at(customer.arrives, self._on_arrive, customer)
        interrupted = False
        handled = 0
        try:
            while self._events:
                when, _, handler, payload = heapq.heappop(self._events)
                self._now = when
                self.clock.set(runs.EPOCH + timedelta(seconds=when))
                handler(payload)
                handled += 1
                if self.progress is not None and handled % 500 == 0:
                    self.progress(when, len(self._waits))
            self._sweep()
        except KeyboardInterrupt:
            interrupted = True
        return self._results(interrupted)

    def _add_agent(self, agent: str) -> None:
        settings = self.policies.agent(runs.name_in_run(agent))
        self.service.add_agent(
            agent,
            capacity=settings.capacity,
            classification_profile=settings.classification_profile,
        )
        self._agents[agent] = _Agent(agent, settings.capacity)
        self._touch(self._agents[agent])

    # Events from the service: who is free, what expired, who is away.

    def _hear(self, event: Event) -> None:
        agent = self._agents.get(event.agent_id)
        if agent is None:
            return
        at = _seconds(event.at)
        if isinstance(event, StatusChanged):
            agent.time.status_changed(event.status, at)
            self._last_change = max(self._last_change, at)
        elif isinstance(event, (WrapUpStarted, WrapUpExtended, WrapUpResumed)):
            self._hear_deadline(event, at)
        elif isinstance(event, WrapUpCompleted):
            self._hear_completed(agent, event, at)
        elif isinstance(event, WrapUpPaused):
            self._hear_paused(event, at)
        elif isinstance(event, NextPresenceChosen):
            agent.next_presence = event.presence
            self._touch(agent)
        elif isinstance(event, PresenceChanged):
            self._hear_presence(agent, event.presence, at)

    def _hear_deadline(
        self, event: WrapUpStarted | WrapUpExtended | WrapUpResumed, at: float
    ) -> None:
        if isinstance(event, WrapUpResumed):
            self._pause_over(event.chat_id, at)
        if event.deadline is not None:
            self._at(_seconds(event.deadline), self._on_deadline, event.chat_id)

    def _hear_completed(self, agent: _Agent, event: WrapUpCompleted, at: float) -> None:
        self._pause_over(event.chat_id, at)
        agent.chats.discard(event.chat_id)
        self._chats.pop(event.chat_id, None)
        self._history += 1
        if event.ending.value.startswith("expired"):
            self._expired += 1
        if not agent.chats:
            agent.free_since = at
        self._touch(agent)
        self._at(self._now, self._on_dispatch, None)

    def _hear_paused(self, event: WrapUpPaused, at: float) -> None:
        self._pauses += 1
        self._paused_since[event.chat_id] = at
        # A queue that caps pausing resumes the countdown by itself, with no
        # event until someone acts: the core's own rule says when it is due.
        stored = self.service.store.load(event.agent_id)
        chat = None if stored is None else stored.state.chat(event.chat_id)
        due = None if chat is None else chat.due_at()
        if due is not None:
            self._at(_seconds(due), self._on_deadline, event.chat_id)

    def _pause_over(self, chat_id: str, at: float) -> None:
        since = self._paused_since.pop(chat_id, None)
        if since is not None:
            self._paused_seconds += at - since

    def _hear_presence(self, agent: _Agent, presence: Presence, at: float) -> None:
        if agent.presence is Presence.BREAK:
            agent.time.break_ended(at)
        agent.presence, agent.next_presence = presence, None
        if presence is Presence.BREAK:
            self._breaks += 1
            agent.time.break_started(at)
            ends = at + self.settings.break_minutes * 60
            self._at(ends, self._on_break_over, agent.agent_id)
        else:
            agent.free_since = at
            self._at(self._now, self._on_dispatch, None)
        self._touch(agent)

    # The day's events.

    def _on_arrive(self, customer: Customer) -> None:
        self._waiting[customer.queue].append(customer)
        self._at(customer.arrives + customer.patience, self._on_abandon, customer)
        self._on_dispatch(None)

    def _on_abandon(self, customer: Customer) -> None:
        # Most customers were answered long before their patience ran out:
        # their abandonment is stale and must not stretch the measured day.
        queue = self._waiting[customer.queue]
        for index, waiting in enumerate(queue):
            if waiting is customer:
                del queue[index]
                self._abandoned += 1
                self._last_change = max(self._last_change, self._now)
                return

    def _on_dispatch(self, _: object) -> None:
        while True:
            oldest = self._oldest_waiting()
            if oldest is None:
                return
            agent = self._free_agent(oldest)
            if agent is None:
                return
            self._take(agent, self._waiting[oldest].popleft())

    def _oldest_waiting(self) -> str | None:
        heads = [
            (queue[0].arrives, name) for name, queue in self._waiting.items() if queue
        ]
        return min(heads)[1] if heads else None

    def _free_agent(self, queue: str) -> _Agent | None:
        """The longest-idle agent with room for a chat of ``queue``.

        Each queue keeps a heap, by (idle since, id), of the agents with
        room for its chats; entries made stale by a later change are dropped
        as they surface, so a dispatch never scans every agent.
        """
        free = self._free[queue]
        while free:
            _, agent_id, stamp = heapq.heappop(free)
            agent = self._agents[agent_id]
            if stamp == agent.stamp:
                return agent
        return None

    def _touch(self, agent: _Agent) -> None:
        agent.stamp += 1
        if not agent.takes_chats():
            return  # back in the heaps when the presence allows it again
        entry = (agent.free_since, agent.agent_id, agent.stamp)
        for queue, limit in self.policies.queue_capacity.items():
            if len(agent.chats) < min(limit, agent.capacity):
                heapq.heappush(self._free[queue], entry)

    def _take(self, agent: _Agent, customer: Customer) -> None:
        chat = runs.chat_id(self.run, customer.number)
        policy = self.policies.queues[customer.queue]
        self._waits.append(self._now - customer.arrives)
        agent.chats.add(chat)
        self._touch(agent)
        self._chats[chat] = (customer, agent.agent_id)
        self.service.assign(
            agent.agent_id, chat, runs.customer_id(self.run, customer.number), policy
        )
        if customer.classify_during_chat:
            self._at(self._now + customer.chat_seconds / 2, self._on_classify, chat)
        if customer.abusive:
            self._at(self._now + customer.chat_seconds / 3, self._on_flag, chat)
        self._at(self._now + customer.chat_seconds, self._on_end, chat)

    def _on_end(self, chat_id: str) -> None:
        customer, agent_id = self._chats[chat_id]
        self.service.end_chat(agent_id, chat_id, EndedBy.CUSTOMER)
        wrap_up = self.policies.queues[customer.queue].wrap_up
        if chat_id not in self._chats:
            return
        if customer.pauses:  # half-way through the work, before the rest
            pause_at = self._now + customer.classify_after / 2
            self._at(pause_at, self._on_pause, chat_id)
        if customer.forgets and wrap_up.countdown is not None:
            return  # the countdown expires the wrap-up
        if customer.extends and wrap_up.countdown is not None:
            left = self.settings.extend_when_seconds_left
            when = self._now + max(0.0, wrap_up.countdown.total_seconds() - left)
            self._at(when, self._on_extend, chat_id)
        if not customer.pauses:
            self._finish(chat_id, customer, customer.classify_after)

    def _finish(self, chat_id: str, customer: Customer, after: float) -> None:
        """Plan the rest of the agent's wrap-up work, done ``after`` seconds on."""
        wrap_up = self.policies.queues[customer.queue].wrap_up
        if customer.forgets and wrap_up.countdown is not None:
            return  # the countdown expires the wrap-up
        done = self._now + after
        if customer.forgets:  # no countdown: nothing ends it but the agent
            done += _FORGETFUL_AGENTS_REMEMBER_AFTER_SECONDS
        if not customer.classify_during_chat:
            self._at(done, self._on_classify, chat_id)
        self._at(done + 1, self._on_complete, chat_id)

    def _on_pause(self, chat_id: str) -> None:
        """The agent pauses the wrap-up and comes back to it later; the rest
        of the work waits as long. A queue that forbids pausing refuses,
        and the agent carries on at once."""
        held = self._chats.get(chat_id)
        if held is None:
            return
        customer = held[0]
        away = customer.pause_seconds if self._act(chat_id, self.service.pause) else 0
        if away:
            self._at(self._now + away, self._on_resume, chat_id)
        self._finish(chat_id, customer, customer.classify_after / 2 + away)

    def _on_resume(self, chat_id: str) -> None:
        # Refused when the queue's pause allowance already resumed it.
        self._act(chat_id, self.service.resume)

    def _on_break_due(self, agent_id: str) -> None:
        # Holding chats, this is the next status: it starts when the last
        # wrap-up ends. A break still pending or under way makes it a no-op.
        self.service.choose_presence(agent_id, Presence.BREAK)

    def _on_break_over(self, agent_id: str) -> None:
        self.service.choose_presence(agent_id, Presence.AVAILABLE)

    def _act(self, chat_id: str, action: Callable[[str, str], object]) -> bool:
        held = self._chats.get(chat_id)
        if held is None:
            return False
        try:
            action(held[1], chat_id)
        except WrapUpError:
            return False
        return True

    def _on_classify(self, chat_id: str) -> None:
        held = self._chats.get(chat_id)
        if held is None:
            return
        customer, agent_id = held
        choices = self.policies.queues[customer.queue].classification.choices
        if isinstance(choices, DropdownClassification):
            profile = self.policies.agent(runs.name_in_run(agent_id))
            live = choices.offered(profile.classification_profile)
            if not live:
                return
            value = {"code": live[int(customer.choice * len(live))].code}
        else:
            text = ("Order status", "Refund", "Complaint", "Other")
            value = {"text": text[int(customer.choice * len(text))]}
        self._act(chat_id, lambda a, c: self.service.classify(a, c, **value))

    def _on_flag(self, chat_id: str) -> None:
        self._act(chat_id, lambda a, c: self.service.flag_abusive(a, c, "abusive"))

    def _on_extend(self, chat_id: str) -> None:
        if self._act(chat_id, self.service.extend):
            self._extensions += 1

    def _on_complete(self, chat_id: str) -> None:
        self._act(chat_id, self.service.complete)

    def _on_deadline(self, chat_id: str) -> None:
        if chat_id in self._chats:
            self._sweep()

    def _sweep(self) -> None:
        while self.service.sweep(limit=1000).expired:
            pass

    def _measured_seconds(self, interrupted: bool) -> float:
        """The day, or longer while chats drain or customers wait after it."""
        if interrupted:
            return self._now
        return max(self.settings.hours * 3600, self._last_change)

    def _results(self, interrupted: bool) -> Results:
        measured = self._measured_seconds(interrupted)
        times = [agent.time for agent in self._agents.values()]
        for time in times:
            time.status_changed(time.status, measured)
        answered = len(self._waits)
        threshold = self.settings.service_level_seconds
        within = sum(1 for wait in self._waits if wait <= threshold)
        offered = answered + self._abandoned
        agent_time = max(measured, 1e-9) * len(self._agents)
        on_break = sum(time.break_seconds(measured) for time in times)
        present = max(agent_time - on_break, 1e-9)  # a break is not capacity
        busy = sum(time.busy_seconds for time in times)
        wrap = sum(time.wrap_up_seconds for time in times)
        return Results(
            label=self.policies.source,
            offered=offered,
            answered=answered,
            abandoned=self._abandoned,
            service_level=within / offered if offered else 1.0,
            average_speed_of_answer=sum(self._waits) / answered if answered else 0.0,
            abandonment=self._abandoned / offered if offered else 0.0,
            occupancy=busy / present,
            wrap_up_share=wrap / present,
            extensions=self._extensions,
            expired=self._expired,
            history_entries=self._history,
            pauses=self._pauses,
            paused_seconds=self._paused_seconds,
            breaks=self._breaks,
            break_share=on_break / agent_time,
            interrupted=interrupted,
        )
