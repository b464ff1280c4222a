"""Stochastic interpolant from the current frame to the next, in the forecasting form of Chen
et al. 2024 ("Probabilistic forecasting with stochastic interpolants and Föllmer processes")
that "Reframing Generative Models for Physical Systems using Stochastic Interpolants" (2025)
benchmarks.

Interpolant, for s ∈ [0, 1], x_0 the current frame, x_1 the next one and z ~ N(0, I):

    x_s = (1 − s) x_0 + s x_1 + γ_s z,   γ_s = σ (1 − s) √s   (i.e. σ (1 − s) W_s),

so the latent noise vanishes at both ends (γ_0 = γ_1 = 0). The drift network b(s, x_s | window)
regresses the interpolant's velocity ``x_1 − x_0 − σ √s z`` (the derivative of σ (1 − s) W_s
at fixed W_s is −σ W_s); the window enters on channels with x_s as the extra input frame, s in
the conditioning slot. The SDE

    dX_s = b(s, X_s) ds + σ (1 − s) dW_s,   X_0 = x_0,

has the interpolant's marginals, so X_1 samples x_{t+1} given the window: the point mass at the
current frame spreads into the forecast distribution. Sampling is Euler–Maruyama on the grid
s_k = k/K with Brownian increments from the rollout generator: K = ``config.steps`` network
calls per frame, 10 by default (the seed reports SI saturating at 2–5 steps; Euler–Maruyama is
first order in the noise, so we take twice the upper end). The linear β_s = s rather than
Chen et al.'s s² keeps the data part of the drift constant in s, so few Euler steps add no
bias to it (with s², left-point Euler integrates β' = 2s to 1 − 1/K and shrinks samples
towards 0 by x_{t+1}/K, clearly visible at K = 10 in the two-mode test). σ = ``config.si_noise``
is fixed at training; σ = 0 leaves a deterministic flow, which cannot spread a point mass. The
interpolant transports whole frames, so ``config.predict`` plays no role.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import (
    TIME_EMBEDDING_DIM,
    Method,
    at_time,
    broadcast,
    sampling_steps,
    training_noise,
    training_times,
)

#: Euler–Maruyama steps per frame when ``config.steps`` is 0.
DEFAULT_STEPS = 10


def _drift(
    model: nn.Module, context: torch.Tensor, state: torch.Tensor, s: torch.Tensor
) -> torch.Tensor:
    """The network's drift b(s, x_s | window)."""
    return at_time(model, context, (state,), s)


def loss(
    model: nn.Module,
    context: torch.Tensor,
    target: torch.Tensor,
    labels: torch.Tensor | None,
    generator: torch.Generator,
    config,
) -> torch.Tensor:
    del labels
    current = context[:, -target.shape[1] :]
    times = training_times(target.shape[0], generator, target)
    z = training_noise(target.shape, generator, target)
    brownian = config.si_noise * broadcast(times.sqrt(), target) * z  # σ W_s
    s = broadcast(times, target)
    state = (1 - s) * current + s * target + (1 - s) * brownian
    velocity = target - current - brownian
    return torch.mean((_drift(model, context, state, times) - velocity) ** 2)


def step(
    model: nn.Module, context: torch.Tensor, generator: torch.Generator, config
) -> torch.Tensor:
    channels = context.shape[1] // config.window
    state = context[:, -channels:]
    k_steps = sampling_steps(config, DEFAULT_STEPS)
    h = 1 / k_steps
    for k in range(k_steps):
        s = torch.full((state.shape[0],), k * h, device=state.device, dtype=state.dtype)
        drift = _drift(model, context, state, s)
        dw = torch.randn(state.shape, generator=generator, device=state.device, dtype=state.dtype)
        state = state + drift * h + config.si_noise * (1 - k * h) * math.sqrt(h) * dw
    return state


METHOD = Method(
    name="si",
    summary="stochastic interpolant current → next frame: drift regression, K-step Euler–Maruyama",
    uses_labels=False,
    extra_input_frames=1,
    cond_dim=lambda config: TIME_EMBEDDING_DIM,
    loss=loss,
    step=step,
    default_steps=DEFAULT_STEPS,
)
