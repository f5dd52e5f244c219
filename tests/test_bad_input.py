"""Every bad input gets a typed error, and nothing is saved (issue 10).

Commands are checked field by field before anything is decided; instants
must lie from 1970 to 9000; service arguments, policies and policy files of
the wrong kind are refused with a typed error.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from support import AGENT, T0, Desk, at, queue
from webchat_wrapup import (
    MAX_INSTANT,
    MIN_INSTANT,
    AgentState,
    AssignChat,
    ClassificationOption,
    ClassificationPolicy,
    ClassifyChat,
    CompleteWrapUp,
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
    WrapUpError,
    WrapUpPolicy,
    decide,
    expire_due,
    utc_instant,
    view_agent,
)
from webchat_wrapup._core._errors import shown
from webchat_wrapup.ports import Store
from webchat_wrapup.service import WrapUpService
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
    # The demo narrows the type of its own ManualClock; no data is involved.
    assert found == ["tools/cli/demo.py"]


def test_a_manual_clock_refuses_a_step_out_of_the_calendar_and_stays_put() -> None:
    clock = ManualClock(T0)
    for step in (HUGE, "60", timedelta(days=10**8)):
        error = refused(lambda s=step: clock.advance(s))
        assert error.code is ErrorCode.INVALID_ARGUMENT
    long_ago = refused(lambda: clock.advance(timedelta(days=-365 * 60)))
    assert long_ago.code is ErrorCode.INVALID_INSTANT
    assert clock.now() == T0
