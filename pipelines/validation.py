"""Validation during training: rollouts from held-out starts scored on every QoI of the system.

The validation trajectories are the last ``validate_trajectories`` of the training file: their
seeds come from the training stream but no training transition uses them, and the test split is
never opened while training (it gives the final numbers only). Each QoI distance is reported
beside its noise floor — the same distance between the validation trajectories and equally many
other trajectories of the training file, averaged over disjoint groups — so
``val_<QoI>/floor`` near 1 means the rollouts are as close to held-out data as the simulator's
own sampling noise allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from slsim.surrogate.config import TrainConfig
from slsim.surrogate.labels import LabelReplay
from slsim.surrogate.methods import get_method
from slsim.surrogate.normalization import Normalizer
from slsim.surrogate.sampling import rollout
from slsim.surrogate.training import Validator
from slsim.surrogate.transitions import (
    CHANNEL_AXIS,
    initial_context,
    stack_frames,
    unstack_frames,
)

from .ensemble import Ensemble, atomic_output
from .errors import UserError
from .qoi import Metric, metrics_for

#: Disjoint groups of training trajectories the validation noise floor is averaged over.
FLOOR_GROUPS = 4


@dataclass(frozen=True)
class Split:
    """Trajectory ranges of the training file: ``train`` gives transitions, ``validation`` is
    held out."""

    train: range
    validation: range


def split_training_file(n_available: int, config: TrainConfig) -> Split:
    """Training trajectories first, validation trajectories last; disjoint by construction."""
    n_val = config.validate_trajectories if config.validate_every else 0
    n_train = config.train_trajectories or n_available - n_val
    if n_train < 1 or n_train + n_val > n_available:
        raise UserError(
            f"train_trajectories ({n_train}) + validate_trajectories ({n_val}) exceed the "
            f"{n_available} trajectories of the training file; generate more or lower them"
        )
    return Split(range(n_train), range(n_available - n_val, n_available))


def _arrays(ensemble: Ensemble, rows: range) -> dict[str, np.ndarray]:
    return {name: ensemble[name][rows.start : rows.stop] for name in ensemble.spec.state_variables}


def make_validator(
    ensemble: Ensemble,
    split: Split,
    config: TrainConfig,
    normalizer: Normalizer,
    device: torch.device,
) -> Validator | None:
    """Score rollouts from the validation starts on each QoI, beside the noise floor.

    SL's per-step labels are fresh or replayed from its training labels
    (``config.validate_labels``), so that ``best.pt`` is chosen for the sampler that will be used.
    Returns scores ``val_<QoI>`` (distance) and ``val_<QoI>/floor``.
    """
    metrics = metrics_for(ensemble.spec.name)
    if not config.validate_every or not metrics or not split.validation:
        return None
    n = len(split.validation)
    target = _arrays(ensemble, split.validation)
    params = {m.name: m.resolve(target, n) for m in metrics}
    target_values = {m.name: m.values(target, n, **params[m.name]) for m in metrics}
    floors = _floors(ensemble, split, metrics, params, target_values)
    variables = ensemble.spec.state_variables
    dims = ensemble.spec.state_dims
    frames = torch.from_numpy(stack_frames(target, variables, dims))
    start = frames[:, :1]
    context = initial_context(normalizer.encode(start, CHANNEL_AXIS).to(device), config.window, 1)
    method = get_method(config.method)
    steps = frames.shape[1] - 1
    replay = None
    if config.validate_labels == "training":
        replay = LabelReplay.of_run(config, len(split.train), steps, device=device)

    def validate(model: torch.nn.Module) -> dict[str, float]:
        generator = torch.Generator(device=device).manual_seed(0)
        generated = rollout(
            model, method, config, context, steps, generator, batch_size=256, replay=replay
        )
        decoded = normalizer.decode(generated.float().cpu(), CHANNEL_AXIS)
        arrays = unstack_frames(torch.cat([start, decoded], dim=1).numpy(), variables, dims)
        scores: dict[str, float] = {}
        for metric in metrics:
            values = metric.values(arrays, n, **params[metric.name])
            if not np.all(np.isfinite(values)):
                distance = float("inf")
            else:
                distance, _ = metric.distance(values, target_values[metric.name])
            scores[f"val_{metric.name}"] = distance
            scores[f"val_{metric.name}/floor"] = distance / floors[metric.name]
        return scores

    return validate


def floor_groups(split: Split) -> list[range]:
    """Disjoint blocks of as many trajectories as the validation block, taken from the start of
    the file and ending before it (at most ``FLOOR_GROUPS``; one, possibly shorter, if the file
    holds fewer)."""
    n, others = len(split.validation), split.validation.start
    groups = max(1, min(FLOOR_GROUPS, others // n))
    return [range(g * n, min((g + 1) * n, others)) for g in range(groups)]


def _floors(
    ensemble: Ensemble,
    split: Split,
    metrics: Sequence[Metric],
    params: dict[str, dict],
    target_values: dict[str, np.ndarray],
) -> dict[str, float]:
    """Mean distance between the validation trajectories and disjoint groups of as many
    other trajectories of the file (at most ``FLOOR_GROUPS``, at least one). The floor
    compares simulator with simulator, so the groups may reach past the trajectories that
    train the network: only the validation block itself is excluded."""
    distances: dict[str, list[float]] = {m.name: [] for m in metrics}
    for rows in floor_groups(split):
        arrays = _arrays(ensemble, rows)
        for metric in metrics:
            values = metric.values(arrays, len(rows), **params[metric.name])
            distance, _ = metric.distance(values, target_values[metric.name])
            distances[metric.name].append(distance)
    return {name: max(float(np.mean(d)), 1e-12) for name, d in distances.items()}


def plot_learning_curve(history: Sequence[dict[str, float]], out: Path) -> Path:
    """Training loss and validation distance / noise floor against the step, as a PNG.

    Written atomically (temporary file, then rename) so a user can open it while training runs.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    steps = [e["step"] for e in history]
    left.plot(steps, [e["loss"] for e in history], color="black")
    left.set(xlabel="step", ylabel="training loss", yscale="log", title="loss")
    keys = sorted({k for e in history for k in e if k.startswith("val_") and k.endswith("/floor")})
    for key in keys:
        points = [(e["step"], e[key]) for e in history if key in e]
        right.plot(*zip(*points, strict=True), marker="o", label=key[4:].replace("/floor", ""))
    right.axhline(1.0, color="grey", linestyle="--", label="noise floor")
    right.set(xlabel="step", ylabel="distance / noise floor", yscale="log", title="validation")
    right.legend()
    fig.tight_layout()
    with atomic_output(out) as temporary:
        fig.savefig(temporary, dpi=100, format="png")
    plt.close(fig)
    return out
