"""Score finished field-surrogate runs on the test split and summarise them over training seeds.

For each run: ``--n`` rollouts from held-out starts (``samples.h5`` in the run, kept if it exists
with the same size; with ``--labels training`` SL's labels are replayed from its training labels
and the rollouts go to ``samples-training.h5``), then one ``compare`` of all runs against
``test.h5`` (noise floor from disjoint groups of the training file's simulator trajectories,
bootstrap intervals, paired excess over the floor). Runs named ``<group>-s<seed>`` are grouped,
and each group's distance / floor is reported as mean ± standard deviation over its seeds beside
the floor's own spread. The table is printed as Markdown and written, with the full
comparison, to ``--out``.

    python benchmarks/field_recipe.py --system wave --data-dir ~/slsim-data/w32 \\
        --runs sl-s0 sl-s1 sl-s2 mse-s0 --n 512 --out docs/results/wave-cpu
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from slsim.pipelines import layout
from slsim.pipelines.compare import Options, compare, write_tables
from slsim.pipelines.ensemble import open_ensemble
from slsim.pipelines.plots import plot_comparison
from slsim.pipelines.sampling import run_sampling
from slsim.surrogate.labels import LABEL_LAWS


def ensure_samples(system: str, data_dir: Path, run: str, n: int, labels: str) -> Path:
    run_dir = layout.run_dir(system, run, data_dir)
    samples = run_dir / layout.samples_name(labels)
    if samples.exists():
        with open_ensemble(samples) as existing:
            law = existing.handle.attrs.get("labels", "gaussian")
            if existing.n_trajectories == n and law == labels:
                return samples
    run_sampling(
        run_dir / "checkpoint.pt",
        layout.split_path(system, "test", data_dir),
        samples,
        n,
        seed=0,
        device=torch.device("cpu"),
        overwrite=True,
        system=system,
        labels=labels,
    )
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--runs", nargs="+", required=True)
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--bootstrap", type=int, default=100)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--labels", choices=LABEL_LAWS, default="gaussian", help="SL's per-step label law"
    )
    args = parser.parse_args()

    torch.set_num_threads(1)
    paths = [
        ensure_samples(args.system, args.data_dir, run, args.n, args.labels) for run in args.runs
    ]
    comparison = compare(
        layout.split_path(args.system, "test", args.data_dir),
        layout.split_path(args.system, "train", args.data_dir),
        paths,
        Options(bootstrap=args.bootstrap),
        expected_system=args.system,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    write_tables(comparison, args.out)
    plot_comparison(comparison, args.out)

    groups: dict[tuple[str, str], list] = defaultdict(list)
    for row in comparison.rows:
        group = re.sub(r"-s\d+(?= \(|$)", "", row.candidate)  # sl-s1 (training labels)
        groups[(group, row.metric)].append(row)
    lines = [
        "| runs | metric | distance / floor (mean ± sd over seeds) | per seed | floor | "
        "floor range over groups | distance − floor [paired 95 % CI] per seed |",
        "|---|---|---|---|---|---|---|",
    ]
    summary = {}
    for (group, metric), rows in sorted(groups.items()):
        ratios = np.array([r.ratio for r in rows])
        spread = f"{ratios.std(ddof=1):.2f}" if len(rows) > 1 else "–"
        floor = rows[0]
        excess = "; ".join(
            f"{r.excess:+.2g} [{r.excess_low:+.2g}, {r.excess_high:+.2g}]" for r in rows
        )
        lines.append(
            f"| {group} ({len(rows)}) | {metric} | **{ratios.mean():.2f}** ± {spread} | "
            f"{', '.join(f'{x:.2f}' for x in ratios)} | {floor.noise_floor:.3g} | "
            f"{min(floor.floor_groups):.3g}–{max(floor.floor_groups):.3g} | {excess} |"
        )
        summary[f"{group}/{metric}"] = {"ratios": ratios.tolist(), "floor": floor.noise_floor}
    table = "\n".join(lines)
    print(table)
    (args.out / "summary.md").write_text(table + "\n")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
