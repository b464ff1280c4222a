"""Autoregressive conditional diffusion (ARDM, the SL paper's baseline after Kohl et al.).

The network sees the context window and the noisy next frame ``z_s = α_s u + σ_s ε`` on
channels, and the diffusion time s ∈ [0, 1] in the conditioning slot (Fourier features). The
diffused variable u is y = x_{t+1} less the ``config.predict`` base (e.g. the increment
x_{t+1} − x_t), divided by S, the per-channel RMS of y over the training data, when
``config.ardm_standardise`` is on (else S = 1).

Why standardise: in normalised units a small step, such as Duffing's increment (RMS 0.07 in x),
is diffused under unit noise, so most of the schedule is spent where the signal is invisible,
and the last DDIM step, which returns the network's posterior mean E[y | z] at the lowest
noise level of the grid, shrinks the spread by Var y / (Var y + σ²/α²): on the uniform grid
σ/α is 0.05 at K = 40 and 0.17 at K = 10. S is the ``standardise`` scale of SL and MSE
(``measure_output_scale``, kept in the checkpoint by ``ScaledOutput``), under a switch of its
own because the shared ``standardise`` is on in presets where ARDM runs were trained without it.

Schedule: cosine (Nichol & Dhariwal 2021) in continuous time, ``α_s² = cos²(φ_s) / cos²(φ_0)``
with ``φ_s = π/2 · (s + 0.008) / 1.008`` and ``σ_s² = 1 − α_s²`` (variance preserving), so
z_1 is pure noise.

Objective: the network predicts the clean frame û (the x_0 form of the DDPM loss, MSE on u),
the same target SL and MSE regress. Not ε, because the cosine schedule reaches α_1 = 0, where
turning ε̂ into û = (z − σ ε̂)/α divides by zero; not v = α ε − σ u, because at low noise its
learnable part is the noise itself (slope 1/σ in z): on the two-mode test problem an MLP
trained on v never left v ≡ 0 while û recovered both modes. From û the DDIM update
``z_{s'} = α_{s'} û + (σ_{s'} / σ_s)(z_s − α_s û)`` is well posed on the whole grid (σ_s > 0
for s > 0) and never amplifies network errors (σ_{s'} ≤ σ_s).

Sampler: deterministic DDIM (η = 0) from z ~ N(0, I) (drawn from the rollout generator) down to
s = 0 along ``config.ardm_grid``: K = ``config.steps`` network calls per frame, by default 40,
the SL paper's "ARDM-40" comparison point. ``uniform``: s_k = k/K, k = K … 1. ``edm``: the
noise-to-signal ratios σ/α of T. Karras, M. Aittala, T. Aila, S. Laine, "Elucidating the Design
Space of Diffusion-Based Generative Models" (NeurIPS 2022), eq. 5 with their ρ = 7, σ_max = 80,
σ_min = 0.002, mapped to times of the cosine schedule (the network trains on every s, so the grid
needs no retraining): steps shrink towards low noise, and the last level is 0.002 instead of
0.05 (K = 40) or 0.17 (K = 10). The first call is at σ/α = 80 rather than at pure noise, which
the z ~ N(0, I) start ignores as Karras et al. do.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from torch import nn

from ..backbones import ScaledOutput
from .base import (
    TIME_EMBEDDING_DIM,
    Method,
    at_time,
    broadcast,
    prediction_base,
    sampling_steps,
    training_noise,
    training_times,
)

#: DDIM steps per frame when ``config.steps`` is 0.
DEFAULT_STEPS = 40
#: Offset of the cosine schedule that keeps the noise level from vanishing too fast near s = 0.
COSINE_OFFSET = 0.008
#: Sampling grids of ``config.ardm_grid``.
GRIDS = ("uniform", "edm")
#: Karras et al.'s grid: σ/α from EDM_MAX down to EDM_MIN, spaced uniformly in (σ/α)^(1/ρ).
EDM_MAX, EDM_MIN, EDM_RHO = 80.0, 0.002, 7.0


def _angle(s: torch.Tensor | float) -> torch.Tensor | float:
    return 0.5 * math.pi * (s + COSINE_OFFSET) / (1 + COSINE_OFFSET)


def schedule(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Signal and noise scales ``(α_s, σ_s)`` of the cosine schedule, α_0 = 1, α_1 = 0."""
    alpha = (torch.cos(_angle(s)) / math.cos(_angle(0.0))).clamp(0.0, 1.0)
    return alpha, (1 - alpha**2).sqrt()


def time_of_ratio(ratio: float) -> float:
    """The time s at which the cosine schedule's noise-to-signal ratio σ_s/α_s is ``ratio``."""
    alpha = 1 / math.sqrt(1 + ratio**2)
    angle = math.acos(alpha * math.cos(_angle(0.0)))
    return angle * 2 / math.pi * (1 + COSINE_OFFSET) - COSINE_OFFSET


def sampling_times(grid: str, k_steps: int) -> list[float]:
    """The K + 1 times of the sampler, decreasing to s = 0: a network call at each but the last."""
    if grid == "uniform":
        return [k / k_steps for k in range(k_steps, -1, -1)]
    top, bottom = EDM_MAX ** (1 / EDM_RHO), EDM_MIN ** (1 / EDM_RHO)
    fractions = [i / max(k_steps - 1, 1) for i in range(k_steps)]
    return [time_of_ratio((top + f * (bottom - top)) ** EDM_RHO) for f in fractions] + [0.0]


def _step_scale(model: nn.Module, like: torch.Tensor) -> torch.Tensor | float:
    """S of ``ardm_standardise`` shaped to divide frames like ``like`` (1 without it): the
    ``ScaledOutput`` buffer, found through the DDP and torch.compile wrappers of training."""
    while not isinstance(model, ScaledOutput):
        inner = getattr(model, "module", None)  # DistributedDataParallel
        if inner is None:
            inner = getattr(model, "_orig_mod", None)  # torch.compile
        if not isinstance(inner, nn.Module):
            return 1.0
        model = inner
    return model.scale.reshape(1, -1, *([1] * (like.dim() - 2))).to(like.dtype)


def _denoise(
    model: nn.Module,
    context: torch.Tensor,
    z: torch.Tensor,
    s: torch.Tensor,
    scale: torch.Tensor | float,
) -> torch.Tensor:
    """The network's estimate û of the clean (standardised) variable from the noisy one at time
    s; ``ScaledOutput`` multiplies the raw output by S, so dividing by it gives û back."""
    return at_time(model, context, (z,), s) / scale


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
    scale = _step_scale(model, target)
    u = (target - _base(context, target.shape[1], config)) / scale
    s = training_times(u.shape[0], generator, u)
    eps = training_noise(u.shape, generator, u)
    alpha, sigma = (broadcast(c, u) for c in schedule(s))
    return torch.mean((_denoise(model, context, alpha * u + sigma * eps, s, scale) - u) ** 2)


def step(
    model: nn.Module, context: torch.Tensor, generator: torch.Generator, config
) -> torch.Tensor:
    channels = context.shape[1] // config.window
    shape = (context.shape[0], channels, *context.shape[2:])
    z = torch.randn(shape, generator=generator, device=context.device, dtype=context.dtype)
    scale = _step_scale(model, z)
    times = sampling_times(config.ardm_grid, sampling_steps(config, DEFAULT_STEPS))
    for now, later in pairwise(times):
        s = torch.full((shape[0],), now, device=z.device, dtype=z.dtype)
        alpha, sigma = (broadcast(c, z) for c in schedule(s))
        u = _denoise(model, context, z, s, scale)
        alpha_next, sigma_next = (broadcast(c, z) for c in schedule(torch.full_like(s, later)))
        z = alpha_next * u + sigma_next / sigma * (z - alpha * u)
    return _base(context, channels, config) + scale * z


METHOD = Method(
    name="ardm",
    summary="autoregressive conditional diffusion: cosine schedule, K-step DDIM",
    uses_labels=False,
    extra_input_frames=1,
    cond_dim=lambda config: TIME_EMBEDDING_DIM,
    loss=loss,
    step=step,
    default_steps=DEFAULT_STEPS,
    predicts_step=True,
    standardise_switch="ardm_standardise",
)
