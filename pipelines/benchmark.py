"""``slsim benchmark table1``: every method on the same data and backbone, the paper's Table 1.

Each method is trained at each training seed in ``runs/<name>/`` (a finished run with the same
settings is reused, an unfinished one resumed), with the preset's settings or, given a tuning
record of ``benchmarks/tune_methods.py``, with the settings that won on the validation split.
Every network is sampled from the same held-out starts with the same seed; ``ardm`` is sampled
at each K of ``ardm_steps`` from one trained network. Every ensemble is scored with ``compare``
(distances beside the noise floor and its spread, bootstrap intervals, paired excess over the
floor), and the table adds network evaluations and wall-clock seconds per trajectory, the
sampling speed of each method relative to SL measured in the same run, and, over the seeds,
each distance's mean and spread (``table1_report``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from slsim.simulators import get_system
from slsim.surrogate.methods import METHODS

from . import layout
from .compare import Comparison, Options, compare, write_tables
from .ensemble import open_ensemble, open_generated
from .errors import UserError, require_positive
from .sampling import run_sampling
from .side_by_side import TrainCallbacks, train_side_by_side
from .table1_report import Result, write_report
from .training import TrainRequest, run_training


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
    #: Training seeds of every method; the table gives each distance's mean and spread over them.
    seeds: tuple[int, ...] = (0,)
    #: A tuning record (``tuning.json`` of benchmarks/tune_methods.py): each method trains with
    #: its winner's settings, and seed 0 is the winning run itself. None: the preset's settings.
    tuning: Path | None = None
    #: The report directory (None: DATA/<system>/reports/table1).
    out_dir: Path | None = None
    #: Runs trained at once, one process each with ``threads`` threads (CPU only); 1: one after
    #: the other in this process.
    jobs: int = 1
    threads: int = 1


def parse_integers(option: str, text: str) -> tuple[int, ...]:
    """A comma-separated list of integers (``--ardm-steps 5,10,20,40``, ``--seeds 0,1,2``)."""
    try:
        return tuple(int(k) for k in text.split(","))
    except ValueError:
        raise UserError(f"{option} expects integers like 0,1,2, got '{text}'") from None


def check_request(request: Table1Request) -> None:
    """Refuse an unknown system or method, bad sizes, or a table without SL."""
    get_system(request.system)
    require_positive("--n", request.n)
    for method in request.methods:
        if method not in METHODS:
            raise UserError(f"unknown method '{method}' (known: {', '.join(METHODS)})")
    if min(request.ardm_steps) < 1:
        raise UserError("--ardm-steps must be ≥ 1")
    if min(request.seeds) < 0 or len(set(request.seeds)) != len(request.seeds):
        raise UserError("--seeds must be distinct integers ≥ 0")
    if "seed" in request.overrides:
        raise UserError("the training seed of Table 1 is set with --seeds, not --set seed=…")
    if "sl" not in request.methods:
        raise UserError("table1 needs sl among the methods: speeds are relative to it")
    require_positive("--jobs", request.jobs)
    if request.jobs > 1 and request.device.type != "cpu":
        raise UserError(
            f"--jobs {request.jobs} trains side by side on the CPU, not on {request.device}"
        )


@dataclass(frozen=True)
class Entry:
    """One row: a trained method sampled with K steps (None: its own default)."""

    method: str
    steps: int | None = None

    @property
    def label(self) -> str:
        return self.method if self.steps is None else f"{self.method}-{self.steps}"


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


@dataclass(frozen=True)
class Training:
    """How one method is trained: its ``--set`` overrides and the run name of seed 0."""

    overrides: dict[str, str]
    name: str

    def run_name(self, seed: int) -> str:
        """``name`` for seed 0 (the tuning's winner, or the plain run), ``name-s<seed>`` else."""
        return self.name if seed == 0 else f"{self.name}-s{seed}"


def trainings(request: Table1Request) -> dict[str, Training]:
    """Each method's settings: the preset's (``runs/<method>``) or the tuning's winner's."""
    methods = dict.fromkeys(request.methods)
    if request.tuning is None:
        return {m: Training(dict(request.overrides), m) for m in methods}
    try:
        record = json.loads(Path(request.tuning).read_text())
        runs = {run["run"]: run for run in record["runs"]}
        system, preset, winners = record["system"], record["preset"], record["winners"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"cannot read the tuning record {request.tuning}: {err}") from None
    if (system, preset) != (request.system, request.preset):
        raise UserError(
            f"{request.tuning} tuned {system} with preset {preset}, not {request.system} with "
            f"preset {request.preset}"
        )
    chosen = {}
    for method in methods:
        name = winners.get(method, {}).get("run")
        if name not in runs:
            raise UserError(f"{request.tuning} has no winning run for '{method}'")
        chosen[method] = Training({**runs[name]["overrides"], **request.overrides}, name)
    return chosen


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
    checkpoints = train_every_run(request, on_stage, train_callbacks)
    seeds = request.seeds
    samples: dict[tuple[Entry, int], Path] = {}
    seconds: dict[tuple[Entry, int], float] = {}
    for entry in entries(request.methods, request.ardm_steps):
        for seed in seeds:
            label = entry.label if len(seeds) == 1 else f"{entry.label}-s{seed}"
            on_stage(f"sample {label}")
            path = out_dir / "samples" / f"{label}.h5"
            clock = Stopwatch()
            run_sampling(
                checkpoints[entry.method, seed],
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
            seconds[entry, seed] = clock.elapsed() / n
            samples[entry, seed] = path
    on_stage("compare")
    options = Options(bootstrap=request.bootstrap)
    comparison = compare(test_file, train_file, list(samples.values()), options, system)
    write_tables(comparison, out_dir)
    results = [
        _result(entry, seed, path, seconds[entry, seed], comparison)
        for (entry, seed), path in samples.items()
    ]
    sl_seconds = {r.seed: r.seconds_per_trajectory for r in results if r.label == "sl"}
    for result in results:
        result.speedup_of_sl = result.seconds_per_trajectory / sl_seconds[result.seed]
    write_report(results, comparison, out_dir)
    return results, out_dir


def train_every_run(
    request: Table1Request,
    on_stage: Callable[[str], None],
    train_callbacks: Callable[[str], TrainCallbacks],
) -> dict[tuple[str, int], Path]:
    """Each method at each seed (finished runs with the same settings are reused): one after the
    other, or ``request.jobs`` at a time in their own processes. Returns the checkpoints."""
    train_file = layout.split_path(request.system, "train", request.data_dir)
    runs: dict[tuple[str, int], TrainRequest] = {}
    for method, training in trainings(request).items():
        for seed in request.seeds:
            name = training.run_name(seed)
            runs[method, seed] = TrainRequest(
                system=request.system,
                train_file=train_file,
                run_dir=layout.run_dir(request.system, name, request.data_dir),
                method=method,
                preset=request.preset,
                overrides={**training.overrides, "seed": str(seed)},
                device=request.device,
                reuse_finished=True,
            )
    if request.jobs > 1 and len(runs) > 1:
        named = {run.run_dir.name: run for run in runs.values()}
        on_stage(
            f"train {len(named)} runs, {request.jobs} at a time side by side "
            f"({request.threads} thread{'s' if request.threads > 1 else ''} each)"
        )
        trained = train_side_by_side(
            named,
            processes=min(request.jobs, len(named)),
            threads=request.threads,
            callbacks={name: train_callbacks(name) for name in named},
            show=lambda line: None,
        )
        return {key: trained[run.run_dir.name] for key, run in runs.items()}
    checkpoints = {}
    for (method, seed), run in runs.items():
        on_stage(f"train {method} seed {seed} ({run.run_dir.name})")
        on_start, on_log = train_callbacks(run.run_dir.name)
        checkpoints[method, seed] = run_training(run, on_log=on_log, on_start=on_start)
    return checkpoints


def _result(entry: Entry, seed: int, path: Path, seconds: float, comparison: Comparison) -> Result:
    with open_ensemble(path) as ensemble:
        calls = int(ensemble.handle.attrs["network_calls_per_trajectory"])
    distances = {
        row.metric: {
            "value": row.value,
            "ci_low": row.ci_low,
            "ci_high": row.ci_high,
            "noise_floor": row.noise_floor,
            "excess": row.excess,
            "excess_low": row.excess_low,
            "excess_high": row.excess_high,
        }
        for row in comparison.rows
        if row.candidate == path.stem
    }
    return Result(entry.label, entry.method, entry.steps, seed, calls, seconds, distances)
