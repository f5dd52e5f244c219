"""Simulated runs: every id a run builds reads back to that run."""

from __future__ import annotations

from webchat_wrapup.tools.runs import (
    UNLABELLED,
    agent_id,
    agent_name,
    chat_id,
    customer_id,
    name_in_run,
    next_run_label,
    run_label,
    run_of,
)


def test_every_id_a_run_builds_reads_back_to_that_run() -> None:
    run = run_label(7, 2)
    assert run == "sim7-2"
    for built in (agent_id(run, 3), chat_id(run, 41), customer_id(run, 41)):
        assert run_of(built) == run
    assert name_in_run(agent_id(run, 3)) == agent_name(3) == "agent-003"


def test_ids_that_no_run_built_belong_to_one_run() -> None:
    assert run_of("agent-ana") == UNLABELLED
    assert name_in_run("agent-ana") == "agent-ana"


def test_the_next_run_label_is_the_first_whose_agents_are_unknown() -> None:
    known = {agent_id("sim1-1", 1), agent_id("sim1-2", 1), agent_id("sim2-1", 1)}
    assert next_run_label(1, known.__contains__) == "sim1-3"
    assert next_run_label(2, known.__contains__) == "sim2-2"
    assert next_run_label(3, known.__contains__) == "sim3-1"
