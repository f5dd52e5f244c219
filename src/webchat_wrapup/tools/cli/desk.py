"""``webchat-wrapup desk``: serve the agent desk and the supervisor view."""

from __future__ import annotations

import argparse
import contextlib
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...clocks import SystemClock
from ...ports import Clock, Store
from ...service import WrapUpService
from ...stores.sqlite import SQLiteStore
from .errors import UsageError
from .stores import open_existing_store

DEFAULT_PORT = 8000
POOL_SIZE = 4
"""PostgreSQL connections a desk server keeps: clicks, views and the
supervisor's read model are read at once."""
EXTRA = "python -m pip install 'webchat-wrapup[desk]' (from a checkout: -e '.[desk]')"


def add_parser(commands: Any, default_db: Path) -> None:
    """Add ``desk`` to the command line's subcommands."""
    desk = commands.add_parser(
        "desk",
        help="serve the agent desk and the supervisor view (the desk extra)",
        description="Serve the agent desk and the supervisor view over HTTP, "
        "pushed live from the store's event feed; several desk servers on one "
        "database keep every page current. With --demo, simulated traffic runs "
        "against a SQLite file (a temporary one unless --db is given), plus one "
        "agent, 'you', for you to wrap up. Needs the desk extra.",
    )
    desk.add_argument(
        "--db",
        help=f"the SQLite database file (default: ./{default_db}), or a "
        "PostgreSQL connection string",
    )
    desk.add_argument("--schema", help="the PostgreSQL store's schema")
    desk.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    desk.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"default: {DEFAULT_PORT}"
    )
    desk.add_argument(
        "--demo", action="store_true", help="run simulated traffic to watch"
    )
    desk.add_argument(
        "--read-model",
        type=Path,
        help="keep the supervisor's figures in this SQLite file, one per server "
        "(default: in memory, rebuilt from the event feed at start)",
    )
    desk.add_argument(
        "--sweep",
        type=float,
        metavar="SECONDS",
        help="sweep due wrap-ups this often, for a store with no sweeper",
    )


def run(arguments: argparse.Namespace, default_db: Path) -> int:
    """Serve until Ctrl-C."""
    try:
        import uvicorn

        from ..desk.app import create_app
    except ImportError:
        raise UsageError(f"the desk needs the desk extra: {EXTRA}") from None
    if not 0 <= arguments.port <= 65535:
        raise UsageError(f"--port must be from 0 to 65535, not {arguments.port}")
    if arguments.sweep is not None and not 0 < arguments.sweep <= 3600:
        raise UsageError("--sweep must be a number of seconds above 0, up to 3600")
    with _served_store(arguments, default_db) as (store, clock, you):
        app = create_app(
            WrapUpService(store, clock),
            read_model=arguments.read_model or ":memory:",
            sweep_every=arguments.sweep,
        )
        base = f"http://{arguments.host}:{arguments.port}/"
        print(f"desk: {base}  supervisor: {base}supervisor", flush=True)
        if you is not None:
            print(f"your desk in the demo: {base}desk/{you}", flush=True)
        config = uvicorn.Config(
            app,
            host=arguments.host,
            port=arguments.port,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        with _quiet_signals():
            uvicorn.Server(config).run()
    return 0


@contextlib.contextmanager
def _quiet_signals() -> Iterator[None]:
    """Let SIGTERM and Ctrl-C stop the server and nothing more: uvicorn
    raises the signal again once it has shut down, and it must not kill the
    process before the store is closed and the demo's file removed."""
    previous = {
        number: signal.signal(number, lambda *_: None)
        for number in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def _served_store(
    arguments: argparse.Namespace, default_db: Path
) -> Iterator[tuple[Store, Clock, str | None]]:
    """The store to serve, its clock, and the demo's own agent if any."""
    if not arguments.demo:
        db = arguments.db or str(default_db)
        with open_existing_store(db, arguments.schema, POOL_SIZE) as store:
            yield store, SystemClock(), None
        return
    if arguments.schema is not None:
        raise UsageError("--demo runs on a SQLite file: --schema does not apply")
    from ..desk.demo import Demo

    with contextlib.ExitStack() as stack:
        path = arguments.db
        if path is not None and ("://" in path or "=" in path):
            raise UsageError("--demo runs on a SQLite file, not on PostgreSQL")
        if path is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory())
            path = str(Path(folder) / "desk-demo.db")
        store = stack.enter_context(SQLiteStore(path, synchronous="NORMAL"))
        demo = Demo(store)
        demo.start()
        stack.callback(demo.close)
        yield store, demo.clock, demo.you
