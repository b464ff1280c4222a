"""Pick the torch device: CUDA when present, CPU otherwise, same code."""

from __future__ import annotations

import torch

from slsim.simulators.config import ConfigError


def select_device(requested: str = "auto") -> torch.device:
    """``auto`` → ``cuda`` if available else ``cpu``; ``cuda``/``cuda:N``/``cpu`` explicitly."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ConfigError(f"unknown device '{requested}' (use auto, cpu or cuda[:N])") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but no CUDA GPU is available")
    return device
