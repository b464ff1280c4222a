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
#: fit(model, context, labels, config) -> the next frame the loss pulls toward the target
FitFn = Callable[[nn.Module, torch.Tensor, torch.Tensor | None, object], torch.Tensor]


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
    #: Sub-steps K per generated frame, one network call each, when ``config.steps`` is 0
    #: (None: one call per frame, and ``steps`` does not apply).
    default_steps: int | None = None
    #: Output fields of C channels each (e.g. bi-flow's next-frame flow and denoising field).
    output_frames: int = 1
    #: The network's output is the step x_{t+1} − base itself, so ``standardise`` scales it.
    predicts_step: bool = False
    #: The config switch of that scaling: the shared ``standardise``, or the method's own where
    #: the scale also changes what it trains on (``ardm_standardise``).
    standardise_switch: str = "standardise"
    #: The network's fit of a training transition (its regression output for the transition's
    #: own label), for methods that regress the next frame directly; it lets training continue
    #: from the network's own prediction (``pushforward``). None for multi-step samplers.
    fit: FitFn | None = None

    def calls_per_step(self, config) -> int:
        """Network evaluations per generated frame: 1, or K of a multi-step method."""
        return 1 if self.default_steps is None else sampling_steps(config, self.default_steps)

    def standardised(self, config) -> bool:
        """Whether this method's network output is scaled by the step's RMS (its switch is on)."""
        return bool(getattr(config, self.standardise_switch)) and self.predicts_step


def prediction_base(
    context: torch.Tensor, frame_channels: int, predict: str
) -> torch.Tensor | float:
    """What the network's output is added to (``config.predict``).

    ``frame``: nothing; ``increment``: the last frame x_t; ``leapfrog``: the extrapolation
    2x_t − x_{t−1}, so the network predicts the second difference — for the wave equation the
    small term dt²c²Δu the medium decides, instead of a whole frame.
    """
    if predict == "frame":
        return 0.0
    last = context[:, -frame_channels:]
    if predict == "increment":
        return last
    return 2 * last - context[:, -2 * frame_channels : -frame_channels]


def with_base(
    context: torch.Tensor, output: torch.Tensor, frame_channels: int, predict: str
) -> torch.Tensor:
    """The next frame: ``output`` added to the :func:`prediction_base` of ``predict``."""
    return prediction_base(context, frame_channels, predict) + output


def sampling_steps(config, default: int) -> int:
    """Sub-steps K per frame of a multi-step method: ``config.steps``, or ``default`` when it
    is 0."""
    return config.steps or default


#: Size of the conditioning vector that carries a diffusion/interpolation time.
TIME_EMBEDDING_DIM = 64


def fourier_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features ``(B, dim)`` of times ``t`` ``(B,)`` in [0, 1].

    sin and cos at ``dim / 2`` angular frequencies spaced geometrically from 1 to 1000 per unit
    time, so that both coarse and fine changes of t are visible to the network: the fast end of
    the DDPM embedding of steps 0…999 (its slower frequencies are nearly linear on [0, 1]).
    """
    frequencies = torch.logspace(0.0, 3.0, dim // 2, device=t.device, dtype=t.dtype)
    angles = t[:, None] * frequencies[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def at_time(
    model: nn.Module, context: torch.Tensor, frames: tuple[torch.Tensor, ...], s: torch.Tensor
) -> torch.Tensor:
    """The network on the window and the method's own ``frames`` (on channels) at time ``s``
    (Fourier features in the conditioning slot), returned in the frames' dtype."""
    cond = fourier_embedding(s, TIME_EMBEDDING_DIM)
    return model(torch.cat([context, *frames], dim=1), cond).to(frames[0].dtype)


def training_noise(
    shape: torch.Size | tuple[int, ...], generator: torch.Generator, like: torch.Tensor
) -> torch.Tensor:
    """Standard normal noise drawn from the (CPU) training generator, moved to ``like``'s device
    and dtype: drawing on CPU keeps training bit-reproducible and resumable on any device."""
    return torch.randn(shape, generator=generator).to(like.device, like.dtype)


def training_times(n: int, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """``n`` times uniform on [0, 1) from the training generator (see :func:`training_noise`)."""
    return torch.rand(n, generator=generator).to(like.device, like.dtype)


def broadcast(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-sample scalars ``(B,)`` shaped ``(B, 1, ...)`` to multiply frames like ``like``."""
    return values.reshape(-1, *([1] * (like.dim() - 1)))
