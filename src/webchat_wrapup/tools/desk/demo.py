"""Live traffic for ``webchat-wrapup desk --demo``.

The day of :mod:`webchat_wrapup.tools.simulation` played in real time:
its manual clock waits for the wall clock before each step (a
:class:`PacedClock`), so simulated agents take chats, classify, extend,
pause, forget and flag while the pages look on. One more agent, *you*
(``<run>:you``), is given chats by a small router of its own and left for
the person at the desk to wrap up.

Simulated time starts where the simulation's day does
(:data:`webchat_wrapup.tools.runs.EPOCH`, 09:00 UTC) and runs at the wall
clock's pace; the desk server reads the same :class:`DemoClock`, so every
countdown on the pages is the store's own.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import random
import threading
import time
from datetime import datetime, timedelta

from ..._core._errors import WrapUpError
from ..._core._history import EndedBy
from ..._core._instants import utc_instant
from ..._core._machine import Presence
from ...clocks import ManualClock
from ...service import WrapUpService
from ...stores.sqlite import SQLiteStore
from .. import runs
from ..policy_file import PolicyFile, parse_policy_file
from ..simulation import Simulation, draw_traffic, settings_from

logger = logging.getLogger(__name__)

DEMO_POLICY = {
    "defaults": {
        "classification": "dropdown",
        "countdown_seconds": 45,
        "extension_seconds": 30,
        "max_extensions": 3,
        "on_expiry": "apply_default",
        "timeout_default": "other",
        "options": [
            {"code": "billing-refund", "label": "Refund", "group": "Billing"},
            {"code": "billing-invoice", "label": "Invoice query", "group": "Billing"},
            {"code": "delivery-late", "label": "Late delivery", "group": "Delivery"},
            {"code": "delivery-damaged", "label": "Damaged item", "group": "Delivery"},
            {"code": "account-login", "label": "Cannot log in", "group": "Account"},
            {"code": "other", "label": "Other"},
        ],
    },
    "queues": {
        "sales": {"capacity": 2},
        "support": {"classification": "free_text", "timeout_default": "Other"},
    },
    "simulation": {
        "agents": 10,
        "hours": 8,
        "chat_mean_seconds": 40,
        "patience_seconds": 120,
        "classify_seconds": 15,
        "extend_share": 0.3,
        "extend_when_seconds_left": 10,
        "forget_share": 0.15,
        "abuse_rate": 0.05,
        "pause_share": 0.1,
        "pause_seconds": 15,
        "arrivals": {"sales": 330, "support": 270},
    },
}
"""Two queues (a dropdown and free text), short chats, a lively day."""

YOUR_CAPACITY = 2
YOUR_CHAT_SECONDS = (15.0, 35.0)
"""How long the customers of your chats talk before they leave."""
YOUR_GAP_SECONDS = (5.0, 15.0)
"""How long your router waits after a chat ends before it offers another."""


class DemoStopped(Exception):
    """The demo was stopped while its simulation waited for the wall clock."""


class DemoClock:
    """Simulated time moving at the wall clock's pace from ``start``."""

    def __init__(self, start: datetime) -> None:
        self._start = utc_instant(start)
        self._started = time.monotonic()

    def now(self) -> datetime:
        """``start`` plus the wall-clock time since the clock was made."""
        return self._start + timedelta(seconds=time.monotonic() - self._started)


class PacedClock(ManualClock):
    """A simulation's manual clock that is set no sooner than ``live`` says.

    :meth:`set` waits until ``live`` reaches the instant (or raises
    :class:`DemoStopped` once ``stop`` is set), so the simulation acts in
    real time without knowing it.
    """

    def __init__(self, live: DemoClock, stop: threading.Event) -> None:
        super().__init__(live.now())
        self._live = live
        self._stop = stop

    def set(self, instant: datetime) -> None:
        """Wait for the live clock to reach ``instant``, then move to it."""
        ahead = (utc_instant(instant) - self._live.now()).total_seconds()
        if self._stop.wait(max(ahead, 0.0)) or self._stop.is_set():
            raise DemoStopped
        super().set(instant)


def demo_policies() -> PolicyFile:
    """The demo's two queues and its day."""
    return parse_policy_file(DEMO_POLICY, "desk demo")


class Demo:
    """The demo's traffic in two threads, against ``store``."""

    def __init__(self, store: SQLiteStore, seed: int | None = None) -> None:
        self.store = store
        self.clock = DemoClock(runs.EPOCH)
        self.stop = threading.Event()
        self.policies = demo_policies()
        self.seed = random.randrange(1, 10_000) if seed is None else seed
        self.run = runs.next_run_label(
            self.seed, lambda agent: store.load(agent) is not None
        )
        self.you = f"{self.run}:you"
        self.service = WrapUpService(store, self.clock)
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Add *you*, then start the simulated day and your router."""
        self.service.add_agent(self.you, capacity=YOUR_CAPACITY, exist_ok=True)
        for work in (self._simulate, self._route_yours):
            thread = threading.Thread(target=work, name=f"demo-{work.__name__}")
            thread.daemon = True
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        """Stop both threads and wait for them."""
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _simulate(self) -> None:
        queues = sorted(self.policies.queues)
        settings = settings_from(self.policies.simulation, {"seed": self.seed}, queues)
        service = WrapUpService(self.store, PacedClock(self.clock, self.stop))
        simulation = Simulation(service, self.policies, settings, run=self.run)
        try:
            simulation.run_day(draw_traffic(settings, queues))
        except DemoStopped:
            return
        except WrapUpError as error:
            logger.warning("the simulated traffic stopped: %s", error.message)

    def _route_yours(self) -> None:
        """Offer *you* a chat whenever there is room, end it a little later,
        and sweep due wrap-ups (everyone's) every second."""
        numbers = itertools.count(1)
        rng = random.Random(self.seed)
        ends: dict[str, float] = {}
        next_offer = 0.0
        queues = sorted(self.policies.queues)
        while not self.stop.wait(1.0):
            now = time.monotonic()
            try:
                self.service.sweep()
                for chat_id in [c for c, at in ends.items() if at <= now]:
                    del ends[chat_id]
                    self._end_yours(chat_id)
                if now >= next_offer and self._has_room():
                    number = next(numbers)
                    chat_id = f"{self.run}:you-chat-{number}"
                    queue = queues[number % len(queues)]
                    self.service.assign(
                        self.you,
                        chat_id,
                        f"{self.run}:you-cust-{number}",
                        self.policies.queues[queue],
                    )
                    ends[chat_id] = now + rng.uniform(*YOUR_CHAT_SECONDS)
                    next_offer = now + rng.uniform(*YOUR_GAP_SECONDS)
            except WrapUpError as error:
                logger.info("the demo router: %s", error.message)

    def _end_yours(self, chat_id: str) -> None:
        with contextlib.suppress(WrapUpError):  # you ended or transferred it first
            self.service.end_chat(self.you, chat_id, EndedBy.CUSTOMER)

    def _has_room(self) -> bool:
        stored = self.store.load(self.you)
        if stored is None:
            return False
        state = stored.state
        return (
            len(state.chats) < state.capacity
            and state.presence is Presence.AVAILABLE
            and state.next_presence in (None, Presence.AVAILABLE)
        )
