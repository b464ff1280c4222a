"""``slsim train``: read the training split, train a surrogate in ``runs/<name>/``, resume if asked.

A run directory holds ``checkpoint.pt`` (full state), ``config.json`` (resolved training
configuration and data provenance) and ``history.csv`` (loss curve). Starting a run whose
directory has an unfinished checkpoint with the same configuration resumes it; a finished run
or different settings are refused unless ``overwrite`` is given.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slsim.simulators.config import config_to_dict
from slsim.surrogate.checkpoint import load_checkpoint
from slsim.surrogate.config import TrainConfig, resolve_train_config
from slsim.surrogate.normalization import Normalizer
from slsim.surrogate.training import LogCallback, Trainer, train
from slsim.surrogate.transitions import CHANNEL_AXIS, TransitionSet, stack_frames

from .ensemble import SIMULATOR, Ensemble, ensure_directory, open_ensemble
from .errors import UserError

CHECKPOINT_NAME = "checkpoint.pt"


def state_kind(ensemble: Ensemble) -> str:
    """``vector`` for low-dimensional states, ``field`` for gridded ones."""
    dims = ensemble.spec.variable(ensemble.spec.state_variables[0]).dims
    return "field" if "x" in dims else "vector"


def load_frames(ensemble: Ensemble, n: int, n_frames: int | None = None) -> np.ndarray:
    """The first n trajectories (first ``n_frames`` frames) as stacked ``(n, T, C, *spatial)``."""
    spec = ensemble.spec
    arrays = {name: ensemble[name][:n, :n_frames] for name in spec.state_variables}
    dims = {name: spec.variable(name).dims for name in spec.state_variables}
    return stack_frames(arrays, spec.state_variables, dims)


@dataclass(frozen=True)
class TrainRequest:
    system: str
    train_file: Path
    run_dir: Path
    method: str
    preset: str
    overrides: dict[str, str]
    device: torch.device
    overwrite: bool = False


def _existing_state(request: TrainRequest, config: TrainConfig) -> dict[str, Any] | None:
    checkpoint = request.run_dir / CHECKPOINT_NAME
    if request.overwrite and request.run_dir.exists():
        shutil.rmtree(request.run_dir)
        return None
    if not checkpoint.exists():
        return None
    try:
        state = load_checkpoint(checkpoint)
    except Exception as err:
        raise UserError(
            f"cannot read {checkpoint} ({err}); pass --overwrite to start over"
        ) from None
    if state["config"] != config_to_dict(config):
        raise UserError(
            f"{request.run_dir} holds a run with a different configuration; pass --name to start "
            "another run or --overwrite to replace it"
        )
    if state["finished"]:
        raise UserError(
            f"{request.run_dir} is already trained; --overwrite retrains, --name starts a new run"
        )
    return state


def run_training(
    request: TrainRequest,
    on_log: LogCallback | None = None,
    on_start: Callable[[TrainConfig, int], None] | None = None,
) -> Path:
    """Train (or resume) the run described by ``request``; returns the checkpoint path."""
    ensemble = open_ensemble(
        request.train_file, hint=f"generate it first with: slsim generate {request.system}"
    )
    with ensemble:
        if ensemble.source != SIMULATOR:
            raise UserError(
                f"{request.train_file} is not a simulator ensemble (source {ensemble.source})"
            )
        config = resolve_train_config(
            state_kind(ensemble),
            ensemble.spec.markov_window,
            request.method,
            request.preset,
            request.overrides,
        )
        available = ensemble.n_trajectories
        n = config.train_trajectories or available
        if n > available:
            raise UserError(f"train_trajectories = {n} but {request.train_file} holds {available}")
        state = _existing_state(request, config)
        frames = load_frames(ensemble, n)
        meta = {
            "system": ensemble.spec.name,
            "system_config": config_to_dict(ensemble.config),
            "train_file": str(request.train_file.resolve()),
            "n_train_trajectories": n,
            "frame_shape": list(frames.shape[2:]),
        }
    normalizer = Normalizer.fit([frames], channel_axis=CHANNEL_AXIS)
    encoded = normalizer.encode(torch.from_numpy(frames), channel_axis=CHANNEL_AXIS)
    data = TransitionSet(encoded.to(request.device), config.window)
    trainer = Trainer.create(config, data.frame_shape, request.device)
    if state is not None:
        trainer.load_state(state)
    if on_start is not None:
        on_start(config, trainer.step)
    ensure_directory(request.run_dir)
    (request.run_dir / "config.json").write_text(
        json.dumps({"train": config_to_dict(config), "data": meta}, indent=1)
    )
    checkpoint = request.run_dir / CHECKPOINT_NAME
    final = train(trainer, data, normalizer, checkpoint, meta, on_log=on_log)
    write_history(final["history"], request.run_dir / "history.csv")
    return checkpoint


def write_history(history: list[dict[str, float]], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["step", "loss", "lr", "seconds"])
        writer.writeheader()
        writer.writerows(history)
