"""JSON text for the SQL stores, written fast: the same text as the general
route, without its per-call costs.

A command's encoding (its agent's state, its outcome, any history entry) is
a large share of what a SQLite save costs in Python, so:

- :func:`compact` writes what ``json.JSONEncoder(separators=(",", ":"))``
  writes, with the standard library's C encoder built once rather than at
  every call (or that encoder, where the C one is missing);
- :func:`entry_data` is ``ContactHistoryEntry.to_dict()``, and
  :func:`event_row` the stores' positional row of an event, each from a
  plan of fields and converters derived once per class from its type hints
  (the general route inspects every value of every call).

Tests hold each to the general route's output.
"""

from __future__ import annotations

import json
import json.encoder
import typing
from collections.abc import Callable
from datetime import datetime, timezone
from enum import Enum
from operator import attrgetter
from typing import Any

import attrs

from .._core._events import EVENT_TYPES, Event
from .._core._history import Classification, ContactHistoryEntry
from .._core._json import SCHEMA_VERSION
from ._instants import instant_to_micros

Convert = Callable[[Any], Any]


def _compact_writer() -> Callable[[Any], str]:
    encoder = json.JSONEncoder(separators=(",", ":"))
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return encoder.encode
    # What JSONEncoder.iterencode builds at every call, built once: no
    # circular check (``markers`` None), nothing sorted or skipped.
    write = make(
        None,
        encoder.default,
        json.encoder.encode_basestring_ascii,
        None,
        ":",
        ",",
        False,
        False,
        True,
    )
    return lambda data: "".join(write(data, 0))


compact = _compact_writer()
"""A list or dict as compact JSON text (non-ASCII escaped)."""


def _iso(instant: datetime) -> str:
    if instant.tzinfo is not timezone.utc:
        instant = instant.astimezone(timezone.utc)
    return instant.isoformat().replace("+00:00", "Z")


def _kind(hint: Any) -> Any:
    """The type a field holds, ``None`` taken out of an optional one."""
    options = [o for o in typing.get_args(hint) if o is not type(None)]
    return options[0] if options else hint


def _plan(cls: type, convert: Callable[[Any], Convert | None]) -> list[Any]:
    """(name, converter or ``None``) for each field of an attrs class."""
    hints = typing.get_type_hints(cls)
    return [
        (field.name, convert(_kind(hints[field.name])))
        for field in attrs.fields(cls)
        if field.init
    ]


def _as_data(kind: Any) -> Convert | None:
    """The converter ``to_data`` applies to a value of ``kind`` (not None)."""
    if kind is datetime:
        return _iso
    if isinstance(kind, type) and issubclass(kind, Enum):
        return attrgetter("_value_")
    if attrs.has(kind):
        return _data_writer(kind)
    if kind in (str, int, float, bool):
        return None
    raise TypeError(f"no JSON data plan for {kind!r}")


def _data_writer(cls: type) -> Convert:
    plan = _plan(cls, _as_data)
    if getattr(cls, "kind", None) is not None:
        raise TypeError(f"{cls.__name__} is tagged: not planned")

    def write(value: Any) -> dict[str, Any]:
        data = {}
        for name, convert in plan:
            item = getattr(value, name)
            data[name] = item if convert is None or item is None else convert(item)
        return data

    return write


_entry_fields = _data_writer(ContactHistoryEntry)


def entry_data(entry: ContactHistoryEntry) -> dict[str, Any]:
    """``entry.to_dict()``, built from a plan."""
    return {"schema_version": SCHEMA_VERSION, **_entry_fields(entry)}


def _positional(kind: Any) -> Convert | None:
    """How an event's field is stored: instants in microseconds, enums as
    their values, a classification as [label, code, group]; text, numbers
    and flags as they are."""
    if kind is datetime:
        return instant_to_micros
    if isinstance(kind, type) and issubclass(kind, Enum):
        return attrgetter("_value_")  # the member's own attribute: no descriptor
    if kind is Classification:
        return attrgetter("label", "code", "group")
    if kind in (str, int, float, bool):
        return None
    raise TypeError(f"no stored form for {kind!r}")


def _row_writer(cls: type) -> Callable[[Event], list[Any]]:
    plan = _plan(cls, _positional)
    names = [name for name, _ in plan]
    values = attrgetter(*names) if len(names) > 1 else None
    converts = [(index, convert) for index, (_, convert) in enumerate(plan) if convert]
    tag = cls.type  # type: ignore[attr-defined]

    def write(event: Event) -> list[Any]:
        row = [tag, *values(event)] if values else [tag, getattr(event, names[0])]
        for index, convert in converts:
            item = row[index + 1]
            if item is not None:
                item = convert(item)
                row[index + 1] = list(item) if type(item) is tuple else item
        return row

    return write


_ROW_WRITERS = {cls: _row_writer(cls) for cls in EVENT_TYPES.values()}


def event_row(event: Event) -> list[Any]:
    """The event as the stores keep it: its type, then its field values."""
    return _ROW_WRITERS[type(event)](event)
