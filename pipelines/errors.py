"""User-facing errors: the CLI prints them as one line and exits non-zero, without a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: a missing or malformed file, a refused overwrite, a bad value."""
