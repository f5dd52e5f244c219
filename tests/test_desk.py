"""The desk server's JSON API and its event streams, over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the desk extra is not installed")
pytest.importorskip("uvicorn", reason="the desk extra is not installed")
pytest.importorskip("httpx", reason="httpx (for the test client) is not installed")

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from desk_support import (
    SRC,
    Stream,
    desk_in_thread,
    extensions_left,
    serve_in_thread,
)
from support import T0, queue
from webchat_wrapup import (
    CommandRefused,
    InvalidInput,
    Presence,
    UnknownAgent,
)
from webchat_wrapup.clocks import ManualClock
from webchat_wrapup.service import WrapUpService
from webchat_wrapup.stores import MemoryStore, SQLiteStore
from webchat_wrapup.tools.desk.app import create_app
from webchat_wrapup.tools.desk.hub import DeskHub

AGENT = "agent-ana"
CHAT = "chat-1"


@pytest.fixture
def service() -> WrapUpService:
    """Ana (room for two chats) in the wrap-up of chat-1: a 60 s countdown,
    3 extensions, a classification required before completing."""
    service = WrapUpService(MemoryStore(), ManualClock(T0))
    service.add_agent(AGENT, capacity=2)
    service.assign(AGENT, CHAT, "cust-1", queue(required=True))
    service.end_chat(AGENT, CHAT)
    return service


@pytest.fixture
def client(service: WrapUpService) -> Iterator[httpx.Client]:
    """A client of a desk server for ``service``, running in a thread."""
    with desk_in_thread(service) as base, httpx.Client(base_url=base) as client:
        yield client


def click(client: httpx.Client, action: str, **body: Any) -> httpx.Response:
    return client.post(f"api/agents/{AGENT}/chats/{CHAT}/{action}", json=body)


def test_a_click_runs_the_command_and_answers_with_the_desk_after_it(
    client: httpx.Client,
) -> None:
    response = click(client, "extend")
    assert response.status_code == 200
    answer = response.json()
    assert [e["type"] for e in answer["outcome"]["events"]] == ["wrap_up_extended"]
    chat = answer["view"]["chats"][0]
    assert chat["extensions_left"] == 2
    assert answer["countdowns"][CHAT] == 120.0  # 60 s, then one extension of 60 s


def test_extending_until_none_are_left_greys_out_extend_and_then_refuses(
    client: httpx.Client,
) -> None:
    for left in (2, 1, 0):
        chat = click(client, "extend").json()["view"]["chats"][0]
        assert chat["extensions_left"] == left
    assert chat["extend_enabled"] is False
    assert chat["extend_disabled_reason"] == "no_extensions_left"
    refused = click(client, "extend")
    assert refused.status_code == CommandRefused.http_status
    error = refused.json()["error"]
    assert error["code"] == "no_extensions_left"
    assert error["retryable"] is False
    assert "extend" in error["message"]


def test_complete_is_refused_with_its_reason_until_the_chat_is_classified(
    client: httpx.Client,
) -> None:
    refused = click(client, "complete")
    assert refused.status_code == CommandRefused.http_status
    assert refused.json()["error"]["code"] == "classification_required"
    classified = click(client, "classify", code="refund", additional_text="Sorted")
    chat = classified.json()["view"]["chats"][0]
    assert chat["classification"]["label"] == "Refund"
    assert chat["complete_enabled"] is True
    done = click(client, "complete").json()
    assert done["view"]["chats"] == []
    assert done["view"]["status_label"] == "Available"


def test_flag_pause_and_resume_go_through_the_service(
    client: httpx.Client, service: WrapUpService
) -> None:
    assert click(client, "flag_abusive", reason="Insults").status_code == 200
    paused = click(client, "pause").json()["view"]["chats"][0]
    assert paused["paused"] is True
    assert paused["flagged_abusive"] is True
    assert isinstance(service.clock, ManualClock)
    service.clock.advance(30)
    frozen = client.get(f"api/agents/{AGENT}").json()["view"]["chats"][0]
    assert frozen["seconds_left"] == paused["seconds_left"]
    resumed = click(client, "resume").json()["view"]["chats"][0]
    assert resumed["paused"] is False


def test_a_retried_click_is_replayed_not_applied_twice(client: httpx.Client) -> None:
    first = click(client, "extend", command_id="click-1").json()
    again = click(client, "extend", command_id="click-1").json()
    assert again["outcome"]["replayed"] is True
    assert extensions_left(again) == extensions_left(first) == 2


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        (f"api/agents/nobody/chats/{CHAT}/extend", {}, UnknownAgent, "unknown_agent"),
        (f"api/agents/{AGENT}/chats/chat-9/extend", {}, 404, "chat_not_held"),
        (f"api/agents/{AGENT}/chats/{CHAT}/classify", {"code": 5}, InvalidInput, None),
        (f"api/agents/{AGENT}/chats/{CHAT}/extend", [], InvalidInput, "invalid_json"),
        (
            f"api/agents/{AGENT}/chats/{CHAT}/extend",
            {"minutes": 5},
            InvalidInput,
            "invalid_argument",
        ),
        (
            f"api/agents/{AGENT}/presence",
            {"presence": "asleep"},
            InvalidInput,
            "invalid_argument",
        ),
        (f"api/agents/{AGENT}/chats/{CHAT}/explode", {}, 404, "unknown_action"),
    ],
)
def test_bad_requests_get_the_errors_status_and_code(
    client: httpx.Client, path: str, body: object, status: Any, code: str | None
) -> None:
    response = client.post(path, json=body)
    expected = status if isinstance(status, int) else status.http_status
    assert response.status_code == expected
    error = response.json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code


def test_a_body_that_is_not_json_is_refused_as_invalid_json(
    client: httpx.Client,
) -> None:
    response = client.post(
        f"api/agents/{AGENT}/chats/{CHAT}/extend",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == InvalidInput.http_status
    assert response.json()["error"]["code"] == "invalid_json"


def test_a_status_chosen_while_busy_is_the_next_status_until_cancelled(
    client: httpx.Client,
) -> None:
    chosen = client.post(f"api/agents/{AGENT}/presence", json={"presence": "break"})
    view = chosen.json()["view"]
    assert view["status_label"] == "Wrap-up"
    assert view["next_presence"] == Presence.BREAK.value
    cancelled = client.post(f"api/agents/{AGENT}/next-presence/cancel", json={})
    assert cancelled.json()["view"]["next_presence"] is None


def test_a_transfer_to_an_unknown_agent_is_refused_and_changes_nothing(
    service: WrapUpService, client: httpx.Client
) -> None:
    service.assign(AGENT, "chat-2", "cust-2", queue())
    response = client.post(
        f"api/agents/{AGENT}/chats/chat-2/transfer", json={"to_agent_id": "nobody"}
    )
    assert response.status_code == UnknownAgent.http_status
    assert response.json()["error"]["code"] == "unknown_agent"
    chats = client.get(f"api/agents/{AGENT}").json()["view"]["chats"]
    assert [chat["chat_id"] for chat in chats] == [CHAT, "chat-2"]


def test_the_pages_are_served_with_links_relative_to_where_the_app_is_mounted(
    service: WrapUpService,
) -> None:
    desk = create_app(service)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with desk.router.lifespan_context(desk):  # a mount runs no lifespan
            yield

    outer = Starlette(routes=[Mount("/wrapup", desk)], lifespan=lifespan)
    with (
        serve_in_thread(outer, ready="wrapup/api/supervisor") as base,
        httpx.Client(base_url=base) as client,
    ):
        desk = client.get(f"wrapup/desk/{AGENT}")
        assert desk.status_code == 200
        assert 'data-root="/wrapup/"' in desk.text
        assert 'src="/wrapup/static/desk.js"' in desk.text
        script = client.get("wrapup/static/desk.js")
        assert script.status_code == 200
        assert "EventSource" in client.get("wrapup/static/common.js").text
        assert client.get("wrapup/supervisor").status_code == 200


def test_the_supervisor_figures_follow_the_feed(
    service: WrapUpService, client: httpx.Client
) -> None:
    figures = client.get("api/supervisor").json()
    assert figures["type"] == "supervisor"
    assert [w["chat_id"] for w in figures["wrap_ups"]] == [CHAT]
    assert figures["wrap_ups"][0]["seconds_left"] == 60.0
    assert figures["agents"]["by_status"] == [{"label": "Wrap-up", "agents": 1}]


def test_importing_the_library_and_its_command_line_imports_no_web_framework() -> None:
    code = (
        "import sys, webchat_wrapup, webchat_wrapup.service, "
        "webchat_wrapup.tools.cli.main\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('starlette', 'uvicorn', 'httpx', 'anyio')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"


# Pushed over server-sent events: a real server in a thread.


def test_every_page_open_on_a_desk_hears_a_command_made_anywhere(
    service: WrapUpService,
) -> None:
    with desk_in_thread(service) as base:
        pages = [Stream(f"{base}api/agents/{AGENT}/stream") for _ in range(2)]
        try:
            for page in pages:
                page.wait_for(lambda m: extensions_left(m) == 3)
            service.extend(AGENT, CHAT)  # not through the desk at all
            for page in pages:
                message = page.wait_for(lambda m: extensions_left(m) == 2)
                types = [stored["event"]["type"] for stored in message["events"]]
                assert types == ["wrap_up_extended"]
                assert message["position"] > 0
        finally:
            for page in pages:
                page.close()


def test_a_page_on_one_server_hears_a_click_made_through_another(
    tmp_path: Path,
) -> None:
    db = tmp_path / "desk.db"
    with SQLiteStore(db) as first_store, SQLiteStore(db) as second_store:
        first = WrapUpService(first_store, ManualClock(T0))
        first.add_agent(AGENT)
        first.assign(AGENT, CHAT, "cust-1", queue())
        first.end_chat(AGENT, CHAT)
        second = WrapUpService(second_store, ManualClock(T0))
        with desk_in_thread(first) as one, desk_in_thread(second) as two:
            page = Stream(f"{two}api/agents/{AGENT}/stream")
            supervisor = Stream(f"{two}api/supervisor/stream")
            try:
                page.wait_for(lambda m: extensions_left(m) == 3)
                clicked = httpx.post(f"{one}api/agents/{AGENT}/chats/{CHAT}/extend")
                assert clicked.status_code == 200
                page.wait_for(lambda m: extensions_left(m) == 2)
                figures = supervisor.wait_for(
                    lambda m: m.get("totals", {}).get("extensions") == 1
                )
                assert figures["wrap_ups"][0]["extensions_left"] == 2
            finally:
                page.close()
                supervisor.close()


def test_an_unknown_agents_desk_stream_says_so(service: WrapUpService) -> None:
    with desk_in_thread(service) as base:
        page = Stream(f"{base}api/agents/nobody/stream")
        try:
            message = page.wait_for(lambda m: "error" in m)
            assert message["error"]["code"] == "unknown_agent"
        finally:
            page.close()


def test_messages_are_json_documents_with_a_type(service: WrapUpService) -> None:
    with desk_in_thread(service) as base:
        page = Stream(f"{base}api/agents/{AGENT}/stream")
        try:
            message = page.wait_for(lambda m: "view" in m)
            assert message["type"] == "desk"
            json.dumps(message)
        finally:
            page.close()


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"read_model": 5}, "read_model"),
        ({"sweep_every": 0}, "sweep_every"),
        ({"sweep_every": float("nan")}, "sweep_every"),
        ({"supervisor_every": True}, "supervisor_every"),
    ],
)
def test_create_app_refuses_settings_it_cannot_use(
    service: WrapUpService, settings: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        create_app(service, **settings)
    assert refused.value.details["field"] == field


def test_create_app_needs_a_service() -> None:
    with pytest.raises(InvalidInput):
        create_app(MemoryStore())  # type: ignore[arg-type]


class _SlowReadModel:
    """A read model whose first catch-up waits until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.busy = False

    @property
    def db(self) -> Any:
        raise AssertionError("not read in this test")

    @property
    def position(self) -> int:
        return 0

    def catch_up(self, store: Any, limit: int = 1000) -> int:
        self.busy = True
        self.entered.set()
        self.release.wait(10)
        self.busy = False
        raise RuntimeError("no figures today")  # logged by the hub


def test_stopping_the_hub_waits_for_the_work_its_threads_are_doing() -> None:
    # The app closes the read model (and the store) once the hub has
    # stopped: a thread still reading one then would crash sqlite3.
    async def scenario() -> bool:
        read_model = _SlowReadModel()
        hub = DeskHub(MemoryStore(), ManualClock(T0))
        hub.read_model = read_model
        await hub.start()
        await asyncio.to_thread(read_model.entered.wait, 10)
        stopping = asyncio.ensure_future(hub.stop())
        await asyncio.sleep(0.2)
        still_waiting = not stopping.done() and read_model.busy
        read_model.release.set()
        idle = await stopping
        return still_waiting and idle and not read_model.busy

    assert asyncio.run(scenario())


def test_a_hub_whose_thread_does_not_end_stops_saying_so() -> None:
    # The app then leaves the read model open rather than close it under
    # the thread.
    async def scenario() -> tuple[bool, bool]:
        read_model = _SlowReadModel()
        hub = DeskHub(MemoryStore(), ManualClock(T0))
        hub.read_model = read_model
        await hub.start()
        await asyncio.to_thread(read_model.entered.wait, 10)
        idle = await hub.stop(wait=0.1)
        busy = read_model.busy
        read_model.release.set()
        return idle, busy

    assert asyncio.run(scenario()) == (False, True)
