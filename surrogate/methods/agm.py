"""Acceleration Generative Modeling (AGM) as a next-frame generator, after T. Chen, J. Gu,
L. Dinh, E. Theodorou, J. Susskind, S. Zhai, "Generative Modeling with Phase Stochastic
Bridges" (ICLR 2024).

Phase space: the state m_s = (x_s, v_s) of a particle with position x (a frame) and velocity v
in the linear momentum system ``dx = v ds, dv = a ds + g dW`` over s ∈ [0, 1]. Training draws
m_0 from the prior N(0, I) ⊗ N(0, I) (the authors' code correlates x_0 and v_0 by 0.2; we keep
them independent) and the target y, the next frame x_{t+1} less the ``config.predict`` base (as
for ``ardm``), and pins the position to x_1 = y with the phase-space Brownian bridge: the
reference (a = 0) conditioned on x_1 = y, velocity free (the paper's stochastic-bridge problem
of a linear momentum system, after Y. Chen, T. Georgiou, "Stochastic bridges of linear
systems", IEEE TAC 2016). Its optimal acceleration g² ∂_v log p(x_1 = y | m_s) (Doob's
h-transform, derived here) has the paper's form

    a*(m_s, s) = g²P11 ((y − x_s)/(1 − s) − v_s),   g²P11 = 3 / (1 − s),

and its transition from m_t to time s > t is Gaussian in closed form (:func:`bridge`, derived
here): with T = 1 − t, u = s − t, σ = u/T and d = y − x_t − T v_t,

    mean x_s = x_t + u v_t + σ²(3 − σ)/2 · d,   mean v_s = v_t + 3σ(2 − σ)/(2T) · d,
    Σ_xx = g² u³ (1 − σ)² (4 − σ)/12,   Σ_xv = g² u² (1 − σ)(2 − 4σ + σ²)/4,
    Σ_vv = g² u (4 − 12σ + 12σ² − 3σ³)/4,

so x_s → y as s → 1 while v_1 keeps variance g²T/4. The authors' code (apple/ml-agm) uses a
decaying noise g_s = 3(1 − s) with g²P11 = 4/(1 − s) and logarithms in Σ; we take constant g
(``config.agm_noise``, 1 by default: the scale of the normalised data), for which the bridge is
exact and polynomial.

Network: the window, x_s and v_s on channels, s in the conditioning slot (Fourier features). The
trainable force is F^θ = g²P11 ((ŷ − x_s)/(1 − s) − v_s) with the network's output ŷ: since a*
is affine in y, regressing F on a* and ŷ on y share their minimiser E[y | m_s, window], and the
loss MSE(ŷ, y) is the force loss weighted by ((1 − s)²/3)², keeping the target O(1) at every s
(the role of the paper's label normaliser). ŷ is then exactly the paper's sampling-hop estimate
x_s + (1 − s)(v_s + F^θ/(g²P11)) of the data point from position and velocity.

Sampler (AGM-SDE): m_0 ~ N(0, I) from the rollout generator, then K = ``config.steps`` network
calls at s_k = (1 − 1/K)(k/(K − 1))², the quadratic grid, dense near s = 0, of the authors'
image runs. Between calls the SDE ``dx = v ds, dv = F^θ ds + g dW`` is integrated with ŷ held
at the last call's value and the linear rest solved exactly, i.e. a draw of :func:`bridge`
towards ŷ: an exponential integrator (the paper's AGM-ODE uses gDDIM, one of those), which has
no step-size limit from the gain 3/(1 − s)². The last call ends the frame with the sampling
hop: its ŷ, at s = 1 − 1/K, is the sample. With the exact E[y | m_s] as network and a two-point
law of weights (0.7, 0.3), this puts 0.73 on the first point at K = 10 and 0.71 at K = 40 (the
bias of holding ŷ over a step; Euler–Maruyama gives about the same). The default K = 10: the
paper's case is the low-NFE regime (the authors report CIFAR-10 at 5, 10 and 20 evaluations and
sample their toy SDE with 10), and it is ``si``'s default, for a like-for-like comparison.
AGM-ODE is not implemented: its probability-flow drift needs a score term in the training
target, a second objective.
"""

from __future__ import annotations

import torch
from torch import nn

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

#: Network calls per frame when ``config.steps`` is 0.
DEFAULT_STEPS = 10


def bridge(
    x: torch.Tensor,
    v: torch.Tensor,
    target: torch.Tensor,
    t: torch.Tensor,
    s: torch.Tensor,
    g: float,
    noise_x: torch.Tensor,
    noise_v: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A draw of (x_s, v_s) from the phase-space bridge at ``m_t = (x, v)`` pinned to
    x_1 = ``target``, for times ``t ≤ s < 1`` ``(B,)`` and standard normal ``noise_x, noise_v``
    (the Cholesky factor of the module docstring's Σ colours them)."""
    horizon, elapsed = broadcast(1 - t, x), broadcast(s - t, x)
    frac = elapsed / horizon
    miss = target - x - horizon * v
    mean_x = x + elapsed * v + frac**2 * (3 - frac) / 2 * miss
    mean_v = v + 3 * frac * (2 - frac) / (2 * horizon) * miss
    scale = g * elapsed.sqrt()
    root = (4 - frac).sqrt()
    l_xx = scale * elapsed * (1 - frac) * root / 12**0.5
    l_vx = scale * 3**0.5 * (2 - 4 * frac + frac**2) / (2 * root)
    l_vv = scale * ((1 - frac) / (4 - frac)).sqrt()
    return mean_x + l_xx * noise_x, mean_v + l_vx * noise_x + l_vv * noise_v


def call_times(k_steps: int) -> list[float]:
    """The K times of the network calls, s_k = (1 − 1/K)(k/(K − 1))²: dense early, where the
    estimate ŷ is least certain, and ending with the hop at 1 − 1/K."""
    if k_steps == 1:
        return [0.0]
    return [(1 - 1 / k_steps) * (k / (k_steps - 1)) ** 2 for k in range(k_steps)]


def _hop(
    model: nn.Module, context: torch.Tensor, x: torch.Tensor, v: torch.Tensor, s: torch.Tensor
) -> torch.Tensor:
    """The network's sampling-hop estimate ŷ of the pinned position x_1 from (x_s, v_s)."""
    return at_time(model, context, (x, v), s)


def loss(
    model: nn.Module,
    context: torch.Tensor,
    target: torch.Tensor,
    labels: torch.Tensor | None,
    generator: torch.Generator,
    config,
) -> torch.Tensor:
    del labels
    y = target - prediction_base(context, target.shape[1], config.predict)
    s = training_times(y.shape[0], generator, y)
    x0, v0, noise_x, noise_v = (training_noise(y.shape, generator, y) for _ in range(4))
    x, v = bridge(x0, v0, y, torch.zeros_like(s), s, config.agm_noise, noise_x, noise_v)
    return torch.mean((_hop(model, context, x, v, s) - y) ** 2)


def step(
    model: nn.Module, context: torch.Tensor, generator: torch.Generator, config
) -> torch.Tensor:
    channels = context.shape[1] // config.window
    shape = (context.shape[0], channels, *context.shape[2:])

    def normal() -> torch.Tensor:
        return torch.randn(shape, generator=generator, device=context.device, dtype=context.dtype)

    x, v = normal(), normal()
    times = call_times(sampling_steps(config, DEFAULT_STEPS))
    for k, now in enumerate(times):
        s = torch.full((shape[0],), now, device=x.device, dtype=x.dtype)
        hop = _hop(model, context, x, v, s)
        if k + 1 < len(times):
            later = torch.full_like(s, times[k + 1])
            x, v = bridge(x, v, hop, s, later, config.agm_noise, normal(), normal())
    return prediction_base(context, channels, config.predict) + hop


METHOD = Method(
    name="agm",
    summary="acceleration generative modeling: phase-space bridge, K-call AGM-SDE + sampling hop",
    uses_labels=False,
    extra_input_frames=2,
    cond_dim=lambda config: TIME_EMBEDDING_DIM,
    loss=loss,
    step=step,
    default_steps=DEFAULT_STEPS,
)
