"""The desk server: the agent desk, the supervisor view and their JSON API.

:func:`create_app` wraps a :class:`~webchat_wrapup.service.WrapUpService`
in a Starlette application. Clicks arrive as JSON ``POST`` requests and run
through the service; a refusal comes back with the error's ``http_status``
and its ``to_dict()`` (``code``, ``message``, ``retryable``) under
``"error"``. Pages never poll: each holds one server-sent-events stream fed
by the :class:`~.hub.DeskHub`, which follows the store's event feed.

Routes (all relative to where the app is mounted)::

    GET  /                                   the list of desks
    GET  /desk/{agent_id}                    an agent's desk
    GET  /supervisor                         the supervisor view
    GET  /api/agents/{agent_id}              the desk's state now
    POST /api/agents/{agent_id}/chats/{chat_id}/{action}
    POST /api/agents/{agent_id}/presence     {"presence", "reason"}
    POST /api/agents/{agent_id}/next-presence/cancel
    GET  /api/supervisor                     the supervisor's figures
    GET  /api/agents/{agent_id}/stream       the desk's event stream
    GET  /api/supervisor/stream              the supervisor's event stream
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..._core._errors import ErrorCode, InvalidInput, WrapUpError, invalid_argument
from ..._core._instants import utc_instant
from ...service import WrapUpService
from . import commands
from .hub import DeskHub, Follow, Page, desk_state
from .supervisor import SupervisorProjection

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
"""A quiet stream still sends the server's clock this often: the page
re-syncs its countdowns, and a dead connection is noticed."""
SWEEP_LIMIT = 100


def create_app(
    service: WrapUpService,
    *,
    read_model: str | Path = ":memory:",
    sweep_every: float | None = None,
    supervisor_every: float = 0.25,
    follow: Follow | None = None,
) -> Starlette:
    """The desk server for ``service``.

    ``read_model`` is the SQLite file of the supervisor's figures (kept by a
    :class:`~webchat_wrapup.projections.ProjectionRunner`; in memory, rebuilt
    from the feed at each start, unless a path is given; one file per
    server process). ``sweep_every`` makes the server sweep due wrap-ups
    itself that often (seconds), for a deployment with no sweeper of its
    own. ``follow`` replaces :func:`webchat_wrapup.feed.follow_async`.
    Nothing is opened until the app's lifespan starts: the read model then,
    and the feed follower.
    """
    _check_settings(service, read_model, sweep_every, supervisor_every)
    options: dict[str, Any] = {"supervisor_every": supervisor_every}
    if follow is not None:
        options["follow"] = follow
    hub = DeskHub(service.store, service.clock, **options)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        from ...projections import ProjectionRunner

        runner = await asyncio.to_thread(
            ProjectionRunner, read_model, SupervisorProjection()
        )
        hub.read_model = runner
        await hub.start()
        sweeper = None
        if sweep_every is not None:
            sweeper = asyncio.create_task(_sweep_forever(service, sweep_every))
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper  # its thread's sweep ends first
            if await hub.stop():
                runner.close()
            else:  # closing it under a thread still reading it would crash
                logger.warning("the read model was left open: a thread still uses it")

    app = Starlette(routes=_routes(), lifespan=lifespan)
    app.state.service = service
    app.state.hub = hub
    return app


def _check_settings(
    service: object, read_model: object, sweep_every: object, supervisor_every: object
) -> None:
    if not isinstance(service, WrapUpService):
        raise invalid_argument("service", "a WrapUpService", service)
    if not isinstance(read_model, (str, Path)):
        raise invalid_argument("read_model", "a file path or ':memory:'", read_model)
    if sweep_every is not None and not _seconds(sweep_every):
        raise invalid_argument(
            "sweep_every", "seconds above 0, up to 3600", sweep_every
        )
    if not _seconds(supervisor_every):
        raise invalid_argument(
            "supervisor_every", "seconds above 0, up to 3600", supervisor_every
        )


def _seconds(value: object) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and 0 < value <= 3600  # type: ignore[operator]


def _routes() -> list[Route | Mount]:
    static = StaticFiles(packages=[("webchat_wrapup.tools.desk", "static")])
    return [
        Route("/", _page("index.html")),
        Route("/desk/{agent_id:path}", _page("desk.html")),
        Route("/supervisor", _page("supervisor.html")),
        Route("/api/supervisor", _supervisor),
        Route("/api/supervisor/stream", _supervisor_stream),
        Route(
            "/api/agents/{agent_id}/chats/{chat_id}/{action}",
            _chat_action,
            methods=["POST"],
        ),
        Route("/api/agents/{agent_id}/presence", _presence, methods=["POST"]),
        Route(
            "/api/agents/{agent_id}/next-presence/cancel",
            _cancel_next_presence,
            methods=["POST"],
        ),
        Route("/api/agents/{agent_id}/stream", _desk_stream),
        Route("/api/agents/{agent_id}", _desk),
        Mount("/static", static, name="static"),
    ]


def _page(name: str) -> Callable[[Request], Any]:
    async def page(request: Request) -> Response:
        html = (
            resources.files(__package__)
            .joinpath("static")
            .joinpath(name)
            .read_text("utf-8")
        )
        root = request.scope.get("root_path", "").rstrip("/") + "/"
        return HTMLResponse(html.replace("{{root}}", root))

    return page


def error_response(error: WrapUpError) -> JSONResponse:
    """The refusal as the API answers it: ``http_status`` and ``to_dict()``."""
    return JSONResponse({"error": error.to_dict()}, status_code=error.http_status)


def _service(request: Request) -> WrapUpService:
    service: WrapUpService = request.app.state.service
    return service


async def _body(request: Request) -> object:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidInput(
            ErrorCode.INVALID_JSON, "the request body is not JSON", field="$"
        ) from None


async def _answer(
    request: Request, agent_id: str, run: Callable[[WrapUpService, object], Any]
) -> Response:
    """Read the request's JSON body, run the command on it in a worker
    thread; answer with its outcome and the desk's state after it, or with
    the refusal."""
    try:
        body = await _body(request)
    except WrapUpError as error:
        return error_response(error)
    service = _service(request)

    def work() -> dict[str, Any]:
        outcome = run(service, body)
        return {
            "outcome": outcome.to_dict(),
            **desk_state(service.store, service.clock, agent_id),
        }

    try:
        return JSONResponse(await run_in_threadpool(work))
    except WrapUpError as error:
        return error_response(error)


async def _chat_action(request: Request) -> Response:
    agent_id = request.path_params["agent_id"]
    chat_id = request.path_params["chat_id"]
    action = request.path_params["action"]
    if action not in commands.CHAT_ACTIONS:
        known = ", ".join(commands.CHAT_ACTIONS)
        return JSONResponse(
            {
                "error": {
                    "code": "unknown_action",
                    "message": f"no chat action {action!r}; the actions: {known}",
                    "retryable": False,
                }
            },
            status_code=404,
        )
    return await _answer(
        request,
        agent_id,
        lambda service, body: commands.run_chat_action(
            service, action, agent_id, chat_id, body
        ),
    )


async def _presence(request: Request) -> Response:
    agent_id = request.path_params["agent_id"]
    return await _answer(
        request,
        agent_id,
        lambda service, body: commands.choose_presence(service, agent_id, body),
    )


async def _cancel_next_presence(request: Request) -> Response:
    agent_id = request.path_params["agent_id"]
    return await _answer(
        request,
        agent_id,
        lambda service, body: commands.cancel_next_presence(service, agent_id, body),
    )


async def _desk(request: Request) -> Response:
    service = _service(request)
    agent_id = request.path_params["agent_id"]
    try:
        state = await run_in_threadpool(
            desk_state, service.store, service.clock, agent_id
        )
    except WrapUpError as error:
        return error_response(error)
    return JSONResponse(state)


async def _supervisor(request: Request) -> Response:
    hub: DeskHub = request.app.state.hub
    message = hub.supervisor_message
    if message is None:
        return JSONResponse(
            {"error": {"code": "not_ready", "message": "catching up with the feed"}},
            status_code=503,
            headers={"Retry-After": "1"},
        )
    return Response(message, media_type="application/json")


async def _desk_stream(request: Request) -> Response:
    hub: DeskHub = request.app.state.hub
    agent_id = request.path_params["agent_id"]

    async def stream() -> AsyncIterator[str]:
        with hub.desk_page(agent_id) as page:
            async for message in _messages(hub, page):
                yield message

    return _event_stream(stream())


async def _supervisor_stream(request: Request) -> Response:
    hub: DeskHub = request.app.state.hub

    async def stream() -> AsyncIterator[str]:
        with hub.supervisor_page() as page:
            async for message in _messages(hub, page):
                yield message

    return _event_stream(stream())


async def _messages(hub: DeskHub, page: Page) -> AsyncIterator[str]:
    """The page's messages as server-sent events, with a heartbeat of the
    server's clock while nothing happens."""
    yield "retry: 2000\n\n"
    while True:
        try:
            message = await asyncio.wait_for(page.mailbox.get(), HEARTBEAT_SECONDS)
        except asyncio.TimeoutError:
            now = utc_instant(hub.clock.now()).isoformat()
            message = json.dumps({"type": "clock", "at": now})
        yield f"data: {message}\n\n"


def _event_stream(messages: AsyncIterator[str]) -> StreamingResponse:
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(messages, media_type="text/event-stream", headers=headers)


async def _sweep_forever(service: WrapUpService, every: float) -> None:
    while True:
        # A store that is away now may be back at the next sweep.
        with contextlib.suppress(WrapUpError):
            await run_in_threadpool(service.sweep, SWEEP_LIMIT)
        await asyncio.sleep(every)
