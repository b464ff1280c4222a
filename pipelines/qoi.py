"""Quantities of interest and the distances reported between ensembles.

A :class:`Metric` turns the state arrays of an ensemble into one value per trajectory (or per
trajectory and time) and measures the distance between two ensembles' distributions of it:

* scalar per trajectory (crossing time) → exact 1-D W2 (WCT);
* scalar per trajectory and time (integrated mass) → W2 at each time, averaged over the
  generated frames (WIM);
* vector per trajectory and time (the Duffing state) → sliced W2 at each time, averaged.

Times are normalised to [0, 1] (frame index / last index) as in the paper; a trajectory that
never crosses gets 1. Values are computed in chunks of trajectories, so arrays may be h5py
datasets or dask/xarray arrays of any size. Every threshold, region and normalisation is a
parameter of its metric (``Metric.params``), can be overridden, and is recorded in reports;
data-dependent ones (the wave's ``scale = "max"``) are resolved once on the target ensemble so
that every ensemble in a comparison is measured with the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from slsim.simulators import get_system
from slsim.simulators.system import landmark_cell

from .ensemble import read_blocks
from .wasserstein import (
    sliced_wasserstein2_columns,
    unit_directions,
    wasserstein2,
    wasserstein2_columns,
)

#: extract(state arrays by variable name, number of trajectories, parameters) -> values
Extractor = Callable[[Mapping[str, Any], int, Mapping[str, Any]], np.ndarray]
#: calibrate(target arrays, number of trajectories, parameters) -> parameters with numbers
Calibrator = Callable[[Mapping[str, Any], int, Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Metric:
    """A named distance between two ensembles through one quantity of interest."""

    name: str
    qoi: str
    description: str
    extract: Extractor
    #: Parameters of the QoI (thresholds, regions, normalisation), recorded in reports.
    params: Mapping[str, Any] = field(default_factory=dict)
    #: Resolves data-dependent parameters on the target ensemble (None: nothing to resolve).
    calibrate: Calibrator | None = None

    def values(self, arrays: Mapping[str, Any], n: int, **params: Any) -> np.ndarray:
        return self.extract(arrays, n, {**self.params, **params})

    def resolve(self, target: Mapping[str, Any], n: int, **params: Any) -> dict[str, Any]:
        """The parameters (defaults updated by ``params``) with data-dependent ones fixed on
        ``target``; pass them to :meth:`values` of every ensemble in one comparison."""
        unknown = set(params) - set(self.params)
        if unknown:
            raise ValueError(f"{self.name} has no parameter {', '.join(sorted(unknown))}")
        for key, value in params.items():
            if isinstance(self.params[key], int | float) and not isinstance(value, int | float):
                raise ValueError(f"{self.name} parameter {key} must be a number, got {value!r}")
        merged = {**self.params, **params}
        return self.calibrate(target, n, merged) if self.calibrate else merged

    def distance(self, a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray | None]:
        """Scalar distance and, for time-resolved quantities, the distance at each time."""
        if a.ndim == 1:
            return wasserstein2(a, b), None
        if a.ndim == 2:
            per_time = wasserstein2_columns(a, b)
        else:
            per_time = sliced_wasserstein2_columns(a, b, unit_directions(a.shape[2], 64))
        # frame 0 is the shared initial condition; average over the generated frames
        return float(per_time[1:].mean()), per_time


def chunked(array: Any, n: int, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``fn`` applied to ``array[:n]`` in chunks of trajectories, concatenated."""
    return np.concatenate([fn(np.asarray(array[start:stop])) for start, stop in read_blocks(n)])


def first_crossing_time(events: np.ndarray) -> np.ndarray:
    """Normalised time of the first True along axis 1 of ``(n, T)`` events; 1.0 if none."""
    events = np.asarray(events, dtype=bool)
    last = events.shape[1] - 1
    first = np.where(events.any(axis=1), events.argmax(axis=1), last)
    return first / last


def outer_ring(field: np.ndarray) -> np.ndarray:
    """Values on the outermost ring of cells of ``(..., H, W)`` fields, flattened last."""
    return np.concatenate(
        [field[..., 0, :], field[..., -1, :], field[..., 1:-1, 0], field[..., 1:-1, -1]], axis=-1
    )


# --- Duffing ---------------------------------------------------------------------------------


def _duffing_state(arrays: Mapping[str, Any], n: int, params: Mapping[str, Any]) -> np.ndarray:
    return chunked(arrays["state"], n, lambda s: s.astype(np.float64))


def _duffing_crossing(arrays: Mapping[str, Any], n: int, params: Mapping[str, Any]) -> np.ndarray:
    level = params["level"]
    return chunked(arrays["state"], n, lambda s: first_crossing_time(s[:, :, 0] < level))


# --- wave ------------------------------------------------------------------------------------


def _wave_crossing(arrays: Mapping[str, Any], n: int, params: Mapping[str, Any]) -> np.ndarray:
    """First time any outer-ring value exceeds ``threshold · scale`` (signed, as in the paper)."""
    limit = params["threshold"] * float(params["scale"])
    return chunked(
        arrays["u"], n, lambda u: first_crossing_time((outer_ring(u) > limit).any(axis=-1))
    )


def _max_abs_scale(variable: str) -> Calibrator:
    """``scale = "max"`` becomes max |variable| over the target ensemble (the paper divides the
    data by it); a number is kept."""

    def calibrate(arrays: Mapping[str, Any], n: int, params: Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(params["scale"], int | float):
            return {**params, "scale": float(params["scale"])}
        if params["scale"] != "max":
            raise ValueError(f"scale must be a number or 'max', got {params['scale']!r}")
        peak = chunked(arrays[variable], n, lambda u: np.abs(u).max(axis=tuple(range(1, u.ndim))))
        return {**params, "scale": float(peak.max())}

    return calibrate


def _mean_abs(variable: str) -> Extractor:
    def extract(arrays: Mapping[str, Any], n: int, params: Mapping[str, Any]) -> np.ndarray:
        return chunked(
            arrays[variable], n, lambda u: np.abs(u.astype(np.float64)).mean(axis=(-2, -1))
        )

    return extract


# --- flow ------------------------------------------------------------------------------------


def production_block(
    saturation: np.ndarray, cells: int, producer: tuple[float, float] | None = None
) -> np.ndarray:
    """Mean saturation of the ``cells × cells`` block around the producer cell (kept inside the
    grid), the producer's position taken from the flow system's landmarks unless given."""
    position = get_system("flow").landmarks["producer"] if producer is None else producer
    shape = saturation.shape[-2:]
    row, column = landmark_cell(position, shape)
    top = min(max(row - cells // 2, 0), shape[0] - cells)
    left = min(max(column - cells // 2, 0), shape[1] - cells)
    return saturation[..., top : top + cells, left : left + cells].mean(axis=(-2, -1))


def _flow_breakthrough(arrays: Mapping[str, Any], n: int, params: Mapping[str, Any]) -> np.ndarray:
    """Water breakthrough: first time the production corner's saturation exceeds a threshold."""
    cells = _corner_cells(arrays, n, params)["corner_cells"]
    threshold = params["threshold"]
    return chunked(
        arrays["saturation"],
        n,
        lambda s: first_crossing_time(production_block(s.astype(np.float64), cells) > threshold),
    )


def _corner_cells(arrays: Mapping[str, Any], n: int, params: Mapping[str, Any]) -> dict[str, Any]:
    """``corner_cells = "auto"`` becomes the block that covers 1/32 of the side (3 cells of the
    default 96² grid, 1 cell of a 32² grid stored with ``coarsen = 3``: the same region, so the
    breakthrough times agree); a number is kept."""
    cells = params["corner_cells"]
    if cells == "auto":
        cells = max(1, round(arrays["saturation"].shape[-1] / 32))
    elif not isinstance(cells, int | float) or cells < 1 or cells != int(cells):
        raise ValueError(f"corner_cells must be a positive integer or 'auto', got {cells!r}")
    return {**params, "corner_cells": int(cells)}


def _flow_water(arrays: Mapping[str, Any], n: int, params: Mapping[str, Any]) -> np.ndarray:
    """Mean water saturation over the domain per frame (water volume / pore volume)."""
    return chunked(arrays["saturation"], n, lambda s: s.astype(np.float64).mean(axis=(-2, -1)))


METRICS: dict[str, tuple[Metric, ...]] = {
    "duffing": (
        Metric(
            "SW2", "state", "per-time sliced W2 of (x, v), averaged over frames", _duffing_state
        ),
        Metric(
            "WCT",
            "crossing-time",
            "W2 of the first-passage time to x < level",
            _duffing_crossing,
            {"level": 0.0},
        ),
    ),
    "wave": (
        Metric(
            "WCT",
            "crossing-time",
            "W2 of the first time u > threshold·scale anywhere on the outer ring of the grid",
            _wave_crossing,
            {"threshold": 0.05, "scale": "max"},
            _max_abs_scale("u"),
        ),
        Metric(
            "WIM",
            "integrated-mass",
            "per-time W2 of the mean |u| over the grid, averaged",
            _mean_abs("u"),
        ),
    ),
    "flow": (
        Metric(
            "WCT",
            "crossing-time",
            "W2 of the water breakthrough time: the mean saturation of the corner_cells² block "
            "at the producer first above threshold",
            _flow_breakthrough,
            {"threshold": 0.1, "corner_cells": "auto"},
            _corner_cells,
        ),
        Metric(
            "WIM",
            "integrated-mass",
            "per-time W2 of the mean water saturation over the domain, averaged",
            _flow_water,
        ),
    ),
}


def qoi_names() -> list[str]:
    """Every QoI name some system's metrics have (the values of ``--qoi``), sorted."""
    return sorted({metric.qoi for metrics in METRICS.values() for metric in metrics})


def metrics_for(system: str, qoi: str = "all") -> tuple[Metric, ...]:
    """The metrics of ``system`` for one QoI name, or all of them."""
    available = METRICS.get(system, ())
    return available if qoi == "all" else tuple(m for m in available if m.qoi == qoi)
