"""Policy files: TOML with global defaults, per-queue overrides and profiles.

```toml
[defaults]
countdown_seconds = 90
max_extensions = 2
classification = "dropdown"
options = [
  { code = "refund", label = "Refund", group = "Billing" },
  { code = "other", label = "Other" },
]

[queues.sales]
countdown_seconds = 45
max_extensions = 1

[profiles.trainee]
codes = ["refund"]

[agents.agent-ana]
profile = "trainee"
capacity = 2
```

Every queue inherits every setting from ``[defaults]`` and may override
any of them (``options`` is replaced as a whole). A key given nowhere takes
the default of the policy class it feeds (:class:`WrapUpPolicy`,
:class:`ClassificationPolicy`, :class:`FreeTextClassification`,
:meth:`AgentState.new`), so the file can never disagree with the library.
Every error names the file, the key and what is wrong.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .._core._agent import AgentState
from .._core._errors import ErrorCode, InvalidPolicy, WrapUpError
from .._core._policy import (
    ClassificationOption,
    ClassificationPolicy,
    DropdownClassification,
    ExpiryRule,
    FreeTextClassification,
    QueuePolicy,
    WrapUpPolicy,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found]

_SETTINGS: dict[str, type | tuple[type, ...]] = {
    "wrap_up": bool,
    "countdown_seconds": (int, bool),
    "extension_seconds": int,
    "max_extensions": int,
    "early_exit": bool,
    "pause_allowed": bool,
    "max_paused_seconds": (int, bool),
    "classification": str,
    "options": list,
    "free_text_min_length": int,
    "free_text_max_length": int,
    "required": bool,
    "on_expiry": str,
    "timeout_default": str,
    "additional_text_max_length": int,
    "capacity": int,
}
"""Every key a ``[defaults]`` or ``[queues.NAME]`` section may hold."""

_WRAP_UP_KEYS = {
    "wrap_up": "enabled",
    "countdown_seconds": "countdown_seconds",
    "extension_seconds": "extension_seconds",
    "max_extensions": "max_extensions",
    "early_exit": "early_exit_allowed",
    "pause_allowed": "pause_allowed",
    "max_paused_seconds": "max_paused_seconds",
}
"""File key: the :class:`WrapUpPolicy` field it sets."""

_CLASSIFICATION_KEYS = {
    "required": "required",
    "on_expiry": "on_expiry",
    "timeout_default": "timeout_default",
    "additional_text_max_length": "additional_text_max_length",
}
"""File key: the :class:`ClassificationPolicy` field it sets."""

_FREE_TEXT_KEYS = {
    "free_text_min_length": "min_length",
    "free_text_max_length": "max_length",
}
"""File key: the :class:`FreeTextClassification` field it sets."""

_FILE_KEY_OF_SETTING = {
    **{
        setting: key
        for keys in (_WRAP_UP_KEYS, _CLASSIFICATION_KEYS, _FREE_TEXT_KEYS)
        for key, setting in keys.items()
    },
    "choices": "classification",
    "queue_id": "queues",
}
"""The file key to blame for an error the policy classes raise."""


def class_default(cls: type, name: str) -> Any:
    """The default of the attrs field ``name`` of ``cls``: the one source of it."""
    return getattr(attrs.fields(cls), name).default


DEFAULT_CLASSIFICATION: str = class_default(ClassificationPolicy, "choices").kind
"""``dropdown`` or ``free_text``: the mode of ``ClassificationPolicy()``."""

DEFAULT_CAPACITY: int = class_default(AgentState, "capacity")
"""The capacity of an agent and a queue that the file gives none."""

SEED_QUEUE = "webchat"
"""The one queue of :func:`seed_product_policies`."""

_TOP_LEVEL = {"defaults", "queues", "profiles", "agents", "simulation"}


class PolicyFileError(InvalidPolicy):
    """A policy file that cannot be read or holds an invalid setting."""

    def __init__(self, source: str, key: str, message: str) -> None:
        WrapUpError.__init__(
            self,
            ErrorCode.INVALID_POLICY,
            f"{source}: {key}: {message}" if key else f"{source}: {message}",
            file=source,
            key=key,
        )
        self.setting = key
        self.file = source
        self.key = key
        self.problem = message


@attrs.frozen
class AgentSettings:
    """One agent's settings from a policy file."""

    capacity: int
    classification_profile: frozenset[str] | None


@attrs.frozen
class PolicyFile:
    """The effective policies a file defines."""

    source: str
    queues: Mapping[str, QueuePolicy]
    queue_capacity: Mapping[str, int]
    default_capacity: int
    profiles: Mapping[str, frozenset[str]]
    agents: Mapping[str, AgentSettings]
    simulation: Mapping[str, Any]

    def agent(self, agent_id: str) -> AgentSettings:
        """The settings of ``agent_id``: its own section, or the defaults."""
        return self.agents.get(agent_id, AgentSettings(self.default_capacity, None))


def seed_product_policies() -> PolicyFile:
    """One queue, :data:`SEED_QUEUE`, with every setting at the library's default.

    The defaults of :class:`WrapUpPolicy` are the seed product's wrap-up
    (:func:`describe_seed_wrap_up` says it in words).
    """
    return parse_policy_file({"queues": {SEED_QUEUE: {}}}, "seed defaults")


def describe_seed_wrap_up() -> str:
    """The seed product's wrap-up in words, for help text."""
    wrap_up = WrapUpPolicy()
    return (
        f"a {wrap_up.countdown_seconds} s countdown, {wrap_up.max_extensions} "
        f"extensions of {wrap_up.extension_seconds} s"
    )


def load_policy_file(path: str | Path) -> PolicyFile:
    """Read and validate the policy file at ``path``."""
    source = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise PolicyFileError(source, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyFileError(source, "", f"cannot read it: {error}") from None
    try:
        data = tomllib.loads(text)
    except (ValueError, RecursionError) as error:
        # TOMLDecodeError is a ValueError; so is an integer past 4,300 digits,
        # and arrays nested thousands deep exhaust the parser's recursion.
        raise PolicyFileError(source, "", f"not valid TOML: {error}") from None
    return parse_policy_file(data, source)


def parse_policy_file(data: Mapping[str, Any], source: str = "<policy>") -> PolicyFile:
    """Validate already-parsed TOML data (see the module docstring)."""
    for key in data:
        if key not in _TOP_LEVEL:
            raise PolicyFileError(source, key, f"unknown section; use {_names()}")
    defaults = _table(data, "defaults", source)
    _check_keys(defaults, "defaults", source)
    queues_data = _table(data, "queues", source)
    if not queues_data:
        raise PolicyFileError(source, "queues", "define at least one [queues.NAME]")
    queues: dict[str, QueuePolicy] = {}
    capacity: dict[str, int] = {}
    for name, section in queues_data.items():
        where = f"queues.{name}"
        if not isinstance(section, dict):
            raise PolicyFileError(source, where, "must be a table")
        _check_keys(section, where, source)
        merged = {**defaults, **section}
        try:
            queues[name] = _queue(name, merged, where, source)
            capacity[name] = _capacity(
                merged.get("capacity", DEFAULT_CAPACITY), where, source
            )
        except PolicyFileError as error:
            raise _blame_defaults(error, defaults, section, where) from None
    default_capacity = max(capacity.values())
    profiles = _profiles(data, source, queues)
    agents = _agents(data, source, profiles, default_capacity)
    return PolicyFile(
        source,
        queues,
        capacity,
        default_capacity,
        profiles,
        agents,
        _table(data, "simulation", source),
    )


def _blame_defaults(
    error: PolicyFileError,
    defaults: Mapping[str, Any],
    section: Mapping[str, Any],
    where: str,
) -> PolicyFileError:
    """The same error, naming ``[defaults]`` when the queue inherited the key."""
    key = error.key.removeprefix(f"{where}.")
    setting = key.split(".")[0].split("[")[0]
    if key == error.key or setting in section or setting not in defaults:
        return error
    return PolicyFileError(
        error.file, f"defaults.{key}", f"{error.problem} (in {where})"
    )


def _names() -> str:
    return ", ".join(f"[{name}]" for name in sorted(_TOP_LEVEL))


def _table(data: Mapping[str, Any], key: str, source: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise PolicyFileError(source, key, "must be a table")
    return value


def _check_keys(section: Mapping[str, Any], where: str, source: str) -> None:
    for key, value in section.items():
        expected = _SETTINGS.get(key)
        if expected is None:
            known = ", ".join(sorted(_SETTINGS))
            raise PolicyFileError(source, f"{where}.{key}", f"unknown key; use {known}")
        wanted = expected if isinstance(expected, tuple) else (expected,)
        if isinstance(value, bool) and bool not in wanted:
            raise _wrong_type(source, f"{where}.{key}", wanted, value)
        if not isinstance(value, wanted):
            raise _wrong_type(source, f"{where}.{key}", wanted, value)


def _wrong_type(
    source: str, key: str, wanted: tuple[type, ...], value: object
) -> PolicyFileError:
    names = {bool: "true or false", int: "a whole number", str: "text", list: "a list"}
    expected = " or ".join(names.get(kind, kind.__name__) for kind in wanted)
    return PolicyFileError(source, key, f"must be {expected}, not {value!r}")


def _given(merged: Mapping[str, Any], keys: Mapping[str, str]) -> dict[str, Any]:
    """The fields the file sets; the others keep the class's own default."""
    return {field: merged[key] for key, field in keys.items() if key in merged}


def _queue(name: str, merged: dict[str, Any], where: str, source: str) -> QueuePolicy:
    try:
        rules = _classification(merged, where, source)
        return QueuePolicy(name, _wrap_up(merged), rules)
    except PolicyFileError:
        raise
    except InvalidPolicy as error:
        key = _FILE_KEY_OF_SETTING.get(error.setting, error.setting)
        raise PolicyFileError(source, f"{where}.{key}", error.reason) from None


def _wrap_up(merged: Mapping[str, Any]) -> WrapUpPolicy:
    given = _given(merged, _WRAP_UP_KEYS)
    for name in ("countdown_seconds", "max_paused_seconds"):
        seconds = given.get(name)
        if seconds is True:
            raise InvalidPolicy(name, "use a number of seconds or false")
        if seconds is False:  # TOML has no null: false means none (no limit)
            given[name] = None
    return WrapUpPolicy(**given)


def _classification(
    merged: Mapping[str, Any], where: str, source: str
) -> ClassificationPolicy:
    given = _given(merged, _CLASSIFICATION_KEYS)
    if "on_expiry" in given:
        given["on_expiry"] = _expiry_rule(given["on_expiry"])
    return ClassificationPolicy(choices=_choices(merged, where, source), **given)


def _expiry_rule(value: str) -> ExpiryRule:
    try:
        return ExpiryRule(value)
    except ValueError:
        rules = " or ".join(rule.value for rule in ExpiryRule)
        raise InvalidPolicy("on_expiry", f"must be {rules}, not {value!r}") from None


def _choices(
    merged: Mapping[str, Any], where: str, source: str
) -> DropdownClassification | FreeTextClassification:
    mode = merged.get("classification", DEFAULT_CLASSIFICATION)
    if mode == FreeTextClassification.kind:
        return FreeTextClassification(**_given(merged, _FREE_TEXT_KEYS))
    if mode != DropdownClassification.kind:
        raise PolicyFileError(
            source,
            f"{where}.classification",
            f"must be {DropdownClassification.kind} or "
            f"{FreeTextClassification.kind}, not {mode!r}",
        )
    options = merged.get("options")
    if not options:
        raise PolicyFileError(source, f"{where}.options", "a dropdown needs options")
    return DropdownClassification(
        tuple(
            _option(item, f"{where}.options[{n}]", source)
            for n, item in enumerate(options)
        )
    )


def _option(item: object, where: str, source: str) -> ClassificationOption:
    if not isinstance(item, dict):
        raise PolicyFileError(source, where, "must be a table with code and label")
    unknown = set(item) - {"code", "label", "group", "retired"}
    if unknown:
        raise PolicyFileError(source, f"{where}.{min(unknown)}", "unknown key")
    for key in ("code", "label"):
        if not isinstance(item.get(key), str):
            raise PolicyFileError(source, f"{where}.{key}", "must be text")
    group = item.get("group")
    if group is not None and not isinstance(group, str):
        raise PolicyFileError(source, f"{where}.group", "must be text")
    retired = item.get("retired", False)
    if not isinstance(retired, bool):
        raise PolicyFileError(source, f"{where}.retired", "must be true or false")
    return ClassificationOption(item["code"], item["label"], group, retired)


def _capacity(value: Any, where: str, source: str) -> int:
    """``value`` checked by the one rule the library has, ``AgentState.new``'s."""
    try:
        return AgentState.new("capacity-check", capacity=value).capacity
    except InvalidPolicy as error:
        raise PolicyFileError(source, f"{where}.capacity", error.reason) from None


def _profiles(
    data: Mapping[str, Any], source: str, queues: Mapping[str, QueuePolicy]
) -> dict[str, frozenset[str]]:
    known = {
        option.code
        for policy in queues.values()
        if isinstance(policy.classification.choices, DropdownClassification)
        for option in policy.classification.choices.options
    }
    profiles: dict[str, frozenset[str]] = {}
    for name, section in _table(data, "profiles", source).items():
        where = f"profiles.{name}"
        codes = section.get("codes") if isinstance(section, dict) else None
        if not isinstance(section, dict) or set(section) != {"codes"}:
            raise PolicyFileError(source, where, "must hold exactly: codes = [...]")
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise PolicyFileError(source, f"{where}.codes", "must be a list of codes")
        missing = sorted(set(codes) - known)
        if missing:
            raise PolicyFileError(
                source, f"{where}.codes", f"{missing[0]!r} is in no queue's options"
            )
        profiles[name] = frozenset(codes)
    return profiles


def _agents(
    data: Mapping[str, Any],
    source: str,
    profiles: Mapping[str, frozenset[str]],
    default_capacity: int,
) -> dict[str, AgentSettings]:
    agents: dict[str, AgentSettings] = {}
    for agent_id, section in _table(data, "agents", source).items():
        where = f"agents.{agent_id}"
        if not isinstance(section, dict):
            raise PolicyFileError(source, where, "must be a table")
        unknown = set(section) - {"capacity", "profile"}
        if unknown:
            raise PolicyFileError(source, f"{where}.{min(unknown)}", "unknown key")
        profile_name = section.get("profile")
        profile = None
        if profile_name is not None:
            if not isinstance(profile_name, str) or profile_name not in profiles:
                raise PolicyFileError(
                    source, f"{where}.profile", f"no profile named {profile_name!r}"
                )
            profile = profiles[profile_name]
        capacity = section.get("capacity", default_capacity)
        agents[agent_id] = AgentSettings(_capacity(capacity, where, source), profile)
    return agents
