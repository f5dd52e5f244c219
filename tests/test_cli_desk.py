"""``webchat-wrapup desk``: its flags, its refusals, and the demo."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from webchat_wrapup.tools.cli.main import main

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--demo", "--db", "postgresql://db/contact"], "SQLite file"),
        (["--demo", "--schema", "desk"], "--schema"),
        (["--port", "70000"], "--port"),
        (["--sweep", "0"], "--sweep"),
        (["--db", "no-such.db"], "no database at no-such.db"),
    ],
)
def test_bad_flags_are_refused_in_one_line(
    arguments: list[str],
    complaint: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("starlette", reason="the desk extra is not installed")
    monkeypatch.chdir(tmp_path)
    assert main(["desk", *arguments]) == 2
    error = capsys.readouterr().err
    assert complaint in error
    assert error.count("\n") == 1


def test_the_help_names_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["desk", "--help"])
    shown = capsys.readouterr().out
    for flag in ("--db", "--host", "--port", "--demo", "--read-model", "--sweep"):
        assert flag in shown


def test_the_demo_serves_live_traffic_and_your_own_desk(tmp_path: Path) -> None:
    pytest.importorskip("starlette", reason="the desk extra is not installed")
    httpx = pytest.importorskip("httpx", reason="httpx is not installed")
    from desk_support import free_port

    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "webchat_wrapup",
            "desk",
            "--demo",
            "--db",
            str(tmp_path / "demo.db"),
            "--port",
            str(port),
        ],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()  # where the desk is
        yours = process.stdout.readline().rsplit(" ", 1)[1].strip()
        you = yours.rsplit("/desk/", 1)[1]
        give_up = time.monotonic() + 30
        seen: set[str] = set()
        while time.monotonic() < give_up and you not in seen:
            time.sleep(0.2)
            answer = httpx.get(f"http://127.0.0.1:{port}/api/supervisor")
            if answer.status_code == 200:
                seen = {a["agent_id"] for a in answer.json()["agents"]["list"]}
        assert you in seen  # the demo's router gave you a chat
        page = httpx.get(yours)
        assert page.status_code == 200
        assert "desk.js" in page.text
        view = httpx.get(f"http://127.0.0.1:{port}/api/agents/{you}").json()["view"]
        assert view["chats"]
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err


def test_the_demo_shows_both_kinds_of_classification_input() -> None:
    from webchat_wrapup import DropdownClassification, FreeTextClassification
    from webchat_wrapup.tools.desk.demo import demo_policies

    kinds = {
        name: type(policy.classification.choices)
        for name, policy in demo_policies().queues.items()
    }
    assert kinds == {
        "sales": DropdownClassification,
        "support": FreeTextClassification,
    }
