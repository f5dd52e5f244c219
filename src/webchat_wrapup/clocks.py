"""Clocks: the system's, and a manual one for tests and simulations."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from ._core._agent import utc_instant


class SystemClock:
    """The machine's wall clock, in UTC."""

    def now(self) -> datetime:
        """The current instant."""
        return datetime.now(timezone.utc)


class ManualClock:
    """A clock that moves only when told to: ``set`` and ``advance``.

    Safe to share between threads. It may be set backwards, to test what a
    wall clock that jumps does.
    """

    def __init__(self, start: datetime) -> None:
        self._now = utc_instant(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The instant the clock was last set or advanced to."""
        return self._now

    def set(self, instant: datetime) -> None:
        """Move the clock to ``instant`` (forwards or backwards)."""
        instant = utc_instant(instant)
        with self._lock:
            self._now = instant

    def advance(self, seconds: float | timedelta = 0, **delta: float) -> datetime:
        """Move the clock forward by ``seconds``, a timedelta, or timedelta
        keywords (``minutes=2``)."""
        if isinstance(seconds, timedelta):
            step = seconds + timedelta(**delta)
        else:
            step = timedelta(seconds=seconds, **delta)
        with self._lock:
            self._now += step
            return self._now
