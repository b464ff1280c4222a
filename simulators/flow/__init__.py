"""Two-phase (water/oil) Darcy flow in a random permeability field, IMPES with upwind transport.

``model`` is the system (config, permeability, storage); ``matern`` draws the permeability,
``tpfa`` and ``ldl`` solve the pressure, ``upwind`` and ``relperm`` move the water, ``impes``
couples them, and ``reference`` is a plain-NumPy transcription the solver is tested against.
"""

from .model import SYSTEM, FlowConfig, block_mean, log_permeability, run_trajectory, simulate

__all__ = ["SYSTEM", "FlowConfig", "block_mean", "log_permeability", "run_trajectory", "simulate"]
