"""``slsim train``: read the training split, train a surrogate in ``runs/<name>/``, resume if asked.

A run directory holds ``checkpoint.pt`` (full state), ``config.json`` (resolved training
configuration and data provenance), ``history.csv`` (loss and validation scores, rewritten at
every log line while training runs) and ``learning_curve.png`` (redrawn at every validation).
Validation uses the last trajectories of the training file (``pipelines.validation``); the test
split is not read. Starting a
run whose directory has an unfinished checkpoint with the same configuration resumes it; a
finished run or different settings are refused unless ``overwrite`` is given.

The training frames live on the GPU or in RAM when they fit, and are otherwise read from the
HDF5 file batch by batch; the batches are the same either way. Under ``torchrun`` the same
command trains with DistributedDataParallel.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slsim.simulators.config import config_to_dict
from slsim.simulators.system import SystemSpec
from slsim.surrogate.checkpoint import load_checkpoint, save_checkpoint
from slsim.surrogate.config import TrainConfig, defining_fields, resolve_train_config
from slsim.surrogate.methods import get_method
from slsim.surrogate.normalization import Normalizer
from slsim.surrogate.training import (
    Distributed,
    LogCallback,
    NonFiniteLoss,
    Trainer,
    measure_output_scale,
    train,
)
from slsim.surrogate.transitions import (
    CHANNEL_AXIS,
    HDF5Frames,
    TensorFrames,
    TransitionSet,
    stack_frames,
)

from .ensemble import (
    SIMULATOR,
    Ensemble,
    atomic_output,
    ensure_directory,
    open_generated,
    read_blocks,
)
from .errors import UserError
from .validation import make_validator, plot_learning_curve, split_training_file

CHECKPOINT_NAME = "checkpoint.pt"
#: The checkpoint with the best validation score so far (``validation_score``).
BEST_CHECKPOINT_NAME = "best.pt"
DATA_MODES = ("auto", "memory", "stream")


def load_frames(
    ensemble: Ensemble, start: int, stop: int, n_frames: int | None = None
) -> np.ndarray:
    """Trajectories ``start:stop`` (their first ``n_frames`` frames) as ``(n, T, C, *spatial)``."""
    spec = ensemble.spec
    arrays = {name: ensemble[name][start:stop, :n_frames] for name in spec.state_variables}
    return stack_frames(arrays, spec.state_variables, spec.state_dims)


def resolve_config(
    spec: SystemSpec, method: str, preset: str, overrides: dict[str, str]
) -> TrainConfig:
    """The training configuration for ``spec``'s system (needs no data file)."""
    return resolve_train_config(
        spec.state_kind,
        spec.markov_window,
        method,
        preset,
        overrides,
        dict(spec.training_defaults),
    )


def fit_normalizer(ensemble: Ensemble, n: int) -> Normalizer:
    """Per-channel statistics of the first n trajectories, read in fixed blocks."""
    blocks = (load_frames(ensemble, start, stop) for start, stop in read_blocks(n))
    return Normalizer.fit(blocks, channel_axis=CHANNEL_AXIS)


def available_memory() -> int:
    """Bytes of RAM available now (Linux /proc/meminfo; total RAM elsewhere)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def frame_store(
    ensemble: Ensemble, n: int, normalizer: Normalizer, device: torch.device, mode: str
):
    """Frames on ``device`` or in RAM when they fit (or ``mode`` says so), else streamed."""
    if mode not in DATA_MODES:
        raise UserError(f"unknown data mode '{mode}' (known: {', '.join(DATA_MODES)})")
    first = ensemble[ensemble.spec.state_variables[0]]
    size = 4 * n * int(np.prod(first.shape[1:])) * len(ensemble.spec.state_variables)
    if mode == "stream" or (mode == "auto" and size > available_memory() // 2):
        return HDF5Frames(
            ensemble.path, ensemble.spec.state_variables, ensemble.spec.state_dims, n, normalizer
        )
    blocks = [
        normalizer.encode(torch.from_numpy(load_frames(ensemble, start, stop)), CHANNEL_AXIS)
        for start, stop in read_blocks(n)
    ]
    frames = torch.cat(blocks)
    if device.type == "cuda" and size < torch.cuda.mem_get_info(device)[0] // 2:
        frames = frames.to(device)
    return TensorFrames(frames)


def distributed_context() -> Distributed | None:
    """Join the ``torchrun`` process group when launched by it (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    return Distributed(torch.distributed.get_rank(), world)


@dataclass(frozen=True, kw_only=True)
class TrainRequest:
    """``slsim train``: train (or resume) a surrogate of ``system`` in ``run_dir``."""

    system: str
    train_file: Path
    run_dir: Path
    method: str
    preset: str
    overrides: dict[str, str]
    device: torch.device
    overwrite: bool = False
    data_mode: str = "auto"
    #: Return a finished run with the same configuration as it is instead of refusing it.
    reuse_finished: bool = False


def _existing_state(
    request: TrainRequest, config: TrainConfig, main: bool
) -> dict[str, Any] | None:
    checkpoint = request.run_dir / CHECKPOINT_NAME
    if request.overwrite and request.run_dir.exists():
        if main:
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
    stored, wanted = defining_fields(state["config"]), defining_fields(config)
    if stored != wanted:
        changed = sorted(key for key, value in wanted.items() if stored.get(key) != value)
        raise UserError(
            f"{request.run_dir} holds a run with a different configuration ({', '.join(changed)}); "
            "pass --name to start another run or --overwrite to replace it"
        )
    if state["finished"] and not request.reuse_finished:
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
    distributed = distributed_context()
    main = distributed is None or distributed.is_main
    with open_generated(request.train_file, request.system) as ensemble:
        if ensemble.source != SIMULATOR:
            raise UserError(
                f"{request.train_file} is not a simulator ensemble (source {ensemble.source})"
            )
        config = resolve_config(ensemble.spec, request.method, request.preset, request.overrides)
        split = split_training_file(ensemble.n_trajectories, config)
        n = len(split.train)
        state = _existing_state(request, config, main)
        if state is not None and state["finished"]:
            return request.run_dir / CHECKPOINT_NAME
        normalizer = fit_normalizer(ensemble, n)
        store = frame_store(ensemble, n, normalizer, request.device, request.data_mode)
        meta = {
            "system": ensemble.spec.name,
            "system_config": config_to_dict(ensemble.config),
            "train_file": str(request.train_file.resolve()),
            "n_train_trajectories": n,
            "validation_trajectories": [split.validation.start, split.validation.stop],
            "frame_shape": list(store.shape[2:]),
        }
        validate = None
        if main:
            validate = make_validator(ensemble, split, config, normalizer, request.device)
    data = TransitionSet(store, config.window)
    standardised = get_method(config.method).standardised(config)
    scale = measure_output_scale(data, config) if standardised else None
    trainer = Trainer.create(config, data.frame_shape, request.device, output_scale=scale)
    if state is not None:
        trainer.load_state(state)
    if on_start is not None and main:
        on_start(config, trainer.step)
    if main:
        ensure_directory(request.run_dir)
        payload = {"train": config_to_dict(config), "data": meta}
        (request.run_dir / "config.json").write_text(json.dumps(payload, indent=1))
    checkpoint = request.run_dir / CHECKPOINT_NAME
    history_file = request.run_dir / "history.csv"

    best_file = request.run_dir / BEST_CHECKPOINT_NAME
    best = [_best_score(best_file) if state is not None else float("inf")]

    def log(step: int, loss: float, lr: float, scores: dict[str, float]) -> None:
        write_history(trainer.history, history_file)
        if scores:
            plot_learning_curve(trainer.history, request.run_dir / "learning_curve.png")
            score = validation_score(scores)
            if score < best[0]:
                best[0] = score
                save_checkpoint(best_file, {**trainer.state(normalizer, meta), "score": score})
        if on_log is not None:
            on_log(step, loss, lr, scores)

    try:
        final = train(trainer, data, normalizer, checkpoint, meta, log, None, validate, distributed)
    except NonFiniteLoss as err:
        raise UserError(str(err)) from None
    if main:
        write_history(final["history"], history_file)
    return checkpoint


def validation_score(scores: dict[str, float]) -> float:
    """One number to pick checkpoints by: the geometric mean of the QoI distances / floor."""
    ratios = [value for key, value in scores.items() if key.endswith("/floor")]
    return float(np.exp(np.mean(np.log(np.maximum(ratios, 1e-12))))) if ratios else float("inf")


def _best_score(path: Path) -> float:
    """The score stored in an existing best checkpoint (inf if none), so a resumed run keeps it."""
    if not path.exists():
        return float("inf")
    return float(load_checkpoint(path).get("score", float("inf")))


def write_history(history: list[dict[str, float]], path: Path) -> None:
    """The loss and validation log as CSV, replaced atomically (readable while training runs)."""
    fields = ["step", "loss", "lr", "seconds"]
    fields += sorted({key for entry in history for key in entry} - set(fields))
    with atomic_output(path) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)
