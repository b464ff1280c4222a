"""Speed of the per-time sliced W2 of unequal ensembles: all columns at once against one column
at a time (the earlier implementation's loop), in the same run.

    OMP_NUM_THREADS=1 python benchmarks/wasserstein.py

Sizes are those of `compare`: n generated trajectories against m simulator ones, K = frames ×
directions columns (Duffing: 101 frames × 64 directions).
"""

from __future__ import annotations

import numpy as np
from cpu_training import cpu_name
from duffing import median_seconds

from slsim.pipelines.wasserstein import wasserstein2, wasserstein2_columns

CASES = ((1000, 10_000, 1000), (512, 1024, 6464), (1000, 2000, 6464))


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{cpu_name()}; medians of 3")
    print(f"{'n':>6}{'m':>8}{'columns':>9}{'per column s':>14}{'vectorised s':>14}{'ratio':>7}")
    for n, m, k in CASES:
        u, v = rng.normal(size=(n, k)), rng.normal(size=(m, k))
        looped = median_seconds(lambda: [wasserstein2(u[:, j], v[:, j]) for j in range(k)], 3)  # noqa: B023
        vectorised = median_seconds(lambda: wasserstein2_columns(u, v), 3)  # noqa: B023
        print(f"{n:>6}{m:>8}{k:>9}{looped:>14.3f}{vectorised:>14.3f}{looped / vectorised:>7.1f}")


if __name__ == "__main__":
    main()
