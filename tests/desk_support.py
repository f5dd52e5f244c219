"""Helpers for the desk's tests: desk servers in a thread or a process, and
a reader of their server-sent events."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from webchat_wrapup.service import WrapUpService
from webchat_wrapup.tools.desk.app import create_app

SRC = Path(__file__).resolve().parents[1] / "src"


@contextlib.contextmanager
def desk_in_thread(service: WrapUpService, **options: Any) -> Iterator[str]:
    """A desk server for ``service`` on a free port in this process; its
    base URL while the block runs."""
    with serve_in_thread(create_app(service, **options)) as base:
        yield base


@contextlib.contextmanager
def serve_in_thread(app: Any, ready: str = "api/supervisor") -> Iterator[str]:
    """Serve the ASGI ``app`` on a free port in this process; its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", timeout_graceful_shutdown=1, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
    thread.start()
    base = f"http://127.0.0.1:{port}/"
    try:
        wait_until_ready(base, ready=ready)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def free_port() -> int:
    """A port nothing on this machine listens on just now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def desk_in_process(db: Path | str, *extra: str, port: int = 0) -> Iterator[str]:
    """``webchat-wrapup desk --db DB`` in a process of its own, on ``port``
    or a free one; its base URL."""
    port = port or free_port()  # bound again at once; nothing else here asks
    environment = {**os.environ, "PYTHONPATH": str(SRC)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "webchat_wrapup",
            "desk",
            "--db",
            str(db),
            "--port",
            str(port),
            *extra,
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        wait_until_ready(base, process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def wait_until_ready(
    base: str,
    process: subprocess.Popen[bytes] | None = None,
    timeout: float = 30,
    ready: str = "api/supervisor",
) -> None:
    """Wait until the server answers ``ready`` (by default: until its
    supervisor figures are built)."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if process is not None and process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"the desk server exited: {error}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(base + ready, timeout=2).status_code == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"no desk server at {base}")


class Stream:
    """Reads one server-sent-events stream in a thread, keeping its messages."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.messages: list[dict[str, Any]] = []
        self._arrived = threading.Condition()
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=None))
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with (
            self._client,
            contextlib.suppress(httpx.HTTPError),
            self._client.stream("GET", self.url) as response,
        ):
            for line in response.iter_lines():
                if self._stop:
                    return
                if line.startswith("data: "):
                    with self._arrived:
                        self.messages.append(json.loads(line[6:]))
                        self._arrived.notify_all()

    def wait_for(self, check: Any, timeout: float = 10) -> dict[str, Any]:
        """The first message (old or new) for which ``check`` is true."""
        give_up = time.monotonic() + timeout
        with self._arrived:
            while True:
                for message in self.messages:
                    if check(message):
                        return message
                left = give_up - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.url}: none of {self.messages!r}")
                self._arrived.wait(left)

    def close(self) -> None:
        """Stop reading: the thread ends at the next message, or when the
        server closes the stream as it stops."""
        self._stop = True


def extensions_left(message: dict[str, Any]) -> int | None:
    """The first chat's extensions left in a desk message, if it has a chat."""
    chats = message.get("view", {}).get("chats", [])
    return chats[0]["extensions_left"] if chats else None
