"""A command on the SQLite store: the statements it costs, and the state it
is decided on, which the store remembers and another process may replace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support import T0, queue
from webchat_wrapup import ErrorCode, VersionConflict, WrapUpError
from webchat_wrapup.clocks import ManualClock
from webchat_wrapup.ports import Change, RemembersStates
from webchat_wrapup.service import WrapUpService
from webchat_wrapup.stores import SQLiteStore


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "wrapup.db"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def _service(path: Path, clock: ManualClock) -> Iterator[WrapUpService]:
    with SQLiteStore(path, synchronous="NORMAL") as store:
        yield WrapUpService(store, clock)


@pytest.fixture
def here(path: Path, clock: ManualClock) -> Iterator[WrapUpService]:
    """This process's service."""
    yield from _service(path, clock)


@pytest.fixture
def there(path: Path, clock: ManualClock) -> Iterator[WrapUpService]:
    """Another process's service, on the same file."""
    yield from _service(path, clock)


def _in_wrap_up(service: WrapUpService, clock: ManualClock) -> None:
    service.add_agent("agent-1")
    service.assign("agent-1", "c1", "cust-1", queue())
    clock.advance(30)
    service.end_chat("agent-1", "c1")


def _statements(store: SQLiteStore) -> list[str]:
    traced: list[str] = []
    store._db.set_trace_callback(traced.append)
    return traced


def test_the_store_remembers_the_states_it_saved(here: WrapUpService) -> None:
    store = here.store
    assert isinstance(store, RemembersStates)
    assert store.load_remembered("agent-1") is None
    here.add_agent("agent-1")
    remembered = store.load_remembered("agent-1")
    assert remembered is not None
    assert remembered == store.load("agent-1")


def test_a_command_on_a_remembered_state_reads_nothing_before_it_writes(
    here: WrapUpService, clock: ManualClock
) -> None:
    _in_wrap_up(here, clock)
    assert isinstance(here.store, SQLiteStore)
    traced = _statements(here.store)
    here.extend("agent-1", "c1", command_id="click-1")
    # One statement, a transaction of its own, writes the agent, then the
    # record, its customer link and the feed's event (_one_statement.py);
    # SQLite traces it once for each statement of its trigger.
    assert {statement.split(" VALUES")[0] for statement in traced} == {
        "INSERT INTO command_saves"
    }


def test_a_state_replaced_by_another_process_is_loaded_and_decided_again(
    here: WrapUpService, there: WrapUpService, clock: ManualClock
) -> None:
    _in_wrap_up(here, clock)
    there.extend("agent-1", "c1")  # here still remembers the version before
    outcome = here.extend("agent-1", "c1", command_id="click-2")
    assert outcome.version == 5
    stored = here.store.load("agent-1")
    assert stored is not None
    assert stored.state.chats[0].extensions_used == 2
    record = here.store.find_command("click-2")
    assert record is not None
    assert record.outcome == outcome


def test_a_refusal_on_a_remembered_state_is_checked_on_the_stored_one(
    here: WrapUpService, there: WrapUpService, clock: ManualClock
) -> None:
    here.add_agent("agent-1")  # here remembers an agent holding no chat
    there.assign("agent-1", "c1", "cust-1", queue())
    clock.advance(30)
    there.end_chat("agent-1", "c1")
    outcome = here.extend("agent-1", "c1")
    assert outcome.version == 4


def test_a_command_allowed_on_a_remembered_state_is_refused_on_the_stored_one(
    here: WrapUpService, there: WrapUpService, clock: ManualClock
) -> None:
    _in_wrap_up(here, clock)
    there.complete("agent-1", "c1")  # here still remembers the wrap-up
    with pytest.raises(WrapUpError) as caught:
        here.extend("agent-1", "c1", command_id="click-3")
    assert caught.value.code is ErrorCode.WRAP_UP_OVER
    assert here.store.find_command("click-3") is None


def test_a_process_whose_remembered_states_go_stale_stops_deciding_on_them(
    here: WrapUpService, there: WrapUpService, clock: ManualClock
) -> None:
    _in_wrap_up(here, clock)
    store = here.store
    assert isinstance(store, SQLiteStore)
    stale: list[Change] = []  # saves refused for a stale version
    save = store.save

    def counted(change: Change) -> None:
        try:
            save(change)
        except VersionConflict:
            stale.append(change)
            raise

    store.save = counted  # type: ignore[method-assign]
    codes = ["refund", "invoice"]
    for turn in range(40):  # the other process saves the agent every time
        there.classify("agent-1", "c1", code=codes[turn % 2])
        here.classify("agent-1", "c1", code=codes[(turn + 1) % 2])
    assert 1 <= len(stale) <= 8
    stored = here.store.load("agent-1")
    assert stored is not None
    classification = stored.state.chats[0].classification
    assert classification is not None
    assert classification.code == "refund"
    assert stored.version == 3 + 80  # added, assigned, ended, then 80 saves
