"""Wave solver speed and accuracy at the paper configuration (256², 2000 steps, 64 frames).

Times the Numba stencil solver (1 and all threads, a batch of media) and the NumPy/FFT spectral
solver (the official demo's method), measured in the same run, and the relative L2 error of the
stored frames against the spectral solution on the same media (per medium and over the
ensemble). ``--resolved`` also compares both with a 512² spectral solution (slow), which shows
how converged the reference itself is.

    python benchmarks/wave.py                       # 16 media for speed, 8 for accuracy
    python benchmarks/wave.py --accuracy-media 16 --resolved 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numba
import numpy as np

from slsim.simulators import build_config
from slsim.simulators.seeding import trajectory_seeds
from slsim.simulators.wave import model as w

JAX_DEMO_SECONDS = 3.3  # official JAX demo, per trajectory, 2-core CPU (issue 3 anchor)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def resolved_reference(config: w.WaveConfig, speed: np.ndarray) -> np.ndarray:
    """Spectral solution on a 2× finer grid; the band-limited medium interpolates exactly."""
    fine = build_config(
        w.WaveConfig, {"n_grid": 2 * config.n_grid, "subsample": 2 * config.subsample}
    )
    n = config.n_grid
    spectrum = np.fft.rfft2(speed)
    padded = np.zeros((2 * n, n + 1), complex)
    padded[: n // 2, : n // 2 + 1] = spectrum[: n // 2, : n // 2 + 1]
    padded[-n // 2 :, : n // 2 + 1] = spectrum[-n // 2 :, : n // 2 + 1]
    return w.simulate_spectral(fine, np.fft.irfft2(4 * padded, s=(2 * n, 2 * n)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed-media", type=int, default=16)
    parser.add_argument("--accuracy-media", type=int, default=8)
    parser.add_argument("--resolved", type=int, default=0, help="media also checked against 512²")
    args = parser.parse_args()

    config = w.WaveConfig()
    print(f"machine: {os.cpu_count()} CPUs, numba {numba.__version__}")
    print(f"solver: stencil {config.stencil}, {config.precision}")
    seeds = trajectory_seeds(0, "train", 0, max(args.speed_media, args.accuracy_media))
    speeds = np.stack([w.wave_speed(config, s) for s in seeds])
    w.solve(config, speeds[:2])  # compile outside the timing
    updates = config.n_grid**2 * config.n_steps

    rows = []
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        numba.set_num_threads(threads)
        start = time.perf_counter()
        w.solve(config, speeds[: args.speed_media])
        per = (time.perf_counter() - start) / args.speed_media
        rows.append((f"stencil solver, {threads} thread(s)", per))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)

    numba.set_num_threads(1)
    shifted = {}
    for label, u0 in (
        ("bump", w.initial_condition(config)),
        ("bump + 1", w.initial_condition(config) + 1),
    ):
        start = time.perf_counter()
        frames = w.solve(config, speeds[:4], u0=u0)
        shifted[label] = (time.perf_counter() - start) / 4
        if label == "bump":
            tiny = np.abs(frames[frames != 0]).min()
            subnormal = int(
                np.count_nonzero((frames != 0) & (np.abs(frames) < np.finfo(frames.dtype).tiny))
            )
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    print(
        f"subnormal check (1 thread, 4 media): {shifted['bump']:.3f} s with the bump, "
        f"{shifted['bump + 1']:.3f} s with bump + 1 (no tiny values, same operations): "
        f"ratio {shifted['bump'] / shifted['bump + 1']:.2f}; stored subnormals {subnormal}, "
        f"smallest nonzero |u| {tiny:.1e}"
    )

    spectral_times, spectral = [], []
    for speed in speeds[: args.accuracy_media]:
        start = time.perf_counter()
        spectral.append(w.simulate_spectral(config, speed))
        spectral_times.append(time.perf_counter() - start)
    spectral_per = statistics.median(spectral_times)
    rows.append(("NumPy/FFT spectral (demo's method, 1 thread)", spectral_per))

    print(f"\n{'solver':<46}{'s/trajectory':>14}{'Mpts/s':>10}{'1024 traj':>11}{'× spectral':>12}")
    for label, per in rows:
        rate, minutes, ratio = updates / per / 1e6, 1024 * per / 60, spectral_per / per
        print(f"{label:<46}{per:>14.3f}{rate:>10.0f}{minutes:>9.1f} m{ratio:>12.1f}")
    best = min(per for label, per in rows if label.startswith("stencil"))
    speedup = JAX_DEMO_SECONDS / best
    print(f"official JAX demo: {JAX_DEMO_SECONDS} s/trajectory -> {speedup:.0f}× faster")

    fd = w.solve(config, speeds[: args.accuracy_media]).astype(np.float64)
    spectral = np.stack(spectral)
    per_medium = [relative_error(fd[i], spectral[i]) for i in range(len(spectral))]
    print(f"\naccuracy vs spectral over {len(spectral)} media (stored 64² frames, relative L2):")
    ensemble, median = relative_error(fd, spectral), statistics.median(per_medium)
    print(f"  ensemble {ensemble:.4f}   median {median:.4f}   max {max(per_medium):.4f}")
    print("  per medium: " + " ".join(f"{e:.4f}" for e in per_medium))
    worst = np.argsort(per_medium)[::-1][: args.resolved]
    for i in worst:
        reference = resolved_reference(config, speeds[i])
        print(
            f"  medium {i}: vs 512² spectral — spectral 256² "
            f"{relative_error(spectral[i], reference):.4f}, stencil 256² "
            f"{relative_error(fd[i], reference):.4f}"
        )


if __name__ == "__main__":
    main()
