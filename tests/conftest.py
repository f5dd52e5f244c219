"""Hypothesis settings for the test suite: ``dev`` by default, ``ci`` in CI."""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=200, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=60)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


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
