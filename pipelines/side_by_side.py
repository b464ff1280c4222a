"""Several training runs at once, one process each: on a CPU, two one-thread trainings use two
cores better than one training on two threads (docs/benchmarks.md), and a run is a function of
its seed, so it does not matter which process trains it. Used by ``slsim demo`` and
``slsim benchmark table1``.
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

from slsim.surrogate.config import TrainConfig
from slsim.surrogate.training import LogCallback

from .threads import configure_threads
from .training import TrainRequest, run_training

#: (on_start, on_log) callbacks of one training run (:func:`run_training`), or Nones
TrainCallbacks = tuple[Callable[[TrainConfig, int], None] | None, LogCallback | None]


#: prctl(2) option: the signal this process gets when its parent thread exits (Linux).
_PR_SET_PDEATHSIG = 1
#: What a training process of :func:`train_side_by_side` was given: the queue its progress goes
#: to, the event that says the caller is stopping and the caller's process id.
_WORKER: dict[str, Any] = {}


def train_side_by_side(
    requests: dict[str, TrainRequest],
    *,
    processes: int,
    threads: int,
    callbacks: dict[str, TrainCallbacks],
    show: Callable[[Any], None],
) -> dict[str, Path]:
    """Train every run of ``requests`` (name -> request) in ``processes`` spawned processes
    with ``threads`` torch and Numba threads each (more runs than processes wait their turn),
    and pass each run's progress to its ``callbacks[name]`` (on_start, on_log of
    :func:`run_training`); returns each run's checkpoint. Each run is the same as when trained
    in this process on as many threads (a function of its seed).

    Call it from the main thread: it handles SIGINT. Ctrl-C is relayed once to every training
    process, each saves at its step boundary, and KeyboardInterrupt is raised when all have
    stopped; a second Ctrl-C stops them at once. The processes have their own process group, so
    a terminal's Ctrl-C reaches them only through this relay, exactly once. A run that fails
    stops the others the same way and its error (a :class:`UserError` for bad input) is raised.
    """
    context = multiprocessing.get_context("spawn")
    interrupts: list[int] = []
    # the processes start with SIGINT ignored (inherited) until _start_worker handles it
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        events, stop = context.Queue(), context.Event()
        with ProcessPoolExecutor(
            processes,
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
    return {name: future.result() for name, future in futures.items()}


def _follow(
    futures: dict[str, Future],
    events: Any,
    stop: Any,
    interrupts: list[int],
    callbacks: dict[str, TrainCallbacks],
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
            elif kind in ("start", "log"):
                callback = callbacks[event[0]][kind == "log"]
                if callback is not None:
                    callback(*event[1:])
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
    """Set up a training process: its own process group (Ctrl-C comes relayed by the caller);
    SIGHUP when the caller dies (Linux), so that a run saves and the process exits rather than
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
    """SIGHUP from PR_SET_PDEATHSIG, which comes once per exiting thread of the caller: once the
    caller is gone, stop as on Ctrl-C (the run saves at its step boundary), once."""
    if os.getppid() != _WORKER["parent"] and not _WORKER.get("orphaned"):
        _WORKER["orphaned"] = True
        signal.raise_signal(signal.SIGINT)


def _between_runs(signum: int, frame: Any) -> None:
    """SIGINT while no run trains here: nothing to stop, unless the caller has died."""
    _exit_if_orphaned()


def _exit_if_orphaned() -> None:
    """Exit when the caller that started this process has died (nobody is left to report to)."""
    if os.getppid() != _WORKER["parent"]:
        os._exit(1)


def _train_in_worker(name: str, request: TrainRequest) -> Path:
    """:func:`run_training` in a training process, its progress sent to the caller as events."""
    events, stop = _WORKER["events"], _WORKER["stop"]
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if stop.is_set():  # the caller stopped before this run began
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
