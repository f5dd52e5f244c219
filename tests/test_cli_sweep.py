"""``webchat-wrapup sweep``, run in a subprocess as an operator would."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from webchat_wrapup import ManualClock, QueuePolicy, SQLiteStore, WrapUpService


def _with_due_wrap_ups(path: Path, agents: int) -> None:
    # Deadlines in the past of the sweeper's system clock.
    long_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    with SQLiteStore(path) as store:
        service = WrapUpService(store, ManualClock(long_ago))
        for number in range(agents):
            agent_id = f"agent-{number}"
            service.add_agent(agent_id)
            service.assign(agent_id, f"chat-{number}", "cust-1", QueuePolicy("q"))
            service.end_chat(agent_id, f"chat-{number}")


def _sweep(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "webchat_wrapup", "sweep", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_one_sweep_expires_what_is_due_and_prints_its_result(tmp_path: Path) -> None:
    database = tmp_path / "day.db"
    _with_due_wrap_ups(database, 3)
    process = _sweep("--db", database, "--once")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    result = json.loads(out)
    assert (result["claimed"], result["expired"], result["failures"]) == (3, 3, [])
    with SQLiteStore(database) as store:
        assert len(list(store.all_history())) == 3


def test_sigterm_stops_the_sweeper_cleanly_with_its_totals(tmp_path: Path) -> None:
    database = tmp_path / "day.db"
    _with_due_wrap_ups(database, 5)
    process = _sweep("--db", database, "--limit", "2", "--interval", "30")
    # Nothing is printed before the signal, so wait for the work instead.
    for _ in range(600):
        with SQLiteStore(database) as store:
            if len(list(store.all_history())) == 5:
                break
        time.sleep(0.05)
    assert process.poll() is None  # still running, waiting out its interval
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    totals = json.loads(out.strip().splitlines()[-1])
    assert totals["stopped"] is True
    assert totals["expired"] == 5
    assert totals["sweeps"] >= 3  # 2 + 2 + 1: full batches drain at once
    assert "Traceback" not in err


def test_a_sweeper_refuses_a_database_that_does_not_exist(tmp_path: Path) -> None:
    process = _sweep("--db", tmp_path / "missing.db", "--once")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "no database" in err
    assert not (tmp_path / "missing.db").exists()
