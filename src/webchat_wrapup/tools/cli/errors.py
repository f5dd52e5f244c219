"""The command line's own error: bad input, reported in one line."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input on the command line: reported in one line, exit status 2."""
