"""Pushing the event feed to the pages open on one desk server.

Each server process follows the store's durable feed in one task: whatever
wrote an event (this process, another desk server on the same database, a
sweeper, a router), every open page hears of it. Events are gathered per
agent and handed to a second task that builds one message per agent (the
agent's view, read once however many pages show it) and drops it in each
page's mailbox; a third keeps the supervisor's read model current and
pushes its figures, at most every ``supervisor_every`` seconds.

Every message a page gets is built by those tasks in turn, so a page never
sees an older view after a newer one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

from ..._core._decide import effective_state
from ..._core._errors import UnknownAgent, WrapUpError
from ..._core._views import view_agent
from ...ports import Clock, Store, StoredEvent
from .supervisor import snapshot

R = TypeVar("R")

STOP_WAIT = 10.0
"""Seconds :meth:`DeskHub.stop` waits for its threads' work to end."""

logger = logging.getLogger(__name__)

MAILBOX = 64
"""Messages a page may fall behind by; past it the oldest is dropped (each
desk message holds the whole view, so the newest is all a page needs)."""
RETRY_SECONDS = 1.0
"""How long the follower waits before following again after a store error."""

Follow = Callable[[Store, int], AsyncIterator[StoredEvent]]


class ReadModel(Protocol):
    """What the hub needs of a
    :class:`~webchat_wrapup.projections.ProjectionRunner`."""

    @property
    def db(self) -> sqlite3.Connection:
        """The connection to read the projection's tables through."""

    @property
    def position(self) -> int:
        """The position of the last event applied."""

    def catch_up(self, store: Store, limit: int = ...) -> int:
        """Apply pending events; how many."""


class Page:
    """One open page: the messages waiting for it."""

    def __init__(self) -> None:
        self.mailbox: asyncio.Queue[str] = asyncio.Queue(maxsize=MAILBOX)

    def offer(self, message: str) -> None:
        """Queue ``message``; a page that fell behind loses its oldest one."""
        if self.mailbox.full():
            self.mailbox.get_nowait()
        self.mailbox.put_nowait(message)


def desk_state(store: Store, clock: Clock, agent_id: str) -> dict[str, Any]:
    """What a desk page draws for ``agent_id`` now: the library's view, and
    each countdown's full length (deadline less the end of the chat) so the
    page can colour the countdown as it ticks, as the view's
    ``warning_level`` does."""
    stored = store.load(agent_id)
    if stored is None:
        raise UnknownAgent(agent_id)
    now = clock.now()
    state = effective_state(stored.state, now)
    lengths = {
        chat.chat_id: (chat.deadline - chat.ended_at).total_seconds()
        for chat in state.chats
        if chat.deadline is not None and chat.ended_at is not None
    }
    return {"view": view_agent(stored.state, now).to_dict(), "countdowns": lengths}


def _default_follow(store: Store, after: int) -> AsyncIterator[StoredEvent]:
    from ...feed import follow_async

    return follow_async(store, after)


class DeskHub:
    """Follows the feed in this server process and fans it out to pages.

    ``read_model`` is a :class:`~webchat_wrapup.projections.ProjectionRunner`
    of the :class:`~.supervisor.SupervisorProjection`, or ``None`` for a
    server that shows no supervisor page.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        read_model: ReadModel | None = None,
        *,
        supervisor_every: float = 0.25,
        follow: Follow = _default_follow,
    ) -> None:
        self.store = store
        self.clock = clock
        self.read_model = read_model
        self.supervisor_every = supervisor_every
        self.position = 0
        """The position of the last feed event this server has taken in."""
        self.supervisor_message: str | None = None
        self._follow = follow
        self._desks: dict[str, set[Page]] = {}
        self._supervisors: set[Page] = set()
        self._joining: list[tuple[str, Page]] = []
        self._pending: dict[str, list[StoredEvent]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._in_threads: set[asyncio.Future[Any]] = set()
        self._wake = asyncio.Event()
        self._supervisor_due = asyncio.Event()

    async def start(self) -> None:
        """Follow the feed from its current end; build the supervisor figures."""
        self.position = await self._in_thread(self.store.last_position)
        self._wake = asyncio.Event()
        self._supervisor_due = asyncio.Event()
        for work in (self._follow_forever, self._flush_forever):
            self._tasks.append(asyncio.create_task(work()))
        if self.read_model is not None:
            supervise = self._supervise_forever(self.read_model)
            self._tasks.append(asyncio.create_task(supervise))
            self._supervisor_due.set()

    async def stop(self, wait: float = STOP_WAIT) -> bool:
        """Stop following; open pages are left to their connections.

        Whether the work the hub gave its threads has ended, waiting up to
        ``wait`` seconds for it: only then may the read model (or the
        store) be closed, as ``sqlite3`` crashes on a connection closed
        while a thread uses it.
        """
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if not self._in_threads:
            return True
        _, running = await asyncio.wait(set(self._in_threads), timeout=wait)
        return not running

    async def _in_thread(self, work: Callable[..., R], *args: Any) -> R:
        """``work(*args)`` in a worker thread, which :meth:`stop` waits for
        even when the task awaiting it was cancelled."""
        running = asyncio.ensure_future(asyncio.to_thread(work, *args))
        self._in_threads.add(running)
        running.add_done_callback(self._in_threads.discard)
        return await asyncio.shield(running)

    @contextlib.contextmanager
    def desk_page(self, agent_id: str) -> Iterator[Page]:
        """A page open on ``agent_id``'s desk, for as long as the block runs;
        its first message is the agent's view as it is now."""
        page = Page()
        self._desks.setdefault(agent_id, set()).add(page)
        self._joining.append((agent_id, page))
        self._wake.set()
        try:
            yield page
        finally:
            pages = self._desks.get(agent_id, set())
            pages.discard(page)
            if not pages:
                self._desks.pop(agent_id, None)

    @contextlib.contextmanager
    def supervisor_page(self) -> Iterator[Page]:
        """A supervisor page; its first message is the latest figures."""
        page = Page()
        if self.supervisor_message is not None:
            page.offer(self.supervisor_message)
        self._supervisors.add(page)
        try:
            yield page
        finally:
            self._supervisors.discard(page)

    def pages(self) -> int:
        """How many pages are open on this server."""
        return sum(map(len, self._desks.values())) + len(self._supervisors)

    async def _follow_forever(self) -> None:
        while True:
            try:
                async for stored in self._follow(self.store, self.position):
                    self._pending.setdefault(stored.event.agent_id, []).append(stored)
                    self.position = stored.position
                    self._wake.set()
            except Exception:  # the store is away, say: follow again later
                logger.exception("following the event feed failed; trying again")
            await asyncio.sleep(RETRY_SECONDS)

    async def _flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush()
            except Exception:  # pages hear of the next event; keep serving them
                logger.exception("pushing to the desk pages failed")

    async def _flush(self) -> None:
        """Build and hand out the messages for what happened since last time."""
        pending, self._pending = self._pending, {}
        joining, self._joining = self._joining, []
        if pending:
            self._supervisor_due.set()
        watched = [agent for agent in pending if self._desks.get(agent)]
        agents = sorted({*watched, *(agent for agent, _ in joining)})
        if not agents:
            return
        position = self.position
        states = await self._in_thread(self._states, agents)
        joined = {id(page) for _, page in joining}
        for agent_id, page in joining:
            page.offer(_desk_message(states[agent_id], position, ()))
        for agent_id in watched:
            message = _desk_message(states[agent_id], position, pending[agent_id])
            for page in self._desks.get(agent_id, ()):
                if id(page) not in joined:
                    page.offer(message)

    def _states(self, agents: list[str]) -> dict[str, dict[str, Any]]:
        states: dict[str, dict[str, Any]] = {}
        for agent_id in agents:
            try:
                states[agent_id] = desk_state(self.store, self.clock, agent_id)
            except WrapUpError as error:
                states[agent_id] = {"error": error.to_dict()}
        return states

    async def _supervise_forever(self, runner: ReadModel) -> None:
        while True:
            await self._supervisor_due.wait()
            self._supervisor_due.clear()
            try:
                message = await self._in_thread(self._supervisor_figures, runner)
            except Exception:
                logger.exception("updating the supervisor figures failed")
            else:
                self.supervisor_message = message
                for page in self._supervisors:
                    page.offer(message)
            await asyncio.sleep(self.supervisor_every)

    def _supervisor_figures(self, runner: ReadModel) -> str:
        while runner.catch_up(self.store) > 0:
            pass
        figures = snapshot(runner.db, self.clock.now())
        return json.dumps(
            {"type": "supervisor", "position": runner.position, **figures}
        )


def _desk_message(
    state: dict[str, Any], position: int, events: Iterable[StoredEvent]
) -> str:
    message = {
        "type": "desk",
        "position": position,
        "events": [stored.to_dict() for stored in events],
        **state,
    }
    return json.dumps(message)
