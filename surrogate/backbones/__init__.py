"""Network backbones shared by every method: ``build_backbone(name, ...)``."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from slsim.simulators.config import ConfigError

from .mlp import MLP
from .unet import UNet


class WithCoordinates(nn.Module):
    """Appends x, y ∈ [−1, 1] channels so that a convolutional net can tell where it is
    (e.g. relative to wells at fixed corners)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        b, _, h, w = x.shape
        ys = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype)
        xs = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype)
        grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")).expand(b, -1, -1, -1)
        return self.net(torch.cat([x, grid], dim=1), cond)


class ScaledOutput(nn.Module):
    """Multiplies the network's output by per-channel scales (a buffer, so checkpoints keep it):
    with ``standardise`` the scales are the RMS of x_{t+1} − base over the training data, so the
    network works with outputs of unit size however small the steps are."""

    def __init__(self, net: nn.Module, channels: int):
        super().__init__()
        self.net = net
        self.register_buffer("scale", torch.ones(channels))

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        out = self.net(x, cond)
        return out * self.scale.reshape(1, -1, *([1] * (out.dim() - 2))).to(out.dtype)


def _unet(
    in_channels: int, out_channels: int, cond_dim: int, frame_shape: tuple[int, ...], config
) -> nn.Module:
    if len(frame_shape) != 3:
        raise ConfigError("the unet backbone is for fields (C, H, W); use mlp for vector states")
    factor = 2 ** (len(config.channels) - 1)
    if frame_shape[1] % factor or frame_shape[2] % factor:
        raise ConfigError(
            f"{len(config.channels)} unet levels need H, W divisible by {factor}: {frame_shape[1:]}"
        )
    extra = 2 if config.coordinate_channels else 0
    net = UNet(
        in_channels + extra,
        out_channels,
        cond_dim,
        tuple(config.channels),
        config.blocks,
        config.emb_dim,
        padding_mode=config.padding,
        label_map=config.label_map,
        bottleneck=(frame_shape[1] // factor, frame_shape[2] // factor),
    )
    return WithCoordinates(net) if config.coordinate_channels else net


def _mlp(
    in_channels: int, out_channels: int, cond_dim: int, frame_shape: tuple[int, ...], config
) -> nn.Module:
    if len(frame_shape) != 1:
        raise ConfigError("the mlp backbone is for low-dimensional states; use unet for fields")
    return MLP(in_channels, out_channels, cond_dim, config.width, config.depth)


BACKBONES: dict[str, Callable[..., nn.Module]] = {"mlp": _mlp, "unet": _unet}


def build_backbone(
    name: str,
    in_channels: int,
    out_channels: int,
    cond_dim: int,
    frame_shape: tuple[int, ...],
    config,
) -> nn.Module:
    """Network ``(B, in_channels, *spatial), (B, cond_dim) -> (B, out_channels, *spatial)``."""
    try:
        factory = BACKBONES[name]
    except KeyError:
        raise ConfigError(f"unknown backbone '{name}' (known: {', '.join(BACKBONES)})") from None
    return factory(in_channels, out_channels, cond_dim, frame_shape, config)
