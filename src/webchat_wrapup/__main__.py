"""``python -m webchat_wrapup``: the command line."""

from __future__ import annotations

import os
import sys


def main() -> int:
    """Run the command line with the process's arguments."""
    from .tools.cli.main import main as run

    try:
        try:
            return run(sys.argv[1:])
        finally:
            # Output to a pipe is buffered: flush here (after --help too),
            # where a reader that left early (``| head``) can be handled,
            # not at interpreter exit.
            sys.stdout.flush()
    except BrokenPipeError:
        # Python's documented recipe: point stdout at devnull so the final
        # flush at exit cannot fail again, and leave without a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
