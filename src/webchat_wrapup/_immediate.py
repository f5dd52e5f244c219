"""A synchronous store behind the asynchronous interface, answering at once.

The service's work is written once, as coroutines over an
:class:`~webchat_wrapup.ports.AsyncStore`
(:mod:`webchat_wrapup._operations`). :class:`~webchat_wrapup.service.WrapUpService`
runs it over a plain :class:`~webchat_wrapup.ports.Store` by wrapping the
store in :class:`ImmediateStore`, whose coroutines return without ever
suspending, and driving each call to its end with :func:`run_now`: no event
loop, no thread, a fraction of a microsecond per store call.
:class:`~webchat_wrapup.stores.PostgresStore` runs its SQL conversation,
written once for it and :class:`~webchat_wrapup.stores.AsyncPostgresStore`,
the same way.
"""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from .ports import (
    Change,
    CommandRecord,
    ErasureRecord,
    HistoryPage,
    Store,
    StoredAgent,
)

R = TypeVar("R")


def run_now(work: Coroutine[Any, Any, R]) -> R:
    """The result of ``work``, which must finish without suspending."""
    try:
        work.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    work.close()
    raise RuntimeError("a coroutine over a synchronous store suspended")


class ImmediateStore:
    """The service's store calls on ``store``, as coroutines that never wait."""

    __slots__ = ("store",)

    def __init__(self, store: Store) -> None:
        self.store = store

    async def load(self, agent_id: str) -> StoredAgent | None:
        return self.store.load(agent_id)

    async def load_settled(self, agent_id: str) -> StoredAgent | None:
        return self.store.load_settled(agent_id)

    async def save(self, change: Change) -> None:
        self.store.save(change)

    async def save_all(self, changes: Sequence[Change]) -> None:
        self.store.save_all(changes)

    async def find_command(self, command_id: str) -> CommandRecord | None:
        return self.store.find_command(command_id)

    async def prune_commands(self, before: datetime, limit: int) -> int:
        return self.store.prune_commands(before, limit)

    async def prune_events(self, before: datetime, limit: int) -> int:
        return self.store.prune_events(before, limit)

    async def history(
        self, customer_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> HistoryPage:
        return self.store.history(customer_id, cursor=cursor, limit=limit)

    async def erase_customer(
        self,
        customer_id: str,
        *,
        erasure_id: str,
        erased_at: datetime,
        erased_by: str,
    ) -> ErasureRecord:
        return self.store.erase_customer(
            customer_id, erasure_id=erasure_id, erased_at=erased_at, erased_by=erased_by
        )

    async def erasures(self) -> tuple[ErasureRecord, ...]:
        return self.store.erasures()

    async def retire(self, agent_id: str, expected_version: int) -> None:
        self.store.retire(agent_id, expected_version)

    async def claim_due(self, at: datetime, limit: int, lease: timedelta) -> list[str]:
        return self.store.claim_due(at, limit, lease)
