"""The public surface is pinned, and the core stays pure."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import webchat_wrapup
from webchat_wrapup._core._errors import ERROR_CLASSES, MAX_MESSAGE_LENGTH

PACKAGE = Path(webchat_wrapup.__file__).resolve().parent
# The core is exactly the ``_core`` subpackage: the one definition of "core"
# that the coverage configuration (.ci/coverage-core.toml) and the README use.
CORE = PACKAGE / "_core"
ALLOWED_ROOTS = {"attrs", "statemachine"}
FORBIDDEN_CALLS = {"open", "print", "input"}
FORBIDDEN_NAMES = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}
# Only the clock port may be asked the time (``self.clock.now()``).
CLOCK_OWNERS = {"datetime", "date", "time"}

PUBLIC_API = {
    "TransferChat", "ChatTransferred",
    "ActivateChat", "CancelNextPresence", "ChoosePresence", "ParkChat",
    "PauseWrapUp", "ResumeWrapUp", "ChatActivated", "ChatParked",
    "NextPresenceChosen", "PresenceChanged", "WrapUpPaused", "WrapUpResumed",
    "Presence",
    "WrapUpService", "SystemClock", "ManualClock", "MemoryStore", "SQLiteStore",
    "ABUSE_NOTE", "MAX_CAPACITY", "MAX_INSTANT", "MIN_INSTANT", "AgentExists",
    "CommandIdReused",
    "NotificationFailed", "StoreError", "UnknownAgent", "VersionConflict",
    "SCHEMA_VERSION", "AbuseFlag", "AgentState",
    "AgentView", "AssignChat", "Chat", "ChatAssigned",
    "ChatClassified", "ChatEnded", "ChatFlaggedAbusive",
    "ChatNotHeld", "ChatView", "Classification", "ClassificationOption",
    "ClassificationPolicy", "ClassifyChat", "Command", "CommandRefused",
    "CompleteWrapUp", "ContactHistoryEntry", "Decision", "DropdownClassification",
    "DropdownInput", "EndChat", "EndedBy", "ErrorCode", "Event", "ExpireWrapUp",
    "ExpiryRule", "ExtendWrapUp", "FinishedChat", "FlagAbusive",
    "FreeTextClassification",
    "FreeTextInput", "InvalidInput", "InvalidPolicy", "OptionView", "Phase",
    "QueuePolicy", "Status", "StatusChanged", "WarningLevel", "WrapUpCompleted",
    "WrapUpEnding", "WrapUpError", "WrapUpExtended", "WrapUpPolicy",
    "WrapUpStarted", "command_from_dict", "command_to_dict", "decide",
    "effective_state", "event_from_dict", "event_to_dict", "expire_due",
    "utc_instant", "view_agent",
}  # fmt: skip


def core_modules() -> list[Path]:
    modules = sorted(CORE.rglob("*.py"))
    assert len(modules) >= 12, "the core moved: update CORE"
    return modules


def test_the_public_api_is_exactly_the_pinned_list() -> None:
    assert set(webchat_wrapup.__all__) == PUBLIC_API
    for name in webchat_wrapup.__all__:
        assert getattr(webchat_wrapup, name) is not None


def test_the_package_ships_its_type_marker() -> None:
    assert (PACKAGE / "py.typed").is_file()


def test_the_core_imports_only_the_standard_library_attrs_and_statemachine() -> None:
    for path in core_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            for root in roots:
                allowed = root in sys.stdlib_module_names or root in ALLOWED_ROOTS
                assert allowed, f"{path.name} imports {root}"
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                # Relative imports stay inside ``_core``: level 1 only.
                assert node.level == 1, f"{path.name} reaches outside _core"


def test_the_core_reads_no_clock_and_no_file() -> None:
    for path in core_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in FORBIDDEN_CALLS, f"{path.name} does I/O"
            if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_NAMES:
                owner = ast.unparse(node.value)
                assert owner.split(".")[-1] not in CLOCK_OWNERS, (
                    f"{path.name} reads a clock: {owner}.{node.attr}"
                )


def test_importing_the_package_loads_no_third_party_module_but_its_own() -> None:
    code = (
        "import sys, webchat_wrapup\n"
        "names = {m.split('.')[0] for m in sys.modules}\n"
        "print('\\n'.join(sorted(names - set(sys.stdlib_module_names))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    allowed = {"webchat_wrapup", "attrs", "attr", "statemachine", "__main__"}
    # _distutils_hack is setuptools' own start-up hook, present before any import.
    assert set(out) - {"_distutils_hack"} <= allowed


def test_every_error_code_is_unique_and_snake_case() -> None:
    values = [code.value for code in webchat_wrapup.ErrorCode]
    assert len(values) == len(set(values))
    assert all(value.isidentifier() and value.islower() for value in values)


def test_each_error_code_belongs_to_exactly_one_class() -> None:
    owners = {
        code: [c for c in set(ERROR_CLASSES.values()) if code in c.codes]
        for code in webchat_wrapup.ErrorCode
    }
    assert all(len(classes) == 1 for classes in owners.values()), owners
    assert set(ERROR_CLASSES) == set(webchat_wrapup.ErrorCode)


def test_an_error_refuses_a_code_its_class_does_not_own() -> None:
    with pytest.raises(TypeError):
        webchat_wrapup.InvalidInput(webchat_wrapup.ErrorCode.STORE_LOCKED, "no")


@pytest.mark.parametrize(
    ("error", "retryable", "status"),
    [
        (webchat_wrapup.VersionConflict("a", 1, 8), True, 503),
        (webchat_wrapup.UnknownAgent("a"), False, 404),
        (webchat_wrapup.ChatNotHeld("extend_wrap_up", "a", "c"), False, 404),
        (
            webchat_wrapup.StoreError(webchat_wrapup.ErrorCode.STORE_LOCKED, "busy"),
            True,
            503,
        ),
        (
            webchat_wrapup.StoreError(webchat_wrapup.ErrorCode.STORE_CORRUPT, "bad"),
            False,
            500,
        ),
        (webchat_wrapup.InvalidPolicy("capacity", "too big"), False, 422),
    ],
)
def test_errors_say_whether_to_retry_and_which_http_status_fits(
    error: webchat_wrapup.WrapUpError, retryable: bool, status: int
) -> None:
    assert error.retryable is retryable
    assert error.http_status == status
    assert error.to_dict()["retryable"] is retryable


def test_an_error_message_stays_short_whatever_the_input() -> None:
    error = webchat_wrapup.UnknownAgent("x" * 10_000_000)
    assert len(error.message) <= MAX_MESSAGE_LENGTH
    assert len(str(error)) <= MAX_MESSAGE_LENGTH
    assert all(len(v) <= MAX_MESSAGE_LENGTH for v in error.details.values())


def test_invalid_policy_carries_its_setting_and_reason() -> None:
    error = webchat_wrapup.InvalidPolicy("capacity", "must be 1 to 10")
    assert (error.setting, error.reason) == ("capacity", "must be 1 to 10")
