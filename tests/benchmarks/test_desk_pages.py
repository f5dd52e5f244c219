"""Benchmark (group ``desk``): desk updates pushed to 100 open pages.

A desk server (in a thread, as ``webchat-wrapup desk`` runs it) follows a
SQLite store's feed; 100 agents each have their desk open, every page
reading its server-sent-events stream in one client event loop. Each round
pauses and resumes every agent's wrap-up through a second connection to the
file (as another app server would) and ends when every page has been told
of every event. The figures: events pushed to pages per second, and the
messages that carried them (events of one agent close together travel in
one message, with the agent's view read once).

``test_desk_commands_without_pages`` runs the same commands with no page
open: the baseline that shows what the pushing costs on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the desk extra is not installed")
pytest.importorskip("uvicorn", reason="the desk extra is not installed")
httpx = pytest.importorskip("httpx", reason="httpx is not installed")

from desk_support import desk_in_thread  # noqa: E402
from support import queue  # noqa: E402
from webchat_wrapup.clocks import SystemClock  # noqa: E402
from webchat_wrapup.service import WrapUpService  # noqa: E402
from webchat_wrapup.stores import SQLiteStore  # noqa: E402

PAGES = 100
WAIT_SECONDS = 60.0


class Pages:
    """Desk pages read by one asyncio loop in a thread of its own; counts
    the events and messages they are pushed."""

    def __init__(self, base: str, agents: list[str]) -> None:
        self.events = 0
        self.messages = 0
        self.opened = 0
        self._seen = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._done = asyncio.run_coroutine_threadsafe(
            self._read_all(base, agents), self._loop
        )

    async def _read_all(self, base: str, agents: list[str]) -> None:
        limits = httpx.Limits(max_connections=len(agents) + 10)
        timeout = httpx.Timeout(10, read=None)
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
            await asyncio.gather(
                *(self._read(client, f"{base}api/agents/{a}/stream") for a in agents)
            )

    async def _read(self, client: Any, url: str) -> None:
        async with client.stream("GET", url) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                message = json.loads(line[6:])
                with self._seen:
                    if message.get("type") == "desk" and not message["events"]:
                        self.opened += 1
                    self.events += len(message.get("events", ()))
                    self.messages += 1
                    self._seen.notify_all()

    def wait_until(self, check: Any) -> None:
        give_up = time.monotonic() + WAIT_SECONDS
        with self._seen:
            while not check(self):
                left = give_up - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.events} events, {self.opened} pages")
                self._seen.wait(left)

    def close(self) -> None:
        self._done.cancel()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """100 agents, each in a wrap-up with an hour on its countdown."""
    db = tmp_path_factory.mktemp("desk-bench") / "desk.db"
    with SQLiteStore(db, synchronous="NORMAL") as store:
        service = WrapUpService(store, SystemClock())
        policy = queue(countdown_seconds=3600)
        for number in range(PAGES):
            agent = f"agent-{number:03d}"
            service.add_agent(agent)
            service.assign(agent, f"chat-{number}", f"cust-{number}", policy)
            service.end_chat(agent, f"chat-{number}")
    return db


def agents() -> list[str]:
    return [f"agent-{number:03d}" for number in range(PAGES)]


def one_round(service: WrapUpService) -> int:
    """Pause, then resume, every agent's wrap-up; the events made."""
    made = 0
    for number, agent in enumerate(agents()):
        service.pause(agent, f"chat-{number}")
        service.resume(agent, f"chat-{number}")
        made += 2
    return made


@contextlib.contextmanager
def writer(database: Path) -> Iterator[WrapUpService]:
    """Another app server's connection to the file."""
    with SQLiteStore(database, synchronous="NORMAL") as store:
        yield WrapUpService(store, SystemClock())


@pytest.mark.benchmark(group="desk")
def test_desk_updates_100_pages(benchmark: Any, database: Path) -> None:
    with (
        SQLiteStore(database, synchronous="NORMAL") as served,
        desk_in_thread(WrapUpService(served, SystemClock())) as base,
        writer(database) as service,
    ):
        pages = Pages(base, agents())
        try:
            pages.wait_until(lambda p: p.opened >= PAGES)
            totals = {"events": 0, "seconds": 0.0, "messages": 0, "cpu": 0.0}

            def pushed() -> None:
                target = pages.events + 2 * PAGES
                messages = pages.messages
                started = time.perf_counter()
                cpu = time.process_time()
                writing = time.thread_time()
                one_round(service)
                writing = time.thread_time() - writing  # the other app server's
                pages.wait_until(lambda p: p.events >= target)
                totals["cpu"] += time.process_time() - cpu - writing
                totals["seconds"] += time.perf_counter() - started
                totals["events"] += 2 * PAGES
                totals["messages"] += pages.messages - messages

            benchmark.pedantic(pushed, rounds=5, iterations=1, warmup_rounds=1)
        finally:
            pages.close()
    seconds = totals["seconds"]
    benchmark.extra_info.update(
        pages=PAGES,
        events_per_second=round(totals["events"] / seconds),
        messages_per_second=round(totals["messages"] / seconds),
        events_per_message=round(totals["events"] / max(totals["messages"], 1), 2),
        # The desk server's CPU and the 100 pages' (parsed in this process
        # too) per event delivered: an upper bound for the server's.
        cpu_us_per_event=round(1e6 * totals["cpu"] / totals["events"]),
    )


@pytest.mark.benchmark(group="desk")
def test_desk_commands_without_pages(benchmark: Any, database: Path) -> None:
    with writer(database) as service:
        totals = {"events": 0, "seconds": 0.0}

        def commands_only() -> None:
            started = time.perf_counter()
            totals["events"] += one_round(service)
            totals["seconds"] += time.perf_counter() - started

        benchmark.pedantic(commands_only, rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(
        events_per_second=round(totals["events"] / totals["seconds"])
    )
