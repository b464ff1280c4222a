"""Exact 1-D W2 for equal and unequal sizes, against independent formulas and an LP."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from slsim.pipelines.wasserstein import (
    sliced_wasserstein2_columns,
    unit_directions,
    wasserstein2,
    wasserstein2_columns,
)


def _sliced_reference(x: np.ndarray, y: np.ndarray, directions: np.ndarray) -> float:
    """sqrt(mean over directions θ of W2²(θ·x, θ·y)), one projection at a time."""
    projected = [(x @ d, y @ d) for d in directions]
    return float(np.sqrt(np.mean([wasserstein2(a, b) ** 2 for a, b in projected])))


def _w2_linear_program(u: np.ndarray, v: np.ndarray) -> float:
    """Optimal transport between uniform empirical measures as an explicit LP."""
    n, m = u.size, v.size
    cost = ((u[:, None] - v[None, :]) ** 2).ravel()
    rows = np.zeros((n + m, n * m))
    for i in range(n):
        rows[i, i * m : (i + 1) * m] = 1
    for j in range(m):
        rows[n + j, j::m] = 1
    marginals = np.concatenate([np.full(n, 1 / n), np.full(m, 1 / m)])
    result = linprog(cost, A_eq=rows, b_eq=marginals, bounds=(0, None), method="highs")
    return float(np.sqrt(result.fun))


@pytest.mark.parametrize(("n", "m"), [(5, 7), (6, 6), (3, 10), (8, 12)])
def test_matches_optimal_transport_linear_program(rng, n, m):
    u, v = rng.standard_normal(n), 1.5 * rng.standard_normal(m) + 0.3
    assert wasserstein2(u, v) == pytest.approx(_w2_linear_program(u, v), rel=1e-7)


def test_unequal_sizes_equal_the_replicated_equal_size_formula(rng):
    u, v = rng.exponential(size=40), rng.normal(size=25)
    replicated = np.sqrt(np.mean((np.sort(np.repeat(u, 25)) - np.sort(np.repeat(v, 40))) ** 2))
    assert wasserstein2(u, v) == pytest.approx(replicated, rel=1e-12)


def test_gaussian_closed_form(rng):
    u = rng.normal(1.0, 2.0, 400_000)
    v = rng.normal(-0.5, 0.5, 300_000)
    assert wasserstein2(u, v) == pytest.approx(np.hypot(1.5, 1.5), rel=5e-3)


def test_sliced_w2_of_a_translation_is_its_length_over_sqrt2(rng):
    x = rng.standard_normal((500, 2))
    shift = np.array([0.3, -0.4])
    value = sliced_wasserstein2_columns(x[:, None], (x + shift)[:, None], unit_directions(2, 64))[0]
    assert value == pytest.approx(0.5 / np.sqrt(2), rel=1e-9)


def test_empty_sample_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        wasserstein2(np.array([]), np.array([1.0]))


@pytest.mark.parametrize(("m", "columns"), [(40, 5), (33, 5), (33, 1100)])
def test_column_distances_equal_one_distance_per_column(m, columns):
    """Against the replicated equal-size formula, column by column; 1100 columns cross the
    blocks in which unequal sizes are computed."""
    rng = np.random.default_rng(2)
    u, v = rng.normal(size=(40, columns)), rng.normal(1.0, 2.0, size=(m, columns))
    replicated_u = np.sort(np.repeat(u, m, axis=0), axis=0)
    replicated_v = np.sort(np.repeat(v, 40, axis=0), axis=0)
    expected = np.sqrt(np.mean((replicated_u - replicated_v) ** 2, axis=0))
    np.testing.assert_allclose(wasserstein2_columns(u, v), expected, rtol=1e-12)
    u, v = u[:, :5], v[:, :5]
    x, y = rng.normal(size=(40, 5, 2)), rng.normal(size=(m, 5, 2))
    directions = unit_directions(2, 16)
    expected = [_sliced_reference(x[:, k], y[:, k], directions) for k in range(5)]
    np.testing.assert_allclose(sliced_wasserstein2_columns(x, y, directions), expected, rtol=1e-12)
