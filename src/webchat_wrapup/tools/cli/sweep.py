"""``webchat-wrapup sweep``: run a sweeper against a store until stopped."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType
from typing import Any

import attrs

from ...clocks import SystemClock
from ...ports import SweepResult
from ...service import WrapUpService
from ...sweeper import run_sweeper
from .stores import open_existing_store


def add_parser(commands: Any) -> None:
    """Add ``sweep`` to the command line's subcommands."""
    sweep = commands.add_parser(
        "sweep",
        help="make due expiries permanent until stopped (SIGTERM or Ctrl-C)",
        description="Drain due wrap-up expiries in batches, wait, and again, "
        "until SIGTERM or Ctrl-C; then print the totals as JSON. Run any "
        "number, on any servers: claims keep them apart.",
    )
    sweep.add_argument(
        "--db",
        required=True,
        help="the SQLite database file, or a PostgreSQL connection string",
    )
    sweep.add_argument("--schema", help="the PostgreSQL store's schema")
    sweep.add_argument(
        "--interval", type=float, default=1.0, help="seconds between sweeps"
    )
    sweep.add_argument("--limit", type=int, default=100, help="agents per batch")
    sweep.add_argument(
        "--once", action="store_true", help="one sweep, then stop (for cron)"
    )


def run(arguments: argparse.Namespace) -> int:
    """Sweep until a signal (or after one sweep with ``--once``)."""
    stop = threading.Event()
    with open_existing_store(arguments.db, arguments.schema) as store:
        service = WrapUpService(store, SystemClock())
        if arguments.once:
            stop.set()
            _log(service.sweep(arguments.limit))
            return 0
        previous = _stop_on_signals(stop)
        try:
            totals = run_sweeper(
                service,
                stop,
                interval=arguments.interval,
                limit=arguments.limit,
                on_sweep=_log_failures,
            )
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
    print(json.dumps({"stopped": True, **attrs.asdict(totals)}), flush=True)
    return 0


def _stop_on_signals(stop: threading.Event) -> dict[int, Any]:
    def handle(number: int, frame: FrameType | None) -> None:
        stop.set()

    return {
        number: signal.signal(number, handle)
        for number in (signal.SIGTERM, signal.SIGINT)
    }


def _log(result: SweepResult) -> None:
    print(json.dumps(result.to_dict()), flush=True)


def _log_failures(result: SweepResult) -> None:
    if result.failures:
        print(json.dumps(result.to_dict()), file=sys.stderr, flush=True)
