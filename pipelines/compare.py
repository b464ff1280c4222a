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
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from slsim.simulators import SYSTEMS, ConfigError, get_system
from slsim.simulators.config import config_to_dict, parse_overrides

from . import layout
from .bootstrap import bootstrap_interval, paired_excess_interval
from .ensemble import (
    Ensemble,
    atomic_output,
    check_writable_directory,
    open_ensemble,
    require_finite,
)
from .errors import UserError
from .novelty import flatten_state, nearest_distances
from .qoi import Metric, metrics_for, qoi_names
from .threads import configure_threads


@dataclass
class Row:
    """One candidate's score on one metric, with bootstrap intervals and the QoI's parameters."""

    system: str
    candidate: str
    source: str
    metric: str
    qoi: str
    value: float
    noise_floor: float
    n_candidate: int
    n_target: int
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    floor_low: float = float("nan")
    floor_high: float = float("nan")
    #: the floor of each disjoint group of simulator trajectories (its spread; the first is
    #: ``noise_floor``)
    floor_groups: list[float] = field(default_factory=list)
    #: distance − floor with its paired-bootstrap 95 % interval
    excess: float = float("nan")
    excess_low: float = float("nan")
    excess_high: float = float("nan")
    params: dict[str, Any] = field(default_factory=dict)
    per_time: list[float] | None = field(default=None, repr=False)
    noise_per_time: list[float] | None = field(default=None, repr=False)

    @property
    def ratio(self) -> float:
        return self.value / self.noise_floor if self.noise_floor > 0 else float("inf")


@dataclass
class Novelty:
    """Nearest-training-neighbour distances of generated and of held-out simulator trajectories."""

    generated: np.ndarray
    simulator: np.ndarray

    @property
    def generated_median(self) -> float:
        return float(np.median(self.generated))

    @property
    def simulator_median(self) -> float:
        return float(np.median(self.simulator))

    @property
    def ratio(self) -> float:
        """median generated / median simulator distance: ≈ 1 new, ≪ 1 memorised."""
        return self.generated_median / self.simulator_median


@dataclass
class Comparison:
    """All rows plus the extracted QoI values, novelty checks and example frames (for plots)."""

    system: str
    target: Path
    reference: Path
    time: np.ndarray
    rows: list[Row]
    values: dict[str, dict[str, np.ndarray]]  # metric -> ensemble label -> values
    components: list[str] = field(default_factory=list)  # names of vector-state components
    novelty: dict[str, Novelty] = field(default_factory=dict)  # candidate -> check
    #: first trajectory's state field at a few frames, per ensemble label (field systems only)
    frames: dict[str, np.ndarray] = field(default_factory=dict)
    #: every frame of the first ``MOVIE_TRAJECTORIES`` trajectories, per label (for the GIF)
    movies: dict[str, np.ndarray] = field(default_factory=dict)
    frame_index: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Options:
    """How thoroughly to compare: QoI parameter overrides, bootstrap size, novelty sample."""

    qoi: str = "all"
    params: dict[str, Any] = field(default_factory=dict)
    bootstrap: int = 100
    neighbours: int = 32
    frames: int = 5
    #: disjoint groups of simulator trajectories whose floors show the floor's own spread
    floor_groups: int = 4


def check_compatible(target: Ensemble, other: Ensemble) -> None:
    """Refuse to compare ensembles of different systems, grids, time axes or units."""
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
    for name in target.spec.state_variables:
        if name not in other.handle:
            raise UserError(f"{other.path} has no '{name}' variable")
        if other.handle[name].shape[1:] != target.handle[name].shape[1:]:
            raise UserError(
                f"{other.path} and {target.path} store '{name}' on different grids: "
                f"{other.handle[name].shape[1:]} vs {target.handle[name].shape[1:]}"
            )
        units = (other.handle[name].attrs.get("units"), target.handle[name].attrs.get("units"))
        if units[0] != units[1]:
            raise UserError(
                f"'{name}' is in {units[0]} in {other.path} but {units[1]} in {target.path} "
                f"(different normalisation)"
            )


def candidate_label(ensemble: Ensemble) -> str:
    """``sl`` for ``data/duffing/runs/sl/samples.h5``, ``sl (training labels)`` for its
    ``samples-training.h5``; the file stem otherwise."""
    path = ensemble.path
    if path.parent.parent.name == "runs":
        law = path.stem.removeprefix("samples-") if path.stem.startswith("samples-") else ""
        return path.parent.name + (f" ({law} labels)" if law else "")
    return path.stem


def resolve_params(
    metrics: tuple[Metric, ...], target: Ensemble, overrides: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each metric's parameters with the overrides it knows; an override no metric has is an
    error (a typo must not silently leave the default in place)."""
    known = {key for m in metrics for key in m.params}
    unknown = set(overrides) - known
    if unknown:
        listed = ", ".join(sorted(known)) or "none"
        raise UserError(
            f"unknown QoI parameter {', '.join(sorted(unknown))} for {target.spec.name} "
            f"(known: {listed})"
        )
    try:
        return {
            m.name: m.resolve(
                target,
                target.n_trajectories,
                **{k: v for k, v in overrides.items() if k in m.params},
            )
            for m in metrics
        }
    except ValueError as err:
        raise UserError(str(err)) from None


def compare(
    target_path: Path,
    reference_path: Path,
    candidate_paths: list[Path],
    options: Options = Options(),
    expected_system: str | None = None,
) -> Comparison:
    """Score every candidate against the target with the system's metrics for ``options.qoi``.

    Every file must be of ``expected_system`` (if given) and hold only finite states: a NaN
    ensemble is refused, never scored.
    """
    hint = "generate the simulator ensembles first with: slsim generate"
    with (
        open_ensemble(target_path, hint=hint, expected_system=expected_system) as target,
        open_ensemble(reference_path, hint=hint, expected_system=expected_system) as reference,
    ):
        check_compatible(target, reference)
        require_finite(target)
        require_finite(reference)
        if not candidate_paths:
            raise UserError(
                f"nothing to compare: no surrogate samples found; make them with: "
                f"slsim sample {target.spec.name}"
            )
        metrics = metrics_for(target.spec.name, options.qoi)
        if not metrics:
            raise UserError(
                f"no '{options.qoi}' quantity of interest is defined for {target.spec.name}"
            )
        params = resolve_params(metrics, target, options.params)
        n_target = target.n_trajectories
        target_values = {m.name: m.values(target, n_target, **params[m.name]) for m in metrics}
        values = {m.name: {"simulator": target_values[m.name]} for m in metrics}
        comparison = Comparison(
            target.spec.name,
            Path(target_path),
            Path(reference_path),
            target.time / target.time[-1],
            [],
            values,
        )
        floors: dict[tuple[str, int], Floor] = {}
        queries: dict[str, np.ndarray] = {}
        variables = target.spec.state_variables
        for path in candidate_paths:
            with open_ensemble(path, expected_system=expected_system) as candidate:
                check_compatible(target, candidate)
                require_finite(candidate)
                n = candidate.n_trajectories
                if n > reference.n_trajectories:
                    raise UserError(
                        f"{path} has {n} trajectories; its noise floor needs as many independent "
                        f"simulator ones but {reference_path} has {reference.n_trajectories}"
                    )
                label = candidate_label(candidate)
                if label in values[metrics[0].name]:
                    raise UserError(f"two candidates are both called '{label}'")
                for metric in metrics:
                    own = params[metric.name]
                    if (metric.name, n) not in floors:
                        floors[(metric.name, n)] = _floor(
                            metric, reference, n, own, target_values[metric.name], options
                        )
                    floor = floors[(metric.name, n)]
                    cand = metric.values(candidate, n, **own)
                    values[metric.name][label] = cand
                    value, per_t = metric.distance(cand, target_values[metric.name])
                    ci = _interval(metric, cand, target_values[metric.name], value, options)
                    excess = paired_excess_interval(
                        lambda x, y, metric=metric: metric.distance(x, y)[0],
                        cand,
                        floor.simulated,
                        target_values[metric.name],
                        options.bootstrap,
                    )
                    comparison.rows.append(
                        Row(
                            system=target.spec.name,
                            candidate=label,
                            source=candidate.source,
                            metric=metric.name,
                            qoi=metric.qoi,
                            value=value,
                            noise_floor=floor.value,
                            n_candidate=n,
                            n_target=n_target,
                            ci_low=ci[0],
                            ci_high=ci[1],
                            floor_low=floor.interval[0],
                            floor_high=floor.interval[1],
                            floor_groups=floor.groups,
                            excess=excess[0],
                            excess_low=excess[1],
                            excess_high=excess[2],
                            params=_plain(own),
                            per_time=None if per_t is None else per_t.tolist(),
                            noise_per_time=None
                            if floor.per_time is None
                            else floor.per_time.tolist(),
                        )
                    )
                m = min(options.neighbours, n)
                if m:
                    queries[label] = flatten_state(candidate, variables, m)
                _keep_frames(comparison, label, candidate, options.frames)
        if queries:
            m = min(options.neighbours, n_target)
            queries["simulator"] = flatten_state(target, variables, m)
            nearest = nearest_distances(queries, reference, reference.n_trajectories, variables)
            comparison.novelty = {
                label: Novelty(d, nearest["simulator"])
                for label, d in nearest.items()
                if label != "simulator"
            }
        _keep_frames(comparison, "simulator", target, options.frames)
        if "component" in target.handle:
            comparison.components = [str(c) for c in target["component"].asstr()]
    return comparison


@dataclass(frozen=True)
class Floor:
    """The noise floor of one metric at one ensemble size: the first group's distance to the
    target, its bootstrap interval, per-time values, and the floors of further disjoint groups."""

    value: float
    interval: tuple[float, float]
    per_time: np.ndarray | None
    simulated: np.ndarray
    groups: list[float]


def _floor(
    metric: Metric,
    reference: Ensemble,
    n: int,
    params: dict[str, Any],
    target_values: np.ndarray,
    options: Options,
) -> Floor:
    """Floors of up to ``options.floor_groups`` disjoint groups of n reference trajectories."""
    count = max(1, min(options.floor_groups, reference.n_trajectories // n))
    everything = metric.values(reference, count * n, **params)
    groups = [everything[g * n : (g + 1) * n] for g in range(count)]
    value, per_time = metric.distance(groups[0], target_values)
    return Floor(
        value,
        _interval(metric, groups[0], target_values, value, options),
        per_time,
        groups[0],
        [value, *(metric.distance(g, target_values)[0] for g in groups[1:])],
    )


def _interval(
    metric: Metric, a: np.ndarray, b: np.ndarray, estimate: float, options: Options
) -> tuple[float, float]:
    """Bootstrap interval around ``estimate`` = the metric's distance of a to b."""
    return bootstrap_interval(
        lambda x, y: metric.distance(x, y)[0], a, b, options.bootstrap, estimate=estimate
    )


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as JSON-friendly Python numbers and strings."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}


#: Trajectories per ensemble in the side-by-side animation.
MOVIE_TRAJECTORIES = 3


def _keep_frames(comparison: Comparison, label: str, ensemble: Ensemble, count: int) -> None:
    """Store trajectory 0's first state field at ``count`` frames, for side-by-side plots."""
    name = ensemble.spec.state_variables[0]
    dataset = ensemble.handle[name]
    if count <= 0 or dataset.ndim != 4:
        return
    if not comparison.frame_index:
        spread = np.linspace(0, dataset.shape[1] - 1, count).astype(int)
        comparison.frame_index = np.unique(spread).tolist()  # short runs: each frame once
    comparison.movies[label] = dataset[:MOVIE_TRAJECTORIES]
    comparison.frames[label] = comparison.movies[label][0, comparison.frame_index]


#: The columns of ``comparison.csv``.
COLUMNS = tuple(
    "system candidate source metric qoi value ci_low ci_high noise_floor floor_low floor_high "
    "floor_min floor_max floor_groups ratio excess excess_low excess_high n_candidate n_target "
    "params".split()
)


def write_tables(comparison: Comparison, out_dir: Path) -> tuple[Path, Path]:
    """``comparison.csv`` (one row per candidate and metric) and ``comparison.json`` (rows,
    per-time distances, QoI parameters and the nearest-neighbour check), written atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out_dir / "comparison.csv", out_dir / "comparison.json"
    with atomic_output(csv_path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in comparison.rows:
            fields = {
                **asdict(row),
                "ratio": row.ratio,
                "params": json.dumps(row.params),
                "floor_min": min(row.floor_groups, default=float("nan")),
                "floor_max": max(row.floor_groups, default=float("nan")),
                "floor_groups": len(row.floor_groups),
            }
            writer.writerow(
                [f"{v:.6g}" if isinstance(v, float) else v for v in (fields[c] for c in COLUMNS)]
            )
    payload = {
        "system": comparison.system,
        "target": str(comparison.target),
        "noise_floor_reference": str(comparison.reference),
        "time": comparison.time.tolist(),
        "rows": [{**asdict(row), "ratio": row.ratio} for row in comparison.rows],
        "nearest_training_neighbour": {
            label: {
                "ratio": check.ratio,
                "generated_rms": check.generated.tolist(),
                "simulator_rms": check.simulator.tolist(),
            }
            for label, check in comparison.novelty.items()
        },
    }
    with atomic_output(json_path) as tmp:
        tmp.write_text(json.dumps(payload, indent=1))
    return csv_path, json_path


def comparison_table(comparison: Comparison) -> Table:
    """The rows of ``comparison`` as ``slsim compare`` prints them: each distance and its floor
    with intervals, their ratio, the floor's spread and the paired excess over it."""
    table = Table(
        title=f"{comparison.system}: distance to the held-out simulator ensemble (lower is better)"
    )
    for column in ("metric", "candidate"):
        table.add_column(column, justify="left")
    for column in (
        "distance [95 % CI]",
        "noise floor [95 % CI]",
        "× floor",
        "floor spread (groups)",
        "excess over floor [paired 95 % CI]",
        "n",
    ):
        table.add_column(column, justify="right")
    for row in comparison.rows:
        groups = row.floor_groups
        table.add_row(
            row.metric,
            row.candidate,
            f"{row.value:.3g} {_interval_text(row.ci_low, row.ci_high)}",
            f"{row.noise_floor:.3g} {_interval_text(row.floor_low, row.floor_high)}",
            f"{row.ratio:.2f}",
            f"{min(groups):.3g}–{max(groups):.3g} ({len(groups)})",
            f"{row.excess:+.3g} {_interval_text(row.excess_low, row.excess_high)}",
            str(row.n_candidate),
        )
    return table


def _interval_text(low: float, high: float) -> str:
    return "" if math.isnan(low) else f"[{low:.2g}, {high:.2g}]"


def comparison_notes(comparison: Comparison) -> list[str]:
    """The lines under the table: each metric's resolved parameters, and each candidate's
    nearest-training-neighbour check."""
    lines = []
    for row in {r.metric: r for r in comparison.rows}.values():
        if row.params:
            settings = (
                f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                for key, value in row.params.items()
            )
            lines.append(f"{row.metric} parameters: {', '.join(settings)}")
    for label, check in comparison.novelty.items():
        lines.append(
            f"nearest training trajectory, {label}: median RMS distance "
            f"{check.generated_median:.3g} vs {check.simulator_median:.3g} for held-out "
            f"simulator trajectories (ratio {check.ratio:.2f}; ≪ 1 would mean memorised)"
        )
    return lines


@dataclass(frozen=True, kw_only=True)
class CompareRequest:
    """``slsim compare``: score surrogate ensembles of one system against its test split."""

    #: Surrogate ensembles (empty: every DATA/<system>/runs/*/samples.h5 and samples-<law>.h5).
    files: tuple[Path, ...] = ()
    #: None: the first file's system, else the only system with sampled runs.
    system: str | None = None
    #: A QoI name, ``all``, or ``conditional`` (the law of the next states, conditional.py).
    qoi: str = "all"
    #: ``--param`` KEY=VALUE items.
    params: tuple[str, ...] = ()
    bootstrap: int = 100
    neighbours: int = 32
    #: The report directory (None: DATA/<system>/reports/compare).
    out: Path | None = None
    data_dir: Path | None = None
    plots: bool = True
    threads: int | None = None


def compare_report(request: CompareRequest, show: Callable[[Any], None]) -> Path:
    """Score the candidates of ``request``, ``show`` the table and its notes, write the CSV,
    JSON and figures, then ``show`` the report line; returns the report directory.

    Every input and the report directory are checked before minutes of computing.
    """
    if request.qoi not in (*qoi_names(), "all", "conditional"):
        raise UserError(
            f"unknown quantity of interest '{request.qoi}' (known: {', '.join(qoi_names())}, "
            "all, conditional)"
        )
    params = parse_params(request.params)
    system = request.system or infer_system(request.files, request.data_dir)
    get_system(system)
    out_dir = request.out or layout.reports_dir(system, request.data_dir) / "compare"
    check_writable_directory(out_dir)
    configure_threads(request.threads)
    if request.qoi == "conditional":
        from .conditional import conditional_report

        conditional_report(system, request.files, request.data_dir, out_dir, params, show)
        return out_dir
    candidates = list(request.files) or layout.sampled_runs(system, request.data_dir)
    comparison = compare(
        layout.split_path(system, "test", request.data_dir),
        layout.split_path(system, "train", request.data_dir),
        candidates,
        Options(request.qoi, params, request.bootstrap, request.neighbours),
        expected_system=system,
    )
    show(comparison_table(comparison))
    for line in comparison_notes(comparison):
        show(line)
    written = list(write_tables(comparison, out_dir))
    if request.plots:
        from .plots import plot_comparison

        written += plot_comparison(comparison, out_dir)
    show(f"report: {out_dir} ({', '.join(p.name for p in written)})")
    return out_dir


def parse_params(items: tuple[str, ...]) -> dict[str, float | str]:
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


def infer_system(files: tuple[Path, ...], data_dir: Path | None) -> str:
    """The system of the first file, else the only system with sampled runs."""
    if files:
        with open_ensemble(files[0]) as ensemble:
            return ensemble.spec.name
    with_runs = [name for name in SYSTEMS if layout.sampled_runs(name, data_dir)]
    if len(with_runs) == 1:
        return with_runs[0]
    found = ", ".join(with_runs) if with_runs else "none"
    raise UserError(f"pass --system (systems with sampled runs: {found})")
