"""``slsim demo``: the whole pipeline on a small configuration, through the library functions
that the commands call.

Each stage is skipped when its output already exists (an unfinished training run resumes), so
an interrupted demo continues where it stopped. The field demos train their runs side by side,
one process with one thread each, when there are two or more CPUs (:func:`train_concurrently`).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue
import signal
import sys
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
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
from .threads import available_cpus, choose_threads, configure_model_threads, configure_threads
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
        # a UNet step takes ~0.3 s on one core: worth a process per run (train_concurrently)
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
        train_concurrently(untrained, threads=worker_threads, progress=progress, show=show)
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


#: prctl(2) option: the signal this process gets when its parent thread exits (Linux).
_PR_SET_PDEATHSIG = 1
#: What a training process of :func:`train_concurrently` was given: the queue its progress goes
#: to, the event that says the demo is stopping and the demo's process id.
_WORKER: dict[str, Any] = {}


def train_concurrently(
    requests: dict[str, TrainRequest],
    *,
    threads: int,
    progress: LazyProgress,
    show: Callable[[Any], None],
) -> None:
    """Train every run of ``requests`` (name -> request) at once, one spawned process each with
    ``threads`` torch and Numba threads, and show their progress as :func:`training_progress`
    does. Each run is the same as when trained in this process (a function of its seed).

    Call it from the main thread: it handles SIGINT. Ctrl-C is relayed once to every training
    process, each saves at its step boundary, and KeyboardInterrupt is raised when all have
    stopped; a second Ctrl-C stops them at once. The processes have their own process group, so
    a terminal's Ctrl-C reaches them only through this relay, exactly once. A run that fails
    stops the others the same way and its error (a :class:`UserError` for bad input) is raised.
    """
    context = multiprocessing.get_context("spawn")
    callbacks = {
        name: training_progress(progress, f"train {request.system} {request.method}")
        for name, request in requests.items()
    }
    interrupts: list[int] = []
    # the processes start with SIGINT ignored (inherited) until _start_worker handles it
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        events, stop = context.Queue(), context.Event()
        with ProcessPoolExecutor(
            min(len(requests), available_cpus()),
            mp_context=context,
            initializer=_start_worker,
            initargs=(events, stop, threads, os.getpid()),
        ) as executor:
            futures = {
                name: executor.submit(_train_in_worker, name, request)
                for name, request in requests.items()
            }
            signal.signal(signal.SIGINT, lambda signum, frame: interrupts.append(signum))
            _follow(futures, events, stop, interrupts, callbacks, show)
    finally:
        signal.signal(signal.SIGINT, previous)
    errors = [future.exception() for future in futures.values() if future.exception()]
    for error in errors:
        if not isinstance(error, KeyboardInterrupt):
            raise error
    if errors or interrupts:
        raise KeyboardInterrupt


def _follow(
    futures: dict[str, Future],
    events: Any,
    stop: Any,
    interrupts: list[int],
    callbacks: dict[str, tuple[Callable, Callable]],
    show: Callable[[Any], None],
) -> None:
    """Show the runs' progress until each has ended; relay each Ctrl-C in ``interrupts`` (and a
    failed run, once) to every training process as SIGINT."""
    pids: list[int] = []
    ended: set[str] = set()
    stops = failed = 0

    def running(name: str) -> bool:
        future = futures[name]
        return name not in ended and not (
            future.done() and isinstance(future.exception(), BrokenProcessPool)
        )

    def relay() -> None:
        stop.set()
        for pid in pids:
            _interrupt(pid)

    try:
        while any(running(name) for name in futures):
            for _ in range(stops, len(interrupts) + failed):
                relay()
                stops += 1
            try:
                kind, *event = events.get(timeout=0.2)
            except queue.Empty:
                continue
            if kind == "pid":
                pids.append(event[0])
                if stops:  # started after the relay: one SIGINT like the others
                    _interrupt(event[0])
            elif kind == "start":
                callbacks[event[0]][0](*event[1:])
            elif kind == "log":
                callbacks[event[0]][1](*event[1:])
            else:  # "end": sent after the run's last progress event
                ended.add(event[0])
                error = futures[event[0]].exception()
                if error is None:
                    show(f"trained {futures[event[0]].result()} on cpu")
                elif not isinstance(error, KeyboardInterrupt):
                    failed = 1
    except BaseException:  # e.g. the display failed: the runs save and stop rather than go on
        relay()
        raise


def _interrupt(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:  # already gone
        pass


def _start_worker(events: Any, stop: Any, threads: int, parent: int) -> None:
    """Set up a training process: its own process group (Ctrl-C comes relayed by the demo);
    SIGHUP when the demo dies (Linux), so that a run saves and the process exits rather than
    live on as an orphan; ``threads`` threads."""
    os.setpgrp()
    _WORKER.update(events=events, stop=stop, parent=parent)
    signal.signal(signal.SIGINT, _between_runs)
    signal.signal(signal.SIGHUP, _parent_died)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, int(signal.SIGHUP))
    _exit_if_orphaned()
    configure_threads(threads, use_torch=True)
    events.put(("pid", os.getpid()))


def _parent_died(signum: int, frame: Any) -> None:
    """SIGHUP from PR_SET_PDEATHSIG, which comes once per exiting thread of the demo: once the
    demo is gone, stop as on Ctrl-C (the run saves at its step boundary), once."""
    if os.getppid() != _WORKER["parent"] and not _WORKER.get("orphaned"):
        _WORKER["orphaned"] = True
        signal.raise_signal(signal.SIGINT)


def _between_runs(signum: int, frame: Any) -> None:
    """SIGINT while no run trains here: nothing to stop, unless the demo has died."""
    _exit_if_orphaned()


def _exit_if_orphaned() -> None:
    """Exit when the demo that started this process has died (nobody is left to report to)."""
    if os.getppid() != _WORKER["parent"]:
        os._exit(1)


def _train_in_worker(name: str, request: TrainRequest) -> Path:
    """:func:`run_training` in a training process, its progress sent to the demo as events."""
    events, stop = _WORKER["events"], _WORKER["stop"]
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if stop.is_set():  # the demo stopped before this run began
            raise KeyboardInterrupt
        return run_training(
            request,
            on_log=lambda *log: events.put(("log", name, *log)),
            on_start=lambda config, step: events.put(("start", name, config, step)),
        )
    finally:
        signal.signal(signal.SIGINT, _between_runs)
        _exit_if_orphaned()
        events.put(("end", name))
