"""Instants as the SQL stores keep them: whole microseconds since the Unix
epoch, which sort as the instants do and lose nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def instant_to_micros(instant: datetime) -> int:
    """Microseconds since the Unix epoch: sortable, exact."""
    delta = instant - _EPOCH  # Integer arithmetic: exact, and no timedelta to build.
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def micros_to_instant(micros: int) -> datetime:
    """The UTC instant :func:`instant_to_micros` encoded."""
    if type(micros) is not int:  # true and 1.5 would pass timedelta
        raise TypeError(f"an instant is stored as a whole number, not {micros!r}")
    return _EPOCH + timedelta(0, 0, micros)  # positional: twice as fast
