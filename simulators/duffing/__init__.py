"""The stochastic Duffing oscillator (BAOAB integrator, exact stationary law)."""

from .model import (
    SYSTEM,
    DuffingConfig,
    branch,
    simulate,
    simulate_reference,
    simulate_states,
    stationary_moment,
    stationary_x_cdf,
)

__all__ = [
    "SYSTEM",
    "DuffingConfig",
    "branch",
    "simulate",
    "simulate_reference",
    "simulate_states",
    "stationary_moment",
    "stationary_x_cdf",
]
