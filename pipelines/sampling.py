"""``slsim sample``: roll out a trained surrogate from held-out initial frames into samples.h5."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from slsim.simulators import get_system
from slsim.simulators.config import config_from_dict, config_to_dict
from slsim.surrogate.checkpoint import load_checkpoint
from slsim.surrogate.config import TrainConfig
from slsim.surrogate.labels import LABEL_LAWS, LabelReplay
from slsim.surrogate.methods import get_method
from slsim.surrogate.normalization import Normalizer
from slsim.surrogate.sampling import rollout
from slsim.surrogate.training import build_model, sampling_weights
from slsim.surrogate.transitions import CHANNEL_AXIS, initial_context, unstack_frames

from . import layout
from .ensemble import SIMULATOR, EnsembleHeader, open_ensemble, open_generated, write_ensemble
from .errors import UserError, require_positive
from .threads import configure_model_threads
from .training import BEST_CHECKPOINT_NAME, CHECKPOINT_NAME, load_frames


def load_surrogate(
    checkpoint: Path, device: torch.device
) -> tuple[torch.nn.Module, TrainConfig, Normalizer, dict]:
    """Network (eval mode, on ``device``), training config, normaliser and data provenance."""
    if not checkpoint.exists():
        raise UserError(f"{checkpoint} does not exist; train the surrogate first (slsim train)")
    try:
        state = load_checkpoint(checkpoint)
    except Exception as err:
        raise UserError(unreadable_checkpoint(checkpoint, err)) from None
    if not state["finished"] and "score" not in state:  # a best.pt is final whenever it was saved
        raise UserError(
            f"{checkpoint} is an unfinished run; rerun the same slsim train command to finish it"
        )
    config = config_from_dict(TrainConfig, state["config"])
    model = build_model(config, tuple(state["meta"]["frame_shape"]))
    model.load_state_dict(sampling_weights(state))
    return (
        model.to(device).eval(),
        config,
        Normalizer.from_state_dict(state["normalizer"]),
        state["meta"],
    )


def unreadable_checkpoint(
    checkpoint: Path, err: BaseException, advice: str = "retrain it with slsim train --overwrite"
) -> str:
    """One line for a checkpoint that cannot be loaded (torch's own message is several)."""
    reason = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
    reason = reason or type(err).__name__
    return (
        f"cannot read checkpoint {checkpoint} (corrupt or not an slsim checkpoint: "
        f"{reason.rstrip('.')}); {advice}"
    )


def with_steps(config: TrainConfig, steps: int) -> TrainConfig:
    """``config`` sampling with K = ``steps``; refused for one-call methods (sl, mse)."""
    if steps < 1:
        raise UserError(f"--steps must be ≥ 1, got {steps}")
    if get_method(config.method).default_steps is None:
        raise UserError(f"--steps does not apply to {config.method}: it takes no sub-steps")
    return replace(config, steps=steps)


def check_label_law(labels: str, config: TrainConfig) -> None:
    """Refuse a label law that is unknown or that ``config``'s run cannot sample with."""
    if labels not in LABEL_LAWS:
        raise UserError(f"--labels must be one of {', '.join(LABEL_LAWS)}, got {labels!r}")
    if labels == "training" and (config.method != "sl" or config.trajectory_label_dim):
        kind = "an sl run with trajectory labels" if config.method == "sl" else config.method
        raise UserError(
            f"--labels training replays the training labels of an sl run; this run is {kind}"
        )


def network_calls(config: TrainConfig, generated_frames: int) -> int:
    """Network evaluations to generate one trajectory of ``generated_frames`` frames."""
    return get_method(config.method).calls_per_step(config) * generated_frames


def run_sampling(
    checkpoint: Path,
    test_file: Path,
    output: Path,
    n: int,
    *,
    seed: int,
    device: torch.device,
    context_frames: int = 1,
    batch_size: int = 1024,
    overwrite: bool = False,
    steps: int | None = None,
    system: str | None = None,
    labels: str = "gaussian",
    on_start: Callable[[], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Path:
    """Generate n surrogate trajectories; trajectory i starts from test trajectory i mod n_test.

    ``steps`` overrides the integration/denoising steps K per frame of multi-step methods;
    ``system`` (if given) must be the test file's; ``labels`` is how SL draws its per-step labels
    (``LABEL_LAWS``: fresh Gaussian, or replayed from the run's training labels). Non-finite
    starting frames or rollouts are refused (nothing is written).
    """
    if n <= 0:
        raise UserError(f"the number of trajectories must be positive, got {n}")
    model, config, normalizer, meta = load_surrogate(checkpoint, device)
    if steps is not None:
        config = with_steps(config, steps)
    if not 1 <= context_frames <= config.window:
        raise UserError(f"--context-frames must be between 1 and the window {config.window}")
    check_label_law(labels, config)
    if output.exists() and not overwrite:
        raise UserError(f"{output} already exists; pass --overwrite to replace it")
    hint = "generate it first with: slsim generate"
    with open_ensemble(test_file, hint=hint, expected_system=system) as test:
        if test.source != SIMULATOR:
            raise UserError(f"{test_file} is not a simulator ensemble")
        if meta["system"] != test.spec.name:
            raise UserError(
                f"{checkpoint} was trained on {meta['system']}, {test_file} is {test.spec.name}"
            )
        if config_to_dict(test.config) != meta["system_config"]:
            raise UserError(
                f"{test_file} was simulated with a different configuration than the training data"
            )
        index = np.arange(n) % test.n_trajectories
        start = load_frames(test, 0, min(n, test.n_trajectories), context_frames)[index]
        if not np.isfinite(start).all():
            raise UserError(f"{test_file}: the starting frames hold NaN or inf values")
        spec, system_config, n_frames = test.spec, test.config, len(test.time)
    frames = torch.from_numpy(np.ascontiguousarray(start))
    context = initial_context(
        normalizer.encode(frames, CHANNEL_AXIS).to(device), config.window, context_frames
    )
    generator = torch.Generator(device=device).manual_seed(seed)
    replay = None
    if labels == "training":
        replay = LabelReplay.of_run(
            config, meta["n_train_trajectories"], n_frames - 1, context_frames - 1, device
        )
    if on_start is not None:
        on_start()
    generated = rollout(
        model,
        get_method(config.method),
        config,
        context,
        n_frames - context_frames,
        generator,
        batch_size,
        on_batch,
        replay,
    )
    decoded = normalizer.decode(generated.float().cpu(), CHANNEL_AXIS).numpy()
    if not np.isfinite(decoded).all():
        bad = int((~np.isfinite(decoded.reshape(n, -1)).all(axis=1)).sum())
        raise UserError(
            f"the surrogate in {checkpoint} generated NaN or inf in {bad} of {n} trajectories "
            "(trained on bad data, or diverged); nothing was written"
        )
    trajectories = np.concatenate([start, decoded], axis=1).astype(np.float32)
    dims = spec.state_dims
    arrays = unstack_frames(trajectories, spec.state_variables, dims)
    header = EnsembleHeader(
        system=spec.name,
        config=system_config,
        source=f"surrogate:{config.method}",
        split="samples",
        master_seed=seed,
        n_trajectories=n,
        extra={
            "checkpoint": str(checkpoint.resolve()),
            "initial_conditions": str(test_file.resolve()),
            "context_frames": context_frames,
            "labels": labels,
            "network_calls_per_trajectory": network_calls(config, n_frames - context_frames),
            "train_config": config_to_dict(config),
        },
    )
    return write_ensemble(output, spec, header, {**arrays, "initial_index": index})


#: ``SampleRequest.checkpoint`` → the file of a run directory it names.
CHECKPOINT_FILES = {"last": CHECKPOINT_NAME, "best": BEST_CHECKPOINT_NAME}


@dataclass(frozen=True, kw_only=True)
class SampleRequest:
    """``slsim sample``: roll out run ``run`` of ``system`` from the test split's starts."""

    system: str
    run: str = "sl"
    #: Trajectories to generate (None: as many as the test split has).
    n: int | None = None
    seed: int = 0
    context_frames: int = 1
    batch_size: int = 1024
    #: Sub-steps K per frame of a multi-step method (None: the trained config's).
    steps: int | None = None
    #: The samples file (None: ``samples.h5`` in the run directory).
    output: Path | None = None
    #: ``last`` (the end of training) or ``best`` (the best validation score).
    checkpoint: str = "last"
    data_dir: Path | None = None
    device: torch.device
    overwrite: bool = False
    threads: int | None = None
    #: SL's per-step labels: ``gaussian`` (fresh N(0, I)) or ``training`` (replayed).
    labels: str = "gaussian"


def sample_run(
    request: SampleRequest,
    *,
    on_start: Callable[[int], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[Path, int]:
    """Resolve the run's checkpoint, the test split and the defaults of ``request``, then
    :func:`run_sampling`; returns the samples file and its number of trajectories.
    ``on_start(n)`` is called when the rollout begins."""
    spec = get_system(request.system)
    require_positive("--n", request.n)
    require_positive("--batch-size", request.batch_size)
    test_file = layout.split_path(request.system, "test", request.data_dir)
    with open_generated(test_file, request.system) as test:
        n = test.n_trajectories if request.n is None else request.n
    configure_model_threads(request.threads, spec)
    run_path = layout.run_dir(request.system, request.run, request.data_dir)
    if request.checkpoint not in CHECKPOINT_FILES:
        raise UserError(f"--checkpoint must be last or best, got {request.checkpoint!r}")
    checkpoint = run_path / CHECKPOINT_FILES[request.checkpoint]
    if request.checkpoint == "best" and not checkpoint.exists():
        raise UserError(f"{run_path} has no best.pt: it was trained without validation")
    output = request.output or run_path / layout.samples_name(request.labels)
    run_sampling(
        checkpoint,
        test_file,
        output,
        n,
        seed=request.seed,
        device=request.device,
        context_frames=request.context_frames,
        batch_size=request.batch_size,
        overwrite=request.overwrite,
        steps=request.steps,
        system=request.system,
        labels=request.labels,
        on_start=None if on_start is None else lambda: on_start(n),
        on_batch=on_batch,
    )
    return output, n
