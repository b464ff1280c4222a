"""Are generated trajectories new, or copies of training data? A nearest-neighbour check.

For a few generated trajectories, the distance to the closest *training* trajectory (root mean
square over every stored value of the state) is set beside the same distance for held-out
simulator trajectories, which are new by construction. A surrogate that memorised its training
set has nearest-neighbour distances far below the simulator's (ratio ≪ 1); one that generates
new trajectories has a ratio near 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .ensemble import read_blocks


def flatten_state(arrays: Mapping[str, Any], variables: Sequence[str], n: int) -> np.ndarray:
    """The first ``n`` trajectories' state variables as ``(n, values)`` float64 rows."""
    return np.concatenate(
        [np.asarray(arrays[name][:n], dtype=np.float64).reshape(n, -1) for name in variables],
        axis=1,
    )


def nearest_distances(
    queries: Mapping[str, np.ndarray],
    pool: Mapping[str, Any],
    n_pool: int,
    variables: Sequence[str],
) -> dict[str, np.ndarray]:
    """RMS distance of every query row to its nearest pool trajectory, per query set.

    The pool (the training ensemble) is read once, in chunks, whatever its size; distances use
    ‖q‖² + ‖p‖² − 2 q·p in float64, accurate far below any distance worth reporting.
    """
    best = {label: np.full(len(rows), np.inf) for label, rows in queries.items()}
    norms = {label: np.einsum("ij,ij->i", rows, rows) for label, rows in queries.items()}
    for start, stop in read_blocks(n_pool):
        chunk = np.concatenate(
            [
                np.asarray(pool[name][start:stop], dtype=np.float64).reshape(stop - start, -1)
                for name in variables
            ],
            axis=1,
        )
        chunk_norms = np.einsum("ij,ij->i", chunk, chunk)
        for label, rows in queries.items():
            squared = norms[label][:, None] + chunk_norms[None, :] - 2 * rows @ chunk.T
            best[label] = np.minimum(best[label], squared.min(axis=1))
    size = next(iter(queries.values())).shape[1]
    return {label: np.sqrt(np.maximum(d, 0.0) / size) for label, d in best.items()}
