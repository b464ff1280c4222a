"""Per-channel affine normalisation fitted on the training split and stored in checkpoints."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Normalizer:
    """``encode(x) = (x − mean) / std`` per channel (axis ``channel_axis``)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, blocks: Iterable[np.ndarray], channel_axis: int = 2) -> Normalizer:
        """Exact mean/std over all blocks ``(n, T, C, ...)`` in float64, streaming."""
        count = 0
        total = None
        total_sq = None
        for block in blocks:
            moved = np.moveaxis(np.asarray(block, dtype=np.float64), channel_axis, 0)
            flat = moved.reshape(moved.shape[0], -1)
            total = flat.sum(1) if total is None else total + flat.sum(1)
            total_sq = (flat**2).sum(1) if total_sq is None else total_sq + (flat**2).sum(1)
            count += flat.shape[1]
        if total is None or count == 0:
            raise ValueError("cannot fit a normaliser on no data")
        mean = total / count
        var = np.maximum(total_sq / count - mean**2, 0.0)
        std = np.sqrt(var)
        std[std == 0] = 1.0
        return cls(mean.astype(np.float32), std.astype(np.float32))

    def _shape(self, x: torch.Tensor, channel_axis: int) -> tuple[int, ...]:
        shape = [1] * x.ndim
        shape[channel_axis] = -1
        return tuple(shape)

    def encode(self, x: torch.Tensor, channel_axis: int) -> torch.Tensor:
        shape = self._shape(x, channel_axis)
        mean = torch.as_tensor(self.mean, device=x.device, dtype=x.dtype).reshape(shape)
        std = torch.as_tensor(self.std, device=x.device, dtype=x.dtype).reshape(shape)
        return (x - mean) / std

    def decode(self, x: torch.Tensor, channel_axis: int) -> torch.Tensor:
        shape = self._shape(x, channel_axis)
        mean = torch.as_tensor(self.mean, device=x.device, dtype=x.dtype).reshape(shape)
        std = torch.as_tensor(self.std, device=x.device, dtype=x.dtype).reshape(shape)
        return x * std + mean

    def state_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_state_dict(cls, state: dict[str, list[float]]) -> Normalizer:
        return cls(np.asarray(state["mean"], np.float32), np.asarray(state["std"], np.float32))
