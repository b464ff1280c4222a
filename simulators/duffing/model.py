"""Stochastic Duffing oscillator, dx = v dt, dv = (a x − b x³ − γ v) dt + σ dW.

Integrated with the BAOAB splitting (Leimkuhler & Matthews 2013): half kick, half drift, an
exact Ornstein–Uhlenbeck update of v, half drift, half kick. One force evaluation per step,
like Euler–Maruyama, but stable for the cubic drift where Euler–Maruyama blows up and with
O(dt²) bias in the invariant measure (Leimkuhler & Matthews 2013; verified in the tests
against the exact stationary law p ∝ exp(−(2γ/σ²)(v²/2 + b x⁴/4 − a x²/2))).

Each trajectory draws its initial state from Philox stream 0 and its noise from stream 1,
keyed by its own seed (``counter_rng``), so the ensemble is identical for any thread or shard
count.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numba as nb
import numpy as np
from scipy import integrate

from ..config import param, require
from ..counter_rng import lane_scratch, normal_pair, normals_lanes, split_key
from ..system import Coordinate, SystemSpec, Variable

IC_STREAM = 0
NOISE_STREAM = 1


@dataclass(frozen=True)
class DuffingConfig:
    """Nondimensional Duffing SDE; defaults give a double well at x = ±1 with frequent hops."""

    a: float = param(1.0, "linear stiffness; a > 0 gives wells at ±sqrt(a/b)")
    b: float = param(1.0, "cubic stiffness (≥ 0)")
    gamma: float = param(0.5, "damping rate γ")
    sigma: float = param(0.7, "noise amplitude σ on the velocity")
    x0: float = param(1.0, "mean initial position (right well)")
    v0: float = param(0.0, "mean initial velocity")
    x0_std: float = param(0.1, "standard deviation of the initial position")
    v0_std: float = param(0.1, "standard deviation of the initial velocity")
    t_end: float = param(10.0, "final time")
    n_frames: int = param(101, "stored frames, including t = 0 (uniform in time)")
    dt: float = param(0.01, "BAOAB solver step; must divide the frame interval")

    @property
    def frame_interval(self) -> float:
        return self.t_end / (self.n_frames - 1)

    @property
    def steps_per_frame(self) -> int:
        return round(self.frame_interval / self.dt)

    def validate(self) -> None:
        require(self.b >= 0, f"b must be ≥ 0, got {self.b}")
        require(self.b > 0 or self.a < 0, "with b = 0 the potential is confining only for a < 0")
        require(self.gamma >= 0 and self.sigma >= 0, "gamma and sigma must be ≥ 0")
        require(self.x0_std >= 0 and self.v0_std >= 0, "initial standard deviations must be ≥ 0")
        require(self.t_end > 0, f"t_end must be > 0, got {self.t_end}")
        require(self.n_frames >= 2, f"n_frames must be ≥ 2, got {self.n_frames}")
        require(0 < self.dt <= self.frame_interval, "dt must be in (0, t_end / (n_frames - 1)]")
        ratio = self.frame_interval / self.dt
        require(
            abs(ratio - round(ratio)) < 1e-9 * ratio,
            f"dt = {self.dt} must divide the frame interval {self.frame_interval:g}",
        )


def ou_coefficients(gamma: float, sigma: float, dt: float) -> tuple[float, float]:
    """Exact OU update v ← c1 v + c2 ξ over dt (c2 → σ√dt as γ → 0)."""
    c1 = math.exp(-gamma * dt)
    c2 = (
        sigma * math.sqrt(dt)
        if gamma == 0
        else sigma * math.sqrt(-math.expm1(-2 * gamma * dt) / (2 * gamma))
    )
    return c1, c2


#: Trajectories advanced together by one thread; branch-free loops over them vectorise (AVX2).
LANES = 32


@nb.njit(parallel=True, cache=True)
def _baoab_kernel(seeds, x0, v0, x0_std, v0_std, a, b, dt, c1, c2, n_frames, steps_per_frame, out):
    """BAOAB for ``len(seeds)`` trajectories; trajectory i starts at N((x0[i], v0[i]), std²)."""
    n = seeds.shape[0]
    half = 0.5 * dt
    n_steps = (n_frames - 1) * steps_per_frame
    for block in nb.prange((n + LANES - 1) // LANES):
        start = block * LANES
        used = min(LANES, n - start)
        k0 = np.zeros(LANES, dtype=np.uint64)
        k1 = np.zeros(LANES, dtype=np.uint64)
        x = np.empty(LANES)
        v = np.empty(LANES)
        force = np.empty(LANES)
        slow = np.zeros(LANES, dtype=np.uint64)
        scratch = lane_scratch(LANES)
        xi = np.empty(4 * LANES)
        for j in range(LANES):  # lanes past the end run a dummy key and are not stored
            if j < used:
                k0[j], k1[j] = split_key(seeds[start + j])
            z0, z1 = normal_pair(k0[j], k1[j], IC_STREAM, 0)
            centre = start + min(j, used - 1)
            x[j] = x0[centre] + x0_std * z0
            v[j] = v0[centre] + v0_std * z1
            force[j] = a * x[j] - b * x[j] * x[j] * x[j]
        for j in range(used):
            out[start + j, 0, 0] = x[j]
            out[start + j, 0, 1] = v[j]
        for step in range(n_steps):
            q = step % 4
            if q == 0:
                normals_lanes(step // 4, NOISE_STREAM, k0, k1, slow, scratch, xi)
            for j in range(LANES):
                vj = v[j] + half * force[j]
                xj = x[j] + half * vj
                vj = c1 * vj + c2 * xi[q * LANES + j]
                xj += half * vj
                fj = a * xj - b * xj * xj * xj
                v[j] = vj + half * fj
                x[j] = xj
                force[j] = fj
            if (step + 1) % steps_per_frame == 0:
                frame = (step + 1) // steps_per_frame
                for j in range(used):
                    out[start + j, frame, 0] = x[j]
                    out[start + j, frame, 1] = v[j]


def simulate_states(
    config: DuffingConfig, seeds: np.ndarray, start: np.ndarray | None = None
) -> np.ndarray:
    """States ``(n, n_frames, 2)`` (x, v) in float64 for the given trajectory seeds.

    ``start`` ``(n, 2)``: begin each trajectory exactly at that state instead of drawing it
    around (x0, v0) (branching from stored states; see :func:`branch`).
    """
    c1, c2 = ou_coefficients(config.gamma, config.sigma, config.dt)
    n = len(seeds)
    out = np.empty((n, config.n_frames, 2))
    if start is None:
        centres, spread = np.tile([config.x0, config.v0], (n, 1)), (config.x0_std, config.v0_std)
    else:
        centres, spread = np.asarray(start, dtype=np.float64).reshape(n, 2), (0.0, 0.0)
    _baoab_kernel(
        np.ascontiguousarray(seeds, dtype=np.uint64),
        np.ascontiguousarray(centres[:, 0]),
        np.ascontiguousarray(centres[:, 1]),
        *spread,
        config.a,
        config.b,
        config.dt,
        c1,
        c2,
        config.n_frames,
        config.steps_per_frame,
        out,
    )
    return out


def simulate(config: DuffingConfig, seeds: np.ndarray) -> dict[str, np.ndarray]:
    return {"state": simulate_states(config, seeds).astype(np.float32)}


def branch(config: DuffingConfig, states: np.ndarray, frames: int, seeds: np.ndarray) -> np.ndarray:
    """Continue from each of ``states`` ``(n, 2)`` for ``frames`` frame intervals, one noise
    path per seed: ``(n, frames + 1, 2)`` float64, frame 0 the given state. The state (x, v) is
    complete, so these are exact draws of the conditional law the ensemble follows."""
    ahead = dataclasses.replace(
        config, n_frames=frames + 1, t_end=frames * config.frame_interval, x0_std=0.0, v0_std=0.0
    )
    return simulate_states(ahead, seeds, start=states)


def simulate_reference(
    config: DuffingConfig,
    x: np.ndarray,
    v: np.ndarray,
    draw_noise: Callable[[int], np.ndarray],
) -> np.ndarray:
    """The same BAOAB scheme vectorised over trajectories in plain NumPy.

    ``draw_noise(step)`` returns the standard normals of one step for all trajectories. Used
    to cross-check the Numba kernel and as the benchmark baseline.
    """
    c1, c2 = ou_coefficients(config.gamma, config.sigma, config.dt)
    half = 0.5 * config.dt
    x, v = np.array(x, dtype=float), np.array(v, dtype=float)
    out = np.empty((x.size, config.n_frames, 2))
    out[:, 0, 0], out[:, 0, 1] = x, v
    force = config.a * x - config.b * x * x * x
    step = 0
    for frame in range(1, config.n_frames):
        for _ in range(config.steps_per_frame):
            v += half * force
            x += half * v
            v = c1 * v + c2 * draw_noise(step)
            x += half * v
            force = config.a * x - config.b * x * x * x
            v += half * force
            step += 1
        out[:, frame, 0], out[:, frame, 1] = x, v
    return out


# --- exact stationary law -------------------------------------------------------------------


def thermal_energy(config: DuffingConfig) -> float:
    """kT = σ²/(2γ): the stationary variance of v."""
    return config.sigma**2 / (2 * config.gamma)


def _x_density_unnormalised(config: DuffingConfig) -> Callable[[float], float]:
    beta = 1.0 / thermal_energy(config)
    return lambda x: math.exp(-beta * (config.b * x**4 / 4 - config.a * x**2 / 2))


def stationary_moment(config: DuffingConfig, power: int) -> float:
    """E[x^power] under the exact stationary law (by quadrature)."""
    density = _x_density_unnormalised(config)
    norm = integrate.quad(density, -np.inf, np.inf)[0]
    return integrate.quad(lambda x: x**power * density(x), -np.inf, np.inf)[0] / norm


def stationary_x_cdf(config: DuffingConfig, x: np.ndarray) -> np.ndarray:
    """CDF of the stationary position marginal at points ``x``."""
    density = _x_density_unnormalised(config)
    grid = np.linspace(-8, 8, 20001)
    values = np.array([density(g) for g in grid])
    cdf = integrate.cumulative_trapezoid(values, grid, initial=0.0)
    return np.interp(x, grid, cdf / cdf[-1])


# --- registration ---------------------------------------------------------------------------


def coordinates(config: DuffingConfig) -> dict[str, Coordinate]:
    return {
        "time": Coordinate(np.linspace(0.0, config.t_end, config.n_frames), "1", "time"),
        "component": Coordinate(np.array(["x", "v"]), "", "state component (position, velocity)"),
    }


SYSTEM = SystemSpec(
    name="duffing",
    summary="Duffing SDE dx = v dt, dv = (a x − b x³ − γ v) dt + σ dW (BAOAB, Numba)",
    config_type=DuffingConfig,
    variables=(
        Variable("state", ("trajectory", "time", "component"), "1", "position x and velocity v"),
    ),
    state_variables=("state",),
    coordinates=coordinates,
    simulate=simulate,
    default_n_train=10_000,
    default_n_test=10_000,
    default_shard_size=10_000,
    markov_window=1,
    state_kind="vector",
    tiny_config={"t_end": 2.0, "n_frames": 21, "dt": 0.02},
    branch=branch,
)
