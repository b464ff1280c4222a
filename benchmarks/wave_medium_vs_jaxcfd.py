"""slsim's wave media against jax-cfd's ``filtered_velocity_field`` (the SL demo's generator).

Needs jax and jax-cfd, which are not slsim dependencies (use a separate environment):

    python -m venv ~/jaxenv && ~/jaxenv/bin/pip install jax jax-cfd && ~/jaxenv/bin/pip install -e .
    ~/jaxenv/bin/python benchmarks/wave_medium_vs_jaxcfd.py              # 256 media at 256²
    ~/jaxenv/bin/python benchmarks/wave_medium_vs_jaxcfd.py \
        --write-golden tests/data/wave_medium_jaxcfd.npz

1. Identical noise: for each key, the two white-noise slabs jax-cfd draws (``split`` into two
   keys, ``normal`` on the grid) are fed to ``slsim.simulators.wave.medium.speed_from_noise``;
   the official field is built exactly as the demo does (``filtered_velocity_field`` with
   maximum velocity 1, components summed, min–max scaled). Prints the max |difference|.
2. Ensembles: the official media (jax keys) beside slsim's own media (``wave_speed`` from
   trajectory seeds): per-field std, power in the |k| = 1..4 shells (normalised per field by
   the field's variance) and the share of variance in the k_0·k_1 < 0 quadrants, each as
   mean ± standard error over media.
"""

from __future__ import annotations

import argparse
import math

import jax
import jax_cfd
import jax_cfd.base as cfd
import numpy as np

from slsim.simulators.seeding import trajectory_seeds
from slsim.simulators.wave import model as w
from slsim.simulators.wave.medium import speed_from_noise, wavenumbers

LOG_VARIANCE = 0.25  # jax-cfd's fixed log-variance of the spectrum


def official_medium(key: jax.Array, n: int, peak: float) -> np.ndarray:
    """The SL demo's ``get_speed_field``: jax-cfd velocity, components summed, min–max."""
    grid = cfd.grids.Grid((n, n), domain=((0, 2 * math.pi), (0, 2 * math.pi)))
    v = cfd.initial_conditions.filtered_velocity_field(key, grid, 1, peak)
    total = v[0].data + v[1].data
    return np.asarray((total - total.min()) / (total.max() - total.min()))


def jaxcfd_noise(key: jax.Array, n: int) -> np.ndarray:
    """The two white-noise slabs ``filtered_velocity_field`` draws from ``key``."""
    return np.stack([np.asarray(jax.random.normal(k, (n, n))) for k in jax.random.split(key, 2)])


def statistics(fields: np.ndarray) -> dict[str, tuple[float, float]]:
    """Per-field std, shell powers |k| = 1..4 and anisotropy: (mean, standard error)."""
    n = fields.shape[-1]
    k_0, k_1 = wavenumbers(n)
    k = np.rint(np.hypot(k_0, k_1))
    weight = np.where(k_1 == 0, 1.0, 2.0)  # rfft stores half of the conjugate pairs
    weight[:, -1] = np.where(n % 2 == 0, 1.0, 2.0)
    centred = fields - fields.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.rfft2(centred)) ** 2 * weight
    total = power.sum(axis=(1, 2))
    values = {"std": fields.std(axis=(1, 2))}
    for shell in (1, 2, 3, 4):
        values[f"shell {shell}"] = power[:, k == shell].sum(axis=1) / total
    values["k0·k1 < 0 share"] = power[:, k_0 * k_1 < 0].sum(axis=1) / total
    return {
        name: (float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))))
        for name, v in values.items()
    }


def write_golden(path: str) -> None:
    """Small noise-in/field-out cases for the jax-free test."""
    cases = {}
    for n, peak, count in ((32, 1.0, 4), (64, 1.0, 2), (32, 3.0, 2)):
        keys = jax.random.split(jax.random.PRNGKey(n + int(peak)), count)
        cases[f"noise_{n}_{peak:g}"] = np.stack([jaxcfd_noise(key, n) for key in keys])
        cases[f"field_{n}_{peak:g}"] = np.stack([official_medium(key, n, peak) for key in keys])
    np.savez_compressed(path, jax_cfd_version=jax_cfd.__version__, **cases)
    print(f"wrote {path}: {', '.join(cases)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=int, default=256)
    parser.add_argument("--grid", type=int, default=256)
    parser.add_argument("--peak", type=float, default=1.0)
    parser.add_argument("--write-golden", metavar="PATH")
    args = parser.parse_args()
    if args.write_golden:
        write_golden(args.write_golden)
        return

    n, peak = args.grid, args.peak
    print(
        f"jax {jax.__version__}, jax-cfd {jax_cfd.__version__}; "
        f"{args.media} media, {n}², k0 = {peak}"
    )
    keys = jax.random.split(jax.random.PRNGKey(1), args.media)  # the demo's default key
    official = np.stack([official_medium(key, n, peak) for key in keys])
    same_noise = np.stack(
        [speed_from_noise(jaxcfd_noise(key, n), peak, LOG_VARIANCE, True, 0.0, 1.0) for key in keys]
    )
    difference = np.abs(official - same_noise).max(axis=(1, 2))
    print(
        f"identical noise: max |official − slsim| = {difference.max():.2e} "
        f"(median over media {np.median(difference):.2e})"
    )

    config = w.WaveConfig(n_grid=n, peak_wavenumber=peak)
    seeds = trajectory_seeds(0, "train", 0, args.media)
    own = np.stack([w.wave_speed(config, s) for s in seeds])
    print(f"\n{'statistic':<18} {'official (jax keys)':>22} {'slsim (own seeds)':>22}")
    for (name, a), b in zip(statistics(official).items(), statistics(own).values(), strict=True):
        print(f"{name:<18} {a[0]:>13.4f} ± {a[1]:.4f} {b[0]:>13.4f} ± {b[1]:.4f}")


if __name__ == "__main__":
    main()
