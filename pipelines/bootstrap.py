"""Bootstrap confidence intervals of ensemble distances.

A distance between two finite ensembles is itself a random number: re-drawing either ensemble
changes it. Resampling the trajectories of both with replacement gives its standard error, so a
reader can tell whether a surrogate's distance is within the simulator's own noise floor or
clearly above it. The interval is the normal one, estimate ± z·se: percentile intervals of a
Wasserstein distance are shifted upwards (resamples repeat trajectories, which adds distance),
and for distances near the noise floor they often exclude the estimate itself.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

#: distance(a, b) -> scalar, for arrays whose first axis is the trajectory
Distance = Callable[[np.ndarray, np.ndarray], float]


def bootstrap_interval(
    distance: Distance,
    a: np.ndarray,
    b: np.ndarray,
    resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
    estimate: float | None = None,
) -> tuple[float, float]:
    """``distance(a, b) ± z·se`` (clipped at 0), se from trajectory resamples of a and b.

    ``estimate`` is distance(a, b) when the caller already has it. Seeded, so a report is
    reproducible; ``resamples < 2`` returns (nan, nan).
    """
    if resamples < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = [
        distance(a[rng.integers(0, len(a), len(a))], b[rng.integers(0, len(b), len(b))])
        for _ in range(resamples)
    ]
    half_width = stats.norm.ppf(0.5 + level / 2) * float(np.std(draws, ddof=1))
    value = distance(a, b) if estimate is None else estimate
    return max(value - half_width, 0.0), value + half_width


def paired_excess_interval(
    distance: Distance,
    candidate: np.ndarray,
    reference: np.ndarray,
    target: np.ndarray,
    resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """The excess d(candidate, target) − d(reference, target) over the noise floor, with a
    paired bootstrap interval: each resample draws the target once and uses it for both
    distances, so the target's own sampling noise, shared by both, cancels instead of being
    counted twice. Returns (excess, low, high); an interval containing 0 means the candidate
    cannot be told from an independent simulator ensemble of its size."""
    excess = distance(candidate, target) - distance(reference, target)
    if resamples < 2:
        return excess, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        shared = target[rng.integers(0, len(target), len(target))]
        a = candidate[rng.integers(0, len(candidate), len(candidate))]
        b = reference[rng.integers(0, len(reference), len(reference))]
        draws.append(distance(a, shared) - distance(b, shared))
    half_width = stats.norm.ppf(0.5 + level / 2) * float(np.std(draws, ddof=1))
    return excess, excess - half_width, excess + half_width
