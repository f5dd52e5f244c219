"""Every store method called with hostile arguments: only the library's own
errors escape, and a refused call leaves the store as it was.

Shared by ``stores/test_store_arguments.py`` (memory, SQLite) and
``stores/test_postgres_fuzz.py`` (both PostgreSQL stores).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
from hypothesis import strategies as st

from fuzzing import (
    ANYTHING,
    INSTANTS,
    NUMBERS,
    T0,
    TEXTS,
    ids,
    refuses_only_typed,
    usually,
)
from support import queue
from webchat_wrapup import ExtendWrapUp, WrapUpService, decide
from webchat_wrapup.clocks import ManualClock
from webchat_wrapup.ports import Change, CommandRecord, Outcome, Store

AGENTS = ("agent-1", "agent-2")
CUSTOMERS = ("cust-1", "cust-2")
COMMAND_IDS = ("cmd-1", "cmd-2")


def prepared(store: Store) -> Change:
    """``store`` with agent-1 in wrap-up (a command record kept) and a
    finished chat in cust-2's history; a change agent-1 could save next."""
    clock = ManualClock(T0)
    service = WrapUpService(store, clock)
    for agent_id in AGENTS:
        service.add_agent(agent_id)
    service.assign(
        "agent-2", "chat-0", "cust-2", queue(countdown_seconds=30, dropdown=False)
    )
    service.end_chat("agent-2", "chat-0")
    service.complete("agent-2", "chat-0")
    service.assign(
        "agent-1", "chat-1", "cust-1", queue(countdown_seconds=30, dropdown=False)
    )
    clock.advance(timedelta(seconds=5))
    service.end_chat("agent-1", "chat-1", command_id="cmd-1")
    stored = store.load("agent-1")
    assert stored is not None
    command = ExtendWrapUp("agent-1", "chat-1")
    now = clock.now()
    decision = decide(stored.state, command, now)
    outcome = Outcome("agent-1", stored.version + 1, decision.events)
    record = CommandRecord("cmd-2", "agent-1", "print", outcome, now)
    return Change(
        "agent-1", stored.version, decision.state, (), record, decision.events, now
    )


def snapshot(store: Store) -> tuple[Any, ...]:
    """What a refused call must leave as it was."""
    return (
        [store.load(agent_id) for agent_id in AGENTS],
        [store.find_command(command_id) for command_id in COMMAND_IDS],
        [store.history(customer_id, limit=1000) for customer_id in CUSTOMERS],
        store.erasures(),
        store.last_position(),
    )


@st.composite
def hostile_changes(draw: st.DrawFn, good: Change) -> Any:
    """``good``, or it with one part (or one part of its record, or one of
    its events) replaced by a hostile value, or no change at all."""
    record = good.command
    assert record is not None
    kind = draw(st.sampled_from(["good", "part", "record", "event", "nothing"]))
    if kind == "good":
        return good
    if kind == "part":
        field = draw(st.sampled_from([f.name for f in attrs.fields(Change)]))
        return attrs.evolve(good, **{field: draw(ANYTHING)})
    if kind == "record":
        field = draw(st.sampled_from([f.name for f in attrs.fields(CommandRecord)]))
        return attrs.evolve(
            good, command=attrs.evolve(record, **{field: draw(ANYTHING)})
        )
    if kind == "event":
        return attrs.evolve(good, events=(*good.events, draw(ANYTHING)))
    return draw(ANYTHING)


Call = tuple[str, tuple[Any, ...], dict[str, Any]]
"""A store method's name, its positional and its keyword arguments."""


def calls(good: Change, *, remembers: bool = True) -> st.SearchStrategy[Call]:
    """(method, positional arguments, keyword arguments) for every store
    method that takes any (``load_remembered`` if the store ``remembers``),
    each argument usually good, sometimes hostile."""
    agents, customers, commands = ids(AGENTS), ids(CUSTOMERS), ids(COMMAND_IDS)
    versions = usually(st.integers(0, 6), NUMBERS | ANYTHING)
    limits = usually(st.integers(-2, 5), NUMBERS | ANYTHING)
    instants = usually(st.just(T0 + timedelta(hours=1)), INSTANTS | ANYTHING)
    leases = usually(st.just(timedelta(seconds=30)), st.timedeltas() | ANYTHING)
    changes = hostile_changes(good)
    change_lists = usually(
        st.lists(changes, max_size=2), st.just([good, good]) | TEXTS | ANYTHING
    )

    def call(name: str, *args: Any, **kwargs: Any) -> Any:
        return st.tuples(st.just(name), st.tuples(*args), st.fixed_dictionaries(kwargs))

    return st.one_of(
        call("load", agents),
        call("load_settled", agents),
        *([call("load_remembered", agents)] if remembers else []),
        call("save", changes),
        call("save_all", change_lists),
        call("find_command", commands),
        call("prune_commands", instants, limits),
        call("history", customers, limit=limits, cursor=st.none() | ANYTHING),
        call("events", versions, limits),
        call("history_changes", versions, limits),
        call("prune_events", instants, limits),
        call("retire", agents, versions),
        call("claim_due", instants, limits, leases),
        call(
            "erase_customer",
            customers,
            erasure_id=ids(("erasure-1",)),
            erased_at=instants,
            erased_by=ids(("admin",)),
        ),
    )


def fuzz_calls(store: Store, data: st.DataObject, calls_made: int) -> None:
    """Make ``calls_made`` hostile calls on ``store`` (prepared at its first
    example), each held to :func:`check_call`."""
    good = getattr(store, "_fuzz_change", None) or prepared(store)
    store._fuzz_change = good  # type: ignore[attr-defined]  # once per store
    hostile = calls(good, remembers=hasattr(store, "load_remembered"))
    for _ in range(calls_made):
        check_call(store, data.draw(hostile), type(store).__name__)


def check_call(store: Store, call: Call, what: str) -> None:
    """Make ``call`` on ``store``: only a typed error, which changes nothing."""
    name, args, kwargs = call
    before = snapshot(store)
    method = getattr(store, name)
    done, _ = refuses_only_typed(lambda: method(*args, **kwargs), f"{what}.{name}")
    if not done:
        assert snapshot(store) == before, f"a refused {name} changed the store"
