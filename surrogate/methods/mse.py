"""Deterministic regression baseline: the MSE minimiser is the conditional mean (no spread)."""

from __future__ import annotations

import torch
from torch import nn

from .base import Method, with_base


def _predict(model: nn.Module, context: torch.Tensor, config) -> torch.Tensor:
    channels = context.shape[1] // config.window
    return with_base(context, model(context, None), channels, config.predict)


def loss(
    model: nn.Module,
    context: torch.Tensor,
    target: torch.Tensor,
    labels: torch.Tensor | None,
    generator: torch.Generator,
    config,
) -> torch.Tensor:
    del labels, generator
    return torch.mean((_predict(model, context, config) - target) ** 2)


def fit(
    model: nn.Module, context: torch.Tensor, labels: torch.Tensor | None, config
) -> torch.Tensor:
    del labels
    return _predict(model, context, config)


def step(
    model: nn.Module, context: torch.Tensor, generator: torch.Generator, config
) -> torch.Tensor:
    del generator
    return _predict(model, context, config)


METHOD = Method(
    name="mse",
    summary="deterministic regression without labels (collapses to the conditional mean)",
    uses_labels=False,
    extra_input_frames=0,
    cond_dim=lambda config: 0,
    loss=loss,
    step=step,
    fit=fit,
    predicts_step=True,
)
