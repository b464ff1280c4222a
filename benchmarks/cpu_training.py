"""Where a CPU training step of a field surrogate spends its time, and which speed levers pay.

One step = batch gather + forward + backward + AdamW of the ``cpu`` preset's FiLM UNet on real
frames of a generated ensemble. Prints the median of ``--steps`` timed steps (after 3 warm-up
steps) for: the breakdown of the baseline step; intra-op threads 1 and 2; channels_last;
bf16 autocast; ``torch.set_flush_denormal``; ``torch.compile``; and wider/narrower networks,
in fp32 and (the wider ones) under bf16 autocast.
Ratios are against the baseline measured in the same run (the machine may be busy: compare
ratios, not seconds).

    python benchmarks/cpu_training.py --data ~/slsim-data/w32/wave/train.h5
    python benchmarks/cpu_training.py --data ~/slsim-data/f32/flow/train.h5 --steps 20
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import platform
import statistics
import time
from pathlib import Path

import torch

from slsim.pipelines.ensemble import open_ensemble
from slsim.pipelines.training import fit_normalizer, frame_store, resolve_config
from slsim.surrogate.training import Trainer, measure_output_scale
from slsim.surrogate.transitions import TransitionSet


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def time_steps(trainer: Trainer, data: TransitionSet, steps: int, autocast, breakdown=False):
    """Median seconds per step (and per phase when ``breakdown``)."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.randn(len(data), trainer.config.label_dim, generator=generator)
    phases: dict[str, list[float]] = {"batch": [], "forward": [], "backward": [], "optimiser": []}
    totals = []
    for i in range(steps + 3):
        t0 = time.perf_counter()
        index = torch.randint(0, len(data), (trainer.config.batch_size,), generator=generator)
        context, target = data.batch(index)
        t1 = time.perf_counter()
        with autocast:
            loss = trainer.method.loss(
                trainer.model, context, target, labels[index], generator, trainer.config
            )
        t2 = time.perf_counter()
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        trainer.optimizer.step()
        t4 = time.perf_counter()
        if i >= 3:
            totals.append(t4 - t0)
            for name, value in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                phases[name].append(value)
    median = statistics.median(totals)
    if breakdown:
        return median, {name: statistics.median(v) for name, v in phases.items()}
    return median, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a generated train.h5")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    args = parser.parse_args()

    with open_ensemble(args.data) as ensemble:
        config = resolve_config(ensemble.spec, "sl", "cpu", {})
        normalizer = fit_normalizer(ensemble, 64)
        store = frame_store(ensemble, 64, normalizer, torch.device("cpu"), "memory")
    data = TransitionSet(store, config.window)
    scale = measure_output_scale(data, config)
    print(f"{cpu_name()}; torch {torch.__version__}; {args.data}")
    print(f"frames {data.frame_shape}, preset cpu: {config.channels}, batch {config.batch_size}")

    def trainer_for(**changes) -> Trainer:
        return Trainer.create(
            dataclasses.replace(config, **changes), data.frame_shape, torch.device("cpu"), scale
        )

    none = contextlib.nullcontext()
    torch.set_num_threads(1)
    base, phases = time_steps(trainer_for(), data, args.steps, none, breakdown=True)
    print(f"\nbaseline (1 thread, fp32): {base:.3f} s/step; breakdown (median s):")
    for name, value in phases.items():
        print(f"  {name:<10} {value:.4f}  ({value / base:.0%})")

    rows = [("baseline: 1 thread, fp32", base)]
    torch.set_num_threads(2)
    rows.append(("2 intra-op threads", time_steps(trainer_for(), data, args.steps, none)[0]))
    torch.set_num_threads(1)
    trainer = trainer_for()
    trainer.model = trainer.model.to(memory_format=torch.channels_last)
    rows.append(("channels_last", time_steps(trainer, data, args.steps, none)[0]))
    bf16 = torch.autocast("cpu", dtype=torch.bfloat16)
    rows.append(("bf16 autocast", time_steps(trainer_for(), data, args.steps, bf16)[0]))
    torch.set_flush_denormal(True)
    rows.append(("set_flush_denormal(True)", time_steps(trainer_for(), data, args.steps, none)[0]))
    torch.set_flush_denormal(False)
    if not args.no_compile:
        trainer = trainer_for()
        trainer.model = torch.compile(trainer.model)
        start = time.perf_counter()
        time_steps(trainer, data, 1, none)
        compiled = time_steps(trainer, data, args.steps, none)[0]
        rows.append((f"torch.compile (+{time.perf_counter() - start:.0f} s compiling)", compiled))
    for channels in ((8, 16, 32), (24, 48, 96), (32, 64, 128)):
        label = f"channels {'-'.join(map(str, channels))}"
        rows.append((label, time_steps(trainer_for(channels=channels), data, args.steps, none)[0]))
    for channels in ((24, 48, 96), (32, 64, 128)):
        label = f"channels {'-'.join(map(str, channels))} + bf16 autocast"
        rows.append((label, time_steps(trainer_for(channels=channels), data, args.steps, bf16)[0]))
    rows.append(("batch 64", time_steps(trainer_for(batch_size=64), data, args.steps, none)[0]))

    print(f"\n{'variant':<44}{'s/step':>8}{'× baseline':>12}")
    for label, seconds in rows:
        print(f"{label:<44}{seconds:>8.3f}{seconds / base:>12.2f}")


if __name__ == "__main__":
    main()
