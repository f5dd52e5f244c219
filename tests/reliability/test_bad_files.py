"""Locked, read-only, corrupt and too-new files: a typed error, nothing written.

Each bad file gives a :class:`StoreError` with its code, whether the
failure shows when the store is opened or at the first read or write, and
the file is left exactly as it was.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from workers import (
    QUEUES,
    START,
    start,
    stderr_of,
    stop,
    table_rows,
    wait_line,
)

from webchat_wrapup import AgentState, ErrorCode, StoreError
from webchat_wrapup.clocks import ManualClock
from webchat_wrapup.service import WrapUpService
from webchat_wrapup.stores import SQLiteStore
from webchat_wrapup.stores.sqlite import SCHEMA_VERSION

SALES = QUEUES[0]


def make_store(path: Path, agents: int = 3) -> None:
    """A store file with agents, one of them in wrap-up, and some history."""
    with SQLiteStore(path) as store:
        service = WrapUpService(store, ManualClock(START))
        for number in range(agents):
            agent_id = f"agent-{number}"
            service.add_agent(agent_id, capacity=2)
            service.assign(agent_id, f"chat-{number}", "cust-a", SALES)
            service.end_chat(agent_id, f"chat-{number}")
        service.complete("agent-0", "chat-0", command_id="done-0")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def use(path: Path, busy_timeout: float = 10.0) -> None:
    """Open the store, read agents, a record and history, then write."""
    with SQLiteStore(path, busy_timeout=busy_timeout) as store:
        service = WrapUpService(store, ManualClock(START))
        for number in range(3):
            store.load(f"agent-{number}")
        store.find_command("done-0")
        service.history("cust-a")
        service.add_agent("agent-new")


def refused(path: Path, busy_timeout: float = 10.0) -> StoreError:
    """The error ``use`` fails with; it must fail."""
    with pytest.raises(StoreError) as caught:
        use(path, busy_timeout)
    assert isinstance(caught.value, OSError)
    return caught.value


def schema(path: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        tables = db.execute(
            "SELECT type, name, sql FROM sqlite_master ORDER BY name"
        ).fetchall()
        return [*tables, ("user_version", db.execute("PRAGMA user_version").fetchone())]
    finally:
        db.close()


# Locked


@pytest.fixture
def lock_holder(tmp_path: Path) -> Iterator[Callable[[Path, str], None]]:
    """Start a process that holds the file's write lock until the test ends."""
    holders: list[subprocess.Popen[bytes]] = []

    def hold(path: Path, begin: str) -> None:
        config = {"name": f"lock{len(holders)}", "db": str(path), "begin": begin}
        process = start("hold-lock", config, tmp_path, stdout=subprocess.PIPE)
        holders.append(process)
        line = wait_line(process, timeout=30)
        assert line == "locked", stderr_of(tmp_path, config["name"])

    yield hold
    for process in holders:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)
        stop(process)


@pytest.mark.parametrize("begin", ["BEGIN IMMEDIATE", "BEGIN EXCLUSIVE"])
def test_a_write_to_a_locked_file_fails_with_store_locked_and_writes_nothing(
    tmp_path: Path, lock_holder: Callable[[Path, str], None], begin: str
) -> None:
    path = tmp_path / "wrapup.db"
    make_store(path)
    versions = table_rows(path, "SELECT agent_id, version FROM agents")
    with SQLiteStore(path, busy_timeout=0.2) as store:
        clock = ManualClock(START)
        service = WrapUpService(store, clock)
        lock_holder(path, begin)

        # Reads go on: the file is in WAL mode.
        assert service.view("agent-1").chats[0].chat_id == "chat-1"
        assert store.find_command("done-0") is not None

        clock.advance(10)
        commands: list[Callable[[], object]] = [
            lambda: service.extend("agent-1", "chat-1", command_id="ext-1"),
            lambda: service.classify("agent-2", "chat-2", code="late"),
            lambda: service.add_agent("agent-new"),
            lambda: clock.advance(3600) and service.sweep().expired,
            lambda: store.claim_due(clock.now(), 5, timedelta(seconds=30)),
        ]
        for write in commands:
            with pytest.raises(StoreError) as caught:
                write()
            assert caught.value.code is ErrorCode.STORE_LOCKED

    # The lock holder never committed; nothing of the refused writes is there.
    assert table_rows(path, "SELECT agent_id, version FROM agents") == versions
    assert table_rows(path, "SELECT command_id FROM commands") == [("done-0",)]
    assert table_rows(path, "SELECT claimed_until FROM agents") == [(None,)] * 3


def test_a_store_opened_while_the_file_is_locked_fails_with_store_locked(
    tmp_path: Path, lock_holder: Callable[[Path, str], None]
) -> None:
    path = tmp_path / "wrapup.db"
    make_store(path)
    before = schema(path)
    lock_holder(path, "BEGIN IMMEDIATE")
    assert refused(path, busy_timeout=0.2).code is ErrorCode.STORE_LOCKED
    assert schema(path) == before


def test_once_the_lock_is_released_the_same_store_writes_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wrapup.db"
    make_store(path)
    with SQLiteStore(path, busy_timeout=0.2) as store:
        service = WrapUpService(store, ManualClock(START))
        config = {"name": "lock", "db": str(path), "begin": "BEGIN IMMEDIATE"}
        holder = start("hold-lock", config, tmp_path, stdout=subprocess.PIPE)
        try:
            assert wait_line(holder, timeout=30) == "locked"
            with pytest.raises(StoreError) as caught:
                service.extend("agent-1", "chat-1", command_id="ext-1")
            assert caught.value.code is ErrorCode.STORE_LOCKED
            assert holder.stdin is not None
            holder.stdin.close()
            assert holder.wait(timeout=30) == 0
        finally:
            stop(holder)
        outcome = service.extend("agent-1", "chat-1", command_id="ext-1")
        assert (outcome.version, outcome.replayed) == (4, False)


# Read-only


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


@pytest.fixture
def make_read_only() -> Iterator[Callable[[Path], None]]:
    """Make files and folders unwritable. Root passes over permission bits,
    so as root: the immutable attribute (``chattr +i``), or where the file
    system has none (overlayfs, tmpfs) a read-only bind mount of the target
    onto itself; skipped only if neither is allowed."""
    undo: list[Callable[[], object]] = []
    root = os.geteuid() == 0

    def read_only(target: Path) -> None:
        if not root:
            mode = target.stat().st_mode & 0o777
            target.chmod(0o555 if target.is_dir() else 0o444)
            undo.append(lambda: target.chmod(mode))
            return
        chattr = shutil.which("chattr")
        if chattr is not None and _run(chattr, "+i", str(target)).returncode == 0:
            undo.append(lambda: _run(chattr, "-i", str(target)))
            return
        if _run("mount", "--bind", str(target), str(target)).returncode != 0:
            pytest.skip("running as root, and neither chattr +i nor mount works")
        undo.append(lambda: _run("umount", str(target)))
        done = _run("mount", "-o", "remount,bind,ro", str(target))
        if done.returncode != 0:
            pytest.skip(f"running as root, and a read-only remount failed: {done}")

    yield read_only
    for step in reversed(undo):
        step()


def test_a_read_only_file_fails_with_store_read_only_and_is_left_alone(
    tmp_path: Path, make_read_only: Callable[[Path], None]
) -> None:
    path = tmp_path / "wrapup.db"
    make_store(path)
    before = digest(path)
    make_read_only(path)
    assert refused(path).code is ErrorCode.STORE_READ_ONLY
    assert digest(path) == before


def test_a_read_only_file_in_a_read_only_folder_fails_with_store_read_only(
    tmp_path: Path, make_read_only: Callable[[Path], None]
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "wrapup.db"
    make_store(path)
    before = digest(path)
    make_read_only(path)
    make_read_only(folder)
    assert refused(path).code is ErrorCode.STORE_READ_ONLY
    assert digest(path) == before
    assert os.listdir(folder) == ["wrapup.db"]


def test_a_new_file_in_a_folder_that_cannot_be_written_is_store_read_only(
    tmp_path: Path, make_read_only: Callable[[Path], None]
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    make_read_only(folder)
    error = refused(folder / "wrapup.db")
    assert error.code is ErrorCode.STORE_READ_ONLY
    assert not error.retryable
    assert os.listdir(folder) == []


@pytest.fixture
def read_only_file_system(tmp_path: Path) -> Iterator[Path]:
    """A folder on a file system mounted read-only (needs root; the
    ``make_read_only`` tests above cover the same refusal without it)."""
    folder = tmp_path / "mounted"
    folder.mkdir()
    done = _run("mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        _run("umount", str(folder))


def test_a_new_file_on_a_read_only_file_system_is_store_read_only(
    read_only_file_system: Path,
) -> None:
    error = refused(read_only_file_system / "wrapup.db")
    assert error.code is ErrorCode.STORE_READ_ONLY
    assert os.listdir(read_only_file_system) == []


# Corrupt


def random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(16 * 4096))


def truncated_last_page(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.truncate(size - 4096 - 1000)


def cut_in_half(path: Path) -> None:
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2 + 10)


def garbage_page(path: Path) -> None:
    """Overwrite the page that holds agent-1's row; page 1 stays sound."""
    data = path.read_bytes()
    page = data.index(b'["agent-1",') // 4096
    assert page > 0
    with path.open("r+b") as file:
        file.seek(page * 4096)
        file.write(random.Random(8).randbytes(4096))


def garbage_schema(path: Path) -> None:
    """Overwrite page 1 after the 100-byte header: the schema is unreadable."""
    with path.open("r+b") as file:
        file.seek(100)
        file.write(random.Random(9).randbytes(4096 - 100))


DAMAGE = [random_bytes, truncated_last_page, cut_in_half, garbage_page, garbage_schema]


@pytest.mark.parametrize("damage", DAMAGE, ids=[d.__name__ for d in DAMAGE])
def test_a_corrupt_file_fails_with_store_corrupt_and_is_left_alone(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    path = tmp_path / "wrapup.db"
    make_store(path, agents=60)  # several pages
    damage(path)
    before = digest(path)
    assert refused(path).code is ErrorCode.STORE_CORRUPT
    assert digest(path) == before


# Written by a newer version


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_a_file_from_a_newer_version_fails_with_store_too_new_untouched(
    tmp_path: Path, journal: str
) -> None:
    path = tmp_path / "wrapup.db"
    make_store(path)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA journal_mode = {journal}")
    db.execute("CREATE TABLE from_the_future (x INTEGER)")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    before, tables = digest(path), schema(path)

    error = refused(path)
    assert error.code is ErrorCode.STORE_TOO_NEW
    assert error.details["schema_version"] == 99
    assert SCHEMA_VERSION < 99
    assert schema(path) == tables
    assert digest(path) == before
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone() == (journal,)
    db.close()


def test_opening_and_reading_an_up_to_date_file_writes_nothing(
    tmp_path: Path,
) -> None:
    """What "nothing is written" rests on for damage only a read finds.

    A file damaged past its first page opens fine and fails at the first
    read, so the open itself must not write.
    """
    path = tmp_path / "wrapup.db"
    make_store(path)
    before = digest(path)
    with SQLiteStore(path) as store:
        for number in range(3):
            store.load(f"agent-{number}")
        store.find_command("done-0")
        store.history("cust-a")
    assert digest(path) == before


def test_a_store_is_usable_after_damage_is_undone(tmp_path: Path) -> None:
    """The refusals above hold nothing open: the same path works once repaired."""
    path = tmp_path / "wrapup.db"
    make_store(path)
    good = path.read_bytes()
    random_bytes(path)
    assert refused(path).code is ErrorCode.STORE_CORRUPT
    path.write_bytes(good)
    for side in ("-wal", "-shm"):
        Path(f"{path}{side}").unlink(missing_ok=True)
    use(path)
    with SQLiteStore(path) as store:
        stored = store.load("agent-new")
    assert stored is not None
    assert stored.state == AgentState.new("agent-new")


# A damaged agent among many due


def test_a_sweep_goes_on_past_a_damaged_agent_and_later_sweeps_take_it_last(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wrapup.db"
    clock = ManualClock(START)
    with SQLiteStore(path, synchronous="NORMAL") as store:
        service = WrapUpService(store, clock)
        for number in range(300):
            agent_id = f"agent-{number:03d}"
            service.add_agent(agent_id)
            service.assign(agent_id, f"chat-{number}", "cust-a", SALES)
            service.end_chat(agent_id, f"chat-{number}")
            clock.advance(0.001)  # agent-000's wrap-up is due first
    db = sqlite3.connect(path)
    db.execute(
        "UPDATE agents SET state = '[\"agent-000\", 1, {' WHERE agent_id = 'agent-000'"
    )
    db.commit()
    db.close()

    with SQLiteStore(path) as store:
        service = WrapUpService(store, clock)
        clock.advance(600)
        swept_at = clock.now()
        result = service.sweep(limit=1000)
        assert (result.claimed, result.expired) == (300, 299)
        (failure,) = result.failures
        assert (failure.agent_id, failure.error.code) == (
            "agent-000",
            ErrorCode.STORE_CORRUPT,
        )
        assert "agent row 'agent-000' is damaged" in failure.error.message
        still_due = "SELECT agent_id FROM agents WHERE next_deadline IS NOT NULL"
        assert table_rows(path, still_due) == [("agent-000",)]

        # A new wrap-up falls due after agent-000's, once agent-000's lease
        # ran out: the agent never claimed goes first.
        service.add_agent("agent-new")
        service.assign("agent-new", "chat-new", "cust-a", SALES)
        service.end_chat("agent-new", "chat-new")
        clock.advance(SALES.wrap_up.countdown_seconds + 1)
        assert clock.now() - swept_at > service.lease
        first = service.sweep(limit=1)
        assert (first.claimed, first.expired, first.failures) == (1, 1, ())
        assert service.view("agent-new").chats == ()
        then = service.sweep(limit=1)
        assert [f.agent_id for f in then.failures] == ["agent-000"]
