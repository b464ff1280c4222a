"""What a surrogate method is: how it trains on a transition and how it takes one rollout step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

#: loss(model, context, target, labels, generator, config) -> scalar
LossFn = Callable[
    [nn.Module, torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Generator, object],
    torch.Tensor,
]
#: step(model, context, generator, config) -> next frame
StepFn = Callable[[nn.Module, torch.Tensor, torch.Generator, object], torch.Tensor]


@dataclass(frozen=True)
class Method:
    """A training objective plus its sampler, on a shared backbone."""

    name: str
    summary: str
    #: Whether training pairs carry fixed Stochastic Lifting labels.
    uses_labels: bool
    #: Extra input channels beyond the context window (e.g. the noisy target of diffusion).
    extra_input_frames: int
    #: Size of the conditioning vector given the config (label or time embedding).
    cond_dim: Callable[[object], int]
    loss: LossFn
    step: StepFn
    #: Network evaluations per generated frame, given the config.
    calls_per_step: Callable[[object], int]


def with_residual(
    model: nn.Module,
    context: torch.Tensor,
    output: torch.Tensor,
    frame_channels: int,
    residual: bool,
) -> torch.Tensor:
    """``output`` as the next frame, or as an increment to the last context frame."""
    del model
    return context[:, -frame_channels:] + output if residual else output
