"""``webchat-wrapup``: the command line.

Every subcommand has ``--help``. Bad input prints one line naming the
problem on standard error and exits with status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from ..._core._errors import WrapUpError
from ...clocks import ManualClock
from ...service import WrapUpService
from ...stores.memory import MemoryStore
from ...stores.sqlite import SQLiteStore
from ..policy_file import (
    PolicyFile,
    describe_seed_wrap_up,
    load_policy_file,
    seed_product_policies,
)
from ..report import reports_by_run
from ..report_html import as_html, period_of
from ..runs import EPOCH, next_run_label, run_label, run_of
from ..simulation import (
    DEFAULT_ARRIVALS_PER_HOUR,
    Results,
    Simulation,
    SimulationSettings,
    draw_traffic,
    settings_from,
)
from . import demo, desk, sweep
from .errors import UsageError
from .report_output import FORMATS, presence_time_by_run
from .stores import describe_store, open_existing_store

DEFAULT_DB = Path("webchat-wrapup.db")
PROGRAM = "webchat-wrapup"


_SIMULATION_FLAGS: dict[str, tuple[type, str]] = {
    "agents": (int, "number of agents"),
    "hours": (float, "length of the day"),
    "seed": (int, "random seed"),
    "chat_mean_seconds": (float, "mean chat length"),
    "patience_seconds": (float, "mean patience before a customer abandons"),
    "service_level_seconds": (float, "the service-level threshold"),
    "classify_seconds": (float, "mean time to classify"),
    "classify_during_chat": (float, "share who classify during the chat"),
    "extend_share": (float, "share who extend"),
    "extend_when_seconds_left": (
        float,
        "extenders extend when this much countdown is left",
    ),
    "forget_share": (float, "share who let wrap-up expire"),
    "abuse_rate": (float, "share of chats flagged abusive"),
    "pause_share": (float, "share of wrap-ups the agent pauses"),
    "pause_seconds": (float, "mean length of a pause"),
    "breaks": (int, "breaks per agent over the day"),
    "break_minutes": (float, "length of a break"),
    "transfer_share": (float, "share of chats the first agent transfers"),
    "transfer_after": (
        float,
        "part of a transferred chat's length its first leg takes",
    ),
}
"""Every numeric ``SimulationSettings`` field as a flag: its type and meaning."""


def _with_default(meaning: str, setting: str) -> str:
    """Help text that shows the settings class's own default."""
    default = attrs.fields_dict(SimulationSettings)[setting].default
    shown = f"{default:g}" if isinstance(default, float) else str(default)
    return f"{meaning} (default: {shown})"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="What happens when a webchat ends: wrap-up, classification, "
        "contact history. Simulate a day of traffic under a policy and report "
        "on the contact history it leaves.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument(
        "--db",
        type=Path,
        default=DEFAULT_DB,
        help=f"the SQLite database file (default: ./{DEFAULT_DB})",
    )
    demo_parser = commands.add_parser(
        "demo",
        help="walk one agent through the seed page",
        description="Walk one agent through three chats: the seed page, then "
        "parking, pausing and a break chosen during wrap-up, printing the "
        "agent's screen at each step and the contact history at the end. Uses "
        "a temporary database unless --db is given.",
    )
    demo_parser.add_argument("--db", type=Path, help="keep the walk-through here")
    _simulate_parser(commands, database)
    _report_parser(commands)
    sweep.add_parser(commands)
    desk.add_parser(commands, DEFAULT_DB)
    policy = commands.add_parser(
        "policy", help="work with policy files", description="Policy files."
    )
    policy_commands = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_commands.add_parser(
        "check",
        help="validate a policy file and print the effective policy per queue",
        description="Validate a policy file and print each queue's effective "
        "policy, after inheriting the [defaults].",
    )
    check.add_argument("file", type=Path, help="the TOML policy file")
    return parser


def _simulate_parser(commands: Any, database: argparse.ArgumentParser) -> None:
    simulate = commands.add_parser(
        "simulate",
        parents=[database],
        help="simulate a day of webchat traffic under a policy",
        description="Simulate webchat traffic for N agents across the policy's "
        "queues, through the real service and store, and print service level, "
        "speed of answer, abandonment, occupancy, time in wrap-up, pauses, "
        "time on a break (occupancy counts only time not on a break), transfers "
        "and the legs agents handled. Settings "
        "come from the file's [simulation] section; flags override them. "
        "Without a file, one queue runs the library's default policy.",
    )
    simulate.add_argument(
        "policy",
        type=Path,
        nargs="?",
        help="the TOML policy file (default: one queue, the seed product's "
        f"wrap-up: {describe_seed_wrap_up()})",
    )
    simulate.add_argument(
        "--versus", type=Path, help="run the same traffic under this policy too"
    )
    simulate.add_argument("--memory", action="store_true", help="use no database")
    simulate.add_argument(
        "--arrivals",
        action="append",
        metavar="QUEUE=PER_HOUR",
        help="arrival rate of a queue, per hour "
        f"(default: {DEFAULT_ARRIVALS_PER_HOUR:g}); repeatable",
    )
    simulate.add_argument(
        "--chat-length",
        choices=["exponential", "lognormal"],
        help=_with_default("the distribution of chat lengths", "chat_length"),
    )
    for setting, (kind, meaning) in _SIMULATION_FLAGS.items():
        simulate.add_argument(
            f"--{setting.replace('_', '-')}",
            type=kind,
            help=_with_default(meaning, setting),
        )


def _report_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="report on the contact history in the database",
        description="Classification trends (timeout defaults and unclassified "
        "chats kept apart), abuse flags, wrap-up time, extension use and "
        "pauses of wrap-up per queue and agent, printed as a table, CSV, JSON "
        "or one self-contained HTML page of charts (--format html > FILE).",
    )
    # A string, not a Path: a Path would fold the "//" of a URL.
    report.add_argument(
        "--db",
        default=str(DEFAULT_DB),
        help=f"the SQLite database file (default: ./{DEFAULT_DB}), or a "
        "PostgreSQL connection string: postgresql://user@host/dbname or "
        "'host=... dbname=...'",
    )
    report.add_argument(
        "--schema", help="the PostgreSQL store's schema (default: webchat_wrapup)"
    )
    report.add_argument("--by", choices=["hour", "day"], default="hour")
    report.add_argument(
        "--format",
        choices=[*FORMATS, "html"],
        default="table",
        dest="form",
        help="table (default, with bars), csv, json, or html: one page of "
        "charts that opens offline",
    )
    report.add_argument(
        "--run", help=f"only this simulation run (e.g. {run_label(1, 2)})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = _parser().parse_args(argv)
    try:
        return int(_COMMANDS[arguments.command](arguments))
    except BrokenPipeError:
        raise  # the reader left early: the entry point exits quietly
    except (WrapUpError, UsageError) as error:
        message = getattr(error, "message", None) or str(error)
        print(f"{PROGRAM}: error: {message}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 2


def _demo(arguments: argparse.Namespace) -> int:
    path = arguments.db
    if path is not None and path.exists():
        raise UsageError(f"{path} already exists; give demo a new file")
    demo.run(print, path)
    return 0


def _policy(arguments: argparse.Namespace) -> int:
    policies = load_policy_file(arguments.file)
    for name, policy in policies.queues.items():
        data = policy.to_dict()
        data.pop("schema_version")
        data["capacity"] = policies.queue_capacity[name]
        print(f"[{name}]")
        print(json.dumps(data, indent=2))
    print(f"{arguments.file}: {len(policies.queues)} queue(s), valid")
    return 0


def _store(arguments: argparse.Namespace) -> SQLiteStore | MemoryStore:
    if getattr(arguments, "memory", False):
        return MemoryStore()
    return SQLiteStore(arguments.db, synchronous="NORMAL")


def _simulate(arguments: argparse.Namespace) -> int:
    if arguments.policy is None:
        first = seed_product_policies()
    else:
        first = load_policy_file(arguments.policy)
    second = None if arguments.versus is None else load_policy_file(arguments.versus)
    if second is not None and set(second.queues) != set(first.queues):
        raise UsageError(f"{arguments.versus} must define the same queues")
    settings = settings_from(
        first.simulation, _overrides(arguments), sorted(first.queues)
    )
    customers = draw_traffic(settings, sorted(first.queues))
    store = _store(arguments)
    try:
        results = [_one_run(store, first, settings, customers)]
        if second is not None and not results[0].interrupted:
            results.append(_one_run(store, second, settings, customers))
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
    _print_results(results, settings)
    return 130 if any(r.interrupted for r in results) else 0


def _overrides(arguments: argparse.Namespace) -> dict[str, Any]:
    names = ["chat_length", *_SIMULATION_FLAGS]
    values = {name: getattr(arguments, name) for name in names}
    if arguments.arrivals:
        rates = {}
        for item in arguments.arrivals:
            queue, _, rate = item.partition("=")
            try:
                rates[queue] = float(rate)
            except ValueError:
                raise UsageError(f"--arrivals {item!r}: use QUEUE=PER_HOUR") from None
        values["arrivals_per_hour"] = rates
    return values


def _one_run(
    store: SQLiteStore | MemoryStore,
    policies: PolicyFile,
    settings: SimulationSettings,
    customers: list[Any],
) -> Results:
    run = next_run_label(settings.seed, lambda agent: store.load(agent) is not None)
    service = WrapUpService(store, ManualClock(EPOCH))
    simulation = Simulation(
        service, policies, settings, run=run, progress=_progress(settings)
    )
    started = time.perf_counter()
    results = simulation.run_day(customers)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    elapsed = time.perf_counter() - started
    print(
        f"{policies.source}: run {run}, {results.answered} chats in "
        f"{elapsed:.1f} s ({results.answered / max(elapsed, 1e-9):.0f} chats/s)"
    )
    return results


def _progress(settings: SimulationSettings) -> Callable[[float, int], None] | None:
    if not sys.stderr.isatty():
        return None
    started = time.perf_counter()

    def show(simulated: float, chats: int) -> None:
        hours, rest = divmod(int(simulated), 3600)
        elapsed = max(time.perf_counter() - started, 1e-9)
        share = min(1.0, simulated / (settings.hours * 3600))
        bar = "#" * int(share * 30)
        print(
            f"\r[{bar:<30}] {hours:02d}:{rest // 60:02d} simulated, "
            f"{chats} chats, {chats / elapsed:.0f} chats/s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    return show


def _print_results(results: list[Results], settings: SimulationSettings) -> None:
    print(
        f"\n{settings.agents} agents, {settings.hours:g} h, seed {settings.seed}, "
        f"service level within {settings.service_level_seconds:g} s"
    )
    names = [name for name, _ in results[0].rows()]
    columns = [dict(result.rows()) for result in results]
    width = max(len(name) for name in names)
    headers = [Path(result.label).name for result in results]
    print(f"{'':<{width}}  " + "  ".join(f"{h:>16}" for h in headers))
    for name in names:
        cells = "  ".join(f"{column[name]:>16}" for column in columns)
        print(f"{name:<{width}}  {cells}")
    if any(result.interrupted for result in results):
        print("interrupted: the figures cover the simulated time so far")


def _report(arguments: argparse.Namespace) -> int:
    with open_existing_store(arguments.db, arguments.schema) as store:
        reports = reports_by_run(store, bucket=arguments.by)
        presence = presence_time_by_run(store)
        period = None
        if arguments.form == "html":  # when the first and last wrap-up ended
            chosen = arguments.run
            period = period_of(
                entry
                for entry in store.all_history()
                if chosen is None or run_of(entry.agent_id) == chosen
            )
    if arguments.run:
        if arguments.run not in reports:
            known = ", ".join(reports) or "none"
            raise UsageError(f"no run named {arguments.run!r}; runs: {known}")
        reports = {arguments.run: reports[arguments.run]}
    reports = {
        run: attrs.evolve(report, presence_time=presence.get(run, ()))
        for run, report in reports.items()
    }
    if arguments.form == "html":
        sys.stdout.write(
            as_html(
                reports,
                database=describe_store(arguments.db, arguments.schema),
                period=period,
                bucket=arguments.by,
            )
        )
        return 0
    sys.stdout.write(FORMATS[arguments.form](reports))
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": _demo,
    "simulate": _simulate,
    "report": _report,
    "policy": _policy,
    "sweep": sweep.run,
    "desk": lambda arguments: desk.run(arguments, DEFAULT_DB),
}
