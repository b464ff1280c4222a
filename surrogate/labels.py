"""The Stochastic Lifting labels: one Gaussian vector per training transition, fixed for good.

Resampling labels every epoch would make the regression target independent of the label and
collapse the model to the conditional mean; fixing them lets the network interpolate the
labelled pairs. The table is a pure function of ``(n_transitions, dim, seed)``, so it is
rebuilt identically on resume instead of being stored.

A second, optional label is fixed per *trajectory* (``trajectory_label_dim``): every transition of
a training trajectory carries the same one, and a rollout draws it once and keeps it. Randomness
that persists along a trajectory (the hidden medium of the wave and flow systems) then has a
label to hang on, instead of being re-drawn by a fresh per-step label at every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from .config import TrainConfig


def label_table(n_transitions: int, dim: int, seed: int) -> torch.Tensor:
    """``(n_transitions, dim)`` standard normal labels, identical on every call (CPU)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n_transitions, dim, generator=generator)


def training_labels(
    n_trajectories: int, steps: int, label_dim: int, trajectory_label_dim: int, seed: int
) -> torch.Tensor:
    """Labels of all ``n_trajectories · steps`` transitions (trajectory-major, as
    ``TransitionSet`` indexes them): the per-transition label, then the trajectory's label."""
    per_step = label_table(n_trajectories * steps, label_dim, seed)
    if not trajectory_label_dim:
        return per_step
    per_trajectory = label_table(n_trajectories, trajectory_label_dim, seed + 1_000_003)
    return torch.cat([per_step, per_trajectory.repeat_interleave(steps, dim=0)], dim=1)


def run_labels(config: TrainConfig, n_trajectories: int, steps: int) -> torch.Tensor:
    """The labels a run of ``config`` trains with on ``n_trajectories · steps`` transitions
    (a stream of their own: ``config.seed + 1``), so that tools can rebuild them."""
    return training_labels(
        n_trajectories, steps, config.label_dim, config.trajectory_label_dim, config.seed + 1
    )


#: How a rollout draws SL's per-step labels: fresh N(0, I) (the paper's sampler), or replayed
#: from the labels the run trained on at the same step (:class:`LabelReplay`).
LABEL_LAWS = ("gaussian", "training")


@dataclass(frozen=True)
class LabelReplay:
    """Per-step labels drawn from a run's own training labels instead of fresh N(0, I).

    Step k of a rollout (the transition ``first + k`` of a trajectory, the last one beyond the
    training horizon) takes the label that transition carried in training in a training
    trajectory drawn at random, independently for every rollout and step. A network that has fit
    its labelled transitions answers a label it was trained on with a whole training outcome,
    where a fresh Gaussian label, about equally far from all of them, gets a blend of outcomes
    (too little spread). Still one network call per step; the draws are not fixed to one
    training trajectory, so a rollout recombines steps rather than replaying a trajectory.
    """

    table: torch.Tensor  # (training trajectories, steps, label_dim), on the sampling device
    first: int = 0

    @classmethod
    def of_run(
        cls,
        config: TrainConfig,
        n_trajectories: int,
        steps: int,
        first: int = 0,
        device: torch.device | str = "cpu",
    ):
        """The replay of a run's labels (``run_labels``) over its ``n_trajectories · steps``,
        kept on ``device`` (the sampling generator's) so that no step copies it."""
        table = run_labels(config, n_trajectories, steps).view(n_trajectories, steps, -1)
        return cls(table.to(device), first)

    def draw(self, n: int, step: int, generator: torch.Generator) -> torch.Tensor:
        """Labels ``(n, label_dim)`` for rollout step ``step`` (``generator`` on the table's
        device)."""
        count, steps, _ = self.table.shape
        pick = torch.randint(0, count, (n,), generator=generator, device=self.table.device)
        return self.table[pick, min(self.first + step, steps - 1)]


class WithTrajectoryLabel(nn.Module):
    """``model`` with a fixed per-rollout label appended to every label it is called with."""

    def __init__(self, model: nn.Module, trajectory_label: torch.Tensor):
        super().__init__()
        self.model, self.trajectory_label = model, trajectory_label

    def forward(self, context: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        fixed = self.trajectory_label.to(label.dtype)
        return self.model(context, torch.cat([label, fixed], dim=1))
