"""Plain SciPy IMPES, a direct transcription of listings 1 and 5–8 of Aarnes, Gimse & Lie (2007).

Every pressure step assembles the TPFA matrix with ``scipy.sparse`` and solves it with
``spsolve``; every transport substep multiplies the sparse upwind matrix by the fractional
flows, with one global CFL step (``Upstream``). It is the baseline of benchmarks/flow.py and
the cross-check of the fast solver (``impes.waterflood`` with ``time_stepping="global"``
runs the same scheme and agrees to round-off).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from .impes import Fluid, Waterflood, Wells
from .relperm import max_fractional_flow_slope


def _tpfa(k: np.ndarray, hx: float, hy: float, q: np.ndarray, pin_cell: int):
    """Listing 1: pressure (flat) and face fluxes (ny, nx+1), (ny+1, nx) for cell values k."""
    ny, nx = k.shape
    inv = 1.0 / k
    tx = np.zeros((ny, nx + 1))
    ty = np.zeros((ny + 1, nx))
    tx[:, 1:-1] = 2 * hy / hx / (inv[:, :-1] + inv[:, 1:])
    ty[1:-1, :] = 2 * hx / hy / (inv[:-1, :] + inv[1:, :])
    west, east = tx[:, :-1].ravel(), tx[:, 1:].ravel()
    north, south = ty[:-1, :].ravel(), ty[1:, :].ravel()
    diagonal = west + east + north + south
    diagonal[pin_cell] *= 2.0
    n = ny * nx
    # spdiags puts data[d, j] in column j: cell j's south face couples it to row j + nx, etc.
    data = np.array([-south, -east, diagonal, -west, -north])
    a = sp.spdiags(data, [-nx, -1, 0, 1, nx], n, n).tocsc()
    p = sla.spsolve(a, q)
    grid = p.reshape(ny, nx)
    fx = np.zeros((ny, nx + 1))
    fy = np.zeros((ny + 1, nx))
    fx[:, 1:-1] = tx[:, 1:-1] * (grid[:, :-1] - grid[:, 1:])
    fy[1:-1, :] = ty[1:-1, :] * (grid[:-1, :] - grid[1:, :])
    return p, fx, fy


def _upwind_matrix(fx: np.ndarray, fy: np.ndarray, q: np.ndarray) -> sp.csr_matrix:
    """Listing 7 (GenA): A with (A f)_i = net water inflow of cell i for fractional flows f."""
    ny, nx = fy.shape[0] - 1, fx.shape[1] - 1
    n = ny * nx
    xp, xn = np.maximum(fx, 0), np.minimum(fx, 0)
    yp, yn = np.maximum(fy, 0), np.minimum(fy, 0)
    diagonal = (
        np.minimum(q, 0)
        + (xn[:, :-1] - xp[:, 1:] + yn[:-1, :] - yp[1:, :]).ravel()
    )  # fmt: skip
    cells = np.arange(n).reshape(ny, nx)
    rows = [cells.ravel()]
    cols = [cells.ravel()]
    vals = [diagonal]
    # inflow through the west/east/north/south face from the neighbour on that side
    for sel_cell, sel_nb, value in (
        ((slice(None), slice(1, None)), (slice(None), slice(None, -1)), xp[:, 1:-1]),
        ((slice(None), slice(None, -1)), (slice(None), slice(1, None)), -xn[:, 1:-1]),
        ((slice(1, None), slice(None)), (slice(None, -1), slice(None)), yp[1:-1, :]),
        ((slice(None, -1), slice(None)), (slice(1, None), slice(None)), -yn[1:-1, :]),
    ):
        rows.append(cells[sel_cell].ravel())
        cols.append(cells[sel_nb].ravel())
        vals.append(value.ravel())
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )


def reference_waterflood(
    permeability: np.ndarray,
    spacing: tuple[float, float],
    porosity: float,
    fluid: Fluid,
    wells: Wells,
    frame_times: np.ndarray,
    cfl_safety: float = 1.5,
    pressure_steps_per_frame: int = 1,
) -> Waterflood:
    """Same contract as ``impes.waterflood`` with global CFL steps (listing 8's ``Upstream``)."""
    ny, nx = permeability.shape
    hx, hy = spacing
    n = ny * nx
    pv = porosity * hx * hy * fluid.mobile_range  # effective pore volume per cell
    slope_bound = max_fractional_flow_slope(fluid.viscosity_ratio) * cfl_safety
    q = np.zeros(n)
    q[wells.injector] += wells.rate
    q[wells.producer] -= wells.rate
    s = np.zeros(n)
    produced = 0.0
    n_frames = len(frame_times)
    out = Waterflood(
        saturation=np.empty((n_frames, ny, nx)),
        pressure=np.empty((n_frames, ny, nx)),
        injected=np.asarray(frame_times, dtype=float) * wells.rate,
        produced=np.empty(n_frames),
    )

    def pressure():
        mobility = s * s + (1 - s) ** 2 / fluid.viscosity_ratio
        return _tpfa(permeability * mobility.reshape(ny, nx), hx, hy, q, wells.producer)

    for k in range(n_frames):
        p, fx, fy = pressure()
        out.saturation[k] = (fluid.s_wc + fluid.mobile_range * s).reshape(ny, nx)
        out.pressure[k] = p.reshape(ny, nx)
        out.produced[k] = produced
        if k == n_frames - 1:
            break
        interval = (frame_times[k + 1] - frame_times[k]) / pressure_steps_per_frame
        for step in range(pressure_steps_per_frame):
            if step > 0:
                p, fx, fy = pressure()
            inflow = (
                np.maximum(fx[:, :-1], 0) - np.minimum(fx[:, 1:], 0)
                + np.maximum(fy[:-1, :], 0) - np.minimum(fy[1:, :], 0)
            ).ravel() + np.maximum(q, 0)  # fmt: skip
            substeps = max(1, math.ceil(interval * np.max(inflow) * slope_bound / pv * (1 - 1e-12)))
            dt = interval / substeps
            upwind = _upwind_matrix(fx, fy, q) * (dt / pv)
            injection = np.maximum(q, 0) * (dt / pv)
            for _ in range(substeps):
                water = s * s
                fw = water / (water + (1 - s) ** 2 / fluid.viscosity_ratio)
                produced += wells.rate * fw[wells.producer] * dt
                s = s + (upwind @ fw + injection)
    return out
