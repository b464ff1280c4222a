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

STATE_KINDS = ("vector", "field")


def landmark_cell(position: tuple[float, float], shape: tuple[int, int]) -> tuple[int, int]:
    """The (row, column) cell of a grid of ``shape`` at fractional ``position``."""
    return tuple(round(f * (n - 1)) for f, n in zip(position, shape, strict=True))


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
    #: ``vector`` (a few numbers per frame: an MLP) or ``field`` (gridded frames: a UNet).
    state_kind: str
    #: Surrogate training settings this system needs (e.g. circular padding on a torus).
    training_defaults: Mapping[str, Any] = field(default_factory=dict)
    #: ``branch(config, states, frames, seeds)``: continue from stored states, one trajectory
    #: per seed — only for systems whose stored state is complete (the conditional-law check).
    branch: Callable[[Any, np.ndarray, int, np.ndarray], np.ndarray] | None = None
    #: Named places of the domain as (row, column) fractions in [0, 1], row 0 at the top (e.g.
    #: the flow system's wells), for QoIs that look there.
    landmarks: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    #: Overrides giving a configuration that simulates in about a second: the registry-wide
    #: contract tests (tests/test_systems.py) run every system with it.
    tiny_config: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state_kind not in STATE_KINDS:
            raise ValueError(f"state_kind must be one of {STATE_KINDS}, got {self.state_kind!r}")

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
