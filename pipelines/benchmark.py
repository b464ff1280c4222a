"""``slsim benchmark table1``: every method on the same data and backbone, the paper's Table 1.

Each method is trained once in ``runs/<method>/`` (a finished run with the same settings is
reused, an unfinished one resumed), then sampled from the same held-out starts with the same
seed; ``ardm`` is sampled at each K of ``ardm_steps`` from one trained network. Every ensemble
is scored with ``compare`` (distances beside the noise floor, bootstrap intervals), and the
table adds network evaluations and wall-clock seconds per trajectory, and the sampling speed of
each method relative to SL measured in the same run.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from slsim.simulators import get_system
from slsim.surrogate.config import TrainConfig
from slsim.surrogate.methods import METHODS
from slsim.surrogate.training import LogCallback

from . import layout
from .compare import Comparison, Options, compare, write_tables
from .ensemble import atomic_output, open_ensemble, open_generated
from .errors import UserError, require_positive
from .sampling import run_sampling
from .training import TrainRequest, run_training

#: (on_start, on_log) callbacks of one training run, or Nones
TrainCallbacks = tuple[Callable[[TrainConfig, int], None] | None, LogCallback | None]


@dataclass(frozen=True, kw_only=True)
class Table1Request:
    """``slsim benchmark table1``: every method trained with ``preset`` on ``system``'s data,
    sampled ``n`` times, ardm once per K of ``ardm_steps``."""

    system: str
    data_dir: Path | None = None
    preset: str = "fast"
    #: ``--set`` overrides of every method's training configuration.
    overrides: dict[str, str] = field(default_factory=dict)
    n: int = 128
    device: torch.device
    #: Every registered method, SL first (speeds are relative to it) and MSE last.
    methods: tuple[str, ...] = field(default_factory=lambda: tuple(METHODS))
    ardm_steps: tuple[int, ...] = (5, 10, 20, 40)
    bootstrap: int = 100
    #: The report directory (None: DATA/<system>/reports/table1).
    out_dir: Path | None = None


def parse_steps(text: str) -> tuple[int, ...]:
    """``--ardm-steps`` as integers: ``5,10,20,40``."""
    try:
        return tuple(int(k) for k in text.split(","))
    except ValueError:
        raise UserError(f"--ardm-steps expects integers like 5,10,20,40, got '{text}'") from None


def check_request(request: Table1Request) -> None:
    """Refuse an unknown system or method, bad sizes, or a table without SL."""
    get_system(request.system)
    require_positive("--n", request.n)
    for method in request.methods:
        if method not in METHODS:
            raise UserError(f"unknown method '{method}' (known: {', '.join(METHODS)})")
    if min(request.ardm_steps) < 1:
        raise UserError("--ardm-steps must be ≥ 1")
    if "sl" not in request.methods:
        raise UserError("table1 needs sl among the methods: speeds are relative to it")


@dataclass(frozen=True)
class Entry:
    """One row: a trained method sampled with K steps (None: its own default)."""

    method: str
    steps: int | None = None

    @property
    def label(self) -> str:
        return self.method if self.steps is None else f"{self.method}-{self.steps}"


@dataclass
class Result:
    """Speed and distances of one entry."""

    label: str
    method: str
    steps: int | None
    network_calls: int
    seconds_per_trajectory: float
    distances: dict[str, dict[str, float]]  # metric -> value, ci_low, ci_high, noise_floor
    speedup_of_sl: float = float("nan")  # this entry's time / SL's time


class Stopwatch:
    """Seconds since :meth:`start` (called when the rollout begins, after loading)."""

    def start(self) -> None:
        self.begin = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.begin


def entries(methods: Sequence[str], ardm_steps: Sequence[int]) -> list[Entry]:
    """The rows: each method once, ardm once per K."""
    rows: list[Entry] = []
    for method in methods:
        if method == "ardm":
            rows += [Entry("ardm", k) for k in ardm_steps]
        else:
            rows.append(Entry(method))
    return rows


def run_table1(
    request: Table1Request,
    *,
    on_stage: Callable[[str], None] = lambda stage: None,
    train_callbacks: Callable[[str], TrainCallbacks] = lambda method: (None, None),
) -> tuple[list[Result], Path]:
    """Train, sample and score every entry; write table1.{md,csv,json} and the compare report.

    ``train_callbacks(method)`` gives the (on_start, on_log) of ``run_training`` (progress).
    """
    check_request(request)
    system, data_dir, n = request.system, request.data_dir, request.n
    out_dir = request.out_dir or layout.reports_dir(system, data_dir) / "table1"
    train_file = layout.split_path(system, "train", data_dir)
    test_file = layout.split_path(system, "test", data_dir)
    # fail on a missing split or another system's file now, not after every method has trained
    for path in (train_file, test_file):
        with open_generated(path, system):
            pass
    checkpoints = {}
    for method in dict.fromkeys(request.methods):
        on_stage(f"train {method}")
        training = TrainRequest(
            system=system,
            train_file=train_file,
            run_dir=layout.run_dir(system, method, data_dir),
            method=method,
            preset=request.preset,
            overrides=request.overrides,
            device=request.device,
            reuse_finished=True,
        )
        on_start, on_log = train_callbacks(method)
        checkpoints[method] = run_training(training, on_log=on_log, on_start=on_start)
    rows = entries(request.methods, request.ardm_steps)
    samples, seconds = {}, {}
    for entry in rows:
        on_stage(f"sample {entry.label}")
        path = out_dir / "samples" / f"{entry.label}.h5"
        clock = Stopwatch()
        run_sampling(
            checkpoints[entry.method],
            test_file,
            path,
            n,
            seed=0,
            device=request.device,
            overwrite=True,
            steps=entry.steps,
            system=system,
            on_start=clock.start,
        )
        seconds[entry.label] = clock.elapsed() / n
        samples[entry.label] = path
    on_stage("compare")
    options = Options(bootstrap=request.bootstrap)
    comparison = compare(test_file, train_file, list(samples.values()), options, system)
    write_tables(comparison, out_dir)
    results = [
        _result(entry, samples[entry.label], seconds[entry.label], comparison) for entry in rows
    ]
    sl_seconds = next(r.seconds_per_trajectory for r in results if r.label == "sl")
    for result in results:
        result.speedup_of_sl = result.seconds_per_trajectory / sl_seconds
    write_table(results, comparison, out_dir)
    return results, out_dir


def _result(entry: Entry, path: Path, seconds: float, comparison: Comparison) -> Result:
    with open_ensemble(path) as ensemble:
        calls = int(ensemble.handle.attrs["network_calls_per_trajectory"])
    distances = {
        row.metric: {
            "value": row.value,
            "ci_low": row.ci_low,
            "ci_high": row.ci_high,
            "noise_floor": row.noise_floor,
        }
        for row in comparison.rows
        if row.candidate == path.stem
    }
    return Result(entry.label, entry.method, entry.steps, calls, seconds, distances)


def markdown(results: list[Result], comparison: Comparison) -> str:
    """The table as Markdown: distances with intervals, noise floors, calls, time, speed."""
    metrics = [row.metric for row in comparison.rows if row.candidate == results[0].label]
    head = ["method", "network calls / traj", "s / traj", "× SL time"]
    head += [f"{m} [95 % CI]" for m in metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r.label, str(r.network_calls), f"{r.seconds_per_trajectory:.3g}"]
        cells.append(f"{r.speedup_of_sl:.1f}")
        for m in metrics:
            d = r.distances[m]
            cells.append(f"{d['value']:.3g} [{d['ci_low']:.2g}, {d['ci_high']:.2g}]")
        lines.append("| " + " | ".join(cells) + " |")
    floors = {row.metric: row for row in comparison.rows}
    notes = ", ".join(
        f"{m} {floors[m].noise_floor:.3g} [{floors[m].floor_low:.2g}, {floors[m].floor_high:.2g}]"
        for m in metrics
    )
    lines += ["", f"Noise floor (two independent simulator ensembles of this size): {notes}."]
    return "\n".join(lines) + "\n"


def write_table(results: list[Result], comparison: Comparison, out_dir: Path) -> None:
    """table1.md, table1.csv and table1.json in ``out_dir`` (atomically)."""
    with atomic_output(out_dir / "table1.md") as tmp:
        tmp.write_text(markdown(results, comparison))
    with atomic_output(out_dir / "table1.json") as tmp:
        tmp.write_text(json.dumps([asdict(r) for r in results], indent=1))
    metrics = sorted({m for r in results for m in r.distances})
    keys = ("value", "ci_low", "ci_high", "noise_floor")
    with atomic_output(out_dir / "table1.csv") as tmp, tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["label", "method", "steps", "network_calls", "seconds_per_trajectory", "x_sl_time"]
            + [f"{m}_{k}" for m in metrics for k in keys]
        )
        for r in results:
            speed = [f"{r.seconds_per_trajectory:.6g}", f"{r.speedup_of_sl:.4g}"]
            distances = [f"{r.distances[m][k]:.6g}" for m in metrics for k in keys]
            writer.writerow([r.label, r.method, r.steps or "", r.network_calls, *speed, *distances])
