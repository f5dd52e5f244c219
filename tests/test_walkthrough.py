"""``python -m webchat_wrapup`` walks through the seed page."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from webchat_wrapup import WrapUpEnding
from webchat_wrapup.tools.cli import demo


def test_the_walkthrough_ends_with_the_seed_pages_contact_history() -> None:
    lines: list[str] = []
    history = demo.run(lines.append)
    seed_page = [e for e in history if e.chat_id in ("chat-1", "chat-2")]
    assert [entry.ending for entry in seed_page] == [
        WrapUpEnding.COMPLETED_EARLY,
        WrapUpEnding.EXPIRED_WITH_DEFAULT,
    ]
    assert history[0].extensions_used == 3
    assert history[0].notes == ("This chat was marked as abusive",)
    text = "\n".join(lines)
    assert "extend [0] (greyed out)" in text
    assert "refused: no_extensions_left" in text
    assert lines[-1 - len(history)] == "\ncontact history:"


def test_the_walkthrough_pauses_parks_and_takes_a_break() -> None:
    lines: list[str] = []
    history = demo.run(lines.append)
    (paused,) = [entry for entry in history if entry.chat_id == "chat-3"]
    # Ended while parked (a pause from 480 s to 545 s), then paused again
    # from 565 s to 600 s.
    assert (paused.pause_count, paused.paused_seconds) == (2, 100)
    assert paused.wrap_up_ended_at - paused.wrap_up_started_at == timedelta(seconds=140)
    refusals = [line.split(":")[1].strip() for line in lines if "refused:" in line]
    assert refusals == [
        "no_extensions_left",
        "next_status_pending",
        "agent_not_available",
    ]


def test_python_dash_m_runs_the_walkthrough() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "webchat_wrapup", "demo"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "status: Wrap-up" in result.stdout
    assert "status: Available" in result.stdout
    assert result.stderr == ""
