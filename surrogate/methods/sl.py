"""Stochastic Lifting: regress x_{t+1} on (window, fixed label ξ); sample with fresh ξ each step."""

from __future__ import annotations

import torch
from torch import nn

from .base import Method, with_base


def _predict(model: nn.Module, context: torch.Tensor, label: torch.Tensor, config) -> torch.Tensor:
    channels = context.shape[1] // config.window
    return with_base(context, model(context, label), channels, config.predict)


def loss(
    model: nn.Module,
    context: torch.Tensor,
    target: torch.Tensor,
    labels: torch.Tensor | None,
    generator: torch.Generator,
    config,
) -> torch.Tensor:
    del generator
    return torch.mean((_predict(model, context, labels, config) - target) ** 2)


def step(
    model: nn.Module, context: torch.Tensor, generator: torch.Generator, config
) -> torch.Tensor:
    label = torch.randn(
        context.shape[0], config.label_dim, generator=generator, device=context.device
    )
    return _predict(model, context, label.to(context.dtype), config)


METHOD = Method(
    name="sl",
    summary="Stochastic Lifting: one network call per step with a fresh Gaussian label",
    uses_labels=True,
    extra_input_frames=0,
    cond_dim=lambda config: config.label_dim + config.trajectory_label_dim,
    loss=loss,
    step=step,
    fit=_predict,
    predicts_step=True,
)
