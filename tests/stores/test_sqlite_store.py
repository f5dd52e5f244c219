"""The SQLite store passes the contract and matches the in-memory store."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from erasure_days import (
    SECRET,
    TRACES,
    Schema2Day,
    busy_day,
    check_erases_as_the_reference,
    erase,
    schema_2_day,
)

from webchat_wrapup import (
    AgentState,
    AssignChat,
    CommandRefused,
    ContactHistoryEntry,
    EndedBy,
    ErrorCode,
    ManualClock,
    QueuePolicy,
    StoreError,
    VersionConflict,
    WrapUpEnding,
    WrapUpService,
    decide,
)
from webchat_wrapup.ports import Change, CommandRecord, Outcome, Store, StoredAgent
from webchat_wrapup.stores import SQLiteStore
from webchat_wrapup.stores import sqlite as sqlite_module
from webchat_wrapup.stores._codec import StateCodec
from webchat_wrapup.stores._rows import change_rows
from webchat_wrapup.stores.sqlite import SCHEMA_VERSION
from webchat_wrapup.testing.contract import T0, RemembersStatesContract, StoreContract
from webchat_wrapup.testing.stateful import StoreComparison
from webchat_wrapup.tools.report import reports_by_run


class TestSQLiteStore(StoreContract, RemembersStatesContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        with SQLiteStore(tmp_path / "wrapup.db", synchronous="NORMAL") as store:
            yield store


class SQLiteComparison(StoreComparison):
    def make_store(self) -> Store:
        folder = tempfile.mkdtemp(prefix="wrapup-")
        return SQLiteStore(Path(folder) / "wrapup.db", synchronous="NORMAL")


TestSQLiteComparison = SQLiteComparison.TestCase


def pragma(path: Path, name: str) -> object:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        connection.close()


def test_the_file_is_in_wal_mode_with_the_current_schema_version(
    tmp_path: Path,
) -> None:
    with SQLiteStore(tmp_path / "w.db"):
        pass
    assert pragma(tmp_path / "w.db", "journal_mode") == "wal"
    assert pragma(tmp_path / "w.db", "user_version") == SCHEMA_VERSION


@pytest.mark.parametrize(("setting", "level"), [("FULL", 2), ("NORMAL", 1)])
def test_synchronous_is_full_by_default_and_normal_on_request(
    tmp_path: Path, setting: str, level: int
) -> None:
    with SQLiteStore(tmp_path / "w.db", synchronous=setting) as store:  # type: ignore[arg-type]
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == level
    with SQLiteStore(tmp_path / "d.db") as store:
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_an_unknown_synchronous_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(tmp_path / "w.db", synchronous="OFF")  # type: ignore[arg-type]
    assert not (tmp_path / "w.db").exists()


def test_reopening_a_file_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    with SQLiteStore(path) as store:
        store.save(Change("agent-1", 0, AgentState.new("agent-1", capacity=2)))
    with SQLiteStore(path) as store:
        stored = store.load("agent-1")
    assert stored is not None
    assert (stored.version, stored.state.capacity) == (1, 2)


def test_a_file_from_a_newer_version_is_refused_and_left_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.db"
    with SQLiteStore(path):
        pass
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(StoreError) as caught:
        SQLiteStore(path)
    assert caught.value.code is ErrorCode.STORE_TOO_NEW
    assert pragma(path, "user_version") == SCHEMA_VERSION + 1


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    path.write_bytes(b"this is not a database, it is a shopping list" * 100)
    with pytest.raises(StoreError) as caught:
        SQLiteStore(path)
    assert caught.value.code is ErrorCode.STORE_CORRUPT
    assert isinstance(caught.value, OSError)


def test_a_folder_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as caught:
        SQLiteStore(tmp_path / "missing" / "w.db")
    assert caught.value.code is ErrorCode.STORE_UNAVAILABLE


def _sqlite_error(name: str | None, message: str) -> sqlite3.Error:
    error = sqlite3.OperationalError(message)
    if name is not None:
        error.sqlite_errorname = name  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(
    ("name", "message", "code"),
    [
        ("SQLITE_BUSY", "database is locked", ErrorCode.STORE_LOCKED),
        ("SQLITE_BUSY_SNAPSHOT", "database is locked", ErrorCode.STORE_LOCKED),
        ("SQLITE_READONLY_DBMOVED", "readonly", ErrorCode.STORE_READ_ONLY),
        ("SQLITE_NOTADB", "file is not a database", ErrorCode.STORE_CORRUPT),
        ("SQLITE_CORRUPT", "malformed", ErrorCode.STORE_CORRUPT),
        ("SQLITE_FULL", "database or disk is full", ErrorCode.STORE_UNAVAILABLE),
        # Python 3.10 has no error names: the message decides.
        (None, "database is locked", ErrorCode.STORE_LOCKED),
        (None, "attempt to write a readonly database", ErrorCode.STORE_READ_ONLY),
        (None, "file is not a database", ErrorCode.STORE_CORRUPT),
        (None, "disk I/O error", ErrorCode.STORE_UNAVAILABLE),
    ],
)
def test_sqlite_errors_are_translated_by_their_result_code(
    name: str | None, message: str, code: ErrorCode, tmp_path: Path
) -> None:
    error = sqlite_module._translate(_sqlite_error(name, message), str(tmp_path / "x"))
    assert error.code is code


# Personal data at rest: the file's mode, links, folders


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o000, 0o277], ids=oct)
def test_a_new_file_and_its_wal_and_shm_are_for_the_owner_only(
    tmp_path: Path, umask: int
) -> None:
    path = tmp_path / "w.db"
    previous = os.umask(umask)
    try:
        with SQLiteStore(path) as store:
            store.save(Change("agent-1", 0, AgentState.new("agent-1")))
            files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
            modes = {file.name: mode(file) for file in files}
    finally:
        os.umask(previous)
    assert modes == {"w.db": 0o600, "w.db-wal": 0o600, "w.db-shm": 0o600}


def test_an_existing_file_keeps_the_mode_its_operator_gave_it(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    with SQLiteStore(path):
        pass
    path.chmod(0o640)
    with SQLiteStore(path) as store:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
    assert mode(path) == 0o640


@pytest.mark.parametrize("link", ["w.db", "w.db-wal", "w.db-shm"])
def test_a_symbolic_link_is_refused_and_nothing_is_written_through_it(
    tmp_path: Path, link: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "target"
    (tmp_path / link).symlink_to(target)  # dangling: SQLite would create it
    with pytest.raises(StoreError) as caught:
        SQLiteStore(tmp_path / "w.db")
    assert caught.value.code is ErrorCode.STORE_PATH_REFUSED
    assert caught.value.details["link"] == str(tmp_path / link)
    assert not caught.value.retryable
    assert list(elsewhere.iterdir()) == []


def test_a_link_to_an_existing_store_is_refused_and_the_store_left_alone(
    tmp_path: Path,
) -> None:
    real = tmp_path / "real.db"
    with SQLiteStore(real) as store:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
    before = real.read_bytes()
    (tmp_path / "w.db").symlink_to(real)
    with pytest.raises(StoreError) as caught:
        SQLiteStore(tmp_path / "w.db")
    assert caught.value.code is ErrorCode.STORE_PATH_REFUSED
    assert real.read_bytes() == before


@pytest.mark.parametrize(
    ("number", "code"),
    [
        (errno.EACCES, ErrorCode.STORE_READ_ONLY),  # the folder's permission bits
        (errno.EPERM, ErrorCode.STORE_READ_ONLY),  # immutable folder, security module
        (errno.EROFS, ErrorCode.STORE_READ_ONLY),  # a read-only file system
        (errno.ENOENT, ErrorCode.STORE_UNAVAILABLE),  # no such folder
        (errno.ENOSPC, ErrorCode.STORE_UNAVAILABLE),
    ],
)
def test_a_file_that_cannot_be_created_is_refused_by_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, number: int, code: ErrorCode
) -> None:
    """The decision alone, for every reason, whoever runs the tests (root
    bypasses permission bits; tests/reliability/test_bad_files.py makes
    real unwritable folders)."""

    def refuse(*args: object) -> int:
        raise OSError(number, os.strerror(number))

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(StoreError) as caught:
        SQLiteStore(tmp_path / "w.db")
    assert caught.value.code is code
    assert not (tmp_path / "w.db").exists()


# Schema 1 files are migrated on open


SCHEMA_1 = Path(__file__).with_name("sqlite_schema_1.sql").read_text()


def _statements(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.startswith("--")]
    return [" ".join(s.split()) for s in "\n".join(lines).split(";") if s.strip()]


def test_migration_zero_is_the_released_schema_1() -> None:
    assert [" ".join(s.split()) for s in sqlite_module._MIGRATIONS[0]] == _statements(
        SCHEMA_1
    )


def _holding(agent_id: str, *chat_ids: str) -> AgentState:
    state = AgentState.new(agent_id, capacity=5)
    for chat_id in chat_ids:
        assign = AssignChat(agent_id, chat_id, "cust-1", QueuePolicy("support"))
        state = decide(state, assign, T0).state
    return state


def write_schema_1_file(path: Path, changes: list[Change]) -> None:
    """A version-1 file holding ``changes``' rows as the codec writes them."""
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_1)
    codec = StateCodec()
    for change in changes:
        rows = change_rows(change, codec, set())
        db.execute(
            "INSERT INTO agents VALUES (?, ?, ?, ?, NULL)",
            (change.agent_id, change.expected_version + 1, rows.state, rows.due),
        )
        db.executemany("INSERT OR IGNORE INTO policies VALUES (?, ?)", rows.policies)
        if rows.command is not None:
            db.execute("INSERT INTO commands VALUES (?, ?, ?, ?)", rows.command)
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()


SCHEMA_1_CHANGES = [
    Change("agent-1", 0, _holding("agent-1", "chat-1", "chat-2")),
    Change(
        "agent-2",
        0,
        _holding("agent-2", "chat-3"),
        command=CommandRecord("cmd-1", "agent-2", "print", Outcome("agent-2", 1)),
    ),
    Change("agent-3", 0, AgentState.new("agent-3")),
    # Schema 1 did not keep one holder per chat: two agents may hold one.
    Change("agent-4", 0, _holding("agent-4", "chat-3")),
]


def test_a_schema_1_file_is_migrated_on_open_and_keeps_everything(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.db"
    write_schema_1_file(path, SCHEMA_1_CHANGES)
    opened = datetime.now(timezone.utc).replace(microsecond=0)
    with SQLiteStore(path) as store:
        for change in SCHEMA_1_CHANGES:
            assert store.load(change.agent_id) == StoredAgent(change.state, 1)
        record = store.find_command("cmd-1")
    assert pragma(path, "user_version") == SCHEMA_VERSION == 5
    assert record is not None
    assert (record.agent_id, record.outcome) == ("agent-2", Outcome("agent-2", 1))
    # Dated at the upgrade, so a retry within the retention is still replayed.
    assert record.recorded_at is not None
    assert opened <= record.recorded_at <= datetime.now(timezone.utc)
    db = sqlite3.connect(path)
    held = db.execute("SELECT chat_id, agent_id FROM held_chats ORDER BY 1").fetchall()
    db.close()
    assert held == [("chat-1", "agent-1"), ("chat-2", "agent-1"), ("chat-3", "agent-2")]


def test_a_migrated_file_keeps_one_holder_per_chat(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    write_schema_1_file(path, SCHEMA_1_CHANGES)
    with SQLiteStore(path) as store:
        with pytest.raises(CommandRefused) as refused:
            store.save(Change("agent-3", 1, _holding("agent-3", "chat-2")))
        assert refused.value.code is ErrorCode.CHAT_HELD_BY_ANOTHER_AGENT
        assert refused.value.details["reason"] == "agent 'agent-1' holds it"
        # agent-4 held chat-3 beside agent-2 before the upgrade: it keeps it
        # and may go on saving, until it lets go of it.
        store.save(Change("agent-4", 1, _holding("agent-4", "chat-3", "chat-9")))
        store.save(Change("agent-4", 2, _holding("agent-4", "chat-9")))
        with pytest.raises(CommandRefused):
            store.save(Change("agent-4", 3, _holding("agent-4", "chat-9", "chat-3")))
        store.save(Change("agent-1", 1, _holding("agent-1", "chat-1")))
        store.save(Change("agent-3", 1, _holding("agent-3", "chat-2")))


def test_a_damaged_agent_row_does_not_stop_the_migration(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    write_schema_1_file(path, SCHEMA_1_CHANGES)
    db = sqlite3.connect(path)
    db.execute(
        "UPDATE agents SET state = '[\"agent-1\", 1, {' WHERE agent_id = 'agent-1'"
    )
    db.execute("UPDATE agents SET state = '[1, 2, 3, 4, 5]' WHERE agent_id = 'agent-3'")
    db.commit()
    db.close()
    with SQLiteStore(path) as store:
        assert store.load("agent-2") == StoredAgent(SCHEMA_1_CHANGES[1].state, 1)
        for agent_id in ("agent-1", "agent-3"):
            with pytest.raises(StoreError) as caught:
                store.load(agent_id)
            assert caught.value.code is ErrorCode.STORE_CORRUPT
    assert pragma(path, "user_version") == SCHEMA_VERSION


def test_a_migration_that_fails_leaves_the_file_at_schema_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.db"
    write_schema_1_file(path, SCHEMA_1_CHANGES)
    first, second, *later = sqlite_module._MIGRATIONS
    broken = (*second, "SELECT no_such_function()")
    monkeypatch.setattr(sqlite_module, "_MIGRATIONS", (first, broken, *later))
    with pytest.raises(StoreError):
        SQLiteStore(path)
    assert pragma(path, "user_version") == 1
    db = sqlite3.connect(path)
    columns = [row[1] for row in db.execute("PRAGMA table_info(commands)")]
    tables = db.execute("SELECT name FROM sqlite_master WHERE name = 'held_chats'")
    assert (columns, tables.fetchall()) == (
        ["command_id", "agent_id", "fingerprint", "outcome"],
        [],
    )
    db.close()


# Schema 2 is migrated to schema 3 on open

SCHEMA_2 = Path(__file__).with_name("sqlite_schema_2.sql").read_text()


def _master(db: sqlite3.Connection) -> list[tuple[str, ...]]:
    rows = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    return sorted((*row[:3], " ".join((row[3] or "").split())) for row in rows)


def test_migrations_zero_and_one_make_the_released_schema_2() -> None:
    made, released = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    for step in sqlite_module._MIGRATIONS[:2]:
        for statement in step:
            made.execute(statement)
    released.executescript(SCHEMA_2)
    assert _master(made) == _master(released)


def write_schema_2_file(path: Path, day: Schema2Day) -> None:
    """A version-2 file holding ``day``'s rows as the version-2 code wrote them."""
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_2)
    db.executemany("INSERT INTO agents VALUES (?, ?, ?, ?, NULL)", day.agents)
    db.executemany("INSERT INTO policies VALUES (?, ?)", day.policies)
    db.executemany("INSERT INTO held_chats VALUES (?, ?)", day.held_chats)
    db.executemany("INSERT INTO commands VALUES (?, ?, ?, ?, ?)", day.commands)
    db.executemany(
        "INSERT INTO history (customer_id, agent_id, chat_id, chat_started_at, "
        "wrap_up_ended_at, entry) VALUES (?, ?, ?, ?, ?, ?)",
        day.history,
    )
    db.commit()
    db.close()


def test_a_schema_2_file_is_migrated_and_erases_as_the_reference_store(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.db"
    day = schema_2_day()
    write_schema_2_file(path, day)
    with SQLiteStore(path) as store:
        check_erases_as_the_reference(store, day)
    assert pragma(path, "user_version") == SCHEMA_VERSION == 5
    db = sqlite3.connect(path)
    helper = db.execute("SELECT name FROM sqlite_master WHERE name = 'history_by_chat'")
    assert helper.fetchall() == []  # the migration's own index is gone
    db.close()


# Erasure leaves no byte behind


def _traces(path: Path) -> dict[str, int]:
    """How often the erased customer's id or texts occur in each file."""
    found = {}
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if name.exists():
            data = name.read_bytes()
            found[name.name] = sum(data.count(t.encode()) for t in TRACES)
    return found


def test_an_erased_customer_leaves_no_byte_in_the_file_or_its_wal(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.db"
    with SQLiteStore(path, synchronous="NORMAL") as store:
        service = busy_day(store)
        assert sum(_traces(path).values()) > 0  # the test can fail
        erasure = service.erase_customer(SECRET, erased_by="dpo-1")
        # 4 chats, each with 6 command records (and the next assign's
        # record never names them: every wrap-up was completed).
        assert (erasure.history_entries, erasure.command_records) == (4, 24)
        while_open = _traces(path)
        assert service.history("cust-3-1").entries != ()
    assert while_open == {"w.db": 0, "w.db-wal": 0, "w.db-shm": 0}
    assert _traces(path) == {"w.db": 0}


def test_an_erasure_waits_for_a_checkpoint_under_way_then_empties_the_wal(
    tmp_path: Path,
) -> None:
    # SQLite answers a second checkpoint "busy" at once: an erasure whose
    # truncation met the store's own checkpoint would leave the log as it
    # was, deleted bytes and all.
    path = tmp_path / "w.db"
    with SQLiteStore(path, synchronous="NORMAL") as store:
        service = busy_day(store)
        checkpointing, finished = threading.Event(), threading.Event()

        def a_checkpoint_under_way() -> None:
            with store._checkpoints.paused():  # as a checkpoint holds it
                checkpointing.set()
                finished.wait(0.3)

        other = threading.Thread(target=a_checkpoint_under_way)
        other.start()
        assert checkpointing.wait(10)
        erasing = threading.Thread(
            target=service.erase_customer, args=(SECRET,), kwargs={"erased_by": "d"}
        )
        erasing.start()
        erasing.join(0.1)
        assert erasing.is_alive()  # waits for the checkpoint to end
        finished.set()
        erasing.join(10)
        other.join(10)
        assert os.path.getsize(f"{path}-wal") == 0
        assert _traces(path)["w.db-wal"] == 0


def test_an_erasure_sees_a_chat_another_store_object_holds(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    with SQLiteStore(path) as first, SQLiteStore(path) as second:
        first.save(Change("agent-1", 0, _holding("agent-1", "chat-1")))
        with pytest.raises(CommandRefused) as refused:
            erase(second, "cust-1")
        assert refused.value.code is ErrorCode.CUSTOMER_CHAT_HELD
        first.save(Change("agent-1", 1, _holding("agent-1")))
        assert erase(second, "cust-1") == (0, 0)


def test_a_chat_id_held_again_for_another_customer_is_found_by_that_customer(
    tmp_path: Path,
) -> None:
    """The chat id came back for another customer once its wrap-up expired:
    the erasure check follows the customer the chat now names."""
    with SQLiteStore(tmp_path / "w.db") as store:
        clock = ManualClock(T0)
        service = WrapUpService(store, clock)
        service.add_agent("agent-1")
        service.assign("agent-1", "chat-3", "cust-2", QueuePolicy("support"))
        service.end_chat("agent-1", "chat-3")
        clock.advance(3600)  # the wrap-up expired, not yet swept
        service.assign("agent-1", "chat-3", "cust-1", QueuePolicy("support"))
        with pytest.raises(CommandRefused) as refused:
            erase(store, "cust-1")
        assert refused.value.code is ErrorCode.CUSTOMER_CHAT_HELD
        assert erase(store, "cust-2") == (1, 0)


def test_an_agent_added_again_by_another_store_object_goes_on_from_its_version(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.db"
    with SQLiteStore(path) as first, SQLiteStore(path) as second:
        first.save(Change("agent-1", 0, AgentState.new("agent-1")))
        first.save(Change("agent-1", 1, _holding("agent-1", "chat-1")))
        assert first.load("agent-1") is not None  # in the first one's memory
        second.retire("agent-1", 2)
        second.save(Change("agent-1", 0, AgentState.new("agent-1", capacity=2)))
        stored = first.load("agent-1")
        with pytest.raises(VersionConflict):
            first.save(Change("agent-1", 2, _holding("agent-1", "chat-1", "chat-2")))
    assert stored == StoredAgent(AgentState.new("agent-1", capacity=2), 3)


# One chat, one holder, whatever this store object has seen


def test_a_store_that_never_read_the_agent_still_keeps_one_holder(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.db"
    with SQLiteStore(path) as first:
        first.save(Change("agent-1", 0, _holding("agent-1", "chat-1")))
        first.save(Change("agent-2", 0, AgentState.new("agent-2")))
    with SQLiteStore(path) as second:  # nothing of agent-1 in its memory
        with pytest.raises(CommandRefused):
            second.save(Change("agent-2", 1, _holding("agent-2", "chat-1")))
        second.save(Change("agent-1", 1, _holding("agent-1", "chat-5")))
    with SQLiteStore(path) as third:
        third.save(Change("agent-2", 1, _holding("agent-2", "chat-1")))
        with pytest.raises(CommandRefused):
            third.save(Change("agent-2", 2, _holding("agent-2", "chat-1", "chat-5")))


# Damaged rows


def _damage(path: Path, sql: str) -> None:
    db = sqlite3.connect(path)
    db.execute(sql)
    db.commit()
    db.close()


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    path = tmp_path / "w.db"
    with SQLiteStore(path) as store:
        record = CommandRecord("cmd-1", "agent-1", "print", Outcome("agent-1", 2), T0)
        store.save(Change("agent-1", 0, _holding("agent-1", "chat-1")))
        store.save(Change("agent-2", 0, _holding("agent-2", "chat-2")))
        entry = ContactHistoryEntry(
            customer_id="cust-1",
            chat_id="chat-0",
            agent_id="agent-2",
            queue_id="support",
            classification=None,
            additional_text=None,
            chat_started_at=T0,
            chat_ended_at=T0,
            ended_by=EndedBy.CUSTOMER,
            wrap_up_started_at=T0,
            wrap_up_ended_at=T0,
            ending=WrapUpEnding.COMPLETED_EARLY,
            extensions_used=0,
            abuse=None,
        )
        store.save(Change("agent-2", 1, _holding("agent-2"), (entry, entry), record))
    return path


AGENT_DAMAGE = {
    "not JSON": "UPDATE agents SET state = 'garbage' WHERE agent_id = 'agent-1'",
    "wrong shape": "UPDATE agents SET state = '[1]' WHERE agent_id = 'agent-1'",
    "unknown phase": "UPDATE agents SET state = "
    "replace(state, '\"active\"', '\"lost\"') WHERE agent_id = 'agent-1'",
    "not text": "UPDATE agents SET state = 42 WHERE agent_id = 'agent-1'",
    "version": "UPDATE agents SET version = 'x' WHERE agent_id = 'agent-1'",
    "another agent": "UPDATE agents SET state = "
    "(SELECT state FROM agents WHERE agent_id = 'agent-2') "
    "WHERE agent_id = 'agent-1'",
    "policy": "UPDATE policies SET policy = '{\"queue_id\": 7}'",
    "no policy": "DELETE FROM policies",
}


@pytest.mark.parametrize("sql", AGENT_DAMAGE.values(), ids=AGENT_DAMAGE.keys())
@pytest.mark.parametrize("settled", [False, True], ids=["load", "load_settled"])
def test_a_damaged_agent_row_is_store_corrupt_naming_the_agent(
    filled: Path, sql: str, settled: bool
) -> None:
    _damage(filled, sql)
    with SQLiteStore(filled) as store:
        load = store.load_settled if settled else store.load
        with pytest.raises(StoreError) as caught:
            load("agent-1")
    error = caught.value
    assert error.code is ErrorCode.STORE_CORRUPT
    assert (error.details["table"], error.details["key"]) == ("agent", "agent-1")
    assert "agent row 'agent-1' is damaged" in error.message


HISTORY_DAMAGE = {
    "not JSON": "UPDATE history SET entry = 'garbage' WHERE sequence = 2",
    "missing value": "UPDATE history SET entry = json_remove(entry, '$[1]') "
    "WHERE sequence = 2",
    "wrong type": "UPDATE history SET entry = json_set(entry, '$[14]', 'many') "
    "WHERE sequence = 2",
    "document missing a field": "UPDATE history SET entry = "
    "json_object('schema_version', 1, 'chat_id', 'chat-1') WHERE sequence = 2",
    "not text": "UPDATE history SET entry = x'00ff' WHERE sequence = 2",
}


@pytest.mark.parametrize("sql", HISTORY_DAMAGE.values(), ids=HISTORY_DAMAGE.keys())
@pytest.mark.parametrize("read", ["history", "all_history", "report"])
def test_a_damaged_history_row_is_store_corrupt_naming_the_row(
    filled: Path, sql: str, read: str
) -> None:
    _damage(filled, sql)
    with SQLiteStore(filled) as store:
        call = {
            "history": lambda: store.history("cust-1"),
            "all_history": lambda: list(store.all_history()),
            "report": lambda: reports_by_run(store),
        }[read]
        with pytest.raises(StoreError) as caught:
            call()
    error = caught.value
    assert error.code is ErrorCode.STORE_CORRUPT
    assert (error.details["table"], error.details["key"]) == ("history", 2)
    assert "history row 2 is damaged" in error.message


COMMAND_DAMAGE = {
    "outcome": "UPDATE commands SET outcome = '[\"agent-1\"]'",
    "not JSON": "UPDATE commands SET outcome = 'garbage'",
    "recorded at": "UPDATE commands SET recorded_at = 'yesterday'",
    "fingerprint": "UPDATE commands SET fingerprint = x'0102'",
}


@pytest.mark.parametrize("sql", COMMAND_DAMAGE.values(), ids=COMMAND_DAMAGE.keys())
def test_a_damaged_command_record_is_store_corrupt_naming_it(
    filled: Path, sql: str
) -> None:
    _damage(filled, sql)
    with SQLiteStore(filled) as store, pytest.raises(StoreError) as caught:
        store.find_command("cmd-1")
    error = caught.value
    assert error.code is ErrorCode.STORE_CORRUPT
    assert (error.details["table"], error.details["key"]) == ("command", "cmd-1")


def test_rows_next_to_a_damaged_one_still_read(filled: Path) -> None:
    _damage(filled, AGENT_DAMAGE["not JSON"])
    with SQLiteStore(filled) as store:
        stored = store.load("agent-2")
        assert stored is not None
        assert stored.version == 2
        assert store.find_command("cmd-1") is not None
        assert len(store.history("cust-1").entries) == 2


# Claims and pruning stay on their indexes


def plan(store: SQLiteStore, sql: str, parameters: tuple[object, ...]) -> str:
    rows = store._db.execute(f"EXPLAIN QUERY PLAN {sql}", parameters).fetchall()
    return " | ".join(row[3] for row in rows)


@pytest.mark.parametrize(
    ("sql", "parameters"),
    [
        (sqlite_module._CLAIM_NEVER_CLAIMED, (1, 10)),
        (sqlite_module._CLAIM_RAN_OUT, (1, 1, 10)),
    ],
)
def test_claims_walk_the_due_index_and_sort_nothing(
    tmp_path: Path, sql: str, parameters: tuple[object, ...]
) -> None:
    with SQLiteStore(tmp_path / "w.db") as store:
        found = plan(store, sql, parameters)
    assert "USING INDEX agents_due" in found
    assert "TEMP B-TREE" not in found


def test_pruning_finds_old_records_by_their_index(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "w.db") as store:
        found = plan(store, sqlite_module._PRUNE, (1, 10))
    assert "commands_by_time" in found
    assert "SCAN commands" not in found


# Reads do not wait behind writers


class BlockedSave:
    """A save in a thread of its own, stuck inside the store's write lock
    because another connection holds the file's write lock."""

    def __init__(self, store: SQLiteStore, path: Path, change: Change) -> None:
        self.holder = sqlite3.connect(path, isolation_level=None)
        self.holder.execute("BEGIN IMMEDIATE")
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._save, args=(store, change))
        self.thread.start()
        # The save holds the store's lock from just before BEGIN IMMEDIATE
        # until its commit; it cannot commit while the holder holds the file.
        while not store._lock.locked():
            if not self.thread.is_alive():
                raise AssertionError(f"the save did not block: {self.error!r}")
            self.thread.join(0.001)

    def _save(self, store: SQLiteStore, change: Change) -> None:
        try:
            store.save(change)
        except BaseException as error:
            self.error = error

    def still_blocked(self) -> bool:
        return self.thread.is_alive()

    def release(self) -> None:
        self.holder.execute("ROLLBACK")
        self.holder.close()
        self.thread.join()
        assert self.error is None


def test_reads_answer_while_a_save_waits_for_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    with SQLiteStore(path, busy_timeout=60) as store:
        record = CommandRecord("cmd-1", "agent-1", "print", Outcome("agent-1", 1), T0)
        store.save(Change("agent-1", 0, _holding("agent-1", "chat-1"), (), record))
        blocked = BlockedSave(
            store, path, Change("agent-1", 1, _holding("agent-1", "chat-1", "chat-2"))
        )
        try:
            reads: dict[str, object] = {}

            def read() -> None:  # from a thread that never read before
                reads["load"] = store.load("agent-1")
                reads["record"] = store.find_command("cmd-1")
                reads["history"] = store.history("cust-1")

            reader = threading.Thread(target=read)
            reader.start()
            reader.join()
            loaded = store.load("agent-1")  # and from this thread
            assert blocked.still_blocked()
        finally:
            blocked.release()
        assert loaded is not None
        assert reads["load"] == loaded
        assert (loaded.version, len(loaded.state.chats)) == (1, 1)
        assert reads["record"] == record
        after = store.load("agent-1")
        assert after is not None
        assert after.version == 2


def test_a_settled_load_waits_for_the_save_under_way(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    with SQLiteStore(path, busy_timeout=60) as store:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process's save, under way
        holder.execute("UPDATE agents SET version = 2 WHERE agent_id = 'agent-1'")
        stored = store.load("agent-1")
        settled: list[StoredAgent | None] = []
        waiter = threading.Thread(
            target=lambda: settled.append(store.load_settled("agent-1"))
        )
        waiter.start()
        # Not a measure of time: a settled load that did not wait would be
        # done long before; one that waits cannot be, whatever the machine.
        waiter.join(0.5)
        waiting = waiter.is_alive()
        holder.execute("COMMIT")
        holder.close()
        waiter.join()
    assert stored is not None
    assert stored.version == 1
    assert waiting
    assert [s.version if s else None for s in settled] == [2]


def test_every_load_from_many_threads_matches_its_version(tmp_path: Path) -> None:
    """The decoded-state cache is shared by threads: a load never pairs a
    version with another version's state."""
    path = tmp_path / "w.db"
    with SQLiteStore(path, synchronous="NORMAL") as store:
        store.save(Change("agent-1", 0, AgentState.new("agent-1", capacity=1)))
        done = threading.Event()
        wrong: list[tuple[int, int]] = []

        def write() -> None:
            for version in range(1, 200):
                state = AgentState.new("agent-1", capacity=version % 7 + 1)
                store.save(Change("agent-1", version, state))
            done.set()

        def read() -> None:
            while not done.is_set():
                stored = store.load("agent-1")
                assert stored is not None
                if stored.state.capacity != (stored.version - 1) % 7 + 1:
                    wrong.append((stored.version, stored.state.capacity))

        threads = [threading.Thread(target=write)]
        threads += [threading.Thread(target=read) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert wrong == []


# Closing


def test_a_closed_store_refuses_reads_on_every_thread_s_connection(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.db"
    store = SQLiteStore(path)
    store.save(Change("agent-1", 0, AgentState.new("agent-1")))
    blocked = BlockedSave(store, path, Change("agent-1", 1, AgentState.new("agent-1")))
    try:
        assert store.load("agent-1") is not None  # on this thread's own connection
    finally:
        blocked.release()
    store.close()
    errors: list[StoreError] = []

    def read() -> None:
        try:
            store.load("agent-1")
        except StoreError as error:
            errors.append(error)

    other = threading.Thread(target=read)
    other.start()
    other.join()
    calls: list[Callable[[], object]] = [
        lambda: store.load("agent-1"),
        lambda: store.load_settled("agent-1"),
        lambda: store.prune_commands(T0, 10),
        lambda: store.find_command("cmd-1"),
    ]
    for call in calls:
        with pytest.raises(StoreError) as caught:
            call()
        errors.append(caught.value)
    assert [error.code for error in errors] == [ErrorCode.STORE_CLOSED] * 5
    assert store._readers == {}


def test_read_connections_of_ended_threads_are_closed(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "w.db") as store:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        with store._lock:  # the writer looks busy: each thread opens its own
            for _ in range(20):
                thread = threading.Thread(target=store.load, args=("agent-1",))
                thread.start()
                thread.join()
        assert len(store._readers) <= 2


_CLOSE_WHILE_READING = """
import random, sys, threading, time
from webchat_wrapup import SQLiteStore, StoreError

for round in range(100):
    store = SQLiteStore(sys.argv[1] + f"/{round}.db")
    codes = []

    def read(work):
        try:
            while True:
                work()
        except StoreError as error:
            codes.append(error.code.value)

    readers = [
        threading.Thread(target=read, args=(lambda: store.wait_for_events(9, 0.0005),)),
        threading.Thread(target=read, args=(lambda: list(store.all_history()),)),
        threading.Thread(target=read, args=(lambda: store.events(0, 10),)),
    ]
    for reader in readers:
        reader.start()
    time.sleep(random.random() / 200)
    store.close()
    for reader in readers:
        reader.join()
    assert codes == ["store_closed"] * 3, codes
"""


def test_closing_while_other_threads_read_stops_them_as_closed(tmp_path: Path) -> None:
    # sqlite3 crashes the interpreter when a connection is closed while
    # another thread reads on it: run in a process of its own, so a crash
    # fails this test rather than the whole run.
    done = subprocess.run(
        [sys.executable, "-c", _CLOSE_WHILE_READING, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_commit_that_fails_leaves_nothing_open_or_visible(tmp_path: Path) -> None:
    """A deferred foreign key makes COMMIT itself fail (as a full disk
    would): the transaction is rolled back, not left open on the writer."""
    with SQLiteStore(tmp_path / "w.db") as store:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
        store._db.executescript(
            """
            PRAGMA foreign_keys = ON;
            CREATE TABLE parent (id INTEGER PRIMARY KEY);
            CREATE TABLE child (
                parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED
            );
            CREATE TRIGGER fail_commit AFTER UPDATE ON agents
            BEGIN INSERT INTO child VALUES (1); END;
            """
        )
        with pytest.raises(StoreError):
            store.save(Change("agent-1", 1, AgentState.new("agent-1", capacity=3)))
        assert not store._db.in_transaction
        stored = store.load("agent-1")
        assert stored is not None
        assert (stored.version, stored.state.capacity) == (1, 1)
        store._db.execute("DROP TRIGGER fail_commit")
        store.save(Change("agent-1", 1, AgentState.new("agent-1", capacity=3)))


def test_an_up_to_date_file_opens_and_reads_while_another_process_writes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.db"
    with SQLiteStore(path) as store:
        store.save(Change("agent-1", 0, AgentState.new("agent-1")))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with SQLiteStore(path, busy_timeout=0.05) as store:
            stored = store.load("agent-1")
            with pytest.raises(StoreError) as caught:
                store.save(Change("agent-2", 0, AgentState.new("agent-2")))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert stored is not None
    assert stored.version == 1
    assert caught.value.code is ErrorCode.STORE_LOCKED


# Schema 3 is migrated to schema 4 (the event feed) on open

SCHEMA_3 = Path(__file__).with_name("sqlite_schema_3.sql").read_text()
FILE_3 = Path(__file__).with_name("sqlite_file_3.sql").read_text()


def test_migrations_zero_to_two_make_the_released_schema_3() -> None:
    made, released = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    for step in sqlite_module._MIGRATIONS[:3]:
        for statement in step:
            made.execute(statement)
    released.executescript(SCHEMA_3)
    assert _master(made) == _master(released)


def write_schema_3_file(path: Path) -> None:
    """The file the schema-3 code left after a short day (see the dump)."""
    db = sqlite3.connect(path)
    db.executescript(FILE_3)
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()


def test_a_schema_3_file_is_migrated_and_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    write_schema_3_file(path)
    with SQLiteStore(path) as store:
        held = store.load("agent-1")
        assert held is not None
        assert [c.chat_id for c in held.state.chats] == ["chat-3"]
        record = store.find_command("cmd-1")
        assert record is not None
        assert record.agent_id == "agent-1"
        (erasure,) = store.erasures()
        assert (erasure.history_entries, erasure.events) == (1, 0)
        changes = store.history_changes()
        assert [c.entry.chat_id for c in changes] == ["chat-1", "chat-2"]
        assert store.events() == []
        assert store.last_position() == 0
        service = WrapUpService(store, ManualClock(T0))
        service.end_chat("agent-1", "chat-3")
        assert [e.event.type for e in store.events()][:1] == ["chat_ended"]
    assert pragma(path, "user_version") == SCHEMA_VERSION == 5
    fresh = tmp_path / "fresh.db"
    SQLiteStore(fresh).close()
    migrated, made = sqlite3.connect(path), sqlite3.connect(fresh)
    assert _master(migrated) == _master(made)
