"""Progress on stderr: a rich bar on a terminal, plain lines in a log, nothing with ``--quiet``.

The display appears with its first task, i.e. only once a command has validated its inputs, so
that a user error prints one clean line. The adapters turn a display into the progress callbacks
of the library functions (generation, training, sampling).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from slsim.surrogate.config import TrainConfig
    from slsim.surrogate.training import LogCallback

    from .generation import GenerationJob

err_console = Console(stderr=True)

#: Seconds between progress lines when stderr is not a terminal (a log file).
PLAIN_PROGRESS_SECONDS = 30.0


class PlainProgress:
    """Progress as plain lines on stderr, for logs: one when a task starts, then at most one
    every ``interval`` seconds, and one when it completes."""

    def __init__(self, interval: float = PLAIN_PROGRESS_SECONDS):
        self.interval = interval
        self.tasks: list[dict] = []

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def add_task(self, description: str, total: float, completed: float = 0) -> int:
        now = time.monotonic()
        task = {"description": description, "total": total, "completed": completed}
        self.tasks.append({**task, "start": now, "shown": -math.inf})
        self._show(len(self.tasks) - 1)
        return len(self.tasks) - 1

    def advance(self, task: int, advance: float) -> None:
        self.update(task, completed=self.tasks[task]["completed"] + advance)

    def update(
        self, task: int, completed: float | None = None, description: str | None = None
    ) -> None:
        state = self.tasks[task]
        if completed is not None:
            state["completed"] = completed
        if description is not None:
            state["description"] = description
        done = state["completed"] >= state["total"]
        if done or time.monotonic() - state["shown"] >= self.interval:
            self._show(task)

    def _show(self, task: int) -> None:
        state = self.tasks[task]
        if state["shown"] == math.inf:  # completion already reported
            return
        now = time.monotonic()
        total, completed = state["total"], state["completed"]
        elapsed = now - state["start"]
        print(
            f"{state['description']}: {completed:g}/{total:g} "
            f"({100 * completed / max(total, 1):.0f} %), {elapsed:.0f} s elapsed",
            file=sys.stderr,
            flush=True,
        )
        state["shown"] = math.inf if completed >= total else now


class LazyProgress:
    """A progress display that appears with its first task: a rich bar on a terminal, plain
    lines every :data:`PLAIN_PROGRESS_SECONDS` otherwise (logs), nothing when ``quiet``."""

    def __init__(self, quiet: bool):
        self.progress: Progress | PlainProgress
        if quiet or err_console.is_terminal:
            self.progress = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=err_console,
                disable=quiet,
            )
        else:
            self.progress = PlainProgress()
        self.started = False

    def add_task(self, description: str, **kwargs) -> int:
        if not self.started:
            self.progress.start()
            self.started = True
        return self.progress.add_task(description, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.progress, name)

    def __enter__(self) -> LazyProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.progress.stop()


def stage_printer(quiet: bool, prefix: str = "") -> Callable[[str], None]:
    """Show a stage of a long command as a line on stderr (nothing when ``quiet``)."""

    def show(stage: str) -> None:
        if not quiet:
            err_console.print(f"{prefix}{stage}", highlight=False, soft_wrap=True)

    return show


def generation_progress(
    progress: LazyProgress, system: str
) -> Callable[[GenerationJob, int], None]:
    """``on_progress(job, trajectories)`` of generation: one bar per split."""
    tasks: dict[str, int] = {}

    def advance(job: GenerationJob, count: int) -> None:
        if job.split not in tasks:
            tasks[job.split] = progress.add_task(f"{system} {job.split}", total=job.n)
        progress.advance(tasks[job.split], count)

    return advance


def training_progress(
    progress: LazyProgress, label: str
) -> tuple[Callable[[TrainConfig, int], None], LogCallback]:
    """(on_start, on_log) callbacks that show a training run as a progress bar."""
    tasks: list[int] = []

    def on_start(config: TrainConfig, step: int) -> None:
        tasks.append(progress.add_task(label, total=config.iterations, completed=step))

    def on_log(step: int, loss: float, lr: float, scores: dict[str, float]) -> None:
        shown = "".join(f" {key} {value:.3g}" for key, value in scores.items())
        progress.update(tasks[0], completed=step, description=f"{label} loss {loss:.3g}{shown}")

    return on_start, on_log


def sampling_progress(
    progress: LazyProgress, label: str
) -> tuple[Callable[[int], None], Callable[[int], None]]:
    """(on_start(n), on_batch(trajectories)) callbacks that show a rollout as a progress bar."""
    tasks: list[int] = []

    def on_start(n: int) -> None:
        tasks.append(progress.add_task(label, total=n))

    def on_batch(count: int) -> None:
        progress.advance(tasks[0], count)

    return on_start, on_batch
