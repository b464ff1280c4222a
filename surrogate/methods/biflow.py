"""Video bi-flow (C. Liu and T. Ritschel, "Generative Video Bi-flow", 2025): a joint flow
field of next-frame transport and denoising, sampled along a characteristic that advances and
denoises at once.

Training (eq. 4–5): the bi-linear state ``x_{t,α} = x_0 + t (x_1 − x_0) + α n`` of the current
frame x_0, the next frame x_1 and noise n ~ N(0, I), with t ~ U(0, 1) and α ~ U(0,
``MAX_TRAIN_NOISE``); one network with two C-channel outputs regresses the video field
f_v → x_1 − x_0 and the denoising field f_n → n (sum of the two MSEs), with (t, α) in the
conditioning slot (two Fourier embeddings). As in the paper the network sees the state, not
the clean current frame, which would make n trivial to read off and leave nothing to correct:
the state takes the current frame's place in the window, so older frames (window > 1) enter
as clean conditioning and ``extra_input_frames`` is 0. Since f_v and f_n are the conditional
means of the path's two velocity components, their mix along any (t, α) curve transports the
law of the noisy current frame to that of the next one; with window 1 the current frame must
be read off the state, so where straight paths of different transitions cross, the learned
conditional blurs (the paper's "crossing" limitation).

Sampling (eq. 8–9, joint pattern): start from the last frame plus ε n and integrate
``dx = f_v dt + f_n dα`` along the straight line (t, α) = (k, ε (1 − k)), k: 0 → 1, i.e.
``dx/dk = f_v − ε f_n``, with K explicit Euler steps (the paper's fixed-step comparison
uses Euler at step 0.05, K = 20, our default): K = ``config.steps`` network calls per frame.
ε = ``config.biflow_noise`` trades consistency for correction of accumulated errors; the paper
tunes it per dataset in {0.1, 0.2, 0.3}, and ε = 0 is its plain streaming flow. The state is a
transport between frames, so ``config.predict`` plays no role.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import (
    TIME_EMBEDDING_DIM,
    Method,
    broadcast,
    fourier_embedding,
    sampling_steps,
    training_noise,
    training_times,
)

#: Euler steps per frame when ``config.steps`` is 0.
DEFAULT_STEPS = 20
#: Training noise levels α are uniform on [0, MAX_TRAIN_NOISE] (the seed does not give the
#: range): this covers the sampling levels ε ≤ 0.3 the paper uses with margin; levels the
#: sampler never queries only cost capacity (U(0, 1) needed ~2.5× the iterations to recover
#: both modes of the two-mode test problem).
MAX_TRAIN_NOISE = 0.5


def _fields(
    model: nn.Module,
    older: torch.Tensor,
    state: torch.Tensor,
    t: torch.Tensor,
    alpha: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Video and denoising fields ``(f_v, f_n)`` at the state ``x_{t,α}``."""
    half = TIME_EMBEDDING_DIM // 2
    cond = torch.cat([fourier_embedding(t, half), fourier_embedding(alpha, half)], dim=1)
    out = model(torch.cat([older, state], dim=1), cond).to(state.dtype)
    return out[:, : state.shape[1]], out[:, state.shape[1] :]


def loss(
    model: nn.Module,
    context: torch.Tensor,
    target: torch.Tensor,
    labels: torch.Tensor | None,
    generator: torch.Generator,
    config,
) -> torch.Tensor:
    del labels
    channels = target.shape[1]
    older, current = context[:, :-channels], context[:, -channels:]
    t = training_times(target.shape[0], generator, target)
    alpha = MAX_TRAIN_NOISE * training_times(target.shape[0], generator, target)
    n = training_noise(target.shape, generator, target)
    jump = target - current
    state = current + broadcast(t, target) * jump + broadcast(alpha, target) * n
    video, denoise = _fields(model, older, state, t, alpha)
    return torch.mean((video - jump) ** 2) + torch.mean((denoise - n) ** 2)


def step(
    model: nn.Module, context: torch.Tensor, generator: torch.Generator, config
) -> torch.Tensor:
    channels = context.shape[1] // config.window
    older, current = context[:, :-channels], context[:, -channels:]
    eps = config.biflow_noise
    n = torch.randn(current.shape, generator=generator, device=current.device, dtype=current.dtype)
    state = current + eps * n
    k_steps = sampling_steps(config, DEFAULT_STEPS)
    h = 1 / k_steps
    for k in range(k_steps):
        t = torch.full((state.shape[0],), k * h, device=state.device, dtype=state.dtype)
        video, denoise = _fields(model, older, state, t, eps * (1 - t))
        state = state + h * (video - eps * denoise)
    return state


METHOD = Method(
    name="biflow",
    summary="video bi-flow: joint next-frame and denoising field, K-step joint Euler sampling",
    uses_labels=False,
    extra_input_frames=0,
    cond_dim=lambda config: TIME_EMBEDDING_DIM,
    loss=loss,
    step=step,
    default_steps=DEFAULT_STEPS,
    output_frames=2,
)
