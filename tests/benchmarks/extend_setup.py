"""The agents in wrap-up that the command benchmarks extend, and the check
of each extension; shared by ``test_storage.py``, ``test_postgres.py`` and
the ``postgres_load.py`` worker processes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from webchat_wrapup import QueuePolicy, WrapUpExtended, WrapUpPolicy
from webchat_wrapup.ports import Outcome

MAX_EXTENSIONS = 10
POLICY = WrapUpPolicy(
    countdown_seconds=3600, extension_seconds=60, max_extensions=MAX_EXTENSIONS
)
QUEUE = QueuePolicy("sales", wrap_up=POLICY)
CHAT = "chat-1"
T0 = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)
ENDED_AT = T0 + timedelta(minutes=5)
NOW = ENDED_AT + timedelta(seconds=10)
VERSION_IN_WRAP_UP = 3  # add_agent, assign, end_chat


def deadline_after(uses: int) -> datetime:
    """The chat's deadline once it has been extended ``uses`` times."""
    return ENDED_AT + POLICY.countdown + uses * POLICY.extension  # type: ignore[operator]


def chat_of(agent_id: str) -> str:
    """The chat an agent of the pool holds: one chat, one holder, so each
    agent's is its own (stores refuse a chat another agent holds)."""
    return f"{CHAT}-of-{agent_id}"


def check_outcome(
    outcome: Outcome, agent_id: str, used: int, chat_id: str = CHAT
) -> None:
    """``outcome`` is the ``used + 1``-th extension of ``agent_id``'s chat."""
    event = WrapUpExtended(
        agent_id, NOW, chat_id, deadline_after(used + 1), MAX_EXTENSIONS - used - 1
    )
    assert outcome.events == (event,)
    assert outcome.version == VERSION_IN_WRAP_UP + used + 1
    assert outcome.history == ()
    assert not outcome.replayed
