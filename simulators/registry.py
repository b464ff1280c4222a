"""Registry of stochastic systems: adding a system is one module plus one line here."""

from __future__ import annotations

from . import duffing, flow, wave
from .config import ConfigError
from .system import SystemSpec

SYSTEMS: dict[str, SystemSpec] = {
    duffing.SYSTEM.name: duffing.SYSTEM,
    flow.SYSTEM.name: flow.SYSTEM,
    wave.SYSTEM.name: wave.SYSTEM,
}


def get_system(name: str) -> SystemSpec:
    """The system called ``name``, or a :class:`ConfigError` listing the known ones."""
    try:
        return SYSTEMS[name]
    except KeyError:
        raise ConfigError(
            f"unknown system '{name}' (known: {', '.join(sorted(SYSTEMS))})"
        ) from None
