"""The contract between a simulator and the rest of slsim.

A system declares its configuration type, the variables it stores per trajectory (the
time-dependent state plus its random inputs), its coordinates, and a ``simulate`` function
that maps a batch of trajectory seeds to arrays. Generation, storage, training and comparison
are written once against this contract.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Variable:
    """One stored per-trajectory array; ``dims`` start with ``"trajectory"``."""

    name: str
    dims: tuple[str, ...]
    units: str
    long_name: str
    dtype: str = "float32"

    @property
    def time_varying(self) -> bool:
        return "time" in self.dims


@dataclass(frozen=True)
class Coordinate:
    """Values of one dimension, stored as an HDF5 dimension scale."""

    values: np.ndarray
    units: str
    long_name: str


@dataclass(frozen=True)
class SystemSpec:
    """Everything generic code needs to know about a stochastic system."""

    name: str
    summary: str
    config_type: type
    variables: tuple[Variable, ...]
    #: Names of the time-dependent variables a surrogate learns, in channel order.
    state_variables: tuple[str, ...]
    coordinates: Callable[[Any], dict[str, Coordinate]]
    #: ``simulate(config, seeds)`` returns one array per variable, leading axis = len(seeds).
    simulate: Callable[[Any, np.ndarray], dict[str, np.ndarray]]
    default_n_train: int
    default_n_test: int
    default_shard_size: int
    #: Markov window (number of past frames) a surrogate conditions on by default.
    markov_window: int
    #: Surrogate training settings this system needs (e.g. circular padding on a torus).
    training_defaults: Mapping[str, Any] = field(default_factory=dict)
    #: ``branch(config, states, frames, seeds)``: continue from stored states, one trajectory
    #: per seed — only for systems whose stored state is complete (the conditional-law check).
    branch: Callable[[Any, np.ndarray, int, np.ndarray], np.ndarray] | None = None

    def variable(self, name: str) -> Variable:
        for var in self.variables:
            if var.name == name:
                return var
        raise KeyError(name)

    @property
    def state_dims(self) -> dict[str, tuple[str, ...]]:
        """Dimensions of each state variable, in channel order."""
        return {name: self.variable(name).dims for name in self.state_variables}

    def shapes(self, config: Any, n: int) -> dict[str, tuple[int, ...]]:
        """Shape of every variable for ``n`` trajectories."""
        coords = self.coordinates(config)
        return {
            var.name: (n, *(len(coords[d].values) for d in var.dims[1:])) for var in self.variables
        }
