"""Print the transition benchmarks' medians and the ratios between them.

Usage::

    python tests/benchmarks/compare.py BENCH.json [--strict]

``BENCH.json`` is what ``pytest --benchmark-json=BENCH.json`` wrote. Each
ratio is marked PASS or FAIL against its target; the exit status is 2 when a
required benchmark is missing from the file, and, with ``--strict``, 1 when a
ratio misses its target. Standard library only.
"""

from __future__ import annotations

import json
import operator
import sys
from collections.abc import Callable
from pathlib import Path

REQUIRED = (
    "test_transition_baseline_handwritten",
    "test_transition_core",
    "test_transition_psm_send",
    "test_transition_transitions_trigger",
)

# (numerator, denominator, comparison, target)
RATIOS: tuple[tuple[str, str, str, float], ...] = (
    ("core", "baseline_handwritten", "<=", 1.5),
    ("psm_send", "core", ">=", 10.0),
    ("transitions_trigger", "core", ">=", 2.0),
)

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
}


def medians_us(path: Path) -> dict[str, float]:
    """Each benchmark's median in microseconds, by test name."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        bench["name"]: bench["stats"]["median"] * 1e6
        for bench in data.get("benchmarks", [])
    }


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--strict"]
    strict = len(args) != len(argv)
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    medians = medians_us(Path(args[0]))
    missing = [name for name in REQUIRED if name not in medians]
    for name in REQUIRED:
        shown = "MISSING" if name in missing else f"{medians[name]:10.3f} us"
        print(f"{name:40} {shown}")
    if missing:
        print(f"missing benchmarks: {', '.join(missing)}", file=sys.stderr)
        return 2
    print()
    failed = False
    for top, bottom, how, target in RATIOS:
        ratio = medians[f"test_transition_{top}"] / medians[f"test_transition_{bottom}"]
        ok = _COMPARE[how](ratio, target)
        failed = failed or not ok
        label = f"{top}/{bottom}"
        mark = "PASS" if ok else "FAIL"
        print(f"{label:40} {ratio:10.2f}   target {how} {target:<5g} {mark}")
    return 1 if strict and failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
