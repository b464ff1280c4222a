"""Autoregressive rollouts: batched over trajectories, the method's sampler once per frame."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .config import TrainConfig
from .device import autocast
from .labels import LabelReplay, WithTrajectoryLabel
from .methods import Method


@torch.no_grad()
def rollout(
    model: nn.Module,
    method: Method,
    config: TrainConfig,
    context: torch.Tensor,
    n_steps: int,
    generator: torch.Generator,
    batch_size: int = 1024,
    on_batch: Callable[[int], None] | None = None,
    replay: LabelReplay | None = None,
) -> torch.Tensor:
    """Generate ``n_steps`` frames after each start window.

    ``context`` is ``(n, w, C, *spatial)`` in normalised units on the model's device; the result
    is ``(n, n_steps, C, *spatial)``. ``generator`` lives on the same device and supplies all
    sampling noise (fresh labels for SL, and SL's trajectory labels drawn once per rollout before
    its first step, or with ``replay`` SL's labels drawn from its training labels), so a fixed
    seed and batch size give fixed samples.
    Under ``config.bf16`` (CUDA) or ``config.cpu_bf16`` the network runs under bf16 autocast,
    as in training; frames are kept in float32 between steps.
    """
    model.eval()
    precision = autocast(config, context.device)
    out = []
    for start in range(0, context.shape[0], batch_size):
        window = context[start : start + batch_size]
        network = model
        if config.trajectory_label_dim:
            fixed = torch.randn(
                window.shape[0],
                config.trajectory_label_dim,
                generator=generator,
                device=context.device,
            )
            network = WithTrajectoryLabel(model, fixed)
        frames = []
        for step in range(n_steps):
            with precision:
                if replay is None:
                    nxt = method.step(network, window.flatten(1, 2), generator, config)
                else:
                    label = replay.draw(window.shape[0], step, generator).to(window.dtype)
                    nxt = method.fit(network, window.flatten(1, 2), label, config)
            nxt = nxt.to(context.dtype)
            frames.append(nxt)
            window = torch.cat([window[:, 1:], nxt[:, None]], dim=1)
        out.append(torch.stack(frames, dim=1))
        if on_batch is not None:
            on_batch(window.shape[0])
    return torch.cat(out, dim=0)
