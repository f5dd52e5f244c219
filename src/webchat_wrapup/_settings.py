"""The service's settings, checked once for both faces."""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import Literal

import attrs

from ._core._agent import AgentState, finished_limit
from ._core._errors import ErrorCode, InvalidInput, invalid_argument, shown

DEFAULT_ATTEMPTS = 8
DEFAULT_LEASE = timedelta(seconds=30)
DEFAULT_COMMAND_RETENTION = timedelta(hours=24)
"""How long a command id is remembered: a retry within it is replayed."""
DEFAULT_EVENT_RETENTION = timedelta(days=7)
"""How long the event feed keeps an event."""
MAX_SWEEP_LIMIT = 10_000
_A_DAY = timedelta(days=1)


class _Keep(enum.Enum):
    """The default of ``update_agent``'s settings: "not given", which
    differs from ``None`` (no classification profile)."""

    KEEP = "keep"


KEEP = _Keep.KEEP
Keep = Literal[_Keep.KEEP]


@attrs.frozen
class Settings:
    """How a service retries, leases and keeps records (see
    :class:`~webchat_wrapup.service.WrapUpService`)."""

    attempts: int = DEFAULT_ATTEMPTS
    lease: timedelta = DEFAULT_LEASE
    command_retention: timedelta = DEFAULT_COMMAND_RETENTION
    event_retention: timedelta = DEFAULT_EVENT_RETENTION

    def __attrs_post_init__(self) -> None:
        attempts, lease = self.attempts, self.lease
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise invalid_argument("attempts", "a whole number of at least 1", attempts)
        if not isinstance(lease, timedelta) or not timedelta(0) < lease <= _A_DAY:
            raise invalid_argument("lease", "a timedelta of up to a day", lease)
        for name in ("command_retention", "event_retention"):
            retention = getattr(self, name)
            if not isinstance(retention, timedelta) or retention <= timedelta(0):
                raise invalid_argument(name, "a positive timedelta", retention)


def updated_settings(
    state: AgentState,
    checked: AgentState,
    capacity: int | Keep,
    profile: object,
) -> AgentState:
    """``state`` with the settings given (their checked form in ``checked``)."""
    if capacity is not KEEP:
        # Fewer finished chats are remembered at a lower capacity: the newest.
        limit = finished_limit(checked.capacity)
        state = attrs.evolve(
            state, capacity=checked.capacity, finished=state.finished[-limit:]
        )
    if profile is not KEEP:
        state = attrs.evolve(
            state, classification_profile=checked.classification_profile
        )
    return state


def check_sweep_limit(limit: object) -> None:
    """Refuse a sweep's or a prune's ``limit`` unless a whole number from 1
    to :data:`MAX_SWEEP_LIMIT`."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise _bad_limit(limit)
    if not 1 <= limit <= MAX_SWEEP_LIMIT:
        raise _bad_limit(limit)


def _bad_limit(limit: object) -> InvalidInput:
    return InvalidInput(
        ErrorCode.INVALID_LIMIT,
        f"a sweep's limit must be a whole number from 1 to {MAX_SWEEP_LIMIT}, "
        f"not {shown(limit)}",
        field="limit",
    )
