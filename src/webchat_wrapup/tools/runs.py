"""Simulated runs: where simulated time starts, and how a run labels its ids.

Every agent, chat and customer of a simulation run carries the run's label
before a colon (``sim1-2:agent-003``), so several runs share one database
and a report can keep them apart. This module is the only place that builds
those ids or reads the label back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
"""Where simulated time starts: a Monday, 09:00 UTC."""

UNLABELLED = "all"
"""The run of ids that no simulation labelled, such as a real deployment's."""

_SEPARATOR = ":"


def run_label(seed: int, number: int) -> str:
    """The label of the ``number``-th run with ``seed``: ``sim1-2``."""
    return f"sim{seed}-{number}"


def next_run_label(seed: int, is_taken: Callable[[str], bool]) -> str:
    """The first label for ``seed`` whose first agent id ``is_taken`` says is free."""
    number = 1
    while is_taken(agent_id(run_label(seed, number), 1)):
        number += 1
    return run_label(seed, number)


def agent_id(run: str, number: int) -> str:
    """The id of the run's ``number``-th agent: ``sim1-2:agent-003``."""
    return _labelled(run, agent_name(number))


def agent_name(number: int) -> str:
    """The agent's name without the run, as a policy file's ``[agents.NAME]``."""
    return f"agent-{number:03d}"


def chat_id(run: str, number: int) -> str:
    """The id of the chat of the run's ``number``-th customer."""
    return _labelled(run, f"chat-{number}")


def customer_id(run: str, number: int) -> str:
    """The id of the run's ``number``-th customer."""
    return _labelled(run, f"cust-{number}")


def run_of(identifier: str) -> str:
    """The label of the run that built ``identifier``, or :data:`UNLABELLED`."""
    label, separator, _ = identifier.partition(_SEPARATOR)
    return label if separator else UNLABELLED


def name_in_run(identifier: str) -> str:
    """``identifier`` without its run's label."""
    label, separator, name = identifier.partition(_SEPARATOR)
    return name if separator else label


def _labelled(run: str, name: str) -> str:
    return f"{run}{_SEPARATOR}{name}"
