"""Autoregressive conditional diffusion (ARDM, the SL paper's baseline after Kohl et al.).

The network sees the context window and the noisy next frame ``z_s = α_s y + σ_s ε`` on
channels, and the diffusion time s ∈ [0, 1] in the conditioning slot (Fourier features). The
diffused frame y is x_{t+1} less the ``config.predict`` base (e.g. the increment x_{t+1} − x_t).

Schedule: cosine (Nichol & Dhariwal 2021) in continuous time, ``α_s² = cos²(φ_s) / cos²(φ_0)``
with ``φ_s = π/2 · (s + 0.008) / 1.008`` and ``σ_s² = 1 − α_s²`` (variance preserving), so
z_1 is pure noise.

Objective: the network predicts the clean frame ŷ (the x_0 form of the DDPM loss, MSE on y),
the same target SL and MSE regress. Not ε, because the cosine schedule reaches α_1 = 0, where
turning ε̂ into ŷ = (z − σ ε̂)/α divides by zero; not v = α ε − σ y, because at low noise its
learnable part is the noise itself (slope 1/σ in z): on the two-mode test problem an MLP
trained on v never left v ≡ 0 while ŷ recovered both modes. From ŷ the DDIM update
``z_{s'} = α_{s'} ŷ + (σ_{s'} / σ_s)(z_s − α_s ŷ)`` is well posed on the whole grid (σ_s > 0
for s ≥ 1/K) and never amplifies network errors (σ_{s'} ≤ σ_s).

Sampler: deterministic DDIM (η = 0) on the uniform grid s_k = k/K from z_1 ~ N(0, I) (drawn
from the rollout generator) down to s = 0: K = ``config.steps`` network calls per frame,
by default 40, the SL paper's "ARDM-40" comparison point.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import (
    TIME_EMBEDDING_DIM,
    Method,
    broadcast,
    fourier_embedding,
    prediction_base,
    sampling_steps,
    training_noise,
    training_times,
)

#: DDIM steps per frame when ``config.steps`` is 0.
DEFAULT_STEPS = 40
#: Offset of the cosine schedule that keeps the noise level from vanishing too fast near s = 0.
COSINE_OFFSET = 0.008


def _angle(s: torch.Tensor | float) -> torch.Tensor | float:
    return 0.5 * math.pi * (s + COSINE_OFFSET) / (1 + COSINE_OFFSET)


def schedule(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Signal and noise scales ``(α_s, σ_s)`` of the cosine schedule, α_0 = 1, α_1 = 0."""
    alpha = (torch.cos(_angle(s)) / math.cos(_angle(0.0))).clamp(0.0, 1.0)
    return alpha, (1 - alpha**2).sqrt()


def _denoise(
    model: nn.Module, context: torch.Tensor, z: torch.Tensor, s: torch.Tensor
) -> torch.Tensor:
    """The network's estimate ŷ of the clean frame from the noisy one at time s."""
    cond = fourier_embedding(s, TIME_EMBEDDING_DIM)
    return model(torch.cat([context, z], dim=1), cond).to(z.dtype)


def _base(context: torch.Tensor, channels: int, config) -> torch.Tensor | float:
    """What y is relative to (``config.predict``)."""
    return prediction_base(context, channels, config.predict)


def loss(
    model: nn.Module,
    context: torch.Tensor,
    target: torch.Tensor,
    labels: torch.Tensor | None,
    generator: torch.Generator,
    config,
) -> torch.Tensor:
    del labels
    y = target - _base(context, target.shape[1], config)
    s = training_times(y.shape[0], generator, y)
    eps = training_noise(y.shape, generator, y)
    alpha, sigma = (broadcast(c, y) for c in schedule(s))
    return torch.mean((_denoise(model, context, alpha * y + sigma * eps, s) - y) ** 2)


def step(
    model: nn.Module, context: torch.Tensor, generator: torch.Generator, config
) -> torch.Tensor:
    channels = context.shape[1] // config.window
    shape = (context.shape[0], channels, *context.shape[2:])
    z = torch.randn(shape, generator=generator, device=context.device, dtype=context.dtype)
    k_steps = sampling_steps(config, DEFAULT_STEPS)
    for k in range(k_steps, 0, -1):
        s = torch.full((shape[0],), k / k_steps, device=z.device, dtype=z.dtype)
        alpha, sigma = (broadcast(c, z) for c in schedule(s))
        y = _denoise(model, context, z, s)
        alpha_next, sigma_next = (
            broadcast(c, z) for c in schedule(torch.full_like(s, (k - 1) / k_steps))
        )
        z = alpha_next * y + sigma_next / sigma * (z - alpha * y)
    return _base(context, channels, config) + z


METHOD = Method(
    name="ardm",
    summary="autoregressive conditional diffusion: cosine schedule, K-step DDIM",
    uses_labels=False,
    extra_input_frames=1,
    cond_dim=lambda config: TIME_EMBEDDING_DIM,
    loss=loss,
    step=step,
    default_steps=DEFAULT_STEPS,
)
