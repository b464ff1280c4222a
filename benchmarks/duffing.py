"""Duffing solver throughput: the Numba BAOAB kernel against the same scheme in NumPy.

Both integrate the same BAOAB scheme for n trajectories × steps. The NumPy version is
vectorised over trajectories and draws its noise with NumPy's own (fastest) generator, one
call per step; the Numba kernel draws Philox/ziggurat normals per trajectory (reproducible for
any partitioning). Figures are medians over repeats, measured in the same run.

    python benchmarks/duffing.py                 # 10^5 trajectories × 10^3 steps
    python benchmarks/duffing.py --n 20000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numba
import numpy as np

from slsim.simulators import build_config
from slsim.simulators.duffing import DuffingConfig, simulate_reference, simulate_states
from slsim.simulators.seeding import trajectory_seeds


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="trajectories")
    parser.add_argument("--steps", type=int, default=1000, help="BAOAB steps per trajectory")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    dt = 0.01
    config = build_config(DuffingConfig, {"dt": dt, "t_end": args.steps * dt, "n_frames": 11})
    work = args.n * args.steps
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} CPUs, numba {numba.__version__}")
    print(f"problem: {args.n} trajectories × {args.steps} steps = {work:.2e} trajectory-steps")

    start = time.perf_counter()
    seeds = trajectory_seeds(0, "train", 0, args.n)
    seed_time = time.perf_counter() - start
    simulate_states(config, seeds[:64])  # compile / load the cache outside the timing

    rows = []
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        numba.set_num_threads(threads)
        seconds = median_seconds(lambda: simulate_states(config, seeds), args.repeats)
        rows.append((f"numba BAOAB, {threads} thread(s)", seconds))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)

    rng = np.random.default_rng(0)
    x0 = np.full(args.n, config.x0)
    v0 = np.full(args.n, config.v0)
    numpy_seconds = median_seconds(
        lambda: simulate_reference(config, x0, v0, lambda _step: rng.standard_normal(args.n)),
        max(1, args.repeats // 2),
    )
    rows.append(("numpy BAOAB (vectorised, 1 thread)", numpy_seconds))

    print(f"\n{'implementation':<40}{'seconds':>10}{'M steps/s':>12}{'× numpy':>10}")
    for label, seconds in rows:
        rate, ratio = work / seconds / 1e6, numpy_seconds / seconds
        print(f"{label:<40}{seconds:>10.3f}{rate:>12.1f}{ratio:>10.1f}")
    per_seed = seed_time / args.n * 1e6
    print(f"\nper-trajectory SeedSequence seeds: {seed_time:.3f} s ({per_seed:.1f} µs each)")
    best = min(seconds for label, seconds in rows if label.startswith("numba"))
    print(f"generation (seeds + kernel): {seed_time + best:.2f} s")
    print(f"kernel speed-up over numpy: {numpy_seconds / best:.1f}×")


if __name__ == "__main__":
    main()
