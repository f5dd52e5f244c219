"""The object vendors call: load, let the core decide, save, then notify.

A command travels one way: the service loads the agent from the store,
the core decides at the clock's instant, the store saves the new state with
its history entries and command record in one transaction, and only then do
subscribers hear the events.

The work itself is written once (:mod:`webchat_wrapup._operations`) and
shared with :class:`~webchat_wrapup.aio.AsyncWrapUpService`, the face for
asyncio; here it runs over a plain :class:`~webchat_wrapup.ports.Store`
at once, in the caller's thread.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar

from ._core._commands import Command, TransferChat
from ._core._errors import invalid_argument
from ._core._policy import QueuePolicy
from ._fingerprint import fingerprint_of as fingerprint_of
from ._immediate import ImmediateStore, run_now
from ._operations import Operations, Subscriber
from ._settings import (
    DEFAULT_ATTEMPTS,
    DEFAULT_COMMAND_RETENTION,
    DEFAULT_EVENT_RETENTION,
    DEFAULT_LEASE,
    KEEP,
    MAX_SWEEP_LIMIT,
    Settings,
)
from ._shorthands import ServiceFace
from ._sweeping import SWEEP_BATCH
from .observers import Observer
from .ports import Clock, Outcome, Store

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_COMMAND_RETENTION",
    "DEFAULT_EVENT_RETENTION",
    "DEFAULT_LEASE",
    "KEEP",
    "MAX_SWEEP_LIMIT",
    "SWEEP_BATCH",
    "Subscriber",
    "WrapUpService",
    "fingerprint_of",
]

P = ParamSpec("P")
R = TypeVar("R")


def _at_once(
    work: Callable[Concatenate[Operations, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[WrapUpService, P], R]:
    """The operation ``work``, run to its end in the caller's thread."""

    @functools.wraps(work)
    def run(self: WrapUpService, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return run_now(work(self._work, *args, **kwargs))

    return run


class WrapUpService(ServiceFace[Outcome]):
    """Runs commands against a store, at the clock's time.

    ``attempts`` bounds how often a command is decided again on fresh state
    after a version conflict; ``lease`` is how long a sweeper's claim on a
    due wrap-up lasts; ``command_retention`` is how long command records
    (kept for retries, with copies of what the command wrote) live before
    :meth:`sweep` prunes them. A retry older than that is decided afresh,
    like a new command. ``event_retention`` is how long the store's event
    feed keeps each event (a follower stopped for longer misses what was
    pruned meanwhile). ``observer`` hears every command and sweep (see
    :mod:`webchat_wrapup.observers`).
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        lease: timedelta = DEFAULT_LEASE,
        command_retention: timedelta = DEFAULT_COMMAND_RETENTION,
        event_retention: timedelta = DEFAULT_EVENT_RETENTION,
        observer: Observer | None = None,
    ) -> None:
        if inspect.iscoroutinefunction(getattr(store, "save", None)):
            raise invalid_argument(
                "store",
                "a Store (an AsyncStore goes to aio.AsyncWrapUpService)",
                store,
            )
        settings = Settings(attempts, lease, command_retention, event_retention)
        self.store = store
        self._work = Operations(ImmediateStore(store), clock, settings, observer, store)

    def execute(self, command: Command, *, command_id: str | None = None) -> Outcome:
        """Decide and save ``command``; a retried ``command_id`` is replayed.

        Every answer given for one command id agrees with what was stored:
        a refusal is only reported once no save of the agent is under way,
        so a retry racing its first attempt is told what the first did.
        """
        return run_now(self._work.execute(command, command_id=command_id))

    def _transfer(
        self, command: TransferChat, queue: QueuePolicy | None, command_id: str | None
    ) -> Outcome:
        return run_now(self._work.transfer(command, queue=queue, command_id=command_id))

    add_agent = _at_once(Operations.add_agent)
    update_agent = _at_once(Operations.update_agent)
    retire_agent = _at_once(Operations.retire_agent)
    erase_customer = _at_once(Operations.erase_customer)
    erasures = _at_once(Operations.erasures)
    view = _at_once(Operations.view)
    history = _at_once(Operations.history)
    sweep = _at_once(Operations.sweep)
    prune_commands = _at_once(Operations.prune_commands)
