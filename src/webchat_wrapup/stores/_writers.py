"""JSON text for the SQL stores, written fast: the same text as the general
route, without its per-call costs.

A command's encoding (its agent's state, its outcome, any history entry) is
a large share of what a SQLite save costs in Python, so:

- :func:`compact` writes what ``json.JSONEncoder(separators=(",", ":"))``
  writes, with the standard library's C encoder built once rather than at
  every call (or that encoder, where the C one is missing);
- :func:`entry_data` is ``ContactHistoryEntry.to_dict()``, from a plan of
  fields and converters derived once from its type hints (the general
  route inspects every value of every call);
- :func:`event_text` is an event as the stores keep it, a JSON array of
  its type then its field values (instants in microseconds, enums as their
  values, a classification as ``[label, code, group]``), written by a
  function made once per event class: an f-string, one field after
  another, with no list or encoder in between. Every command writes its
  events.

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


_json_string: Callable[[str], str] = json.encoder.encode_basestring_ascii
"""A string as JSON text, non-ASCII escaped (as :func:`compact` writes it)."""


def optional_text(value: str | None) -> str:
    """An optional string as JSON text."""
    return "null" if value is None else _json_string(value)


def classification_text(classification: Classification) -> str:
    """A classification as the stores keep it: ``[label, code, group]``."""
    return (
        f"[{_json_string(classification.label)},"
        f"{optional_text(classification.code)},"
        f"{optional_text(classification.group)}]"
    )


def _field_text(kind: Any, value: str) -> str:
    """An expression writing ``value`` (an expression of type ``kind``,
    never ``None``) as JSON text, as :func:`compact` would write its stored
    form."""
    if kind is str:
        return f"_json_string({value})"
    if kind is datetime:
        return f"instant_to_micros({value})"
    if kind is int:
        return f"int.__repr__({value})"
    if kind is bool:
        return f"('true' if {value} else 'false')"
    if kind is float:
        return f"compact({value})"
    if isinstance(kind, type) and issubclass(kind, Enum):
        if not all(isinstance(member.value, str) for member in kind):
            raise TypeError(f"no text plan for {kind!r}")
        return f"_json_string({value}._value_)"
    if kind is Classification:
        return f"classification_text({value})"
    raise TypeError(f"no text plan for {kind!r}")


def _text_writer(cls: type) -> Callable[[Event], str]:
    """A function writing an event of ``cls`` as JSON text, made from an
    f-string of its fields (the text :func:`compact` writes of the stored
    form: a test holds them equal)."""
    hints = typing.get_type_hints(cls)
    parts = ["{tag}"]
    for field in attrs.fields(cls):
        if not field.init:
            continue
        hint = hints[field.name]
        value = f"event.{field.name}"
        text = _field_text(_kind(hint), value)
        if type(None) in typing.get_args(hint):
            text = f"'null' if {value} is None else {text}"
        parts.append("{" + text + "}")
    source = f'def write(event):\n    return f"[{",".join(parts)}]"\n'
    # The source is made of the class's field names (identifiers, read from
    # the class) and the expressions above: nothing from outside.
    namespace: dict[str, Any] = {
        "tag": _json_string(cls.type),  # type: ignore[attr-defined]
        "_json_string": _json_string,
        "instant_to_micros": instant_to_micros,
        "compact": compact,
        "classification_text": classification_text,
    }
    exec(compile(source, f"<event text of {cls.__name__}>", "exec"), namespace)
    return namespace["write"]  # type: ignore[no-any-return]


_TEXT_WRITERS = {cls: _text_writer(cls) for cls in EVENT_TYPES.values()}


def event_text(event: Event) -> str:
    """The event as the stores keep it: ``[type, field values...]`` as
    compact JSON text (non-ASCII escaped)."""
    return _TEXT_WRITERS[type(event)](event)
