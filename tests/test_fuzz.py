"""Fuzzing every public input: only typed errors escape, refusals change nothing.

Damaged and random documents go to every ``from_dict``, the stores' codec
and the policy-file reader; hostile arguments go to the policy classes, the
core's functions and every service method on the in-memory and SQLite
stores (``tests/stores/test_postgres_fuzz.py`` runs the same on
PostgreSQL). Whatever a decoder accepts must be a value it writes back
unchanged.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzing import (
    ANYTHING,
    INSTANTS,
    JSON_VALUES,
    NUMBERS,
    QUEUES,
    TEXTS,
    ServiceFuzz,
    damaged,
    deeply_nested,
    refuses_only_typed,
    usually,
)
from support import at
from webchat_wrapup import (
    AgentState,
    AgentView,
    AssignChat,
    ClassificationOption,
    ClassificationPolicy,
    ClassifyChat,
    CompleteWrapUp,
    ContactHistoryEntry,
    DropdownClassification,
    EndChat,
    ErrorCode,
    ExtendWrapUp,
    FlagAbusive,
    FreeTextClassification,
    MemoryStore,
    QueuePolicy,
    SQLiteStore,
    StoreError,
    WrapUpPolicy,
    command_from_dict,
    command_to_dict,
    decide,
    effective_state,
    event_from_dict,
    event_to_dict,
    expire_due,
    view_agent,
)
from webchat_wrapup.aio import AsyncWrapUpService, ThreadedStore
from webchat_wrapup.ports import Store
from webchat_wrapup.stores._codec import (
    StateCodec,
    outcome_from_json,
    outcome_to_json,
)
from webchat_wrapup.stores._entries import (
    entry_from_json,
    entry_to_json,
    entry_to_text,
)
from webchat_wrapup.tools.policy_file import load_policy_file, parse_policy_file

FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _agent_with_history() -> tuple[AgentState, list[Any]]:
    """An agent part-way through a day: every kind of event, entry and chat."""
    state = AgentState.new("agent-1", capacity=3, classification_profile={"refund"})
    billing, sales, support = QUEUES[3], QUEUES[0], QUEUES[1]
    steps = [
        AssignChat("agent-1", "chat-1", "cust-1", billing),
        AssignChat("agent-1", "chat-2", "cust-2", sales),
        AssignChat("agent-1", "chat-3", "cust-1", support),
        EndChat("agent-1", "chat-1"),
        ClassifyChat("agent-1", "chat-1", code="refund", additional_text="Sent\nit"),
        FlagAbusive("agent-1", "chat-1", "Threats"),
        EndChat("agent-1", "chat-2"),
        ExtendWrapUp("agent-1", "chat-2"),
        EndChat("agent-1", "chat-3"),
        CompleteWrapUp("agent-1", "chat-3"),
    ]
    produced: list[Any] = []
    for second, command in enumerate(steps):
        decision = decide(state, command, at(second))
        state = decision.state
        produced.extend(decision.events)
        produced.extend(decision.history)
    return state, produced


STATE, PRODUCED = _agent_with_history()
LATER = expire_due(STATE, at(3600)).state
ENTRIES = [item for item in PRODUCED if isinstance(item, ContactHistoryEntry)]
EVENTS = [item for item in PRODUCED if not isinstance(item, ContactHistoryEntry)]
COMMAND = ClassifyChat("agent-1", "chat-1", code="refund", additional_text="x")

DOCUMENTS: list[tuple[str, Any, Any, dict[str, Any]]] = [
    ("state", AgentState.from_dict, AgentState.to_dict, STATE.to_dict()),
    ("later state", AgentState.from_dict, AgentState.to_dict, LATER.to_dict()),
    (
        "view",
        AgentView.from_dict,
        AgentView.to_dict,
        view_agent(STATE, at(12)).to_dict(),
    ),
    ("command", command_from_dict, command_to_dict, command_to_dict(COMMAND)),
    ("policy", QueuePolicy.from_dict, QueuePolicy.to_dict, QUEUES[3].to_dict()),
    *[
        (
            "entry",
            ContactHistoryEntry.from_dict,
            ContactHistoryEntry.to_dict,
            e.to_dict(),
        )
        for e in ENTRIES
    ],
    *[("event", event_from_dict, event_to_dict, event_to_dict(e)) for e in EVENTS],
]


def _decodes_or_refuses(decode: Any, encode: Any, data: Any, what: str) -> None:
    done, value = refuses_only_typed(lambda: decode(data), what)
    if done:  # what a decoder accepts, it must write back unchanged
        assert decode(json.loads(json.dumps(encode(value)))) == value


@pytest.mark.parametrize(
    ("what", "decode", "encode", "document"),
    DOCUMENTS,
    ids=[f"{d[0]}-{n}" for n, d in enumerate(DOCUMENTS)],
)
@FUZZ
@given(data=st.data())
def test_every_decoder_refuses_damaged_documents_with_a_typed_error(
    what: str, decode: Any, encode: Any, document: dict[str, Any], data: Any
) -> None:
    bad = data.draw(damaged(document) | JSON_VALUES)
    _decodes_or_refuses(decode, encode, bad, what)


@pytest.mark.parametrize(
    "what", ["state", "view", "command", "policy", "entry", "event"]
)
def test_every_decoder_refuses_a_document_nested_thousands_deep(what: str) -> None:
    _, decode, encode, document = next(d for d in DOCUMENTS if d[0] == what)
    for key in document:
        _decodes_or_refuses(decode, encode, {**document, key: deeply_nested()}, what)


# The SQL stores' storage form.


def _policies() -> dict[str, str]:
    return StateCodec().encode(STATE)[1]


def _fetch(policies: dict[str, str]) -> Any:
    def fetch(key: str) -> str:
        if key not in policies:
            raise StoreError(ErrorCode.STORE_CORRUPT, f"no policy {key!r}")
        return policies[key]

    return fetch


def _only_corrupt(call: Any, what: str) -> Any:
    done, result = refuses_only_typed(call, what)
    if not done:
        assert isinstance(result, StoreError), result
        assert result.code is ErrorCode.STORE_CORRUPT
    return result if done else None


@FUZZ
@given(data=st.data())
def test_a_damaged_agent_row_is_a_corrupt_store_error(data: Any) -> None:
    text, policies = StateCodec().encode(STATE)
    row = data.draw(damaged(json.loads(text)).map(json.dumps) | TEXTS)
    state = _only_corrupt(lambda: StateCodec().decode(row, _fetch(policies)), "row")
    if state is not None:
        again = StateCodec().encode(state)[0]
        assert StateCodec().decode(again, _fetch(policies)) == state


@FUZZ
@given(data=st.data())
def test_a_damaged_command_record_or_entry_is_a_corrupt_store_error(
    data: Any,
) -> None:
    from webchat_wrapup.ports import Outcome

    outcome = Outcome("agent-1", 3, tuple(EVENTS), tuple(ENTRIES))
    record = data.draw(damaged(json.loads(outcome_to_json(outcome))).map(json.dumps))
    _only_corrupt(lambda: outcome_from_json(record), "outcome_from_json")
    entry = data.draw(damaged(json.loads(entry_to_json(ENTRIES[0]))).map(json.dumps))
    _only_corrupt(lambda: entry_from_json(entry), "entry_from_json")
    row = data.draw(damaged(json.loads(entry_to_text(ENTRIES[0]))).map(json.dumps))
    _only_corrupt(lambda: entry_from_json(row), "entry_from_json (a row)")


@pytest.mark.parametrize("reader", [outcome_from_json, entry_from_json])
def test_stored_json_nested_thousands_deep_is_a_corrupt_store_error(
    reader: Any,
) -> None:
    _only_corrupt(lambda: reader("[" * 100_000 + "]" * 100_000), reader.__name__)
    deep_row = "[" * 100_000 + "]" * 100_000
    _only_corrupt(lambda: StateCodec().decode(deep_row, _fetch({})), "decode")


# Policies: the classes, parsed files and raw TOML text.

POLICY_DATA = {
    "defaults": {"countdown_seconds": 60, "classification": "dropdown"},
    "queues": {
        "sales": {
            "options": [{"code": "refund", "label": "Refund", "group": "Billing"}],
            "capacity": 2,
        },
        "support": {"classification": "free_text", "free_text_max_length": 50},
    },
    "profiles": {"trainee": {"codes": ["refund"]}},
    "agents": {"agent-ana": {"profile": "trainee", "capacity": 2}},
}


@FUZZ
@given(data=st.data())
def test_a_damaged_policy_file_is_refused_with_a_typed_error(data: Any) -> None:
    bad = data.draw(damaged(POLICY_DATA))
    refuses_only_typed(lambda: parse_policy_file(bad), "parse_policy_file")


TOML_TEXTS = (
    TEXTS
    | st.sampled_from(
        [
            "a = " + "[" * 50_000 + "]" * 50_000,
            "[queues.q]\ncountdown_seconds = 1" + "0" * 5000,
            "[queues.q]\ncapacity = 99999999999999999999999",
            "[queues.q]\nmax_extensions = -99999999999999999999999",
            "[queues.q]\ncountdown_seconds = 1e999",
            "[queues.q]\nx = 9999-12-31T23:59:59Z",
            "[queues.q]\nclassification = 'dropdown'\noptions = [{code = 1}]",
            "[queues.q]\n[agents.'\\ud800']",
            "[queues.q]\n[agents.' a ']\ncapacity = 1",
            "[queues.q]\ntimeout_default = 3",
        ]
    )
    | st.builds(
        "[queues.q]\n{} = {}\n".format,
        st.sampled_from(["capacity", "max_extensions", "options", "timeout_default"]),
        st.sampled_from(["1", "true", "'x'", "[]", "[1]", "{a = 1}", "1" * 30]),
    )
)
_FILES = Path(tempfile.mkdtemp(prefix="fuzz-policy-"))


@FUZZ
@given(text=TOML_TEXTS)
def test_raw_toml_text_is_refused_with_a_typed_error(text: str) -> None:
    path = _FILES / "policy.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    refuses_only_typed(lambda: load_policy_file(path), "load_policy_file")


@FUZZ
@given(
    enabled=usually(st.booleans()),
    countdown=usually(st.none() | st.integers(1, 100)),
    extension=usually(st.integers(1, 100)),
    budget=usually(st.integers(0, 5)),
    early=usually(st.booleans()),
)
def test_a_wrap_up_policy_of_the_wrong_types_is_an_invalid_policy(
    enabled: Any, countdown: Any, extension: Any, budget: Any, early: Any
) -> None:
    refuses_only_typed(
        lambda: WrapUpPolicy(enabled, countdown, extension, budget, early),
        "WrapUpPolicy",
    )


@FUZZ
@given(
    code=usually(st.just("refund")),
    label=usually(st.just("Refund")),
    group=st.none() | usually(st.just("Billing")),
    retired=usually(st.booleans()),
    options=st.none() | ANYTHING,
)
def test_a_dropdown_of_the_wrong_types_is_an_invalid_policy(
    code: Any, label: Any, group: Any, retired: Any, options: Any
) -> None:
    def build() -> DropdownClassification:
        option = ClassificationOption(code, label, group, retired)
        return DropdownClassification((option,) if options is None else options)

    refuses_only_typed(build, "DropdownClassification")


@FUZZ
@given(
    choices=usually(st.just(FreeTextClassification())),
    min_length=usually(st.integers(1, 5)),
    max_length=usually(st.integers(5, 50)),
    required=usually(st.booleans()),
    on_expiry=usually(st.just("complete_unclassified")),
    default=st.none() | usually(st.just("Timed out")),
    additional=usually(st.integers(0, 100)),
    queue_id=usually(st.just("sales")),
    wrap_up=usually(st.just(WrapUpPolicy())),
)
def test_classification_and_queue_policies_of_the_wrong_types_are_refused(
    **values: Any,
) -> None:
    def build() -> QueuePolicy:
        choices = values["choices"]
        if choices == FreeTextClassification():
            choices = FreeTextClassification(values["min_length"], values["max_length"])
        rules = ClassificationPolicy(
            choices,
            values["required"],
            values["on_expiry"],
            values["default"],
            values["additional"],
        )
        return QueuePolicy(values["queue_id"], values["wrap_up"], rules)

    refuses_only_typed(build, "ClassificationPolicy")


# The core's functions.


@FUZZ
@given(
    state=usually(st.just(STATE)),
    command=usually(st.just(COMMAND)),
    instant=usually(st.just(at(20))) | INSTANTS,
)
def test_the_core_refuses_hostile_arguments_with_a_typed_error(
    state: Any, command: Any, instant: Any
) -> None:
    refuses_only_typed(lambda: decide(state, command, instant), "decide")
    refuses_only_typed(lambda: view_agent(state, instant), "view_agent")
    refuses_only_typed(lambda: expire_due(state, instant), "expire_due")
    refuses_only_typed(lambda: effective_state(state, instant), "effective_state")


@FUZZ
@given(
    agent_id=usually(st.just("agent-1")),
    capacity=usually(st.integers(1, 3)) | NUMBERS,
    profile=st.none() | ANYTHING | st.lists(TEXTS, max_size=3),
)
def test_a_new_agent_with_hostile_settings_is_refused(
    agent_id: Any, capacity: Any, profile: Any
) -> None:
    refuses_only_typed(
        lambda: AgentState.new(
            agent_id, capacity=capacity, classification_profile=profile
        ),
        "AgentState.new",
    )


# Every service method, on the in-memory and SQLite stores.

SERVICE_FUZZ = settings(
    max_examples=300,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class MemoryServiceFuzz(ServiceFuzz):
    def make_store(self) -> Store:
        return MemoryStore()


class SQLiteServiceFuzz(ServiceFuzz):
    def make_store(self) -> Store:
        self.folder = tempfile.mkdtemp(prefix="fuzz-sqlite-")
        return SQLiteStore(Path(self.folder) / "wrapup.db", synchronous="NORMAL")

    def close_store(self, store: Store) -> None:
        super().close_store(store)
        shutil.rmtree(self.folder, ignore_errors=True)


class AsyncServiceFuzz(SQLiteServiceFuzz):
    """The asyncio face, on SQLite behind a ThreadedStore, on one loop."""

    def make_service(self, store: Store, clock: Any) -> Any:
        self.loop = asyncio.new_event_loop()
        self.threaded = ThreadedStore(store, workers=2)
        return AsyncWrapUpService(self.threaded, clock)

    def run(self, call: Callable[[], Any]) -> Any:
        return self.loop.run_until_complete(_awaited(call))

    def close_store(self, store: Store) -> None:
        self.loop.run_until_complete(self.threaded.aclose())
        self.loop.close()
        super().close_store(store)


async def _awaited(call: Callable[[], Any]) -> Any:
    return await call()


TestMemoryServiceFuzz = MemoryServiceFuzz.TestCase
TestMemoryServiceFuzz.settings = SERVICE_FUZZ
TestSQLiteServiceFuzz = SQLiteServiceFuzz.TestCase
TestSQLiteServiceFuzz.settings = settings(SERVICE_FUZZ, max_examples=150)
TestAsyncServiceFuzz = AsyncServiceFuzz.TestCase
TestAsyncServiceFuzz.settings = settings(SERVICE_FUZZ, max_examples=100)
