"""Markov-window transitions ``(x_{t-w+1..t}) → x_{t+1}`` from trajectory arrays.

Frames are ``(C, *spatial)``: the state variables stacked on a channel axis (a variable with a
``component`` dimension contributes one channel per component). A window concatenates its w
frames on the channel axis, oldest first; windows that would reach before t = 0 repeat the
first frame (as in the paper's code), so every transition of every trajectory is used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

CHANNEL_AXIS = 2  # of a (trajectory, time, channel, *spatial) array


def stack_frames(
    arrays: Mapping[str, np.ndarray], variables: Sequence[str], dims: Mapping[str, tuple[str, ...]]
) -> np.ndarray:
    """``(n, T, C, *spatial)`` from per-variable arrays ``(n, T, [component | *spatial])``."""
    parts = []
    for name in variables:
        values = np.asarray(arrays[name])
        parts.append(values if "component" in dims[name] else values[:, :, None])
    return np.concatenate(parts, axis=CHANNEL_AXIS)


def unstack_frames(
    frames: np.ndarray, variables: Sequence[str], dims: Mapping[str, tuple[str, ...]]
) -> dict[str, np.ndarray]:
    """Inverse of :func:`stack_frames` for arrays whose variables hold one channel each, or
    a single variable with components."""
    if len(variables) == 1 and "component" in dims[variables[0]]:
        return {variables[0]: frames}
    return {name: frames[:, :, i] for i, name in enumerate(variables)}


def window_times(t: torch.Tensor, window: int) -> torch.Tensor:
    """Frame indices ``(B, window)`` of the windows ending at times ``t``, clamped at 0."""
    offsets = torch.arange(-window + 1, 1, device=t.device)
    return (t[:, None] + offsets[None, :]).clamp_min(0)


@dataclass
class TransitionSet:
    """All transitions of an in-memory ensemble of normalised frames ``(n, T, C, *spatial)``."""

    frames: torch.Tensor
    window: int

    @property
    def n_trajectories(self) -> int:
        return self.frames.shape[0]

    @property
    def steps(self) -> int:
        return self.frames.shape[1] - 1

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return tuple(self.frames.shape[2:])

    def __len__(self) -> int:
        return self.n_trajectories * self.steps

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Contexts ``(B, w·C, *spatial)`` and targets ``(B, C, *spatial)`` of transitions."""
        trajectory = index // self.steps
        t = index % self.steps
        times = window_times(t, self.window)
        context = self.frames[trajectory[:, None], times]
        return context.flatten(1, 2), self.frames[trajectory, t + 1]


def initial_context(frames: torch.Tensor, window: int, given: int) -> torch.Tensor:
    """Sampling start: the first ``given`` frames of each trajectory, padded to ``window``
    by repeating the first one (the padding training used for early windows)."""
    times = window_times(torch.full((1,), given - 1, device=frames.device), window)[0]
    return frames[:, times]
