"""Explicit first-order upwind transport of water for a fixed total-flux field, with CFL substeps.

One call advances the normalised saturation S over one pressure interval:

    pv_i dS_i/dt = Σ_{in} F f(S_upwind) − Σ_{out} F f(S_i) + Q_in − Q_out f(S_i)

where pv_i is the *effective* pore volume φ|Ω_i|(1 − s_wc − s_or), F ≥ 0 the face fluxes and
f the fractional flow. With the face flux written once per face (added to one cell, subtracted
from the other) the scheme conserves water to round-off whatever the step sizes.

Stability (the monotone-scheme argument of LeVeque, *Finite Volume Methods for Hyperbolic
Problems*, 2002, ch. 6): cell i's update is a convex combination of old values when
dt_i ≤ pv_i / ((inflow_i + Q_in,i) · L), with L = max f' times a safety factor. Two policies:

* ``global`` — one step size for every cell, the smallest dt_i (listing 8 of Aarnes et al.).
  Near a single-cell well dt_i ∝ h², so the substep count grows like N² ("point-source trap").
* ``local`` — local time stepping (Osher & Sanders 1983): cell i takes steps of
  Δ / 2^level_i with the smallest level that satisfies its own limit. A face is evaluated at
  the rate of its finer cell, with the coarser cell's value frozen over its own step, and the
  same flux is added to one cell and taken from the other, so the scheme stays conservative,
  monotone and bound-preserving (the convex-combination argument holds cell by cell). The work
  falls from N² steps × N² cells to ~Σ_i 1/dt_i ∝ N³.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .relperm import fractional_flow

_MAX_LEVEL = 40
#: Relative costs of a cell in a dense pass (gather + update, vectorised; ~3 ns), a cell update
#: from a level list (~12 ns) and one fine substep's overhead, measured at 96² on dev-2c. The
#: interval time is flat within ±5 % for sparse costs 3–6 and step costs 5–80.
_DENSE_COST = 1.0
_SPARSE_COST = 4.0
_STEP_COST = 20.0
_BINS_PER_OCTAVE = 8


@nb.njit(nogil=True, cache=True)
def _ceil_log2(x):
    """Smallest integer k ≥ 0 with 2**k ≥ x."""
    if x <= 1.0:
        return 0
    mantissa, exponent = math.frexp(x)  # x = mantissa · 2**exponent, mantissa ∈ [0.5, 1)
    return exponent - 1 if mantissa == 0.5 else exponent


@nb.njit(nogil=True, cache=True)
def _trailing_zeros(m):
    count = 0
    while m & 1 == 0:
        m >>= 1
        count += 1
    return count


@nb.njit(nogil=True, cache=True)
def _bucket(levels, n_levels):
    """Counting sort of indices by level: (order, start), level k at order[start[k]:start[k+1]]."""
    start = np.zeros(n_levels + 1, dtype=np.int64)
    for lv in levels:
        start[lv + 1] += 1
    for k in range(n_levels):
        start[k + 1] += start[k]
    fill = start[:-1].copy()
    order = np.empty(levels.size, dtype=np.int64)
    for i in range(levels.size):
        order[fill[levels[i]]] = i
        fill[levels[i]] += 1
    return order, start


@nb.njit(nogil=True, cache=True)
def _level_cost(bins, n_macro, n_cells):
    """Modelled work of one interval in ``n_macro`` macro steps (see the cost constants)."""
    sparse = 0.0
    top = 0
    for b in range(bins.size):
        if bins[b] > 0:
            # upper edge of bin b is 2^((b+1)/BINS_PER_OCTAVE) steps per interval
            level = _ceil_log2(2.0 ** ((b + 1) / _BINS_PER_OCTAVE) / n_macro)
            sparse += bins[b] * (2.0**level - 1.0)
            top = max(top, level)
    return n_macro * (n_cells * _DENSE_COST + sparse * _SPARSE_COST + 2.0**top * _STEP_COST)


@nb.njit(nogil=True, cache=True)
def _levels(x, local):
    """Macro-step count and per-cell levels for cells that need ``x`` steps per interval.

    The local policy picks the macro step by a cost model: a macro step costs one dense pass
    over all cells, and a cell at level l adds 2^l − 1 sparse updates per macro step.
    """
    n = x.size
    levels = np.zeros(n, dtype=np.int64)
    most = np.max(x)
    # ceil, nudged so that round-off cannot add a step (as patnr/TPFA-ResSim does)
    n_global = max(1, math.ceil(most * (1.0 - 1e-12)))
    if not local:
        return n_global, levels
    bins = np.zeros(_BINS_PER_OCTAVE * (_MAX_LEVEL + 2))
    for c in range(n):
        if x[c] > 1.0:
            bins[min(int(_BINS_PER_OCTAVE * math.log2(x[c])), bins.size - 1)] += 1.0
    n_macro = n_global  # every cell at level 0: the global policy
    best = _level_cost(bins, n_macro, n)
    candidate = 1.0
    while candidate < n_global:
        cost = _level_cost(bins, math.ceil(candidate), n)
        if cost < best:
            best, n_macro = cost, math.ceil(candidate)
        candidate *= 2.0 ** (1.0 / _BINS_PER_OCTAVE)
    for c in range(n):
        levels[c] = _ceil_log2(x[c] / n_macro)
    return n_macro, levels


@nb.njit(nogil=True, cache=True, error_model="numpy")
def _gather_all(ny, nx, west, east, north, south, source, outflow, fw, increment):
    """increment = one step's scaled net water inflow of every cell (dense, vectorised)."""
    width = nx + 2
    for i in range(ny):
        row, base = i * nx, (i + 1) * width + 1
        for j in range(nx):
            c, p = row + j, base + j
            increment[c] = (
                west[c] * fw[p - 1]
                + east[c] * fw[p + 1]
                + north[c] * fw[p - width]
                + south[c] * fw[p + width]
                + source[c]
                - outflow[c] * fw[p]
            )


@nb.njit(nogil=True, cache=True, error_model="numpy")
def _update_all(ny, nx, s, increment, fw, inverse_ratio):
    """s += increment and refresh f on the padded grid for every cell (dense)."""
    width = nx + 2
    for i in range(ny):
        row, base = i * nx, (i + 1) * width + 1
        for j in range(nx):
            value = s[row + j] + increment[row + j]
            s[row + j] = value
            fw[base + j] = fractional_flow(value, inverse_ratio)


@nb.njit(nogil=True, cache=True, error_model="numpy")
def _gather_cells(lo, hi, cells, where, width, coef, fw, increment):
    """Like ``_gather_all`` for the cells[lo:hi] (coefficients in the same order)."""
    for k in range(lo, hi):
        p = where[k]
        increment[cells[k]] += (
            coef[0, k] * fw[p - 1]
            + coef[1, k] * fw[p + 1]
            + coef[2, k] * fw[p - width]
            + coef[3, k] * fw[p + width]
            + coef[4, k]
            - coef[5, k] * fw[p]
        )


@nb.njit(nogil=True, cache=True, error_model="numpy")
def _update_cells(lo, hi, cells, where, s, increment, fw, inverse_ratio):
    """Like ``_update_all`` for the cells[lo:hi], also clearing their increments."""
    for k in range(lo, hi):
        c = cells[k]
        value = s[c] + increment[c]
        s[c] = value
        increment[c] = 0.0
        fw[where[k]] = fractional_flow(value, inverse_ratio)


@nb.njit(nogil=True, cache=True, error_model="numpy")
def transport(s, flux_x, flux_y, pore_volume, injector, producer, rate, viscosity_ratio,
              slope_bound, duration, local):  # fmt: skip
    """Advance ``s`` (normalised, flat, row-major over (ny, nx)) in place over ``duration``.

    ``flux_x`` (ny, nx+1) and ``flux_y`` (ny+1, nx) are total fluxes through the cell faces,
    positive towards increasing column / row, zero on the boundary. ``rate`` is injected at
    cell ``injector`` (pure water) and produced at cell ``producer``. ``slope_bound`` is
    max f' times the safety factor. Returns (water produced, cell updates, finest substeps).

    Each cell gathers the inflow from its upwind neighbours at the start of each of its steps
    and pays its own outflow there too (its f is frozen over the step); only inflow from a
    *finer* upwind cell, whose f changes during the step, is scattered at that cell's rate.
    The coefficients are pre-multiplied by the step and 1/pv. Macro-step boundaries, where
    every cell starts or ends a step, run as dense loops over the grid.
    """
    ny, nx = flux_y.shape[0] - 1, flux_x.shape[1] - 1
    n = ny * nx
    inflow = np.zeros(n)
    for i in range(ny):
        for j in range(nx):
            c = i * nx + j
            inflow[c] = (
                max(flux_x[i, j], 0.0)
                + max(-flux_x[i, j + 1], 0.0)
                + max(flux_y[i, j], 0.0)
                + max(-flux_y[i + 1, j], 0.0)
            )
    inflow[injector] += rate
    x = np.empty(n)
    for c in range(n):
        x[c] = duration * inflow[c] * slope_bound / pore_volume[c]
    n_macro, levels = _levels(x, local)
    top = np.max(levels)
    if top > _MAX_LEVEL:
        raise ValueError("local time stepping needs more than 2**40 substeps")
    cell_order, cell_start = _bucket(levels, top + 1)
    dts = np.empty(top + 1)
    for lv in range(top + 1):
        dts[lv] = duration / n_macro / 2.0**lv

    # per-cell coefficients × dt_cell / pv_cell; inflow from a finer upwind cell is scattered
    west = np.zeros(n)
    east = np.zeros(n)
    north = np.zeros(n)
    south = np.zeros(n)
    outflow = np.zeros(n)
    source = np.zeros(n)
    scatter_up = np.empty(4 * n, dtype=np.int64)
    scatter_down = np.empty(4 * n, dtype=np.int64)
    scatter_coef = np.empty(4 * n)
    scatter_level = np.empty(4 * n, dtype=np.int64)
    n_scatter = 0
    for i in range(ny):
        for j in range(nx):
            c = i * nx + j
            scale = dts[levels[c]] / pore_volume[c]
            faces = (flux_x[i, j], -flux_x[i, j + 1], flux_y[i, j], -flux_y[i + 1, j])
            for d in range(4):
                f = faces[d]
                if f <= 0.0:
                    outflow[c] -= f * scale
                    continue
                u = c + (-1, 1, -nx, nx)[d]
                if levels[u] > levels[c]:
                    scatter_up[n_scatter] = u
                    scatter_down[n_scatter] = c
                    scatter_coef[n_scatter] = f * dts[levels[u]] / pore_volume[c]
                    scatter_level[n_scatter] = levels[u]
                    n_scatter += 1
                elif d == 0:
                    west[c] = f * scale
                elif d == 1:
                    east[c] = f * scale
                elif d == 2:
                    north[c] = f * scale
                else:
                    south[c] = f * scale
    source[injector] = rate * dts[levels[injector]] / pore_volume[injector]
    outflow[producer] += rate * dts[levels[producer]] / pore_volume[producer]
    order, scatter_start = _bucket(scatter_level[:n_scatter], top + 1)
    scatter_up = scatter_up[order]
    scatter_down = scatter_down[order]
    scatter_coef = scatter_coef[order]

    width = nx + 2  # f lives on a grid padded by one ghost cell (f = 0) on each side
    pad = np.empty(n, dtype=np.int64)
    fw = np.zeros((ny + 2) * width)
    for i in range(ny):
        for j in range(nx):
            pad[i * nx + j] = (i + 1) * width + j + 1
    inverse_ratio = 1.0 / viscosity_ratio
    for c in range(n):
        fw[pad[c]] = fractional_flow(s[c], inverse_ratio)
    # the same coefficients in level order, for the sparse passes over the finer levels
    where = pad[cell_order]
    coef = np.empty((6, n))
    for k in range(n):
        c = cell_order[k]
        coef[0, k], coef[1, k], coef[2, k] = west[c], east[c], north[c]
        coef[3, k], coef[4, k], coef[5, k] = south[c], source[c], outflow[c]
    increment = np.zeros(n)
    produced = 0.0
    updates = 0
    fine_steps = 1 << top
    producer_period = 1 << (top - levels[producer])
    producer_volume = rate * dts[levels[producer]]
    for _ in range(n_macro):
        for m in range(fine_steps):
            if m == 0:  # every cell starts a step
                first = 0
                _gather_all(ny, nx, west, east, north, south, source, outflow, fw, increment)
            else:
                first = top - _trailing_zeros(m)
                _gather_cells(cell_start[first], n, cell_order, where, width, coef, fw, increment)
            for k in range(scatter_start[first], scatter_start[top + 1]):
                increment[scatter_down[k]] += scatter_coef[k] * fw[pad[scatter_up[k]]]
            if m % producer_period == 0:
                produced += producer_volume * fw[pad[producer]]
            if m + 1 == fine_steps:  # every cell ends its step
                _update_all(ny, nx, s, increment, fw, inverse_ratio)
                updates += n
            else:
                last = top - _trailing_zeros(m + 1)
                _update_cells(
                    cell_start[last], n, cell_order, where, s, increment, fw, inverse_ratio
                )
                updates += n - cell_start[last]
    return produced, updates, n_macro * fine_steps
