"""History pages as every store reads them: page sizes and opaque cursors."""

from __future__ import annotations

from .._core._errors import ErrorCode, InvalidInput


def check_limit(limit: int) -> None:
    """Refuse page sizes that are not 1 to 1,000."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise InvalidInput(
            ErrorCode.INVALID_PAGE,
            f"limit must be a whole number from 1 to 1000, not {limit!r}",
            field="limit",
        )


def encode_cursor(ended_micros: int, sequence: int) -> str:
    """The opaque cursor for the entry after (ended, sequence)."""
    return f"{ended_micros}.{sequence}"


def decode_cursor(cursor: str | None) -> tuple[int, int]:
    """The position a cursor names; the start for ``None``."""
    if cursor is None:
        return (-(2**62), -1)
    try:
        ended, sequence = cursor.split(".")
        return int(ended), int(sequence)
    except (AttributeError, ValueError):
        raise InvalidInput(
            ErrorCode.INVALID_PAGE,
            f"{cursor!r} is not a history cursor",
            field="cursor",
        ) from None
