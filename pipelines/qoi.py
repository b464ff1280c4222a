"""Quantities of interest and the distances reported between ensembles.

A :class:`Metric` extracts a per-trajectory quantity from an ensemble file and measures the
distance between two ensembles' distributions of it:

* scalar per trajectory (crossing time) → exact 1-D W2 (WCT);
* scalar per trajectory and time (integrated mass) → W2 at each time, averaged (WIM);
* vector per trajectory and time (the Duffing state) → sliced W2 at each time, averaged.

Times are normalised to [0, 1] (t / t_end) as in the paper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .ensemble import Ensemble
from .wasserstein import sliced_wasserstein2, unit_directions, wasserstein2


@dataclass(frozen=True)
class Metric:
    """A named distance between two ensembles through one quantity of interest."""

    name: str
    qoi: str
    description: str
    #: ``extract(ensemble, n)`` → values of the first n trajectories: (n,), (n, T) or (n, T, k)
    extract: Callable[[Ensemble, int], np.ndarray]

    def distance(self, a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray | None]:
        """Scalar distance and, for time-resolved quantities, the distance at each time."""
        if a.ndim == 1:
            return wasserstein2(a, b), None
        if a.ndim == 2:
            per_time = np.array([wasserstein2(a[:, t], b[:, t]) for t in range(a.shape[1])])
        else:
            directions = unit_directions(a.shape[2], 64)
            per_time = np.array(
                [sliced_wasserstein2(a[:, t], b[:, t], directions) for t in range(a.shape[1])]
            )
        # frame 0 is the shared initial condition; average over the generated frames
        return float(per_time[1:].mean()), per_time


def first_crossing_time(events: np.ndarray) -> np.ndarray:
    """Normalised time of the first True along axis 1 of ``(n, T)`` events; 1.0 if none."""
    events = np.asarray(events, dtype=bool)
    last = events.shape[1] - 1
    first = np.where(events.any(axis=1), events.argmax(axis=1), last)
    return first / last


def _duffing_state(ensemble: Ensemble, n: int) -> np.ndarray:
    return ensemble["state"][:n].astype(np.float64)


def _duffing_crossing(ensemble: Ensemble, n: int) -> np.ndarray:
    return first_crossing_time(ensemble["state"][:n, :, 0] < 0)


METRICS: dict[str, tuple[Metric, ...]] = {
    "duffing": (
        Metric(
            "SW2", "state", "per-time sliced W2 of (x, v), averaged over frames", _duffing_state
        ),
        Metric("WCT", "crossing-time", "W2 of the first-passage time to x < 0", _duffing_crossing),
    ),
}

QOI_NAMES = ("crossing-time", "integrated-mass", "state")


def metrics_for(system: str, qoi: str = "all") -> tuple[Metric, ...]:
    """The metrics of ``system`` for one QoI name, or all of them."""
    available = METRICS.get(system, ())
    chosen = available if qoi == "all" else tuple(m for m in available if m.qoi == qoi)
    return chosen
