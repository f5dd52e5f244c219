"""Two desk server processes on one PostgreSQL store keep each other's
pages current (the SQLite case is in ``tests/test_desk.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support import postgres_dsn, queue

DSN = postgres_dsn()
pytest.importorskip("psycopg")
pytest.importorskip("starlette", reason="the desk extra is not installed")
pytest.importorskip("uvicorn", reason="the desk extra is not installed")
httpx = pytest.importorskip("httpx", reason="httpx is not installed")

from test_postgres_store import drop, fresh_schema  # noqa: E402

from desk_support import Stream, desk_in_process, extensions_left  # noqa: E402
from webchat_wrapup.clocks import SystemClock  # noqa: E402
from webchat_wrapup.service import WrapUpService  # noqa: E402
from webchat_wrapup.stores import PostgresStore  # noqa: E402


@pytest.fixture
def schema() -> Iterator[str]:
    name = fresh_schema()
    yield name
    drop(name)


def test_a_click_through_one_desk_server_reaches_a_page_on_another(
    schema: str,
) -> None:
    with PostgresStore(DSN, schema=schema) as store:
        service = WrapUpService(store, SystemClock())  # the servers' clock
        service.add_agent("agent-ana")
        service.assign("agent-ana", "chat-1", "cust-1", queue(countdown_seconds=3600))
        service.end_chat("agent-ana", "chat-1")
    flags = ("--schema", schema)
    with desk_in_process(DSN, *flags) as one, desk_in_process(DSN, *flags) as two:
        page = Stream(f"{two}api/agents/agent-ana/stream")
        supervisor = Stream(f"{two}api/supervisor/stream")
        try:
            page.wait_for(lambda m: extensions_left(m) == 3)
            clicked = httpx.post(f"{one}api/agents/agent-ana/chats/chat-1/extend")
            assert clicked.status_code == 200
            message = page.wait_for(lambda m: extensions_left(m) == 2)
            assert [e["event"]["type"] for e in message["events"]] == [
                "wrap_up_extended"
            ]
            supervisor.wait_for(lambda m: m.get("totals", {}).get("extensions") == 1)
        finally:
            page.close()
            supervisor.close()
