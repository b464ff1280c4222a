"""Duffing SDE: exact stationary law, weak order 2 of BAOAB, reproducibility."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy import stats

from slsim.simulators import ConfigError, build_config
from slsim.simulators.counter_rng import normal_pair, split_key, ziggurat_normals
from slsim.simulators.duffing import model as d
from slsim.simulators.seeding import trajectory_seeds

from .conftest import assert_within

# E[x²], E[x⁴] of p(x) ∝ exp(−(2γ/σ²)(b x⁴/4 − a x²/2)), from an independent quadrature
# (an independent numerical quadrature of the density, tabulated)
PUBLISHED_MOMENTS = [
    ({"a": 1.0, "b": 1.0, "gamma": 0.5, "sigma": 0.7}, 0.890489, 1.380489),
    ({"a": 1.0, "b": 1.0, "gamma": 0.2, "sigma": 0.5}, 0.931286, 1.556286),
    ({"a": -1.0, "b": 1.0, "gamma": 0.5, "sigma": 1.0}, 0.467920, 0.532080),
    ({"a": 1.0, "b": 0.5, "gamma": 0.3, "sigma": 0.4}, 1.694934, 3.923201),
]


@pytest.mark.parametrize(("params", "ex2", "ex4"), PUBLISHED_MOMENTS)
def test_stationary_moments_by_quadrature_match_published_values(params, ex2, ex4):
    config = build_config(d.DuffingConfig, params)
    assert d.stationary_moment(config, 2) == pytest.approx(ex2, abs=2e-6)
    assert d.stationary_moment(config, 4) == pytest.approx(ex4, abs=2e-6)


@pytest.fixture(scope="module")
def long_run() -> tuple[d.DuffingConfig, np.ndarray]:
    """50 000 paths from the right well to t = 30 (relaxation time ≈ 2); frames t = 20, 25, 30."""
    config = build_config(d.DuffingConfig, {"t_end": 30.0, "n_frames": 7, "dt": 0.02})
    states = d.simulate_states(config, trajectory_seeds(11, "train", 0, 50_000))
    return config, states[:, -3:]


def test_long_run_matches_the_exact_stationary_law(long_run):
    config, states = long_run
    x, v = states[..., 0].ravel(), states[..., 1].ravel()
    n = states.shape[0]  # conservative: the three frames are not fully independent
    kt = d.thermal_energy(config)
    assert_within(np.mean(x**2), d.stationary_moment(config, 2), np.std(x**2) / np.sqrt(n))
    assert_within(np.mean(x**4), d.stationary_moment(config, 4), np.std(x**4) / np.sqrt(n))
    assert_within(np.mean(v**2), kt, np.std(v**2) / np.sqrt(n))
    # virial identity b E[x⁴] − a E[x²] = σ²/(2γ), needing no quadrature
    virial = config.b * x**4 - config.a * x**2
    assert_within(np.mean(virial), kt, np.std(virial) / np.sqrt(n))


def test_long_run_velocity_is_gaussian_and_independent_of_position(long_run):
    config, states = long_run
    x, v = states[:, -1, 0], states[:, -1, 1]
    n = x.size
    assert stats.kstest(v / np.sqrt(d.thermal_energy(config)), "norm").pvalue > 1e-3
    assert_within(np.mean(x * v), 0.0, np.std(x * v) / np.sqrt(n))
    product = (x**2 - np.mean(x**2)) * (v**2 - np.mean(v**2))
    assert_within(np.mean(product), 0.0, np.std(product) / np.sqrt(n))


def test_long_run_position_matches_the_exact_marginal(long_run):
    config, states = long_run
    x = np.sort(states[:, -1, 0])
    # Kolmogorov distance to the quadrature CDF, at the 1e-3 level for 50 000 samples
    ecdf = np.arange(1, x.size + 1) / x.size
    assert np.max(np.abs(ecdf - d.stationary_x_cdf(config, x))) < 1.95 / np.sqrt(x.size)


def _coupled_normals(fine: np.ndarray, config: d.DuffingConfig, h: float) -> np.ndarray:
    """Normals of step h that drive the same Brownian path as ``fine`` at step h/2.

    The exact OU update over h is e^{−γh/2}·(first half integral) + (second half integral).
    """
    c1_half, c2_half = d.ou_coefficients(config.gamma, config.sigma, h / 2)
    _, c2 = d.ou_coefficients(config.gamma, config.sigma, h)
    return c2_half * (c1_half * fine[0::2] + fine[1::2]) / c2


def test_baoab_has_weak_order_two_on_a_short_horizon(rng):
    """E[v(2)²] and E[x(2)²] against a fine reference, all levels driven by one Brownian path.

    Uses the NumPy implementation of the same scheme, which the next test shows is
    bit-identical to the Numba kernel.
    """
    levels = [0.4, 0.2, 0.1, 0.05, 0.0125]
    n = 100_000
    x0 = 1 + 0.3 * rng.standard_normal(n)
    v0 = 0.3 * rng.standard_normal(n)
    noise = {levels[-1]: rng.standard_normal((int(2 / levels[-1]), n))}
    base = build_config(d.DuffingConfig, {"t_end": 2.0, "n_frames": 2, "dt": levels[-1]})
    for h in [0.025, *reversed(levels[:-1])]:
        noise[h] = _coupled_normals(noise[h / 2], base, h)
    moments = {}
    for h in levels:
        config = build_config(d.DuffingConfig, {"t_end": 2.0, "n_frames": 2, "dt": h})
        final = d.simulate_reference(config, x0, v0, lambda k, h=h: noise[h][k])[:, -1]
        moments[h] = np.array([np.mean(final[:, 1] ** 2), np.mean(final[:, 0] ** 2)])
    errors = np.abs([moments[h] - moments[levels[-1]] for h in levels[:-1]])
    for column in range(2):
        order = np.polyfit(np.log(levels[:-1]), np.log(errors[:, column]), 1)[0]
        assert 1.7 < order < 2.6, f"observed weak order {order:.2f}"


def _initial_normals(seeds: np.ndarray) -> np.ndarray:
    @numba.njit
    def draw(seeds):
        out = np.empty((seeds.shape[0], 2))
        for i in range(seeds.shape[0]):
            k0, k1 = split_key(seeds[i])
            out[i, 0], out[i, 1] = normal_pair(k0, k1, d.IC_STREAM, 0)
        return out

    return draw(seeds)


def test_numba_kernel_is_bit_identical_to_the_numpy_scheme(tiny_duffing):
    seeds = trajectory_seeds(0, "train", 0, 70)  # two full lanes of 32 and a partial one
    steps = tiny_duffing.steps_per_frame * (tiny_duffing.n_frames - 1)
    noise = ziggurat_normals(seeds, d.NOISE_STREAM, steps // 4)
    ic = _initial_normals(seeds)
    expected = d.simulate_reference(
        tiny_duffing,
        tiny_duffing.x0 + tiny_duffing.x0_std * ic[:, 0],
        tiny_duffing.v0 + tiny_duffing.v0_std * ic[:, 1],
        lambda k: noise[:, k],
    )
    np.testing.assert_array_equal(d.simulate_states(tiny_duffing, seeds), expected)


def test_output_is_bit_identical_for_one_and_two_threads_and_any_split(tiny_duffing):
    seeds = trajectory_seeds(1, "train", 0, 300)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = d.simulate_states(tiny_duffing, seeds)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = d.simulate_states(tiny_duffing, seeds)
    finally:
        numba.set_num_threads(before)
    pieces = np.concatenate(
        [d.simulate_states(tiny_duffing, seeds[:41]), d.simulate_states(tiny_duffing, seeds[41:])]
    )
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, pieces)


def test_initial_state_has_the_configured_gaussian_spread(tiny_duffing):
    start = d.simulate_states(tiny_duffing, trajectory_seeds(2, "train", 0, 20_000))[:, 0]
    n = start.shape[0]
    assert_within(start[:, 0].mean(), tiny_duffing.x0, tiny_duffing.x0_std / np.sqrt(n))
    assert_within(start[:, 0].std(), tiny_duffing.x0_std, tiny_duffing.x0_std / np.sqrt(2 * n))
    assert_within(start[:, 1].std(), tiny_duffing.v0_std, tiny_duffing.v0_std / np.sqrt(2 * n))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"dt": 0.03}, "must divide"),
        ({"sigma": -1.0}, "gamma and sigma"),
        ({"n_frames": 1}, "n_frames"),
        ({"b": 0.0}, "confining"),
        ({"gama": 0.1}, "unknown parameter 'gama'"),
        ({"dt": "fast"}, "expects float"),
    ],
)
def test_invalid_configurations_are_refused_with_a_clear_message(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_config(d.DuffingConfig, overrides)
