"""The checks of a concurrent run, whatever store it ran on.

A run of worker and sweeper processes (see ``workers.py``) leaves logs,
read into :class:`RunLogs`, and a store, read back into a
:class:`StoreSnapshot`. Each ``check_*`` function asserts one property of
the two together; they are the checks of ``test_concurrent_processes.py``
(SQLite), written once for any store, so a test of another store runs the
same ones by reading its own store into a snapshot.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
from workers import QUEUES_BY_ID, check_state, completed_chats, read_jsonl

from webchat_wrapup import AgentState, WrapUpEnding, event_to_dict
from webchat_wrapup.ports import CommandRecord
from webchat_wrapup.stores._entries import entry_from_json


@attrs.define
class RunLogs:
    """What the processes logged: acknowledgements, sweeps, saves, summaries.

    ``saves`` holds the sweepers' committed saves as (agent, version); it is
    empty for a run whose sweepers did not log them.
    """

    acks: list[dict[str, Any]] = attrs.Factory(list)
    sweeps: list[dict[str, Any]] = attrs.Factory(list)
    saves: list[tuple[str, int]] = attrs.Factory(list)
    summaries: list[dict[str, Any]] = attrs.Factory(list)

    @classmethod
    def read(cls, folder: Path, names: Iterable[str]) -> RunLogs:
        """The logs of the processes ``names`` (``w…`` workers, ``s…`` sweepers)."""
        logs = cls()
        for name in names:
            for record in read_jsonl(folder / name):
                if "summary" in record:
                    logs.summaries.append(record)
                elif "saved" in record:
                    logs.saves.append((record["saved"], record["version"]))
                elif name.startswith("w"):
                    logs.acks.append(record)
                else:
                    logs.sweeps.append(record)
        return logs

    @property
    def fresh(self) -> list[dict[str, Any]]:
        """Acknowledgements that applied their command (not replays)."""
        return [ack for ack in self.acks if not ack["replayed"]]

    def events(self) -> list[dict[str, Any]]:
        """Every event of the fresh acknowledgements, in per-agent version order."""
        ordered = sorted(self.fresh, key=lambda ack: (ack["agent"], ack["version"]))
        return [event for ack in ordered for event in ack["events"]]

    def acks_by_id(self) -> dict[str, list[dict[str, Any]]]:
        by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for ack in self.acks:
            by_id[ack["id"]].append(ack)
        return by_id


@attrs.define
class StoreSnapshot:
    """What the store holds once every process has stopped.

    ``history`` is (agent_id, chat_id, entry text) per row; ``records`` maps
    every acknowledged command id to what ``find_command`` returns for it.
    """

    states: dict[str, AgentState]
    versions: dict[str, int]
    history: list[tuple[str, str, str]]
    command_ids: list[str]
    records: dict[str, CommandRecord | None]


def check_really_conflicted(logs: RunLogs) -> None:
    """Every kind of command and ending happened, with replays and refusals."""
    kinds = Counter(ack["kind"] for ack in logs.fresh)
    for kind in ("assign", "end", "extend", "complete", "classify", "flag"):
        assert kinds[kind] > 0, kind
    completions = [e for e in logs.events() if e["type"] == "wrap_up_completed"]
    endings = Counter(event["ending"] for event in completions + logs.sweeps)
    assert endings[WrapUpEnding.COMPLETED_EARLY.value] > 0
    assert (
        endings[WrapUpEnding.EXPIRED.value]
        + endings[WrapUpEnding.EXPIRED_WITH_DEFAULT.value]
        > 0
    )
    assert logs.sweeps, "the sweepers expired nothing"
    assert any(ack["replayed"] for ack in logs.acks)
    refused: Counter[str] = Counter()
    for summary in logs.summaries:
        refused.update(summary.get("refused", {}))
    assert refused, "no command was ever refused: the commands did not conflict"


def check_each_version_acknowledged_once(logs: RunLogs, store: StoreSnapshot) -> None:
    """No lost update: no (agent, version) was acknowledged twice."""
    versions = Counter((ack["agent"], ack["version"]) for ack in logs.fresh)
    doubled = [pair for pair, count in versions.items() if count > 1]
    assert doubled == []
    for agent_id, version in versions:
        assert version <= store.versions[agent_id]


def check_every_version_accounted_for(logs: RunLogs, store: StoreSnapshot) -> None:
    """Each agent's versions 2..stored were each written by exactly one
    acknowledged command or one sweeper save (version 1 is ``add_agent``)."""
    written: dict[str, list[int]] = defaultdict(list)
    for ack in logs.fresh:
        written[ack["agent"]].append(ack["version"])
    for agent_id, version in logs.saves:
        written[agent_id].append(version)
    assert set(written) <= set(store.versions)
    for agent_id, stored in store.versions.items():
        assert sorted(written[agent_id]) == list(range(2, stored + 1)), agent_id


def check_commands_recorded_once(logs: RunLogs, store: StoreSnapshot) -> None:
    """Every acknowledged command is recorded, once, with the outcome given."""
    by_id = logs.acks_by_id()
    for command_id, acks in by_id.items():
        record = store.records[command_id]
        assert record is not None, command_id
        assert sum(not ack["replayed"] for ack in acks) == 1, acks
        recorded = [event_to_dict(event) for event in record.outcome.events]
        for ack in acks:
            assert ack["agent"] == record.agent_id
            assert ack["version"] == record.outcome.version
            assert ack["events"] == recorded
    assert sorted(store.command_ids) == sorted(by_id)


def check_shared_command_applied_once(logs: RunLogs) -> None:
    """A command id sent by every worker was applied by exactly one."""
    shared = {k: v for k, v in logs.acks_by_id().items() if k.startswith("shared-")}
    assert any(len(acks) > 1 for acks in shared.values())
    for acks in shared.values():
        assert sum(not ack["replayed"] for ack in acks) == 1
        assert len({ack["version"] for ack in acks}) == 1


def check_completed_once_with_one_entry(logs: RunLogs, store: StoreSnapshot) -> None:
    """No chat completes (or expires) twice; each has one history entry."""
    completions = Counter(completed_chats(logs.events()))
    completions.update(completed_chats(logs.sweeps))
    assert [pair for pair, count in completions.items() if count > 1] == []
    rows = Counter((agent_id, chat_id) for agent_id, chat_id, _ in store.history)
    assert [pair for pair, count in rows.items() if count != 1] == []
    assert set(rows) == set(completions)


def check_assigned_held_or_completed(logs: RunLogs, store: StoreSnapshot) -> None:
    """Every chat assigned is either still held or completed, not both."""
    events = logs.events()
    assigned = Counter(
        (e["agent_id"], e["chat_id"]) for e in events if e["type"] == "chat_assigned"
    )
    assert max(assigned.values()) == 1
    completed = set(completed_chats(events)) | set(completed_chats(logs.sweeps))
    held = {
        (agent_id, chat.chat_id)
        for agent_id, state in store.states.items()
        for chat in state.chats
    }
    assert completed.isdisjoint(held)
    assert completed | held == set(assigned)


def check_history_keeps_acknowledged_changes(
    logs: RunLogs, store: StoreSnapshot
) -> None:
    """Entries and held chats show every acknowledged extension, flag and class."""
    extensions: Counter[str] = Counter()
    flagged: set[str] = set()
    classified: dict[str, dict[str, Any]] = {}
    for event in logs.events():
        if event["type"] == "wrap_up_extended":
            extensions[event["chat_id"]] += 1
        elif event["type"] == "chat_flagged_abusive":
            assert event["chat_id"] not in flagged
            flagged.add(event["chat_id"])
        elif event["type"] == "chat_classified":
            classified[event["chat_id"]] = event["classification"]
    for _, _, text in store.history:
        entry = entry_from_json(text).to_dict()  # a row, or a document
        chat_id = entry["chat_id"]
        assert entry["extensions_used"] == extensions[chat_id], entry
        assert (entry["abuse"] is not None) == (chat_id in flagged), entry
        expected = classified.get(chat_id)
        if expected is None and entry["ending"] == "expired_with_default":
            assert entry["classification"]["code"] == "other"
        else:
            assert entry["classification"] == expected, entry
    for state in store.states.values():
        for chat in state.chats:
            assert chat.extensions_used == extensions[chat.chat_id]
            assert (chat.abuse is not None) == (chat.chat_id in flagged)


def check_deadlines_moved_forward(logs: RunLogs) -> None:
    """Each chat's deadline only ever moved forward."""
    deadlines: dict[str, list[str]] = defaultdict(list)
    for event in logs.events():
        moved = event["type"] in ("wrap_up_started", "wrap_up_extended")
        if moved and event["deadline"] is not None:
            deadlines[event["chat_id"]].append(event["deadline"])
    assert deadlines
    for chat_id, seen in deadlines.items():
        assert seen == sorted(seen), chat_id
        assert len(set(seen)) == len(seen), chat_id


def check_final_states(store: StoreSnapshot) -> None:
    """Every stored state keeps the invariants and its queue's policy."""
    for state in store.states.values():
        check_state(state)
        for chat in state.chats:
            assert chat.queue == QUEUES_BY_ID[chat.queue.queue_id]
