"""Time budget of benchmarks/gpu_wave.sh on one H100/H200 GPU, stage by stage, without a GPU.

What runs on the CPU (start-up, the wave solver, HDF5 reading and writing, QoIs, comparison,
plots) is MEASURED here on tiny runs with one thread and scaled to the default ensemble sizes
(1024 train + 512 test trajectories) and to ``--cores`` cores. What runs on the GPU (training
steps, rollouts) is ESTIMATED from counts of one step taken here on the CPU — FLOPs
(``torch.utils.flop_counter.FlopCounterMode``), bytes read and written by each operator, and
the number of operators — divided by assumed sustained rates: ``--peak-tflops`` ×
``--efficiency``, ``--bandwidth-tbs`` × ``--bandwidth-efficiency``, and ``--op-us`` per
operator. The three terms are added, not overlapped (the training loop synchronises every step
on ``loss.item()``), so the estimate leans high. Under a minute on one core.

    python benchmarks/gpu_wave_budget.py                       # preset fast, METHODS "sl"
    python benchmarks/gpu_wave_budget.py --methods "sl mse"    # as gpu_wave.sh OUT "sl mse"
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LIMIT_S = 600.0
#: Trajectories gpu_wave.sh samples per method (and benchmarks/surrogate.py rolls out).
SAMPLES = 512
#: NVIDIA's H100 and H200 (SXM) datasheets: BF16 Tensor Core 1,979 TFLOP/s with 2:4 sparsity,
#: half of it, 989, dense; HBM bandwidth 3.35 TB/s (H100 SXM) and 4.8 TB/s (H200).
BF16_DENSE_TFLOPS = 989.0
H100_BANDWIDTH_TBS = 3.35
#: The stand-in ensembles: the default proportions (1024 train : 512 test : 512 samples) / 128.
TINY_TRAIN, TINY_TEST = 8, 4


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast", help="training preset (gpu_wave.sh: fast)")
    parser.add_argument("--methods", default="sl", help='gpu_wave.sh\'s METHODS, e.g. "sl mse"')
    parser.add_argument("--cores", type=int, default=16, help="CPU cores of the GPU machine")
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=BF16_DENSE_TFLOPS,
        help="dense BF16 peak, TFLOP/s (NVIDIA H100/H200 SXM datasheets: 989)",
    )
    parser.add_argument(
        "--efficiency", type=float, default=0.10, help="assumed sustained fraction of that peak"
    )
    parser.add_argument(
        "--bandwidth-tbs",
        type=float,
        default=H100_BANDWIDTH_TBS,
        help="HBM bandwidth, TB/s (H100 SXM 3.35, H200 4.8)",
    )
    parser.add_argument(
        "--bandwidth-efficiency", type=float, default=0.5, help="assumed fraction of it"
    )
    parser.add_argument(
        "--op-us", type=float, default=10.0, help="assumed host + launch time per operator, µs"
    )
    parser.add_argument(
        "--cuda-init-s", type=float, default=10.0, help="assumed CUDA start-up per GPU process, s"
    )
    parser.add_argument(
        "--overlap",
        action="store_true",
        help="host time per operator overlaps device time (max instead of sum)",
    )
    return parser.parse_args()


def clock(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --- counting the network's work -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Cost:
    """Work of one unit (a training step, one rollout frame): FLOPs, bytes moved, operators."""

    flops: float
    bytes: float
    ops: float

    def __sub__(self, other: Cost) -> Cost:
        return Cost(self.flops - other.flops, self.bytes - other.bytes, self.ops - other.ops)

    def at(self, batch2: Cost, batch: int) -> Cost:
        """From this count at batch 1 and ``batch2`` at batch 2 to ``batch`` (all three are
        affine in the batch; the operator count does not depend on it)."""
        slope = batch2 - self
        return Cost(
            self.flops + (batch - 1) * slope.flops, self.bytes + (batch - 1) * slope.bytes, self.ops
        )

    def seconds(self, args: argparse.Namespace) -> float:
        """Device time (compute + memory traffic) plus host time (operators); with
        ``args.overlap`` the larger of the two instead of their sum."""
        compute = self.flops / (args.peak_tflops * 1e12 * args.efficiency)
        memory = self.bytes / (args.bandwidth_tbs * 1e12 * args.bandwidth_efficiency)
        host = self.ops * args.op_us * 1e-6
        return max(compute + memory, host) if args.overlap else compute + memory + host


def counted(fn: Callable[[], Any]) -> Cost:
    """FLOPs (FlopCounterMode), and operators that launch work with the bytes of their tensor
    inputs and outputs (views, which launch nothing, are left out)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves
    from torch.utils.flop_counter import FlopCounterMode

    class Operators(TorchDispatchMode):
        ops = 0
        bytes = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            tensors = [t for t in tree_leaves((args, kwargs, out)) if isinstance(t, torch.Tensor)]
            view = any(r.alias_info is not None for r in func._schema.returns)
            # 0-d bookkeeping (AdamW's step counters, .item()) stays on the host under CUDA
            if func.namespace == "aten" and not view and any(t.dim() for t in tensors):
                self.ops += 1
                self.bytes += sum(t.numel() * t.element_size() for t in tensors)
            return out

    with FlopCounterMode(display=False) as flops, Operators() as operators:
        fn()
    return Cost(flops.get_total_flops(), operators.bytes, operators.ops)


@dataclasses.dataclass(frozen=True)
class Network:
    step: Cost  # one training step at the preset's batch size
    frame1: Cost  # one rollout frame, batch 1
    frame2: Cost  # batch 2
    step_flops_full: float  # forward + backward at the full batch, counted on the meta device
    save_s: float  # one checkpoint written (measured)
    frame_shape: tuple[int, ...]

    def frame(self, batch: int) -> Cost:
        return self.frame1.at(self.frame2, batch)


def count_network(config: Any, frame_shape: tuple[int, ...], frames: Any) -> Network:
    """One training step and one rollout frame, counted on the CPU through the real ``train``
    and ``rollout`` under bf16 autocast (as on CUDA) and with the foreach AdamW CUDA uses, at
    batch 1 and 2 (then extrapolated to the preset's batch: the full batch takes ~10 s per step
    on one core). A step is the difference of a 2-step and a 1-step call after a warm-up step,
    which cancels each call's set-up. FLOPs of forward + backward at the full batch are counted
    once more on the meta device (shapes only), as a check of the extrapolation."""
    import numpy as np
    import torch

    from slsim.surrogate.checkpoint import save_checkpoint
    from slsim.surrogate.methods import get_method
    from slsim.surrogate.normalization import Normalizer
    from slsim.surrogate.sampling import rollout
    from slsim.surrogate.training import Trainer, build_model, train
    from slsim.surrogate.transitions import TensorFrames, TransitionSet, initial_context

    channels = frame_shape[0]
    method = get_method(config.method)
    identity = Normalizer(np.zeros(channels, np.float32), np.ones(channels, np.float32))
    data = TransitionSet(TensorFrames(frames), config.window)
    steps, rollouts = [], []
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "c.pt"
        for batch in (1, 2):
            small = dataclasses.replace(
                config,
                batch_size=batch,
                cpu_bf16=True,
                validate_every=0,
                log_every=10**9,
                checkpoint_every=10**9,
            )
            trainer = Trainer.create(small, frame_shape, torch.device("cpu"), torch.ones(channels))
            trainer.optimizer = torch.optim.AdamW(
                trainer.model.parameters(), small.lr, weight_decay=small.weight_decay, foreach=True
            )
            trainer.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                trainer.optimizer, T_max=small.iterations
            )
            train(trainer, data, identity, checkpoint, {}, stop_at=1)  # AdamW's state exists now
            one = counted(lambda t=trainer: train(t, data, identity, checkpoint, {}, stop_at=2))
            two = counted(lambda t=trainer: train(t, data, identity, checkpoint, {}, stop_at=4))
            steps.append(two - one)
            context = initial_context(frames[:batch, :1], config.window, 1)

            def run(n: int, model=trainer.model, small=small, context=context) -> None:
                rollout(model, method, small, context, n, torch.Generator().manual_seed(0))

            rollouts.append(counted(lambda run=run: run(2)) - counted(lambda run=run: run(1)))
        state = trainer.state(identity, {})
        save_s = clock(lambda: save_checkpoint(Path(tmp) / "s.pt", state))
    meta = build_model(config, frame_shape).to("meta")
    batch = config.batch_size
    target = torch.zeros(batch, *frame_shape, device="meta")
    context = torch.zeros(batch, config.window * channels, *frame_shape[1:], device="meta")
    labels = torch.zeros(batch, method.cond_dim(config), device="meta")

    def fwd_bwd() -> None:
        generator = torch.Generator().manual_seed(0)
        method.loss(meta, context, target, labels, generator, config).backward()

    try:
        full = counted(fwd_bwd).flops
    except Exception:  # a method whose training noise cannot be drawn on the meta device
        full = float("nan")
    step = steps[0].at(steps[1], batch)
    return Network(step, rollouts[0], rollouts[1], full, save_s, frame_shape)


# --- measuring the CPU stages on tiny ensembles --------------------------------------------


@dataclasses.dataclass
class Measured:
    startup_s: float = 0.0  # imports of one `python -m slsim.pipelines` command
    compile_s: float = 0.0  # Numba compilation of the wave kernel (a fresh machine has no cache)
    solver_s: float = 0.0  # wave kernel, s per trajectory on one core
    serial_s: float = 0.0  # the rest of generation per trajectory (media, HDF5, join): serial
    load_s: float = 0.0  # training data: normaliser pass + frame store, s per trajectory
    validator_s: float = 0.0  # validation set-up (floors), s per validation trajectory
    qoi_s: float = 0.0  # both wave QoIs, s per trajectory
    start_s: float = 0.0  # sampling: the start frame read, s per trajectory
    write_s: float = 0.0  # sampling: samples written (deflate), s per trajectory
    compare_s: float = 0.0  # compare() on the tiny ensembles (scaled by 128)
    tables_plots_s: float = 0.0  # CSV/JSON, figures and the GIF: independent of the sizes
    bootstrap_s: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    nearest_gflops: float = 0.0  # float64 matrix products of the nearest-neighbour check
    curve_s: float = 0.0  # one learning-curve PNG
    history_s: float = 0.0  # one history.csv of the whole run
    cpu_share: float = 1.0  # CPU time / wall time of the measurements (< 1: a busy machine)


def measure_generation(m: Measured, data_dir: Path) -> None:
    import numba
    import numpy as np

    from slsim.pipelines.generation import GenerateRequest, generate_ensembles
    from slsim.simulators import get_system
    from slsim.simulators.wave import model

    spec = get_system("wave")
    tiny = spec.config_type(**spec.tiny_config)
    model.simulate(tiny, np.array([1], np.uint64))  # load the cached kernel
    fresh = numba.njit(parallel=True, cache=False)(model._leapfrog_kernel.py_func)
    cached, model._leapfrog_kernel = model._leapfrog_kernel, fresh
    try:
        m.compile_s = clock(lambda: model.simulate(tiny, np.array([1], np.uint64)))
    finally:
        model._leapfrog_kernel = cached
    solve, spent = model.solve, [0.0]

    def timed_solve(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return solve(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    model.solve = timed_solve
    try:
        request = GenerateRequest(
            system="wave",
            n=TINY_TRAIN,
            n_test=TINY_TEST,
            data_dir=data_dir,
            shard_size=4,
            threads=1,
        )
        total = clock(lambda: generate_ensembles(request))
    finally:
        model.solve = solve
    n = TINY_TRAIN + TINY_TEST
    m.solver_s, m.serial_s = spent[0] / n, (total - spent[0]) / n


def measure_io(m: Measured, data_dir: Path, config: Any, methods: list[str]) -> None:
    import numpy as np
    import torch

    from slsim.pipelines import layout
    from slsim.pipelines.ensemble import EnsembleHeader, open_generated, write_ensemble
    from slsim.pipelines.qoi import metrics_for
    from slsim.pipelines.training import fit_normalizer, frame_store, load_frames
    from slsim.pipelines.validation import Split, make_validator
    from slsim.simulators.config import config_to_dict

    train_file = layout.split_path("wave", "train", data_dir)
    test_file = layout.split_path("wave", "test", data_dir)
    with open_generated(train_file, "wave") as ensemble:

        def load() -> None:
            normalizer = fit_normalizer(ensemble, TINY_TRAIN)
            frame_store(ensemble, TINY_TRAIN, normalizer, torch.device("cpu"), "memory")

        m.load_s = clock(load) / TINY_TRAIN
        normalizer = fit_normalizer(ensemble, TINY_TRAIN)
        one = dataclasses.replace(config, validate_trajectories=1, validate_every=1)
        split = Split(range(TINY_TRAIN - 1), range(TINY_TRAIN - 1, TINY_TRAIN))
        # 1 validation trajectory and 4 floor groups of 1: the preset's set-up / 64
        m.validator_s = clock(
            lambda: make_validator(ensemble, split, one, normalizer, torch.device("cpu"))
        )
        arrays = {"u": ensemble["u"][:TINY_TEST]}
        spec, system_config = ensemble.spec, ensemble.config
    metrics = metrics_for("wave")
    params = {mt.name: mt.resolve(arrays, TINY_TEST) for mt in metrics}
    m.qoi_s = clock(lambda: [mt.values(arrays, TINY_TEST, **params[mt.name]) for mt in metrics])
    m.qoi_s /= TINY_TEST
    with open_generated(test_file, "wave") as test:
        m.start_s = clock(lambda: load_frames(test, 0, TINY_TEST, 1)) / TINY_TEST
    for i, method in enumerate(methods):  # stand-in samples: other simulator trajectories
        header = EnsembleHeader(
            system="wave",
            config=system_config,
            source=f"surrogate:{method}",
            split="samples",
            master_seed=0,
            n_trajectories=TINY_TEST,
            extra={"train_config": config_to_dict(config)},
        )
        with open_generated(train_file, "wave") as ensemble:
            rows = np.arange(TINY_TEST) + i % 2 * TINY_TEST
            u = ensemble["u"][rows[0] : rows[-1] + 1]
        path = layout.runs_dir("wave", data_dir) / method / "samples.h5"
        path.parent.mkdir(parents=True)
        written = {"u": u, "initial_index": np.arange(TINY_TEST)}
        seconds = clock(lambda path=path, h=header, w=written: write_ensemble(path, spec, h, w))
        m.write_s = max(m.write_s, seconds / TINY_TEST)


def measure_compare(m: Measured, data_dir: Path, samples: int, n_test: int) -> None:
    """compare() on the tiny ensembles, the bootstrap at full size, the figures."""
    import numpy as np

    from slsim.pipelines import layout
    from slsim.pipelines.bootstrap import bootstrap_interval, paired_excess_interval
    from slsim.pipelines.compare import compare, write_tables
    from slsim.pipelines.plots import plot_comparison
    from slsim.pipelines.qoi import metrics_for

    candidates = sorted(layout.runs_dir("wave", data_dir).glob("*/samples.h5"))
    target = layout.split_path("wave", "test", data_dir)
    reference = layout.split_path("wave", "train", data_dir)
    result = []
    m.compare_s = clock(lambda: result.append(compare(target, reference, candidates)))
    out = data_dir / "report"
    m.tables_plots_s = clock(
        lambda: (write_tables(result[0], out), plot_comparison(result[0], out))
    )
    rng = np.random.default_rng(0)
    for metric in metrics_for("wave"):  # the bootstrap at its real size, on QoI-shaped values
        shape = np.shape(result[0].values[metric.name]["simulator"])[1:]
        a, b, c = (rng.random((size, *shape)) for size in (samples, samples, n_test))

        def distance(x, y, metric=metric) -> float:
            return metric.distance(x, y)[0]

        interval = clock(lambda d=distance, a=a, c=c: bootstrap_interval(d, a, c, 100))
        paired = clock(lambda d=distance, a=a, b=b, c=c: paired_excess_interval(d, a, b, c, 100))
        m.bootstrap_s[metric.name] = (interval, paired)
    rows = rng.random((32, 64 * 64 * 64))
    pool = rng.random((16, 64 * 64 * 64))
    m.nearest_gflops = 2 * rows.size * len(pool) / clock(lambda: rows @ pool.T) / 1e9


def measure_training_files(m: Measured, iterations: int, log_every: int, every: int) -> None:
    """One learning-curve PNG and one history.csv of the whole run (their largest sizes)."""
    from slsim.pipelines.training import write_history
    from slsim.pipelines.validation import plot_learning_curve

    steps = range(log_every, iterations + 1, log_every)
    history = [{"step": s, "loss": 1.0 / s, "lr": 1e-4, "seconds": s} for s in steps]
    scores = {"val_WCT": 1.0, "val_WCT/floor": 2.0, "val_WIM": 1.0, "val_WIM/floor": 2.0}
    for entry in history:
        if every and entry["step"] % every == 0:
            entry.update(scores)
    with tempfile.TemporaryDirectory() as tmp:
        m.curve_s = clock(lambda: plot_learning_curve(history, Path(tmp) / "c.png"))
        m.history_s = clock(lambda: write_history(history, Path(tmp) / "h.csv"))


# --- the budget ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Plan:
    """What gpu_wave.sh runs: ensemble sizes (GENERATE_ARGS) and the training configuration."""

    n_train: int
    n_test: int
    frames: int  # stored frames per trajectory; rollouts take frames − 1 network calls
    config: Any  # the preset's TrainConfig (with any extra `--set` of the train args)
    generate: bool = True  # False: the ensemble is already in $SLSIM_DATA (a later run)

    @property
    def validations(self) -> int:
        every, last = self.config.validate_every, self.config.iterations
        return len({*range(every, last + 1, every), last}) if every else 0

    @property
    def validation_trajectories(self) -> int:
        return self.config.validate_trajectories if self.validations else 0

    @property
    def checkpoints(self) -> int:
        return (self.config.iterations - 1) // self.config.checkpoint_every + 1

    @property
    def logs(self) -> int:
        return self.config.iterations // self.config.log_every


@dataclasses.dataclass
class Row:
    stage: str
    seconds: float
    basis: str = ""
    part: bool = False  # a line inside a stage


def budget(args: argparse.Namespace, m: Measured, nets: dict[str, Network], plan: Plan) -> list:
    """Rows of the table: every stage of gpu_wave.sh with its parts."""
    rows: list[Row] = []

    def stage(name: str, parts: list[Row]) -> None:
        rows.append(Row(name, sum(p.seconds for p in parts)))
        rows.extend(dataclasses.replace(p, part=True) for p in parts)

    config, calls, cores = plan.config, plan.frames - 1, args.cores
    n_all = plan.n_train + plan.n_test
    if plan.generate:
        stage(
            f"generate wave ({plan.n_train} + {plan.n_test} trajectories)",
            [
                Row("start-up, Numba compilation", m.startup_s + m.compile_s, "measured"),
                Row(
                    f"{n_all} trajectories",
                    n_all * (m.solver_s / cores + m.serial_s),
                    f"measured, solver scaled to {cores} cores",
                ),
            ],
        )
    gpu_start = Row("start-up", m.startup_s + args.cuda_init_s, "measured + assumed CUDA init")
    methods = args.methods.split()
    for method in methods:
        net, n_val = nets[method], plan.validation_trajectories
        loaded = plan.n_train - n_val
        step = net.step.seconds(args)
        stage(
            f"train {method} ({args.preset}: {config.iterations} steps, batch {config.batch_size})",
            [
                gpu_start,
                Row(
                    f"read {loaded} trajectories, validation set-up",
                    loaded * m.load_s + n_val * m.validator_s,
                    "measured",
                ),
                Row(
                    f"{config.iterations} steps × {step * 1e3:.1f} ms",
                    config.iterations * step,
                    "ESTIMATED (GPU)",
                ),
                Row(
                    f"{plan.validations} validations of {n_val} rollouts",
                    plan.validations
                    * (calls * net.frame(n_val).seconds(args) + n_val * m.qoi_s + m.curve_s),
                    "ESTIMATED (GPU) + measured",
                ),
                Row(
                    "checkpoints, history.csv",
                    (plan.checkpoints + plan.validations) * net.save_s + plan.logs * m.history_s,
                    "measured (upper bound)",
                ),
            ],
        )
        stage(
            f"sample {method} ({SAMPLES} trajectories)",
            [
                gpu_start,
                Row(
                    f"{calls} frames × batch {SAMPLES}",
                    calls * net.frame(SAMPLES).seconds(args),
                    "ESTIMATED (GPU)",
                ),
                Row(
                    "read start frames, write samples",
                    SAMPLES * (m.start_s + m.write_s),
                    "measured",
                ),
            ],
        )
    scale = plan.n_test / TINY_TEST
    bootstrap = sum(i + len(methods) * (i + p) for i, p in m.bootstrap_s.values())
    values = plan.frames * math.prod(nets["sl"].frame_shape)
    nearest = 2 * 32 * (len(methods) + 1) * plan.n_train * values / (m.nearest_gflops * 1e9)
    stage(
        "compare",
        [
            Row("start-up", m.startup_s, "measured"),
            Row(
                "read, QoIs, noise floors, nearest neighbours",
                scale * m.compare_s + nearest,
                f"measured on 1/{scale:.0f} of the ensembles, scaled",
            ),
            Row("bootstrap intervals", bootstrap, "measured at full size"),
            Row("tables, figures, GIF", m.tables_plots_s, "measured"),
        ],
    )
    sl = nets["sl"]
    stage(
        "benchmarks/surrogate.py",
        [
            gpu_start,
            Row(
                f"220 training steps, {SAMPLES} rollouts",
                220 * sl.step.seconds(args)
                + 2 * sl.frame(8).seconds(args)
                + calls * sl.frame(SAMPLES).seconds(args),
                "ESTIMATED (GPU)",
            ),
            # one warm-up trajectory, then 8 on the cores; media are made one after another
            Row("9 simulated trajectories", 2 * m.solver_s + 9 * m.serial_s, "measured"),
        ],
    )
    return rows


def total(rows: list[Row]) -> float:
    return sum(r.seconds for r in rows if not r.part)


def main() -> None:
    args = parse()
    wall, cpu = time.perf_counter(), time.process_time()
    import numba
    import torch

    from slsim.pipelines import cli  # what every `python -m slsim.pipelines` command imports

    m = Measured(startup_s=time.perf_counter() - wall)
    del cli
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    from slsim.simulators import get_system
    from slsim.surrogate.config import resolve_train_config

    spec = get_system("wave")
    wave = spec.config_type()
    side = wave.n_grid // wave.subsample
    frame_shape = (1, side, side)
    methods = args.methods.split()

    def config_for(method: str) -> Any:
        defaults = dict(spec.training_defaults)
        return resolve_train_config("field", spec.markov_window, method, args.preset, {}, defaults)

    config = config_for(methods[0])
    n_frames = len(spec.coordinates(wave)["time"].values)
    plan = Plan(spec.default_n_train, spec.default_n_test, n_frames, config)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        measure_generation(m, data_dir)
        measure_io(m, data_dir, config, methods)
        measure_compare(m, data_dir, SAMPLES, plan.n_test)
    measure_training_files(m, config.iterations, config.log_every, config.validate_every)
    frames = torch.randn(2, n_frames, *frame_shape, generator=torch.Generator().manual_seed(0))
    nets = {
        method: count_network(config_for(method), frame_shape, frames)
        for method in dict.fromkeys([*methods, "sl"])
    }
    seconds = time.perf_counter() - wall
    m.cpu_share = (time.process_time() - cpu) / seconds
    report(args, m, nets, plan, seconds)


def report(args, m: Measured, nets: dict[str, Network], plan: Plan, seconds: float) -> None:
    from cpu_training import cpu_name

    rows = budget(args, m, nets, plan)
    print(
        f'benchmarks/gpu_wave.sh budget: preset {args.preset}, METHODS "{args.methods}", '
        f"wave {plan.n_train} + {plan.n_test} trajectories of {plan.frames} frames "
        f"{'×'.join(map(str, nets['sl'].frame_shape[1:]))}, one GPU, {args.cores} CPU cores"
    )
    print(
        f"GPU, assumed: {args.peak_tflops * args.efficiency:.0f} TFLOP/s sustained "
        f"({args.efficiency:.0%} of the {args.peak_tflops:.0f} TFLOP/s dense BF16 peak in NVIDIA's "
        f"H100/H200 SXM datasheets), {args.bandwidth_tbs * args.bandwidth_efficiency:.2f} TB/s "
        f"({args.bandwidth_efficiency:.0%} of {args.bandwidth_tbs:g}), {args.op_us:g} µs per "
        f"operator ({'overlapping' if args.overlap else 'added to'} device time), "
        f"{args.cuda_init_s:g} s CUDA start-up per GPU process"
    )
    for method, net in nets.items():
        step, frame = net.step, net.frame(SAMPLES)
        check = net.step_flops_full / step.flops
        print(
            f"counted, {method}: training step {step.flops / 1e9:.0f} GFLOP (counted again at "
            f"full batch on the meta device: ×{check:.4f}), {step.bytes / 1e9:.1f} GB, "
            f"{step.ops:.0f} operators; rollout frame at batch {SAMPLES}: "
            f"{frame.flops / 1e9:.0f} GFLOP, {frame.bytes / 1e9:.1f} GB, {frame.ops:.0f} operators"
        )
    print(
        f"measured on {cpu_name()}, one thread (this process had {m.cpu_share:.0%} of a core): "
        f"solver {m.solver_s:.3f} s + {m.serial_s:.3f} s serial per trajectory, Numba "
        f"compilation {m.compile_s:.1f} s, start-up {m.startup_s:.1f} s, compare on the "
        f"1/{plan.n_test // TINY_TEST} ensembles {m.compare_s:.2f} s"
    )
    print()
    width = max(len(r.stage) for r in rows) + 4
    print(f"{'stage':<{width}} {'seconds':>8}  basis")
    for row in rows:
        name = f"  {row.stage}" if row.part else row.stage
        print(f"{name:<{width}} {row.seconds:8.1f}  {row.basis}")
    spent = total(rows)
    verdict = "fits" if spent <= LIMIT_S else f"does NOT fit: over by {spent - LIMIT_S:.0f} s"
    print(f"{'total':<{width}} {spent:8.1f}  of {LIMIT_S:.0f} s: {verdict}")
    print()

    def varied(**change: Any) -> float:
        return total(budget(argparse.Namespace(**{**vars(args), **change}), m, nets, plan))

    print(
        f"one GPU assumption at a time: 5% of peak {varied(efficiency=0.05):.0f} s, 20% "
        f"{varied(efficiency=0.2):.0f} s; 5 µs per operator {varied(op_us=5.0):.0f} s, 20 µs "
        f"{varied(op_us=20.0):.0f} s; host time "
        f"{'added' if args.overlap else 'overlapping'} {varied(overlap=not args.overlap):.0f} s"
    )
    optimistic = varied(efficiency=0.2, op_us=5.0, overlap=True)
    pessimistic = varied(efficiency=0.05, op_us=20.0, overlap=False)
    print(
        f"all optimistic (20%, 5 µs, overlapping): {optimistic:.0f} s; all pessimistic (5%, "
        f"20 µs, added): {pessimistic:.0f} s"
    )
    cpu = sum(
        r.seconds for r in rows if r.part and r.basis.startswith("measured") and "+" not in r.basis
    )
    print(
        f"the measured rows ({cpu:.0f} s) are wall time on a shared core; on an idle one of this "
        f"speed they would take ~{cpu * m.cpu_share:.0f} s"
    )
    levers(args, m, nets, plan, spent)
    print(f"(measured and counted in {seconds:.0f} s)")


def levers(args, m: Measured, nets: dict[str, Network], plan: Plan, spent: float) -> None:
    """Ways to fit the limit without touching the presets, each with the total it gives."""
    if spent <= LIMIT_S:
        print(f"headroom: {LIMIT_S - spent:.0f} s")
        return

    def with_iterations(plan: Plan, n: int) -> Plan:
        return dataclasses.replace(plan, config=dataclasses.replace(plan.config, iterations=n))

    def fitting(plan: Plan) -> int:
        step = 1000
        n = plan.config.iterations - step
        while n > 0 and total(budget(args, m, nets, with_iterations(plan, n))) > LIMIT_S:
            n -= step
        return n

    small = dataclasses.replace(plan, n_train=SAMPLES, n_test=SAMPLES)
    print(
        f'lever GENERATE_ARGS="--n {SAMPLES} --n-test {SAMPLES}" (the least compare accepts: as '
        f"many training trajectories as samples): total "
        f"{total(budget(args, m, nets, small)):.0f} s"
    )
    n = fitting(plan)
    if n > 0:
        print(
            f"lever extra train args `--set iterations={n}`: total "
            f"{total(budget(args, m, nets, with_iterations(plan, n))):.0f} s "
            f"(a shortened run, not the {args.preset} preset: label its results so)"
        )
    methods = args.methods.split()
    if len(methods) > 1:
        runs = [
            total(
                budget(
                    argparse.Namespace(**{**vars(args), "methods": method}),
                    m,
                    nets,
                    dataclasses.replace(plan, generate=i == 0),
                )
            )
            for i, method in enumerate(methods)
        ]
        print(
            "lever one method per gpu_wave.sh run (later runs find the ensemble in $SLSIM_DATA "
            f"and skip generation): {', '.join(f'{s:.0f} s' for s in runs)}"
        )


if __name__ == "__main__":
    main()
