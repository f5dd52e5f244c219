"""Instants: aware UTC datetimes within the range the library works in."""

from __future__ import annotations

from datetime import datetime, timezone

from ._errors import ErrorCode, InvalidInput, shown

MIN_INSTANT = datetime(1970, 1, 1, tzinfo=timezone.utc)
"""The earliest instant the library accepts (the Unix epoch)."""

MAX_INSTANT = datetime(9000, 1, 1, tzinfo=timezone.utc)
"""The latest instant the library accepts.

Far enough from the end of the calendar (9999) that adding a countdown, its
extensions and a sweeper's lease to any accepted instant cannot overflow.
"""

_UTC = timezone.utc


def utc_instant(value: object) -> datetime:
    """``value`` as a UTC datetime; naive datetimes, other types and instants
    outside ``MIN_INSTANT`` to ``MAX_INSTANT`` are refused."""
    if isinstance(value, datetime) and value.tzinfo is _UTC:
        instant = value
    else:
        instant = _to_utc(value)
    if not MIN_INSTANT <= instant <= MAX_INSTANT:
        raise _bad_instant(
            value,
            f"instants must lie from {MIN_INSTANT.year} to {MAX_INSTANT.year}",
        )
    return instant


def _to_utc(value: object) -> datetime:
    if not isinstance(value, datetime):
        raise _bad_instant(value, "instants must be timezone-aware datetimes")
    try:
        offset = value.utcoffset()
        instant = None if offset is None else value.astimezone(_UTC)
    except (ArithmeticError, ValueError, TypeError):
        # Near the ends of the calendar the conversion itself overflows;
        # a broken tzinfo may raise anything of the kind.
        raise _bad_instant(value, "instants must be convertible to UTC") from None
    if instant is None:
        raise _bad_instant(value, "instants must be timezone-aware datetimes")
    return instant


def _bad_instant(value: object, rule: str) -> InvalidInput:
    return InvalidInput(
        ErrorCode.INVALID_INSTANT,
        f"{rule}, not {shown(value)}",
        value=shown(value),
    )
