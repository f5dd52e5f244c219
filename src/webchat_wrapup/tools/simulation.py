"""A discrete-event simulation of webchat traffic, through the real service.

Customers arrive per queue as a Poisson process and wait, first come first
served, until an agent with free capacity takes them (the longest-idle
agent first); they may abandon after a patience time. Agents classify,
extend, forget and flag as configured. Time comes from a manual clock moved
from event to event (nothing sleeps), and every action goes through
:class:`~webchat_wrapup.service.WrapUpService`, so the store ends up with
the contact history a real day would leave.

The traffic (arrivals, chat lengths, patience and each customer's agent
behaviour) is drawn up front from the seed, independently of the policy,
so two policies can be compared on exactly the same day.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import deque
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import attrs

from .._core._errors import InvalidPolicy, WrapUpError
from .._core._events import (
    Event,
    StatusChanged,
    WrapUpCompleted,
    WrapUpExtended,
    WrapUpStarted,
)
from .._core._history import EndedBy
from .._core._machine import Status
from .._core._policy import DropdownClassification
from ..clocks import ManualClock
from ..service import WrapUpService
from . import runs
from .policy_file import PolicyFile

DEFAULT_ARRIVALS_PER_HOUR = 60.0
"""The arrival rate of a queue that the settings give none."""

_FORGETFUL_AGENTS_REMEMBER_AFTER_SECONDS = 300.0
"""How late an agent who forgot completes a wrap-up that has no countdown."""

_Handler = Callable[[Any], None]


def _positive(name: str, most: float = 10.0**9) -> Callable[[Any, Any, float], None]:
    def check(_: Any, __: Any, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidPolicy(name, f"must be a number, not {value!r}")
        if not 0 < value <= most:
            raise InvalidPolicy(name, f"must be more than 0 and at most {most:g}")

    return check


def _share(name: str) -> Callable[[Any, Any, float], None]:
    def check(_: Any, __: Any, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidPolicy(name, f"must be a number, not {value!r}")
        if not 0 <= value <= 1:
            raise InvalidPolicy(name, f"must be between 0 and 1, not {value}")

    return check


@attrs.frozen
class SimulationSettings:
    """What the simulated day looks like; every field has a default."""

    agents: int = attrs.field(default=20, validator=_positive("agents", 10_000))
    hours: float = attrs.field(default=8.0, validator=_positive("hours", 24 * 366))
    seed: int = 1
    arrivals_per_hour: Mapping[str, float] = attrs.field(factory=dict)
    chat_length: str = "lognormal"
    chat_mean_seconds: float = attrs.field(
        default=300.0, validator=_positive("chat_mean_seconds")
    )
    patience_seconds: float = attrs.field(
        default=120.0, validator=_positive("patience_seconds")
    )
    service_level_seconds: float = attrs.field(
        default=20.0, validator=_positive("service_level_seconds")
    )
    classify_seconds: float = attrs.field(
        default=30.0, validator=_positive("classify_seconds")
    )
    classify_during_chat: float = attrs.field(
        default=0.5, validator=_share("classify_during_chat")
    )
    extend_share: float = attrs.field(default=0.2, validator=_share("extend_share"))
    extend_when_seconds_left: float = attrs.field(
        default=10.0, validator=_positive("extend_when_seconds_left", 3600)
    )
    forget_share: float = attrs.field(default=0.1, validator=_share("forget_share"))
    abuse_rate: float = attrs.field(default=0.01, validator=_share("abuse_rate"))

    def __attrs_post_init__(self) -> None:
        if self.chat_length not in ("exponential", "lognormal"):
            raise InvalidPolicy(
                "chat_length",
                f"must be exponential or lognormal, not {self.chat_length!r}",
            )
        agents: object = self.agents
        if isinstance(agents, bool) or not isinstance(agents, int):
            raise InvalidPolicy("agents", f"must be a whole number, not {agents!r}")
        for queue, rate in self.arrivals_per_hour.items():
            _positive(f"arrivals.{queue}")(None, None, rate)


@attrs.frozen
class Customer:
    """One customer's part of the day, drawn from the seed."""

    number: int
    queue: str
    arrives: float
    chat_seconds: float
    patience: float
    classify_during_chat: bool
    classify_after: float
    extends: bool
    forgets: bool
    abusive: bool
    choice: float


@attrs.frozen
class Results:
    """What a planner reads off a simulated day."""

    label: str
    offered: int
    answered: int
    abandoned: int
    service_level: float
    average_speed_of_answer: float
    abandonment: float
    occupancy: float
    wrap_up_share: float
    extensions: int
    expired: int
    history_entries: int
    interrupted: bool = False

    def rows(self) -> list[tuple[str, str]]:
        """The results as (name, formatted value) pairs, in print order."""
        return [
            ("customers offered", f"{self.offered}"),
            ("answered", f"{self.answered}"),
            ("abandoned", f"{self.abandoned} ({self.abandonment:.1%})"),
            ("service level", f"{self.service_level:.1%}"),
            ("average speed of answer", f"{self.average_speed_of_answer:.1f} s"),
            ("agent occupancy", f"{self.occupancy:.1%}"),
            ("agent time in wrap-up", f"{self.wrap_up_share:.1%}"),
            ("extensions used", f"{self.extensions}"),
            ("wrap-ups that expired", f"{self.expired}"),
            ("contact-history entries", f"{self.history_entries}"),
        ]


def draw_traffic(settings: SimulationSettings, queues: list[str]) -> list[Customer]:
    """Every customer of the day, in arrival order, from the settings' seed."""
    rng = random.Random(settings.seed)
    horizon = settings.hours * 3600
    customers: list[Customer] = []
    for queue in queues:
        rate = settings.arrivals_per_hour.get(queue, 0.0)
        t = 0.0
        while rate > 0:
            t += rng.expovariate(rate / 3600)
            if t >= horizon:
                break
            customers.append(_customer(rng, settings, queue, t))
    customers.sort(key=lambda c: (c.arrives, c.queue))
    return [attrs.evolve(c, number=n) for n, c in enumerate(customers, start=1)]


def _customer(
    rng: random.Random, settings: SimulationSettings, queue: str, t: float
) -> Customer:
    mean = settings.chat_mean_seconds
    if settings.chat_length == "exponential":
        length = rng.expovariate(1 / mean)
    else:
        sigma = 0.6
        length = rng.lognormvariate(math.log(mean) - sigma**2 / 2, sigma)
    return Customer(
        number=0,
        queue=queue,
        arrives=t,
        chat_seconds=max(5.0, length),
        patience=rng.expovariate(1 / settings.patience_seconds),
        classify_during_chat=rng.random() < settings.classify_during_chat,
        classify_after=rng.expovariate(1 / settings.classify_seconds),
        extends=rng.random() < settings.extend_share,
        forgets=rng.random() < settings.forget_share,
        abusive=rng.random() < settings.abuse_rate,
        choice=rng.random(),
    )


@attrs.define
class _Agent:
    agent_id: str
    capacity: int
    chats: set[str] = attrs.field(factory=set)
    free_since: float = 0.0
    stamp: int = 0
    """Moves on whenever ``chats`` or ``free_since`` change: older entries
    for this agent in the free-agent heap are stale."""
    status: Status = Status.AVAILABLE
    status_since: float = 0.0
    busy_seconds: float = 0.0
    wrap_up_seconds: float = 0.0


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
        self._now = 0.0
        self._last_change = 0.0
        service.subscribe(self._hear)

    def _at(self, seconds: float, handler: _Handler, payload: Any) -> None:
        # The counter breaks ties, so handlers are never compared.
        heapq.heappush(self._events, (seconds, next(self._order), handler, payload))

    def run_day(self, customers: list[Customer]) -> Results:
        """Play the day; stops cleanly (results so far) on Ctrl-C."""
        for number in range(1, self.settings.agents + 1):
            self._add_agent(runs.agent_id(self.run, number))
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
        return self._results(customers, interrupted)

    def _add_agent(self, agent: str) -> None:
        settings = self.policies.agent(runs.name_in_run(agent))
        self.service.add_agent(
            agent,
            capacity=settings.capacity,
            classification_profile=settings.classification_profile,
        )
        self._agents[agent] = _Agent(agent, settings.capacity)
        self._touch(self._agents[agent])

    # Events from the service: who is free, what expired.

    def _hear(self, event: Event) -> None:
        agent = self._agents.get(event.agent_id)
        if agent is None:
            return
        at = (event.at - runs.EPOCH).total_seconds()
        if isinstance(event, StatusChanged):
            self._account(agent, at)
            agent.status = event.status
            self._last_change = max(self._last_change, at)
        elif isinstance(event, (WrapUpStarted, WrapUpExtended)):
            if event.deadline is not None:
                offset = (event.deadline - runs.EPOCH).total_seconds()
                self._at(offset, self._on_deadline, event.chat_id)
        elif isinstance(event, WrapUpCompleted):
            agent.chats.discard(event.chat_id)
            self._chats.pop(event.chat_id, None)
            self._history += 1
            if event.ending.value.startswith("expired"):
                self._expired += 1
            if not agent.chats:
                agent.free_since = at
            self._touch(agent)
            self._at(self._now, self._on_dispatch, None)

    def _account(self, agent: _Agent, until: float) -> None:
        spent = until - agent.status_since
        if agent.status is not Status.AVAILABLE:
            agent.busy_seconds += spent
        if agent.status is Status.WRAP_UP:
            agent.wrap_up_seconds += spent
        agent.status_since = until

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
        if customer.forgets and wrap_up.countdown is not None:
            return  # the countdown expires the wrap-up
        done = self._now + customer.classify_after
        if customer.forgets:  # no countdown: nothing ends it but the agent
            done += _FORGETFUL_AGENTS_REMEMBER_AFTER_SECONDS
        if customer.extends and wrap_up.countdown is not None:
            left = self.settings.extend_when_seconds_left
            when = self._now + max(0.0, wrap_up.countdown.total_seconds() - left)
            self._at(when, self._on_extend, chat_id)
        if not customer.classify_during_chat:
            self._at(done, self._on_classify, chat_id)
        self._at(done + 1, self._on_complete, chat_id)

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

    def _results(self, customers: list[Customer], interrupted: bool) -> Results:
        measured = self._measured_seconds(interrupted)
        for agent in self._agents.values():
            self._account(agent, measured)
        answered = len(self._waits)
        threshold = self.settings.service_level_seconds
        within = sum(1 for wait in self._waits if wait <= threshold)
        offered = answered + self._abandoned
        agent_time = max(measured, 1e-9) * len(self._agents)
        busy = sum(a.busy_seconds for a in self._agents.values())
        wrap = sum(a.wrap_up_seconds for a in self._agents.values())
        return Results(
            label=self.policies.source,
            offered=offered,
            answered=answered,
            abandoned=self._abandoned,
            service_level=within / offered if offered else 1.0,
            average_speed_of_answer=sum(self._waits) / answered if answered else 0.0,
            abandonment=self._abandoned / offered if offered else 0.0,
            occupancy=busy / agent_time,
            wrap_up_share=wrap / agent_time,
            extensions=self._extensions,
            expired=self._expired,
            history_entries=self._history,
            interrupted=interrupted,
        )


def settings_from(
    section: Mapping[str, Any], overrides: Mapping[str, Any], queues: list[str]
) -> SimulationSettings:
    """Settings from a ``[simulation]`` section, then command-line overrides."""
    known = {field.name for field in attrs.fields(SimulationSettings)}
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key == "arrivals":
            if not isinstance(value, dict):
                raise InvalidPolicy("simulation.arrivals", "must be a table")
            values["arrivals_per_hour"] = dict(value)
        elif key in known and key != "arrivals_per_hour":
            values[key] = value
        else:
            raise InvalidPolicy(f"simulation.{key}", "unknown key")
    values.update({k: v for k, v in overrides.items() if v is not None})
    arrivals = values.setdefault("arrivals_per_hour", {})
    for queue in arrivals:
        if queue not in queues:
            raise InvalidPolicy(f"simulation.arrivals.{queue}", "no such queue")
    for queue in queues:
        arrivals.setdefault(queue, DEFAULT_ARRIVALS_PER_HOUR)
    return SimulationSettings(**values)
