"""``slsim demo``: the whole pipeline on a small configuration, through the library functions
that the commands call.

Each stage is skipped when its output already exists (an unfinished training run resumes), so
an interrupted demo continues where it stopped. The field demos train their runs side by side,
one process with one thread each, when there are two or more CPUs (``side_by_side``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from slsim.simulators import get_system
from slsim.simulators.config import parse_overrides
from slsim.surrogate.checkpoint import load_checkpoint

from . import layout
from .compare import CompareRequest, compare_report
from .errors import UserError
from .generation import GenerateRequest, generate_ensembles
from .progress import LazyProgress, generation_progress, sampling_progress, training_progress
from .sampling import SampleRequest, sample_run, unreadable_checkpoint
from .side_by_side import train_side_by_side
from .threads import available_cpus, choose_threads, configure_model_threads
from .training import TrainRequest, run_training


def _field_demo(*generation: str) -> dict:
    """The CPU recipe at a demo's budget: 32² frames (``generation``), 2 000 training steps
    for SL and MSE (docs/field-surrogates.md)."""
    recipe = ["iterations=2000"]
    return {
        "n": 512,
        "n_test": 512,
        "set": list(generation),
        "runs": {"sl": ("sl", "cpu", recipe), "mse": ("mse", "cpu", recipe)},
        # SL also sampled with labels replayed from its training labels (slsim sample --labels)
        "replayed": ("sl",),
        # a UNet step takes ~0.3 s on one core: worth a process per run (train_side_by_side)
        "concurrent": True,
    }


#: Per system: ensemble sizes and the runs to compare (name -> method, preset, overrides).
DEMOS: dict[str, dict] = {
    "duffing": {
        "n": 2000,
        "n_test": 1000,
        "runs": {
            "sl": ("sl", "fast", []),
            "mse": ("mse", "fast", []),
        },
    },
    # 32 stored frames, as the SL authors' wave demo notebook: half the rollout steps
    "wave": _field_demo("subsample=8", "n_frames=32"),
    "flow": _field_demo("coarsen=3"),
}


def _trained(run_dir: Path) -> bool:
    checkpoint = run_dir / "checkpoint.pt"
    if not checkpoint.exists():
        return False
    try:
        return bool(load_checkpoint(checkpoint)["finished"])
    except Exception as err:
        advice = f"delete {run_dir} and run the demo again"
        raise UserError(unreadable_checkpoint(checkpoint, err, advice)) from None


def run(
    system: str,
    data_dir: Path,
    *,
    device: torch.device,
    threads: int | None,
    progress: LazyProgress,
    on_stage: Callable[[str], None],
    show: Callable[[Any], None],
) -> Path:
    """Run the demo for ``system`` under ``data_dir``: ``progress`` shows each stage as it runs,
    ``show`` gets what the commands print; returns the compare report's directory."""
    if system not in DEMOS:
        raise UserError(f"no demo for '{system}' (available: {', '.join(DEMOS)})")
    settings = DEMOS[system]
    if not layout.split_path(system, "test", data_dir).exists():
        request = GenerateRequest(
            system=system,
            n=settings["n"],
            n_test=settings["n_test"],
            overrides=parse_overrides(settings.get("set", [])),
            data_dir=data_dir,
            overwrite=True,
            threads=threads,
        )
        jobs = generate_ensembles(
            request, on_stage=on_stage, on_progress=generation_progress(progress, system)
        )
        for job in jobs:
            show(f"wrote {job.output} ({job.n} trajectories)")
    untrained: dict[str, TrainRequest] = {}
    for name, (method, preset, overrides) in settings["runs"].items():
        run_dir = layout.run_dir(system, name, data_dir)
        if not _trained(run_dir):
            untrained[name] = TrainRequest(
                system=system,
                train_file=layout.split_path(system, "train", data_dir),
                run_dir=run_dir,
                method=method,
                preset=preset,
                overrides=parse_overrides(overrides),
                device=device,
            )
    side_by_side = settings.get("concurrent") and device.type == "cpu" and available_cpus() > 1
    if side_by_side and len(untrained) > 1:
        worker_threads = choose_threads(threads, small_model=True)
        on_stage(
            f"training {' and '.join(untrained)} side by side: {len(untrained)} processes, "
            f"{worker_threads} thread{'s' if worker_threads > 1 else ''} each"
        )
        callbacks = {
            name: training_progress(progress, f"train {system} {request.method}")
            for name, request in untrained.items()
        }
        train_side_by_side(
            untrained,
            processes=min(len(untrained), available_cpus()),
            threads=worker_threads,
            callbacks=callbacks,
            show=show,
        )
    else:
        for request in untrained.values():
            configure_model_threads(threads, get_system(system))
            on_start, on_log = training_progress(progress, f"train {system} {request.method}")
            checkpoint = run_training(request, on_log=on_log, on_start=on_start)
            show(f"trained {checkpoint} on {device}")
    samplings = [(name, "gaussian") for name in settings["runs"]]
    samplings += [(name, "training") for name in settings.get("replayed", ())]
    for name, labels in samplings:
        if not (layout.run_dir(system, name, data_dir) / layout.samples_name(labels)).exists():
            sampling = SampleRequest(
                system=system,
                run=name,
                data_dir=data_dir,
                device=device,
                threads=threads,
                labels=labels,
            )
            title = f"sample {system} {name}" + (
                "" if labels == "gaussian" else f" ({labels} labels)"
            )
            on_start, on_batch = sampling_progress(progress, title)
            output, n = sample_run(sampling, on_start=on_start, on_batch=on_batch)
            show(f"wrote {output} ({n} trajectories)")
    comparing = CompareRequest(system=system, data_dir=data_dir, bootstrap=50, threads=threads)
    return compare_report(comparing, show)
