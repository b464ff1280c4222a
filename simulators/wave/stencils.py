"""Symmetric finite-difference stencils for the second derivative, their symbols and CFL limits.

A stencil of half-width p approximates h² u'' ≈ a₀ u_j + Σ_{m=1..p} a_m (u_{j+m} + u_{j−m}).
Its symbol (the eigenvalue of −h² d²/dx² on e^{ijθ}) is σ(θ) = Σ a_m · 2(1 − cos mθ), ideally θ².

* ``fd2`` … ``fd12``: the maximal-order Taylor stencils (order 2p).
* ``drp13``: a 13-point stencil, formally 8th order, whose two remaining degrees of freedom
  minimise the relative symbol error over θ ∈ [0, 0.8π] in least squares (a
  dispersion-relation-preserving design in the spirit of Tam & Webb 1993). Waves that enter slow
  regions of a random medium shorten until they carry energy beyond half the Nyquist wavenumber;
  there it is several times more accurate than the Taylor stencils of the same width, which is
  what brings finite differences within the 10⁻² bar of the spectral solution (docs/wave.md).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

#: Largest half-width; kernels are compiled for it and smaller stencils are zero-padded.
MAX_HALF_WIDTH = 6


def taylor_coefficients(order: int) -> np.ndarray:
    """Coefficients ``[a₀, a₁, …, a_p]`` of the order-``order`` central stencil (order = 2p)."""
    if order % 2 or not 2 <= order <= 2 * MAX_HALF_WIDTH:
        raise ValueError(f"order must be even and in [2, {2 * MAX_HALF_WIDTH}], got {order}")
    p = order // 2
    # Σ_m a_m m^{2j} = δ_{j1} for j = 1..p makes the error O(h^{2p})
    moments = np.array([[m ** (2 * j) for m in range(1, p + 1)] for j in range(1, p + 1)], float)
    rhs = np.zeros(p)
    rhs[0] = 1.0
    a = np.linalg.solve(moments, rhs)
    return np.concatenate([[-2 * a.sum()], a])


def optimized_coefficients(half_width: int, theta_max: float, formal_order: int = 4) -> np.ndarray:
    """Least-squares-optimal relative symbol on (0, theta_max], exact to ``formal_order``."""
    theta = np.linspace(theta_max / 600, theta_max, 600)
    m = np.arange(1, half_width + 1)
    basis = 2 * (1 - np.cos(np.outer(theta, m))) / theta[:, None] ** 2
    constraints = np.array([m ** (2 * j) for j in range(1, formal_order // 2 + 1)], float)
    rhs = np.zeros(len(constraints))
    rhs[0] = 1.0
    k = len(constraints)
    kkt = np.block([[basis.T @ basis, constraints.T], [constraints, np.zeros((k, k))]])
    a = np.linalg.solve(kkt, np.concatenate([basis.T @ np.ones_like(theta), rhs]))[:half_width]
    return np.concatenate([[-2 * a.sum()], a])


_FORMAL_ORDER = {f"fd{o}": o for o in range(2, 2 * MAX_HALF_WIDTH + 1, 2)} | {"drp13": 8}
STENCILS = tuple(_FORMAL_ORDER)


@cache
def stencil(name: str) -> np.ndarray:
    """Coefficients of a named stencil, zero-padded to length ``MAX_HALF_WIDTH + 1``."""
    if name not in _FORMAL_ORDER:
        raise ValueError(f"unknown stencil '{name}' (known: {', '.join(STENCILS)})")
    if name == "drp13":
        a = optimized_coefficients(6, 0.8 * math.pi, formal_order=8)
    else:
        a = taylor_coefficients(_FORMAL_ORDER[name])
    padded = np.zeros(MAX_HALF_WIDTH + 1)
    padded[: a.size] = a
    return padded


def formal_order(name: str) -> int:
    return _FORMAL_ORDER[name]


def symbol(coefficients: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """σ(θ) = Σ a_m 2(1 − cos mθ): eigenvalue of −h² D² (ideal: θ²)."""
    theta = np.asarray(theta, dtype=float)
    m = np.arange(1, coefficients.size)
    return (2 * (1 - np.cos(np.multiply.outer(theta, m))) * coefficients[1:]).sum(axis=-1)


def max_symbol(coefficients: np.ndarray) -> float:
    """max over θ ∈ [0, π] of σ(θ); negative values anywhere would make the scheme unstable."""
    return float(symbol(coefficients, np.linspace(0, math.pi, 4097)).max())


def max_stable_courant(coefficients: np.ndarray, dims: int = 2) -> float:
    """Largest c·dt/h for which leapfrog on this stencil is stable in ``dims`` dimensions.

    Leapfrog is stable iff dt²·c²·λ_max ≤ 4, with λ_max = dims · max σ / h².
    """
    return 2.0 / math.sqrt(dims * max_symbol(coefficients))
