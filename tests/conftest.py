"""Shared fixtures: tiny configurations so that the whole suite runs in minutes on 2 CPU cores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from slsim.pipelines.generation import GenerationJob
from slsim.pipelines.threads import choose_threads
from slsim.simulators import build_config, get_system
from slsim.simulators.duffing import DuffingConfig

# The suite's networks are tiny: one torch thread (unless $OMP_NUM_THREADS says otherwise)
# keeps it fast on a machine shared with other jobs, where several threads wait on each other.
torch.set_num_threads(choose_threads(None, small_model=True))


@pytest.fixture
def tiny_duffing() -> DuffingConfig:
    """20 frames over t = 2, coarse enough to be instant, fine enough to be accurate."""
    return build_config(DuffingConfig, {"t_end": 2.0, "n_frames": 21, "dt": 0.02})


def generation_job(
    system: str, config, output: Path, *, n: int, shard_size: int, seed: int = 0, split="train"
) -> GenerationJob:
    """``n`` trajectories of ``system``'s ``split`` to generate into ``output``."""
    return GenerationJob(
        spec=get_system(system),
        config=config,
        split=split,
        n=n,
        master_seed=seed,
        output=output,
        shard_size=shard_size,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def assert_within(
    value: float, expected: float, standard_error: float, sigmas: float = 4.0
) -> None:
    """Monte-Carlo agreement: |value − expected| ≤ sigmas · standard error."""
    assert abs(value - expected) <= sigmas * standard_error, (
        f"{value:.5f} vs {expected:.5f}: {abs(value - expected) / standard_error:.1f} σ "
        f"with σ = {standard_error:.5f}"
    )


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def assert_training_resumes_exactly(
    config, data, normalizer, directory: Path, stop_at: int
) -> None:
    """Training interrupted at ``stop_at`` and resumed from its checkpoint ends with the weights
    of the uninterrupted run, bit for bit (CPU)."""
    from slsim.surrogate.checkpoint import load_checkpoint
    from slsim.surrogate.training import Trainer, train

    cpu = torch.device("cpu")
    straight = Trainer.create(config, data.frame_shape, cpu)
    train(straight, data, normalizer, directory / "a.pt", {})
    interrupted = Trainer.create(config, data.frame_shape, cpu)
    train(interrupted, data, normalizer, directory / "b.pt", {}, stop_at=stop_at)
    resumed = Trainer.create(config, data.frame_shape, cpu)
    resumed.load_state(load_checkpoint(directory / "b.pt"))
    train(resumed, data, normalizer, directory / "b.pt", {})
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
