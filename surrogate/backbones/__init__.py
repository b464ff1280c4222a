"""Network backbones shared by every method: ``build_backbone(name, ...)``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from slsim.simulators.config import ConfigError

from .mlp import MLP


def _mlp(
    in_channels: int, out_channels: int, cond_dim: int, frame_shape: tuple[int, ...], config
) -> nn.Module:
    if len(frame_shape) != 1:
        raise ConfigError("the mlp backbone is for low-dimensional states; use unet for fields")
    return MLP(in_channels, out_channels, cond_dim, config.width, config.depth)


BACKBONES: dict[str, Callable[..., nn.Module]] = {"mlp": _mlp}


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
