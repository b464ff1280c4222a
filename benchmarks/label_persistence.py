"""Does a persistent random choice help SL rollouts? Labels ξ_t = ρ ξ_{t−1} + √(1 − ρ²) ε_t.

Each step's label is still N(0, I) (ρ = 0 is Stochastic Lifting's fresh label per step; ρ = 1
keeps one label for the whole rollout), but with ρ > 0 the random choice made at one step
persists into the next, as a trajectory's hidden medium does. Rollouts start from the validation
block of the training file (the last ``--n`` trajectories, never trained on; the test split is
not opened) and are scored on every QoI beside the floor of up to 3 disjoint blocks of other
trajectories of the training file, averaged over ``--seeds`` sampling seeds. ``--clip LO HI``
also scores each ρ with every generated frame clamped to [LO, HI] in physical units (e.g. a
saturation to [0, 1]) before it is fed back. ``--scale`` multiplies every label by a label
temperature τ (labels N(0, τ² I)): τ > 1 asks whether rollouts are under-dispersed because a
fresh label's output blends the training outcomes. ``--labels training`` draws every step's label
from the run's training labels at that step instead (``slsim sample --labels training``).

    python benchmarks/label_persistence.py --system flow --data-dir ~/slsim-data/f32t26 \\
        --run sl-s0 --rho 0 0.9 1
    python benchmarks/label_persistence.py --system flow --data-dir ~/slsim-data/f32t26 \\
        --run sl-s0 --rho 0 --clip 0 1
    python benchmarks/label_persistence.py --system wave --data-dir ~/slsim-data/w32t32 \\
        --run sl-s0 --rho 0 --scale 1 1.5 2
    python benchmarks/label_persistence.py --system wave --data-dir ~/slsim-data/w32t32 \\
        --run sl-s0 --rho 0 --labels training --n 256
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import torch

from slsim.pipelines import layout
from slsim.pipelines.ensemble import open_ensemble
from slsim.pipelines.qoi import metrics_for
from slsim.pipelines.sampling import load_surrogate
from slsim.surrogate.device import autocast
from slsim.surrogate.labels import LABEL_LAWS, LabelReplay
from slsim.surrogate.methods import get_method
from slsim.surrogate.transitions import (
    CHANNEL_AXIS,
    initial_context,
    stack_frames,
    unstack_frames,
)


@torch.no_grad()
def persistent_rollout(
    surrogate: tuple,
    start: np.ndarray,
    steps: int,
    rho: float,
    seed: int,
    clip: tuple[float, float] | None = None,
    scale: float = 1.0,
    replay: LabelReplay | None = None,
    any_step: bool = False,
):
    """Frames ``(n, 1 + steps, C, ...)``: rollouts of an SL ``surrogate`` (``load_surrogate``'s
    result) from ``start`` with AR(1) labels times ``scale``, under the autocast its rollouts
    use, each generated frame clamped to ``clip`` (physical units, every channel) if given;
    with ``replay`` every step's label is drawn from the run's training labels instead, at the
    rollout's step or, with ``any_step``, at a random step of the training trajectories."""
    model, config, normalizer, _ = surrogate
    method = get_method(config.method)
    first = torch.from_numpy(start)
    window = initial_context(normalizer.encode(first, CHANNEL_AXIS), config.window, 1)
    generator = torch.Generator().manual_seed(seed)
    label = torch.randn(len(start), config.label_dim, generator=generator)
    if clip is not None:  # the bounds in normalised units, per channel
        shape = (1, -1) + (1,) * (first.ndim - 3)
        low, high = (
            torch.from_numpy((b - normalizer.mean) / normalizer.std).reshape(shape) for b in clip
        )
    frames = []
    for step in range(steps):
        if replay is not None:
            when = torch.randint(0, steps, (1,), generator=generator).item() if any_step else step
            label = replay.draw(len(start), when, generator)
        elif step:
            fresh = torch.randn(label.shape, generator=generator)
            label = rho * label + (1 - rho**2) ** 0.5 * fresh
        with autocast(config, torch.device("cpu")):
            nxt = method.fit(model, window.flatten(1, 2), scale * label, config).float()
        if clip is not None:
            nxt = torch.clamp(nxt, low, high)
        frames.append(nxt)
        window = torch.cat([window[:, 1:], nxt[:, None]], dim=1)
    generated = normalizer.decode(torch.stack(frames, dim=1), CHANNEL_AXIS)
    return torch.cat([first, generated], dim=1).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--rho", type=float, nargs="+", default=[0.0, 0.9, 1.0])
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--clip", type=float, nargs=2, metavar=("LO", "HI"))
    parser.add_argument("--scale", type=float, nargs="+", default=[1.0], help="label temperature τ")
    parser.add_argument(
        "--labels",
        choices=(*LABEL_LAWS, "training-any-step"),
        default="gaussian",
        help="training: replay the run's training labels (slsim sample --labels; ρ is ignored); "
        "training-any-step: the same labels drawn at a random step instead of the rollout's",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)

    n = args.n
    with open_ensemble(layout.split_path(args.system, "train", args.data_dir)) as train:
        spec, total = train.spec, train.n_trajectories
        variables, dims = spec.state_variables, spec.state_dims
        validation = {v: np.asarray(train[v][total - n :]) for v in variables}
        blocks = [
            {v: np.asarray(train[v][g * n : (g + 1) * n]) for v in variables}
            for g in range(min(3, (total - n) // n))
        ]
    frames = stack_frames(validation, variables, dims).astype(np.float32)
    metrics = metrics_for(spec.name)
    params = {m.name: m.resolve(validation, n) for m in metrics}
    target = {m.name: m.values(validation, n, **params[m.name]) for m in metrics}
    floor = {
        m.name: np.mean(
            [m.distance(m.values(b, n, **params[m.name]), target[m.name])[0] for b in blocks]
        )
        for m in metrics
    }
    run_dir = layout.run_dir(args.system, args.run, args.data_dir)
    surrogate = load_surrogate(run_dir / "checkpoint.pt", torch.device("cpu"))
    config = surrogate[1]
    if not get_method(config.method).uses_labels or config.trajectory_label_dim:
        raise SystemExit("label persistence needs an SL run without trajectory labels")
    clips = [None] + ([tuple(args.clip)] if args.clip else [])
    replay = None
    if args.labels.startswith("training"):
        replay = LabelReplay.of_run(
            config, surrogate[3]["n_train_trajectories"], frames.shape[1] - 1
        )
    print(f"| ρ | τ | clip | {' | '.join(f'{m.name} / floor (per seed)' for m in metrics)} |")
    print("|---" * (3 + len(metrics)) + "|")
    for rho, scale, clip in itertools.product(args.rho, args.scale, clips):
        ratios = {m.name: [] for m in metrics}
        for seed in range(args.seeds):
            rolled = persistent_rollout(
                surrogate,
                frames[:, :1],
                frames.shape[1] - 1,
                rho,
                seed,
                clip,
                scale,
                replay,
                args.labels == "training-any-step",
            )
            arrays = unstack_frames(rolled, variables, dims)
            for m in metrics:
                values = m.values(arrays, n, **params[m.name])
                ratios[m.name].append(m.distance(values, target[m.name])[0] / floor[m.name])
        cells = " | ".join(
            f"{np.mean(r):.2f} ({', '.join(f'{x:.1f}' for x in r)})" for r in ratios.values()
        )
        bounds = f"[{clip[0]:g}, {clip[1]:g}]" if clip else "none"
        print(f"| {rho:g} | {scale:g} | {bounds} | {cells} |")


if __name__ == "__main__":
    main()
