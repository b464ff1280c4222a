"""Fair tuning of the Table-1 methods on the validation split (tracker issue 13).

Every method is trained at each configuration of its search space (``SPACES``: the same number
of configurations per method, the shipped settings first) by the normal training pipeline, in
``DATA/<system>/runs/tune-<method>-<k>/``, and its final network is scored on the validation
split: rollouts from the last ``--validate-trajectories`` trajectories of train.h5, which no
training transition uses, by each QoI's distance over its noise floor (``make_validator``).
test.h5 is never opened. Per method the configuration with the lowest validation score (the
geometric mean of distance / floor, ``validation_score``) wins. The record, every run with its
configuration, distances, floors, score and wall time, and the winners, is written to
``DATA/<system>/reports/tuning/tuning.{json,csv,md}``. Running again skips finished runs (their
``tuning.json``) and resumes unfinished ones from their checkpoints.

    OMP_NUM_THREADS=1 python benchmarks/tune_methods.py duffing --data-dir /tmp/dtab --dry-run
    OMP_NUM_THREADS=1 python benchmarks/tune_methods.py duffing --data-dir /tmp/dtab
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from cpu_training import cpu_name

from slsim.pipelines import layout
from slsim.pipelines.ensemble import atomic_output
from slsim.pipelines.errors import UserError
from slsim.pipelines.threads import configure_model_threads
from slsim.pipelines.training import (
    CHECKPOINT_NAME,
    TrainRequest,
    resolve_config,
    run_training,
    validation_score,
)
from slsim.simulators import ConfigError, get_system
from slsim.simulators.config import parse_overrides
from slsim.surrogate.checkpoint import load_checkpoint
from slsim.surrogate.config import TrainConfig, defining_fields
from slsim.surrogate.device import select_device
from slsim.surrogate.methods import METHODS, get_method

#: The search spaces, by kind of state and method: ``--set`` overrides of the preset, the
#: shipped settings ({}) first, and the same number of configurations for every method. They
#: live here, not on each ``Method``, because they are this experiment's protocol (written for
#: presets with lr 1e-3 and the vector label_dim 8), read and reviewed side by side. The number
#: of sampling steps K is not tuned: more steps only cost time, and Table 1 reports that axis.
SPACES: dict[str, dict[str, tuple[dict[str, str], ...]]] = {
    "vector": {
        "sl": ({}, {"label_dim": "4"}, {"label_dim": "16"}, {"lr": "3e-4"}),
        "ardm": (
            {},
            {"ardm_standardise": "true"},
            {"ardm_standardise": "true", "ardm_grid": "edm"},
            {"predict": "frame"},
        ),
        "si": ({}, {"si_noise": "0.5"}, {"si_noise": "0.25"}, {"lr": "3e-4"}),
        "biflow": ({}, {"biflow_noise": "0.1"}, {"biflow_noise": "0.3"}, {"lr": "3e-4"}),
        "agm": ({}, {"predict": "frame"}, {"agm_noise": "0.5"}, {"lr": "3e-4"}),
        "mse": ({}, {"standardise": "true"}, {"predict": "frame"}, {"lr": "3e-4"}),
    },
    # for the field `cpu` preset (lr 1e-3, standardised increments, d = 64): the levers measured
    # for SL in docs/field-surrogates.md, and each baseline's own knobs, against the same budget
    "field": {
        "sl": ({}, {"context_noise": "0.02"}, {"window": "8"}, {"lr": "3e-4"}),
        "ardm": (
            {},
            {"ardm_standardise": "true"},
            {"ardm_standardise": "true", "ardm_grid": "edm"},
            {"lr": "3e-4"},
        ),
        "si": ({}, {"si_noise": "0.5"}, {"si_noise": "0.25"}, {"lr": "3e-4"}),
        "biflow": ({}, {"biflow_noise": "0.1"}, {"biflow_noise": "0.3"}, {"lr": "3e-4"}),
        "agm": ({}, {"agm_noise": "0.5"}, {"predict": "frame"}, {"lr": "3e-4"}),
        "mse": ({}, {"context_noise": "0.02"}, {"window": "8"}, {"lr": "3e-4"}),
    },
}
#: Configurations per method: the tuning budget, equal for every method.
BUDGET = 4
#: Each run's record, in its run directory: written when it has been trained and scored.
RECORD_NAME = "tuning.json"


def check_spaces() -> None:
    """Every space has BUDGET configurations, the shipped settings first: the same budget."""
    for kind, spaces in SPACES.items():
        for method, space in spaces.items():
            if len(space) != BUDGET or space[0] != {}:
                raise AssertionError(
                    f"SPACES[{kind}][{method}]: {BUDGET} configurations, {{}} first"
                )


@dataclass(frozen=True)
class Plan:
    """One tuning run: configuration ``index`` of ``method``'s space."""

    method: str
    index: int
    #: The configuration, as declared in SPACES.
    space: dict[str, str]
    #: Everything passed to training: common ``--set`` values, validation settings, the space.
    overrides: dict[str, str]
    config: TrainConfig
    run_dir: Path

    @property
    def name(self) -> str:
        return self.run_dir.name

    def status(self) -> str:
        """done (scored), resume (a checkpoint exists) or new."""
        if (self.run_dir / RECORD_NAME).exists():
            return "done"
        return "resume" if (self.run_dir / CHECKPOINT_NAME).exists() else "new"


def plan_runs(
    system: str,
    data_dir: Path | None,
    preset: str,
    common: dict[str, str],
    methods: Sequence[str],
    configs: int,
    validate_trajectories: int,
) -> list[Plan]:
    """The first ``configs`` configurations of each method's space, resolved; refuses a method
    without a space and two configurations that resolve to the same run."""
    spec = get_system(system)
    spaces = SPACES.get(spec.state_kind, {})
    plans = []
    for method in methods:
        if method not in spaces:
            raise UserError(f"no {spec.state_kind} search space for '{method}': add it to SPACES")
        seen: dict[str, int] = {}
        for index, space in enumerate(spaces[method][:configs]):
            overrides = {"validate_trajectories": str(validate_trajectories), **common, **space}
            config = resolve_config(spec, method, preset, overrides)
            # validate once, at the end: the score is the final network's, which Table 1 samples
            overrides.setdefault("validate_every", str(config.iterations))
            config = resolve_config(spec, method, preset, overrides)
            key = json.dumps(defining_fields(config), sort_keys=True)
            if key in seen:
                raise UserError(
                    f"{method} configurations {seen[key]} and {index} are the same run under "
                    f"preset {preset}: change SPACES"
                )
            seen[key] = index
            run_dir = layout.run_dir(system, f"tune-{method}-{index}", data_dir)
            plans.append(Plan(method, index, space, overrides, config, run_dir))
    return plans


def training_seconds(history: Sequence[dict[str, float]]) -> float:
    """Wall time of training and its validations, summed over the sessions of a resumed run (the
    history's ``seconds`` restart from 0 at each session)."""
    total, last = 0.0, 0.0
    for entry in history:
        if entry["seconds"] < last:
            total += last
        last = entry["seconds"]
    return total + last


def run_record(plan: Plan, history: Sequence[dict[str, float]]) -> dict[str, Any]:
    """The run's configuration and the scores of its final validation."""
    final = history[-1]
    if final["step"] != plan.config.iterations or not any(k.startswith("val_") for k in final):
        raise UserError(f"{plan.run_dir} has no validation of its final network")
    qois = sorted({key[4:] for key in final if key.startswith("val_") and "/" not in key})
    distances = {}
    for qoi in qois:
        distance, ratio = final[f"val_{qoi}"], final[f"val_{qoi}/floor"]
        floor = distance / ratio if 0 < ratio < math.inf else math.nan
        distances[qoi] = {"distance": distance, "floor": floor, "ratio": ratio}
    return {
        "run": plan.name,
        "method": plan.method,
        "index": plan.index,
        "space": plan.space,
        "overrides": plan.overrides,
        "iterations": plan.config.iterations,
        "calls_per_frame": get_method(plan.method).calls_per_step(plan.config),
        "validation": distances,
        "score": validation_score({f"val_{q}/floor": d["ratio"] for q, d in distances.items()}),
        "wall_s": training_seconds(history),
        "cpu": cpu_name(),
        "torch": torch.__version__,
    }


def tune(
    plan: Plan, system: str, train_file: Path, preset: str, device: torch.device
) -> dict[str, Any]:
    """Train (or resume) and score one run; a run already scored is read back untouched."""
    record_file = plan.run_dir / RECORD_NAME
    if record_file.exists():
        record = json.loads(record_file.read_text())
        if record["overrides"] != plan.overrides:
            raise UserError(f"{plan.run_dir} was tuned with other settings: move it away")
        return record
    request = TrainRequest(
        system=system,
        train_file=train_file,
        run_dir=plan.run_dir,
        method=plan.method,
        preset=preset,
        overrides=plan.overrides,
        device=device,
        reuse_finished=True,
    )
    checkpoint = run_training(request)
    record = run_record(plan, load_checkpoint(checkpoint)["history"])
    with atomic_output(record_file) as temporary:
        temporary.write_text(json.dumps(record, indent=1))
    return record


def winners(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per method, the record with the lowest validation score (the first of equals)."""
    best: dict[str, dict[str, Any]] = {}
    for record in records:
        held = best.get(record["method"])
        if held is None or record["score"] < held["score"]:
            best[record["method"]] = record
    return best


def _flags(space: dict[str, str]) -> str:
    return " ".join(f"--set {key}={value}" for key, value in space.items()) or "(shipped)"


def markdown(header: dict[str, Any], records: Sequence[dict[str, Any]]) -> str:
    """Every run (winners in bold) with its distance / floor per QoI, then the winners."""
    best = {r["run"] for r in winners(records).values()}
    qois = sorted({q for r in records for q in r["validation"]})
    head = ["run", "configuration", "score", *[f"{q} / floor" for q in qois], "wall s"]
    lines = [
        f"{header['system']}, preset {header['preset']}, {header['budget']} configurations per "
        f"method, validated on {header['validate_trajectories']} held-out training "
        f"trajectories; {header['cpu']}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in records:
        name = f"**{r['run']}**" if r["run"] in best else r["run"]
        cells = [name, _flags(r["space"]), f"{r['score']:.3g}"]
        cells += [f"{r['validation'][q]['ratio']:.3g}" for q in qois]
        lines.append("| " + " | ".join([*cells, f"{r['wall_s']:.0f}"]) + " |")
    return "\n".join(lines) + "\n"


def write_record(header: dict[str, Any], records: Sequence[dict[str, Any]], out: Path) -> None:
    """tuning.json (protocol, runs, winners), tuning.csv (one row a run) and tuning.md."""
    chosen = {m: {"run": r["run"], "space": r["space"]} for m, r in winners(records).items()}
    with atomic_output(out / "tuning.json") as temporary:
        payload = {**header, "runs": list(records), "winners": chosen}
        temporary.write_text(json.dumps(payload, indent=1))
    with atomic_output(out / "tuning.md") as temporary:
        temporary.write_text(markdown(header, records))
    qois = sorted({q for r in records for q in r["validation"]})
    measures = ("distance", "floor", "ratio")
    with atomic_output(out / "tuning.csv") as temporary, temporary.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["run", "method", "index", "configuration", "winner", "score"]
            + [f"{q}_{m}" for q in qois for m in measures]
            + ["iterations", "calls_per_frame", "wall_s", "cpu"]
        )
        for r in records:
            winner = chosen[r["method"]]["run"] == r["run"]
            writer.writerow(
                [r["run"], r["method"], r["index"], _flags(r["space"]), winner, r["score"]]
                + [r["validation"][q][m] for q in qois for m in measures]
                + [r["iterations"], r["calls_per_frame"], r["wall_s"], r["cpu"]]
            )


def print_plan(plans: Sequence[Plan]) -> None:
    """The runs, their configurations and state, and the optimiser steps still to take."""
    print(f"{'run':<16}{'status':<8}{'steps':>8}{'calls/frame':>13}  configuration")
    todo = 0
    for plan in plans:
        status = plan.status()
        calls = get_method(plan.method).calls_per_step(plan.config)
        print(
            f"{plan.name:<16}{status:<8}{plan.config.iterations:>8}{calls:>13}  "
            f"{_flags(plan.space)}"
        )
        todo += plan.config.iterations if status != "done" else 0
    print(f"{len(plans)} runs; at most {todo} optimiser steps to take (resumed runs take fewer)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("system")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--preset", default="fast")
    parser.add_argument(
        "--methods", default=",".join(METHODS), help="comma-separated (default: every method)"
    )
    parser.add_argument(
        "--configs", type=int, default=BUDGET, help="the first N configurations of every space"
    )
    parser.add_argument("--validate-trajectories", type=int, default=256)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=None, help="default DATA/<system>/reports")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, train nothing")
    args = parser.parse_args(argv)
    check_spaces()
    try:
        if not 1 <= args.configs <= BUDGET:
            raise UserError(f"--configs must be in 1…{BUDGET}, got {args.configs}")
        common = parse_overrides(args.overrides)
        methods = args.methods.split(",")
        plans = plan_runs(
            args.system,
            args.data_dir,
            args.preset,
            common,
            methods,
            args.configs,
            args.validate_trajectories,
        )
        print_plan(plans)
        if args.dry_run:
            return
        configure_model_threads(None, get_system(args.system))
        device = select_device(args.device)
        train_file = layout.split_path(args.system, "train", args.data_dir)
        records = []
        for plan in plans:
            print(f"{plan.name}: {_flags(plan.space)}", flush=True)
            record = tune(plan, args.system, train_file, args.preset, device)
            print(f"{plan.name}: score {record['score']:.3g} ({record['wall_s']:.0f} s)")
            records.append(record)
    except (UserError, ConfigError) as err:
        sys.exit(f"error: {err}")
    header = {
        "system": args.system,
        "preset": args.preset,
        "common_overrides": common,
        "budget": args.configs,
        "validate_trajectories": args.validate_trajectories,
        "spaces": {m: SPACES[get_system(args.system).state_kind][m] for m in methods},
        "cpu": cpu_name(),
    }
    out = (args.out or layout.reports_dir(args.system, args.data_dir)) / "tuning"
    write_record(header, records, out)
    for method, record in winners(records).items():
        print(f"winner {method}: {record['run']} {_flags(record['space'])}")
    print(f"wrote {out}/tuning.{{json,csv,md}}")


if __name__ == "__main__":
    main()
