"""The 2-D wave equation in a random medium: the medium (``medium``, jax-cfd's filtered
velocity field), the finite-difference stencils (``stencils``) and the solver (``model``)."""

from .model import SYSTEM, WaveConfig, simulate, simulate_spectral, solve, wave_speed

__all__ = ["SYSTEM", "WaveConfig", "simulate", "simulate_spectral", "solve", "wave_speed"]
