"""The conditional law (``compare --qoi conditional``) of Table 1's networks: each tuning winner
at each training seed, named ``<method>-s<seed>``, against simulator branches from held-out
states. Writes conditional.csv|json to ``--out`` and prints the table.

    OMP_NUM_THREADS=1 python benchmarks/conditional_table1.py --data-dir ~/slsim-data/d \\
        --tuning ~/slsim-data/d/duffing/reports/tuning/tuning.json --seeds 0 1 2 --out OUT
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from slsim.pipelines import layout
from slsim.pipelines.conditional import conditional_table, run_conditional
from slsim.surrogate.device import select_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", default="duffing")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--tuning", type=Path, required=True, help="tuning.json of tune_methods")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    winners = json.loads(args.tuning.read_text())["winners"]
    checkpoints = {}
    for method, winner in winners.items():
        for seed in args.seeds:
            name = winner["run"] if seed == 0 else f"{winner['run']}-s{seed}"
            run = layout.run_dir(args.system, name, args.data_dir)
            checkpoints[f"{method}-s{seed}"] = run / "checkpoint.pt"
    test_file = layout.split_path(args.system, "test", args.data_dir)
    rows = run_conditional(args.system, test_file, checkpoints, args.out, {}, select_device("auto"))
    Console(width=160).print(conditional_table(args.system, rows))


if __name__ == "__main__":
    main()
