"""The conditional law: does a surrogate's next state, given a state, follow the simulator's?

Distances between whole ensembles (``compare``) can hide a surrogate that gets the marginals
right for the wrong reasons. Here M held-out states are taken from the test split (frame
``frame`` of its first M trajectories); from each, the simulator is branched K times and the
surrogate sampled K times, and the two clouds are compared by sliced W2 ``horizon`` frames
ahead. The floor of each state's distance is the same distance between a second, independent
set of K simulator branches and the first. Reported per horizon: the median and the worst
state of distance, floor and distance / floor.

Only systems whose stored state is complete can be branched (``SystemSpec.branch``): Duffing's
(x, v). Wave and flow keep their random medium out of the state, so a stored frame does not
determine the law of the next one without it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.table import Table

from slsim.simulators.registry import get_system
from slsim.simulators.seeding import trajectory_seeds
from slsim.surrogate.device import select_device
from slsim.surrogate.methods import get_method
from slsim.surrogate.sampling import rollout
from slsim.surrogate.transitions import CHANNEL_AXIS, initial_context

from . import layout
from .ensemble import Ensemble
from .errors import UserError
from .sampling import load_surrogate
from .wasserstein import sliced_wasserstein2_columns, unit_directions

#: sampler(states (M, C), K, steps, seed) -> (M, K, steps + 1, C), frame 0 the given state
Sampler = Callable[[np.ndarray, int, int, int], np.ndarray]


@dataclass(frozen=True)
class ConditionalRow:
    """One candidate at one horizon: per-state sliced W2 summarised over the M states."""

    candidate: str
    horizon: int
    median_distance: float
    median_floor: float
    median_ratio: float
    worst_ratio: float
    worst_distance: float
    states: int
    branches: int


def simulator_sampler(system: str, config) -> Sampler:
    """Branches of the system's own simulator (seeds from a stream no ensemble uses)."""
    spec = get_system(system)
    if spec.branch is None:
        raise UserError(
            f"the conditional law needs a simulator that restarts from a stored state; {system} "
            "keeps its random medium out of the state (only duffing can be branched)"
        )

    def sample(states: np.ndarray, k: int, steps: int, seed: int) -> np.ndarray:
        seeds = trajectory_seeds(seed, "conditional", 0, len(states) * k)
        paths = spec.branch(config, np.repeat(states, k, axis=0), steps, seeds)
        return paths.reshape(len(states), k, steps + 1, -1)

    return sample


def surrogate_sampler(checkpoint: Path, device: torch.device) -> Sampler:
    """Rollouts of a trained surrogate whose window starts as the given state, repeated."""
    model, config, normalizer, _ = load_surrogate(checkpoint, device)
    method = get_method(config.method)

    def sample(states: np.ndarray, k: int, steps: int, seed: int) -> np.ndarray:
        start = torch.from_numpy(np.repeat(states, k, axis=0)[:, None].astype(np.float32))
        context = initial_context(
            normalizer.encode(start, CHANNEL_AXIS).to(device), config.window, 1
        )
        generator = torch.Generator(device=device).manual_seed(seed)
        generated = rollout(model, method, config, context, steps, generator)
        frames = torch.cat([start, normalizer.decode(generated.float().cpu(), CHANNEL_AXIS)], 1)
        return frames.numpy().reshape(len(states), k, steps + 1, -1)

    return sample


def held_out_states(test: Ensemble, count: int, frame: int) -> np.ndarray:
    """Frame ``frame`` of the first ``count`` test trajectories, ``(count, C)``."""
    if count > test.n_trajectories:
        raise UserError(f"--states {count} exceeds the {test.n_trajectories} test trajectories")
    if not 0 <= frame < len(test.time):
        raise UserError(f"frame {frame} is outside the {len(test.time)} stored frames")
    name = test.spec.state_variables[0]
    return np.asarray(test[name][:count, frame], dtype=np.float64)


def conditional_law(
    states: np.ndarray,
    simulator: Sampler,
    candidates: Mapping[str, Sampler],
    branches: int = 256,
    horizons: Sequence[int] = (1, 10),
    seed: int = 0,
) -> list[ConditionalRow]:
    """Per-state sliced W2 of each candidate's branches to the simulator's, beside the floor."""
    steps = max(horizons)
    first = simulator(states, branches, steps, seed)
    second = simulator(states, branches, steps, seed + 1)
    directions = unit_directions(states.shape[1], 64)

    def per_state(cloud: np.ndarray, horizon: int) -> np.ndarray:
        # (K, M, C) point clouds, one column per state
        a = np.swapaxes(cloud[:, :, horizon], 0, 1)
        b = np.swapaxes(first[:, :, horizon], 0, 1)
        return sliced_wasserstein2_columns(a, b, directions)

    floors = {h: per_state(second, h) for h in horizons}
    rows = []
    for label, sampler in candidates.items():
        cloud = sampler(states, branches, steps, seed + 2)
        for h in horizons:
            distance, floor = per_state(cloud, h), floors[h]
            ratio = distance / np.maximum(floor, 1e-12)
            worst = int(np.argmax(ratio))
            rows.append(
                ConditionalRow(
                    label,
                    h,
                    float(np.median(distance)),
                    float(np.median(floor)),
                    float(np.median(ratio)),
                    float(ratio[worst]),
                    float(distance[worst]),
                    len(states),
                    branches,
                )
            )
    return rows


def rows_as_dicts(rows: Sequence[ConditionalRow]) -> list[dict]:
    return [asdict(row) for row in rows]


#: ``-p`` parameters of ``compare --qoi conditional`` and their defaults (frame -1: the middle).
PARAMETERS = {"states": 32, "branches": 256, "frame": -1, "seed": 0}


def run_conditional(
    system: str,
    test_file: Path,
    checkpoints: Mapping[str, Path],
    out_dir: Path,
    params: Mapping[str, float],
    device: torch.device,
) -> list[ConditionalRow]:
    """``compare --qoi conditional``: every run against simulator branches; writes
    ``conditional.csv`` and ``conditional.json`` to ``out_dir``."""
    import csv
    import json

    from .ensemble import atomic_output, open_ensemble

    unknown = set(params) - set(PARAMETERS)
    if unknown:
        raise UserError(
            f"unknown conditional-law parameter {', '.join(sorted(unknown))} "
            f"(known: {', '.join(PARAMETERS)})"
        )
    settings = {**PARAMETERS, **params}
    if not checkpoints:
        raise UserError(f"no trained runs to check; train one first with: slsim train {system}")
    with open_ensemble(test_file, expected_system=system) as test:
        simulator = simulator_sampler(system, test.config)
        frame = int(settings["frame"])
        frame = len(test.time) // 2 if frame == -1 else frame
        states = held_out_states(test, int(settings["states"]), frame)
    candidates = {label: surrogate_sampler(path, device) for label, path in checkpoints.items()}
    rows = conditional_law(
        states, simulator, candidates, int(settings["branches"]), seed=int(settings["seed"])
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    records = rows_as_dicts(rows)
    with atomic_output(out_dir / "conditional.csv") as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    payload = {"system": system, "frame": frame, "parameters": settings, "rows": records}
    with atomic_output(out_dir / "conditional.json") as tmp:
        tmp.write_text(json.dumps(payload, indent=1))
    return rows


def conditional_table(system: str, rows: Sequence[ConditionalRow]) -> Table:
    """The rows as ``slsim compare --qoi conditional`` prints them."""
    table = Table(title=f"{system}: conditional law from held-out states (sliced W2 per state)")
    table.add_column("candidate", justify="left")
    for column in (
        "frames ahead",
        "median distance",
        "median floor",
        "median × floor",
        "worst × floor",
        "states × branches",
    ):
        table.add_column(column, justify="right")
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
    return table


def conditional_report(
    system: str,
    files: Sequence[Path],
    data_dir: Path | None,
    out_dir: Path,
    params: Mapping[str, float],
    show: Callable[[Any], None],
) -> list[ConditionalRow]:
    """``compare --qoi conditional``: the runs whose samples files are given, or every trained
    run, against simulator branches; ``show`` gets the table and the report line."""
    if files:
        checkpoints = {f.parent.name: f.parent / "checkpoint.pt" for f in files}
    else:
        found = sorted(layout.runs_dir(system, data_dir).glob("*/checkpoint.pt"))
        checkpoints = {path.parent.name: path for path in found}
    test_file = layout.split_path(system, "test", data_dir)
    rows = run_conditional(system, test_file, checkpoints, out_dir, params, select_device("auto"))
    show(conditional_table(system, rows))
    show(f"report: {out_dir} (conditional.csv, conditional.json)")
    return rows
