"""User-facing errors: the CLI prints them as one line and exits non-zero, without a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: a missing or malformed file, a refused overwrite, a bad value."""


def require_positive(name: str, value: int | None) -> None:
    """Refuse a count given as ``name`` (an option) that is not positive; None is a default."""
    if value is not None and value <= 0:
        raise UserError(f"{name} must be a positive integer, got {value}")
