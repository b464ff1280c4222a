"""What the flow solver's speed knobs cost in accuracy, at 96² on default media.

* time stepping: local vs global CFL steps, with 1 or 4 pressure solves per frame, on 96² and
  192², against a 4× finer solution (384², the same piecewise-constant medium, 4 pressure solves
  per frame) averaged back onto 96²;
* pressure updates per frame (1, 2, 4) against 8;
* pressure CG tolerance against an exact solve (fresh factor every step, rtol 1e-13);
* the refactorisation threshold: CG iterations, factorisations and pressure time.

Prints Markdown tables (docs/flow.md quotes them).

    python benchmarks/flow_accuracy.py            # ~3 minutes on 2 cores
    python benchmarks/flow_accuracy.py --media 2
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from slsim.simulators import build_config
from slsim.simulators.flow import FlowConfig, log_permeability, run_trajectory
from slsim.simulators.flow.impes import Waterflood, Wells, waterflood
from slsim.simulators.seeding import trajectory_seeds


def refined(
    config: FlowConfig, log_k: np.ndarray, factor: int, policy: str, pressure_steps: int
) -> Waterflood:
    """The same medium on a grid ``factor`` times finer, frames averaged back to the base grid."""
    n = config.n_cells * factor
    numerics = build_config(
        FlowConfig, {"time_stepping": policy, "pressure_steps_per_frame": pressure_steps}
    ).numerics
    fine = waterflood(
        np.kron(np.exp(log_k), np.ones((factor, factor))),
        (1 / n, 1 / n),
        config.porosity,
        config.fluid,
        Wells(0, n * n - 1, config.injection_rate),
        np.linspace(0, config.t_end, config.n_frames) * config.porosity / config.injection_rate,
        numerics,
    )
    shape = (config.n_frames, config.n_cells, factor, config.n_cells, factor)
    fine.saturation = fine.saturation.reshape(shape).mean(axis=(2, 4))
    return fine


def l1(a: np.ndarray, b: np.ndarray) -> float:
    """Largest over frames of the mean |a − b| over cells (the L1 norm on the unit square)."""
    return float(np.abs(a - b).mean(axis=(-2, -1)).max())


def time_stepping(media: list[np.ndarray]) -> None:
    base = build_config(FlowConfig)
    reference = refined(base, media[0], 4, "local", 4).saturation
    print("\n| CFL steps | grid | pressure solves / frame | L1 error vs 384² | cell updates |")
    print("|---|---|---|---|---|")
    for factor in (1, 2):
        for steps in (1, 4):
            for policy in ("global", "local"):
                run = refined(base, media[0], factor, policy, steps)
                error = l1(run.saturation, reference)
                grid = base.n_cells * factor
                updates = run.stats["cell_updates"] / 1e6
                print(f"| {policy} | {grid}² | {steps} | {error:.4f} | {updates:.0f} M |")


def pressure_updates(media: list[np.ndarray]) -> None:
    print("\n| pressure solves per frame | max abs Δs | L1 Δs | rel. Δ water produced | solves |")
    print("|---|---|---|---|---|")
    runs = {
        k: [run_trajectory(build_config(FlowConfig, {"pressure_steps_per_frame": k}), m)
            for m in media]
        for k in (1, 2, 4, 8)
    }  # fmt: skip
    for k in (1, 2, 4):
        pairs = list(zip(runs[k], runs[8], strict=True))
        worst = max(np.abs(a.saturation - b.saturation).max() for a, b in pairs)
        mean = max(l1(a.saturation, b.saturation) for a, b in pairs)
        produced = max(abs(a.produced[-1] / b.produced[-1] - 1) for a, b in pairs)
        solves = runs[k][0].stats["pressure_solves"]
        print(f"| {k} | {worst:.1e} | {mean:.1e} | {produced:.1e} | {solves} |")


def tolerances(media: list[np.ndarray]) -> None:
    exact = [
        run_trajectory(build_config(FlowConfig, {"pressure_rtol": 1e-13, "refactor_after": 0}), m)
        for m in media
    ]
    print("\n| CG rtol | max abs Δs | max rel. Δp | CG iterations / trajectory |")
    print("|---|---|---|---|")
    for rtol in (1e-6, 1e-7, 1e-8, 1e-10):
        config = build_config(FlowConfig, {"pressure_rtol": rtol})
        runs = [run_trajectory(config, m) for m in media]
        ds = max(
            np.abs(r.saturation - e.saturation).max() for r, e in zip(runs, exact, strict=True)
        )
        dp = max(
            np.abs(r.pressure - e.pressure).max() / np.abs(e.pressure).max()
            for r, e in zip(runs, exact, strict=True)
        )
        iterations = statistics.mean(r.stats["cg_iterations"] for r in runs)
        print(f"| {rtol:.0e} | {ds:.1e} | {dp:.1e} | {iterations:.0f} |")


def refactorisation(media: list[np.ndarray]) -> None:
    print("\n| refactor_after | CG iterations | factorisations | pressure ms / trajectory |")
    print("|---|---|---|---|")
    for threshold in (0, 4, 6, 8, 10, 14, 1000):
        config = build_config(FlowConfig, {"refactor_after": threshold})
        runs = [run_trajectory(config, m) for m in media]
        iterations = statistics.mean(r.stats["cg_iterations"] for r in runs)
        factorizations = statistics.mean(r.stats["factorizations"] for r in runs)
        seconds = statistics.median(r.stats["pressure_seconds"] for r in runs)
        print(f"| {threshold} | {iterations:.0f} | {factorizations:.1f} | {seconds * 1e3:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=int, default=4, help="media (trajectory seeds) to use")
    args = parser.parse_args()
    config = build_config(FlowConfig)
    media = [log_permeability(config, int(s)) for s in trajectory_seeds(0, "train", 0, args.media)]
    run_trajectory(config, media[0])  # compile outside the timings
    time_stepping(media)
    pressure_updates(media)
    tolerances(media)
    refactorisation(media)


if __name__ == "__main__":
    main()
