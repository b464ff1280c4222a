"""IMPES waterflood: implicit TPFA pressure, explicit upwind saturation (Aarnes, Gimse & Lie 2007).

Incompressible, immiscible water and oil, no gravity or capillarity, quadratic relative
permeabilities, one injector (pure water) and one producer of equal rate. At every pressure
time the pressure is solved with the current total mobility; the saturation is then
transported with those fluxes, in CFL-limited substeps, to the next pressure time. Frames
are stored at given times, each with a fresh pressure solve, so frame k's pressure is the
one that drives the flow out of frame k.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .relperm import max_fractional_flow_slope, total_mobility
from .tpfa import PressureSolver, face_fluxes, transmissibilities
from .upwind import transport

TIME_STEPPING = ("local", "global")


@dataclass(frozen=True)
class Fluid:
    """Viscosity ratio M = μ_o/μ_w (μ_w is the unit of viscosity) and residual saturations."""

    viscosity_ratio: float
    s_wc: float = 0.0
    s_or: float = 0.0

    @property
    def mobile_range(self) -> float:
        return 1.0 - self.s_wc - self.s_or


@dataclass(frozen=True)
class Wells:
    """Flat (row-major) cell indices of the injector and producer and their common rate."""

    injector: int
    producer: int
    rate: float


@dataclass(frozen=True)
class Numerics:
    """Solver knobs; the defaults are the measured best (docs/flow.md)."""

    pressure_steps_per_frame: int = 1
    #: "local": local time stepping per cell; "global": one CFL step for all cells (listing 8).
    time_stepping: str = "local"
    #: max f' is multiplied by this; 1.5 reproduces listing 8's factor 3 for M = 1.
    cfl_safety: float = 1.5
    pressure_rtol: float = 1e-10
    refactor_after: int = 10


@dataclass
class Waterflood:
    """Frames of one run (float64) and the volumes and work behind them."""

    saturation: np.ndarray  # (T, ny, nx), physical water saturation s
    pressure: np.ndarray  # (T, ny, nx), p = 0 at the producer
    injected: np.ndarray  # (T,), cumulative water volume injected
    produced: np.ndarray  # (T,), cumulative water volume produced
    stats: dict[str, float] = field(default_factory=dict)


def waterflood(
    permeability: np.ndarray,
    spacing: tuple[float, float],
    porosity: float | np.ndarray,
    fluid: Fluid,
    wells: Wells,
    frame_times: np.ndarray,
    numerics: Numerics = Numerics(),
) -> Waterflood:
    """Run IMPES from s = s_wc everywhere and return the frames at ``frame_times`` (from 0).

    ``porosity`` is a number or an (ny, nx) array; ``frame_times`` are physical times.
    """
    if numerics.time_stepping not in TIME_STEPPING:
        raise ValueError(f"time_stepping must be one of {TIME_STEPPING}")
    ny, nx = permeability.shape
    hx, hy = spacing
    pore_volume = np.broadcast_to(np.asarray(porosity) * hx * hy * fluid.mobile_range, (ny, nx))
    pore_volume = pore_volume.ravel().copy()  # effective: (1 − s_wc − s_or) φ |Ω_i|
    slope_bound = max_fractional_flow_slope(fluid.viscosity_ratio) * numerics.cfl_safety
    local = numerics.time_stepping == "local"
    rhs = np.zeros(ny * nx)
    rhs[wells.injector] += wells.rate
    rhs[wells.producer] -= wells.rate
    solver = PressureSolver(
        (ny, nx), wells.producer, numerics.pressure_rtol, numerics.refactor_after
    )

    n_frames = len(frame_times)
    out = Waterflood(
        saturation=np.empty((n_frames, ny, nx)),
        pressure=np.empty((n_frames, ny, nx)),
        injected=np.asarray(frame_times, dtype=float) * wells.rate,
        produced=np.empty(n_frames),
    )
    s = np.zeros(ny * nx)  # normalised saturation
    p = np.zeros(ny * nx)
    produced = 0.0
    work = {"cell_updates": 0, "substeps": 0, "pressure_seconds": 0.0, "transport_seconds": 0.0}

    def solve_pressure() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        start = time.perf_counter()
        mobility = permeability * total_mobility(s, fluid.viscosity_ratio).reshape(ny, nx)
        tx, ty = transmissibilities(mobility, hx, hy)
        pressure = solver.solve(tx, ty, rhs, p)
        work["pressure_seconds"] += time.perf_counter() - start
        return pressure, tx, ty

    for k in range(n_frames):
        p, tx, ty = solve_pressure()
        out.saturation[k] = (fluid.s_wc + fluid.mobile_range * s).reshape(ny, nx)
        out.pressure[k] = p.reshape(ny, nx)
        out.produced[k] = produced
        if k == n_frames - 1:
            break
        interval = (frame_times[k + 1] - frame_times[k]) / numerics.pressure_steps_per_frame
        for step in range(numerics.pressure_steps_per_frame):
            if step > 0:
                p, tx, ty = solve_pressure()
            start = time.perf_counter()
            fx, fy = face_fluxes(p.reshape(ny, nx), tx, ty)
            water, updates, substeps = transport(
                s, fx, fy, pore_volume, wells.injector, wells.producer, wells.rate,
                fluid.viscosity_ratio, slope_bound, interval, local,
            )  # fmt: skip
            produced += water
            work["cell_updates"] += updates
            work["substeps"] += substeps
            work["transport_seconds"] += time.perf_counter() - start
    out.stats = {
        **work,
        "pressure_solves": solver.solves,
        "cg_iterations": solver.iterations,
        "factorizations": solver.factorizations,
    }
    return out
