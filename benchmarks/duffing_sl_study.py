"""Seed study of the SL surrogate on Duffing (the table in docs/duffing.md).

Trains SL with slsim's own training loop on the first N training trajectories, rolls out from
2000 held-out initial states and prints the per-frame W2 of x and the crossing-time W2 for a
few seeds, beside the noise floor (two independent 2000-trajectory simulator ensembles).

    python benchmarks/duffing_sl_study.py --trajectories 100 --iterations 15000 --set label_dim=8
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from slsim.pipelines.qoi import first_crossing_time
from slsim.pipelines.wasserstein import wasserstein2
from slsim.simulators import duffing
from slsim.simulators.config import parse_overrides
from slsim.simulators.seeding import trajectory_seeds
from slsim.surrogate.config import resolve_train_config
from slsim.surrogate.methods import get_method
from slsim.surrogate.normalization import Normalizer
from slsim.surrogate.sampling import rollout
from slsim.surrogate.training import Trainer, train
from slsim.surrogate.transitions import TensorFrames, TransitionSet, initial_context


def scores(samples: np.ndarray, test: np.ndarray) -> tuple[float, float]:
    w2x = np.mean([wasserstein2(samples[:, t, 0], test[:, t, 0]) for t in range(1, test.shape[1])])
    crossing = wasserstein2(
        first_crossing_time(samples[..., 0] < 0), first_crossing_time(test[..., 0] < 0)
    )
    return float(w2x), float(crossing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=100)
    parser.add_argument("--iterations", type=int, default=15_000)
    parser.add_argument("--method", default="sl")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    config = duffing.DuffingConfig()
    train_states = duffing.simulate_states(
        config, trajectory_seeds(0, "train", 0, args.trajectories)
    )
    test = duffing.simulate_states(config, trajectory_seeds(0, "test", 0, 2000))
    reference = duffing.simulate_states(config, trajectory_seeds(0, "reference", 0, 2000))
    for label, ensemble in (("noise floor", reference), ("training set", train_states)):
        w2x, wct = scores(ensemble, test)
        print(f"{label:<16} W2x {w2x:.4f}  WCT {wct:.4f}")

    frames = train_states.astype(np.float32)
    normalizer = Normalizer.fit([frames], channel_axis=2)
    data = TransitionSet(TensorFrames(normalizer.encode(torch.from_numpy(frames), 2)), 1)
    start = normalizer.encode(torch.from_numpy(test[:, :1].astype(np.float32)), 2)
    overrides = parse_overrides(args.overrides)
    for seed in args.seeds:
        train_config = resolve_train_config(
            "vector",
            1,
            args.method,
            "fast",
            {
                **overrides,
                "iterations": str(args.iterations),
                "seed": str(seed),
                "train_trajectories": "0",
                "checkpoint_every": str(10**9),
            },
        )
        trainer = Trainer.create(train_config, data.frame_shape, torch.device("cpu"))
        begin = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            state = train(trainer, data, normalizer, Path(tmp) / "c.pt", {})
        seconds = time.perf_counter() - begin
        generated = rollout(
            trainer.model,
            get_method(args.method),
            train_config,
            initial_context(start, 1, 1),
            test.shape[1] - 1,
            torch.Generator().manual_seed(seed),
        )
        samples = np.concatenate([test[:, :1], normalizer.decode(generated, 2).numpy()], axis=1)
        w2x, wct = scores(samples, test)
        loss = state["history"][-1]["loss"]
        print(f"seed {seed}: loss {loss:.1e}  W2x {w2x:.4f}  WCT {wct:.4f}  ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
