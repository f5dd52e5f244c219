"""Print the transition benchmarks' medians and the ratios between them.

Usage::

    python tests/benchmarks/compare.py BENCH.json [MORE.json ...] [--strict]

Each ``BENCH.json`` is what ``pytest --benchmark-json=BENCH.json`` wrote.
Given several files (several runs of the same suite), each benchmark's
lowest median across them is used: on a noisy machine a slow spell inflates
one run's median, never makes it faster. The ratios are computed from the
medians and marked PASS or FAIL against their targets; the ratios of the
minimums are shown for information. The exit status is 2 when a required
benchmark is missing and, with ``--strict``, 1 when a ratio misses its
target. Standard library only.
"""

from __future__ import annotations

import json
import operator
import sys
from pathlib import Path

PREFIX = "test_transition_"
REQUIRED = ("baseline_handwritten", "core", "psm_send", "transitions_trigger")

# numerator, denominator, comparison, target
RATIOS = (
    ("core", "baseline_handwritten", "<=", 1.5),
    ("psm_send", "core", ">=", 10.0),
    ("transitions_trigger", "core", ">=", 2.0),
)
COMPARE = {"<=": operator.le, ">=": operator.ge}


def read_stats(paths: list[Path]) -> dict[str, dict[str, float]]:
    """Median and minimum in microseconds by test name, the lowest over files."""
    stats: dict[str, dict[str, float]] = {}
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        for bench in data.get("benchmarks", []):
            best = stats.setdefault(bench["name"], {})
            for key in ("median", "min"):
                value = bench["stats"][key] * 1e6
                best[key] = min(best.get(key, value), value)
    return stats


def main(argv: list[str]) -> int:
    paths = [Path(arg) for arg in argv if arg != "--strict"]
    strict = "--strict" in argv
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    stats = read_stats(paths)
    missing = [short for short in REQUIRED if PREFIX + short not in stats]
    print(f"{'benchmark':40} {'median':>13} {'min':>13}")
    for short in REQUIRED:
        if short in missing:
            print(f"{PREFIX + short:40} {'MISSING':>13}")
        else:
            s = stats[PREFIX + short]
            print(f"{PREFIX + short:40} {s['median']:10.3f} us {s['min']:10.3f} us")
    if missing:
        names = ", ".join(PREFIX + short for short in missing)
        print(f"missing benchmarks: {names}", file=sys.stderr)
        return 2
    print(f"\n{'ratio of medians':40} {'ratio':>8}   target   result  (of mins)")
    failed = False
    for top, bottom, how, target in RATIOS:
        high, low = stats[PREFIX + top], stats[PREFIX + bottom]
        ratio = high["median"] / low["median"]
        ok = COMPARE[how](ratio, target)
        failed = failed or not ok
        verdict = "PASS" if ok else "FAIL"
        label = f"{top}/{bottom}"
        of_mins = high["min"] / low["min"]
        print(
            f"{label:40} {ratio:8.2f}   {how} {target:<5g} {verdict}    ({of_mins:.2f})"
        )
    return 1 if strict and failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
