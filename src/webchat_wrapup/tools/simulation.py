"""A discrete-event simulation of webchat traffic, through the real service.

Customers arrive per queue as a Poisson process and wait, first come first
served, until an agent with free capacity takes them (the longest-idle
agent first); they may abandon after a patience time. Agents classify,
extend, pause, forget and flag as configured, transfer some chats
part-way through, and take breaks on a schedule. Time comes from a manual
clock moved from event to event (nothing sleeps), and every action goes
through :class:`~webchat_wrapup.service.WrapUpService`, so the store ends
up with the contact history a real day would leave.

The dispatcher knows only what the service's events tell it: who holds
which chat, and each agent's presence and chosen next status. A break is
chosen as the next status while the agent is busy, so it starts the
instant the last wrap-up ends; an agent on a break, or with a break
pending, gets no chat (the core would refuse the assign).

A transferred chat's first leg ends after part of its length: the next
leg goes at once to the longest-idle agent with room for it, or, when
none has, back to its queue, where it waits with the other customers for
the next free agent (and never abandons: the customer is already in the
chat). Each agent wraps up their own leg, so one chat is held by two
agents for a while: the dispatcher's bookkeeping is by agent and chat.

The day's settings and traffic are in :mod:`webchat_wrapup.tools.traffic`,
the figures in :mod:`webchat_wrapup.tools.results`; both are re-exported
here.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from .._core._commands import AssignChat
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
from .dispatch import FreeAgents, Leg, SimulatedAgent
from .policy_file import PolicyFile
from .results import Results
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

_Held = tuple[str, str]
"""A leg an agent holds: (agent id, chat id)."""


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
        self._arrivals: Iterator[tuple[float, int, Customer]] = iter(())
        self._order = itertools.count()
        self._waiting: dict[str, deque[Leg]] = {
            queue: deque() for queue in policies.queues
        }
        self._agents: dict[str, SimulatedAgent] = {}
        self._free = FreeAgents(self._agents, policies.queue_capacity)
        self._chats: dict[_Held, Leg] = {}
        self._waits: list[float] = []
        self._abandoned = 0
        self._extensions = 0
        self._expired = 0
        self._history = 0
        self._pauses = 0
        self._paused_seconds = 0.0
        self._paused_since: dict[_Held, float] = {}
        self._breaks = 0
        self._legs = 0
        self._transfers = 0
        self._transfers_queued = 0
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
        self._schedule_arrivals(customers)
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

    def _schedule_arrivals(self, customers: list[Customer]) -> None:
        """Put the first arrival on the calendar; each arrival puts the next.

        The calendar then holds one arrival, not the whole day's, so it
        stays as small as the agents' own events. Each arrival keeps the
        place (time, then order) it would have had among all of them.
        """
        first = next(self._order)
        self._order = itertools.count(first + len(customers))
        ordered = sorted(
            (customer.arrives, first + index, customer)
            for index, customer in enumerate(customers)
        )
        self._arrivals = iter(ordered)
        self._next_arrival()

    def _next_arrival(self) -> None:
        arrival = next(self._arrivals, None)
        if arrival is not None:
            seconds, order, customer = arrival
            entry = (seconds, order, self._on_arrival, customer)
            heapq.heappush(self._events, entry)

    def _on_arrival(self, customer: Customer) -> None:
        self._next_arrival()
        self._on_arrive(customer)

    def _add_agent(self, agent: str) -> None:
        settings = self.policies.agent(runs.name_in_run(agent))
        self.service.add_agent(
            agent,
            capacity=settings.capacity,
            classification_profile=settings.classification_profile,
        )
        self._agents[agent] = SimulatedAgent(agent, settings.capacity)
        self._free.touch(self._agents[agent])

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
            self._free.touch(agent)
        elif isinstance(event, PresenceChanged):
            self._hear_presence(agent, event.presence, at)

    def _hear_deadline(
        self, event: WrapUpStarted | WrapUpExtended | WrapUpResumed, at: float
    ) -> None:
        held = (event.agent_id, event.chat_id)
        if isinstance(event, WrapUpResumed):
            self._pause_over(held, at)
        if event.deadline is not None:
            self._at(_seconds(event.deadline), self._on_deadline, held)

    def _hear_completed(
        self, agent: SimulatedAgent, event: WrapUpCompleted, at: float
    ) -> None:
        held = (event.agent_id, event.chat_id)
        self._pause_over(held, at)
        agent.chats.discard(event.chat_id)
        self._chats.pop(held, None)
        self._history += 1
        if event.ending.value.startswith("expired"):
            self._expired += 1
        if not agent.chats:
            agent.free_since = at
        self._free.touch(agent)
        self._at(self._now, self._on_dispatch, None)

    def _hear_paused(self, event: WrapUpPaused, at: float) -> None:
        held = (event.agent_id, event.chat_id)
        self._pauses += 1
        self._paused_since[held] = at
        # A queue that caps pausing resumes the countdown by itself, with no
        # event until someone acts: the core's own rule says when it is due.
        stored = self.service.store.load(event.agent_id)
        chat = None if stored is None else stored.state.chat(event.chat_id)
        due = None if chat is None else chat.due_at()
        if due is not None:
            self._at(_seconds(due), self._on_deadline, held)

    def _pause_over(self, held: _Held, at: float) -> None:
        since = self._paused_since.pop(held, None)
        if since is not None:
            self._paused_seconds += at - since

    def _hear_presence(
        self, agent: SimulatedAgent, presence: Presence, at: float
    ) -> None:
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
        self._free.touch(agent)

    # The day's events.

    def _on_arrive(self, customer: Customer) -> None:
        seconds = customer.chat_seconds
        if customer.transfers:
            seconds *= self.settings.transfer_after
        leg = Leg(customer, seconds, customer.arrives, transfers=customer.transfers)
        self._waiting[customer.queue].append(leg)
        self._at(customer.arrives + customer.patience, self._on_abandon, customer)
        self._on_dispatch(None)

    def _on_abandon(self, customer: Customer) -> None:
        # Most customers were answered long before their patience ran out:
        # their abandonment is stale and must not stretch the measured day.
        # A leg waiting after a transfer is never abandoned.
        queue = self._waiting[customer.queue]
        for index, waiting in enumerate(queue):
            if waiting.customer is customer and waiting.number == 1:
                del queue[index]
                self._abandoned += 1
                self._last_change = max(self._last_change, self._now)
                return

    def _on_dispatch(self, _: object) -> None:
        while True:
            oldest = self._oldest_waiting()
            if oldest is None:
                return
            leg = self._waiting[oldest][0]
            agent = self._free.take(oldest, self._chat_id(leg))
            if agent is None:
                return
            self._waiting[oldest].popleft()
            self._take(agent, leg)

    def _oldest_waiting(self) -> str | None:
        heads = [
            (queue[0].waiting_since, name)
            for name, queue in self._waiting.items()
            if queue
        ]
        return min(heads)[1] if heads else None

    def _chat_id(self, leg: Leg) -> str:
        return runs.chat_id(self.run, leg.customer.number)

    def _take(self, agent: SimulatedAgent, leg: Leg) -> None:
        """The agent takes a waiting leg: the customer's first, or one a
        transfer sent back to the queue."""
        customer = leg.customer
        if leg.number == 1:
            self._waits.append(self._now - customer.arrives)
        held = self._hold(agent, leg)
        assign = AssignChat(
            agent.agent_id,
            held[1],
            runs.customer_id(self.run, customer.number),
            self.policies.queues[customer.queue],
            None if leg.number == 1 else leg.number,
        )
        self.service.execute(assign)
        self._plan_leg(held, leg)

    def _hold(self, agent: SimulatedAgent, leg: Leg) -> _Held:
        held = (agent.agent_id, self._chat_id(leg))
        self._legs += 1
        agent.chats.add(held[1])
        self._free.touch(agent)
        self._chats[held] = leg
        return held

    def _plan_leg(self, held: _Held, leg: Leg) -> None:
        """Plan what the agent does during the leg, and how it ends."""
        customer = leg.customer
        if customer.classify_during_chat:
            self._at(self._now + leg.seconds / 2, self._on_classify, held)
        if customer.abusive:
            self._at(self._now + leg.seconds / 3, self._on_flag, held)
        ends = self._on_transfer if leg.transfers else self._on_end
        self._at(self._now + leg.seconds, ends, held)

    def _on_end(self, held: _Held) -> None:
        customer = self._chats[held].customer
        self.service.end_chat(held[0], held[1], EndedBy.CUSTOMER)
        self._plan_wrap_up(held, customer)

    def _on_transfer(self, held: _Held) -> None:
        """The agent transfers the chat: to the longest-idle agent with room
        for it, or back to its queue; then wraps up their own leg."""
        leg = self._chats[held]
        customer = leg.customer
        rest = customer.chat_seconds - leg.seconds
        next_leg = Leg(customer, rest, self._now, leg.number + 1)
        taker = self._free.take(customer.queue, held[1])
        self._transfers += 1
        if taker is None:
            self._transfers_queued += 1
            self.service.transfer(*held, to_queue_id=customer.queue)
            self._waiting[customer.queue].append(next_leg)
        else:
            taken = self._hold(taker, next_leg)
            self.service.transfer(*held, to_agent_id=taker.agent_id)
            self._plan_leg(taken, next_leg)
        self._plan_wrap_up(held, customer)

    def _plan_wrap_up(self, held: _Held, customer: Customer) -> None:
        """Plan the agent's wrap-up of the leg that just ended."""
        if held not in self._chats:
            return  # no wrap-up: the leg was done at once
        wrap_up = self.policies.queues[customer.queue].wrap_up
        if customer.pauses:  # half-way through the work, before the rest
            pause_at = self._now + customer.classify_after / 2
            self._at(pause_at, self._on_pause, held)
        if customer.forgets and wrap_up.countdown is not None:
            return  # the countdown expires the wrap-up
        if customer.extends and wrap_up.countdown is not None:
            left = self.settings.extend_when_seconds_left
            when = self._now + max(0.0, wrap_up.countdown.total_seconds() - left)
            self._at(when, self._on_extend, held)
        if not customer.pauses:
            self._finish(held, customer, customer.classify_after)

    def _finish(self, held: _Held, customer: Customer, after: float) -> None:
        """Plan the rest of the agent's wrap-up work, done ``after`` seconds on."""
        wrap_up = self.policies.queues[customer.queue].wrap_up
        if customer.forgets and wrap_up.countdown is not None:
            return  # the countdown expires the wrap-up
        done = self._now + after
        if customer.forgets:  # no countdown: nothing ends it but the agent
            done += _FORGETFUL_AGENTS_REMEMBER_AFTER_SECONDS
        if not customer.classify_during_chat:
            self._at(done, self._on_classify, held)
        self._at(done + 1, self._on_complete, held)

    def _on_pause(self, held: _Held) -> None:
        """The agent pauses the wrap-up and comes back to it later; the rest
        of the work waits as long. A queue that forbids pausing refuses,
        and the agent carries on at once."""
        leg = self._chats.get(held)
        if leg is None:
            return
        customer = leg.customer
        away = customer.pause_seconds if self._act(held, self.service.pause) else 0
        if away:
            self._at(self._now + away, self._on_resume, held)
        self._finish(held, customer, customer.classify_after / 2 + away)

    def _on_resume(self, held: _Held) -> None:
        # Refused when the queue's pause allowance already resumed it.
        self._act(held, self.service.resume)

    def _on_break_due(self, agent_id: str) -> None:
        # Holding chats, this is the next status: it starts when the last
        # wrap-up ends. A break still pending or under way makes it a no-op.
        self.service.choose_presence(agent_id, Presence.BREAK)

    def _on_break_over(self, agent_id: str) -> None:
        self.service.choose_presence(agent_id, Presence.AVAILABLE)

    def _act(self, held: _Held, action: Callable[[str, str], object]) -> bool:
        if held not in self._chats:
            return False
        try:
            action(*held)
        except WrapUpError:
            return False
        return True

    def _on_classify(self, held: _Held) -> None:
        leg = self._chats.get(held)
        if leg is None:
            return
        customer = leg.customer
        choices = self.policies.queues[customer.queue].classification.choices
        if isinstance(choices, DropdownClassification):
            profile = self.policies.agent(runs.name_in_run(held[0]))
            live = choices.offered(profile.classification_profile)
            if not live:
                return
            value = {"code": live[int(customer.choice * len(live))].code}
        else:
            text = ("Order status", "Refund", "Complaint", "Other")
            value = {"text": text[int(customer.choice * len(text))]}
        self._act(held, lambda a, c: self.service.classify(a, c, **value))

    def _on_flag(self, held: _Held) -> None:
        self._act(held, lambda a, c: self.service.flag_abusive(a, c, "abusive"))

    def _on_extend(self, held: _Held) -> None:
        if self._act(held, self.service.extend):
            self._extensions += 1

    def _on_complete(self, held: _Held) -> None:
        self._act(held, self.service.complete)

    def _on_deadline(self, held: _Held) -> None:
        if held in self._chats:
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
            legs=self._legs,
            transfers=self._transfers,
            transfers_queued=self._transfers_queued,
            interrupted=interrupted,
        )
