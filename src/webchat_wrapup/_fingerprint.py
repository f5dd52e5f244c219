"""A command's fingerprint: the digest of its canonical JSON form.

The canonical form is ``command_to_dict(command)`` with the fields left
empty (``None``) taken out and an assign's queue named by its id, written
as ``json.dumps(data, sort_keys=True, separators=(",", ":"),
ensure_ascii=True)`` writes it. Every stored command record holds such a
digest, so the text may never change. It is written here by a function
made once per command type from a plan (its keys in order, a writer per
field): one f-string, the same text without the general route's work at
every call. A type the plan cannot cover takes the general route.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import json.encoder
import typing
from collections.abc import Callable
from datetime import datetime, timezone
from enum import Enum
from typing import Any

import attrs

from ._core._commands import Command, command_to_dict
from ._core._json import SCHEMA_VERSION
from ._core._policy import QueuePolicy

_text: Callable[[str], str] = json.encoder.encode_basestring_ascii


def _sha256() -> Callable[[bytes], Any]:
    """SHA-256 as the interpreter's own module computes it, where it has one.

    ``hashlib.sha256`` goes through OpenSSL, whose set-up per digest costs
    more than digesting a command's hundred bytes, and several times more on
    a cache gone cold, as after a disk sync (the SQLite store's every save).
    The digest is the same: a test holds them equal.
    """
    for module in ("_sha2", "_sha256"):  # Python 3.12 and later, then before
        try:
            return importlib.import_module(module).sha256  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    return hashlib.sha256  # a build without them (FIPS, say)


_digest = _sha256()
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)

Plan = list[tuple[str, str | None, Callable[[Any], str]]]
"""(``"key":``, the field read, or ``None`` for a constant, its writer)."""


def fingerprint_of(command: Command) -> str:
    """A digest of the command's canonical JSON form: what a retry must match.

    Sorted keys, compact separators and the schema version make it stable;
    fields left empty (``None``) are left out, so a release that adds an
    optional field keeps every fingerprint already stored. An assign names
    its queue by id and leaves out the body of the queue's policy, so a
    router's retry still matches after an administrator edits the queue.
    """
    return _digest(canonical_text(command).encode("ascii")).hexdigest()  # type: ignore[no-any-return]


def canonical_text(command: Command) -> str:
    """The text :func:`fingerprint_of` digests."""
    write = _WRITERS.get(type(command))
    return _general_text(command) if write is None else write(command)


def _general_text(command: Command) -> str:
    data = {k: v for k, v in command_to_dict(command).items() if v is not None}
    queue = data.get("queue")
    if isinstance(queue, dict):
        data["queue"] = queue["queue_id"]
    return _CANONICAL.encode(data)


def _iso(instant: datetime) -> str:
    if instant.tzinfo is not timezone.utc:
        instant = instant.astimezone(timezone.utc)
    return _text(instant.isoformat().replace("+00:00", "Z"))


def _writer(hint: Any) -> Callable[[Any], str] | None:
    """How the canonical form writes a field of this type, if planned."""
    options = [o for o in typing.get_args(hint) if o is not type(None)] or [hint]
    if len(options) != 1:
        return None
    kind = options[0]
    if kind is str:
        return _text
    if kind is bool:
        return lambda value: "true" if value else "false"
    if kind is int:
        return int.__repr__
    if kind is datetime:
        return _iso
    if kind is QueuePolicy:
        return lambda queue: _text(queue.queue_id)
    if _text_enum(kind):
        return lambda member: _text(member.value)
    return None


def _text_enum(kind: Any) -> bool:
    return (
        isinstance(kind, type)
        and issubclass(kind, Enum)
        and all(isinstance(member.value, str) for member in kind)
    )


def _constant(text: str) -> Callable[[Any], str]:
    return lambda _: text


def _plan(cls: type) -> Plan | None:
    hints = typing.get_type_hints(cls)
    steps: dict[str, tuple[str | None, Callable[[Any], str]]] = {
        "schema_version": (None, _constant(str(SCHEMA_VERSION))),
        "type": (None, _constant(_text(cls.name))),  # type: ignore[attr-defined]
    }
    for field in attrs.fields(cls):
        write = _writer(hints[field.name])
        if write is None or field.name in steps or not field.init:
            return None
        steps[field.name] = (field.name, write)
    return [(_text(key) + ":", *steps[key]) for key in sorted(steps)]


def _text_writer(plan: Plan) -> Callable[[Any], str]:
    """A function writing a command's canonical text from ``plan``: an
    f-string of its keys and fields in order, each field left out when it
    is ``None``. Every part starts with a comma; the first is dropped."""
    parts = []
    namespace: dict[str, Any] = {}
    for number, (key, name, write) in enumerate(plan):
        namespace[f"key{number}"] = "," + key
        if name is None:
            namespace[f"key{number}"] += write(None)
            parts.append(f"{{key{number}}}")
            continue
        namespace[f"write{number}"] = write
        field = f"command.{name}"
        parts.append(
            f"{{'' if {field} is None else key{number} + write{number}({field})}}"
        )
    # The source is made of the plan's numbers and the command's field
    # names (identifiers, read from the class): nothing from outside.
    source = f'def write(command):\n    return "{{" + f"{"".join(parts)}"[1:] + "}}"\n'
    exec(compile(source, "<canonical text>", "exec"), namespace)
    return namespace["write"]  # type: ignore[no-any-return]


def _writers() -> dict[type, Callable[[Any], str]]:
    writers = {}
    for cls in typing.get_args(Command):
        plan = _plan(cls)
        if plan is not None:
            writers[cls] = _text_writer(plan)
    return writers


_WRITERS = _writers()
