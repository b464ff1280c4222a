"""Multi-layer perceptron backbone for low-dimensional states (the paper's Duffing model)."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """``F(x, c)``: flattened input frames concatenated with a conditioning vector ``c``."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, width: int, depth: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(in_channels + cond_dim, width), nn.SiLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.SiLU()]
        layers.append(nn.Linear(width, out_channels))
        self.net = nn.Sequential(*layers)
        self.cond_dim = cond_dim

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        inputs = x.flatten(1)
        if self.cond_dim:
            inputs = torch.cat([inputs, cond], dim=1)
        return self.net(inputs)
