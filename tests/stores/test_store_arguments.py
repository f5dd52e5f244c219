"""Each store method refuses hostile arguments with the library's own
errors and changes nothing: the in-memory and SQLite stores (the
PostgreSQL stores in ``test_postgres_fuzz.py``)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store_arguments import fuzz_calls, prepared, snapshot
from webchat_wrapup import ErrorCode, InvalidInput
from webchat_wrapup.ports import Store


@pytest.fixture
def store(local_store: Store) -> Store:
    return local_store


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_store_methods_refuse_hostile_arguments_with_typed_errors(
    store: Store, data: st.DataObject
) -> None:
    fuzz_calls(store, data, 5)


# An instant whose UTC time is far earlier than its wall clock's, and a
# lease that ends in the calendar's last hour counted from the UTC time,
# beyond it from the wall clock's.
_FAR_EAST = datetime(9000, 1, 1, 23, tzinfo=timezone(timedelta(hours=23, minutes=59)))
_TO_THE_LAST_HOUR = datetime(9999, 12, 31, 23, tzinfo=timezone.utc) - _FAR_EAST

REFUSALS = {
    ErrorCode.INVALID_ARGUMENT,
    ErrorCode.INVALID_IDENTIFIER,
    ErrorCode.INVALID_INSTANT,
    ErrorCode.INVALID_LIMIT,
}


def _refused(call: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as refused:
        call()
    return refused.value


def test_a_save_of_anything_but_a_change_is_refused_and_writes_nothing(
    store: Store,
) -> None:
    good = prepared(store)
    before = snapshot(store)
    naive = datetime(2026, 1, 5, 9, 0)
    for bad in [
        "change",
        None,
        attrs.evolve(good, agent_id=7),
        attrs.evolve(good, agent_id="agent-2"),  # not its state's agent
        attrs.evolve(good, expected_version=True),
        attrs.evolve(good, expected_version=-1),
        attrs.evolve(good, state="state"),
        attrs.evolve(good, history=["entry"]),
        attrs.evolve(good, events=(*good.events, "event")),
        attrs.evolve(good, recorded_at=naive),
        attrs.evolve(good, command="record"),
        attrs.evolve(good, command=attrs.evolve(good.command, fingerprint=b"x")),
        attrs.evolve(good, command=attrs.evolve(good.command, fingerprint="\ud800")),
        attrs.evolve(good, command=attrs.evolve(good.command, outcome=None)),
    ]:
        assert _refused(partial(store.save, bad)).code in REFUSALS
        _refused(partial(store.save_all, [good, bad]))  # nothing of good either
    _refused(lambda: store.save_all("changes"))
    assert snapshot(store) == before
    store.save(good)  # the good one still saves
    assert snapshot(store) != before


def test_reads_and_claims_refuse_arguments_of_the_wrong_kind(store: Store) -> None:
    prepared(store)
    before = snapshot(store)
    at = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
    lease = timedelta(seconds=30)
    calls = [
        lambda: store.load(["agent-1"]),
        lambda: store.load_settled(None),
        lambda: store.find_command(b"cmd-1"),
        lambda: store.history({"customer": 1}),
        lambda: store.retire("agent-2", "1"),
        lambda: store.retire("agent-2", True),
        lambda: store.claim_due(at.replace(tzinfo=None), 10, lease),
        lambda: store.claim_due(at, 1.5, lease),
        lambda: store.claim_due(at, -1, lease),
        lambda: store.claim_due(at, -(2**70), lease),
        lambda: store.claim_due(_FAR_EAST, 1, _TO_THE_LAST_HOUR),
        lambda: store.claim_due(at, 10, 30),
        lambda: store.claim_due(at, 10, -lease),
        lambda: store.erase_customer(
            "cust-2", erasure_id="e-1", erased_at="now", erased_by="admin"
        ),
    ]
    for call in calls:
        refused = _refused(call)
        assert refused.code in REFUSALS
        assert refused.details.get("field"), refused
    assert snapshot(store) == before
    assert store.claim_due(at + timedelta(hours=1), 10, lease) == ["agent-1"]
