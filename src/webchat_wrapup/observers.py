"""Hooks for operators: counters and timings, with no dependency.

The service calls an :class:`Observer` after each command and each sweep.
Export what it hears with any metrics library (docs/how-to/metrics.md shows
Prometheus); :class:`CountingObserver` keeps plain counters in memory.
Observers are called on the request's thread and must not raise.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Protocol

from .ports import SweepResult


class Observer(Protocol):
    """What the service reports as it works."""

    def command_finished(
        self, kind: str, seconds: float, refused: str | None, replayed: bool
    ) -> None:
        """A command of ``kind`` (e.g. ``"extend_wrap_up"``) took ``seconds``;
        ``refused`` is the error code if it failed, ``replayed`` is true when
        a retried command id returned the first run's outcome."""

    def conflict_retried(self, kind: str) -> None:
        """A save of a command of ``kind`` met a newer version; deciding again."""

    def sweep_finished(self, result: SweepResult, seconds: float) -> None:
        """A sweep did ``result`` in ``seconds``."""


class CountingObserver:
    """Counts commands by kind, refusals by code, conflicts, sweeps, expiries
    and the total time spent in commands; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.commands: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()
        self.replays = 0
        self.conflicts: Counter[str] = Counter()
        self.sweeps = 0
        self.expiries = 0
        self.sweep_failures = 0
        self.command_seconds = 0.0

    def command_finished(
        self, kind: str, seconds: float, refused: str | None, replayed: bool
    ) -> None:
        """Count the command, its refusal code and its time."""
        with self._lock:
            self.commands[kind] += 1
            self.command_seconds += seconds
            self.replays += replayed
            if refused is not None:
                self.refusals[refused] += 1

    def conflict_retried(self, kind: str) -> None:
        """Count the conflict."""
        with self._lock:
            self.conflicts[kind] += 1

    def sweep_finished(self, result: SweepResult, seconds: float) -> None:
        """Count the sweep, its expiries and its failures."""
        with self._lock:
            self.sweeps += 1
            self.expiries += result.expired
            self.sweep_failures += len(result.failures)

    def snapshot(self) -> dict[str, Any]:
        """Every counter as JSON-ready data."""
        with self._lock:
            return {
                "commands": dict(self.commands),
                "refusals": dict(self.refusals),
                "replays": self.replays,
                "conflicts": dict(self.conflicts),
                "sweeps": self.sweeps,
                "expiries": self.expiries,
                "sweep_failures": self.sweep_failures,
                "command_seconds": self.command_seconds,
            }
