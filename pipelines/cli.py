"""The ``slsim`` command line: generate → train → sample → compare, plus info and demo.

Each command parses its options into a request, calls one library function and prints what it
returns. Help texts that list systems, methods, presets and QoIs are read from the registries.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from slsim.simulators import ConfigError, build_config, get_system
from slsim.simulators.config import describe_config, parse_overrides
from slsim.surrogate.device import select_device

from . import layout
from . import options as opt
from .benchmark import Table1Request, parse_integers, run_table1
from .compare import CompareRequest, compare_report
from .demo import run as run_demo
from .ensemble import describe, open_generated, verdict
from .errors import UserError
from .generation import GenerateRequest, generate_ensembles
from .progress import (
    LazyProgress,
    generation_progress,
    sampling_progress,
    stage_printer,
    training_progress,
)
from .sampling import SampleRequest, sample_run
from .threads import available_cpus, choose_threads, configure_model_threads
from .training import TrainRequest, resolve_config, run_training

console = Console()

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


def _print_config(title: str, config: object) -> None:
    table = Table(title=title, show_lines=False)
    for column in ("parameter", "value", "unit", "meaning"):
        table.add_column(column)
    for row in describe_config(config):
        table.add_row(*row)
    console.print(table)


@app.command()
def generate(
    system: opt.System,
    n: opt.GenerateN = None,
    n_test: opt.NTest = None,
    seed: opt.Seed = 0,
    set_: opt.Set = None,
    data_dir: opt.DataDir = None,
    shard_size: opt.ShardSize = None,
    workers: opt.Workers = 1,
    scheduler: opt.Scheduler = None,
    overwrite: opt.GenerateOverwrite = False,
    show_config: opt.ShowConfig = False,
    quiet: opt.Quiet = False,
    threads: opt.Threads = None,
) -> None:
    """Simulate an ensemble into DATA/<system>/train.h5 and test.h5.

    Shards are written as they finish; an interrupted run resumes when the same command is run
    again. The same seed gives bit-identical data for any shard, worker or thread count.
    """
    overrides = parse_overrides(set_ or [])
    if show_config:
        config = build_config(get_system(system).config_type, overrides)
        _print_config(f"{system} configuration", config)
        return
    request = GenerateRequest(
        system=system,
        n=n,
        n_test=n_test,
        seed=seed,
        overrides=overrides,
        data_dir=data_dir,
        shard_size=shard_size,
        workers=workers,
        scheduler=scheduler,
        overwrite=overwrite,
        threads=threads,
    )
    with LazyProgress(quiet) as progress:
        on_progress = generation_progress(progress, system)
        jobs = generate_ensembles(request, on_stage=stage_printer(quiet), on_progress=on_progress)
    for job in jobs:
        console.print(f"wrote {job.output} ({job.n} trajectories)")


@app.command()
def train(
    system: opt.System,
    method: opt.Method = "sl",
    preset: opt.Preset = "fast",
    set_: opt.Set = None,
    name: opt.RunName = None,
    data_dir: opt.DataDir = None,
    device: opt.Device = "auto",
    overwrite: opt.TrainOverwrite = False,
    show_config: opt.TrainShowConfig = False,
    data: opt.DataMode = "auto",
    quiet: opt.Quiet = False,
    threads: opt.Threads = None,
) -> None:
    """Train a surrogate on DATA/<system>/train.h5 into DATA/<system>/runs/<name>/.

    Checkpoints are written periodically and on Ctrl-C; running the same command again resumes
    an unfinished run exactly where it stopped. Launched with torchrun (torchrun
    --nproc-per-node 4 -m slsim.pipelines train wave) it trains on several GPUs with DDP.
    """
    spec = get_system(system)
    overrides = parse_overrides(set_ or [])
    if show_config:
        config = resolve_config(spec, method, preset, overrides)
        _print_config(f"{system} training configuration ({preset})", config)
        return
    train_file = layout.split_path(system, "train", data_dir)
    with open_generated(train_file, system):  # before threads and devices are set up
        pass
    configure_model_threads(threads, spec)
    request = TrainRequest(
        system=system,
        train_file=train_file,
        run_dir=layout.run_dir(system, name or method, data_dir),
        method=method,
        preset=preset,
        overrides=overrides,
        device=select_device(device),
        overwrite=overwrite,
        data_mode=data,
    )
    with LazyProgress(quiet) as progress:
        on_start, on_log = training_progress(progress, f"train {system} {method}")
        checkpoint = run_training(request, on_log=on_log, on_start=on_start)
    console.print(f"trained {checkpoint} on {request.device}")


@app.command()
def sample(
    system: opt.System,
    run: opt.Run = "sl",
    n: opt.SampleN = None,
    seed: opt.SampleSeed = 0,
    context_frames: opt.ContextFrames = 1,
    batch_size: opt.BatchSize = 1024,
    steps: opt.Steps = None,
    labels: opt.Labels = "gaussian",
    output: opt.Output = None,
    checkpoint: opt.Checkpoint = "last",
    data_dir: opt.DataDir = None,
    device: opt.Device = "auto",
    overwrite: opt.SampleOverwrite = False,
    quiet: opt.Quiet = False,
    threads: opt.Threads = None,
) -> None:
    """Roll out a trained surrogate into DATA/<system>/runs/<run>/samples.h5.

    One network call per frame, or K for the multi-step methods (--steps). The file has the
    simulator's schema, so every slsim tool and xarray reads it.
    """
    request = SampleRequest(
        system=system,
        run=run,
        n=n,
        seed=seed,
        context_frames=context_frames,
        batch_size=batch_size,
        steps=steps,
        labels=labels,
        output=output,
        checkpoint=checkpoint,
        data_dir=data_dir,
        device=select_device(device),
        overwrite=overwrite,
        threads=threads,
    )
    with LazyProgress(quiet) as progress:
        on_start, on_batch = sampling_progress(progress, f"sample {system} {run}")
        written, count = sample_run(request, on_start=on_start, on_batch=on_batch)
    console.print(f"wrote {written} ({count} trajectories)")


@app.command()
def compare(
    files: opt.Files = None,
    system: opt.CompareSystem = None,
    qoi: opt.Qoi = "all",
    param: opt.Param = None,
    bootstrap: opt.Bootstrap = 100,
    neighbours: opt.Neighbours = 32,
    out: opt.Out = None,
    data_dir: opt.DataDir = None,
    plots: opt.Plots = True,
    threads: opt.Threads = None,
) -> None:
    """Score surrogate ensembles against the held-out simulator ensemble.

    Every distance is reported with a bootstrap 95 % interval beside its noise floor: the same
    distance between two independent simulator ensembles of the same size. A nearest-neighbour
    check compares generated trajectories with the training set (ratio ≈ 1: new samples,
    ≪ 1: memorised).
    """
    request = CompareRequest(
        files=tuple(files or ()),
        system=system,
        qoi=qoi,
        params=tuple(param or ()),
        bootstrap=bootstrap,
        neighbours=neighbours,
        out=out,
        data_dir=data_dir,
        plots=plots,
        threads=threads,
    )
    compare_report(request, show=console.print)


@app.command()
def info(file: opt.File, deep: opt.Deep = False) -> None:
    """Shape, configuration and provenance of an ensemble file, and a one-line schema verdict."""
    ok, line = verdict(file, deep=deep)
    if ok:
        table = Table(title=str(file), show_header=False)
        for key, value in describe(file):
            table.add_row(key, value)
        console.print(table)
    console.print(line, soft_wrap=True)
    if not ok:
        raise typer.Exit(1)


@app.command()
def demo(
    system: opt.DemoSystem = "duffing",
    data_dir: opt.DemoDataDir = Path("data/demo"),
    device: opt.Device = "auto",
    quiet: opt.Quiet = False,
    threads: opt.DemoThreads = None,
) -> None:
    """End to end on a small configuration: generate, train SL and MSE, sample, compare.

    Re-running continues where it stopped (finished steps are kept).
    """
    with LazyProgress(quiet) as progress:
        run_demo(
            system,
            data_dir,
            device=select_device(device),
            threads=threads,
            progress=progress,
            on_stage=stage_printer(quiet),
            show=console.print,
        )


benchmark_app = typer.Typer(help="Method comparisons that train, sample and score several runs.")
app.add_typer(benchmark_app, name="benchmark")


@benchmark_app.command("table1")
def table1(
    system: opt.System,
    preset: opt.Table1Preset = "fast",
    set_: opt.Set = None,
    n: opt.Table1N = 128,
    methods: opt.Methods = opt.ALL_METHODS,
    ardm_steps: opt.ArdmSteps = "5,10,20,40",
    bootstrap: opt.Bootstrap = 100,
    seeds: opt.Seeds = "0",
    tuning: opt.Tuning = None,
    data_dir: opt.DataDir = None,
    device: opt.Device = "auto",
    quiet: opt.Quiet = False,
    threads: opt.Threads = None,
    jobs: opt.Jobs = None,
) -> None:
    """Reproduce the paper's Table 1 on SYSTEM: WCT and WIM beside the noise floor, network
    calls and seconds per trajectory for every method (--methods), ARDM at several K.

    Trains each method at each of --seeds in DATA/<system>/runs/<method>[-s<seed>]/ (with
    --tuning: <winning run>[-s<seed>]; finished runs with the same settings are reused),
    samples --n trajectories from each, and writes table1.md/.csv/.json, table1_summary.json,
    table1_pareto.png (distance / floor against network calls) and the compare report to
    DATA/<system>/reports/table1/. On a CPU with several cores the runs train side by side,
    one process and one thread each (--jobs).
    """
    configure_model_threads(threads, get_system(system))
    torch_device = select_device(device)
    on_cpu = torch_device.type == "cpu"
    request = Table1Request(
        system=system,
        data_dir=data_dir,
        preset=preset,
        overrides=parse_overrides(set_ or []),
        n=n,
        device=torch_device,
        methods=tuple(m.strip() for m in methods.split(",") if m.strip()),
        ardm_steps=parse_integers("--ardm-steps", ardm_steps),
        bootstrap=bootstrap,
        seeds=parse_integers("--seeds", seeds),
        tuning=tuning,
        jobs=jobs if jobs is not None else (available_cpus() if on_cpu else 1),
        threads=choose_threads(threads, small_model=True),
    )
    with LazyProgress(quiet) as progress:
        _, out_dir = run_table1(
            request,
            on_stage=stage_printer(quiet, prefix="table1: "),
            train_callbacks=lambda m: training_progress(progress, f"train {system} {m}"),
        )
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
