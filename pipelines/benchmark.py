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
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from slsim.surrogate.config import TrainConfig
from slsim.surrogate.training import LogCallback

from . import layout
from .compare import Comparison, Options, compare, write_tables
from .ensemble import atomic_output, open_ensemble
from .errors import UserError
from .sampling import run_sampling
from .training import TrainRequest, run_training

DEFAULT_METHODS = ("sl", "ardm", "si", "biflow", "agm", "mse")
#: (on_start, on_log) callbacks of one training run, or Nones
TrainCallbacks = tuple[Callable[[TrainConfig, int], None] | None, LogCallback | None]
DEFAULT_ARDM_STEPS = (5, 10, 20, 40)


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
    system: str,
    data_dir: Path | None,
    preset: str,
    overrides: dict[str, str],
    n: int,
    device: torch.device,
    methods: Sequence[str] = DEFAULT_METHODS,
    ardm_steps: Sequence[int] = DEFAULT_ARDM_STEPS,
    bootstrap: int = 100,
    out_dir: Path | None = None,
    on_stage: Callable[[str], None] = lambda stage: None,
    train_callbacks: Callable[[str], TrainCallbacks] = lambda method: (None, None),
) -> tuple[list[Result], Path]:
    """Train, sample and score every entry; write table1.{md,csv,json} and the compare report.

    ``train_callbacks(method)`` gives the (on_start, on_log) of ``run_training`` (progress).
    """
    if "sl" not in methods:
        raise UserError("table1 needs sl among the methods: speeds are relative to it")
    out_dir = out_dir or layout.reports_dir(system, data_dir) / "table1"
    train_file = layout.split_path(system, "train", data_dir)
    test_file = layout.split_path(system, "test", data_dir)
    # fail on a missing split or another system's file now, not after every method has trained
    hint = f"generate it first with: slsim generate {system}"
    for path in (train_file, test_file):
        with open_ensemble(path, hint=hint, expected_system=system):
            pass
    checkpoints = {}
    for method in dict.fromkeys(methods):
        on_stage(f"train {method}")
        request = TrainRequest(
            system, train_file, layout.run_dir(system, method, data_dir), method,
            preset, overrides, device, reuse_finished=True,
        )  # fmt: skip
        on_start, on_log = train_callbacks(method)
        checkpoints[method] = run_training(request, on_log=on_log, on_start=on_start)
    samples, seconds = {}, {}
    for entry in entries(methods, ardm_steps):
        on_stage(f"sample {entry.label}")
        path = out_dir / "samples" / f"{entry.label}.h5"
        clock = Stopwatch()
        run_sampling(
            checkpoints[entry.method], test_file, path, n, 0, device, overwrite=True,
            on_start=clock.start, steps=entry.steps, system=system,
        )  # fmt: skip
        seconds[entry.label] = clock.elapsed() / n
        samples[entry.label] = path
    on_stage("compare")
    options = Options(bootstrap=bootstrap)
    comparison = compare(test_file, train_file, list(samples.values()), options, system)
    write_tables(comparison, out_dir)
    results = [
        _result(entry, samples[entry.label], seconds[entry.label], comparison)
        for entry in entries(methods, ardm_steps)
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
    with atomic_output(out_dir / "table1.csv") as tmp, tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["label", "method", "steps", "network_calls", "seconds_per_trajectory", "x_sl_time"]
            + [f"{m}_{k}" for m in metrics for k in ("value", "ci_low", "ci_high", "noise_floor")]
        )
        for r in results:
            writer.writerow(
                [r.label, r.method, r.steps or "", r.network_calls,
                 f"{r.seconds_per_trajectory:.6g}", f"{r.speedup_of_sl:.4g}"]
                + [f"{r.distances[m][k]:.6g}" for m in metrics
                   for k in ("value", "ci_low", "ci_high", "noise_floor")]
            )  # fmt: skip
