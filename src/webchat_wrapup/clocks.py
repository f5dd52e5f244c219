"""Clocks: the system's, and a manual one for tests and simulations."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from ._core._errors import invalid_argument
from ._core._instants import utc_instant


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
        with self._lock:
            try:
                if isinstance(seconds, timedelta):
                    step = seconds + timedelta(**delta)
                else:
                    step = timedelta(seconds=seconds, **delta)
                later = self._now + step
            except (TypeError, ArithmeticError):  # no step, or past the calendar
                raise invalid_argument(
                    "seconds", "a step within the calendar", seconds
                ) from None
            self._now = utc_instant(later)  # refused outside 1970 to 9000
            return self._now
