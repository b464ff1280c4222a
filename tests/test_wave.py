"""Wave equation in a random medium: stencils, exact discrete solutions, convergence order,
energy conservation, CFL limit, agreement with the spectral solver, the medium, reproducibility."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from slsim.simulators import ConfigError, build_config
from slsim.simulators import wave as w
from slsim.simulators.seeding import trajectory_seeds
from slsim.simulators.stencils import (
    STENCILS,
    formal_order,
    max_stable_courant,
    stencil,
    symbol,
    taylor_coefficients,
)
from slsim.simulators.wave_medium import lognormal_filter, wavenumbers


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
        np.fft.rfft2(rng.standard_normal((24, 24))) * lognormal_filter(24, 3.0, 0.5), s=(24, 24)
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
    w._leapfrog_kernel(u0, coefs, stencil("fd4"), w._STEP_WEIGHTS, 3000, np.array([3000]), 1, out)
    growth = np.abs(out).max() / np.abs(u0).max()
    assert (growth < 10) == stable, growth


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


def test_medium_spectrum_follows_the_projected_lognormal_filter():
    """Shell energies of u + v for a divergence-free (u, v): Σ S(|k|)(k_x − k_y)²/|k|²."""
    n = 64
    config = build_config(
        w.WaveConfig, {"n_grid": n, "subsample": 1, "dt": 0.02, "t_end": 0.04, "n_frames": 2}
    )
    ky, kx = wavenumbers(n)
    k = np.hypot(ky, kx)
    weight = np.where(kx > 0, 2.0, 1.0)  # rfft stores half the plane
    k2 = np.where(k > 0, k**2, 1.0)
    expected_density = lognormal_filter(n, 1.0, 0.25) ** 2 * (kx - ky) ** 2 / k2
    shells = [(k > r - 0.5) & (k <= r + 0.5) for r in (1, 2, 3, 4)]
    expected = np.array([(weight * expected_density)[s].sum() for s in shells])
    observed = np.zeros(4)
    for seed in trajectory_seeds(9, "train", 0, 200):
        power = weight * np.abs(np.fft.rfft2(w.wave_speed(config, seed))) ** 2
        shell_energy = np.array([power[s].sum() for s in shells])
        observed += shell_energy / shell_energy.sum()
    observed /= 200
    np.testing.assert_allclose(observed, expected / expected.sum(), rtol=0.1, atol=0.01)
    assert np.argmax(observed) == 0  # the spectrum peaks in the k0 = 1 shell


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
