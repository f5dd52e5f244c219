"""A Hypothesis state machine that compares any store with the in-memory one.

Subclass :class:`StoreComparison`, override :meth:`make_store`, and expose
its ``TestCase``::

    class MyStoreComparison(StoreComparison):
        def make_store(self):
            return MyStore(...)

    TestMyStoreComparison = MyStoreComparison.TestCase

Two services, one over your store and one over
:class:`~webchat_wrapup.stores.MemoryStore`, share one manual clock and get
the same commands (some with command ids, some repeated), transfers from
agent to agent, changes to agents' settings, retirements and erasures of
customers. After every step their outcomes, errors, views, histories,
sweeps and erasure records must be identical.

Erasure is also checked against its promise, not only against the
reference: once a customer is erased, no contact-history entry of theirs
is left (in their history or in
:meth:`~webchat_wrapup.ports.Store.all_history`), no command record that
held their data can be found, everything else is still there, and an
:class:`~webchat_wrapup.ports.ErasureRecord` says how much was deleted. An
erasure refused because an agent still holds one of their chats
(``customer_chat_held``) deletes nothing and records nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from .._core._commands import AssignChat, Command, CompleteWrapUp, EndChat
from .._core._decide import effective_state
from .._core._errors import ErrorCode, WrapUpError
from .._core._policy import QueuePolicy, WrapUpPolicy
from ..clocks import ManualClock
from ..ports import Change, CommandRecord, ErasureRecord, Store
from ..service import KEEP, WrapUpService
from ..stores.memory import MemoryStore
from .contract import T0
from .strategies import commands, queue_policies

AGENTS = ("agent-1", "agent-2")
CUSTOMERS = ("cust-1", "cust-2")
_NEVER_SEEN = "cust-9"
"""A customer no command names: erasing them deletes nothing."""
_CHATS = ("chat-1", "chat-2", "chat-3")
_PROFILES = (KEEP, None, ("refund",), ("refund", "late", "other"))
_ERASED_BY = "privacy-desk"
_PLAIN_QUEUES = st.sampled_from(
    [QueuePolicy("sales"), QueuePolicy("support", WrapUpPolicy(enabled=False))]
)
"""Queues whose chats a plain assign, end and complete see through."""


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

    def make_service(self, store: Store, clock: ManualClock) -> Any:
        """Override to test another face of the service over ``store``: an
        object with :class:`~webchat_wrapup.service.WrapUpService`'s
        methods, blocking, and its ``store`` (such as an
        :class:`~webchat_wrapup.aio.AsyncWrapUpService` whose calls are run
        to their end; see :class:`~webchat_wrapup.testing.BlockingStore`)."""
        return WrapUpService(store, clock)

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(T0)
        self.tested_store = self.make_store()
        self.tested = self.make_service(self.tested_store, self.clock)
        self.reference = WrapUpService(MemoryStore(), self.clock)
        self.command_ids: list[str] = []
        self.added: set[str] = set()
        self.records: dict[str, tuple[CommandRecord, tuple[str, ...]]] = {}
        """Each command record saved, by command id, with the customers whose
        data it holds (whom a store must keep it findable by)."""

    def both(self, call: Any) -> tuple[str, Any]:
        expected = _run(lambda: call(self.reference))
        actual = _run(lambda: call(self.tested))
        assert actual == expected, f"store gave {actual}, reference {expected}"
        return actual

    def command_id(self, data: st.DataObject, with_id: bool, reuse: bool) -> str | None:
        """None, a new command id, or one used before (a retry, or a reuse
        with another command)."""
        if reuse and self.command_ids:
            return data.draw(st.sampled_from(self.command_ids))
        if not with_id:
            return None
        command_id = f"cmd-{len(self.command_ids)}"
        self.command_ids.append(command_id)
        return command_id

    def note_record(self, command_id: str | None) -> None:
        """Note whose data the command's record holds, worked out from the
        state the command left, as the store worked it out when saving."""
        if command_id is None:
            return
        store = self.reference.store
        record = store.find_command(command_id)
        noted = self.records.get(command_id)
        if record is None or (noted is not None and noted[0] == record):
            return  # no record, or a replay of the one noted
        stored = store.load(record.agent_id)
        assert stored is not None, "a command was recorded for an unknown agent"
        change = Change(record.agent_id, 0, stored.state, command=record)
        self.records[command_id] = (record, change.record_customer_ids())

    @initialize(capacities=st.tuples(st.integers(1, 3), st.integers(1, 3)))
    def add_agents(self, capacities: tuple[int, int]) -> None:
        for agent_id, capacity in zip(AGENTS, capacities, strict=True):
            self.add_agent(agent_id, capacity)

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
        command_id = self.command_id(command, with_id, reuse)
        self.both(lambda service: service.execute(drawn, command_id=command_id))
        self.note_record(command_id)

    @precondition(lambda self: bool(self.added))
    @rule(
        agent=st.sampled_from(AGENTS),
        chat=st.sampled_from(_CHATS),
        customer=st.sampled_from(CUSTOMERS),
        queue=_PLAIN_QUEUES | queue_policies(),
        steps=st.integers(1, 3),
        data=st.data(),
        with_id=st.booleans(),
    )
    def serve_customer(
        self,
        agent: str,
        chat: str,
        customer: str,
        queue: Any,
        steps: int,
        data: st.DataObject,
        with_id: bool,
    ) -> None:
        """A chat the usual way: assigned, then perhaps ended, then perhaps
        completed, so that customers have histories and records to erase."""
        day = (
            AssignChat(agent, chat, customer, queue),
            EndChat(agent, chat),
            CompleteWrapUp(agent, chat),
        )
        for command in day[:steps]:
            command_id = self.command_id(data, with_id, reuse=False)
            self.both(
                lambda service, c=command, i=command_id: service.execute(
                    c, command_id=i
                )
            )
            self.note_record(command_id)

    @precondition(lambda self: bool(self.added))
    @rule(
        agent=st.sampled_from(AGENTS),
        to_agent=st.booleans(),
        queue=st.none() | queue_policies(),
        data=st.data(),
        with_id=st.booleans(),
        reuse=st.booleans(),
    )
    def transfer(
        self,
        agent: str,
        to_agent: bool,
        queue: Any,
        data: st.DataObject,
        with_id: bool,
        reuse: bool,
    ) -> None:
        """To the other agent (under its own queue policy or ``queue``),
        both agents saved in one transaction; or back to a queue. Half the
        time the chat is one the agent holds, if it holds any."""
        stored = self.reference.store.load(agent)
        held = [] if stored is None else [c.chat_id for c in stored.state.chats]
        chats = st.sampled_from(_CHATS)
        chat = data.draw(st.sampled_from(held) | chats if held else chats)
        other = AGENTS[1 - AGENTS.index(agent)]
        target = {"to_agent_id": other} if to_agent else {"to_queue_id": "sales"}
        command_id = self.command_id(data, with_id, reuse)
        self.both(
            lambda service: service.transfer(
                agent,
                chat,
                **target,
                queue=queue if to_agent else None,
                command_id=command_id,
            )
        )
        self.note_record(command_id)

    @precondition(lambda self: bool(self.added))
    @rule(
        agent_id=st.sampled_from(AGENTS),
        capacity=st.just(KEEP) | st.integers(0, 3),
        profile=st.sampled_from(_PROFILES),
    )
    def update_agent(self, agent_id: str, capacity: Any, profile: Any) -> None:
        self.both(
            lambda service: service.update_agent(
                agent_id, capacity=capacity, classification_profile=profile
            )
        )

    @precondition(lambda self: bool(self.added))
    @rule(agent_id=st.sampled_from(AGENTS))
    def retire_agent(self, agent_id: str) -> None:
        self.both(lambda service: service.retire_agent(agent_id))

    @precondition(lambda self: bool(self.added))
    @rule(customer_id=st.sampled_from((*CUSTOMERS, _NEVER_SEEN)))
    def erase_customer(self, customer_id: str) -> None:
        customers = {cid: named for cid, (_, named) in self.records.items()}
        before = _Kept(self.tested, customers)
        kind, receipt = self.both(
            lambda service: _receipt(
                service.erase_customer(customer_id, erased_by=_ERASED_BY)
            )
        )
        after = _Kept(self.tested, customers)
        now = self.clock.now()
        if kind == "error":
            assert receipt is ErrorCode.CUSTOMER_CHAT_HELD, receipt
            assert after.holders_of(customer_id, now), "refused, yet nobody holds"
            before.check_nothing_erased(after, now)
            return
        before.check_erased(after, customer_id, receipt)
        for command_id in before.records_of(customer_id):
            del self.records[command_id]  # its id may be recorded afresh

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

    @invariant()
    def erasure_records_agree(self) -> None:
        # Erasures made at one instant are ordered by their ids, which each
        # service draws afresh: compare them as sets of receipts.
        self.both(lambda service: sorted(_receipt(e) for e in service.erasures()))

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


def _receipt(erasure: ErasureRecord) -> tuple[Any, ...]:
    """An erasure record without its id, which each service draws afresh."""
    return (
        erasure.erased_at,
        erasure.erased_by,
        erasure.history_entries,
        erasure.command_records,
    )


class _Kept:
    """What a store keeps that an erasure may delete, read at one moment."""

    def __init__(
        self, service: WrapUpService, customers: dict[str, tuple[str, ...]]
    ) -> None:
        store = service.store
        self.history = list(store.all_history())
        self.pages = {c: _all_history(service, c) for c in (*CUSTOMERS, _NEVER_SEEN)}
        self.records = {
            command_id: named
            for command_id, named in customers.items()
            if store.find_command(command_id) is not None
        }
        self.erasures = store.erasures()
        self.states = {agent_id: store.load(agent_id) for agent_id in AGENTS}

    def records_of(self, customer_id: str) -> set[str]:
        """The command ids whose records hold the customer's data."""
        return {cid for cid, named in self.records.items() if customer_id in named}

    def chats_of(self, customer_id: str) -> int:
        """How many chats of the customer the stored agents hold."""
        return sum(
            1
            for stored in self.states.values()
            if stored is not None
            for chat in stored.state.chats
            if chat.customer_id == customer_id
        )

    def holders_of(self, customer_id: str, now: datetime) -> list[str]:
        """The agents holding a chat of the customer once due wrap-ups have
        expired (as an erasure makes them expire before it decides)."""
        return [
            agent_id
            for agent_id, stored in self.states.items()
            if stored is not None
            and any(
                chat.customer_id == customer_id
                for chat in effective_state(stored.state, now).chats
            )
        ]

    def check_nothing_erased(self, after: _Kept, now: datetime) -> None:
        """A refused erasure deleted nothing and recorded nothing. Due
        wrap-ups it made expire on the way add entries, as a sweep would,
        and leave what each agent holds now as it was."""
        assert after.erasures == self.erasures
        assert all(entry in after.history for entry in self.history)
        assert after.records == self.records
        for agent_id, stored in self.states.items():
            later = after.states[agent_id]
            assert (stored is None) is (later is None)
            if stored is not None and later is not None:
                was = effective_state(stored.state, now)
                assert effective_state(later.state, now) == was

    def check_erased(
        self, after: _Kept, customer_id: str, receipt: tuple[Any, ...]
    ) -> None:
        """Nothing of the customer is left, everything else is, and one new
        erasure record says how much went."""
        assert not after.chats_of(customer_id), "erased while a chat is held"
        assert not [e for e in after.history if e.customer_id == customer_id]
        assert after.pages[customer_id] == []
        kept = [e for e in self.history if e.customer_id != customer_id]
        assert all(entry in after.history for entry in kept)
        theirs = self.records_of(customer_id)
        assert set(after.records) == set(self.records) - theirs
        (new,) = [e for e in after.erasures if e not in self.erasures]
        assert _receipt(new) == receipt
        # The entries of the customer's wrap-ups that were due, and expired
        # just before the erasure, were deleted too.
        gone = len(self.history) - len(kept) + self.chats_of(customer_id)
        assert (new.erased_by, new.history_entries) == (_ERASED_BY, gone)
        assert new.command_records == len(theirs)
