"""``webchat-wrapup report --db`` reads a PostgreSQL store as well as a file.

A simulated day is written to SQLite by the real command, copied into a
fresh PostgreSQL schema through the stores, and reported from both: the
reports must agree. The command runs in a subprocess.

Needs a server: set WEBCHAT_WRAPUP_POSTGRES_DSN; without it the tests skip
locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import postgres_dsn
from test_cli import refused, run
from webchat_wrapup import AgentState, SQLiteStore
from webchat_wrapup.ports import Change

DSN = postgres_dsn()

psycopg = pytest.importorskip("psycopg")
from psycopg.conninfo import conninfo_to_dict  # noqa: E402

from webchat_wrapup.stores.postgres import PostgresStore  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent.parent
POLICY = ROOT / "examples" / "policy.toml"
SMALL = ["--agents", "6", "--hours", "1", "--arrivals", "sales=30"]


def as_url(dsn: str) -> str:
    """The same server as a postgresql:// URL."""
    parts = conninfo_to_dict(dsn)
    user = parts.get("user", "")
    return (
        f"postgresql://{user}@{parts['host']}:{parts.get('port', 5432)}"
        f"/{parts['dbname']}"
    )


def schema_count(schema: str) -> int:
    with psycopg.connect(DSN, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)
        ).fetchone()
    return int(row[0])


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated day in a SQLite file."""
    database = tmp_path_factory.mktemp("report") / "day.db"
    result = run("simulate", POLICY, "--db", database, *SMALL)
    assert result.returncode == 0, result.stderr
    return database


def copy_history(database: Path, schema: str) -> int:
    """Copy the file's contact history and event feed (which the report's
    time per presence reads) into the schema; the entry count."""
    with SQLiteStore(database) as source:
        entries = tuple(source.all_history())
        events = []
        while page := source.events(events[-1].position if events else 0, 1000):
            events += page
    with PostgresStore(DSN, schema=schema) as target:
        change = Change(
            "copier",
            0,
            AgentState.new("copier"),
            entries,
            events=tuple(stored.event for stored in events),
        )
        target.save(change)
    return len(entries)


@pytest.mark.parametrize("form", ["url", "conninfo"])
def test_a_postgresql_report_matches_the_same_history_in_sqlite(
    day: Path, schema: str, form: str
) -> None:
    assert copy_history(day, schema) > 0
    db = as_url(DSN) if form == "url" else DSN
    reports = {}
    for output in ("json", "csv", "table"):
        from_sqlite = run("report", "--db", day, "--format", output)
        from_postgres = run(
            "report", "--db", db, "--schema", schema, "--format", output
        )
        assert from_postgres.returncode == 0, from_postgres.stderr
        assert from_postgres.stdout == from_sqlite.stdout
        reports[output] = from_postgres.stdout
    (run_report,) = json.loads(reports["json"])["runs"].values()
    assert run_report["entries"] > 0


def test_a_report_on_a_missing_schema_creates_nothing(schema: str) -> None:
    refused(run("report", "--db", DSN, "--schema", schema), "no webchat-wrapup store")
    assert schema_count(schema) == 0


def test_a_report_on_an_unreachable_server_is_one_line() -> None:
    unreachable = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    refused(run("report", "--db", unreachable), "PostgreSQL store")


def test_words_that_are_no_connection_string_are_a_file_name(
    tmp_path: Path,
) -> None:
    refused(run("report", "--db", "size=large.db", cwd=tmp_path), "no database")


def test_a_file_named_like_a_connection_string_is_read_as_a_file(
    day: Path, tmp_path: Path
) -> None:
    (tmp_path / "host=db").write_bytes(day.read_bytes())
    as_file = run("report", "--db", "host=db", "--format", "json", cwd=tmp_path)
    assert as_file.returncode == 0, as_file.stderr
    assert as_file.stdout == run("report", "--db", day, "--format", "json").stdout


def test_a_schema_is_refused_with_a_sqlite_file(day: Path) -> None:
    refused(run("report", "--db", day, "--schema", "wrapup"), "--schema")
