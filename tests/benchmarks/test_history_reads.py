"""What reading a large contact history costs: reports and history pages.

Group ``report``: :func:`reports_by_run` (the report the command line
prints, without the printing) on a SQLite file of 100,000 entries and of
1,000,000 (a mid-size centre's year; ``WEBCHAT_WRAPUP_REPORT_ENTRIES``
picks another size for the large one). Each file is written once per run,
in bulk (``history_setup.py``), in a temporary folder. Besides the time,
each records its memory: ``traced_peak_mib``, the peak of what Python
allocated during one more report (tracemalloc), and ``rss_peak_mib``, the
peak resident size of a fresh process that opens the file and reports it
(``report_peak.py``), with ``rss_start_mib`` its size before the report.
Targets: the 1,000,000-entry report at most 8 s and 400 MiB (both
measures), and at most 12 times the 100,000-entry one (linear).

The stores parse rows with orjson when it is installed (the ``fast``
extra; ``.[test]`` installs it); the ``_stdlib`` benchmarks measure the same
with the standard library's parser, as without the extra (for information;
``extra_info["parser"]`` says which each used).

Group ``history``: a page of 50 entries of a customer with 10,000 (every
tenth entry of the 100,000-entry file), from the middle of their history,
on SQLite (target: at most 400 us); and a page of 10 from the memory store,
of a customer with 10 entries and of one with 100,000 (the page's cost
must not grow with the history: at most 10 times).

Nothing here asserts a duration: each test checks what the timed calls
returned. With ``--benchmark-disable`` (the default run) each body runs
once, on files of 2,000 and 20,000 entries.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import history_setup
from history_setup import PAGE_CUSTOMER
from webchat_wrapup import AgentState, ContactHistoryEntry
from webchat_wrapup.ports import Change, Store
from webchat_wrapup.stores import MemoryStore, SQLiteStore, _entries
from webchat_wrapup.tools.report import Report, reports_by_run

LARGE = int(os.environ.get("WEBCHAT_WRAPUP_REPORT_ENTRIES", "1000000"))
DISABLED_SIZES = {100_000: 2_000, LARGE: 20_000}
REPORT_ROUNDS = {100_000: 5, LARGE: 3}
PAGE_ROUNDS = 500
MIB = 2**20
PEAK_SCRIPT = Path(__file__).with_name("report_peak.py")


def _size(benchmark: Any, size: int) -> int:
    return DISABLED_SIZES[size] if benchmark.disabled else size


@pytest.fixture(scope="module")
def history_file(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Path]:
    """The SQLite file of a history of a size, written once per module."""
    folder = tmp_path_factory.mktemp("history")

    @cache
    def build(size: int) -> Path:
        path = folder / f"history-{size}.db"
        return history_setup.write(path, history_setup.entries(size))

    return build


# The report group.


def _check_report(reports: dict[str, Report], size: int) -> None:
    """The report counts every entry once, as the history was made."""
    (report,) = reports.values()
    assert list(reports) == ["all"]
    assert report.entries == size
    assert report.classified + report.timeout_defaults + report.unclassified == size
    assert report.timeout_defaults == len(range(7, size, 20))
    assert sum(row.chats for row in report.wrap_up if row.group == "queue") == size
    assert sum(row.chats for row in report.wrap_up if row.group == "agent") == size
    assert sum(row.count for row in report.trends) == report.classified
    assert report.pauses
    assert report.transfers


def _traced_peak_mib(path: Path) -> float:
    """The most Python held at once during one report (tracemalloc)."""
    with SQLiteStore(path) as store:
        gc.collect()
        tracemalloc.start()
        try:
            reports_by_run(store)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return peak / MIB


def _rss_in_a_fresh_process(path: Path) -> dict[str, float]:
    """``report_peak.py``'s figures: a fresh process's resident sizes."""
    result = subprocess.run(
        [sys.executable, str(PEAK_SCRIPT), str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    figures: dict[str, float] = json.loads(result.stdout)
    return figures


def _bench_report(
    benchmark: Any, history_file: Callable[[int], Path], size: int
) -> None:
    entries = _size(benchmark, size)
    path = history_file(entries)
    with SQLiteStore(path) as store:
        reports = benchmark.pedantic(
            reports_by_run, args=(store,), rounds=REPORT_ROUNDS[size], iterations=1
        )
    _check_report(reports, entries)
    rss = _rss_in_a_fresh_process(path)
    assert rss["entries"] == entries
    benchmark.extra_info.update(
        entries=entries,
        parser=_parser(),
        traced_peak_mib=round(_traced_peak_mib(path), 1),
        rss_peak_mib=rss["rss_peak_mib"],
        rss_start_mib=rss["rss_start_mib"],
    )


@pytest.mark.benchmark(group="report")
def test_report_sqlite_100k(benchmark, history_file) -> None:
    _bench_report(benchmark, history_file, 100_000)


@pytest.mark.benchmark(group="report")
def test_report_sqlite_1m(benchmark, history_file) -> None:
    _bench_report(benchmark, history_file, LARGE)


@pytest.fixture
def standard_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows parsed by the standard library, as without the ``fast`` extra."""
    monkeypatch.setattr(_entries, "_load_row", _entries.scan_row)


@pytest.mark.benchmark(group="report")
@pytest.mark.usefixtures("standard_parser")
def test_report_sqlite_1m_stdlib(benchmark, history_file) -> None:
    entries = _size(benchmark, LARGE)
    with SQLiteStore(history_file(entries)) as store:
        reports = benchmark.pedantic(
            reports_by_run, args=(store,), rounds=REPORT_ROUNDS[LARGE], iterations=1
        )
    _check_report(reports, entries)
    benchmark.extra_info.update(entries=entries, parser=_parser())


def _parser() -> str:
    return "standard library" if _entries._load_row is _entries.scan_row else "orjson"


# The history group.


def _cursor_after(store: Store, customer_id: str, entries: int) -> str | None:
    """The cursor of the page that starts after the first ``entries``."""
    cursor = None
    while entries:
        page = store.history(customer_id, cursor=cursor, limit=min(entries, 1000))
        cursor, entries = page.next_cursor, entries - len(page.entries)
    return cursor


def _customer_history(size: int) -> list[ContactHistoryEntry]:
    """``PAGE_CUSTOMER``'s entries of a history of ``size``, in history
    order: by wrap-up end, then as written."""
    entries = [history_setup.entry(number, size) for number in range(0, size, 10)]
    return sorted(entries, key=lambda entry: entry.wrap_up_ended_at)


@pytest.mark.benchmark(group="history")
def test_history_page_sqlite(benchmark, history_file) -> None:
    _bench_sqlite_page(benchmark, history_file)


@pytest.mark.benchmark(group="history")
@pytest.mark.usefixtures("standard_parser")
def test_history_page_sqlite_stdlib(benchmark, history_file) -> None:
    _bench_sqlite_page(benchmark, history_file)


def _bench_sqlite_page(benchmark: Any, history_file: Callable[[int], Path]) -> None:
    size = _size(benchmark, 100_000)
    expected = _customer_history(size)
    assert {entry.customer_id for entry in expected} == {PAGE_CUSTOMER}
    with SQLiteStore(history_file(size)) as store:
        middle = len(expected) // 2
        page = benchmark.pedantic(
            store.history,
            args=(PAGE_CUSTOMER,),
            kwargs={"cursor": _cursor_after(store, PAGE_CUSTOMER, middle), "limit": 50},
            rounds=PAGE_ROUNDS,
            warmup_rounds=20,
        )
    assert list(page.entries) == expected[middle : middle + 50]
    assert page.next_cursor is not None
    benchmark.extra_info.update(
        customer_entries=len(expected), page=50, parser=_parser()
    )


def _bench_memory_page(benchmark: Any, size: int) -> None:
    entries = tuple(
        history_setup.entry(number, size, "cust-1") for number in range(size)
    )
    store = MemoryStore()
    store.save(Change("writer", 0, AgentState.new("writer"), history=entries))
    expected = sorted(entries, key=lambda entry: entry.wrap_up_ended_at)
    middle = max(0, size // 2 - 5)
    page = benchmark.pedantic(
        store.history,
        args=("cust-1",),
        kwargs={"cursor": _cursor_after(store, "cust-1", middle), "limit": 10},
        rounds=PAGE_ROUNDS,
        warmup_rounds=20,
    )
    assert list(page.entries) == expected[middle : middle + 10]
    benchmark.extra_info.update(customer_entries=size, page=10)


@pytest.mark.benchmark(group="history")
def test_history_page_memory_10(benchmark) -> None:
    _bench_memory_page(benchmark, 10)


@pytest.mark.benchmark(group="history")
def test_history_page_memory_100k(benchmark) -> None:
    _bench_memory_page(benchmark, 100_000 if not benchmark.disabled else 10_000)
