"""One-step error or rollout drift? QoI distances of teacher-forced frames and of rollouts.

Teacher-forced: every frame t + 1 of the first ``--n`` test trajectories is generated from the
*simulator's* window ending at t (a fresh label per frame, as in sampling), so errors cannot feed
back. Rolled out: the run's ``samples.h5`` (``benchmarks/field_recipe.py`` writes it), where each
frame continues from the surrogate's own previous frames. Both, and the true trajectories they
start from, are scored against the *other* test trajectories ``[n, 2n)``: the true ones give the
noise floor, so a teacher-forced ratio near 1 with a large rollout ratio says the one-step map is
right and the error is the rollout's drift.

    python benchmarks/field_drift.py --system flow --data-dir ~/slsim-data/f32t26 --run sl-s0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from slsim.pipelines import layout
from slsim.pipelines.ensemble import open_ensemble
from slsim.pipelines.qoi import metrics_for
from slsim.pipelines.sampling import load_surrogate
from slsim.simulators.registry import get_system
from slsim.simulators.system import landmark_cell
from slsim.surrogate.device import autocast
from slsim.surrogate.methods import get_method
from slsim.surrogate.transitions import CHANNEL_AXIS, stack_frames, unstack_frames, window_times


@torch.no_grad()
def teacher_forced(run_dir: Path, frames: np.ndarray, seed: int = 0) -> np.ndarray:
    """Frames ``(n, T, C, ...)`` whose frame t + 1 the surrogate generated from the true window
    ending at t; frame 0 is the true one."""
    model, config, normalizer, _ = load_surrogate(run_dir / "checkpoint.pt", torch.device("cpu"))
    method = get_method(config.method)
    encoded = normalizer.encode(torch.from_numpy(frames), CHANNEL_AXIS)
    generator = torch.Generator().manual_seed(seed)
    out = [encoded[:, 0]]
    for t in range(frames.shape[1] - 1):
        times = window_times(torch.tensor([t]), config.window)[0]
        with autocast(config, torch.device("cpu")):  # as in rollouts (cpu_bf16)
            nxt = method.step(model, encoded[:, times].flatten(1, 2), generator, config)
        out.append(nxt.float())
    return normalizer.decode(torch.stack(out, dim=1), CHANNEL_AXIS).numpy()


def front_tip(saturation: np.ndarray, level: float = 0.1) -> np.ndarray:
    """``(n, T)`` reach of the water front: the largest L1 distance (in cells) from the injector
    of a cell whose saturation exceeds ``level``."""
    shape = saturation.shape[-2:]
    row, column = landmark_cell(get_system("flow").landmarks["injector"], shape)
    rows, columns = np.mgrid[0 : shape[0], 0 : shape[1]]
    reach = np.abs(rows - row) + np.abs(columns - column)
    return np.where(saturation > level, reach, 0).max(axis=(-2, -1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--n", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(1)

    run_dir = layout.run_dir(args.system, args.run, args.data_dir)
    n = args.n
    with open_ensemble(layout.split_path(args.system, "test", args.data_dir)) as test:
        spec = test.spec
        variables, dims = spec.state_variables, spec.state_dims
        if test.n_trajectories < 2 * n:
            raise SystemExit(f"the test split has {test.n_trajectories} trajectories; need {2 * n}")
        truth = {v: np.asarray(test[v][:n]) for v in variables}
        reference = {v: np.asarray(test[v][n : 2 * n]) for v in variables}
    with open_ensemble(run_dir / "samples.h5") as samples:
        rolled = {v: np.asarray(samples[v][:n]) for v in variables}
    frames = stack_frames(truth, variables, dims).astype(np.float32)
    forced = unstack_frames(teacher_forced(run_dir, frames), variables, dims)

    print(f"{args.system} {args.run}: {n} trajectories each against test [{n}, {2 * n})")
    print("| QoI | floor | teacher-forced / floor | rollout / floor |")
    print("|---|---|---|---|")
    for metric in metrics_for(args.system):
        params = metric.resolve(reference, n)
        target = metric.values(reference, n, **params)
        floor, _ = metric.distance(metric.values(truth, n, **params), target)
        one_step, _ = metric.distance(metric.values(forced, n, **params), target)
        rollout, _ = metric.distance(metric.values(rolled, n, **params), target)
        print(f"| {metric.name} | {floor:.3g} | {one_step / floor:.2f} | {rollout / floor:.2f} |")
    if args.system == "flow":  # where the drift shows: how far the front reaches, frame by frame
        every = max(1, frames.shape[1] // 12)
        print("\n| front reach (cells, s > 0.1), mean ± sd | " + " | ".join(
            f"frame {t}" for t in range(0, frames.shape[1], every)) + " |")  # fmt: skip
        print("|---" * (1 + len(range(0, frames.shape[1], every))) + "|")
        for name, arrays in (
            ("simulator", reference),
            ("teacher-forced", forced),
            ("rollouts", rolled),
        ):
            reach = front_tip(np.asarray(arrays["saturation"], np.float64))[:, ::every]
            spread = zip(reach.mean(axis=0), reach.std(axis=0), strict=True)
            cells = " | ".join(f"{mean:.1f} ± {sd:.1f}" for mean, sd in spread)
            print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
