"""Numba solvers for stochastic physical systems and their registry.

``get_system(name)`` returns a :class:`SystemSpec`; ``spec.simulate(config, seeds)`` runs a
batch of trajectories. File I/O lives in :mod:`slsim.pipelines`.
"""

from .config import ConfigError, build_config
from .registry import SYSTEMS, get_system
from .seeding import trajectory_seeds
from .system import SystemSpec

__all__ = ["SYSTEMS", "ConfigError", "SystemSpec", "build_config", "get_system", "trajectory_seeds"]
