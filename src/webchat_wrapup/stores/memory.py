"""The in-memory store: the reference implementation, thread-safe."""

from __future__ import annotations

import bisect
import heapq
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone

import attrs

from .._core._errors import (
    CommandIdReused,
    CommandRefused,
    ErrorCode,
    StoreError,
    VersionConflict,
)
from .._core._events import Event
from .._core._history import ContactHistoryEntry
from .._core._text import check_identifier
from ..ports import (
    Change,
    CommandRecord,
    ErasureRecord,
    HistoryChange,
    HistoryPage,
    StoredAgent,
    StoredEvent,
    customer_chat_held,
)
from ._arguments import check_changes, check_claim, check_erasure, check_version
from ._codec import instant_to_micros
from ._paging import (
    check_feed_read,
    check_limit,
    check_prune,
    check_wait,
    decode_cursor,
    encode_cursor,
)
from ._rows import held_chat_id, one_change_per_agent

_FeedEvent = tuple[int, datetime, Event, str | None]
"""(position, when recorded, the event, its customer): a StoredEvent is
made as it is read, so the feed keeps as few objects as it can (a long
feed of small objects makes every garbage collection slower)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
"""When a change that does not say when it was made is recorded."""
_DueEntry = tuple[bool, datetime, int, str]
"""(claimed since the last save, next deadline, version, agent id)."""


@attrs.define
class _Batch:
    """What the changes of one batch take, let go of and record so far."""

    taken: dict[str, str] = attrs.Factory(dict)
    released: set[str] = attrs.Factory(set)
    ids: set[str] = attrs.Factory(set)


def _held_elsewhere(agent_id: str, key: str, holder: str) -> CommandRefused:
    chat_id = held_chat_id(key)
    return CommandRefused(
        ErrorCode.CHAT_HELD_BY_ANOTHER_AGENT,
        "save",
        agent_id,
        chat_id,
        f"agent {holder!r} holds it",
    )


class MemoryStore:
    """Keeps everything in dictionaries behind one lock.

    Due wrap-ups sit in a heap keyed by whether the agent was claimed since
    its last save, then by its next deadline; entries made stale by a later
    save are dropped when they reach the top, so claiming costs grow with
    the number due, not with the number of agents. When stale entries
    outnumber the live ones the heap is rebuilt, so it stays within twice
    the number of agents however often one agent is saved.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._agents: dict[str, StoredAgent] = {}
        self._commands: dict[str, CommandRecord] = {}
        # The customers whose data each record carries, to find it by them.
        self._record_customers: dict[str, tuple[str, ...]] = {}
        self._erasures: list[ErasureRecord] = []
        # The version each retired agent had: one added again goes on from it.
        self._retired: dict[str, int] = {}
        self._history: dict[str, list[tuple[int, int, ContactHistoryEntry]]] = {}
        self._written = 0
        self._events: list[_FeedEvent] = []
        self._history_feed: list[HistoryChange] = []
        self._event_positions = 0
        self._history_positions = 0
        self._committed = threading.Condition(self._lock)
        self._due: list[_DueEntry] = []
        self._claims: dict[str, datetime] = {}
        self._holders: dict[str, str] = {}
        self._closed = False

    def close(self) -> None:
        """Refuse every later call (the data stays for the garbage collector)."""
        self._closed = True
        with self._committed:  # a follower waiting wakes to find it closed
            self._committed.notify_all()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(ErrorCode.STORE_CLOSED, "the memory store is closed")

    def load(self, agent_id: str) -> StoredAgent | None:
        """The agent's state and version, or ``None``."""
        if self._closed:
            self._check_open()
        check_identifier(agent_id, "agent_id")
        return self._agents.get(agent_id)

    def load_settled(self, agent_id: str) -> StoredAgent | None:
        """The agent once any save under way has finished (saves hold the lock)."""
        self._check_open()
        check_identifier(agent_id, "agent_id")
        with self._lock:
            return self._agents.get(agent_id)

    def save(self, change: Change) -> None:
        """Write ``change`` if the agent is still at the expected version."""
        self.save_all((change,))

    def save_all(self, changes: Sequence[Change]) -> None:
        """Write every change or none: each agent must still be at its
        expected version, and a chat one change lets go of may be taken by
        a later one (a transfer)."""
        self._check_open()
        changes = check_changes(changes)
        one_change_per_agent(changes)
        with self._lock:
            batch = _Batch()
            currents = [self._check(change, batch) for change in changes]
            for change, current in zip(changes, currents, strict=True):
                self._apply(change, current)
            if any(change.events or change.history for change in changes):
                self._committed.notify_all()

    def _check(self, change: Change, batch: _Batch) -> StoredAgent | None:
        current = self._agents.get(change.agent_id)
        version = 0 if current is None else current.version
        if version != change.expected_version:
            raise VersionConflict(change.agent_id, change.expected_version)
        record = change.command
        if record is not None:
            if record.command_id in self._commands or record.command_id in batch.ids:
                raise CommandIdReused(record.command_id)
            batch.ids.add(record.command_id)
        old = {c.holding_key for c in (current.state.chats if current else ())}
        new = {chat.holding_key for chat in change.state.chats}
        batch.released |= old - new
        for key in new - old:
            holder = batch.taken.get(key)
            if holder is None and key not in batch.released:
                holder = self._holders.get(key)
            if holder is not None and holder != change.agent_id:
                raise _held_elsewhere(change.agent_id, key, holder)
            batch.taken[key] = change.agent_id
        return current

    def _apply(self, change: Change, current: StoredAgent | None) -> None:
        version = 0 if current is None else current.version
        if current is None:  # an agent added again goes on from its version
            version = self._retired.pop(change.agent_id, 0)
        old = () if current is None else current.state.chats
        for chat in old:
            if self._holders.get(chat.holding_key) == change.agent_id:
                del self._holders[chat.holding_key]
        for chat in change.state.chats:
            self._holders[chat.holding_key] = change.agent_id
        self._agents[change.agent_id] = StoredAgent(change.state, version + 1)
        record = change.command
        if record is not None:
            self._commands[record.command_id] = record
            self._record_customers[record.command_id] = change.record_customer_ids()
        for entry in change.history:
            self._add_entry(entry)
        self._append_events(change)
        self._claims.pop(change.agent_id, None)
        deadline = change.state.next_deadline()
        if deadline is not None:
            self._push_due((False, deadline, version + 1, change.agent_id))

    def _push_due(self, entry: _DueEntry) -> None:
        heapq.heappush(self._due, entry)
        if len(self._due) > 2 * len(self._agents) + 64:
            self._due = [item for item in self._due if self._is_live(item)]
            heapq.heapify(self._due)

    def _is_live(self, item: _DueEntry) -> bool:
        stored = self._agents.get(item[3])
        return stored is not None and stored.version == item[2]

    def _append_events(self, change: Change) -> None:
        recorded_at = change.recorded_at or _EPOCH
        customers = change.event_customer_ids()
        position = self._event_positions
        append = self._events.append
        for event, customer in zip(change.events, customers, strict=True):
            position += 1
            append((position, recorded_at, event, customer))
        self._event_positions = position

    def _add_entry(self, entry: ContactHistoryEntry) -> None:
        self._history_positions += 1
        self._history_feed.append(HistoryChange(self._history_positions, entry))
        self._written += 1
        key = (instant_to_micros(entry.wrap_up_ended_at), self._written)
        entries = self._history.setdefault(entry.customer_id, [])
        bisect.insort(entries, (*key, entry), key=lambda item: item[:2])

    def find_command(self, command_id: str) -> CommandRecord | None:
        """The record saved with ``command_id``, if any."""
        self._check_open()
        check_identifier(command_id, "command_id")
        return self._commands.get(command_id)

    def prune_commands(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` records recorded before ``before``."""
        check_prune(before, limit)
        self._check_open()
        if limit < 1:
            return 0
        with self._lock:
            old = [
                command_id
                for command_id, record in self._commands.items()
                if record.recorded_at is None or record.recorded_at < before
            ][:limit]
            for command_id in old:
                del self._commands[command_id]
                self._record_customers.pop(command_id, None)
        return len(old)

    def erase_customer(
        self,
        customer_id: str,
        *,
        erasure_id: str,
        erased_at: datetime,
        erased_by: str,
    ) -> ErasureRecord:
        """Delete the customer's entries and the records holding their data."""
        self._check_open()
        check_erasure(customer_id, erasure_id, erased_at, erased_by)
        with self._lock:
            self._refuse_if_held(customer_id)
            entries = self._history.pop(customer_id, [])
            records = [
                command_id
                for command_id, customers in self._record_customers.items()
                if customer_id in customers
            ]
            for command_id in records:
                del self._commands[command_id]
                del self._record_customers[command_id]
            events = len(self._events)
            self._events = [item for item in self._events if item[3] != customer_id]
            self._history_feed = [
                change
                for change in self._history_feed
                if change.entry.customer_id != customer_id
            ]
            erasure = ErasureRecord(
                erasure_id,
                erased_at,
                erased_by,
                len(entries),
                len(records),
                events - len(self._events),
            )
            self._erasures.append(erasure)
        return erasure

    # The feeds

    def events(self, after: int = 0, limit: int = 100) -> list[StoredEvent]:
        """Up to ``limit`` events after position ``after``, in order."""
        self._check_open()
        check_feed_read(after, limit)
        with self._lock:
            start = bisect.bisect_right(self._events, after, key=lambda i: i[0])
            page = self._events[start : start + limit]
        return [StoredEvent(p, at, event) for p, at, event, _ in page]

    def last_position(self) -> int:
        """The newest event's position (0 for none yet)."""
        self._check_open()
        return self._event_positions

    def wait_for_events(self, after: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an event after ``after``."""
        self._check_open()
        check_feed_read(after, 1)
        check_wait(timeout)
        with self._committed:
            return self._committed.wait_for(
                lambda: self._event_positions > after or self._closed, timeout
            )

    def prune_events(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` of the oldest events recorded before ``before``."""
        check_prune(before, limit)
        self._check_open()
        if limit < 1:
            return 0
        with self._lock:
            old = 0
            for _, recorded_at, _, _ in self._events[:limit]:
                if recorded_at >= before:
                    break
                old += 1
            del self._events[:old]
        return old

    def history_changes(self, after: int = 0, limit: int = 100) -> list[HistoryChange]:
        """Up to ``limit`` entries written after position ``after``."""
        self._check_open()
        check_feed_read(after, limit)
        with self._lock:
            feed = self._history_feed
            start = bisect.bisect_right(feed, after, key=lambda c: c.position)
            return feed[start : start + limit]

    def _refuse_if_held(self, customer_id: str) -> None:
        held = [
            (agent_id, chat.chat_id)
            for agent_id, stored in self._agents.items()
            for chat in stored.state.chats
            if chat.customer_id == customer_id
        ]
        if held:  # the first by agent id, then chat id, as every store names it
            raise customer_chat_held(*min(held))

    def erasures(self) -> tuple[ErasureRecord, ...]:
        """Every erasure record, oldest first."""
        self._check_open()
        with self._lock:
            return tuple(
                sorted(self._erasures, key=lambda e: (e.erased_at, e.erasure_id))
            )

    def retire(self, agent_id: str, expected_version: int) -> None:
        """Remove the agent if it is still at ``expected_version``."""
        self._check_open()
        check_identifier(agent_id, "agent_id")
        check_version(expected_version)
        with self._lock:
            current = self._agents.get(agent_id)
            if current is None or current.version != expected_version:
                raise VersionConflict(agent_id, expected_version)
            for chat in current.state.chats:
                if self._holders.get(chat.holding_key) == agent_id:
                    del self._holders[chat.holding_key]
            del self._agents[agent_id]
            self._claims.pop(agent_id, None)
            self._retired[agent_id] = current.version

    def history(
        self, customer_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> HistoryPage:
        """A page of the customer's history, by wrap-up end then write order."""
        self._check_open()
        check_identifier(customer_id, "customer_id")
        check_limit(limit)
        after = decode_cursor(cursor)
        with self._lock:  # a page costs its own size, not the history's
            entries = self._history.get(customer_id, [])
            start = bisect.bisect_right(entries, after, key=lambda item: item[:2])
            page = entries[start : start + limit]
            more = start + limit < len(entries)
        next_cursor = encode_cursor(*page[-1][:2]) if page and more else None
        return HistoryPage(tuple(item[2] for item in page), next_cursor)

    def all_history(self) -> Iterator[ContactHistoryEntry]:
        """Every contact-history entry, by wrap-up end (for reports).

        Each customer's list is already in order; the lists are copied by
        reference under the lock and merged lazily.
        """
        self._check_open()
        with self._lock:
            lists = [list(entries) for entries in self._history.values()]
        for item in heapq.merge(*lists, key=lambda item: item[:2]):
            yield item[2]

    def claim_due(self, at: datetime, limit: int, lease: timedelta) -> list[str]:
        """Claim up to ``limit`` agents with a wrap-up due at ``at``."""
        self._check_open()
        check_claim(at, limit, lease)
        claimed: list[str] = []
        with self._lock:
            for first in (False, True):  # never claimed, then claims run out
                claimed += self._claim(first, at, limit - len(claimed), lease)
        return claimed

    def _claim(
        self, claimed_before: bool, at: datetime, limit: int, lease: timedelta
    ) -> list[str]:
        claimed: list[str] = []
        later: list[_DueEntry] = []
        due = self._due
        while due and len(claimed) < limit and due[0][0] == claimed_before:
            item = heapq.heappop(due)
            if item[1] > at:
                later.append(item)
                break
            if not self._is_live(item):
                continue
            held_until = self._claims.get(item[3])
            if held_until is not None and held_until > at:
                later.append(item)
                continue
            self._claims[item[3]] = at + lease
            later.append((True, item[1], item[2], item[3]))
            claimed.append(item[3])
        for item in later:
            heapq.heappush(due, item)
        return claimed
