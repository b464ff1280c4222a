"""Two-phase flow throughput at 96²: slsim's IMPES against a plain SciPy implementation.

Times whole trajectories of the default configuration (quarter five-spot to 0.7 PVI, 51
frames) in one run, medians over trajectories:

* reference — ``simulators/flow/reference.py``: listing-style IMPES, ``spsolve`` every pressure
  step, a sparse upwind matrix product every transport substep, one global CFL step;
* slsim, global steps — the same scheme (agrees with the reference to round-off), Numba
  transport and the factor-preconditioned CG pressure solver;
* slsim, default — the same with local time stepping (more accurate, see docs/flow.md);
* ``simulate`` on 1 and on all Numba threads (trajectories on parallel threads), which is what
  ``slsim generate flow`` runs; its time per trajectory × 1000 is the projection.

    python benchmarks/flow.py                    # 16 trajectories, 3 of the slow reference
    python benchmarks/flow.py --n 8 --n-reference 2
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
from slsim.simulators.flow import FlowConfig, log_permeability, run_trajectory, simulate
from slsim.simulators.flow.impes import Wells
from slsim.simulators.flow.reference import reference_waterflood
from slsim.simulators.seeding import trajectory_seeds


def reference_trajectory(config: FlowConfig, seed: int) -> None:
    n = config.n_cells
    reference_waterflood(
        np.exp(log_permeability(config, seed)),
        (config.spacing, config.spacing),
        config.porosity,
        config.fluid,
        Wells(0, n * n - 1, config.injection_rate),
        np.linspace(0.0, config.t_end, config.n_frames) * config.porosity / config.injection_rate,
        config.cfl_safety,
        config.pressure_steps_per_frame,
    )


def per_trajectory(config: FlowConfig, seeds: np.ndarray) -> dict[str, float]:
    """Median seconds per trajectory (field + run) and of its parts, single thread."""
    rows: dict[str, list[float]] = {}
    for seed in seeds:
        start = time.perf_counter()
        log_k = log_permeability(config, int(seed))
        field = time.perf_counter() - start
        result = run_trajectory(config, log_k)
        total = time.perf_counter() - start
        parts = {
            "total": total,
            "field": field,
            "pressure": result.stats["pressure_seconds"],
            "transport": result.stats["transport_seconds"],
            "cg_iterations": result.stats["cg_iterations"],
            "factorizations": result.stats["factorizations"],
            "cell_updates": result.stats["cell_updates"],
        }
        for key, value in parts.items():
            rows.setdefault(key, []).append(value)
    return {key: statistics.median(values) for key, values in rows.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="trajectories for slsim")
    parser.add_argument("--n-reference", type=int, default=3, help="trajectories, reference")
    args = parser.parse_args()

    config = build_config(FlowConfig)
    slow = build_config(FlowConfig, {"time_stepping": "global"})
    seeds = trajectory_seeds(0, "train", 0, args.n)
    cores = numba.config.NUMBA_NUM_THREADS
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"numba {numba.__version__}, {cores} Numba threads")  # fmt: skip
    print(f"problem: {config.n_cells}² cells, {config.n_frames} frames to {config.t_end} PVI, "
          f"viscosity ratio {config.viscosity_ratio}")  # fmt: skip
    simulate(config, seeds[:1])  # compile / load the Numba cache outside the timings
    simulate(slow, seeds[:1])

    numba.set_num_threads(1)
    reference = statistics.median(
        timed(lambda s=s: reference_trajectory(config, int(s))) for s in seeds[: args.n_reference]
    )
    same_scheme = per_trajectory(slow, seeds[: max(args.n_reference, 3)])
    default = per_trajectory(config, seeds)
    threads = {}
    for count in sorted({1, cores}):
        numba.set_num_threads(count)
        threads[count] = timed(lambda: simulate(config, seeds)) / len(seeds)
    numba.set_num_threads(cores)

    print(f"\n{'implementation (1 thread unless noted)':<46}{'s / traj':>10}{'× reference':>13}")
    print(f"{'reference: spsolve + sparse upwind, global CFL':<46}{reference:>10.3f}{1:>13.1f}")
    for label, row in (("slsim, same scheme (global CFL steps)", same_scheme),
                       ("slsim, default (local time stepping)", default)):  # fmt: skip
        print(f"{label:<46}{row['total']:>10.3f}{reference / row['total']:>13.1f}")
    for count, seconds in threads.items():
        label = f"slsim simulate(), {count} thread(s)"
        print(f"{label:<46}{seconds:>10.3f}{reference / seconds:>13.1f}")

    print("\nmedian split of one default trajectory (1 thread):")
    print(f"  field {default['field'] * 1e3:.1f} ms, pressure {default['pressure'] * 1e3:.0f} ms "
          f"({default['cg_iterations']:.0f} CG iterations, {default['factorizations']:.0f} "
          f"factorisations), transport {default['transport'] * 1e3:.0f} ms "
          f"({default['cell_updates'] / 1e6:.1f} M cell updates)")  # fmt: skip
    print(f"  same scheme, global CFL: pressure {same_scheme['pressure'] * 1e3:.0f} ms, "
          f"transport {same_scheme['transport'] * 1e3:.0f} ms "
          f"({same_scheme['cell_updates'] / 1e6:.0f} M cell updates)")  # fmt: skip
    best = threads[cores]
    print(f"\nprojected 1000 trajectories on {cores} threads: {1000 * best:.0f} s "
          f"({1000 * best / 60:.1f} min); reference on 1 core: {1000 * reference / 60:.0f} min, "
          f"on {cores} processes: {1000 * reference / cores / 60:.0f} min")  # fmt: skip
    print(f"speed-up over the reference per core: {reference / default['total']:.1f}×, "
          f"throughput on {cores} cores vs {cores} reference processes: "
          f"{reference / cores / best:.1f}×")  # fmt: skip


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
