"""The service for asyncio applications (FastAPI, Starlette, aiohttp).

:class:`AsyncWrapUpService` offers every method of
:class:`~webchat_wrapup.service.WrapUpService` as a coroutine. Each call
runs the service's own code in a worker thread of the object's own pool,
so the event loop is never blocked by a store (a SQLite write waiting for
the file's lock, a PostgreSQL round trip) and every guarantee is the
service's: the same versions and retries, the same idempotency, the same
typed errors, raised from the ``await``. :meth:`AsyncWrapUpService.follow`
follows the event feed without a thread of its own where the store can wait
asynchronously (PostgreSQL's ``LISTEN`` on a psycopg ``AsyncConnection``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

from ._core._errors import ErrorCode, StoreError, invalid_argument
from .feed import DEFAULT_WAIT, follow_async
from .ports import StoredEvent
from .service import WrapUpService

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_WORKERS = 4
"""Worker threads a service runs commands in unless told otherwise: as many
commands as that are under way at once (a PostgreSQL store's pool should
have at least as many connections)."""


def _in_worker(
    method: Callable[Concatenate[WrapUpService, P], R],
) -> Callable[Concatenate[AsyncWrapUpService, P], Awaitable[R]]:
    """``method`` of the wrapped service, run in a worker thread."""

    async def run(self: AsyncWrapUpService, /, *args: P.args, **kwargs: P.kwargs) -> R:
        call = functools.partial(method, self.service, *args, **kwargs)
        return await self._run(call)

    run.__name__ = run.__qualname__ = method.__name__
    run.__doc__ = f"Awaitable :meth:`WrapUpService.{method.__name__}`: {method.__doc__}"
    return run


class AsyncWrapUpService:
    """A :class:`~webchat_wrapup.service.WrapUpService` for asyncio.

    ``workers`` is how many calls run at once (the others wait their turn
    without blocking the loop). Close it with :meth:`aclose` or
    ``async with``; the store stays open (it is the application's).
    """

    def __init__(self, service: WrapUpService, *, workers: int = DEFAULT_WORKERS):
        if not isinstance(service, WrapUpService):
            raise invalid_argument("service", "a WrapUpService", service)
        if isinstance(workers, bool) or not isinstance(workers, int):
            raise invalid_argument("workers", "a whole number", workers)
        if not 1 <= workers <= 64:
            raise invalid_argument("workers", "1 to 64", workers)
        self.service = service
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="webchat-wrapup")
        self._closed = False

    async def _run(self, call: Callable[[], R]) -> R:
        if self._closed:
            raise StoreError(ErrorCode.STORE_CLOSED, "the async service is closed")
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def aclose(self) -> None:
        """Refuse later calls; wait for the calls under way to finish."""
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(self._pool.shutdown, wait=True)
        )

    async def __aenter__(self) -> AsyncWrapUpService:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def follow(
        self, after: int = 0, *, batch: int = 100, wait: float = DEFAULT_WAIT
    ) -> AsyncIterator[StoredEvent]:
        """The store's event feed after ``after``, then each new event as
        it is committed (see :func:`webchat_wrapup.feed.follow_async`)."""
        return follow_async(self.service.store, after, batch=batch, wait=wait)

    add_agent = _in_worker(WrapUpService.add_agent)
    update_agent = _in_worker(WrapUpService.update_agent)
    retire_agent = _in_worker(WrapUpService.retire_agent)
    erase_customer = _in_worker(WrapUpService.erase_customer)
    erasures = _in_worker(WrapUpService.erasures)
    execute = _in_worker(WrapUpService.execute)
    sweep = _in_worker(WrapUpService.sweep)
    prune_commands = _in_worker(WrapUpService.prune_commands)
    view = _in_worker(WrapUpService.view)
    history = _in_worker(WrapUpService.history)
    assign = _in_worker(WrapUpService.assign)
    end_chat = _in_worker(WrapUpService.end_chat)
    classify = _in_worker(WrapUpService.classify)
    flag_abusive = _in_worker(WrapUpService.flag_abusive)
    extend = _in_worker(WrapUpService.extend)
    complete = _in_worker(WrapUpService.complete)
    transfer = _in_worker(WrapUpService.transfer)
    park = _in_worker(WrapUpService.park)
    activate = _in_worker(WrapUpService.activate)
    pause = _in_worker(WrapUpService.pause)
    resume = _in_worker(WrapUpService.resume)
    choose_presence = _in_worker(WrapUpService.choose_presence)
    cancel_next_presence = _in_worker(WrapUpService.cancel_next_presence)
    expire = _in_worker(WrapUpService.expire)
