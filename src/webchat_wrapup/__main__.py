"""``python -m webchat_wrapup``: the command line."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the command line; prints the seed walk-through for now."""
    from .cli import demo

    demo.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
