"""Turning the library's frozen values into JSON-ready data and back.

Datetimes become ISO 8601 strings in UTC, enums their values, tuples and
frozensets lists (frozensets sorted), nested values dictionaries. Every
top-level document carries ``schema_version``.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar, Union

import attrs

from ._errors import ErrorCode, InvalidInput, shown
from ._instants import utc_instant

SCHEMA_VERSION = 1
"""The version of every JSON form this library writes."""

T = TypeVar("T")

_hints_cache: dict[type, dict[str, Any]] = {}


_attrs_fields: dict[type, tuple[tuple[str, ...], str | None]] = {}
"""Each attrs class's init field names and its ``kind`` tag, learnt once."""


def to_data(value: Any) -> Any:
    """``value`` as plain JSON-ready data (dicts, lists, strings, numbers)."""
    cls = type(value)
    if value is None or cls is str or cls is int or cls is bool or cls is float:
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        if value.tzinfo is not timezone.utc:
            value = value.astimezone(timezone.utc)
        return value.isoformat().replace("+00:00", "Z")
    if cls is tuple or cls is list:
        return [to_data(item) for item in value]
    if cls is frozenset:
        return sorted(to_data(item) for item in value)
    known = _attrs_fields.get(cls)
    if known is None:
        if not attrs.has(cls):
            raise TypeError(f"cannot turn {cls.__name__} into JSON data")
        names = tuple(field.name for field in attrs.fields(cls) if field.init)
        known = _attrs_fields[cls] = (names, getattr(cls, "kind", None))
    names, kind = known
    data = {name: to_data(getattr(value, name)) for name in names}
    return data if kind is None else {"kind": kind, **data}


def from_data(cls: Any, data: Any, where: str = "$") -> Any:
    """The value of type ``cls`` that :func:`to_data` turned into ``data``."""
    origin = typing.get_origin(cls)
    if origin in (Union, types.UnionType):
        return _from_union(typing.get_args(cls), data, where)
    if origin is tuple:
        item_type = typing.get_args(cls)[0]
        items = _expect(list, data, where)
        return tuple(
            from_data(item_type, item, f"{where}[{index}]")
            for index, item in enumerate(items)
        )
    if origin is frozenset:
        item_type = typing.get_args(cls)[0]
        items = _expect(list, data, where)
        return frozenset(from_data(item_type, item, f"{where}[]") for item in items)
    if isinstance(cls, type) and issubclass(cls, enum.Enum):
        try:  # every enum here has text values; the lookup reprs what it misses
            return cls(_expect(str, data, where))
        except ValueError:
            raise _bad(where, f"{shown(data)} is not a {cls.__name__}") from None
    if cls is datetime:
        return _parse_instant(data, where)
    if cls is bool or cls is str:
        return _expect(cls, data, where)
    if cls is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise _bad(where, f"expected a whole number, not {shown(data)}")
        return data
    if cls is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise _bad(where, f"expected a number, not {shown(data)}")
        if data != data or abs(data) > 1e15:  # NaN, infinities, absurd sizes
            raise _bad(where, f"{shown(data)} is out of range")
        return float(data)
    if attrs.has(cls):
        return _from_attrs(cls, data, where)
    raise TypeError(f"cannot read {cls!r} from JSON data")


def _from_union(options: tuple[Any, ...], data: Any, where: str) -> Any:
    if data is None and type(None) in options:
        return None
    candidates = [option for option in options if option is not type(None)]
    if len(candidates) == 1:
        return from_data(candidates[0], data, where)
    kind = data.get("kind") if isinstance(data, dict) else None
    for option in candidates:
        if getattr(option, "kind", None) == kind:
            return from_data(option, data, where)
    raise _bad(where, f"unknown kind {shown(kind)}")


def _from_attrs(cls: type[T], data: Any, where: str) -> T:
    mapping = _expect(dict, data, where)
    hints = _hints_cache.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _hints_cache[cls] = hints
    values: dict[str, Any] = {}
    for field in attrs.fields(typing.cast(Any, cls)):
        if not field.init:
            continue
        if field.name not in mapping:
            if field.default is attrs.NOTHING:
                raise _bad(f"{where}.{field.name}", "is missing")
            continue
        path = f"{where}.{field.name}"
        values[field.name] = from_data(hints[field.name], mapping[field.name], path)
    return cls(**values)


def _expect(kind: type[T], data: Any, where: str) -> T:
    if not isinstance(data, kind):
        raise _bad(where, f"expected {kind.__name__}, not {type(data).__name__}")
    return data


def _parse_instant(data: Any, where: str) -> datetime:
    text = _expect(str, data, where)
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(where, f"{shown(text)} is not an ISO 8601 instant") from None
    if instant.utcoffset() is None:
        raise _bad(where, f"{shown(text)} has no UTC offset")
    try:
        return utc_instant(instant)
    except InvalidInput as error:
        raise _bad(where, error.message) from None


def _bad(where: str, message: str) -> InvalidInput:
    return InvalidInput(ErrorCode.INVALID_JSON, f"{where}: {message}", path=where)


def tagged_to_dict(value: Any, tag: str) -> dict[str, Any]:
    """``value`` as data with its ``type`` tag and the schema version."""
    return {"schema_version": SCHEMA_VERSION, "type": tag, **to_data(value)}


def tagged_from_dict(data: object, types_by_tag: dict[str, type[T]], what: str) -> T:
    """The value :func:`tagged_to_dict` wrote, found by its ``type`` tag."""
    mapping = dict(_expect(dict, data, "$"))
    check_schema_version(mapping.pop("schema_version", None))
    tag = mapping.pop("type", None)
    cls = types_by_tag.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise _bad("$.type", f"{shown(tag)} is not a known {what} type")
    return typing.cast(T, from_data(cls, mapping))


def document_to_dict(value: Any) -> dict[str, Any]:
    """``value`` as data with the schema version."""
    return {"schema_version": SCHEMA_VERSION, **to_data(value)}


def document_from_dict(cls: type[T], data: object) -> T:
    """The value :func:`document_to_dict` wrote."""
    mapping = dict(_expect(dict, data, "$"))
    check_schema_version(mapping.pop("schema_version", None))
    return typing.cast(T, from_data(cls, mapping))


def checked(check: Callable[[T], object], value: T) -> T:
    """``value`` if ``check`` passes; its refusal as ``invalid_json`` otherwise.

    Decoders use it to refuse what ``to_dict`` could never have written: the
    check names the field, which becomes the error's ``path``.
    """
    try:
        check(value)
    except InvalidInput as error:
        field = str(error.details.get("field") or "$")
        path = field if field.startswith("$") else f"$.{field}"
        raise InvalidInput(ErrorCode.INVALID_JSON, error.message, path=path) from None
    return value


def _small_int(value: object) -> bool:
    return type(value) is int and value.bit_length() < 64


def check_schema_version(version: object) -> None:
    """Refuse documents written by a newer (or unknown) version of the library.

    The version is exactly the whole number: ``true`` and ``1.0`` equal 1 in
    Python, but no version of the library ever wrote them.
    """
    if type(version) is not int or version != SCHEMA_VERSION:
        raise InvalidInput(
            ErrorCode.UNSUPPORTED_SCHEMA_VERSION,
            f"schema version {shown(version)} is not supported; "
            f"this library reads version {SCHEMA_VERSION}",
            schema_version=version if _small_int(version) else shown(version),
        )
