"""Hypothesis settings for the test suite (``dev`` by default, ``ci`` in
CI), and the fixture of a store of each local kind."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=200, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=60)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(params=["memory", "sqlite"])
def local_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh in-memory store, then a fresh SQLite one."""
    # Imported here, not with this file: coverage starts before the tests
    # import the package, and must see all of it.
    from webchat_wrapup import MemoryStore, SQLiteStore

    made = (
        MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "w.db")
    )
    with made:
        yield made


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After a run that fuzzed, say how many calls it made and how many
    untyped exceptions escaped (docs/guarantees.md quotes the figures)."""
    fuzzing = sys.modules.get("fuzzing")
    if fuzzing is not None and fuzzing.FIGURES.calls:
        figures = fuzzing.FIGURES
        terminalreporter.write_line(
            f"fuzzing: {figures.calls} calls ({figures.service_calls} to the "
            f"service), {figures.untyped} untyped exceptions"
        )
