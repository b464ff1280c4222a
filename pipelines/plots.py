"""PNG figures of a comparison: QoI histograms, distances against time, marginals."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from .compare import Comparison

_SIM_STYLE = {"color": "black", "linewidth": 2.0}


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
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


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
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


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
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


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
    return written
