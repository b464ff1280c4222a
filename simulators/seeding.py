"""Per-trajectory seeds: one master seed, a stream per split, one 64-bit seed per trajectory.

Trajectory ``i`` of split ``s`` gets ``SeedSequence(master, spawn_key=(s, i))`` — exactly the
sequence ``SeedSequence(master).spawn(...)[s].spawn(...)[i]`` — reduced to one 64-bit integer.
That integer is stored beside the trajectory and alone regenerates it, so the data do not
depend on how trajectories are grouped into shards, workers or threads.
"""

from __future__ import annotations

import numpy as np

from .config import ConfigError

#: Seed stream of each split. New splits get new codes; existing codes never change.
SPLIT_STREAMS: dict[str, int] = {
    "train": 0,
    "test": 1,
    "reference": 2,
    "surrogate": 3,
    "conditional": 4,  # simulator branches from stored states (pipelines.conditional)
}


def trajectory_seed(master_seed: int, split: str, index: int) -> int:
    """The 64-bit seed of trajectory ``index`` of ``split``."""
    return int(trajectory_seeds(master_seed, split, index, index + 1)[0])


def trajectory_seeds(master_seed: int, split: str, start: int, stop: int) -> np.ndarray:
    """Seeds of trajectories ``start..stop-1`` of ``split`` as a uint64 array."""
    if split not in SPLIT_STREAMS:
        raise ConfigError(f"unknown split '{split}' (known: {', '.join(SPLIT_STREAMS)})")
    if master_seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {master_seed}")
    stream = SPLIT_STREAMS[split]
    return np.array(
        [
            np.random.SeedSequence(master_seed, spawn_key=(stream, i)).generate_state(1, np.uint64)[
                0
            ]
            for i in range(start, stop)
        ],
        dtype=np.uint64,
    )


def trajectory_rng(seed: int) -> np.random.Generator:
    """The NumPy generator that draws a trajectory's random inputs (media, initial state)."""
    return np.random.default_rng(int(seed))
