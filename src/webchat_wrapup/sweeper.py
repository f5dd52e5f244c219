"""A sweeper loop ready to run: drain due expiries, wait, again, until told to stop.

Expiry never waits for a sweeper (views and commands already treat a
wrap-up past its deadline as over); the sweeper makes expiries permanent:
history entries written, events produced, claims released. Run one or
more, in any processes: claims keep them apart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import attrs

from ._core._errors import ErrorCode, InvalidInput
from .ports import SweepResult
from .service import WrapUpService


@attrs.frozen
class SweeperTotals:
    """What a sweeper loop did before it stopped."""

    sweeps: int = 0
    expired: int = 0
    failures: int = 0
    pruned: int = 0

    def add(self, result: SweepResult) -> SweeperTotals:
        """These totals with one more sweep's result."""
        return SweeperTotals(
            self.sweeps + 1,
            self.expired + result.expired,
            self.failures + len(result.failures),
            self.pruned + result.pruned,
        )


def run_sweeper(
    service: WrapUpService,
    stop: threading.Event,
    *,
    interval: float = 1.0,
    limit: int = 100,
    on_sweep: Callable[[SweepResult], None] | None = None,
) -> SweeperTotals:
    """Sweep until ``stop`` is set; return what was done.

    A sweep that claimed a full batch (``limit`` agents) is followed at once
    by another, so a backlog drains without waiting ``interval`` between
    batches; otherwise the loop waits ``interval`` seconds, waking at once
    when ``stop`` is set. ``on_sweep`` hears each sweep's result (to log
    failures, say).
    """
    if isinstance(interval, bool) or not isinstance(interval, (int, float)):
        raise _bad_interval(interval)
    if not 0 < interval <= 3600:
        raise _bad_interval(interval)
    totals = SweeperTotals()
    while not stop.is_set():
        result = service.sweep(limit)
        totals = totals.add(result)
        if on_sweep is not None:
            on_sweep(result)
        if result.claimed < limit:
            stop.wait(interval)
    return totals


def _bad_interval(interval: object) -> InvalidInput:
    return InvalidInput(
        ErrorCode.INVALID_LIMIT,
        f"interval must be a number of seconds above 0, at most 3600, not {interval!r}",
        field="interval",
    )
