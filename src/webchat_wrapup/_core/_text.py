"""Cleaning text typed by agents: trimmed, NFC-normalised, no control characters."""

from __future__ import annotations

import unicodedata

from ._errors import ErrorCode, InvalidInput, shown

_LINE_BREAKS = frozenset("\n\t")
MAX_IDENTIFIER_LENGTH = 200


def clean_line(text: str, what: str) -> str:
    """``text`` trimmed and NFC-normalised; any control character is refused."""
    cleaned = unicodedata.normalize("NFC", check_text(text, what).strip())
    _refuse_control_characters(cleaned, what, allowed=frozenset())
    return cleaned


def clean_paragraphs(text: str, what: str) -> str:
    """Like :func:`clean_line`, but line breaks and tabs are kept."""
    text = check_text(text, what).strip()
    cleaned = unicodedata.normalize("NFC", text).replace("\r\n", "\n")
    _refuse_control_characters(cleaned, what, allowed=_LINE_BREAKS)
    return cleaned


def check_clean(value: object, what: str, *, paragraphs: bool = False) -> str:
    """``value`` if it is text with no control character, as cleaning leaves it
    (line breaks and tabs are allowed in ``paragraphs``)."""
    text = check_text(value, what)
    plain = text.replace("\n", "").replace("\t", "") if paragraphs else text
    if not plain.isprintable():  # the slow check only when the fast one fails
        allowed = _LINE_BREAKS if paragraphs else frozenset()
        _refuse_control_characters(text, what, allowed)
    return text


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


def check_text(value: object, what: str) -> str:
    """``value`` if it is a string; an ``invalid_argument`` error otherwise."""
    if not isinstance(value, str):
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            f"{what} must be text, not {shown(value)}",
            field=what,
        )
    return value


def check_optional_text(value: object, what: str) -> str | None:
    """``value`` if it is a string or ``None``."""
    return None if value is None else check_text(value, what)


USABLE: set[str] = set()
"""Identifiers already found usable: every command names its agent and chat
again, and a set lookup costs a third of the check. Bounded, and only ever
holds strings that passed, so a race between threads can only cost a check."""
_MAXUSABLE = 10_000


def check_identifier(value: object, what: str) -> str:
    """``value`` if it is a usable identifier: a non-empty printable string."""
    if type(value) is str and value in USABLE:
        return value
    if not isinstance(value, str) or not value or len(value) > MAX_IDENTIFIER_LENGTH:
        raise InvalidInput(
            ErrorCode.INVALID_IDENTIFIER,
            f"{what} must be a non-empty string of at most "
            f"{MAX_IDENTIFIER_LENGTH} characters, not {shown(value)}",
            field=what,
        )
    if value != value.strip() or not value.isprintable():
        raise InvalidInput(
            ErrorCode.INVALID_IDENTIFIER,
            f"{what} {shown(value)} must be printable with no surrounding spaces",
            field=what,
        )
    if len(USABLE) >= _MAXUSABLE:
        USABLE.clear()
    USABLE.add(value)
    return value
