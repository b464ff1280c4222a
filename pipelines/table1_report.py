"""Table 1's report: one row per method (ARDM per K) with its distances over the noise floor,
their mean and spread over training seeds, network calls and sampling time; and the figure of
accuracy against network calls per trajectory, the picture of SL's claim (one call per frame
at the accuracy of K-call samplers)."""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from .compare import Comparison
from .ensemble import atomic_output
from .plots import plot_pareto


@dataclass
class Result:
    """Speed and distances of one entry (a method, ARDM at one K) trained with one seed."""

    label: str
    method: str
    steps: int | None
    seed: int
    network_calls: int
    seconds_per_trajectory: float
    #: metric -> value, ci_low, ci_high, noise_floor, excess, excess_low, excess_high
    distances: dict[str, dict[str, float]]
    speedup_of_sl: float = float("nan")  # this entry's time / SL's time (same seed)


@dataclass
class Summary:
    """One entry over its training seeds: distance / floor per seed, their mean and spread, and
    how many seeds are clearly above the floor (paired excess interval above 0)."""

    label: str
    network_calls: int
    seconds_per_trajectory: float  # median over seeds
    speedup_of_sl: float  # median over seeds
    seeds: list[int]
    ratios: dict[str, list[float]]  # metric -> distance / floor per seed
    above_floor: dict[str, int]  # metric -> seeds whose excess interval lies above 0

    def mean(self, metric: str) -> float:
        return statistics.fmean(self.ratios[metric])

    def spread(self, metric: str) -> float:
        """Sample standard deviation over seeds (0 for one seed)."""
        values = self.ratios[metric]
        return statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(results: Sequence[Result]) -> list[Summary]:
    """Group the per-seed results by entry, in the order of their first appearance."""
    groups: dict[str, list[Result]] = {}
    for result in results:
        groups.setdefault(result.label, []).append(result)
    summaries = []
    for label, group in groups.items():
        metrics = list(group[0].distances)
        summaries.append(
            Summary(
                label=label,
                network_calls=group[0].network_calls,
                seconds_per_trajectory=statistics.median(r.seconds_per_trajectory for r in group),
                speedup_of_sl=statistics.median(r.speedup_of_sl for r in group),
                seeds=[r.seed for r in group],
                ratios={m: [_ratio(r.distances[m]) for r in group] for m in metrics},
                above_floor={m: sum(_above(r.distances[m]) for r in group) for m in metrics},
            )
        )
    return summaries


def _above(distance: dict[str, float]) -> bool:
    """Whether the paired 95 % interval of distance − floor lies above 0."""
    return bool(distance["excess_low"] > 0)


def _ratio(distance: dict[str, float]) -> float:
    floor = distance["noise_floor"]
    return distance["value"] / floor if floor > 0 else float("inf")


def _floor_note(comparison: Comparison, metrics: Sequence[str]) -> str:
    """Each metric's floor with its bootstrap interval and its spread over disjoint groups."""
    floors = {row.metric: row for row in comparison.rows}
    parts = []
    for m in metrics:
        row = floors[m]
        part = f"{m} {row.noise_floor:.3g} [{row.floor_low:.2g}, {row.floor_high:.2g}]"
        if len(row.floor_groups) > 1:
            part += (
                f", {min(row.floor_groups):.3g}–{max(row.floor_groups):.3g} over "
                f"{len(row.floor_groups)} disjoint simulator groups"
            )
        parts.append(part)
    return ", ".join(parts)


def markdown(
    results: Sequence[Result], summaries: Sequence[Summary], comparison: Comparison
) -> str:
    """One seed: distances with intervals. Several: distance / floor as mean ± sd (per seed)
    and how many seeds' paired excess over the floor is clearly above 0."""
    metrics = list(results[0].distances)
    head = ["method", "network calls / traj", "s / traj", "× SL time"]
    several = len(summaries[0].seeds) > 1
    if several:
        head += [f"{m} / floor: mean ± sd (per seed); seeds above floor" for m in metrics]
    else:
        head += [f"{m} [95 % CI]" for m in metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        cells = [s.label, str(s.network_calls), f"{s.seconds_per_trajectory:.3g}"]
        cells.append(f"{s.speedup_of_sl:.1f}")
        for m in metrics:
            if several:
                per_seed = ", ".join(f"{r:.2f}" for r in s.ratios[m])
                cells.append(
                    f"{s.mean(m):.2f} ± {s.spread(m):.2f} ({per_seed}); "
                    f"{s.above_floor[m]}/{len(s.seeds)}"
                )
            else:
                d = next(r for r in results if r.label == s.label).distances[m]
                cells.append(f"{d['value']:.3g} [{d['ci_low']:.2g}, {d['ci_high']:.2g}]")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Noise floor (two independent simulator ensembles of this size): "
        f"{_floor_note(comparison, metrics)}.",
    ]
    if several:
        seeds = ", ".join(str(seed) for seed in summaries[0].seeds)
        lines.append(
            f"Training seeds {seeds}; a seed is above the floor when the paired-bootstrap 95 % "
            "interval of its distance − floor excludes 0 (comparison.csv has every interval)."
        )
    return "\n".join(lines) + "\n"


def write_report(results: Sequence[Result], comparison: Comparison, out_dir: Path) -> None:
    """table1.md (the table), table1.csv and table1.json (one row per entry and seed),
    table1_summary.json (per entry over seeds) and table1_pareto.png, all written atomically."""
    summaries = summarise(results)
    with atomic_output(out_dir / "table1.md") as tmp:
        tmp.write_text(markdown(results, summaries, comparison))
    with atomic_output(out_dir / "table1.json") as tmp:
        tmp.write_text(json.dumps([asdict(r) for r in results], indent=1))
    with atomic_output(out_dir / "table1_summary.json") as tmp:
        tmp.write_text(json.dumps([asdict(s) for s in summaries], indent=1))
    metrics = sorted({m for r in results for m in r.distances})
    keys = ("value", "ci_low", "ci_high", "noise_floor", "excess", "excess_low", "excess_high")
    with atomic_output(out_dir / "table1.csv") as tmp, tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["label", "method", "steps", "seed", "network_calls", "seconds_per_trajectory"]
            + ["x_sl_time"]
            + [f"{m}_{k}" for m in metrics for k in keys]
        )
        for r in results:
            speed = [f"{r.seconds_per_trajectory:.6g}", f"{r.speedup_of_sl:.4g}"]
            distances = [f"{r.distances[m][k]:.6g}" for m in metrics for k in keys]
            row = [r.label, r.method, r.steps or "", r.seed, r.network_calls]
            writer.writerow(row + speed + distances)
    floors = {row.metric: row.floor_groups for row in comparison.rows}
    plot_pareto(
        [(s.label, s.network_calls, s.ratios) for s in summaries],
        {m: [g / floors[m][0] for g in floors[m]] if floors[m][0] > 0 else [] for m in metrics},
        out_dir / "table1_pareto.png",
    )
