"""The ports: the only ways the library reaches the outside world.

An integrator writes an adapter for either from this module alone. The
library ships :class:`~webchat_wrapup.clocks.SystemClock` and
:class:`~webchat_wrapup.clocks.ManualClock`, and three stores: in memory,
SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import attrs

from ._core._agent import AgentState
from ._core._errors import CommandRefused, ErrorCode, WrapUpError
from ._core._events import Event, event_to_dict
from ._core._history import ContactHistoryEntry


@runtime_checkable
class Clock(Protocol):
    """Where the service gets the time."""

    def now(self) -> datetime:
        """The current instant, as an aware UTC datetime."""


@attrs.frozen
class StoredAgent:
    """An agent's state as stored, with the version it was stored at."""

    state: AgentState
    version: int


@attrs.frozen
class Outcome:
    """What one command did: the agent's new version, its events and entries.

    ``replayed`` is true when a retried command id returned the first run's
    outcome without doing anything again.
    """

    agent_id: str
    version: int
    events: tuple[Event, ...] = ()
    history: tuple[ContactHistoryEntry, ...] = ()
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready data: events and entries as their own JSON forms."""
        return {
            "agent_id": self.agent_id,
            "version": self.version,
            "events": [event_to_dict(event) for event in self.events],
            "history": [entry.to_dict() for entry in self.history],
            "replayed": self.replayed,
        }


@attrs.frozen
class CommandRecord:
    """What a command carrying a command id did, kept for retries.

    ``fingerprint`` identifies the command's content, so the same id sent
    with a different command is refused; ``outcome`` is what the first run
    did.
    """

    command_id: str
    agent_id: str
    fingerprint: str
    outcome: Outcome
    recorded_at: datetime | None = None
    """When the command ran (the service's clock); records are pruned by it."""


@attrs.frozen
class StoredEvent:
    """An event as the store's feed keeps it, at its position.

    Positions grow in commit order across the whole store (every agent),
    with gaps allowed: a reader that asks for the events after the last
    position it saw never misses one and never sees one twice.
    """

    position: int
    recorded_at: datetime
    event: Event

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready data, the event in its own JSON form."""
        return {
            "position": self.position,
            "recorded_at": self.recorded_at.isoformat(),
            "event": event_to_dict(self.event),
        }


@attrs.frozen
class HistoryChange:
    """A contact-history entry at its position in the history's change
    feed: the order entries were committed in, across every customer (an
    expiry a sweeper writes late comes after the entries written before
    it, whatever its deadline)."""

    position: int
    entry: ContactHistoryEntry

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready data, the entry as its own ``to_dict()``."""
        return {"position": self.position, "entry": self.entry.to_dict()}


@attrs.frozen
class Change:
    """One atomic write: all of it is saved, or none of it.

    ``expected_version`` is the version the state was loaded at (0 for an
    agent not stored yet); the store writes ``state`` at
    ``expected_version + 1``, except that an agent added again after it was
    retired goes on from the version it was retired at (see
    :meth:`Store.retire`).
    """

    agent_id: str
    expected_version: int
    state: AgentState
    history: tuple[ContactHistoryEntry, ...] = ()
    command: CommandRecord | None = None
    events: tuple[Event, ...] = ()
    """What the change announces; the store appends them to its event feed
    in the same transaction, each at the next position."""
    recorded_at: datetime | None = None
    """When the change was made (the service's clock); the feed's events
    are kept by it and pruned after the event retention."""

    def record_customer_ids(self) -> tuple[str, ...]:
        """The customers whose data the command record carries, sorted.

        Every customer its outcome names (an assign, a completed wrap-up, a
        history entry), and the customer of every chat its events name: an
        event such as a classification names only the chat, whose customer
        is in the new state (or, for a chat the command finished, in its
        completion). One command may name several customers, since due
        expiries of other chats come first. A store keeps the record
        findable by each of them, so that erasing a customer removes it.
        """
        record = self.command
        if record is None:
            return ()
        outcome = record.outcome
        customer_of = _customers_by_chat(self.state, outcome.history, outcome.events)
        named = {entry.customer_id for entry in outcome.history}
        for event in outcome.events:
            customer = customer_of.get(getattr(event, "chat_id", None) or "")
            if customer is not None:
                named.add(customer)
        return tuple(sorted(named))

    def event_customer_ids(self) -> tuple[str | None, ...]:
        """The customer of each of :attr:`events` (``None`` for an event of
        no chat, such as a presence change), found as
        :meth:`record_customer_ids` finds them: a store keeps each event
        findable by its customer, so that erasing a customer removes it."""
        customer_of = _customers_by_chat(self.state, self.history, self.events)
        return tuple(
            customer_of.get(getattr(event, "chat_id", None) or "")
            for event in self.events
        )


def _customers_by_chat(
    state: AgentState,
    entries: Sequence[ContactHistoryEntry],
    events: Sequence[Event],
) -> dict[str, str]:
    """Each chat's customer, from the chats held, the entries and the events
    that name one (an assign, a completion)."""
    customer_of = {chat.chat_id: chat.customer_id for chat in state.chats}
    for entry in entries:
        customer_of.setdefault(entry.chat_id, entry.customer_id)
    for event in events:
        customer = getattr(event, "customer_id", None)
        if isinstance(customer, str):
            customer_of.setdefault(getattr(event, "chat_id", ""), customer)
    return customer_of


@attrs.frozen
class ErasureRecord:
    """That a customer's data was erased: when, by whom, and how much.

    It never holds the erased data, so not the customer's id either:
    ``erasure_id`` names the erasure (a receipt to give the customer, or to
    file with the request). ``history_entries`` and ``command_records`` are
    how many of each were deleted.
    """

    erasure_id: str
    erased_at: datetime
    erased_by: str
    history_entries: int
    command_records: int
    events: int = 0
    """How many events of the feed were deleted."""

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready data, the instant in ISO 8601."""
        return {
            "erasure_id": self.erasure_id,
            "erased_at": self.erased_at.isoformat(),
            "erased_by": self.erased_by,
            "history_entries": self.history_entries,
            "command_records": self.command_records,
            "events": self.events,
        }


@attrs.frozen
class SweepFailure:
    """An agent a sweep could not expire, and why."""

    agent_id: str
    error: WrapUpError

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready data: the agent and the error's ``to_dict()``."""
        return {"agent_id": self.agent_id, "error": self.error.to_dict()}


@attrs.frozen
class SweepResult:
    """What one sweep did: agents claimed, wrap-ups expired, agents that failed.

    A failing agent (a damaged row, a store error) never stops the sweep;
    it is named here, and the agents claimed after it are still expired.
    """

    claimed: int
    expired: int
    failures: tuple[SweepFailure, ...] = ()
    pruned: int = 0
    """Command records past their retention, deleted by this sweep."""
    pruned_events: int = 0
    """Events of the feed past their retention, deleted by this sweep."""

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready data."""
        return {
            "claimed": self.claimed,
            "expired": self.expired,
            "failures": [failure.to_dict() for failure in self.failures],
            "pruned": self.pruned,
            "pruned_events": self.pruned_events,
        }


@attrs.frozen
class HistoryPage:
    """One page of a customer's contact history, oldest first.

    ``next_cursor`` is ``None`` on the last page; otherwise pass it back to
    read the next one.
    """

    entries: tuple[ContactHistoryEntry, ...]
    next_cursor: str | None

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready data, each entry as its own ``to_dict()``."""
        return {
            "entries": [entry.to_dict() for entry in self.entries],
            "next_cursor": self.next_cursor,
        }


def customer_chat_held(agent_id: str, chat_id: str) -> CommandRefused:
    """The refusal :meth:`Store.erase_customer` raises while ``agent_id``
    holds the customer's chat ``chat_id`` (every store raises this one)."""
    return CommandRefused(
        ErrorCode.CUSTOMER_CHAT_HELD,
        "erase_customer",
        agent_id,
        chat_id,
        "the customer's chat is still held: erase their data once it has ended",
    )


class Store(Protocol):
    """Where agents' states, the contact history and command records live.

    Every method is safe to call from several threads, and from several
    processes sharing the same database. The contract suite in
    :mod:`webchat_wrapup.testing` checks an implementation against all of
    what follows.
    """

    def load(self, agent_id: str) -> StoredAgent | None:
        """The agent's state and version, or ``None`` if never saved."""

    def load_settled(self, agent_id: str) -> StoredAgent | None:
        """Like :meth:`load`, once every save of this agent already under way
        (in any thread or process) has committed or rolled back.

        The service asks this after refusing a command that carries a
        command id, so that a retry racing the first attempt's save never
        answers "refused" for a command that is about to be applied.
        """

    def save(self, change: Change) -> None:
        """Write ``change`` atomically if the agent is still at its version.

        Raises :class:`~webchat_wrapup.VersionConflict` and writes nothing
        when the stored version is not ``change.expected_version`` (or, for
        version 0, when the agent exists). Raises
        :class:`~webchat_wrapup.CommandIdReused` and writes nothing when the
        command id is already recorded. Raises
        :class:`~webchat_wrapup.CommandRefused` with the code
        ``chat_held_by_another_agent`` and writes nothing when the new state
        holds a chat that another agent's stored state holds: one chat, one
        holder, across every app server. Keeps the command record findable
        by each of ``change.record_customer_ids()``, for
        :meth:`erase_customer`.
        """

    def save_all(self, changes: Sequence[Change]) -> None:
        """Write several agents' changes atomically: all of them, or none.

        Each change is checked as :meth:`save` checks one, in order, so a
        chat one change lets go of may be taken by a later one (a transfer
        from agent to agent: the first agent's leg goes to wrap-up, the
        next leg is the other agent's). Chats are held by chat id and leg.
        At most one change per agent.
        """

    def find_command(self, command_id: str) -> CommandRecord | None:
        """The record of the command saved with ``command_id``, if any."""

    def prune_commands(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` command records recorded before ``before``
        (and records with no ``recorded_at``); how many were deleted."""

    def history(
        self, customer_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> HistoryPage:
        """A page of the customer's contact history, ordered by the instant
        each wrap-up ended (then by the order written).

        The cursor is a position in that order. An expiry written late by a
        sweeper carries its deadline as its instant, so it can land before a
        cursor already handed out: a desk that must see every entry re-reads
        from the start (``cursor=None``) rather than only following cursors.
        """

    def all_history(self) -> Iterator[ContactHistoryEntry]:
        """Every contact-history entry, in the order :meth:`history` uses.

        For reports and exports: entries are read as the iterator advances,
        so memory stays flat however long the history is. An iterator that
        is dropped half-way releases what it held.
        """

    def events(self, after: int = 0, limit: int = 100) -> list[StoredEvent]:
        """Up to ``limit`` events of the feed after position ``after``, in
        position order.

        Every change's events are written in its own transaction, and a
        position is given only once every event at a lower one is
        committed: a reader that asks again from the last position it saw
        never misses an event and never sees one twice, however many
        writers commit at once.
        """

    def last_position(self) -> int:
        """The position of the newest event committed (0 for none yet)."""

    def wait_for_events(self, after: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an event after ``after``;
        whether one may be there now (``False``: the time ran out).

        Wakes on commits in any thread or process sharing the database.
        May wake without a new event: a reader reads again either way.
        """

    def prune_events(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` events recorded before ``before``, oldest
        first; how many were deleted. Positions are never given again."""

    def history_changes(self, after: int = 0, limit: int = 100) -> list[HistoryChange]:
        """Up to ``limit`` contact-history entries written after position
        ``after``, in the order they were committed (a CRM's incremental
        sync: unlike :meth:`history`, an expiry written late comes after
        everything written before it). The same guarantees as
        :meth:`events`."""

    def erase_customer(
        self,
        customer_id: str,
        *,
        erasure_id: str,
        erased_at: datetime,
        erased_by: str,
    ) -> ErasureRecord:
        """Delete every copy of the customer's data, and record that it was.

        In one transaction: the customer's contact-history entries, every
        command record holding their data (those saved with the customer
        among :meth:`Change.record_customer_ids`), every event of the feed
        of their chats (:meth:`Change.event_customer_ids`), and anything
        else the store keeps of them; and an :class:`ErasureRecord` with the counts,
        which is returned and which :meth:`erasures` reads back.

        Raises :class:`~webchat_wrapup.CommandRefused` with the code
        ``customer_chat_held`` and deletes nothing while a stored agent
        holds a chat of the customer (active, parked or in wrap-up), on
        whichever app server it was saved; it names the first such agent by
        agent id, and its first such chat by chat id. A store whose files keep deleted
        bytes (SQLite's free pages and its write-ahead log) overwrites them.
        """

    def erasures(self) -> tuple[ErasureRecord, ...]:
        """Every erasure record, oldest first (then by id)."""

    def retire(self, agent_id: str, expected_version: int) -> None:
        """Remove the agent if it is still at ``expected_version``: its
        state, its claim, and the chats it holds (the service retires only
        agents holding none). Its history entries and command records stay.

        Raises :class:`~webchat_wrapup.VersionConflict` and removes nothing
        when the agent is not stored at that version. The store remembers
        the version it was retired at: the agent added again under the same
        id is stored at the next version, so a version is never written
        twice for one agent id, and a server still holding the retired
        agent's state can never save over the new one.
        """

    def close(self) -> None:
        """Release the store's connections; later calls raise
        :class:`~webchat_wrapup.StoreError` with the code ``store_closed``.

        Closing twice is allowed. Stores are also context managers that
        close on leaving the ``with`` block.
        """

    def __enter__(self) -> Store:
        """The store itself."""

    def __exit__(self, *exc_info: object) -> None:
        """Close the store."""

    def claim_due(self, at: datetime, limit: int, lease: timedelta) -> list[str]:
        """Up to ``limit`` agents with a wrap-up due at ``at``, earliest first.

        Each agent returned is claimed for ``lease``: no other call returns
        it until the lease runs out or the agent is saved. Agents never
        claimed since their last save come before agents whose claim ran out
        unsaved (a sweep that failed on them), so one damaged agent cannot
        be first in every sweep. The cost grows with the number returned,
        not with the number of agents.
        """


class AsyncStore(Protocol):
    """A :class:`Store` for asyncio: every method that reaches the database
    is a coroutine, with the same meaning, guarantees and errors as the
    :class:`Store` method of the same name.

    :class:`~webchat_wrapup.aio.AsyncWrapUpService` runs on one (a
    :class:`~webchat_wrapup.stores.AsyncPostgresStore`, or any
    :class:`Store` run in worker threads). The contract suite runs against
    one through :class:`~webchat_wrapup.testing.BlockingStore`. It may also
    offer :class:`RemembersStates` (a plain method: it never waits).
    """

    async def load(self, agent_id: str) -> StoredAgent | None:
        """See :meth:`Store.load`."""

    async def load_settled(self, agent_id: str) -> StoredAgent | None:
        """See :meth:`Store.load_settled`."""

    async def save(self, change: Change) -> None:
        """See :meth:`Store.save`."""

    async def save_all(self, changes: Sequence[Change]) -> None:
        """See :meth:`Store.save_all`."""

    async def find_command(self, command_id: str) -> CommandRecord | None:
        """See :meth:`Store.find_command`."""

    async def prune_commands(self, before: datetime, limit: int) -> int:
        """See :meth:`Store.prune_commands`."""

    async def history(
        self, customer_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> HistoryPage:
        """See :meth:`Store.history`."""

    def all_history(self) -> AsyncIterator[ContactHistoryEntry]:
        """See :meth:`Store.all_history` (``async for``)."""

    async def events(self, after: int = 0, limit: int = 100) -> list[StoredEvent]:
        """See :meth:`Store.events`."""

    async def last_position(self) -> int:
        """See :meth:`Store.last_position`."""

    async def wait_for_events(self, after: int, timeout: float) -> bool:
        """See :meth:`Store.wait_for_events`: waits without blocking the
        event loop."""

    async def prune_events(self, before: datetime, limit: int) -> int:
        """See :meth:`Store.prune_events`."""

    async def history_changes(
        self, after: int = 0, limit: int = 100
    ) -> list[HistoryChange]:
        """See :meth:`Store.history_changes`."""

    async def erase_customer(
        self,
        customer_id: str,
        *,
        erasure_id: str,
        erased_at: datetime,
        erased_by: str,
    ) -> ErasureRecord:
        """See :meth:`Store.erase_customer`."""

    async def erasures(self) -> tuple[ErasureRecord, ...]:
        """See :meth:`Store.erasures`."""

    async def retire(self, agent_id: str, expected_version: int) -> None:
        """See :meth:`Store.retire`."""

    async def claim_due(self, at: datetime, limit: int, lease: timedelta) -> list[str]:
        """See :meth:`Store.claim_due`."""

    async def aclose(self) -> None:
        """See :meth:`Store.close`; ``async with`` closes it too."""

    async def __aenter__(self) -> AsyncStore:
        """The store itself."""

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the store."""


@runtime_checkable
class RemembersStates(Protocol):
    """What a store may add to :class:`Store` (optional): the states it has
    saved or loaded, without reading the database again.

    The service decides a command on the remembered state and saves it
    against that version; should another process have saved the agent
    since, the save's version check refuses it (nothing written) and the
    command is loaded and decided again as usual. A command therefore costs
    no read before its write while this process is the agent's only writer.
    """

    def load_remembered(self, agent_id: str) -> StoredAgent | None:
        """The agent as this store last saved or loaded it, or ``None``.

        Never reads the database, so it may be stale: another process may
        have saved a newer version. Only ever a version that was stored
        (never one rolled back), so deciding on it and saving against its
        version is safe.
        """
