"""History pages as every store reads them: page sizes and opaque cursors."""

from __future__ import annotations

import re
from datetime import datetime

from .._core._errors import ErrorCode, InvalidInput, shown
from .._core._instants import utc_instant

MAX_PAGE = 1000
_CURSOR = re.compile(r"([0-9]{1,19})\.([0-9]{1,19})")
_MAX_POSITION = 2**63 - 1  # what SQL's BIGINT holds


def check_limit(limit: int) -> None:
    """Refuse page sizes that are not 1 to 1,000."""
    if (
        isinstance(limit, bool)
        or not isinstance(limit, int)
        or not 1 <= limit <= MAX_PAGE
    ):
        raise InvalidInput(
            ErrorCode.INVALID_PAGE,
            f"limit must be a whole number from 1 to {MAX_PAGE}, not {shown(limit)}",
            field="limit",
        )


def encode_cursor(ended_micros: int, sequence: int) -> str:
    """The opaque cursor for the entry after (ended, sequence)."""
    return f"{ended_micros}.{sequence}"


def decode_cursor(cursor: str | None) -> tuple[int, int]:
    """The position a cursor names; the start for ``None``.

    Only what :func:`encode_cursor` writes is accepted: two whole numbers
    that fit a BIGINT, so no store is handed a number it cannot bind.
    """
    if cursor is None:
        return (-(2**62), -1)
    match = _CURSOR.fullmatch(cursor) if isinstance(cursor, str) else None
    position = None if match is None else (int(match[1]), int(match[2]))
    if position is None or max(position) > _MAX_POSITION:
        raise InvalidInput(
            ErrorCode.INVALID_PAGE,
            f"{shown(cursor)} is not a history cursor",
            field="cursor",
        )
    return position


def check_feed_read(after: int, limit: int) -> None:
    """Refuse a feed read from anything but a position 0 to 2**63 - 1, or a
    page size that is not 1 to 1,000."""
    if isinstance(after, bool) or not isinstance(after, int):
        after_ok = False
    else:
        after_ok = 0 <= after <= _MAX_POSITION
    if not after_ok:
        raise InvalidInput(
            ErrorCode.INVALID_PAGE,
            f"after must be a feed position (a whole number from 0), "
            f"not {shown(after)}",
            field="after",
        )
    check_limit(limit)


def check_wait(timeout: float) -> None:
    """Refuse a wait that is not 0 to 3,600 seconds."""
    ok = isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
    if not ok or not 0 <= timeout <= 3600:
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"timeout must be 0 to 3600 seconds, not {shown(timeout)}",
            field="timeout",
        )


def check_prune(before: datetime, limit: int) -> None:
    """Refuse a prune before anything but an aware instant, or of a limit
    that is not a whole number SQL holds (one below 1 prunes nothing)."""
    check_instant(before, "before")
    check_whole_limit(limit)


def check_instant(value: object, field: str) -> datetime:
    """``value`` as UTC, refused as :func:`utc_instant` refuses it, the
    refusal naming ``field``."""
    try:
        return utc_instant(value)
    except InvalidInput as error:
        raise InvalidInput(
            error.code, f"{field}: {error.message}", field=field, **error.details
        ) from None


def check_whole_limit(limit: object) -> None:
    """Refuse a limit that is not a whole number up to 2**63 - 1."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit > _MAX_POSITION:
        raise InvalidInput(
            ErrorCode.INVALID_LIMIT,
            f"limit must be a whole number up to 2**63 - 1, not {shown(limit)}",
            field="limit",
        )
