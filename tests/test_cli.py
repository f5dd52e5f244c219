"""The real command, run in a subprocess, for each subcommand and bad input."""

from __future__ import annotations

import json
import os
import pty
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import attrs
import pytest

from html_pages import parse
from webchat_wrapup.ports import StoredEvent
from webchat_wrapup.stores import SQLiteStore
from webchat_wrapup.tools.cli.stores import describe_store
from webchat_wrapup.tools.presence_time import time_per_presence
from webchat_wrapup.tools.simulation import SimulationSettings

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "examples" / "policy.toml"
WHAT_IF = ROOT / "examples" / "policy-45s.toml"
SMALL = ["--agents", "6", "--hours", "1", "--arrivals", "sales=30"]


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webchat_wrapup", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit status 2, one line on stderr naming the problem, no traceback."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines, "no message"
    assert "Traceback" not in result.stderr
    assert len([line for line in lines if "error" in line]) == 1
    for word in words:
        assert word in result.stderr


@pytest.mark.parametrize(
    "command",
    [[], ["demo"], ["simulate"], ["report"], ["policy"], ["policy", "check"]],
)
def test_every_subcommand_has_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0
    assert "usage: webchat-wrapup" in result.stdout


def test_the_simulate_help_shows_the_settings_classes_defaults() -> None:
    help_text = " ".join(run("simulate", "--help").stdout.split())
    options = help_text.split("options:")[1]
    for field in attrs.fields(SimulationSettings):
        if field.name == "arrivals_per_hour":
            continue
        default = field.default
        shown = f"{default:g}" if isinstance(default, float) else str(default)
        flag = "--" + field.name.replace("_", "-")
        described = options.split(f"{flag} ")[1].split(" --")[0]
        assert described.endswith(f"(default: {shown})"), field.name


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "webchat-wrapup"
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "simulate" in result.stdout


# demo


def test_demo_walks_through_the_seed_page_quickly() -> None:
    started = time.perf_counter()
    result = run("demo")
    assert result.returncode == 0, result.stderr
    assert time.perf_counter() - started < 10
    out = result.stdout
    assert "status: Wrap-up" in out
    assert "extend [0] (greyed out)" in out
    assert "This chat was marked as abusive" in out
    assert "expired_with_default" in out


def demo_steps(output: str) -> dict[str, list[str]]:
    """What the demo printed after each step, by the step's words."""
    steps: dict[str, list[str]] = {}
    shown: list[str] = []
    for line in output.split("\ncontact history:")[0].splitlines():
        if line.startswith("["):
            shown = steps.setdefault(line.split("] ", 1)[1], [])
        elif line.startswith("  "):
            shown.append(line.strip())
    return steps


def test_demo_parks_pauses_and_takes_a_break_chosen_during_wrap_up() -> None:
    result = run("demo")
    assert result.returncode == 0, result.stderr
    steps = demo_steps(result.stdout)
    parked = steps["park it: set aside, still held"]
    assert parked[0] == "status: Handling a chat"  # a parked chat is still held
    assert parked[1].startswith("chat chat-3: parked")
    assert steps["take it up again"][1].startswith("chat chat-3: active")
    ended = steps["the customer ends it while parked: wrap-up starts paused"]
    assert "chat-3: paused, countdown 60s (stopped)" in ended[1]
    waited = steps["a minute on, the countdown has not moved"]
    assert "countdown 60s (stopped)" in waited[1]
    assert "chat-3: wrap_up, countdown 60s" in steps["resume: the countdown runs"][1]
    # Paused 20 s after resuming: 40 s left, still 40 s half a minute on.
    assert "paused, countdown 40s (stopped)" in steps["pause it"][1]
    frozen = steps["half a minute on, the time left is frozen"]
    assert "paused, countdown 40s (stopped)" in frozen[1]
    resumed = steps["resume it where it stopped"][1]
    assert "wrap_up, countdown 40s" in resumed
    chosen = steps["choose Break during wrap-up"]
    assert chosen[0] == "status: Wrap-up, next status: Break"
    assert steps["no new chat meanwhile"][0].startswith("refused: next_status_pending")
    assert steps["complete wrap-up: the break starts"] == ["status: Break"]
    refused_now = steps["no chat on a break"][0]
    assert refused_now.startswith("refused: agent_not_available")
    assert steps["back from the break"] == ["status: Available"]
    assert "paused 2 time(s) for 100 s" in result.stdout


def test_demo_can_keep_its_database(tmp_path: Path) -> None:
    result = run("demo", "--db", tmp_path / "demo.db")
    assert result.returncode == 0, result.stderr
    rows = sqlite3.connect(tmp_path / "demo.db").execute("SELECT count(*) FROM history")
    assert rows.fetchone() == (5,)  # the transfer gives one entry per leg
    with SQLiteStore(tmp_path / "demo.db") as store:
        pauses = {e.chat_id: e.pause_count for e in store.all_history()}
    assert pauses == {"chat-1": 0, "chat-2": 0, "chat-3": 2, "chat-5": 0}


def test_demo_refuses_to_reuse_a_database(tmp_path: Path) -> None:
    (tmp_path / "demo.db").write_text("")
    refused(run("demo", "--db", tmp_path / "demo.db"), "already exists")


# policy check


def test_policy_check_prints_the_effective_policy_per_queue() -> None:
    result = run("policy", "check", POLICY)
    assert result.returncode == 0, result.stderr
    assert "[sales]" in result.stdout
    assert "[support]" in result.stdout
    assert "2 queue(s), valid" in result.stdout


BAD_POLICIES = {
    "unknown_key": ("[queues.sales]\ncountdown = 5\n", "queues.sales.countdown"),
    "negative": (
        "[queues.sales]\nmax_extensions = -1\n",
        "queues.sales.max_extensions",
    ),
    "wrong_type": (
        "[queues.sales]\nwrap_up = 'yes'\n",
        "queues.sales.wrap_up",
    ),
    "default_not_listed": (
        "[defaults]\nclassification = 'dropdown'\non_expiry = 'apply_default'\n"
        "timeout_default = 'nope'\noptions = [{code = 'a', label = 'A'}]\n"
        "[queues.sales]\n",
        "defaults.timeout_default",
    ),
    "no_queues": ("[defaults]\nmax_extensions = 2\n", "queues"),
    "bad_toml": ("[queues.sales\n", "not valid TOML"),
    "unknown_profile": (
        "[queues.sales]\n[agents.ana]\nprofile = 'boss'\n",
        "agents.ana.profile",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_POLICIES))
def test_policy_check_names_the_file_and_the_key(case: str, tmp_path: Path) -> None:
    text, key = BAD_POLICIES[case]
    path = tmp_path / f"{case}.toml"
    path.write_text(text)
    refused(run("policy", "check", path), str(path), key)


def test_policy_check_of_a_missing_file() -> None:
    refused(run("policy", "check", "nowhere.toml"), "nowhere.toml", "no such file")


# simulate and report


def results_of(output: str) -> list[str]:
    """The results table, without the lines that report wall time."""
    return [line for line in output.splitlines() if "chats/s" not in line]


def test_simulate_then_report_on_sqlite(tmp_path: Path) -> None:
    database = tmp_path / "day.db"
    result = run("simulate", POLICY, "--db", database, *SMALL)
    assert result.returncode == 0, result.stderr
    for metric in (
        "service level",
        "average speed of answer",
        "abandoned",
        "agent occupancy",
        "agent time in wrap-up",
    ):
        assert metric in result.stdout
    report = run("report", "--db", database)
    assert report.returncode == 0, report.stderr
    assert "classification trends" in report.stdout
    assert "timeout defaults" in report.stdout
    assert "wrap-up time and extensions" in report.stdout


def test_simulate_without_a_policy_file_runs_the_seed_products_defaults(
    tmp_path: Path,
) -> None:
    database = tmp_path / "day.db"
    everyone_forgets = ["--forget-share", "1"]
    result = run(
        "simulate", "--db", database, "--agents", "3", "--hours", "1", *everyone_forgets
    )
    assert result.returncode == 0, result.stderr
    assert "seed defaults" in result.stdout
    with SQLiteStore(database) as store:
        entries = list(store.all_history())
    assert entries
    assert {entry.queue_id for entry in entries} == {"webchat"}
    # Every agent let the wrap-up run out: 60 s each.
    for entry in entries:
        seconds = (entry.wrap_up_ended_at - entry.wrap_up_started_at).total_seconds()
        assert (seconds, entry.ending.value) == (60, "expired")


def test_occupancy_stays_sensible_when_nobody_abandons() -> None:
    result = run("simulate", "--memory", "--patience-seconds", "100000000", *SMALL[:4])
    assert result.returncode == 0, result.stderr
    line = next(
        line for line in result.stdout.splitlines() if line.startswith("agent occ")
    )
    percent = float(line.split()[-1].rstrip("%"))
    assert 0 < percent <= 100


def test_simulate_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    first = run("simulate", POLICY, "--memory", "--seed", "7", *SMALL)
    second = run("simulate", POLICY, "--memory", "--seed", "7", *SMALL)
    other = run("simulate", POLICY, "--memory", "--seed", "8", *SMALL)
    assert first.returncode == second.returncode == other.returncode == 0
    assert results_of(first.stdout) == results_of(second.stdout)
    assert results_of(first.stdout) != results_of(other.stdout)


def test_simulate_versus_prints_both_policies_side_by_side(tmp_path: Path) -> None:
    result = run(
        "simulate", POLICY, "--versus", WHAT_IF, "--db", tmp_path / "d.db", *SMALL
    )
    assert result.returncode == 0, result.stderr
    lines = results_of(result.stdout)
    header = next(line for line in lines if "policy.toml" in line)
    assert "policy-45s.toml" in header
    offered = next(
        line for line in result.stdout.splitlines() if "customers offered" in line
    )
    counts = offered.split()[2:]
    assert len(counts) == 2
    assert counts[0] == counts[1]


def figures(output: str) -> dict[str, list[str]]:
    """Each row of the results table: its name and one cell per policy."""
    rows = {}
    for line in results_of(output):
        name, _, cells = line.partition("  ")
        if cells.strip():
            rows[name.strip()] = cells.split()
    return rows


def test_simulate_prints_what_pauses_and_breaks_do() -> None:
    away = ["--pause-share", "0.5", "--breaks", "1", "--break-minutes", "15"]
    plain = figures(run("simulate", POLICY, "--memory", *SMALL).stdout)
    result = run("simulate", POLICY, "--memory", *SMALL, *away)
    assert result.returncode == 0, result.stderr
    shown = figures(result.stdout)
    assert plain["pauses per chat"] == ["0.00"]
    assert float(shown["pauses per chat"][0]) > 0
    assert float(shown["mean time paused"][0]) > 0
    assert plain["breaks taken"] == ["0"]
    assert shown["breaks taken"] == ["6"]  # one each for the six agents
    assert plain["presence Break"] == ["0.0%"]
    assert shown["presence Break"] != ["0.0%"]
    assert shown["customers offered"] == plain["customers offered"]


def test_simulate_versus_with_breaks_and_pauses_stays_on_the_same_traffic() -> None:
    away = ["--pause-share", "0.5", "--breaks", "2"]
    result = run("simulate", POLICY, "--versus", WHAT_IF, "--memory", *SMALL, *away)
    assert result.returncode == 0, result.stderr
    shown = figures(result.stdout)
    first, second = shown["customers offered"]
    assert first == second
    assert shown["breaks taken"] == ["12", "12"]


def test_simulate_versus_prints_what_transfers_do_side_by_side() -> None:
    moving = ["--transfer-share", "0.5"]
    versus = ["--versus", WHAT_IF, "--memory", *SMALL]
    plain = figures(run("simulate", POLICY, *versus).stdout)
    result = run("simulate", POLICY, *versus, *moving)
    assert result.returncode == 0, result.stderr
    shown = figures(result.stdout)
    assert plain["chats transferred"] == ["0", "(0.0%)", "0", "(0.0%)"]
    assert plain["legs handled"] == plain["answered"]
    assert shown["customers offered"] == plain["customers offered"]
    for column in (0, 1):
        transferred = int(shown["chats transferred"][2 * column])
        answered = int(shown["answered"][column])
        assert transferred > 0
        assert int(shown["legs handled"][column]) == answered + transferred
        assert shown["contact-history entries"][column] == shown["legs handled"][column]


def test_the_simulation_section_of_a_policy_file_sets_pauses_breaks_and_transfers(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "pausing.toml"
    policy.write_text(
        "[defaults]\nmax_paused_seconds = 30\n[queues.sales]\n"
        "[simulation]\nagents = 4\nhours = 1\npause_share = 1.0\n"
        "breaks = 1\nbreak_minutes = 10\ntransfer_share = 0.5\n"
    )
    database = tmp_path / "day.db"
    result = run("simulate", policy, "--db", database)
    assert result.returncode == 0, result.stderr
    assert figures(result.stdout)["breaks taken"] == ["4"]
    with SQLiteStore(database) as store:
        entries = list(store.all_history())
    assert any(entry.pause_count for entry in entries)
    assert any(entry.leg == 2 for entry in entries)


def test_report_shows_pauses_per_queue_and_agent_in_every_format(
    tmp_path: Path,
) -> None:
    database = tmp_path / "day.db"
    pausing = ["--pause-share", "0.5"]
    assert run("simulate", POLICY, "--db", database, *SMALL, *pausing).returncode == 0
    with SQLiteStore(database) as store:
        entries = list(store.all_history())
    pauses = sum(entry.pause_count for entry in entries)
    assert pauses > 0
    table = run("report", "--db", database).stdout
    assert "pauses of wrap-up" in table
    (data,) = json.loads(run("report", "--db", database, "--format", "json").stdout)[
        "runs"
    ].values()
    by_queue = [row for row in data["pauses"] if row["group"] == "queue"]
    by_agent = [row for row in data["pauses"] if row["group"] == "agent"]
    assert sum(row["pauses"] for row in by_queue) == pauses
    assert sum(row["pauses"] for row in by_agent) == pauses
    paused = sum(entry.paused_seconds for entry in entries)
    assert sum(row["paused_seconds"] for row in by_queue) == pytest.approx(paused)
    as_csv = run("report", "--db", database, "--format", "csv").stdout.splitlines()
    counted = [line.split(",") for line in as_csv if ",pauses,queue," in line]
    assert sum(int(row[4]) for row in counted) == pauses
    assert any(",paused_seconds,agent," in line for line in as_csv)


def test_a_report_without_pauses_shows_no_pause_section(tmp_path: Path) -> None:
    database = tmp_path / "day.db"
    assert run("simulate", POLICY, "--db", database, *SMALL).returncode == 0
    assert "pauses" not in run("report", "--db", database).stdout
    assert "pause" not in run("report", "--db", database, "--format", "csv").stdout
    as_json = json.loads(run("report", "--db", database, "--format", "json").stdout)
    (data,) = as_json["runs"].values()
    assert "pauses" not in data


def test_report_as_csv_and_json(tmp_path: Path) -> None:
    database = tmp_path / "day.db"
    assert run("simulate", POLICY, "--db", database, *SMALL).returncode == 0
    as_json = run("report", "--db", database, "--format", "json", "--by", "day")
    (data,) = json.loads(as_json.stdout)["runs"].values()
    assert (
        data["entries"]
        == data["classified"] + data["timeout_defaults"] + data["unclassified"]
    )
    assert all(row["period"] == "2026-01-05" for row in data["trends"])
    assert sum(b["chats"] for b in data["wrap_up_time"]) == data["entries"]
    as_csv = run("report", "--db", database, "--format", "csv")
    header = "run,section,period_or_group,name,value,share"
    assert as_csv.stdout.splitlines()[0] == header
    assert any(line.startswith("sim1-1,trend,") for line in as_csv.stdout.splitlines())
    assert any(",wrap_up_time,," in line for line in as_csv.stdout.splitlines())


def test_report_as_html_is_one_page_with_the_reports_figures(tmp_path: Path) -> None:
    database = tmp_path / "day.db"
    assert run("simulate", POLICY, "--db", database, *SMALL).returncode == 0
    page = run("report", "--db", database, "--format", "html")
    assert page.returncode == 0, page.stderr
    as_json = json.loads(run("report", "--db", database, "--format", "json").stdout)
    (data,) = as_json["runs"].values()
    tree = parse(page.stdout)
    assert str(database) in tree.find_all("header")[0].text()
    (counts,) = tree.find_all("ul", class_="counts")
    entries = counts.find_all("strong")[0].text().replace(",", "")
    assert int(entries) == data["entries"]
    histogram = tree.find_all("section", data_part="wrap-up-time")[0]
    assert len(histogram.find_all("rect", class_="bar")) == len(data["wrap_up_time"])
    queues = [row for row in data["wrap_up"] if row["group"] == "queue"]
    per_queue = tree.find_all("section", data_part="extensions-per-queue")[0]
    assert len(per_queue.find_all("rect", class_="bar")) == 2 * len(queues)


def test_report_in_html_of_an_empty_database_says_it_has_no_contact_history(
    tmp_path: Path,
) -> None:
    database = tmp_path / "empty.db"
    SQLiteStore(database).close()
    page = run("report", "--db", database, "--format", "html")
    assert page.returncode == 0, page.stderr
    assert "No contact history" in parse(page.stdout).find_all("main")[0].text()


@pytest.mark.parametrize(
    "db",
    [
        "postgresql://wrapup:s3cret@db.internal:5433/contact",
        "host=db.internal dbname=contact user=wrapup password=s3cret",
    ],
)
def test_an_html_report_names_a_postgres_store_without_its_password(db: str) -> None:
    shown = describe_store(db, None)
    assert "s3cret" not in shown
    assert shown == "contact on db.internal (PostgreSQL, schema webchat_wrapup)"
    assert describe_store("day.db", None) == "day.db"


def test_a_second_simulation_gets_its_own_run(tmp_path: Path) -> None:
    database = tmp_path / "day.db"
    assert run("simulate", POLICY, "--db", database, *SMALL).returncode == 0
    second = run("simulate", POLICY, "--db", database, *SMALL)
    assert "run sim1-2" in second.stdout
    only = json.loads(
        run("report", "--db", database, "--run", "sim1-2", "--format", "json").stdout
    )
    both = json.loads(run("report", "--db", database, "--format", "json").stdout)
    assert set(only["runs"]) == {"sim1-2"}
    assert set(both["runs"]) == {"sim1-1", "sim1-2"}
    assert both["runs"]["sim1-2"] == only["runs"]["sim1-2"]
    table = run("report", "--db", database).stdout
    assert "== run sim1-1" in table
    assert "== run sim1-2" in table
    refused(run("report", "--db", database, "--run", "sim9-9"), "sim1-1, sim1-2")


def test_ctrl_c_stops_cleanly_with_the_database_consistent(tmp_path: Path) -> None:
    database = tmp_path / "day.db"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "webchat_wrapup",
            "simulate",
            POLICY,
            "--db",
            database,
            "--agents",
            "40",
            "--hours",
            "200",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in out
    assert "Traceback" not in err
    check = sqlite3.connect(database).execute("PRAGMA integrity_check").fetchone()
    assert check == ("ok",)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--agents", "-3"], ["agents"]),
        (["--arrivals", "nowhere=5"], ["nowhere"]),
        (["--arrivals", "sales=many"], ["sales=many"]),
        (["--extend-share", "2"], ["extend_share"]),
        (["--pause-share", "-0.5"], ["pause_share"]),
        (["--breaks", "-1"], ["breaks"]),
        (["--transfer-share", "2"], ["transfer_share"]),
        (["--transfer-after", "1"], ["transfer_after"]),
        (["--breaks", "4", "--hours", "1", "--break-minutes", "15"], ["fit"]),
    ],
)
def test_simulate_refuses_bad_numbers_and_unknown_queues(
    args: list[str], words: list[str], tmp_path: Path
) -> None:
    refused(run("simulate", POLICY, "--db", tmp_path / "d.db", *args), *words)


def test_simulate_refuses_a_versus_file_with_other_queues(tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text("[queues.vip]\n")
    refused(run("simulate", POLICY, "--versus", other, "--memory"), "same queues")


@pytest.mark.parametrize(
    "command",
    [
        ["demo"],
        ["policy", "check", str(POLICY)],
        ["simulate", str(POLICY), "--memory", *SMALL],
        ["--help"],
    ],
    ids=lambda command: command[0],
)
def test_a_reader_gone_before_the_output_gets_no_broken_pipe_message(
    command: list[str],
) -> None:
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "webchat_wrapup", *command],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(writer)
    assert result.stderr == ""
    assert result.returncode in (0, 1)


def test_a_report_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    database = tmp_path / "day.db"
    assert run("simulate", POLICY, "--db", database, *SMALL).returncode == 0
    result = subprocess.run(
        f"'{sys.executable}' -m webchat_wrapup report --db '{database}' "
        "--format json | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout == "{\n"
    assert result.stderr == ""


def test_report_without_a_database_says_so(tmp_path: Path) -> None:
    refused(run("report", "--db", tmp_path / "none.db"), "no database")


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    database = tmp_path / "new.db"
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    refused(run("report", "--db", database), "newer")
    refused(run("simulate", POLICY, "--db", database, *SMALL), "newer")


def test_a_path_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    refused(run("simulate", POLICY, "--db", tmp_path / "no" / "such" / "d.db"))
    refused(run("simulate", POLICY, "--db", tmp_path))


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    database = tmp_path / "notes.db"
    database.write_text("shopping list\n" * 200)
    refused(run("report", "--db", database), "not a database")


def test_a_progress_bar_goes_to_a_terminal_and_nowhere_else(tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    args = ["simulate", POLICY, "--memory", "--agents", "20", "--hours", "2"]
    try:
        process = subprocess.run(
            [sys.executable, "-m", "webchat_wrapup", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=120,
        )
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
    assert process.returncode == 0
    assert b"chats/s" in shown
    assert b"simulated" in shown
    assert "chats/s]" not in process.stdout
    quiet = run(*args)
    assert quiet.stderr == ""


def test_the_demo_transfers_a_chat_and_each_agent_wraps_up_a_leg() -> None:
    result = run("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "== a transfer: each agent wraps up their own leg" in out
    assert "cust-42 chat-5 leg 1 (agent-ana, to agent-ben)" in out
    assert "cust-42 chat-5 leg 2 (agent-ben)" in out


def test_report_shows_time_per_presence_from_the_event_feed(tmp_path: Path) -> None:
    database = tmp_path / "day.db"
    breaks = ["--breaks", "1", "--break-minutes", "10"]
    assert run("simulate", POLICY, "--db", database, *SMALL, *breaks).returncode == 0
    with SQLiteStore(database) as store:
        expected = {
            (p.agent_id, p.label): p.seconds
            for p in time_per_presence(store.events(limit=1000) + every_page(store))
        }
    table = run("report", "--db", database).stdout
    section = table.split("time per status and presence")[1]
    header, *agents = section.strip().splitlines()[1:]
    assert header.split()[-1] == "Break"
    assert len(agents) == 6
    assert all(line.split()[-1] == "0:10:00" for line in agents)  # each break
    (data,) = json.loads(run("report", "--db", database, "--format", "json").stdout)[
        "runs"
    ].values()
    reported = {
        (p["agent_id"], p["label"]): p["seconds"] for p in data["presence_time"]
    }
    assert reported == pytest.approx(expected)
    breaks_taken = [p for p in data["presence_time"] if p["label"] == "Break"]
    assert len(breaks_taken) == 6  # every agent took its break
    assert all(p["seconds"] == pytest.approx(600, abs=1) for p in breaks_taken)
    as_csv = run("report", "--db", database, "--format", "csv").stdout
    assert ",presence_time," in as_csv
    page = run("report", "--db", database, "--format", "html").stdout
    assert "Time per status and presence" in page


def every_page(store: SQLiteStore) -> list[StoredEvent]:
    """The feed's events after the first 1,000."""
    read = store.events(limit=1000)
    more: list[StoredEvent] = []
    while read:
        read = store.events(read[-1].position, 1000)
        more += read
    return more


def test_a_store_with_no_status_changes_reports_no_presence_section(
    tmp_path: Path,
) -> None:
    database = tmp_path / "day.db"
    assert run("simulate", POLICY, "--db", database, *SMALL).returncode == 0
    with SQLiteStore(database) as store:
        while store.prune_events(datetime(9000, 1, 1, tzinfo=timezone.utc), 1000):
            pass
    assert "presence" not in run("report", "--db", database).stdout
    (data,) = json.loads(run("report", "--db", database, "--format", "json").stdout)[
        "runs"
    ].values()
    assert "presence_time" not in data
