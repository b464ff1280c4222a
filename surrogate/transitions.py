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
class TensorFrames:
    """All normalised frames ``(n, T, C, *spatial)`` in one tensor (CPU or GPU)."""

    frames: torch.Tensor

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.frames.shape)

    @property
    def device(self) -> torch.device:
        return self.frames.device

    def gather(self, trajectory: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, k, C, *spatial)`` at ``times[b]`` of trajectory ``trajectory[b]``."""
        return self.frames[trajectory[:, None], times]


class HDF5Frames:
    """Frames read from an ensemble file batch by batch, for training sets larger than memory.

    Each sample's frames form one contiguous slab ``[t − w + 1, t + 1]`` of its trajectory, so a
    batch costs one HDF5 read per sample; values are normalised on the fly with the same
    normaliser as the in-memory path, so batches are identical either way.
    """

    def __init__(
        self,
        path,
        variables: Sequence[str],
        dims: Mapping[str, tuple[str, ...]],
        n_trajectories: int,
        normalizer,
    ):
        import h5py

        self.path, self.variables, self.dims = path, list(variables), dict(dims)
        self.normalizer = normalizer
        self._file = None
        with h5py.File(path, "r") as handle:
            first = handle[self.variables[0]]
            frames = first.shape[1]
            channel_count = sum(
                handle[v].shape[2] if "component" in self.dims[v] else 1 for v in self.variables
            )
            spatial = first.shape[2:] if "component" not in self.dims[self.variables[0]] else ()
        self._shape = (n_trajectories, frames, channel_count, *spatial)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def _handle(self):
        if self._file is None:  # opened lazily, so that each (DDP) process has its own handle
            import h5py

            self._file = h5py.File(self.path, "r")
        return self._file

    def gather(self, trajectory: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        handle = self._handle()
        out = []
        for traj, row in zip(trajectory.tolist(), times.tolist(), strict=True):
            lo, hi = min(row), max(row) + 1
            arrays = {v: handle[v][traj : traj + 1, lo:hi] for v in self.variables}
            slab = torch.from_numpy(stack_frames(arrays, self.variables, self.dims))[0]
            out.append(slab[[t - lo for t in row]])
        batch = torch.stack(out)
        return self.normalizer.encode(batch, channel_axis=2)


@dataclass
class TransitionSet:
    """All transitions ``(window → next frame)`` of a frame store."""

    store: TensorFrames | HDF5Frames
    window: int

    @property
    def n_trajectories(self) -> int:
        return self.store.shape[0]

    @property
    def steps(self) -> int:
        return self.store.shape[1] - 1

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return tuple(self.store.shape[2:])

    @property
    def device(self) -> torch.device:
        return self.store.device

    def __len__(self) -> int:
        return self.n_trajectories * self.steps

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Contexts ``(B, w·C, *spatial)`` and targets ``(B, C, *spatial)`` of transitions."""
        index = index.to(self.device)
        trajectory = index // self.steps
        t = index % self.steps
        times = torch.cat([window_times(t, self.window), (t + 1)[:, None]], dim=1)
        frames = self.store.gather(trajectory, times)
        return frames[:, :-1].flatten(1, 2), frames[:, -1]


def initial_context(frames: torch.Tensor, window: int, given: int) -> torch.Tensor:
    """Sampling start: the first ``given`` frames of each trajectory, padded to ``window``
    by repeating the first one (the padding training used for early windows)."""
    times = window_times(torch.full((1,), given - 1, device=frames.device), window)[0]
    return frames[:, times]
