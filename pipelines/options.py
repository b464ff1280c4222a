"""The options of the ``slsim`` commands: types, flags and help texts (defaults stay with the
commands in cli.py, which typer shows in ``--help``).

Help that lists systems, methods, presets, QoIs or their defaults is built here from
``SYSTEMS``, ``METHODS``, ``PRESET_NAMES`` and ``METRICS`` when the CLI is imported, so that a
system, method or QoI registered in one place appears in ``--help`` without further edits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from slsim.simulators import SYSTEMS
from slsim.surrogate.config import PRESET_NAMES
from slsim.surrogate.methods import METHODS

from .conditional import PARAMETERS as CONDITIONAL_PARAMETERS
from .qoi import METRICS, qoi_names


def _listed(items: dict[str, object], sign: str = "=") -> str:
    return ", ".join(f"{key}{sign}{value}" for key, value in items.items())


def _sizes(field: str) -> str:
    """A default size of every system, e.g. ``duffing 10000, flow 1000, wave 1024``."""
    return _listed({name: getattr(spec, field) for name, spec in SYSTEMS.items()}, " ")


SYSTEM_HELP = f"stochastic system: {', '.join(SYSTEMS)}"
METHOD_HELP = "surrogate method: " + "; ".join(f"{m} ({METHODS[m].summary})" for m in METHODS)
PRESETS = f"{', '.join(PRESET_NAMES)} (smoke: seconds on a CPU; paper: the paper's scale)"
#: The multi-step methods and their sub-steps K per frame when the config says 0.
MULTI_STEP = {name: m.default_steps for name, m in METHODS.items() if m.default_steps is not None}
STEPS_HELP = (
    f"denoising/integration steps K per frame for {', '.join(MULTI_STEP)} (network calls per "
    f"frame) [default: the trained config's, else {_listed(MULTI_STEP, ' ')}]"
)
BRANCHING = ", ".join(name for name, spec in SYSTEMS.items() if spec.branch is not None)
QOI_HELP = (
    f"{', '.join(qoi_names())}, all, or conditional ({BRANCHING}: the law of the next states "
    f"from held-out states; -p {_listed(CONDITIONAL_PARAMETERS)}; frame -1: the middle one)"
)
PARAM_HELP = (
    "QoI parameter, KEY=VALUE (repeatable), here with its default: "
    + "; ".join(
        f"{system} {_listed({k: v for m in metrics for k, v in m.params.items()})}"
        for system, metrics in METRICS.items()
        if any(m.params for m in metrics)
    )
    + " (max and auto are resolved on the test ensemble; docs/compare.md)"
)
N_TRAIN_HELP = "training trajectories [default: per system, " + _sizes("default_n_train") + "]"
N_TEST_HELP = (
    "held-out test trajectories (0: none) [default: per system, "
    + _sizes("default_n_test")
    + "; with --n, in the system's train/test proportion]"
)
VECTOR_SYSTEMS = ", ".join(name for name, spec in SYSTEMS.items() if spec.state_kind == "vector")

# --- shared ----------------------------------------------------------------------------------

System = Annotated[str, typer.Argument(help=SYSTEM_HELP, show_default=False)]
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="data root (default: $SLSIM_DATA or ./data)")
]
Set = Annotated[
    list[str] | None,
    typer.Option(
        "--set", "-s", help="override a parameter, KEY=VALUE (repeatable; see --show-config)"
    ),
]
Device = Annotated[str, typer.Option(help="torch device: auto (CUDA if present), cpu, cuda[:N]")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bars")]
Threads = Annotated[
    int | None,
    typer.Option(
        help="CPU threads for torch and numba [default: $OMP_NUM_THREADS if set, else 1 for "
        f"small vector-state networks ({VECTOR_SYSTEMS}) and every available CPU otherwise]",
        show_default=False,
    ),
]
DemoThreads = Annotated[
    int | None,
    typer.Option(
        help="CPU threads for torch and numba; field demos on ≥ 2 CPUs train SL and MSE side by "
        "side, and this is then each training process's threads [default: $OMP_NUM_THREADS if "
        "set, else 1 per training process; otherwise as for the other commands]",
        show_default=False,
    ),
]
Jobs = Annotated[
    int | None,
    typer.Option(
        help="runs trained at once on the CPU, one process each with --threads threads (1: one "
        "after the other in this process) [default: the number of CPUs on a CPU device, with 1 "
        "thread per process unless --threads or $OMP_NUM_THREADS says otherwise; 1 on a GPU]",
        show_default=False,
    ),
]
Bootstrap = Annotated[
    int, typer.Option(help="bootstrap resamples for the 95 % intervals (0: none)", min=0)
]

ShowConfig = Annotated[bool, typer.Option(help="print the resolved configuration and exit")]

# --- generate --------------------------------------------------------------------------------

GenerateN = Annotated[int | None, typer.Option("--n", help=N_TRAIN_HELP)]
NTest = Annotated[int | None, typer.Option("--n-test", help=N_TEST_HELP)]
Seed = Annotated[int, typer.Option(help="master seed; train and test use disjoint streams of it")]
ShardSize = Annotated[
    int | None,
    typer.Option(help="trajectories per shard (resume granularity) [default: per system]"),
]
Workers = Annotated[
    int, typer.Option(help="local dask worker processes (1: run shards in this process)")
]
Scheduler = Annotated[
    str | None, typer.Option(help="address of a dask.distributed scheduler, e.g. tcp://host:8786")
]
GenerateOverwrite = Annotated[
    bool, typer.Option(help="replace existing output (and discard unfinished shards)")
]

# --- train -----------------------------------------------------------------------------------

Method = Annotated[str, typer.Option(help=METHOD_HELP)]
Preset = Annotated[str, typer.Option(help=f"training preset: {PRESETS}")]
RunName = Annotated[
    str | None, typer.Option(help="run name under DATA/<system>/runs/ [default: the method]")
]
TrainOverwrite = Annotated[bool, typer.Option(help="discard an existing run of the same name")]
TrainShowConfig = Annotated[
    bool, typer.Option(help="print the resolved training configuration and exit")
]
DataMode = Annotated[
    str,
    typer.Option(
        help="where training frames live: auto (GPU or RAM when they fit, else read from HDF5 "
        "per batch), memory, or stream"
    ),
]

# --- sample ----------------------------------------------------------------------------------

Run = Annotated[str, typer.Option(help="run name under DATA/<system>/runs/")]
SampleN = Annotated[
    int | None,
    typer.Option("--n", help="trajectories to generate [default: size of the test split]"),
]
SampleSeed = Annotated[int, typer.Option(help="seed of the sampling noise (fresh labels)")]
ContextFrames = Annotated[
    int, typer.Option(help="true frames given at the start (1: only the initial state)")
]
BatchSize = Annotated[int, typer.Option(help="trajectories rolled out together")]
Steps = Annotated[int | None, typer.Option(help=STEPS_HELP, show_default=False)]
Labels = Annotated[
    str,
    typer.Option(
        help="how SL draws each step's label: gaussian (fresh N(0, I), the paper's sampler) or "
        "training (the label a random training trajectory carried at that step; "
        "docs/field-surrogates.md)"
    ),
]
Output = Annotated[
    Path | None,
    typer.Option(
        help="samples file [default: DATA/<system>/runs/<run>/samples.h5; with --labels "
        "training, samples-training.h5]"
    ),
]
Checkpoint = Annotated[
    str, typer.Option(help="last: the end of training; best: the best validation score (best.pt)")
]
SampleOverwrite = Annotated[bool, typer.Option(help="replace an existing samples file")]

# --- compare ---------------------------------------------------------------------------------

Files = Annotated[
    list[Path] | None,
    typer.Argument(
        help="surrogate ensembles to score [default: every DATA/<system>/runs/*/samples.h5 "
        "and samples-<labels>.h5]",
        show_default=False,
    ),
]
CompareSystem = Annotated[
    str | None, typer.Option(help=f"{SYSTEM_HELP} [default: the only one with runs]")
]
Qoi = Annotated[str, typer.Option(help=QOI_HELP)]
Param = Annotated[
    list[str] | None, typer.Option("--param", "-p", help=PARAM_HELP, show_default=False)
]
Neighbours = Annotated[
    int,
    typer.Option(
        help="generated trajectories checked against their nearest training trajectory (0: skip)",
        min=0,
    ),
]
Out = Annotated[
    Path | None, typer.Option(help="report directory [default: DATA/<system>/reports/compare]")
]
Plots = Annotated[bool, typer.Option(help="write PNG figures")]

# --- info, demo, benchmark -------------------------------------------------------------------

File = Annotated[Path, typer.Argument(help="an slsim HDF5 ensemble", show_default=False)]
Deep = Annotated[bool, typer.Option(help="also scan every value for NaN/inf")]
DemoSystem = Annotated[str, typer.Argument(help=SYSTEM_HELP)]
DemoDataDir = Annotated[Path, typer.Option(help="where the demo writes its files")]
Table1Preset = Annotated[str, typer.Option(help=f"training preset of every method: {PRESETS}")]
Table1N = Annotated[int, typer.Option("--n", help="trajectories sampled per method")]
#: ``--methods`` of the benchmark by default: every registered method.
ALL_METHODS = ",".join(METHODS)
Methods = Annotated[
    str, typer.Option(help="comma-separated methods (sl is required: speeds are relative)")
]
ArdmSteps = Annotated[str, typer.Option(help="comma-separated K at which ardm is sampled")]
Seeds = Annotated[
    str,
    typer.Option(
        help="comma-separated training seeds of every method; the table gives the mean and "
        "spread of each distance / floor over them"
    ),
]
Tuning = Annotated[
    Path | None,
    typer.Option(
        help="a tuning.json of benchmarks/tune_methods.py: train each method with the settings "
        "that won on the validation split (seed 0 reuses the winning run)",
        show_default=False,
    ),
]
