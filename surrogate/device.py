"""Pick the torch device: CUDA when present, CPU otherwise, same code."""

from __future__ import annotations

import contextlib

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


def autocast(config, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA with ``config.bf16``, on CPU with ``config.cpu_bf16``; else none.

    On CPUs with bf16 instructions (AVX512-BF16, AMX) a UNet step runs ~1.7× faster under
    autocast (docs/field-surrogates.md); on others it is slower, hence off by default.
    """
    if device.type == "cuda" and config.bf16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if device.type == "cpu" and config.cpu_bf16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()
