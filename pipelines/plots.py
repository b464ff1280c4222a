"""PNG figures of a comparison: QoI histograms, distances against time, marginals, frames side by
side and the nearest-training-neighbour check."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from .compare import Comparison
from .ensemble import atomic_output

_SIM_STYLE = {"color": "black", "linewidth": 2.0}


def _save(fig: plt.Figure, out: Path, tight: bool = True, dpi: int = 120) -> Path:
    """Write ``fig`` to ``out`` and free it."""
    if tight:
        fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def _histogram(ax, samples: dict[str, np.ndarray], bins: np.ndarray) -> None:
    for label, values in samples.items():
        style = _SIM_STYLE if label == "simulator" else {}
        ax.hist(values, bins=bins, density=True, histtype="step", label=label, **style)


def plot_scalar(comparison: Comparison, metric: str, out: Path) -> Path:
    samples = comparison.values[metric]
    lo = min(float(np.min(v)) for v in samples.values())
    hi = max(float(np.max(v)) for v in samples.values())
    fig, ax = plt.subplots(figsize=(6, 4))
    _histogram(ax, samples, np.linspace(lo, hi if hi > lo else lo + 1, 41))
    row = next(r for r in comparison.rows if r.metric == metric)
    ax.set(
        xlabel=f"{row.qoi} (normalised time)",
        ylabel="density",
        title=f"{comparison.system}: {row.qoi}",
    )
    ax.legend()
    return _save(fig, out)


def plot_per_time(comparison: Comparison, metric: str, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    rows = [r for r in comparison.rows if r.metric == metric and r.per_time is not None]
    for row in rows:
        ax.plot(comparison.time[1:], row.per_time[1:], label=row.candidate)
    if rows:
        ax.plot(comparison.time[1:], rows[0].noise_per_time[1:], label="noise floor", **_SIM_STYLE)
    ax.set(
        xlabel="normalised time",
        ylabel=f"{metric} distance",
        yscale="log",
        title=f"{comparison.system}: {metric} against time",
    )
    ax.legend()
    return _save(fig, out)


def plot_marginals(
    comparison: Comparison, metric: str, out: Path, component: int = 0, n_times: int = 4
) -> Path:
    """Histograms of one state component at a few times, simulator against each candidate."""
    samples = comparison.values[metric]
    n_frames = next(iter(samples.values())).shape[1]
    frames = np.linspace(n_frames // n_times, n_frames - 1, n_times).astype(int)
    fig, axes = plt.subplots(1, n_times, figsize=(3.2 * n_times, 3.2), sharey=True)
    for ax, frame in zip(axes, frames, strict=True):
        values = {label: v[:, frame, component] for label, v in samples.items()}
        lo = min(float(v.min()) for v in values.values())
        hi = max(float(v.max()) for v in values.values())
        _histogram(ax, values, np.linspace(lo, hi if hi > lo else lo + 1, 41))
        name = (
            comparison.components[component] if comparison.components else f"component {component}"
        )
        ax.set(title=f"t = {comparison.time[frame]:.2f}", xlabel=name)
    axes[0].set_ylabel("density")
    axes[-1].legend(fontsize="small")
    return _save(fig, out)


def plot_frames(comparison: Comparison, out: Path) -> Path:
    """Trajectory 0 of the simulator and of each candidate at a few frames, one row each, on
    one colour scale (all start from the same initial condition)."""
    labels = ["simulator", *(k for k in comparison.frames if k != "simulator")]
    stacked = np.stack([comparison.frames[k] for k in labels])
    lo, hi = float(np.percentile(stacked, 0.5)), float(np.percentile(stacked, 99.5))
    rows, cols = stacked.shape[:2]
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
    for r, label in enumerate(labels):
        for c, frame in enumerate(comparison.frame_index):
            ax = axes[r, c]
            image = ax.imshow(stacked[r, c], vmin=lo, vmax=hi, cmap="viridis")
            ax.set(xticks=[], yticks=[])
            if r == 0:
                ax.set_title(f"t = {comparison.time[frame]:.2f}")
        axes[r, 0].set_ylabel(label)
    fig.colorbar(image, ax=axes, shrink=0.8)
    fig.suptitle(f"{comparison.system}: generated and simulated trajectories side by side")
    return _save(fig, out, tight=False, dpi=100)


def animate_rollouts(comparison: Comparison, out: Path, fps: int = 8) -> Path:
    """A GIF of whole rollouts, one row per ensemble (simulator first), one column per
    trajectory, all on one colour scale: the simulator's and the surrogates' trajectories are
    independent draws, so what to compare is how they look and move, not pixel by pixel."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    labels = ["simulator", *(k for k in comparison.movies if k != "simulator")]
    movies = [np.asarray(comparison.movies[k]) for k in labels]
    steps = min(m.shape[1] for m in movies)
    cols = min(m.shape[0] for m in movies)
    stacked = np.concatenate([m[:cols, :steps].ravel() for m in movies])
    lo, hi = float(np.percentile(stacked, 0.5)), float(np.percentile(stacked, 99.5))
    fig, axes = plt.subplots(
        len(labels), cols, figsize=(1.9 * cols, 1.9 * len(labels)), squeeze=False
    )
    images = []
    for r, (label, movie) in enumerate(zip(labels, movies, strict=True)):
        for c in range(cols):
            ax = axes[r, c]
            images.append(ax.imshow(movie[c, 0], vmin=lo, vmax=hi, cmap="viridis"))
            ax.set(xticks=[], yticks=[])
        axes[r, 0].set_ylabel(label)
    title = fig.suptitle("")

    def draw(t: int):
        for i, image in enumerate(images):
            image.set_data(movies[i // cols][i % cols, t])
        title.set_text(f"{comparison.system}: t = {comparison.time[t]:.2f}")
        return [*images, title]

    animation = FuncAnimation(fig, draw, frames=steps, blit=False)
    try:
        with atomic_output(out, suffix=".gif") as temporary:  # Pillow reads the format from it
            animation.save(temporary, writer=PillowWriter(fps=fps), dpi=72)
    finally:
        plt.close(fig)
    return out


def plot_novelty(comparison: Comparison, out: Path) -> Path:
    """Distances to the nearest training trajectory: generated against held-out simulated."""
    checks = comparison.novelty
    first = next(iter(checks.values()))
    samples = {"simulator (held out)": first.simulator} | {
        k: v.generated for k, v in checks.items()
    }
    hi = max(float(v.max()) for v in samples.values())
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, values in samples.items():
        style = _SIM_STYLE if label.startswith("simulator") else {}
        ax.hist(values, bins=np.linspace(0, hi * 1.05, 31), histtype="step", label=label, **style)
    ax.set(
        xlabel="RMS distance to the nearest training trajectory",
        ylabel="trajectories",
        title=f"{comparison.system}: new samples or memorised? (near 0 = copies)",
    )
    ax.legend()
    return _save(fig, out)


def plot_pareto(
    entries: list[tuple[str, int, dict[str, list[float]]]],
    floor_spread: dict[str, list[float]],
    out: Path,
) -> Path:
    """Accuracy against cost: each entry's distance / noise floor (mean over training seeds, bars
    from the lowest to the highest seed) against its network calls per trajectory, one panel per
    metric; the floor's own spread over disjoint simulator groups is the grey band around 1.

    ``entries``: (label, network calls per trajectory, metric -> ratio per seed); entries of one
    method at several K (``ardm-5``, ``ardm-10``…) are joined by a line.
    """
    metrics = list(entries[0][2])
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    methods = list(dict.fromkeys(label.split("-")[0] for label, _, _ in entries))
    colour = {method: palette[i % len(palette)] for i, method in enumerate(methods)}
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        spread = floor_spread.get(metric) or [1.0]
        ax.axhspan(min(spread), max(spread), color="0.85", label="floor spread")
        ax.axhline(1.0, color="black", linewidth=1.0)
        lines: dict[str, list[tuple[int, float]]] = {}
        for label, calls, ratios in entries:
            values = np.asarray(ratios[metric])
            mean = float(values.mean())
            bars = [[mean - values.min()], [values.max() - mean]]
            method = label.split("-")[0]
            ax.errorbar(calls, mean, yerr=bars, fmt="o", capsize=3, color=colour[method])
            ax.annotate(label, (calls, mean), textcoords="offset points", xytext=(5, 4))
            lines.setdefault(method, []).append((calls, mean))
        for method, points in lines.items():
            if len(points) > 1:
                x, y = zip(*sorted(points), strict=True)
                ax.plot(x, y, color=colour[method], linewidth=1.0)
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="network calls per trajectory",
            ylabel="distance / noise floor",
            title=metric,
        )
        ax.legend(loc="upper right")
    return _save(fig, out)


def plot_comparison(comparison: Comparison, out_dir: Path) -> list[Path]:
    """Every figure that fits the metrics in ``comparison``; returns the written files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for metric, samples in comparison.values.items():
        ndim = next(iter(samples.values())).ndim
        slug = metric.lower()
        if ndim == 1:
            written.append(plot_scalar(comparison, metric, out_dir / f"{slug}_hist.png"))
        else:
            written.append(plot_per_time(comparison, metric, out_dir / f"{slug}_vs_time.png"))
        if ndim == 3:
            written.append(plot_marginals(comparison, metric, out_dir / f"{slug}_marginals.png"))
    if len(comparison.frames) > 1:
        written.append(plot_frames(comparison, out_dir / "frames.png"))
        written.append(animate_rollouts(comparison, out_dir / "rollouts.gif"))
    if comparison.novelty:
        written.append(plot_novelty(comparison, out_dir / "nearest_neighbour.png"))
    return written
