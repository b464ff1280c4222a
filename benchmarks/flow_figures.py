"""Pictures of the default two-phase flow ensemble for docs/flow.md.

* docs/img/flow_fields.png — four trajectories: ln K, saturation at three times, pressure;
* docs/img/flow_breakthrough.png — breakthrough times (producer-cell saturation first above
  0.1) and water produced over an ensemble, with their spread.

    python benchmarks/flow_figures.py              # 200 trajectories, ~1 minute on 2 cores
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from slsim.simulators import build_config
from slsim.simulators.flow import FlowConfig, simulate
from slsim.simulators.seeding import trajectory_seeds

IMAGES = Path(__file__).resolve().parent.parent / "docs" / "img"
THRESHOLD = 0.1


def fields_figure(config: FlowConfig, out: dict[str, np.ndarray], path: Path) -> None:
    times = np.linspace(0, config.t_end, config.n_frames)
    frames = [10, 25, 50]
    rows = ["ln K", *(f"s at {times[k]:.2f} PVI" for k in frames), "p at 0.35 PVI"]
    fig, axes = plt.subplots(len(rows), 4, figsize=(9.5, 12), constrained_layout=True)
    extent = (0, 1, 0, 1)  # row 0 is the top: y = 1
    log_k_range = np.abs(out["log_permeability"][:4]).max()
    pressure_max = out["pressure"][:4, 25].max()
    for col in range(4):
        panels = [
            (out["log_permeability"][col], "viridis", (-log_k_range, log_k_range)),
            *((out["saturation"][col, k], "Blues", (0, 1)) for k in frames),
            (out["pressure"][col, 25], "magma", (0, pressure_max)),
        ]
        for row, (image, cmap, (vmin, vmax)) in enumerate(panels):
            ax = axes[row, col]
            shown = ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, extent=extent)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(rows[row])
            if col == 3:
                fig.colorbar(shown, ax=ax, shrink=0.8)
    axes[0, 0].annotate("injector", (0.02, 0.95), color="white", fontsize=8)
    axes[0, 0].annotate("producer", (0.6, 0.02), color="white", fontsize=8)
    fig.suptitle("Default flow ensemble: four trajectories (x right, y up, injector top-left)")
    fig.savefig(path, dpi=80)
    plt.close(fig)


def breakthrough_figure(config: FlowConfig, out: dict[str, np.ndarray], path: Path) -> np.ndarray:
    times = np.linspace(0, config.t_end, config.n_frames)
    producer = out["saturation"][:, :, -1, -1]
    hit = producer > config.s_wc + THRESHOLD
    breakthrough = np.where(hit.any(axis=1), times[np.argmax(hit, axis=1)], np.nan)
    water = out["saturation"].mean(axis=(2, 3)) - config.s_wc
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    reached = breakthrough[np.isfinite(breakthrough)]
    left.hist(reached, bins=np.arange(0, config.t_end + 0.014, 0.014), color="tab:blue")
    left.set_xlabel("breakthrough time (PVI)")
    left.set_ylabel("trajectories")
    left.set_title(
        f"producer s > {THRESHOLD}: mean {reached.mean():.3f}, sd {reached.std():.3f}, "
        f"none by {config.t_end}: {np.isnan(breakthrough).sum()}",
        fontsize=9,
    )
    lo, mid, hi = np.percentile(water, [5, 50, 95], axis=0)
    right.fill_between(times, lo, hi, alpha=0.3, label="5–95 %")
    right.plot(times, mid, label="median")
    right.plot(times, times, "k--", lw=0.8, label="injected (no production)")
    right.set_xlabel("PVI")
    right.set_ylabel("mean water saturation above s_wc")
    right.legend()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return breakthrough


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="trajectories")
    args = parser.parse_args()
    config = build_config(FlowConfig)
    out = simulate(config, trajectory_seeds(0, "train", 0, args.n))
    IMAGES.mkdir(parents=True, exist_ok=True)
    fields_figure(config, out, IMAGES / "flow_fields.png")
    breakthrough = breakthrough_figure(config, out, IMAGES / "flow_breakthrough.png")
    print(f"breakthrough: mean {np.nanmean(breakthrough):.3f}, sd {np.nanstd(breakthrough):.3f}, "
          f"range {np.nanmin(breakthrough):.3f}–{np.nanmax(breakthrough):.3f}, "
          f"none: {np.isnan(breakthrough).sum()} of {args.n}")  # fmt: skip
    print(f"ln K: mean {out['log_permeability'].mean():.3f}, "
          f"sd {out['log_permeability'].std():.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
