"""UNet backbone for fields, with the conditioning vector (SL label, diffusion time) in the
slot a diffusion UNet uses for its time embedding (the SL paper, appendix E).

Encoder–decoder with GroupNorm residual blocks, strided 3×3 down-sampling, nearest-neighbour
up-sampling followed by a 3×3 convolution, and skip connections by concatenation. The
conditioning vector goes through a two-layer MLP (no sinusoidal embedding: the label is already
a vector) and modulates every residual block FiLM-style, h ← GN(h)·(1 + γ) + β.

FiLM can only scale and shift whole channels, so a label can move the output only along
patterns that the context's features already hold. With ``label_map = k`` the vector is also
mapped linearly to k maps at the bottleneck's resolution and concatenated there, a spatial
pathway through which a label can place a deviation anywhere (e.g. where a front runs ahead).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def _conv(in_ch: int, out_ch: int, padding_mode: str, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, padding_mode=padding_mode)


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    """GroupNorm with ``groups`` groups, or the most that divide ``channels``."""
    count = min(groups, channels)
    return nn.GroupNorm(count if channels % count == 0 else math.gcd(groups, channels), channels)


class ResidualBlock(nn.Module):
    """GN → GELU → conv → GN → FiLM(emb) → GELU → conv, plus a (1×1) skip: the label modulates
    the normalised activations of the block's middle."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int, padding_mode: str):
        super().__init__()
        self.norm1 = _norm(in_ch, groups)
        self.conv1 = _conv(in_ch, out_ch, padding_mode)
        self.norm2 = _norm(out_ch, groups)
        self.conv2 = _conv(out_ch, out_ch, padding_mode)
        self.film = nn.Linear(emb_dim, 2 * out_ch) if emb_dim else None
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None) -> torch.Tensor:
        h = self.conv1(F.gelu(self.norm1(x)))
        h = self.norm2(h)
        if self.film is not None:
            scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
            h = h * (1 + scale) + shift
        h = self.conv2(F.gelu(h))
        return h + self.skip(x)


class UNet(nn.Module):
    """``F(x, c)`` for fields ``(B, in_channels, H, W)``; H and W divisible by 2^(levels−1)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        cond_dim: int,
        channels: tuple[int, ...] = (32, 64, 128),
        blocks: int = 1,
        emb_dim: int = 256,
        groups: int = 8,
        padding_mode: str = "zeros",
        label_map: int = 0,
        bottleneck: tuple[int, int] = (1, 1),
    ):
        super().__init__()
        self.cond_dim = cond_dim
        self.bottleneck = (label_map, *bottleneck)
        self.label_map = (
            nn.Linear(cond_dim, label_map * bottleneck[0] * bottleneck[1])
            if label_map and cond_dim
            else None
        )
        emb = emb_dim if cond_dim else 0
        self.embed = (
            nn.Sequential(
                nn.Linear(cond_dim, emb_dim), nn.GELU(), nn.Linear(emb_dim, emb_dim), nn.GELU()
            )
            if cond_dim
            else None
        )
        self.stem = _conv(in_channels, channels[0], padding_mode)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skips = [channels[0]]
        width = channels[0]
        for level, ch in enumerate(channels):
            stage = nn.ModuleList()
            for _ in range(blocks):
                stage.append(ResidualBlock(width, ch, emb, groups, padding_mode))
                width = ch
                skips.append(width)
            self.down.append(stage)
            if level < len(channels) - 1:
                self.downsample.append(_conv(width, width, padding_mode, stride=2))
                skips.append(width)
        mapped = label_map if self.label_map is not None else 0
        self.middle = nn.ModuleList(
            [
                ResidualBlock(width + mapped, width, emb, groups, padding_mode),
                ResidualBlock(width, width, emb, groups, padding_mode),
            ]
        )
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level, ch in reversed(list(enumerate(channels))):
            stage = nn.ModuleList()
            for _ in range(blocks + 1):
                stage.append(ResidualBlock(width + skips.pop(), ch, emb, groups, padding_mode))
                width = ch
            self.up.append(stage)
            if level > 0:
                self.upsample.append(_conv(width, width, padding_mode))
        self.head = nn.Sequential(
            _norm(width, groups), nn.GELU(), _conv(width, out_channels, padding_mode)
        )

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.embed(cond) if self.embed is not None else None
        h = self.stem(x)
        skips = [h]
        for level, stage in enumerate(self.down):
            for block in stage:
                h = block(h, emb)
                skips.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
                skips.append(h)
        if self.label_map is not None:
            maps = self.label_map(cond).reshape(-1, *self.bottleneck).to(h.dtype)
            h = torch.cat([h, maps], dim=1)
        for block in self.middle:
            h = block(h, emb)
        for level, stage in enumerate(self.up):
            for block in stage:
                h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if level < len(self.upsample):
                h = self.upsample[level](F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.head(h)
