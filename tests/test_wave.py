"""Wave equation in a random medium: stencils, exact discrete solutions, convergence order,
energy conservation, CFL limit, agreement with the spectral solver, the medium, reproducibility."""

from __future__ import annotations

import math
from pathlib import Path

import numba
import numpy as np
import pytest

from slsim.simulators import ConfigError, build_config
from slsim.simulators.seeding import trajectory_seeds
from slsim.simulators.wave import model as w
from slsim.simulators.wave.medium import (
    component_sum,
    lognormal_density,
    speed_from_noise,
    wavenumbers,
)
from slsim.simulators.wave.stencils import (
    STENCILS,
    formal_order,
    max_stable_courant,
    stencil,
    symbol,
    taylor_coefficients,
)


def small(**overrides) -> w.WaveConfig:
    base = {
        "n_grid": 32,
        "subsample": 1,
        "dt": 0.02,
        "t_end": 1.0,
        "n_frames": 2,
        "bump_sharpness": 4.0,
        "precision": "float64",
    }
    return build_config(w.WaveConfig, {**base, **overrides})


def per_mode_leapfrog(
    config: w.WaveConfig, u0: np.ndarray, c: float, steps, eigen: np.ndarray
) -> np.ndarray:
    """Leapfrog with the given Laplacian eigenvalues, solved mode by mode in closed form.

    With u¹ = u⁰ − ½λu⁰ and u^{n+1} = (2 − λ)uⁿ − u^{n−1}, each mode is u⁰ cos(nθ),
    cos θ = 1 − λ/2, λ = (c dt)² · eigenvalue of −Δ.
    """
    theta = np.arccos(1 - (c * config.dt) ** 2 * eigen / 2)
    spectrum = np.fft.rfft2(u0)
    return np.array([np.fft.irfft2(spectrum * np.cos(n * theta), s=u0.shape) for n in steps])


def fd_eigenvalues(config: w.WaveConfig) -> np.ndarray:
    ky, kx = wavenumbers(config.n_grid)
    a = stencil(config.stencil)
    return (symbol(a, kx * config.h) + symbol(a, ky * config.h)) / config.h**2


def test_taylor_coefficients_are_the_textbook_ones():
    np.testing.assert_allclose(taylor_coefficients(2), [-2, 1])
    np.testing.assert_allclose(taylor_coefficients(4), [-5 / 2, 4 / 3, -1 / 12])
    np.testing.assert_allclose(
        taylor_coefficients(8), [-205 / 72, 8 / 5, -1 / 5, 8 / 315, -1 / 560]
    )


@pytest.mark.parametrize("name", STENCILS)
def test_every_stencil_is_consistent_and_negative_definite(name):
    a = stencil(name)
    m = np.arange(1, a.size)
    assert a[0] == pytest.approx(-2 * a[1:].sum())
    assert (a[1:] * m**2).sum() == pytest.approx(1.0)  # second-order consistency
    theta = np.linspace(1e-3, math.pi, 2000)
    assert symbol(a, theta).min() > 0  # −Δ_h positive: leapfrog has a finite CFL limit


def test_drp13_is_accurate_far_into_the_wavenumber_band():
    theta = np.linspace(0.01, 0.8 * math.pi, 500)
    relative = np.abs(symbol(stencil("drp13"), theta) / theta**2 - 1)
    same_width_taylor = np.abs(symbol(stencil("fd12"), theta) / theta**2 - 1)
    assert relative.max() < 1e-2
    assert relative.max() < same_width_taylor.max() / 5


@pytest.mark.parametrize("name", ["fd2", "fd8", "drp13"])
def test_constant_medium_matches_the_exact_discrete_solution_to_round_off(name):
    config = small(stencil=name, n_grid=24)
    rng = np.random.default_rng(0)
    u0 = np.fft.irfft2(
        np.fft.rfft2(rng.standard_normal((24, 24))) * np.sqrt(lognormal_density(24, 3.0, 0.5)),
        s=(24, 24),
    )
    steps = np.array([0, 1, 17, 50])
    fd = w.solve(config, np.full((1, 24, 24), 0.7), u0=u0, steps_out=steps, subsample=1)[0]
    exact = per_mode_leapfrog(config, u0, 0.7, steps, fd_eigenvalues(config))
    assert np.abs(fd - exact).max() < 1e-12 * np.abs(u0).max()


@pytest.mark.parametrize("name", ["fd2", "fd4", "fd6", "fd8", "drp13"])
def test_stencil_converges_at_its_formal_order(name):
    """Same dt on every grid, compared with spectral leapfrog: only the spatial error remains."""
    errors = []
    grids = (48, 64, 96)
    for n in grids:
        config = small(stencil=name, n_grid=n)
        u0 = w.initial_condition(config)
        ky, kx = wavenumbers(n)
        steps = np.array([0, 50])
        fd = w.solve(config, np.ones((1, n, n)), steps_out=steps, subsample=1)[0, -1]
        reference = per_mode_leapfrog(config, u0, 1.0, steps, kx**2 + ky**2)[-1]
        errors.append(np.linalg.norm(fd - reference) / np.linalg.norm(reference))
    observed = math.log(errors[-2] / errors[-1]) / math.log(grids[-1] / grids[-2])
    assert formal_order(name) - 1.0 < observed < formal_order(name) + 0.5, errors


def test_weighted_discrete_energy_is_conserved_to_round_off():
    """E^{n+½} = ½Σ(1/c²)((u^{n+1}−uⁿ)/dt)² + ½Σ u^{n+1}(−Δ_h uⁿ) is exact for leapfrog."""
    config = small(n_grid=48, dt=0.01, t_end=6.0, c_min=0.3, bump_sharpness=10.0)
    speed = w.wave_speed(config, 7)
    steps = np.array([0, 1, 300, 301, 599, 600])
    u = w.solve(config, speed[None], steps_out=steps, subsample=1)[0]
    a = stencil(config.stencil)

    def minus_laplacian(v):
        out = -2 * a[0] * v
        for m in range(1, a.size):
            out -= a[m] * (
                np.roll(v, m, 0) + np.roll(v, -m, 0) + np.roll(v, m, 1) + np.roll(v, -m, 1)
            )
        return out / config.h**2

    energies = [
        0.5 * np.sum(((u[k + 1] - u[k]) / config.dt) ** 2 / speed**2)
        + 0.5 * np.sum(u[k + 1] * minus_laplacian(u[k]))
        for k in (0, 2, 4)
    ]
    assert energies[0] > 0
    np.testing.assert_allclose(energies[1:], energies[0], rtol=1e-11)


@pytest.mark.parametrize(("factor", "stable"), [(0.97, True), (1.03, False)])
def test_cfl_limit_separates_bounded_from_exploding_runs(factor, stable):
    config = small(n_grid=24, stencil="fd4")
    limit = max_stable_courant(stencil("fd4"))
    dt = factor * limit * config.h  # c = 1
    rng = np.random.default_rng(1)
    u0 = rng.standard_normal((24, 24))  # excites every mode, the Nyquist one included
    coefs = np.full((1, 24, 24), (dt / config.h) ** 2)
    out = np.empty((1, 1, 24, 24))
    weights, steps = w._STEP_WEIGHTS, np.array([3000])
    w._leapfrog_kernel(u0, coefs, stencil("fd4"), weights, w.TINY, 3000, steps, 1, out)
    growth = np.abs(out).max() / np.abs(u0).max()
    assert (growth < 10) == stable, growth


def test_too_large_dt_reports_the_courant_limit_not_a_frame_count():
    with pytest.raises(ConfigError, match=r"Courant number c_max·dt/h = 40\.744"):
        build_config(w.WaveConfig, {"dt": 1.0})


def test_unstable_configuration_is_refused_with_the_limit_in_the_message():
    with pytest.raises(
        ConfigError, match=r"unstable: Courant number .* exceeds the drp13 leapfrog limit"
    ):
        build_config(w.WaveConfig, {"dt": 0.02})
    with pytest.raises(ConfigError, match="must divide"):
        build_config(w.WaveConfig, {"dt": 3e-3})
    with pytest.raises(ConfigError, match="unknown stencil"):
        build_config(w.WaveConfig, {"stencil": "fd3"})


def test_agrees_with_the_spectral_solver_on_random_media():
    """Small version of the paper setup (128², T = 4); the full-size bar is in the benchmark."""
    config = build_config(
        w.WaveConfig,
        {"n_grid": 128, "subsample": 2, "t_end": 4.0, "n_frames": 32, "bump_sharpness": 15.0},
    )
    seeds = trajectory_seeds(3, "train", 0, 3)
    fd = w.simulate(config, seeds)["u"]
    spectral = np.stack([w.simulate_spectral(config, w.wave_speed(config, s)) for s in seeds])
    assert np.linalg.norm(fd - spectral) / np.linalg.norm(spectral) < 1e-2


def test_medium_is_scaled_periodic_and_regenerates_from_its_seed():
    config = w.WaveConfig()
    seeds = trajectory_seeds(0, "train", 0, 2)
    stored = w.simulate(build_config(w.WaveConfig, {"t_end": 0.04, "n_frames": 2}), seeds)[
        "wave_speed"
    ]
    full = w.wave_speed(config, seeds[1])
    assert full.min() == pytest.approx(0.0, abs=1e-12) and full.max() == pytest.approx(1.0)
    np.testing.assert_array_equal(stored[1], full[::4, ::4].astype(np.float32))
    # periodic: a finite Fourier series, so the wrap-around jump is as small as any other step
    assert np.abs(full[0] - full[-1]).max() < 2 * np.abs(np.diff(full, axis=0)).max()


GOLDEN = Path(__file__).parent / "data" / "wave_medium_jaxcfd.npz"


@pytest.mark.parametrize("case", ["32_1", "64_1", "32_3"])
def test_medium_reproduces_jax_cfd_filtered_velocity_field_on_identical_noise(case):
    """Noise in, field out, computed once with jax-cfd 0.2.1 (benchmarks/wave_medium_vs_jaxcfd.py):
    filtered_velocity_field(key, grid n² on [0, 2π]², maximum velocity 1, peak k0), components
    summed and min–max scaled, as the SL demo does. Float32 round-off is the only difference."""
    golden = np.load(GOLDEN)
    peak = float(case.split("_")[1])
    for noise, official in zip(golden[f"noise_{case}"], golden[f"field_{case}"], strict=True):
        field = speed_from_noise(noise, peak, 0.25, True, 0.0, 1.0)
        assert np.abs(field - official).max() < 1e-5


def shells(n: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """rfft weights (conjugate pairs counted twice) and the masks of the |k| = 1..4 shells."""
    k_0, k_1 = wavenumbers(n)
    weight = np.where((k_1 > 0) & (k_1 < n // 2), 2.0, 1.0)
    k = np.rint(np.hypot(k_0, k_1))
    return weight, [k == r for r in (1, 2, 3, 4)]


def test_medium_spectrum_is_the_squared_density_times_the_projection_factor():
    """Mean power of u_0 + u_1 per shell: n² Σ S(|k|)² (k_0 − k_1)²/|k|², within Monte-Carlo error.

    S enters squared because jax-cfd multiplies the noise's transform by S itself (not √S);
    the factor (k_0 − k_1)²/|k|² is what the divergence-free projection leaves of u_0 + u_1.
    """
    n, count = 64, 400
    k_0, k_1 = wavenumbers(n)
    k2 = np.maximum(k_0**2 + k_1**2, 1.0)
    weight, masks = shells(n)
    expected_power = n**2 * lognormal_density(n, 1.0, 0.25) ** 2 * (k_0 - k_1) ** 2 / k2
    expected = np.array([(weight * expected_power)[m].sum() for m in masks])
    rng = np.random.default_rng(3)
    observed = np.empty((count, 4))
    for i in range(count):
        total = component_sum(rng.standard_normal((2, n, n)), 1.0, 0.25, True)
        power = weight * np.abs(np.fft.rfft2(total)) ** 2
        observed[i] = [power[m].sum() for m in masks]
    mean, error = observed.mean(axis=0), observed.std(axis=0, ddof=1) / np.sqrt(count)
    # 2 %: the staggered projection's factor differs from the continuous one by ≤ 1.1 % here
    assert np.all(np.abs(mean - expected) < 4 * error + 0.02 * expected), (mean, expected, error)


def test_medium_ensemble_matches_the_official_per_field_std():
    """The official media (jax-cfd, 256 fields at 256², k0 = 1) have per-field std
    0.2445 ± 0.0011 (an independent measurement; 0.2439 ± 0.0022 over 64 fields in
    benchmarks/wave_medium_vs_jaxcfd.py). The √S filter this replaced gave 0.213."""
    config = w.WaveConfig()
    stds = np.array([w.wave_speed(config, s).std() for s in trajectory_seeds(5, "train", 0, 128)])
    error = np.hypot(stds.std(ddof=1) / np.sqrt(len(stds)), 0.0011)
    assert abs(stds.mean() - 0.2445) < 4 * error, (stds.mean(), error)
    assert np.all(stds > 0.1) and np.all(stds < 0.4)


def test_output_is_bit_identical_for_threads_and_batches():
    config = build_config(w.WaveConfig, {"n_grid": 64, "subsample": 2, "t_end": 0.4, "n_frames": 5})
    seeds = trajectory_seeds(4, "train", 0, 5)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = w.simulate(config, seeds)["u"]
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = w.simulate(config, seeds)["u"]
    finally:
        numba.set_num_threads(before)
    split = np.concatenate([w.simulate(config, seeds[:2])["u"], w.simulate(config, seeds[2:])["u"]])
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, split)


def test_frames_follow_the_paper_time_grid():
    config = w.WaveConfig()
    steps = w.frame_steps(config)
    assert steps[0] == 0 and steps[-1] == 2000 and len(steps) == 64
    np.testing.assert_array_equal(steps, np.linspace(0, 2000, 64).astype(int))
    np.testing.assert_allclose(w.coordinates(config)["time"].values, steps * 4e-3)
    assert len(w.coordinates(config)["x"].values) == 64
