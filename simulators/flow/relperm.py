"""Quadratic relative permeabilities and the fractional flow of water (Aarnes, Gimse & Lie 2007).

Saturations here are *normalised*: S = (s − s_wc) / (1 − s_wc − s_or) ∈ [0, 1]. Mobilities are in
units of 1/μ_w, so only the viscosity ratio M = μ_o/μ_w enters:

    λ_w = S²,   λ_o = (1 − S)² / M,   f = λ_w / (λ_w + λ_o).

The jitted functions also accept NumPy arrays (element-wise).
"""

from __future__ import annotations

import numba as nb
import numpy as np
from scipy import optimize


@nb.njit(nogil=True, cache=True, error_model="numpy")
def total_mobility(s, viscosity_ratio):
    """λ_w + λ_o in units of 1/μ_w."""
    return s * s + (1.0 - s) * (1.0 - s) / viscosity_ratio


@nb.njit(nogil=True, cache=True, error_model="numpy")
def fractional_flow(s, inverse_viscosity_ratio):
    """Fraction of the total flux carried by water, f(S) = λ_w / (λ_w + λ_o).

    Takes 1/M (= μ_w/μ_o) so that the transport's hot loop pays one division, not two.
    """
    water = s * s
    return water / (water + (1.0 - s) * (1.0 - s) * inverse_viscosity_ratio)


def fractional_flow_slope(s: np.ndarray | float, viscosity_ratio: float) -> np.ndarray | float:
    """df/dS, exact: 2 S (1 − S) / M / (S² + (1 − S)²/M)²."""
    s = np.asarray(s, dtype=float)
    total = s * s + (1 - s) ** 2 / viscosity_ratio
    return 2 * s * (1 - s) / viscosity_ratio / total**2


def max_fractional_flow_slope(viscosity_ratio: float) -> float:
    """max over S ∈ [0, 1] of f'(S), found numerically.

    f' is unimodal for quadratic relative permeabilities; a 1001-point scan brackets the peak
    and a bounded scalar search refines it (the scan alone is accurate to ~1e-6 relative).
    """
    grid = np.linspace(0.0, 1.0, 1001)
    slopes = fractional_flow_slope(grid, viscosity_ratio)
    k = int(np.argmax(slopes))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    best = optimize.minimize_scalar(
        lambda s: -fractional_flow_slope(s, viscosity_ratio),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-12},
    )
    return float(max(slopes[k], -best.fun))
