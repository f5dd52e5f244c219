"""A Hypothesis state machine that compares any store with the in-memory one.

Subclass :class:`StoreComparison`, override :meth:`make_store`, and expose
its ``TestCase``::

    class MyStoreComparison(StoreComparison):
        def make_store(self):
            return MyStore(...)

    TestMyStoreComparison = MyStoreComparison.TestCase

Two services, one over your store and one over
:class:`~webchat_wrapup.stores.MemoryStore`, share one manual clock and get
the same commands (some with command ids, some repeated). After every step
their outcomes, errors, views, histories and sweeps must be identical.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from .._core._commands import Command
from .._core._errors import WrapUpError
from ..clocks import ManualClock
from ..ports import Store
from ..service import WrapUpService
from ..stores.memory import MemoryStore
from .contract import T0
from .strategies import commands

AGENTS = ("agent-1", "agent-2")
CUSTOMERS = ("cust-1", "cust-2")


def _run(call: Any) -> tuple[str, Any]:
    try:
        return ("ok", call())
    except WrapUpError as error:
        return ("error", error.code)


class StoreComparison(RuleBasedStateMachine):
    """Drives a store under test and the reference store in lock step."""

    def make_store(self) -> Store:
        """Override: a fresh, empty store to test."""
        raise NotImplementedError("override make_store")

    def close_store(self, store: Store) -> None:
        """Override if the store needs closing; called after each run."""
        close = getattr(store, "close", None)
        if close is not None:
            close()

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(T0)
        self.tested_store = self.make_store()
        self.tested = WrapUpService(self.tested_store, self.clock)
        self.reference = WrapUpService(MemoryStore(), self.clock)
        self.command_ids: list[str] = []
        self.added: set[str] = set()

    def both(self, call: Any) -> tuple[str, Any]:
        expected = _run(lambda: call(self.reference))
        actual = _run(lambda: call(self.tested))
        assert actual == expected, f"store gave {actual}, reference {expected}"
        return actual

    @rule(agent_id=st.sampled_from(AGENTS), capacity=st.integers(1, 3))
    def add_agent(self, agent_id: str, capacity: int) -> None:
        self.both(lambda service: service.add_agent(agent_id, capacity=capacity))
        self.added.add(agent_id)

    @precondition(lambda self: bool(self.added))
    @rule(
        agent=st.sampled_from(AGENTS),
        command=st.data(),
        with_id=st.booleans(),
        reuse=st.booleans(),
    )
    def execute(
        self, agent: str, command: st.DataObject, with_id: bool, reuse: bool
    ) -> None:
        drawn: Command = command.draw(commands(agent_id=agent, deadline_start=T0))
        command_id = None
        if reuse and self.command_ids:
            command_id = command.draw(st.sampled_from(self.command_ids))
        elif with_id:
            command_id = f"cmd-{len(self.command_ids)}"
            self.command_ids.append(command_id)
        self.both(lambda service: service.execute(drawn, command_id=command_id))

    @rule(seconds=st.integers(0, 150))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule(seconds=st.integers(1, 20))
    def clock_jumps_back(self, seconds: int) -> None:
        self.clock.set(self.clock.now() - timedelta(seconds=seconds))

    @rule(limit=st.integers(1, 3))
    def sweep(self, limit: int) -> None:
        self.both(lambda service: service.sweep(limit).expired)

    @invariant()
    def views_agree(self) -> None:
        for agent_id in AGENTS:
            self.both(lambda service, a=agent_id: service.view(a).to_dict())

    @invariant()
    def stored_states_agree(self) -> None:
        for agent_id in AGENTS:
            self.both(lambda service, a=agent_id: service.store.load(a))

    @invariant()
    def histories_agree(self) -> None:
        for customer_id in CUSTOMERS:
            self.both(lambda service, c=customer_id: _all_history(service, c))

    def teardown(self) -> None:
        self.close_store(self.tested_store)


def _all_history(service: WrapUpService, customer_id: str) -> list[Any]:
    entries: list[Any] = []
    cursor = None
    while True:
        page = service.history(customer_id, cursor=cursor, limit=2)
        entries.extend(page.entries)
        cursor = page.next_cursor
        if cursor is None:
            return entries
