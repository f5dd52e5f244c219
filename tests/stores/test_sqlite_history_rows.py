"""Schema 4: the SQLite store keeps contact-history entries as rows.

``sqlite_schema_3_history.jsonl`` holds the history rows of a schema-3
file as the schema-3 code (git 3fc17ab) wrote them: the demo's history
through the service, and 140 entries written in bulk, out of wrap-up order,
in three runs, with pauses, transfers, abuse flags, text beyond ASCII and
wrap-ups ending on the same minute; five are documents as versions before
pauses and transfers wrote them. ``sqlite_schema_3_report_{hour,day}.json``
are what ``webchat-wrapup report --format json`` printed for that file with
that code. Upgraded, the file must report exactly the same, byte for byte.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from webchat_wrapup import AgentState, ContactHistoryEntry, ErrorCode, StoreError
from webchat_wrapup.ports import Change
from webchat_wrapup.stores import SQLiteStore
from webchat_wrapup.stores import sqlite as sqlite_module
from webchat_wrapup.stores._entries import entry_row
from webchat_wrapup.tools.cli.report_output import as_json
from webchat_wrapup.tools.report import reports_by_run

HERE = Path(__file__).parent
SCHEMA_3_ROWS = [
    json.loads(line)
    for line in (HERE / "sqlite_schema_3_history.jsonl").read_text("utf-8").splitlines()
]


def write_schema_3_file(path: Path, rows: list[list[object]]) -> None:
    """A schema-3 file (migrations 0 to 2) holding ``rows`` of history."""
    db = sqlite3.connect(path)
    for step in sqlite_module._MIGRATIONS[:3]:
        for statement in step:
            db.execute(statement)  # type: ignore[arg-type]
    db.executemany(
        "INSERT INTO history (customer_id, agent_id, chat_id, chat_started_at, "
        "wrap_up_ended_at, entry) VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()


def stored_texts(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [row[0] for row in db.execute("SELECT entry FROM history ORDER BY 1")]
    finally:
        db.close()


@pytest.mark.parametrize("bucket", ["hour", "day"])
def test_an_upgraded_schema_3_file_reports_as_the_schema_3_code_did(
    tmp_path: Path, bucket: str
) -> None:
    path = tmp_path / "w.db"
    write_schema_3_file(path, SCHEMA_3_ROWS)
    with SQLiteStore(path) as store:
        printed = as_json(reports_by_run(store, bucket=bucket))  # type: ignore[arg-type]
    expected = (HERE / f"sqlite_schema_3_report_{bucket}.json").read_text("utf-8")
    # The wrap-up time histogram came after the schema-3 code printed that:
    # everything else is as it printed it, value for value.
    reported = json.loads(printed)
    for report in reported["runs"].values():
        bins = report.pop("wrap_up_time")
        assert sum(b["chats"] for b in bins) == report["entries"]
    assert reported == json.loads(expected)
    assert all(text.startswith("[") for text in stored_texts(path))


def test_an_upgraded_schema_3_file_holds_the_same_entries(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    write_schema_3_file(path, SCHEMA_3_ROWS)
    before = [
        ContactHistoryEntry.from_dict(json.loads(row[5])) for row in SCHEMA_3_ROWS
    ]
    with SQLiteStore(path) as store:
        history = list(store.all_history())
        page = store.history("sim1-2:cust-4", limit=1000).entries
    assert sorted(history, key=by_chat) == sorted(before, key=by_chat)
    assert len(page) == 16
    assert list(page) == [e for e in history if e.customer_id == "sim1-2:cust-4"]
    assert sqlite_module.SCHEMA_VERSION == 5


def by_chat(entry: ContactHistoryEntry) -> str:
    return entry.chat_id


def test_the_upgrade_leaves_a_damaged_entry_as_it_was_to_be_reported(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.db"
    rows = [list(row) for row in SCHEMA_3_ROWS]
    document = json.loads(str(rows[6][5]))
    rows[6][5] = json.dumps({**document, "extensions_used": -1})
    write_schema_3_file(path, rows)
    with SQLiteStore(path) as store:
        assert str(rows[6][5]) in stored_texts(path)  # as it was
        for read in (lambda: list(store.all_history()), lambda: reports_by_run(store)):
            with pytest.raises(StoreError) as caught:
                read()
            error = caught.value
            assert error.code is ErrorCode.STORE_CORRUPT
            assert (error.details["table"], error.details["key"]) == ("history", 7)
    assert sum(text.startswith("[") for text in stored_texts(path)) == len(rows) - 1


def test_history_rows_are_the_entries_rows_in_write_order(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    write_schema_3_file(path, SCHEMA_3_ROWS[:40])
    written = [ContactHistoryEntry.from_dict(json.loads(r[5])) for r in SCHEMA_3_ROWS]
    with SQLiteStore(path) as store:
        store.save(
            Change("writer", 0, AgentState.new("writer"), history=tuple(written[40:]))
        )
        rows = list(store.history_rows())
        reading = store.history_rows()
        first = next(reading)
        reading.close()  # a report that stops early lets its snapshot go
    assert rows == [entry_row(entry) for entry in written]
    assert first == rows[0]
