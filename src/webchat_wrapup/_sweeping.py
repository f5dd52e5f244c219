"""Sweeps: due wrap-ups made permanent in batches, old records pruned."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from ._core._decide import expire_due
from ._core._errors import NotificationFailed, VersionConflict, WrapUpError
from ._core._events import Event, WrapUpCompleted
from ._core._instants import utc_instant
from ._decisions import change_of, outcome_of
from ._settings import check_sweep_limit
from .ports import Change, Outcome, SweepFailure, SweepResult

if TYPE_CHECKING:
    from ._operations import Operations

SWEEP_BATCH = 100
"""Agents whose expiries a sweep saves in one transaction: one commit (one
sync of the disk) for them all, and the write lock held for milliseconds."""


@attrs.frozen
class _Expiry:
    """An agent's due expiries, decided and not yet saved."""

    change: Change
    outcome: Outcome


@attrs.define
class _SweepTally:
    """What a sweep has done so far."""

    expired: int = 0
    failures: list[SweepFailure] = attrs.Factory(list)


class SweepWork:
    """The sweeps of ``operations``' service."""

    def __init__(self, operations: Operations) -> None:
        self._operations = operations

    async def sweep(self, limit: int) -> SweepResult:
        """Make up to ``limit`` agents' due expiries permanent (see
        :meth:`webchat_wrapup.service.WrapUpService.sweep`)."""
        check_sweep_limit(limit)
        started = time.perf_counter()
        result = await self._sweep(limit)
        observer = self._operations.observer
        if observer is not None:
            observer.sweep_finished(result, time.perf_counter() - started)
        return result

    async def _sweep(self, limit: int) -> SweepResult:
        operations = self._operations
        store, settings = operations.store, operations.settings
        now = utc_instant(operations.clock.now())
        claimed = await store.claim_due(now, limit, settings.lease)
        tally = _SweepTally()
        for start in range(0, len(claimed), SWEEP_BATCH):
            await self._expire_batch(claimed[start : start + SWEEP_BATCH], now, tally)
        pruned = await store.prune_commands(now - settings.command_retention, limit)
        pruned_events = await store.prune_events(now - settings.event_retention, limit)
        return SweepResult(
            len(claimed), tally.expired, tuple(tally.failures), pruned, pruned_events
        )

    async def _expire_batch(
        self, agent_ids: list[str], now: datetime, tally: _SweepTally
    ) -> None:
        """Decide the agents' due expiries and save them in one transaction."""
        batch: list[_Expiry] = []
        for agent_id in agent_ids:
            try:
                expiry = await self._due_expiry(agent_id, now)
            except WrapUpError as error:
                tally.failures.append(SweepFailure(agent_id, error))
                continue
            if expiry is not None:
                batch.append(expiry)
        while batch:
            try:
                await self._operations.store.save_all([e.change for e in batch])
            except VersionConflict as error:
                # Saved elsewhere since it was loaded: that agent goes on its
                # own, on fresh state, and the others again together.
                alone = {error.agent_id}
            except WrapUpError:
                alone = {expiry.change.agent_id for expiry in batch}
            else:
                for expiry in batch:
                    self._heard(expiry, tally)
                return
            if not alone.intersection(e.change.agent_id for e in batch):
                alone = {expiry.change.agent_id for expiry in batch}
            batch = [e for e in batch if e.change.agent_id not in alone]
            for agent_id in sorted(alone):
                await self._expire_alone(agent_id, now, tally)

    def _heard(self, expiry: _Expiry, tally: _SweepTally) -> None:
        """Count a saved expiry and tell the subscribers."""
        tally.expired += _expiries(expiry.outcome.events)
        try:
            self._operations.notify(expiry.outcome)
        except NotificationFailed as error:  # saved: counted, and reported
            tally.failures.append(SweepFailure(expiry.change.agent_id, error))

    async def _expire_alone(
        self, agent_id: str, now: datetime, tally: _SweepTally
    ) -> None:
        """Expire one agent in a transaction of its own; a failure is named."""
        try:
            tally.expired += await self.expire_agent(agent_id, now)
        except NotificationFailed as error:  # saved: count it, report it
            tally.expired += _expiries(error.outcome.events)
            tally.failures.append(SweepFailure(agent_id, error))
        except WrapUpError as error:
            tally.failures.append(SweepFailure(agent_id, error))

    async def prune_commands(self, limit: int) -> int:
        """Delete up to ``limit`` command records older than the retention."""
        check_sweep_limit(limit)
        operations = self._operations
        now = utc_instant(operations.clock.now())
        before = now - operations.settings.command_retention
        return await operations.store.prune_commands(before, limit)

    async def expire_agent(self, agent_id: str, now: datetime) -> int:
        """Make the agent's due expiries permanent in a transaction of its
        own; how many (0: none was due)."""
        for _ in range(self._operations.settings.attempts):
            expiry = await self._due_expiry(agent_id, now)
            if expiry is None:
                return 0
            try:
                await self._operations.store.save(expiry.change)
            except VersionConflict:
                continue
            self._operations.notify(expiry.outcome)
            return _expiries(expiry.outcome.events)
        return 0

    async def _due_expiry(self, agent_id: str, now: datetime) -> _Expiry | None:
        """The agent's due expiries, decided on its stored state (``None``:
        nothing is due, or the agent is gone)."""
        stored = await self._operations.store.load(agent_id)
        if stored is None:
            return None
        decision = expire_due(stored.state, now)
        if not decision.events:
            return None
        change = change_of(agent_id, stored.version, decision, now)
        return _Expiry(change, outcome_of(agent_id, stored.version + 1, decision))


def _expiries(events: Iterable[Event]) -> int:
    return sum(isinstance(event, WrapUpCompleted) for event in events)
