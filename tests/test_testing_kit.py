"""The integrators' kit: strategies registered with Hypothesis, clocks."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support import T0
from webchat_wrapup import (
    ClassificationPolicy,
    ExtendWrapUp,
    InvalidInput,
    QueuePolicy,
    WrapUpPolicy,
)
from webchat_wrapup.clocks import ManualClock, SystemClock
from webchat_wrapup.testing import strategies


@given(st.from_type(QueuePolicy))
def test_hypothesis_knows_how_to_build_queue_policies(policy: QueuePolicy) -> None:
    assert isinstance(policy, QueuePolicy)


@given(st.from_type(WrapUpPolicy), st.from_type(ClassificationPolicy))
def test_hypothesis_knows_the_policy_parts(
    wrap_up: WrapUpPolicy, rules: ClassificationPolicy
) -> None:
    assert isinstance(wrap_up, WrapUpPolicy)
    assert isinstance(rules, ClassificationPolicy)


@given(st.from_type(ExtendWrapUp))
def test_hypothesis_knows_how_to_build_commands(command: ExtendWrapUp) -> None:
    assert isinstance(command, ExtendWrapUp)


@given(strategies.command_sequences(min_size=2, max_size=4))
def test_command_sequences_respect_their_sizes(steps: list) -> None:
    assert 2 <= len(steps) <= 4


@pytest.mark.parametrize(("low", "high"), [(3, 2), (-1, 2)])
def test_strategies_validate_their_arguments(low: int, high: int) -> None:
    with pytest.raises(ValueError, match="min_size"):
        strategies.command_sequences(min_size=low, max_size=high)


def test_the_system_clock_gives_aware_utc_instants() -> None:
    now = SystemClock().now()
    assert now.tzinfo is timezone.utc
    assert abs(now - datetime.now(timezone.utc)) < timedelta(seconds=5)


def test_the_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(T0)
    assert clock.now() == T0
    assert clock.advance(90) == T0 + timedelta(seconds=90)
    assert clock.advance(minutes=1) == T0 + timedelta(seconds=150)
    assert clock.advance(timedelta(seconds=10)) == T0 + timedelta(seconds=160)
    clock.set(T0 - timedelta(hours=1))  # a wall clock may jump back
    assert clock.now() == T0 - timedelta(hours=1)


def test_the_manual_clock_refuses_naive_instants() -> None:
    with pytest.raises(InvalidInput):
        ManualClock(datetime(2026, 1, 1))
    with pytest.raises(InvalidInput):
        ManualClock(T0).set(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "module", ["strategies", "contract", "stateful", "_hypothesis", "blocking"]
)
def test_each_kit_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    code = f"import webchat_wrapup.testing.{module}"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
