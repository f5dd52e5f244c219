"""``python -m webchat_wrapup``: the command line."""

from __future__ import annotations

import sys


def main() -> int:
    """Run the command line with the process's arguments."""
    from .tools.cli.main import main as run

    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
