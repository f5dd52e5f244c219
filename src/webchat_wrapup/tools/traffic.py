"""What a simulated day looks like: its settings, and the traffic drawn from them.

The traffic (arrivals, chat lengths, patience and each customer's agent
behaviour) is drawn up front from the seed, independently of the policy,
so two policies can be compared on exactly the same day. The break
schedule is a pure function of the settings, so it is the same for both.
Which chats are transferred is drawn with the rest.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .._core._errors import InvalidPolicy

DEFAULT_ARRIVALS_PER_HOUR = 60.0
"""The arrival rate of a queue that the settings give none."""

MAX_BREAKS = 100
"""The most breaks per agent a day may hold."""


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


def _part(name: str) -> Callable[[Any, Any, float], None]:
    def check(_: Any, __: Any, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidPolicy(name, f"must be a number, not {value!r}")
        if not 0 < value < 1:
            raise InvalidPolicy(
                name, f"must be more than 0 and less than 1, not {value}"
            )

    return check


def _count(name: str, most: int) -> Callable[[Any, Any, int], None]:
    def check(_: Any, __: Any, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidPolicy(name, f"must be a whole number, not {value!r}")
        if not 0 <= value <= most:
            raise InvalidPolicy(name, f"must be between 0 and {most}, not {value}")

    return check


@attrs.frozen
class SimulationSettings:
    """What the simulated day looks like; every field has a default.

    Pauses, breaks and transfers are off by default (``pause_share`` 0,
    ``breaks`` 0, ``transfer_share`` 0); a day that uses none of them is
    the day drawn before they existed.
    """

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
    pause_share: float = attrs.field(default=0.0, validator=_share("pause_share"))
    pause_seconds: float = attrs.field(
        default=60.0, validator=_positive("pause_seconds", 24 * 3600)
    )
    breaks: int = attrs.field(default=0, validator=_count("breaks", MAX_BREAKS))
    break_minutes: float = attrs.field(
        default=15.0, validator=_positive("break_minutes", 24 * 60)
    )
    transfer_share: float = attrs.field(default=0.0, validator=_share("transfer_share"))
    transfer_after: float = attrs.field(default=0.5, validator=_part("transfer_after"))
    """The part of a transferred chat's length that its first leg takes."""

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
        if self.breaks and self.break_minutes * 60 >= self.break_gap_seconds:
            raise InvalidPolicy(
                "break_minutes",
                f"{self.breaks} break(s) of {self.break_minutes:g} minutes do not "
                f"fit in {self.hours:g} hours; each must be shorter than "
                f"{self.break_gap_seconds / 60:g} minutes",
            )

    @property
    def break_gap_seconds(self) -> float:
        """The time between one agent's breaks: the day split in equal parts."""
        return self.hours * 3600 / max(self.breaks, 1)


def break_starts(settings: SimulationSettings, agent_number: int) -> list[float]:
    """When the ``agent_number``-th agent (from 1) chooses each break, in
    seconds into the day.

    The day is split in ``breaks`` equal parts; within each part the agents
    choose their breaks one after the other, evenly spaced, so that the
    team never goes on break all at once, and early enough that a break
    taken at once ends within its part.
    """
    gap = settings.break_gap_seconds
    window = gap - settings.break_minutes * 60
    offset = window * (agent_number - 0.5) / settings.agents
    return [gap * part + offset for part in range(settings.breaks)]


@attrs.frozen
class Customer:
    """One customer's part of the day, drawn from the seed.

    ``pauses`` says whether the agent pauses this chat's wrap-up, and
    ``pause_seconds`` for how long; ``transfers`` whether the first agent
    transfers the chat.
    """

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
    pauses: bool = False
    pause_seconds: float = 0.0
    transfers: bool = False


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
    # Pauses and transfers come from streams of their own: drawing them
    # from ``rng`` would change every customer drawn before they existed.
    pauses = random.Random(f"pauses-{settings.seed}")
    transfers = random.Random(f"transfers-{settings.seed}")
    return [
        attrs.evolve(
            c,
            number=n,
            pauses=pauses.random() < settings.pause_share,
            pause_seconds=pauses.expovariate(1 / settings.pause_seconds),
            transfers=transfers.random() < settings.transfer_share,
        )
        for n, c in enumerate(customers, start=1)
    ]


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
