"""Two-phase (water/oil) Darcy flow in a random porous medium: a quarter five-spot waterflood.

The unit square is cut into n × n cells; arrays are (y, x) with row 0 at the *top*: the y
coordinate of row i is 1 − (i + ½)/n, so ``imshow`` and xarray plots agree. Water is injected
at the top-left cell (row 0, column 0) and fluid produced at the bottom-right cell at the same
rate; initially s = s_wc everywhere. The permeability is K = exp(g), g = μ + g₁ + g₂ with two
independent Matérn fields (``matern``), drawn from ``trajectory_rng(seed)`` alone. Time is
measured in pore volumes injected (PVI); with constant porosity the saturation as a function of
PVI does not depend on the porosity or the rate, which only convert PVI to physical time and
scale the pressure. Numerics (IMPES, TPFA, upwind with local time stepping): ``impes``;
choices and measurements: docs/flow.md.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from ..config import ConfigError, param, require
from ..seeding import trajectory_rng
from ..system import Coordinate, SystemSpec, Variable, landmark_cell
from .impes import TIME_STEPPING, Fluid, Numerics, Waterflood, Wells, waterflood
from .matern import CirculantEmbedding, MaternComponent, circulant_embedding


@dataclass(frozen=True)
class FlowConfig:
    """Quarter five-spot waterflood in a log-normal Matérn permeability field."""

    n_cells: int = param(96, "grid cells per side of the unit square")
    porosity: float = param(0.2, "porosity φ (constant)")
    viscosity_ratio: float = param(5.0, "oil/water viscosity ratio μ_o/μ_w (> 1: adverse)")
    s_wc: float = param(0.0, "connate (irreducible) water saturation; also the initial one")
    s_or: float = param(0.0, "residual oil saturation")
    injection_rate: float = param(1.0, "water injection (= production) rate", "area/time")
    t_end: float = param(0.7, "end time", "PVI")
    n_frames: int = param(51, "stored frames, including t = 0 (uniform in PVI)")
    coarsen: int = param(
        1, "store means over coarsen × coarsen blocks of cells (96 / 3 = 32² stored; 1: every cell)"
    )
    log_k_mean: float = param(0.0, "mean μ of ln K")
    sigma_1: float = param(1.0, "field 1: standard deviation of ln K")
    length_1: float = param(0.2, "field 1: correlation length ℓ (Rasmussen–Williams)", "L")
    nu_1: float = param(1.5, "field 1: Matérn smoothness ν")
    nugget_1: float = param(0.0, "field 1: nugget, variance of an uncorrelated part")
    sigma_2: float = param(0.5, "field 2: standard deviation of ln K")
    length_2: float = param(0.05, "field 2: correlation length ℓ", "L")
    nu_2: float = param(0.5, "field 2: Matérn smoothness ν")
    nugget_2: float = param(0.0, "field 2: nugget, variance of an uncorrelated part")
    pressure_steps_per_frame: int = param(1, "pressure solves per frame interval")
    time_stepping: str = param("local", "transport CFL steps: local (per cell) or global")
    cfl_safety: float = param(1.5, "max f' is multiplied by this in the CFL limit (≥ 1)")
    pressure_rtol: float = param(1e-8, "relative residual at which pressure CG stops")
    refactor_after: int = param(10, "refactorise after a pressure solve needing more CG steps")

    @property
    def spacing(self) -> float:
        return 1.0 / self.n_cells

    @property
    def components(self) -> tuple[MaternComponent, ...]:
        return (
            MaternComponent(self.sigma_1, self.length_1, self.nu_1, self.nugget_1),
            MaternComponent(self.sigma_2, self.length_2, self.nu_2, self.nugget_2),
        )

    @property
    def fluid(self) -> Fluid:
        return Fluid(self.viscosity_ratio, self.s_wc, self.s_or)

    @property
    def numerics(self) -> Numerics:
        return Numerics(
            pressure_steps_per_frame=self.pressure_steps_per_frame,
            time_stepping=self.time_stepping,
            cfl_safety=self.cfl_safety,
            pressure_rtol=self.pressure_rtol,
            refactor_after=self.refactor_after,
        )

    def validate(self) -> None:
        require(self.n_cells >= 2, f"n_cells must be ≥ 2, got {self.n_cells}")
        require(0 < self.porosity <= 1, f"porosity must be in (0, 1], got {self.porosity}")
        require(
            self.viscosity_ratio > 0, f"viscosity_ratio must be > 0, got {self.viscosity_ratio}"
        )
        require(
            self.s_wc >= 0 and self.s_or >= 0 and self.s_wc + self.s_or < 1,
            f"need s_wc, s_or ≥ 0 and s_wc + s_or < 1, got {self.s_wc}, {self.s_or}",
        )
        require(self.injection_rate > 0, f"injection_rate must be > 0, got {self.injection_rate}")
        require(self.t_end > 0, f"t_end must be > 0, got {self.t_end}")
        require(self.n_frames >= 2, f"n_frames must be ≥ 2, got {self.n_frames}")
        require(
            self.coarsen >= 1 and self.n_cells % self.coarsen == 0,
            f"coarsen must be a divisor of n_cells = {self.n_cells}, got {self.coarsen}",
        )
        for k, c in enumerate(self.components, start=1):
            require(c.sigma >= 0, f"sigma_{k} must be ≥ 0, got {c.sigma}")
            require(c.length > 0, f"length_{k} must be > 0, got {c.length}")
            require(c.nu > 0, f"nu_{k} must be > 0, got {c.nu}")
            require(c.nugget >= 0, f"nugget_{k} must be ≥ 0 (a variance), got {c.nugget}")
        require(
            self.pressure_steps_per_frame >= 1,
            f"pressure_steps_per_frame must be ≥ 1, got {self.pressure_steps_per_frame}",
        )
        require(
            self.time_stepping in TIME_STEPPING,
            f"time_stepping must be one of {', '.join(TIME_STEPPING)}, got {self.time_stepping!r}",
        )
        require(self.cfl_safety >= 1, f"cfl_safety must be ≥ 1, got {self.cfl_safety}")
        require(
            0 < self.pressure_rtol <= 1e-4,
            f"pressure_rtol must be in (0, 1e-4], got {self.pressure_rtol}",
        )
        require(self.refactor_after >= 0, f"refactor_after must be ≥ 0, got {self.refactor_after}")
        try:
            embedding(self)
        except ValueError as err:
            raise ConfigError(str(err)) from None


def embedding(config: FlowConfig) -> CirculantEmbedding:
    """The (cached) exact sampler of the zero-mean part of ln K on the grid."""
    h = config.spacing
    return circulant_embedding((config.n_cells, config.n_cells), (h, h), config.components)


def log_permeability(config: FlowConfig, seed: int) -> np.ndarray:
    """ln K (n, n) of trajectory ``seed``, float64: regenerates the stored field exactly."""
    return config.log_k_mean + embedding(config).sample(trajectory_rng(seed))


#: The quarter five-spot: injector at the top-left cell, producer at the bottom-right one, as
#: (row, column) fractions of the domain (``SystemSpec.landmarks``, used by the QoIs too).
WELLS = {"injector": (0.0, 0.0), "producer": (1.0, 1.0)}


def flat_index(position: tuple[float, float], n: int) -> int:
    """Row-major index of the cell at fractional ``position`` of an ``n × n`` grid."""
    row, column = landmark_cell(position, (n, n))
    return row * n + column


def run_trajectory(config: FlowConfig, log_k: np.ndarray) -> Waterflood:
    """The waterflood through ln K in float64, with the injected/produced volumes and solver
    statistics."""
    n = config.n_cells
    pore_volume_per_pvi = config.porosity / config.injection_rate  # time to inject one PV
    frames = np.linspace(0.0, config.t_end, config.n_frames) * pore_volume_per_pvi
    return waterflood(
        np.exp(log_k),
        (config.spacing, config.spacing),
        config.porosity,
        config.fluid,
        Wells(
            injector=flat_index(WELLS["injector"], n),
            producer=flat_index(WELLS["producer"], n),
            rate=config.injection_rate,
        ),
        frames,
        config.numerics,
    )


def block_mean(field: np.ndarray, block: int) -> np.ndarray:
    """Means over ``block × block`` cells of the last two axes (cell averages on a coarser grid).

    The mean saturation of a block is the water volume in it over its pore volume, so
    water in place and any block-aligned region's saturation are the same as on the fine grid.
    """
    if block == 1:
        return field
    *lead, ny, nx = field.shape
    return field.reshape(*lead, ny // block, block, nx // block, block).mean(axis=(-3, -1))


def simulate(config: FlowConfig, seeds: np.ndarray) -> dict[str, np.ndarray]:
    """Saturation and pressure (n, T, ny, nx) and ln K (n, ny, nx), float32, stored on the
    ``n_cells / coarsen`` grid (block means; the solver always runs on ``n_cells``²).

    Trajectories run on ``numba.get_num_threads()`` Python threads (the solvers release the
    GIL); each depends on its own seed only, so the output does not depend on the threads.
    """
    seeds = np.asarray(seeds, dtype=np.uint64)
    n, frames, block = config.n_cells // config.coarsen, config.n_frames, config.coarsen
    out = {
        "saturation": np.empty((seeds.size, frames, n, n), dtype=np.float32),
        "pressure": np.empty((seeds.size, frames, n, n), dtype=np.float32),
        "log_permeability": np.empty((seeds.size, n, n), dtype=np.float32),
    }

    def run(i: int) -> None:
        log_k = log_permeability(config, int(seeds[i]))
        result = run_trajectory(config, log_k)
        out["saturation"][i] = block_mean(result.saturation, block)
        out["pressure"][i] = block_mean(result.pressure, block)
        out["log_permeability"][i] = block_mean(log_k, block)

    workers = min(numba.get_num_threads(), seeds.size)
    if workers <= 1:
        for i in range(seeds.size):
            run(i)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, range(seeds.size)))
    return out


def coordinates(config: FlowConfig) -> dict[str, Coordinate]:
    stored = config.n_cells // config.coarsen
    centres = (np.arange(stored) + 0.5) / stored
    return {
        "time": Coordinate(
            np.linspace(0.0, config.t_end, config.n_frames), "PVI", "pore volumes injected"
        ),
        "x": Coordinate(centres, "1", "cell-centre x on the unit square (left to right)"),
        "y": Coordinate(1.0 - centres, "1", "cell-centre y on the unit square (row 0 at the top)"),
    }


SYSTEM = SystemSpec(
    name="flow",
    summary="two-phase Darcy flow, quarter five-spot in a Matérn log-normal medium (IMPES)",
    config_type=FlowConfig,
    variables=(
        Variable("saturation", ("trajectory", "time", "y", "x"), "1", "water saturation s"),
        Variable(
            "pressure",
            ("trajectory", "time", "y", "x"),
            "mu_w q / K0",
            "pressure relative to the producer (μ_w = 1, unit permeability K0 and depth)",
        ),
        Variable(
            "log_permeability",
            ("trajectory", "y", "x"),
            "1",
            "natural log of the permeability K / K0",
        ),
    ),
    state_variables=("saturation",),
    coordinates=coordinates,
    simulate=simulate,
    default_n_train=1000,
    default_n_test=512,
    default_shard_size=50,
    markov_window=3,
    state_kind="field",
    tiny_config={"n_cells": 16, "n_frames": 6},
    landmarks=WELLS,
    # the wells sit at fixed corners of a bounded domain: the network must know where it is
    training_defaults={"coordinate_channels": True},
)
