"""Surrogate speed on the current device, next to the simulator's time per trajectory.

Training throughput (transitions per second, after warm-up) and sampling time per trajectory
(batched rollouts of a full trajectory, network calls per trajectory) for a method and preset,
on frames of the system's real shape; the simulator's time per trajectory at its default
configuration is measured in the same run on the CPU.

    python benchmarks/surrogate.py --system wave --preset fast
    python benchmarks/surrogate.py --system wave --preset fast --method mse --samples 512
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from slsim.simulators import get_system
from slsim.simulators.seeding import trajectory_seeds
from slsim.surrogate.config import resolve_train_config
from slsim.surrogate.device import select_device
from slsim.surrogate.methods import get_method
from slsim.surrogate.normalization import Normalizer
from slsim.surrogate.sampling import rollout
from slsim.surrogate.training import Trainer, train
from slsim.surrogate.transitions import TensorFrames, TransitionSet, initial_context


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", default="wave")
    parser.add_argument("--method", default="sl")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--steps", type=int, default=200, help="timed training steps")
    parser.add_argument("--samples", type=int, default=512, help="trajectories rolled out")
    parser.add_argument(
        "--simulated", type=int, default=8, help="trajectories simulated for timing"
    )
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    device = select_device(args.device)
    spec = get_system(args.system)
    config = spec.config_type()
    coords = spec.coordinates(config)
    frames_per_trajectory = len(coords["time"].values)
    shape = spec.shapes(config, 1)[spec.state_variables[0]][2:]
    frame = (
        (len(spec.state_variables), *shape)
        if "x" in spec.variable(spec.state_variables[0]).dims
        else shape
    )
    kind = "field" if len(frame) == 3 else "vector"
    train_config = resolve_train_config(
        kind, spec.markov_window, args.method, args.preset, {}, dict(spec.training_defaults)
    )
    train_config = dataclasses.replace(
        train_config, iterations=10**9, checkpoint_every=10**9, validate_every=0
    )
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {name}; {args.system}, {args.method}, preset {args.preset}, frame {frame}")

    generator = torch.Generator().manual_seed(0)
    data_frames = torch.randn(64, frames_per_trajectory, *frame, generator=generator).to(device)
    data = TransitionSet(TensorFrames(data_frames), train_config.window)
    identity = Normalizer(np.zeros(frame[0], np.float32), np.ones(frame[0], np.float32))
    trainer = Trainer.create(train_config, data.frame_shape, device)
    params = sum(p.numel() for p in trainer.model.parameters())
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "c.pt"
        train(trainer, data, identity, checkpoint, {}, stop_at=20)  # warm-up
        synchronize(device)
        start = time.perf_counter()
        train(trainer, data, identity, checkpoint, {}, stop_at=20 + args.steps)
        synchronize(device)
        seconds = time.perf_counter() - start
    per_second = args.steps * train_config.batch_size / seconds
    print(f"network: {params / 1e6:.2f} M parameters, batch {train_config.batch_size}")
    print(f"training: {args.steps / seconds:.1f} steps/s = {per_second:.0f} transitions/s")
    preset = resolve_train_config(kind, spec.markov_window, args.method, args.preset)
    minutes = preset.iterations / (args.steps / seconds) / 60
    print(f"          the preset's {preset.iterations} iterations take ≈ {minutes:.1f} min")

    method = get_method(args.method)
    start_frames = data_frames[:1].expand(args.samples, *data_frames.shape[1:])[:, :1]
    context = initial_context(start_frames, train_config.window, 1)
    rollout(
        trainer.model,
        method,
        train_config,
        context[:8],
        2,
        torch.Generator(device=device).manual_seed(0),
    )
    synchronize(device)
    start = time.perf_counter()
    rollout(
        trainer.model,
        method,
        train_config,
        context,
        frames_per_trajectory - 1,
        torch.Generator(device=device).manual_seed(0),
        batch_size=args.samples,
    )
    synchronize(device)
    sample_seconds = (time.perf_counter() - start) / args.samples
    calls = method.calls_per_step(train_config) * (frames_per_trajectory - 1)
    milliseconds = sample_seconds * 1e3
    print(
        f"sampling: {milliseconds:.2f} ms/trajectory, {calls} network calls, batch {args.samples}"
    )

    seeds = trajectory_seeds(0, "train", 0, args.simulated)
    spec.simulate(config, seeds[:1])
    start = time.perf_counter()
    spec.simulate(config, seeds)
    simulator_seconds = (time.perf_counter() - start) / args.simulated
    threads = torch.get_num_threads()
    print(f"simulator: {simulator_seconds * 1e3:.1f} ms per trajectory (CPU, {threads} threads)")
    print(f"simulator time / surrogate sampling time: {simulator_seconds / sample_seconds:.2f}")


if __name__ == "__main__":
    main()
