"""One writer process of the feed's proof: conflicting commands and sweeps.

Run as ``python writer.py STORE NUMBER STEPS``, where STORE is a SQLite file
path or ``postgresql:SCHEMA`` (the DSN comes from the environment). Every
writer works the same four agents, so saves conflict and are retried, and
sweeps expire what the others left due; refusals are expected and ignored.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
from datetime import datetime, timedelta, timezone

from webchat_wrapup import (
    ManualClock,
    QueuePolicy,
    SQLiteStore,
    WrapUpError,
    WrapUpPolicy,
    WrapUpService,
)
from webchat_wrapup.ports import Store

AGENTS = ("agent-0", "agent-1", "agent-2", "agent-3")
POLICY = QueuePolicy("support", WrapUpPolicy(countdown_seconds=2))


def open_store(where: str) -> Store:
    if where.startswith("postgresql:"):
        from webchat_wrapup.stores import PostgresStore

        dsn = os.environ["WEBCHAT_WRAPUP_POSTGRES_DSN"]
        return PostgresStore(dsn, schema=where.split(":", 1)[1], pool_size=2)
    return SQLiteStore(where, busy_timeout=30.0)


def main(where: str, number: int, steps: int) -> None:
    chance = random.Random(number)
    start = datetime(2026, 11, 30, 9, tzinfo=timezone.utc)
    clock = ManualClock(start)
    with open_store(where) as store:
        service = WrapUpService(store, clock)
        for agent_id in AGENTS:
            service.add_agent(agent_id, capacity=3, exist_ok=True)
        for step in range(steps):
            clock.advance(timedelta(seconds=chance.random()))
            agent_id = chance.choice(AGENTS)
            # Refused, conflicting, or the file busy: go on.
            with contextlib.suppress(WrapUpError):
                act(service, store, agent_id, f"chat-{number}-{step}", chance)


def act(
    service: WrapUpService,
    store: Store,
    agent_id: str,
    new_chat: str,
    chance: random.Random,
) -> None:
    """What the agent would do next, as last read: another writer may have
    changed it since, so the command may conflict or be refused."""
    if chance.random() < 0.1:
        service.sweep(10)
        return
    stored = store.load(agent_id)
    chats = [] if stored is None else list(stored.state.chats)
    if not chats or chance.random() < 0.3:
        service.assign(agent_id, new_chat, f"cust-{new_chat}", POLICY)
        return
    chat = chance.choice(chats)
    if chat.ended_at is None:
        if chat.classification is None:
            service.classify(agent_id, chat.chat_id, text="refund")
        else:
            service.end_chat(agent_id, chat.chat_id)
    elif chance.random() < 0.5:
        service.complete(agent_id, chat.chat_id)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
