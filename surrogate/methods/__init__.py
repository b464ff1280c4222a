"""Registry of surrogate methods; a new baseline is one module and one line here."""

from __future__ import annotations

from slsim.simulators.config import ConfigError

from . import agm, ardm, biflow, mse, si, sl
from .base import Method

#: In the order of help texts and of the benchmark table: SL, the baselines, MSE.
METHODS: dict[str, Method] = {
    m.name: m for m in (sl.METHOD, ardm.METHOD, si.METHOD, biflow.METHOD, agm.METHOD, mse.METHOD)
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown method '{name}' (known: {', '.join(METHODS)})") from None


__all__ = ["METHODS", "Method", "get_method"]
