"""Matérn random fields: covariance formula, exact circulant embedding, sample statistics."""

from __future__ import annotations

import numpy as np
import pytest

from slsim.simulators.flow.matern import (
    COVARIANCE_TOLERANCE,
    MaternComponent,
    circulant_embedding,
    field_covariance,
    matern_covariance,
)

from .conftest import assert_within

R = np.linspace(0.0, 1.0, 41)


@pytest.mark.parametrize(
    ("nu", "closed_form"),
    [
        (0.5, lambda x: np.exp(-x)),
        (1.5, lambda x: (1 + np.sqrt(3) * x) * np.exp(-np.sqrt(3) * x)),
        (2.5, lambda x: (1 + np.sqrt(5) * x + 5 * x**2 / 3) * np.exp(-np.sqrt(5) * x)),
    ],
)
def test_covariance_matches_the_half_integer_closed_forms(nu, closed_form):
    """Rasmussen–Williams convention: argument √(2ν) r/ℓ (gstools uses √ν r/ℓ)."""
    component = MaternComponent(sigma=1.3, length=0.2, nu=nu)
    expected = 1.3**2 * closed_form(R / 0.2)
    np.testing.assert_allclose(matern_covariance(R, component), expected, rtol=1e-12, atol=1e-300)


def test_nugget_adds_variance_at_zero_lag_only():
    with_nugget = MaternComponent(sigma=1.0, length=0.1, nu=1.5, nugget=0.25)
    without = MaternComponent(sigma=1.0, length=0.1, nu=1.5)
    difference = matern_covariance(R, with_nugget) - matern_covariance(R, without)
    assert difference[0] == 0.25
    assert np.all(difference[1:] == 0.0)
    assert with_nugget.variance == 1.25


def test_embedding_is_exact_and_grows_the_torus_for_long_correlations():
    short = circulant_embedding((32, 32), (1 / 32, 1 / 32), (MaternComponent(1.0, 0.05, 1.5),))
    long = circulant_embedding((32, 32), (1 / 32, 1 / 32), (MaternComponent(1.0, 0.3, 2.5),))
    assert short.torus == (64, 64)
    assert long.torus[0] > 64
    for embedding in (short, long):
        assert embedding.covariance_error <= COVARIANCE_TOLERANCE


def test_embedding_refuses_correlation_lengths_it_cannot_represent():
    with pytest.raises(ValueError, match="shorten the correlation length"):
        circulant_embedding((16, 16), (1 / 16, 1 / 16), (MaternComponent(1.0, 3.0, 1.5),))


def test_sample_covariance_matches_the_formula_at_several_lags():
    """Two components, one with a nugget, on a 24² grid: 3000 fields, pooled over positions."""
    n, h = 24, 1 / 24
    components = (MaternComponent(1.0, 0.15, 1.5, nugget=0.1), MaternComponent(0.5, 0.05, 0.5))
    embedding = circulant_embedding((n, n), (h, h), components)
    rng = np.random.default_rng(7)
    fields = np.stack([embedding.sample(rng) for _ in range(3000)])
    assert fields.shape == (3000, n, n)
    assert_within(fields.mean(), 0.0, fields.mean(axis=(1, 2)).std() / np.sqrt(len(fields)))
    for dy, dx in [(0, 0), (0, 1), (1, 0), (1, 1), (0, 3), (2, 5), (7, 0)]:
        products = fields[:, : n - dy, : n - dx] * fields[:, dy:, dx:]
        per_field = products.mean(axis=(1, 2))
        expected = field_covariance(np.array(np.hypot(dy * h, dx * h)), components)
        assert_within(per_field.mean(), float(expected), per_field.std() / np.sqrt(len(fields)))


def test_sampling_uses_only_the_given_generator():
    embedding = circulant_embedding((16, 16), (1 / 16, 1 / 16), (MaternComponent(1.0, 0.1, 1.5),))
    first = embedding.sample(np.random.default_rng(3))
    again = embedding.sample(np.random.default_rng(3))
    other = embedding.sample(np.random.default_rng(4))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
