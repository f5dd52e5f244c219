"""Cleaning text typed by agents: trimmed, NFC-normalised, no control characters."""

from __future__ import annotations

import unicodedata

from ._errors import ErrorCode, InvalidInput

_LINE_BREAKS = frozenset("\n\t")


def clean_line(text: str, what: str) -> str:
    """``text`` trimmed and NFC-normalised; any control character is refused."""
    cleaned = unicodedata.normalize("NFC", text.strip())
    _refuse_control_characters(cleaned, what, allowed=frozenset())
    return cleaned


def clean_paragraphs(text: str, what: str) -> str:
    """Like :func:`clean_line`, but line breaks and tabs are kept."""
    cleaned = unicodedata.normalize("NFC", text.strip()).replace("\r\n", "\n")
    _refuse_control_characters(cleaned, what, allowed=_LINE_BREAKS)
    return cleaned


def _refuse_control_characters(text: str, what: str, allowed: frozenset[str]) -> None:
    for position, character in enumerate(text):
        if character in allowed:
            continue
        if unicodedata.category(character) in ("Cc", "Cs"):
            raise InvalidInput(
                ErrorCode.CONTROL_CHARACTERS,
                f"{what} contains the control character U+{ord(character):04X} "
                f"at position {position}",
                field=what,
                position=position,
            )


def check_identifier(value: object, what: str) -> str:
    """``value`` if it is a usable identifier: a non-empty printable string."""
    if not isinstance(value, str) or not value or len(value) > 200:
        raise InvalidInput(
            ErrorCode.INVALID_IDENTIFIER,
            f"{what} must be a non-empty string of at most 200 characters, "
            f"not {value!r}",
            field=what,
        )
    if value != value.strip() or not value.isprintable():
        raise InvalidInput(
            ErrorCode.INVALID_IDENTIFIER,
            f"{what} {value!r} must be printable with no surrounding spaces",
            field=what,
        )
    return value
