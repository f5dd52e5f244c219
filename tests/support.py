"""Helpers shared by the tests: a start instant and small policy builders."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

import attrs
import pytest

from webchat_wrapup import (
    AgentState,
    AssignChat,
    Classification,
    ClassificationOption,
    ClassificationPolicy,
    Command,
    Decision,
    DropdownClassification,
    EndChat,
    Event,
    QueuePolicy,
    WrapUpError,
    WrapUpPolicy,
    decide,
)
from webchat_wrapup.stores._instants import instant_to_micros

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
AGENT = "agent-1"

OPTIONS = (
    ClassificationOption("refund", "Refund", "Billing"),
    ClassificationOption("invoice", "Invoice query", "Billing"),
    ClassificationOption("late", "Late delivery", "Delivery"),
    ClassificationOption("old", "Old reason", retired=True),
    ClassificationOption("other", "Other"),
)


def at(seconds: float) -> datetime:
    """The instant ``seconds`` after T0."""
    return T0 + timedelta(seconds=seconds)


def queue(
    queue_id: str = "support",
    *,
    dropdown: bool = True,
    **settings: object,
) -> QueuePolicy:
    """A queue policy; keyword settings go to the wrap-up or classification part."""
    wrap_keys = {f.name for f in WrapUpPolicy.__attrs_attrs__ if f.init}
    wrap = {k: v for k, v in settings.items() if k in wrap_keys}
    rules = {k: v for k, v in settings.items() if k not in wrap_keys}
    if dropdown:
        rules.setdefault("choices", DropdownClassification(OPTIONS))
    return QueuePolicy(
        queue_id,
        WrapUpPolicy(**wrap),  # type: ignore[arg-type]
        ClassificationPolicy(**rules),  # type: ignore[arg-type]
    )


class Desk:
    """One agent driven through the core, keeping state, events and history."""

    def __init__(self, state: AgentState | None = None) -> None:
        self.state = state or AgentState.new(AGENT)
        self.events: list[object] = []
        self.history: list[object] = []

    def do(self, command: Command, seconds: float) -> Decision:
        decision = decide(self.state, command, at(seconds))
        self.state = decision.state
        self.events.extend(decision.events)
        self.history.extend(decision.history)
        return decision

    def in_wrap_up(self, policy: QueuePolicy, chat_id: str = "chat-1") -> None:
        """Assign a chat at T0 and let the customer end it at T0 + 30 s."""
        self.do(AssignChat(AGENT, chat_id, "cust-1", policy), 0)
        self.do(EndChat(AGENT, chat_id), 30)


def play(
    steps: list[tuple[int, Command]], state: AgentState | None = None
) -> tuple[AgentState, datetime, list[Decision]]:
    """Run (milliseconds later, command) steps from T0, skipping refusals."""
    state = state or AgentState.new(AGENT)
    now = T0
    decisions: list[Decision] = []
    for delay, command in steps:
        now += timedelta(milliseconds=delay)
        try:
            decision = decide(state, command, now)
        except WrapUpError:
            continue
        state = decision.state
        decisions.append(decision)
    return state, now, decisions


POSTGRES_DSN_VARIABLE = "WEBCHAT_WRAPUP_POSTGRES_DSN"


def postgres_dsn() -> str:
    """The test server's DSN, for modules that need PostgreSQL.

    Without one the calling module is skipped locally, with the reason, and
    fails in CI (``CI=true``), so those tests can never silently not run.
    """
    dsn = os.environ.get(POSTGRES_DSN_VARIABLE)
    if dsn is None:
        reason = f"{POSTGRES_DSN_VARIABLE} is not set: no PostgreSQL server to test"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run these tests)", pytrace=False)
        pytest.skip(reason, allow_module_level=True)
    return dsn


def stored_event_row(event: Event) -> list[Any]:
    """An event as the stores have always stored it, value by value."""

    def flat(value: Any) -> Any:
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, datetime):
            return instant_to_micros(value)
        if isinstance(value, Classification):
            return [value.label, value.code, value.group]
        assert value is None or isinstance(value, (str, int, float))
        return value

    fields = attrs.fields(type(event))
    return [event.type, *[flat(getattr(event, field.name)) for field in fields]]
