"""Report a SQLite file in a fresh process, and print how much memory the
process held: one JSON line with ``entries``, ``rss_start_mib`` (resident
size once the library is imported and the store open, before the report)
and ``rss_peak_mib`` (the process's peak resident size, the report
included). Run by ``test_history_reads.py``::

    python report_peak.py HISTORY.db
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

from webchat_wrapup.stores import SQLiteStore
from webchat_wrapup.tools.report import reports_by_run

MIB = 2**20


def peak_mib() -> float:
    """The process's peak resident size so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024  # bytes or KiB


def resident_mib() -> float:
    """The process's resident size now (its peak so far where /proc lacks)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return peak_mib()
    (line,) = [line for line in status.splitlines() if line.startswith("VmRSS")]
    return int(line.split()[1]) / 1024  # KiB


def main(path: str) -> None:
    with SQLiteStore(path) as store:
        start = resident_mib()
        reports = reports_by_run(store)
    figures = {
        "entries": sum(report.entries for report in reports.values()),
        "rss_start_mib": round(start, 1),
        "rss_peak_mib": round(peak_mib(), 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1])
