"""Print the benchmarks' medians and check the ratios between them.

Usage::

    python tests/benchmarks/compare.py BENCH.json [MORE.json ...] [--strict]
        [--require SECTION[,SECTION...]]

Each ``BENCH.json`` is what ``pytest --benchmark-json=BENCH.json`` wrote.
Given several files (several runs of the same suite), each benchmark's
lowest median across them is used: on a noisy machine a slow spell inflates
one run's median, never makes it faster. The ratios are computed from the
medians and marked PASS or FAIL against their targets; the ratios of the
minimums are shown for information.

The checks come in sections, one per benchmark module:

``transition`` (``test_transition_*``)
    core / baseline_handwritten <= 1.5, psm_send / core >= 10,
    transitions_trigger / core >= 2.
``command`` (``test_command_*``)
    memory_store median <= 20 us; sqlite_store / raw_sqlite <= 1.2 (both
    ``synchronous`` FULL); sqlite_store_normal / raw_sqlite_normal <= 1.6;
    sqlite_threads_2 / sqlite_threads_1 <= 1.0 (a round's commands take
    two threads sharing a store no longer than one).
``postgres`` (``test_command_postgres_store``, ``test_command_raw_postgres``)
    postgres_store / raw_postgres <= 1.3.
``simulate-scale`` (``test_simulate_*_agents_memory``)
    chats per second (``extra_info``) with 500 agents / with 20 >= 0.75.
``feed`` (``test_feed_command_*``)
    command_sqlite / command_sqlite_without_events <= 1.15 (what writing a
    command's events to the feed costs it).
``sweep`` (``test_sweep_*``)
    memory_100k / memory_10k <= 1.5; sqlite_100k / sqlite_10k <= 1.5 (one
    transaction per agent, the baseline); sqlite_1000_due / sqlite_100k
    <= 0.4 (the service's sweep against that baseline).
``report`` (``test_report_*``)
    sqlite_1m median <= 8 s; its ``traced_peak_mib`` and ``rss_peak_mib``
    <= 400; sqlite_1m / sqlite_100k <= 12; for information, sqlite_1m_stdlib
    (rows parsed by the standard library) <= 8 s.
``history`` (``test_history_page_*``)
    sqlite median <= 400 us (for information, sqlite_stdlib too);
    memory_100k / memory_10 <= 10.

A check may name a figure of the benchmark's ``extra_info`` instead of its
median (a memory peak, say): the lowest of it across the files is used.

The ``throughput``, ``simulate``, ``feed_latency``, ``desk``, ``report`` and
``history`` groups' figures (commands per second, chats per second, the
store's share of the time, a follower's p50 and p99, events pushed to pages
per second, entries and memory) are printed from each benchmark's
``extra_info``, from the file that gave its lowest median; so are those of
any benchmark that counts commands per second (the SQLite threads).

A section is checked when the files hold any benchmark of it (or when it
is named with ``--require``, which takes ``all`` or a comma-separated list
and may be repeated); the other sections are left out, so the files of one
module can be compared alone. In a checked section every benchmark a target
needs is required; an informational check whose benchmarks are missing is
shown as ``n/a``.

Exit status: 2 when no section is checked or a required benchmark is
missing (after printing everything that can be printed); with ``--strict``,
1 when a target is missed; 0 otherwise. Standard library only.
"""

from __future__ import annotations

import json
import operator
import sys
from dataclasses import dataclass
from pathlib import Path

COMPARE = {"<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class Check:
    """``numerator / denominator`` (or the numerator's median in microseconds
    when there is no denominator, or its ``figure`` from ``extra_info`` when
    one is named) compared with ``target``."""

    numerator: str
    denominator: str | None
    how: str
    target: float
    informational: bool = False
    figure: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        if self.denominator is None:
            return (self.numerator,)
        return (self.numerator, self.denominator)

    @property
    def label(self) -> str:
        if self.figure is not None and self.denominator is not None:
            return f"{self.numerator}/{self.denominator} {self.figure}"
        if self.figure is not None:
            return f"{self.numerator} {self.figure}"
        if self.denominator is None:
            return f"{self.numerator} (us)"
        return f"{self.numerator}/{self.denominator}"


@dataclass(frozen=True)
class Section:
    prefix: str
    benchmarks: tuple[str, ...]  # In the order printed, without the prefix.
    checks: tuple[Check, ...]

    def required(self) -> tuple[str, ...]:
        needed = {n for c in self.checks if not c.informational for n in c.names}
        return tuple(name for name in self.benchmarks if name in needed)


SECTIONS = {
    "transition": Section(
        "test_transition_",
        ("baseline_handwritten", "core", "psm_send", "transitions_trigger"),
        (
            Check("core", "baseline_handwritten", "<=", 1.5),
            Check("psm_send", "core", ">=", 10.0),
            Check("transitions_trigger", "core", ">=", 2.0),
        ),
    ),
    "command": Section(
        "test_command_",
        (
            "memory_store",
            "sqlite_store",
            "raw_sqlite",
            "sqlite_store_normal",
            "raw_sqlite_normal",
            "sqlite_threads_1",
            "sqlite_threads_2",
        ),
        (
            Check("memory_store", None, "<=", 20.0),
            Check("sqlite_store", "raw_sqlite", "<=", 1.2),
            Check("sqlite_store_normal", "raw_sqlite_normal", "<=", 1.6),
            Check("sqlite_threads_2", "sqlite_threads_1", "<=", 1.0),
        ),
    ),
    "postgres": Section(
        "test_command_",
        ("postgres_store", "raw_postgres"),
        (Check("postgres_store", "raw_postgres", "<=", 1.3),),
    ),
    "simulate-scale": Section(
        "test_simulate_",
        ("20_agents_memory", "500_agents_memory"),
        (
            Check(
                "500_agents_memory",
                "20_agents_memory",
                ">=",
                0.75,
                figure="chats_per_second",
            ),
        ),
    ),
    "feed": Section(
        "test_feed_",
        ("command_sqlite", "command_sqlite_without_events"),
        (Check("command_sqlite", "command_sqlite_without_events", "<=", 1.15),),
    ),
    "sweep": Section(
        "test_sweep_",
        ("memory_10k", "memory_100k", "sqlite_10k", "sqlite_100k", "sqlite_1000_due"),
        (
            Check("memory_100k", "memory_10k", "<=", 1.5),
            Check("sqlite_100k", "sqlite_10k", "<=", 1.5),
            Check("sqlite_1000_due", "sqlite_100k", "<=", 0.4),
        ),
    ),
    "report": Section(
        "test_report_",
        ("sqlite_100k", "sqlite_1m", "sqlite_1m_stdlib"),
        (
            Check("sqlite_1m", None, "<=", 8_000_000.0),
            Check("sqlite_1m_stdlib", None, "<=", 8_000_000.0, True),
            Check("sqlite_1m", None, "<=", 400.0, figure="traced_peak_mib"),
            Check("sqlite_1m", None, "<=", 400.0, figure="rss_peak_mib"),
            Check("sqlite_1m", "sqlite_100k", "<=", 12.0),
        ),
    ),
    "history": Section(
        "test_history_page_",
        ("sqlite", "sqlite_stdlib", "memory_10", "memory_100k"),
        (
            Check("sqlite", None, "<=", 400.0),
            Check("sqlite_stdlib", None, "<=", 400.0, True),
            Check("memory_100k", "memory_10", "<=", 10.0),
        ),
    ),
}


def read_stats(paths: list[Path]) -> dict[str, dict[str, float]]:
    """Median and minimum in microseconds by test name, and each number in
    its ``extra_info`` (as ``figure:NAME``), the lowest over files."""
    stats: dict[str, dict[str, float]] = {}
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        for bench in data.get("benchmarks", []):
            best = stats.setdefault(bench["name"], {})
            values = {key: bench["stats"][key] * 1e6 for key in ("median", "min")}
            for key, value in bench.get("extra_info", {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    values[f"figure:{key}"] = value
            for key, value in values.items():
                best[key] = min(best.get(key, value), value)
    return stats


FIGURE_GROUPS = (
    "throughput",
    "simulate",
    "simulate-scale",
    "feed_latency",
    "desk",
    "report",
    "history",
)
FIGURE_KEY = "commands_per_second"  # printed whatever the benchmark's group


def read_figures(paths: list[Path]) -> dict[str, dict[str, object]]:
    """The ``extra_info`` of each throughput or simulate benchmark (or any
    other with commands per second), from the file where its median was
    lowest."""
    best: dict[str, tuple[float, dict[str, object]]] = {}
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        for bench in data.get("benchmarks", []):
            info = bench.get("extra_info", {})
            if bench.get("group") not in FIGURE_GROUPS and FIGURE_KEY not in info:
                continue
            median = bench["stats"]["median"]
            known = best.get(bench["name"])
            if known is None or median < known[0]:
                best[bench["name"]] = (median, info)
    return {name: info for name, (_, info) in sorted(best.items())}


def print_figures(figures: dict[str, dict[str, object]]) -> None:
    """One line per throughput or simulate benchmark, with its figures."""
    if not figures:
        return
    print("\n[figures]")
    for name, info in figures.items():
        shown = ", ".join(f"{key} {value}" for key, value in info.items())
        print(f"{name:48} {shown}")


def parse_args(argv: list[str]) -> tuple[list[Path], bool, set[str]] | str:
    """Files, ``--strict`` and the sections named by ``--require``; or an error."""
    paths: list[Path] = []
    strict = False
    required: set[str] = set()
    args = iter(argv)
    for arg in args:
        if arg == "--strict":
            strict = True
        elif arg == "--require" or arg.startswith("--require="):
            value = arg.partition("=")[2] if "=" in arg else next(args, "")
            for name in filter(None, value.split(",")):
                if name == "all":
                    required.update(SECTIONS)
                elif name in SECTIONS:
                    required.add(name)
                else:
                    known = ", ".join(["all", *SECTIONS])
                    return f"unknown section {name!r}; known: {known}"
            if not value:
                return "--require needs a section name"
        elif arg.startswith("--"):
            return f"unknown option {arg}"
        else:
            paths.append(Path(arg))
    if not paths:
        return "no benchmark file given"
    return paths, strict, required


def _time(micros: float) -> str:
    if micros >= 10_000:
        return f"{micros / 1000:10.3f} ms"
    return f"{micros:10.3f} us"


def check_section(
    name: str, section: Section, stats: dict[str, dict[str, float]]
) -> tuple[list[str], bool]:
    """Print one section; the required benchmarks missing, and whether a
    target was missed."""
    full = {short: section.prefix + short for short in section.benchmarks}
    required = section.required()
    missing = [full[short] for short in required if full[short] not in stats]
    print(f"\n[{name}]")
    print(f"{'benchmark':40} {'median':>13} {'min':>13}")
    for short in section.benchmarks:
        s = stats.get(full[short])
        if s is None:
            note = "MISSING" if short in required else "absent"
            print(f"{full[short]:40} {note:>13}")
        else:
            print(f"{full[short]:40} {_time(s['median'])} {_time(s['min'])}")
    print(f"\n{'check (of medians)':48} {'value':>8}   target   result  (of mins)")
    failed = False
    for check in section.checks:
        absent = [full[n] for n in check.names if full[n] not in stats]
        top = stats.get(full[check.numerator], {})
        if top and check.figure is not None and f"figure:{check.figure}" not in top:
            absent = [f"{full[check.numerator]} {check.figure}"]
            missing += [] if check.informational else absent
        if absent:
            verdict = "n/a" if check.informational else "MISSING"
            print(f"{check.label:48} {'-':>8}   {'':8} {verdict}")
            continue
        if check.figure is not None:
            value = of_mins = top[f"figure:{check.figure}"]
            if check.denominator is not None:  # a ratio of the two's figures
                below = stats[full[check.denominator]].get(f"figure:{check.figure}")
                if not below:
                    print(f"{check.label:48} {'-':>8}   {'':8} MISSING")
                    missing.append(f"{full[check.denominator]} {check.figure}")
                    continue
                value = of_mins = value / below
        elif check.denominator is None:
            value, of_mins = top["median"], top["min"]
        else:
            bottom = stats[full[check.denominator]]
            value = top["median"] / bottom["median"]
            of_mins = top["min"] / bottom["min"]
        ok = COMPARE[check.how](value, check.target)
        if check.informational:
            verdict = "info"
        else:
            verdict = "PASS" if ok else "FAIL"
            failed = failed or not ok
        target = f"{check.how} {check.target:<5g}"
        print(f"{check.label:48} {value:8.2f}   {target} {verdict:6} ({of_mins:.2f})")
    return missing, failed


def main(argv: list[str]) -> int:
    parsed = parse_args(argv)
    if isinstance(parsed, str):
        print(f"error: {parsed}\n{__doc__}", file=sys.stderr)
        return 2
    paths, strict, required = parsed
    stats = read_stats(paths)
    sections = [
        name
        for name, section in SECTIONS.items()
        if name in required
        or any(section.prefix + short in stats for short in section.benchmarks)
    ]
    figures = read_figures(paths)
    if not sections and not figures:
        print("no known benchmarks in the files", file=sys.stderr)
        return 2
    missing: list[str] = []
    failed = False
    for name in sections:
        absent, missed = check_section(name, SECTIONS[name], stats)
        missing += absent
        failed = failed or missed
    print_figures(figures)
    if missing:
        print(f"\nmissing benchmarks: {', '.join(missing)}", file=sys.stderr)
        return 2
    return 1 if strict and failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
