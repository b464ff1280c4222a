"""Do fresh labels give the simulator's spread? The first transition and the rollout ensemble.

Every trajectory of the wave and flow ensembles starts from the same frame, so the first
transition x_0 → x_1 has one context and all of its randomness must come from the label. For the
run's training trajectories this prints how well the network reproduces x_1 at each one's *own*
training label (memorisation) and the spread of x_1 across trajectories at *fresh* labels against
the simulator's; the same for the validation block (the last ``--n`` trajectories of the training
file, never trained on). Then, frame by frame, the ensemble spread of ``--n`` rollouts (``rollout``,
as ``slsim sample`` draws them; ``--labels training`` replays training labels) from the
validation block's start against the block's own spread, and the mean |x| of both (the wave's
mean |u|, the flow's mean saturation). Spread = the RMS over cells of the across-trajectory
standard deviation, in physical units. For the wave, last, when the fronts reach the edge of the
grid: the mean frame at which u first exceeds a fraction of the block's max |u| on the outer ring
(the crossing-time QoI at several thresholds), and the mean outer-ring max of u per frame. A delay
that is the same at every threshold is a slow front; one that grows at low thresholds is a
leading edge too weak to cross.

    python benchmarks/label_spread.py --system wave --data-dir ~/slsim-data/w32t32 --run sl-s0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from slsim.pipelines import layout
from slsim.pipelines.ensemble import open_ensemble
from slsim.pipelines.qoi import first_crossing_time, outer_ring
from slsim.pipelines.sampling import load_surrogate
from slsim.surrogate.device import autocast
from slsim.surrogate.labels import LABEL_LAWS, LabelReplay, run_labels
from slsim.surrogate.methods import get_method
from slsim.surrogate.sampling import rollout
from slsim.surrogate.transitions import CHANNEL_AXIS, initial_context, stack_frames


def spread(frames: np.ndarray) -> np.ndarray:
    """Per frame of ``(n, T, C, ...)``: RMS over cells and channels of the std across ``n``."""
    return np.sqrt(frames.var(axis=0).reshape(frames.shape[1], -1).mean(axis=1))


def mean_magnitude(frames: np.ndarray) -> np.ndarray:
    """Per frame: the ensemble mean of the cell-averaged |x|."""
    return np.abs(frames).reshape(frames.shape[0], frames.shape[1], -1).mean(axis=(0, 2))


def front_arrival(simulated: np.ndarray, generated: np.ndarray) -> None:
    """Print when the wave's fronts reach the outer ring, simulator against rollouts."""
    scale = float(np.abs(simulated).max())
    ring = {"simulator": outer_ring(simulated[:, :, 0]), "rollouts": outer_ring(generated[:, :, 0])}
    steps = simulated.shape[1] - 1
    print("\nfronts at the outer ring (mean crossing frame; threshold × the block's max |u|)")
    print("| threshold | simulator | rollouts | delay, frames | never crossed: sim / rollouts |")
    print("|---|---|---|---|---|")
    for threshold in (0.01, 0.02, 0.03, 0.05, 0.07):
        events = {k: (v > threshold * scale).any(axis=-1) for k, v in ring.items()}
        frame = {k: first_crossing_time(v) * steps for k, v in events.items()}
        never = {k: (~v.any(axis=1)).mean() for k, v in events.items()}
        delay = frame["rollouts"].mean() - frame["simulator"].mean()
        print(
            f"| {threshold} | {frame['simulator'].mean():.2f} | {frame['rollouts'].mean():.2f} | "
            f"{delay:+.2f} | {never['simulator']:.2f} / {never['rollouts']:.2f} |"
        )
    print("\n| frame | outer-ring max u / max \\|u\\|: simulator | rollouts |")
    print("|---|---|---|")
    peak = {k: v.max(axis=-1).mean(axis=0) / scale for k, v in ring.items()}
    for t in range(1, steps + 1):
        print(f"| {t} | {peak['simulator'][t]:.4f} | {peak['rollouts'][t]:.4f} |")


def read_frames(ensemble, rows: slice) -> np.ndarray:
    """``(n, T, C, ...)`` float32 frames of the trajectories ``rows`` of an open ensemble."""
    spec = ensemble.spec
    arrays = {v: np.asarray(ensemble[v][rows]) for v in spec.state_variables}
    return stack_frames(arrays, spec.state_variables, spec.state_dims).astype(np.float32)


@torch.no_grad()
def first_step(surrogate: tuple, frames: np.ndarray, labels: torch.Tensor) -> np.ndarray:
    """x_1 generated from each trajectory's first window with the given labels (physical)."""
    model, config, normalizer, _ = surrogate
    start = normalizer.encode(torch.from_numpy(frames[:, :1]), CHANNEL_AXIS)
    window = initial_context(start, config.window, 1)
    with autocast(config, torch.device("cpu")):
        out = get_method(config.method).fit(model, window.flatten(1, 2), labels, config)
    return normalizer.decode(out.float()[:, None], CHANNEL_AXIS).numpy()[:, 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--n", type=int, default=128, help="validation trajectories and rollouts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--labels", choices=LABEL_LAWS, default="gaussian", help="the rollouts' label law"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)

    run_dir = layout.run_dir(args.system, args.run, args.data_dir)
    surrogate = load_surrogate(run_dir / "checkpoint.pt", torch.device("cpu"))
    model, config, normalizer, meta = surrogate
    method = get_method(config.method)
    if not method.uses_labels or config.trajectory_label_dim:
        raise SystemExit("label spread needs an SL run without trajectory labels")
    n_train = meta["n_train_trajectories"]
    with open_ensemble(layout.split_path(args.system, "train", args.data_dir)) as train:
        total = train.n_trajectories
        trained = read_frames(train, slice(0, n_train))
        validation = read_frames(train, slice(total - args.n, total))
    steps = trained.shape[1] - 1
    own = run_labels(config, n_train, steps).view(n_train, steps, -1)[:, 0]
    generator = torch.Generator().manual_seed(args.seed)

    print(f"first transition x_0 → x_1 ({args.run}; spread / the simulator's)")
    print("| trajectories | simulator spread | own labels: rms error / spread | fresh labels |")
    print("|---|---|---|---|")
    true = trained[:, 1]
    error = np.sqrt(np.mean((first_step(surrogate, trained, own) - true) ** 2))
    fresh = first_step(surrogate, trained, torch.randn(own.shape, generator=generator))
    floor = spread(true[:, None])[0]
    ratio = spread(fresh[:, None])[0] / floor
    print(f"| {n_train} trained | {floor:.4g} | {error / floor:.3f} | {ratio:.2f} |")
    fresh = first_step(
        surrogate, validation, torch.randn(args.n, config.label_dim, generator=generator)
    )
    floor = spread(validation[:, 1][:, None])[0]
    ratio = spread(fresh[:, None])[0] / floor
    print(f"| {args.n} validation | {floor:.4g} | — | {ratio:.2f} |")

    context = initial_context(
        normalizer.encode(torch.from_numpy(validation[:, :1]), CHANNEL_AXIS), config.window, 1
    )
    replay = LabelReplay.of_run(config, n_train, steps) if args.labels == "training" else None
    generated = rollout(model, method, config, context, steps, generator, replay=replay)
    rolled = np.concatenate(
        [validation[:, :1], normalizer.decode(generated, CHANNEL_AXIS).numpy()], axis=1
    )
    print(f"\nrollouts from the validation block ({args.n} each, {args.labels} labels)")
    print("| frame | spread: rollouts / simulator | mean abs: simulator | rollouts |")
    print("|---|---|---|---|")
    ratio = spread(rolled) / np.maximum(spread(validation), 1e-30)
    sim, gen = mean_magnitude(validation), mean_magnitude(rolled)
    for t in range(1, steps + 1):
        print(f"| {t} | {ratio[t]:.2f} | {sim[t]:.4g} | {gen[t]:.4g} |")
    if args.system == "wave":
        front_arrival(validation, rolled)


if __name__ == "__main__":
    main()
