"""The in-memory store: the reference implementation, thread-safe."""

from __future__ import annotations

import bisect
import heapq
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

from .._core._errors import CommandIdReused, ErrorCode, StoreError, VersionConflict
from .._core._history import ContactHistoryEntry
from ..ports import Change, CommandRecord, HistoryPage, StoredAgent
from ._codec import instant_to_micros
from ._paging import check_limit, decode_cursor, encode_cursor


class MemoryStore:
    """Keeps everything in dictionaries behind one lock.

    Due wrap-ups sit in a heap keyed by each agent's next deadline; entries
    made stale by a later save are dropped when they reach the top, so
    claiming costs grow with the number due, not with the number of agents.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._agents: dict[str, StoredAgent] = {}
        self._commands: dict[str, CommandRecord] = {}
        self._history: dict[str, list[tuple[int, int, ContactHistoryEntry]]] = {}
        self._written = 0
        self._due: list[tuple[datetime, int, str]] = []
        self._claims: dict[str, datetime] = {}
        self._closed = False

    def close(self) -> None:
        """Refuse every later call (the data stays for the garbage collector)."""
        self._closed = True

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
        return self._agents.get(agent_id)

    def save(self, change: Change) -> None:
        """Write ``change`` if the agent is still at the expected version."""
        self._check_open()
        with self._lock:
            current = self._agents.get(change.agent_id)
            version = 0 if current is None else current.version
            if version != change.expected_version:
                raise VersionConflict(change.agent_id, change.expected_version)
            record = change.command
            if record is not None and record.command_id in self._commands:
                raise CommandIdReused(record.command_id)
            stored = StoredAgent(change.state, version + 1)
            self._agents[change.agent_id] = stored
            if record is not None:
                self._commands[record.command_id] = record
            for entry in change.history:
                self._add_entry(entry)
            self._claims.pop(change.agent_id, None)
            deadline = change.state.next_deadline()
            if deadline is not None:
                heapq.heappush(self._due, (deadline, version + 1, change.agent_id))

    def _add_entry(self, entry: ContactHistoryEntry) -> None:
        self._written += 1
        key = (instant_to_micros(entry.wrap_up_ended_at), self._written)
        entries = self._history.setdefault(entry.customer_id, [])
        bisect.insort(entries, (*key, entry), key=lambda item: item[:2])

    def find_command(self, command_id: str) -> CommandRecord | None:
        """The record saved with ``command_id``, if any."""
        self._check_open()
        return self._commands.get(command_id)

    def history(
        self, customer_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> HistoryPage:
        """A page of the customer's history, by wrap-up end then write order."""
        self._check_open()
        check_limit(limit)
        after = decode_cursor(cursor)
        with self._lock:
            entries = list(self._history.get(customer_id, ()))
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
        claimed: list[str] = []
        retry: list[tuple[datetime, int, str]] = []
        with self._lock:
            while self._due and len(claimed) < limit and self._due[0][0] <= at:
                item = heapq.heappop(self._due)
                _, version, agent_id = item
                stored = self._agents.get(agent_id)
                if stored is None or stored.version != version:
                    continue
                held_until = self._claims.get(agent_id)
                if held_until is not None and held_until > at:
                    retry.append(item)
                    continue
                self._claims[agent_id] = at + lease
                retry.append(item)
                claimed.append(agent_id)
            for item in retry:
                heapq.heappush(self._due, item)
        return claimed
