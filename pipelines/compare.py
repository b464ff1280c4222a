"""Compare ensembles with the simulator on QoI distances, each beside its noise floor.

The target is the held-out simulator ensemble (``test.h5``). Each candidate (a surrogate's
``samples.h5``) is scored by the distance of its QoI distribution to the target's. The noise
floor of that score is the same distance between the target and an independent simulator
ensemble of the candidate's size — the training split, which shares no seeds with the test
split. A candidate "as good as the simulator" scores within the noise floor's spread.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from slsim.simulators.config import config_to_dict

from .ensemble import Ensemble, open_ensemble
from .errors import UserError
from .qoi import Metric, metrics_for


@dataclass
class Row:
    """One candidate's score on one metric."""

    system: str
    candidate: str
    source: str
    metric: str
    qoi: str
    value: float
    noise_floor: float
    n_candidate: int
    n_target: int
    per_time: list[float] | None = field(default=None, repr=False)
    noise_per_time: list[float] | None = field(default=None, repr=False)

    @property
    def ratio(self) -> float:
        return self.value / self.noise_floor if self.noise_floor > 0 else float("inf")


@dataclass
class Comparison:
    """All rows plus the extracted QoI values (for plots)."""

    system: str
    target: Path
    reference: Path
    time: np.ndarray
    rows: list[Row]
    values: dict[str, dict[str, np.ndarray]]  # metric -> ensemble label -> values
    components: list[str] = field(default_factory=list)  # names of vector-state components


def check_compatible(target: Ensemble, other: Ensemble) -> None:
    """Refuse to compare ensembles of different systems, grids, time axes or settings."""
    if other.spec.name != target.spec.name:
        raise UserError(
            f"{other.path} is a {other.spec.name} ensemble, {target.path} is {target.spec.name}"
        )
    if config_to_dict(other.config) != config_to_dict(target.config):
        raise UserError(
            f"{other.path} and {target.path} come from different {target.spec.name} configurations"
        )
    if other.time.shape != target.time.shape or not np.allclose(other.time, target.time):
        raise UserError(f"{other.path} and {target.path} have different time axes")


def candidate_label(ensemble: Ensemble) -> str:
    """``sl`` for ``data/duffing/runs/sl/samples.h5``; the file stem otherwise."""
    if ensemble.path.parent.parent.name == "runs":
        return ensemble.path.parent.name
    return ensemble.path.stem


def compare(
    target_path: Path, reference_path: Path, candidate_paths: list[Path], qoi: str = "all"
) -> Comparison:
    """Score every candidate against the target with the system's metrics for ``qoi``."""
    hint = "generate the simulator ensembles first with: slsim generate"
    with (
        open_ensemble(target_path, hint=hint) as target,
        open_ensemble(reference_path, hint=hint) as reference,
    ):
        check_compatible(target, reference)
        if not candidate_paths:
            raise UserError(
                f"nothing to compare: no surrogate samples found; make them with: "
                f"slsim sample {target.spec.name}"
            )
        metrics = metrics_for(target.spec.name, qoi)
        if not metrics:
            raise UserError(f"no '{qoi}' quantity of interest is defined for {target.spec.name}")
        n_target = target.n_trajectories
        target_values = {m.name: m.values(target, n_target) for m in metrics}
        rows: list[Row] = []
        values: dict[str, dict[str, np.ndarray]] = {
            m.name: {"simulator": target_values[m.name]} for m in metrics
        }
        floors: dict[tuple[str, int], tuple[float, np.ndarray | None]] = {}
        for path in candidate_paths:
            with open_ensemble(path) as candidate:
                check_compatible(target, candidate)
                n = candidate.n_trajectories
                if n > reference.n_trajectories:
                    raise UserError(
                        f"{path} has {n} trajectories; its noise floor needs as many independent "
                        f"simulator ones but {reference_path} has {reference.n_trajectories}"
                    )
                label = candidate_label(candidate)
                for metric in metrics:
                    if (metric.name, n) not in floors:
                        floors[(metric.name, n)] = metric.distance(
                            reference_values(metric, reference, n), target_values[metric.name]
                        )
                    floor, floor_t = floors[(metric.name, n)]
                    cand = metric.values(candidate, n)
                    values[metric.name][label] = cand
                    value, per_t = metric.distance(cand, target_values[metric.name])
                    rows.append(
                        Row(
                            target.spec.name,
                            label,
                            candidate.source,
                            metric.name,
                            metric.qoi,
                            value,
                            floor,
                            n,
                            n_target,
                            None if per_t is None else per_t.tolist(),
                            None if floor_t is None else floor_t.tolist(),
                        )
                    )
        time = target.time / target.time[-1]
        components = (
            [str(c) for c in target["component"].asstr()] if "component" in target.handle else []
        )
    return Comparison(
        target.spec.name, Path(target_path), Path(reference_path), time, rows, values, components
    )


def reference_values(metric: Metric, reference: Ensemble, n: int) -> np.ndarray:
    return metric.values(reference, n)


def write_tables(comparison: Comparison, out_dir: Path) -> tuple[Path, Path]:
    """``comparison.csv`` (one row per candidate and metric) and ``comparison.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out_dir / "comparison.csv", out_dir / "comparison.json"
    columns = [
        "system",
        "candidate",
        "source",
        "metric",
        "qoi",
        "value",
        "noise_floor",
        "ratio",
        "n_candidate",
        "n_target",
    ]
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in comparison.rows:
            writer.writerow(
                [
                    row.system,
                    row.candidate,
                    row.source,
                    row.metric,
                    row.qoi,
                    f"{row.value:.6g}",
                    f"{row.noise_floor:.6g}",
                    f"{row.ratio:.3g}",
                    row.n_candidate,
                    row.n_target,
                ]
            )
    payload = {
        "system": comparison.system,
        "target": str(comparison.target),
        "noise_floor_reference": str(comparison.reference),
        "time": comparison.time.tolist(),
        "rows": [{**asdict(row), "ratio": row.ratio} for row in comparison.rows],
    }
    json_path.write_text(json.dumps(payload, indent=1))
    return csv_path, json_path
