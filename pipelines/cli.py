"""The ``slsim`` command line: generate → train → sample → compare, plus info and demo."""

from __future__ import annotations

import errno
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from slsim.simulators import SYSTEMS, ConfigError, build_config, get_system
from slsim.simulators.config import describe_config, parse_overrides

from . import layout
from .errors import UserError
from .threads import choose_threads, configure_threads

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="slsim",
    help=(
        "Stochastic physics ensembles and Stochastic Lifting surrogates.\n\n"
        "Typical session: slsim generate duffing; slsim train duffing; slsim sample duffing; "
        "slsim compare --system duffing.\n\n"
        "Files go to ./data/<system>/ (or --data-dir, $SLSIM_DATA)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain help: rich markup would eat every "[default: …]" and keep the docstrings' line breaks
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},  # up to 120 columns on wide terminals
)

SYSTEM_HELP = f"stochastic system: {', '.join(SYSTEMS)}"
SystemArg = Annotated[str, typer.Argument(help=SYSTEM_HELP, show_default=False)]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="data root (default: $SLSIM_DATA or ./data)")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", "-s", help="override a parameter, KEY=VALUE (repeatable; see --show-config)"
    ),
]
DeviceOpt = Annotated[str, typer.Option(help="torch device: auto (CUDA if present), cpu, cuda[:N]")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bars")]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        help="CPU threads for torch and numba [default: $OMP_NUM_THREADS if set, else 1 for "
        "small vector-state networks (duffing) and every available CPU otherwise]",
        show_default=False,
    ),
]
#: Seconds between progress lines when stderr is not a terminal (a log file).
PLAIN_PROGRESS_SECONDS = 30.0


class _PlainProgress:
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


class _LazyProgress:
    """A progress display that appears with its first task, i.e. only once the inputs have
    been validated, so that a user error prints one clean line: a rich bar on a terminal,
    plain lines every :data:`PLAIN_PROGRESS_SECONDS` otherwise (logs)."""

    def __init__(self, quiet: bool):
        self.progress: Progress | _PlainProgress
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
            self.progress = _PlainProgress()
        self.started = False

    def add_task(self, description: str, **kwargs) -> int:
        if not self.started:
            self.progress.start()
            self.started = True
        return self.progress.add_task(description, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.progress, name)

    def __enter__(self) -> _LazyProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.progress.stop()


def _progress(quiet: bool) -> _LazyProgress:
    return _LazyProgress(quiet)


def _print_config(title: str, config: object) -> None:
    table = Table(title=title, show_lines=False)
    for column in ("parameter", "value", "unit", "meaning"):
        table.add_column(column)
    for row in describe_config(config):
        table.add_row(*row)
    console.print(table)


def _positive(name: str, value: int | None) -> None:
    if value is not None and value <= 0:
        raise UserError(f"{name} must be a positive integer, got {value}")


def _small_model(system: str) -> bool:
    """Vector states (Duffing) train small MLPs that one CPU thread runs fastest."""
    spec = get_system(system)
    return "x" not in spec.variable(spec.state_variables[0]).dims


@app.command()
def generate(
    system: SystemArg,
    n: Annotated[
        int | None,
        typer.Option("--n", help="training trajectories [default: per system, duffing 10000]"),
    ] = None,
    n_test: Annotated[
        int | None,
        typer.Option(
            "--n-test",
            help="held-out test trajectories (0: none) [default: per system, duffing 10000; "
            "with --n, in the system's train/test proportion]",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option(help="master seed; train and test use disjoint streams of it")
    ] = 0,
    set_: SetOpt = None,
    data_dir: DataDirOpt = None,
    shard_size: Annotated[
        int | None,
        typer.Option(help="trajectories per shard (resume granularity) [default: per system]"),
    ] = None,
    workers: Annotated[
        int, typer.Option(help="local dask worker processes (1: run shards in this process)")
    ] = 1,
    scheduler: Annotated[
        str | None,
        typer.Option(help="address of a dask.distributed scheduler, e.g. tcp://host:8786"),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="replace existing output (and discard unfinished shards)")
    ] = False,
    show_config: Annotated[
        bool, typer.Option(help="print the resolved configuration and exit")
    ] = False,
    quiet: QuietOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Simulate an ensemble into DATA/<system>/train.h5 and test.h5.

    Shards are written as they finish; an interrupted run resumes when the same command is run
    again. The same seed gives bit-identical data for any shard, worker or thread count.
    """
    from .generation import GenerationJob, local_cluster_client, numba_threads_per_worker
    from .generation import generate as run_generation

    spec = get_system(system)
    config = build_config(spec.config_type, parse_overrides(set_ or []))
    if show_config:
        _print_config(f"{system} configuration", config)
        return
    _positive("--n", n)
    _positive("--workers", workers)
    _positive("--shard-size", shard_size)
    if seed < 0:
        raise UserError(f"--seed must be a non-negative integer, got {seed}")
    total_threads = choose_threads(threads)
    n_train = spec.default_n_train if n is None else n
    if n_test is not None:
        n_held_out = n_test
    elif n is None:
        n_held_out = spec.default_n_test
    else:
        n_held_out = max(1, round(n * spec.default_n_test / spec.default_n_train))
    if n_held_out < 0:
        raise UserError(f"--n-test must be ≥ 0, got {n_held_out}")
    splits = [("train", n_train), ("test", n_held_out)] if n_held_out else [("train", n_train)]
    jobs = [
        GenerationJob(
            spec,
            config,
            split,
            count,
            seed,
            layout.split_path(system, split, data_dir),
            spec.default_shard_size if shard_size is None else shard_size,
        )
        for split, count in splits
    ]
    for job in jobs:
        if job.output.exists() and not overwrite:
            raise UserError(f"{job.output} already exists; pass --overwrite to replace it")
    sizes = ", ".join(f"{job.split} {job.n} trajectories → {job.output}" for job in jobs)
    client = None
    worker_threads = None
    if scheduler is not None:
        from distributed import Client

        try:
            client = Client(scheduler, timeout="10s")
        except OSError as err:
            raise UserError(f"cannot reach dask scheduler {scheduler}: {err}") from None
    elif workers > 1:
        client = local_cluster_client(workers)
        worker_threads = numba_threads_per_worker(workers, total_threads)
    else:
        configure_threads(total_threads)
    try:
        with _progress(quiet) as progress:
            for job in jobs:
                tasks: list[int] = []

                def advance(k: int, job=job, tasks=tasks) -> None:
                    if not tasks and job is jobs[0] and not quiet:  # the first job has started
                        err_console.print(
                            f"generating {system}: {sizes}", highlight=False, soft_wrap=True
                        )
                    if not tasks:
                        tasks.append(progress.add_task(f"{system} {job.split}", total=job.n))
                    progress.advance(tasks[0], k)

                run_generation(
                    job,
                    overwrite=overwrite,
                    client=client,
                    numba_threads=worker_threads,
                    on_progress=advance,
                )
    finally:
        if client is not None:
            client.close()
    for job in jobs:
        console.print(f"wrote {job.output} ({job.n} trajectories)")


@app.command()
def train(
    system: SystemArg,
    method: Annotated[
        str,
        typer.Option(
            help="surrogate method: sl (Stochastic Lifting), mse (deterministic regression), "
            "ardm (conditional diffusion), si (stochastic interpolant), biflow (bi-flow), "
            "agm (acceleration generative modeling)"
        ),
    ] = "sl",
    preset: Annotated[
        str, typer.Option(help="smoke (seconds, CPU), fast (minutes), paper (the paper's scale)")
    ] = "fast",
    set_: SetOpt = None,
    name: Annotated[
        str | None, typer.Option(help="run name under DATA/<system>/runs/ [default: the method]")
    ] = None,
    data_dir: DataDirOpt = None,
    device: DeviceOpt = "auto",
    overwrite: Annotated[
        bool, typer.Option(help="discard an existing run of the same name")
    ] = False,
    show_config: Annotated[
        bool, typer.Option(help="print the resolved training configuration and exit")
    ] = False,
    data: Annotated[
        str,
        typer.Option(
            help="where training frames live: auto (GPU or RAM when they fit, else read from "
            "HDF5 per batch), memory, or stream"
        ),
    ] = "auto",
    quiet: QuietOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Train a surrogate on DATA/<system>/train.h5 into DATA/<system>/runs/<name>/.

    Checkpoints are written periodically and on Ctrl-C; running the same command again resumes
    an unfinished run exactly where it stopped. Launched with torchrun (torchrun
    --nproc-per-node 4 -m slsim.pipelines train wave) it trains on several GPUs with DDP.
    """
    from slsim.surrogate.device import select_device

    from .ensemble import open_ensemble
    from .training import TrainRequest, resolve_config, run_training

    spec = get_system(system)
    overrides = parse_overrides(set_ or [])
    if show_config:
        config = resolve_config(spec, method, preset, overrides)
        _print_config(f"{system} training configuration ({preset})", config)
        return
    train_file = layout.split_path(system, "train", data_dir)
    hint = f"generate it first with: slsim generate {system}"
    with open_ensemble(train_file, hint=hint, expected_system=system):
        pass
    configure_threads(threads, small_model=_small_model(system), use_torch=True)
    torch_device = select_device(device)
    request = TrainRequest(
        system,
        train_file,
        layout.run_dir(system, name or method, data_dir),
        method,
        preset,
        overrides,
        torch_device,
        overwrite,
        data,
    )
    with _progress(quiet) as progress:
        on_start, on_log = _training_progress(progress, f"train {system} {method}")
        checkpoint = run_training(request, on_log=on_log, on_start=on_start)
    console.print(f"trained {checkpoint} on {torch_device}")


def _training_progress(progress: _LazyProgress, label: str) -> tuple[Callable, Callable]:
    """(on_start, on_log) callbacks that show a training run as a progress bar."""
    tasks: list[int] = []

    def on_start(config, step):
        tasks.append(progress.add_task(label, total=config.iterations, completed=step))

    def on_log(step, loss, lr, scores):
        shown = "".join(f" {key} {value:.3g}" for key, value in scores.items())
        progress.update(tasks[0], completed=step, description=f"{label} loss {loss:.3g}{shown}")

    return on_start, on_log


@app.command()
def sample(
    system: SystemArg,
    run: Annotated[str, typer.Option(help="run name under DATA/<system>/runs/")] = "sl",
    n: Annotated[
        int | None,
        typer.Option("--n", help="trajectories to generate [default: size of the test split]"),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the sampling noise (fresh labels)")] = 0,
    context_frames: Annotated[
        int, typer.Option(help="true frames given at the start (1: only the initial state)")
    ] = 1,
    batch_size: Annotated[int, typer.Option(help="trajectories rolled out together")] = 1024,
    steps: Annotated[
        int | None,
        typer.Option(
            help="denoising/integration steps K per frame for ardm, si, biflow, agm (network "
            "calls per frame) [default: the trained config's, else ardm 40, si 10, biflow 20, "
            "agm 10]",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(help="samples file [default: DATA/<system>/runs/<run>/samples.h5]"),
    ] = None,
    checkpoint: Annotated[
        str,
        typer.Option(help="last: the end of training; best: the best validation score (best.pt)"),
    ] = "last",
    data_dir: DataDirOpt = None,
    device: DeviceOpt = "auto",
    overwrite: Annotated[bool, typer.Option(help="replace an existing samples file")] = False,
    quiet: QuietOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Roll out a trained surrogate into DATA/<system>/runs/<run>/samples.h5.

    One network call per frame for sl and mse; K calls per frame for ardm, si, biflow and agm
    (--steps). The file has the simulator's schema, so every slsim tool and xarray reads it.
    """
    from slsim.surrogate.device import select_device

    from .ensemble import open_ensemble
    from .sampling import run_sampling

    get_system(system)
    _positive("--n", n)
    _positive("--batch-size", batch_size)
    test_file = layout.split_path(system, "test", data_dir)
    hint = f"generate it first with: slsim generate {system}"
    with open_ensemble(test_file, hint=hint, expected_system=system) as test:
        n = test.n_trajectories if n is None else n
    configure_threads(threads, small_model=_small_model(system), use_torch=True)
    run_path = layout.run_dir(system, run, data_dir)
    output = output or run_path / "samples.h5"
    files = {"last": "checkpoint.pt", "best": "best.pt"}
    if checkpoint not in files:
        raise UserError(f"--checkpoint must be last or best, got {checkpoint!r}")
    if checkpoint == "best" and not (run_path / "best.pt").exists():
        raise UserError(f"{run_path} has no best.pt: it was trained without validation")
    with _progress(quiet) as progress:
        tasks: list[int] = []
        run_sampling(
            run_path / files[checkpoint],
            test_file,
            output,
            n,
            seed,
            select_device(device),
            context_frames,
            batch_size,
            overwrite,
            on_start=lambda: tasks.append(progress.add_task(f"sample {system} {run}", total=n)),
            on_batch=lambda k: progress.advance(tasks[0], k),
            steps=steps,
            system=system,
        )
    console.print(f"wrote {output} ({n} trajectories)")


def _compare_conditional(
    system: str, files: list[Path] | None, data_dir: Path | None, out_dir: Path, params: dict
) -> None:
    """``compare --qoi conditional``: runs named by their samples files, or every trained run."""
    from slsim.surrogate.device import select_device

    from .conditional import run_conditional

    if files:
        checkpoints = {f.parent.name: f.parent / "checkpoint.pt" for f in files}
    else:
        found = sorted(layout.runs_dir(system, data_dir).glob("*/checkpoint.pt"))
        checkpoints = {path.parent.name: path for path in found}
    rows = run_conditional(
        system,
        layout.split_path(system, "test", data_dir),
        checkpoints,
        out_dir,
        params,
        select_device("auto"),
    )
    table = Table(title=f"{system}: conditional law from held-out states (sliced W2 per state)")
    for column in ("candidate", "frames ahead", "median distance", "median floor",
                   "median × floor", "worst × floor", "states × branches"):  # fmt: skip
        table.add_column(column, justify="left" if column == "candidate" else "right")
    for row in rows:
        table.add_row(
            row.candidate,
            str(row.horizon),
            f"{row.median_distance:.3g}",
            f"{row.median_floor:.3g}",
            f"{row.median_ratio:.2f}",
            f"{row.worst_ratio:.2f}",
            f"{row.states} × {row.branches}",
        )
    console.print(table)
    console.print(f"report: {out_dir} (conditional.csv, conditional.json)")


@app.command()
def compare(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="surrogate ensembles to score [default: every DATA/<system>/runs/*/samples.h5]",
            show_default=False,
        ),
    ] = None,
    system: Annotated[
        str | None, typer.Option(help=f"{SYSTEM_HELP} [default: the only one with runs]")
    ] = None,
    qoi: Annotated[
        str,
        typer.Option(
            help="crossing-time, integrated-mass, state, all, or conditional (duffing: the "
            "law of the next states from held-out states; -p states=32 branches=256 frame=…)"
        ),
    ] = "all",
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="QoI parameter, KEY=VALUE (repeatable): threshold, scale (wave: a number or "
            "max = max |u| of the test ensemble), corner_cells (flow), level (duffing)",
            show_default=False,
        ),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option(help="bootstrap resamples for the 95 % intervals (0: none)", min=0)
    ] = 100,
    neighbours: Annotated[
        int,
        typer.Option(
            help="generated trajectories checked against their nearest training trajectory "
            "(0: skip)",
            min=0,
        ),
    ] = 32,
    out: Annotated[
        Path | None, typer.Option(help="report directory [default: DATA/<system>/reports/compare]")
    ] = None,
    data_dir: DataDirOpt = None,
    plots: Annotated[bool, typer.Option(help="write PNG figures")] = True,
    threads: ThreadsOpt = None,
) -> None:
    """Score surrogate ensembles against the held-out simulator ensemble.

    Every distance is reported with a bootstrap 95 % interval beside its noise floor: the same
    distance between two independent simulator ensembles of the same size. A nearest-neighbour
    check compares generated trajectories with the training set (ratio ≈ 1: new samples,
    ≪ 1: memorised).
    """
    from .compare import Options, write_tables
    from .compare import compare as run_compare
    from .ensemble import check_writable_directory
    from .qoi import QOI_NAMES

    if qoi not in (*QOI_NAMES, "all", "conditional"):
        raise UserError(
            f"unknown quantity of interest '{qoi}' (known: {', '.join(QOI_NAMES)}, all, "
            "conditional)"
        )
    overrides = _parse_params(param or [])
    system = system or _infer_system(files, data_dir)
    get_system(system)
    out_dir = out or layout.reports_dir(system, data_dir) / "compare"
    check_writable_directory(out_dir)  # before minutes of computing, not after
    configure_threads(threads)
    if qoi == "conditional":
        _compare_conditional(system, files, data_dir, out_dir, overrides)
        return
    candidates = (
        list(files) if files else sorted(layout.runs_dir(system, data_dir).glob("*/samples.h5"))
    )
    comparison = run_compare(
        layout.split_path(system, "test", data_dir),
        layout.split_path(system, "train", data_dir),
        candidates,
        Options(qoi, overrides, bootstrap, neighbours),
        expected_system=system,
    )
    table = Table(title=f"{system}: distance to the held-out simulator ensemble (lower is better)")
    for column in ("metric", "candidate", "distance [95 % CI]", "noise floor [95 % CI]"):
        table.add_column(column, justify="left" if column in ("metric", "candidate") else "right")
    table.add_column("× floor", justify="right")
    table.add_column("floor spread (groups)", justify="right")
    table.add_column("excess over floor [paired 95 % CI]", justify="right")
    table.add_column("n", justify="right")
    for row in comparison.rows:
        table.add_row(
            row.metric,
            row.candidate,
            f"{row.value:.3g} {_interval_text(row.ci_low, row.ci_high)}",
            f"{row.noise_floor:.3g} {_interval_text(row.floor_low, row.floor_high)}",
            f"{row.ratio:.2f}",
            f"{min(row.floor_groups):.3g}–{max(row.floor_groups):.3g} ({len(row.floor_groups)})",
            f"{row.excess:+.3g} {_interval_text(row.excess_low, row.excess_high)}",
            str(row.n_candidate),
        )
    console.print(table)
    for row in {r.metric: r for r in comparison.rows}.values():
        if row.params:
            settings = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                 for k, v in row.params.items())  # fmt: skip
            console.print(f"{row.metric} parameters: {settings}")
    for label, check in comparison.novelty.items():
        console.print(
            f"nearest training trajectory, {label}: median RMS distance "
            f"{check.generated_median:.3g} vs {check.simulator_median:.3g} for held-out "
            f"simulator trajectories (ratio {check.ratio:.2f}; ≪ 1 would mean memorised)"
        )
    written = list(write_tables(comparison, out_dir))
    if plots:
        from .plots import plot_comparison

        written += plot_comparison(comparison, out_dir)
    console.print(f"report: {out_dir} ({', '.join(p.name for p in written)})")


def _parse_params(items: list[str]) -> dict[str, float | str]:
    """``--param`` KEY=VALUE pairs; values that read as numbers become floats."""
    try:
        pairs = parse_overrides(items)
    except ConfigError as err:
        raise UserError(f"--param: {err}") from None
    parsed: dict[str, float | str] = {}
    for key, value in pairs.items():
        try:
            parsed[key] = float(value)
        except ValueError:
            parsed[key] = value
    return parsed


def _interval_text(low: float, high: float) -> str:
    return "" if math.isnan(low) else f"[{low:.2g}, {high:.2g}]"


def _infer_system(files: list[Path] | None, data_dir: Path | None) -> str:
    if files:
        from .ensemble import open_ensemble

        with open_ensemble(files[0]) as ensemble:
            return ensemble.spec.name
    with_runs = [
        name for name in SYSTEMS if any(layout.runs_dir(name, data_dir).glob("*/samples.h5"))
    ]
    if len(with_runs) == 1:
        return with_runs[0]
    found = ", ".join(with_runs) if with_runs else "none"
    raise UserError(f"pass --system (systems with sampled runs: {found})")


@app.command()
def info(
    file: Annotated[Path, typer.Argument(help="an slsim HDF5 ensemble", show_default=False)],
    deep: Annotated[bool, typer.Option(help="also scan every value for NaN/inf")] = False,
) -> None:
    """Shape, configuration and provenance of an ensemble file, and a one-line schema verdict."""
    import h5py

    from .ensemble import verdict

    ok, line = verdict(file, deep=deep)
    if ok:
        with h5py.File(file, "r") as handle:
            table = Table(title=str(file), show_header=False)
            for key in (
                "system",
                "source",
                "split",
                "n_trajectories",
                "master_seed",
                "slsim_version",
                "created",
                "checkpoint",
            ):
                if key in handle.attrs:
                    table.add_row(key, str(handle.attrs[key]))
            for name, dset in handle.items():
                if name not in ("trajectory",) and not dset.is_scale:
                    table.add_row(f"dataset {name}", f"{dset.shape} {dset.dtype}")
            time = handle["time"][...]
            table.add_row("time", f"{time[0]:g} … {time[-1]:g} ({time.size} frames)")
            table.add_row("config", str(handle.attrs["config"]))
        console.print(table)
    console.print(line, soft_wrap=True)
    if not ok:
        raise typer.Exit(1)


@app.command()
def demo(
    system: Annotated[str, typer.Argument(help=SYSTEM_HELP)] = "duffing",
    data_dir: Annotated[Path, typer.Option(help="where the demo writes its files")] = Path(
        "data/demo"
    ),
    device: DeviceOpt = "auto",
    quiet: QuietOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """End to end on a small configuration: generate, train SL and MSE, sample, compare.

    Re-running continues where it stopped (finished steps are kept).
    """
    from . import demo as demo_module

    demo_module.run(
        system,
        data_dir,
        device,
        quiet,
        threads,
        generate=generate,
        train=train,
        sample=sample,
        compare=compare,
    )


benchmark_app = typer.Typer(help="Method comparisons that train, sample and score several runs.")
app.add_typer(benchmark_app, name="benchmark")


@benchmark_app.command("table1")
def table1(
    system: SystemArg,
    preset: Annotated[
        str, typer.Option(help="training preset of every method: smoke, fast, paper")
    ] = "fast",
    set_: SetOpt = None,
    n: Annotated[int, typer.Option("--n", help="trajectories sampled per method")] = 128,
    methods: Annotated[
        str, typer.Option(help="comma-separated methods (sl is required: speeds are relative)")
    ] = "sl,ardm,si,biflow,agm,mse",
    ardm_steps: Annotated[
        str, typer.Option(help="comma-separated K at which ardm is sampled")
    ] = "5,10,20,40",
    bootstrap: Annotated[
        int, typer.Option(help="bootstrap resamples for the 95 % intervals (0: none)", min=0)
    ] = 100,
    data_dir: DataDirOpt = None,
    device: DeviceOpt = "auto",
    quiet: QuietOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Reproduce the paper's Table 1 on SYSTEM: WCT and WIM beside the noise floor, network
    calls and seconds per trajectory for SL, ARDM at several K, SI, bi-flow and MSE.

    Trains each method in DATA/<system>/runs/<method>/ (finished runs with the same settings
    are reused), samples --n trajectories each, and writes table1.md/.csv/.json and the compare
    report to DATA/<system>/reports/table1/.
    """
    from slsim.surrogate.device import select_device
    from slsim.surrogate.methods import METHODS

    from .benchmark import run_table1

    get_system(system)
    _positive("--n", n)
    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    for method in chosen:
        if method not in METHODS:
            raise UserError(f"unknown method '{method}' (known: {', '.join(METHODS)})")
    try:
        steps = [int(k) for k in ardm_steps.split(",")]
    except ValueError:
        raise UserError(
            f"--ardm-steps expects integers like 5,10,20,40, got '{ardm_steps}'"
        ) from None
    if min(steps) < 1:
        raise UserError("--ardm-steps must be ≥ 1")
    configure_threads(threads, small_model=_small_model(system), use_torch=True)
    with _progress(quiet) as progress:
        _, out_dir = run_table1(
            system, data_dir, preset, parse_overrides(set_ or []), n, select_device(device),
            chosen, steps, bootstrap,
            on_stage=lambda stage: None if quiet else err_console.print(f"table1: {stage}"),
            train_callbacks=lambda m: _training_progress(progress, f"train {system} {m}"),
        )  # fmt: skip
    console.print((out_dir / "table1.md").read_text())
    console.print(f"report: {out_dir}")


def _interrupted(err: BaseException | None) -> bool:
    """Whether ``err`` is, or was raised while handling, a KeyboardInterrupt (Ctrl-C)."""
    while err is not None:
        if isinstance(err, KeyboardInterrupt):
            return True
        err = err.__cause__ or err.__context__
    return False


def main() -> None:
    """Console entry point: user errors and a full disk become one line on stderr and exit
    status 2; Ctrl-C prints how to resume and exits with 130."""
    try:
        app()
    except (UserError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise
        where = f" ({err.filename})" if err.filename else ""
        print(f"error: {err.strerror}{where}; nothing was written", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)
    except SystemExit as exit_:  # typer turns Ctrl-C into a silent exit 130
        if exit_.code == 130 and _interrupted(exit_):
            print(INTERRUPTED, file=sys.stderr)
        raise


INTERRUPTED = "interrupted; run the same command again to resume"


__all__ = ["app", "main"]
