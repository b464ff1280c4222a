"""The Stochastic Lifting labels: one Gaussian vector per training transition, fixed for good.

Resampling labels every epoch would make the regression target independent of the label and
collapse the model to the conditional mean; fixing them lets the network interpolate the
labelled pairs. The table is a pure function of ``(n_transitions, dim, seed)``, so it is
rebuilt identically on resume instead of being stored.
"""

from __future__ import annotations

import torch


def label_table(n_transitions: int, dim: int, seed: int) -> torch.Tensor:
    """``(n_transitions, dim)`` standard normal labels, identical on every call (CPU)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n_transitions, dim, generator=generator)
