"""Every bad input gets a typed error, and nothing is saved (issue 10).

Commands are checked field by field before anything is decided; instants
must lie from 1970 to 9000; decoders refuse what ``to_dict`` could never
have written; a damaged stored row is a ``store_corrupt`` error naming it.
"""

from __future__ import annotations

import ast
import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from support import AGENT, T0, Desk, at, queue
from webchat_wrapup import (
    MAX_CAPACITY,
    MAX_INSTANT,
    MIN_INSTANT,
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
    ExpireWrapUp,
    ExtendWrapUp,
    FlagAbusive,
    InvalidInput,
    InvalidPolicy,
    ManualClock,
    MemoryStore,
    QueuePolicy,
    SQLiteStore,
    StoreError,
    WrapUpError,
    WrapUpPolicy,
    command_from_dict,
    command_to_dict,
    decide,
    event_from_dict,
    event_to_dict,
    expire_due,
    utc_instant,
    view_agent,
)
from webchat_wrapup._core._errors import shown
from webchat_wrapup.ports import Store
from webchat_wrapup.service import WrapUpService
from webchat_wrapup.stores._codec import StateCodec, outcome_from_json
from webchat_wrapup.stores._entries import entry_from_json
from webchat_wrapup.tools.policy_file import PolicyFileError, load_policy_file

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "webchat_wrapup"
HUGE = 10**5000  # past 4,300 digits: no repr, no str


def refused(call: Any, error: type[WrapUpError] = InvalidInput) -> Any:
    with pytest.raises(error) as caught:
        call()
    return caught.value


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    with SQLiteStore(tmp_path / "wrapup.db", synchronous="NORMAL") as sqlite:
        yield sqlite


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def service(store: Store, clock: ManualClock) -> WrapUpService:
    service = WrapUpService(store, clock)
    service.add_agent(AGENT)
    service.assign(AGENT, "chat-1", "cust-1", queue())
    return service


# Commands: every field checked before anything is decided.

BAD_COMMANDS = [
    (AssignChat(123, "c", "cust", queue()), ErrorCode.INVALID_IDENTIFIER, "agent_id"),
    (AssignChat(AGENT, "", "cust", queue()), ErrorCode.INVALID_IDENTIFIER, "chat_id"),
    (AssignChat(AGENT, "c", " cust", queue()), ErrorCode.INVALID_IDENTIFIER, None),
    (AssignChat(AGENT, "c", "cust", "sales"), ErrorCode.INVALID_ARGUMENT, "queue"),
    (EndChat(AGENT, "chat-1", None), ErrorCode.INVALID_ARGUMENT, "ended_by"),
    (EndChat(AGENT, "chat-1", "agent"), ErrorCode.INVALID_ARGUMENT, "ended_by"),
    (ClassifyChat(AGENT, "chat-1", code=5), ErrorCode.INVALID_ARGUMENT, "code"),
    (ClassifyChat(AGENT, "chat-1", text=b"x"), ErrorCode.INVALID_ARGUMENT, "text"),
    (
        ClassifyChat(AGENT, "chat-1", code="refund", additional_text=["x"]),
        ErrorCode.INVALID_ARGUMENT,
        "additional_text",
    ),
    (FlagAbusive(AGENT, "chat-1", 1.5), ErrorCode.INVALID_ARGUMENT, "reason"),
    (ExtendWrapUp(AGENT, None), ErrorCode.INVALID_IDENTIFIER, "chat_id"),
    (CompleteWrapUp(AGENT, "chat-\ud800"), ErrorCode.INVALID_IDENTIFIER, "chat_id"),
    (ExpireWrapUp(AGENT, "chat-1", "2026-01-05"), ErrorCode.INVALID_INSTANT, None),
    (
        ExpireWrapUp(AGENT, "chat-1", datetime(9999, 1, 1, tzinfo=timezone.utc)),
        ErrorCode.INVALID_INSTANT,
        None,
    ),
    ("extend chat-1", ErrorCode.INVALID_ARGUMENT, "command"),
]


@pytest.mark.parametrize(("command", "code", "field"), BAD_COMMANDS)
def test_a_command_with_a_field_no_caller_could_mean_is_refused_first(
    command: Any, code: ErrorCode, field: str | None
) -> None:
    someone_else = AgentState.new("agent-9")  # would be chat_not_held if decided
    error = refused(lambda: decide(someone_else, command, at(1)))
    assert error.code is code
    if field is not None:
        assert error.details["field"] == field


@pytest.mark.parametrize(("command", "code", "field"), BAD_COMMANDS)
def test_the_service_refuses_a_bad_command_and_saves_nothing(
    service: WrapUpService, store: Store, command: Any, code: ErrorCode, field: Any
) -> None:
    before = store.load(AGENT)
    assert refused(lambda: service.execute(command, command_id="cmd-1")).code is code
    assert store.load(AGENT) == before
    assert store.find_command("cmd-1") is None


def test_an_end_with_nobody_as_its_ender_leaves_no_poison_agent(
    service: WrapUpService, store: Store, clock: ManualClock
) -> None:
    refused(lambda: service.end_chat(AGENT, "chat-1", None))  # type: ignore[arg-type]
    refused(lambda: service.end_chat(AGENT, "chat-1", "agent"))  # type: ignore[arg-type]
    clock.advance(3600)
    assert service.view(AGENT).chats[0].chat_id == "chat-1"
    service.end_chat(AGENT, "chat-1")
    clock.advance(3600)
    assert service.view(AGENT).chats == ()
    assert service.sweep().expired == 1


def test_a_command_document_with_an_unusable_id_is_refused() -> None:
    data = command_to_dict(ExtendWrapUp(AGENT, "chat-1"))
    error = refused(lambda: command_from_dict({**data, "chat_id": " chat-1"}))
    assert (error.code, error.details["path"]) == (ErrorCode.INVALID_JSON, "$.chat_id")


# Instants: from 1970 to 9000, whoever gives them.

OUT_OF_RANGE = [
    datetime(1969, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
    MAX_INSTANT + timedelta(microseconds=1),
    datetime.max.replace(tzinfo=timezone.utc),
    datetime.min.replace(tzinfo=timezone(timedelta(hours=5))),  # overflows to UTC
    datetime.max.replace(tzinfo=timezone(timedelta(hours=-5))),
    datetime(2026, 1, 5, 9, 0),  # naive
    "2026-01-05T09:00:00Z",
]


@pytest.mark.parametrize("instant", OUT_OF_RANGE)
def test_an_instant_outside_the_range_or_not_aware_is_refused_everywhere(
    instant: Any,
) -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    calls = [
        lambda: decide(desk.state, ExtendWrapUp(AGENT, "chat-1"), instant),
        lambda: view_agent(desk.state, instant),
        lambda: expire_due(desk.state, instant),
        lambda: utc_instant(instant),
        lambda: ManualClock(instant),
    ]
    for call in calls:
        assert refused(call).code is ErrorCode.INVALID_INSTANT


def test_the_ends_of_the_range_are_accepted_and_leave_room_for_every_addition() -> None:
    assert utc_instant(MIN_INSTANT) == MIN_INSTANT
    assert utc_instant(MAX_INSTANT) == MAX_INSTANT
    longest_wrap_up = timedelta(seconds=3600 * 11)  # countdown and 10 extensions
    lease = timedelta(days=1)
    assert MAX_INSTANT + longest_wrap_up + lease < datetime(
        9999, 1, 1, tzinfo=timezone.utc
    )


def test_a_clock_that_answers_out_of_range_refuses_every_call_and_saves_nothing(
    service: WrapUpService, store: Store, clock: ManualClock
) -> None:
    before = store.load(AGENT)

    class BrokenClock:
        def now(self) -> datetime:
            return datetime.max.replace(tzinfo=timezone.utc)

    broken = WrapUpService(store, BrokenClock())
    for call in (
        lambda: broken.end_chat(AGENT, "chat-1"),
        lambda: broken.view(AGENT),
        lambda: broken.sweep(),
    ):
        assert refused(call).code is ErrorCode.INVALID_INSTANT
    assert store.load(AGENT) == before


# Decoders refuse what to_dict could never write.


def _wrap_up_document() -> dict[str, Any]:
    desk = Desk(AgentState.new(AGENT, capacity=2))
    desk.in_wrap_up(queue(countdown_seconds=60, max_extensions=3))
    desk.do(ExtendWrapUp(AGENT, "chat-1"), 31)
    return desk.state.to_dict()


def _with(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``document`` with the value at a dotted path (numbers index lists)."""
    data = json.loads(json.dumps(document))
    *parents, last = path.split(".")
    target: Any = data
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    target[int(last) if last.isdigit() else last] = value
    return data


DAMAGED_STATES = [
    ("capacity", 0, "$.capacity"),
    ("capacity", 11, "$.capacity"),
    ("capacity", True, "$.capacity"),
    ("capacity", 2.0, "$.capacity"),
    ("chats.0.extensions_used", -1, "$.chats[0].extensions_used"),
    ("chats.0.extensions_used", 4, "$.chats[0].extensions_used"),
    ("chats.0.extensions_used", True, "$.chats[0].extensions_used"),
    ("status", "available", "$.status"),
    ("chats.0.ended_at", "2026-01-05T08:00:00Z", "$.chats[0].ended_at"),
    ("chats.0.phase", "active", "$.chats[0].ended_at"),
    ("chats.0.phase", "done", "$.chats[0].phase"),
    ("chats.0.deadline", "2026-01-05T09:00:10Z", "$.chats[0].deadline"),
    ("chats.0.deadline", None, "$.chats[0].deadline"),
    ("chats.0.ended_by", None, "$.chats[0].ended_by"),
    ("chats.0.started_at", "1969-07-20T20:17:00Z", "$.chats[0].started_at"),
    ("chats.0.classification", {"label": "x\x00"}, "$.chats[0].classification.label"),
    ("classification_profile", "refund", "$.classification_profile"),
    ("classification_profile", [" refund"], "$.classification_profile[]"),
    ("agent_id", "", "$.agent_id"),
    (
        "finished",
        [{"chat_id": "chat-1", "ending": "expired", "at": "2026-01-05T09:00:00Z"}],
        "$.finished",
    ),
]


@pytest.mark.parametrize(("where", "value", "path"), DAMAGED_STATES)
def test_a_state_document_to_dict_could_never_write_is_refused_naming_the_part(
    where: str, value: Any, path: str
) -> None:
    error = refused(
        lambda: AgentState.from_dict(_with(_wrap_up_document(), where, value))
    )
    assert error.code is ErrorCode.INVALID_JSON
    assert error.details["path"] == path


def _holding(chats: int, capacity: int) -> dict[str, Any]:
    document = _with(_wrap_up_document(), "capacity", capacity)
    first = document["chats"][0]
    document["chats"] = [
        {**first, "chat_id": f"chat-{number}"} for number in range(1, chats + 1)
    ]
    return document


def test_more_chats_than_any_agent_may_hold_is_refused() -> None:
    document = _holding(MAX_CAPACITY + 1, MAX_CAPACITY)
    assert refused(lambda: AgentState.from_dict(document)).details["path"] == "$.chats"


def test_more_chats_than_a_lowered_capacity_is_a_state_update_agent_writes() -> None:
    # An agent whose capacity was lowered keeps the chats it holds.
    state = AgentState.from_dict(_holding(3, 1))
    assert (state.capacity, len(state.chats)) == (1, 3)


@pytest.mark.parametrize(
    "version",
    [True, 1.0, "1", None, 2, HUGE],
    ids=["true", "1.0", "'1'", "none", "2", "huge"],
)
def test_a_schema_version_must_be_exactly_the_whole_number(version: Any) -> None:
    document = {**_wrap_up_document(), "schema_version": version}
    error = refused(lambda: AgentState.from_dict(document))
    assert error.code is ErrorCode.UNSUPPORTED_SCHEMA_VERSION
    assert len(error.message) <= 400


def test_a_state_document_from_before_finished_chats_still_reads() -> None:
    document = _wrap_up_document()
    del document["finished"]
    assert AgentState.from_dict(document).finished == ()


def test_entries_events_and_views_to_dict_could_never_write_are_refused() -> None:
    desk = Desk()
    desk.in_wrap_up(queue())
    decision = desk.do(CompleteWrapUp(AGENT, "chat-1"), 40)
    entry = decision.history[0].to_dict()
    event = event_to_dict(decision.events[-1])  # the agent became available
    view = view_agent(Desk().state, at(0)).to_dict()
    damaged = [
        (
            ContactHistoryEntry.from_dict,
            {**entry, "wrap_up_ended_at": "2026-01-05T09:00:01Z"},
        ),
        (ContactHistoryEntry.from_dict, {**entry, "extensions_used": -1}),
        (ContactHistoryEntry.from_dict, {**entry, "customer_id": ""}),
        (event_from_dict, {**event, "previous": event["status"]}),
        (event_from_dict, {**event, "agent_id": " agent-1"}),
        (AgentView.from_dict, {**view, "status_label": "Away"}),
        (AgentView.from_dict, {**view, "capacity": 0}),
    ]
    for decode, document in damaged:
        assert refused(lambda d=decode, x=document: d(x)).code is ErrorCode.INVALID_JSON


def test_a_document_nested_thousands_deep_is_refused_without_recursing() -> None:
    nested: list[Any] = []
    for _ in range(100_000):
        nested = [nested]
    document = {**_wrap_up_document(), "status": nested}
    assert (
        refused(lambda: AgentState.from_dict(document)).code is ErrorCode.INVALID_JSON
    )


# The SQL stores' rows: any damage is store_corrupt, naming the row.


def _row() -> tuple[list[Any], dict[str, str]]:
    desk = Desk()
    desk.in_wrap_up(queue())
    text, policies = StateCodec().encode(desk.state)
    return json.loads(text), policies


def _decode(row: Any, policies: dict[str, str]) -> Any:
    text = row if isinstance(row, str) else json.dumps(row)
    return StateCodec().decode(text, policies.__getitem__)


@pytest.mark.parametrize(
    "damage",
    [
        lambda row: row.__setitem__(1, 0),  # capacity
        lambda row: row.__setitem__(2, "available"),  # status contradicts
        lambda row: row.__setitem__(3, "refund"),  # profile as a string
        lambda row: row[4][0].__setitem__(4, True),  # started_at as a bool
        lambda row: row[4][0].__setitem__(7, 10**30),  # deadline overflows
        lambda row: row[4][0].__setitem__(9, "abc"),  # classification as text
        lambda row: row[4][0].__setitem__(8, -1),  # extensions_used
        lambda row: row[4].append(row[4][0]),  # the same chat twice
        lambda row: row.append([["chat-1", "expired", 0]]),  # finished, still held
        lambda row: row.append([]) or row.append([]),  # too many elements
        lambda row: row.__delitem__(4),
    ],
)
def test_a_damaged_agent_row_is_store_corrupt_naming_the_agent(damage: Any) -> None:
    row, policies = _row()
    damage(row)
    error = refused(lambda: _decode(row, policies), StoreError)
    assert error.code is ErrorCode.STORE_CORRUPT
    assert "agent row 'agent-1' is damaged" in error.message


@pytest.mark.parametrize("text", ["", "{", "[" * 100_000 + "]" * 100_000, "null"])
def test_a_row_that_is_not_json_is_store_corrupt(text: str) -> None:
    error = refused(lambda: _decode(text, {}), StoreError)
    assert error.message.startswith("agent row (agent unknown) is damaged")


def test_a_row_written_before_finished_chats_still_decodes() -> None:
    row, policies = _row()
    assert len(row) == 5
    assert _decode(row, policies).finished == ()


def test_damaged_command_records_and_entries_are_store_corrupt_naming_them() -> None:
    error = refused(
        lambda: outcome_from_json('["agent-1", true, [], []]', "cmd 'x'"), StoreError
    )
    assert error.code is ErrorCode.STORE_CORRUPT
    assert error.message.startswith("cmd 'x' is damaged")
    error = refused(lambda: entry_from_json('{"schema_version": 1}'), StoreError)
    assert error.message.startswith("a contact-history entry is damaged")


def test_a_damaged_row_in_sqlite_is_store_corrupt_and_spares_the_other_agents(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wrapup.db"
    with SQLiteStore(path) as store:
        service = WrapUpService(store, ManualClock(T0))
        service.add_agent("agent-7")
        service.add_agent("agent-8")
    db = sqlite3.connect(path)
    db.execute(
        "UPDATE agents SET state = '[\"agent-7\", 99]' WHERE agent_id = 'agent-7'"
    )
    db.commit()
    db.close()
    with SQLiteStore(path) as store:
        service = WrapUpService(store, ManualClock(T0))
        error = refused(lambda: service.view("agent-7"), StoreError)
        assert error.code is ErrorCode.STORE_CORRUPT
        assert (error.details["table"], error.details["key"]) == ("agent", "agent-7")
        assert error.message.count("is damaged") == 1
        assert service.view("agent-8").agent_id == "agent-8"


# Service arguments, policies and policy files.


@pytest.mark.parametrize(
    ("settings", "setting"),
    [
        ({"classification_profile": "refund"}, "classification_profile"),
        ({"classification_profile": [1]}, "classification_profile"),
        ({"classification_profile": ["\ud800"]}, "classification_profile"),
        ({"classification_profile": 7}, "classification_profile"),
        ({"capacity": HUGE}, "capacity"),
        ({"capacity": "2"}, "capacity"),
    ],
)
def test_a_new_agent_with_settings_of_the_wrong_type_is_refused(
    store: Store, clock: ManualClock, settings: dict[str, Any], setting: str
) -> None:
    service = WrapUpService(store, clock)
    error = refused(lambda: service.add_agent("agent-2", **settings), InvalidPolicy)
    assert error.setting == setting
    assert store.load("agent-2") is None


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda s: s.view("agent-\ud800"), ErrorCode.INVALID_IDENTIFIER),
        (lambda s: s.history("cust-\ud800"), ErrorCode.INVALID_IDENTIFIER),
        (lambda s: s.history(["cust-1"]), ErrorCode.INVALID_IDENTIFIER),
        (
            lambda s: s.history("cust-1", cursor="99999999999999999999.1"),
            ErrorCode.INVALID_PAGE,
        ),
        (lambda s: s.history("cust-1", cursor="1.2.3"), ErrorCode.INVALID_PAGE),
        (lambda s: s.history("cust-1", cursor="\u0661.\u0662"), ErrorCode.INVALID_PAGE),
        (lambda s: s.history("cust-1", cursor=12), ErrorCode.INVALID_PAGE),
        (lambda s: s.history("cust-1", limit=HUGE), ErrorCode.INVALID_PAGE),
        (lambda s: s.sweep(HUGE), ErrorCode.INVALID_LIMIT),
        (lambda s: s.sweep(10_001), ErrorCode.INVALID_LIMIT),
        (
            lambda s: s.extend(AGENT, "chat-1", command_id="\ud800"),
            ErrorCode.INVALID_IDENTIFIER,
        ),
    ],
)
def test_service_arguments_of_the_wrong_kind_are_refused_on_every_store(
    service: WrapUpService, store: Store, call: Any, code: ErrorCode
) -> None:
    before = store.load(AGENT)
    assert refused(lambda: call(service)).code is code
    assert store.load(AGENT) == before


def test_the_service_refuses_attempts_and_leases_of_the_wrong_kind(
    store: Store, clock: ManualClock
) -> None:
    for settings in (
        {"attempts": "3"},
        {"attempts": 0},
        {"lease": 30},
        {"lease": -timedelta(1)},
    ):
        error = refused(lambda s=settings: WrapUpService(store, clock, **s))
        assert error.code is ErrorCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    "build",
    [
        lambda: WrapUpPolicy(countdown_seconds=HUGE),
        lambda: WrapUpPolicy(max_extensions="3"),
        lambda: DropdownClassification((ClassificationOption("a", 5),)),
        lambda: DropdownClassification((ClassificationOption("a", "A", " Billing"),)),
        lambda: DropdownClassification((ClassificationOption("a", "A", 7),)),
        lambda: DropdownClassification(5),
        lambda: ClassificationPolicy(timeout_default=5),
        lambda: QueuePolicy(None),
    ],
)
def test_policies_built_from_values_of_the_wrong_type_are_invalid_policies(
    build: Any,
) -> None:
    assert refused(build, InvalidPolicy).code is ErrorCode.INVALID_POLICY


def test_a_dropdown_given_a_list_of_options_holds_a_tuple() -> None:
    dropdown = DropdownClassification([ClassificationOption("a", "A")])  # type: ignore[arg-type]
    assert dropdown.options == (ClassificationOption("a", "A"),)
    assert hash(QueuePolicy("q", classification=ClassificationPolicy(dropdown)))


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 50_000 + "]" * 50_000,
        "[queues.q]\ncountdown_seconds = 1" + "0" * 5000,
        "[queues.q]\ncapacity = 99999999999999999999999",
        "[queues.q]\n[agents.a]\nprofile = ['x']",
    ],
)
def test_a_policy_file_nested_deep_or_with_huge_numbers_is_a_policy_file_error(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    refused(lambda: load_policy_file(path), PolicyFileError)


# Messages stay short, whatever the value.


@pytest.mark.parametrize(
    "value",
    [HUGE, "x" * 10**6, [[[[[[[[1]]]]]]]]],
    ids=["huge int", "long text", "nested"],
)
def test_values_are_shown_short_in_messages(value: Any) -> None:
    assert len(shown(value)) < 300


def test_a_value_whose_repr_fails_is_shown_by_its_type() -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert "Hostile" in shown(Hostile())
    assert shown([HUGE]) == "a list"


# No assert about data in the library.


def test_the_library_holds_no_assert_statement() -> None:
    found = []
    for module in PACKAGE.rglob("*.py"):
        if "testing" in module.parts:  # the shipped test kit asserts on purpose
            continue
        tree = ast.parse(module.read_text(encoding="utf-8"))
        found += [
            module.relative_to(PACKAGE).as_posix()
            for node in ast.walk(tree)
            if isinstance(node, ast.Assert)
        ]
    assert found == []


def test_a_manual_clock_refuses_a_step_out_of_the_calendar_and_stays_put() -> None:
    clock = ManualClock(T0)
    for step in (HUGE, "60", timedelta(days=10**8)):
        error = refused(lambda s=step: clock.advance(s))
        assert error.code is ErrorCode.INVALID_ARGUMENT
    long_ago = refused(lambda: clock.advance(timedelta(days=-365 * 60)))
    assert long_ago.code is ErrorCode.INVALID_INSTANT
    assert clock.now() == T0
