"""The conditional-law check: simulator branches from stored states and per-state distances."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.linalg import expm
from typer.testing import CliRunner

from slsim.pipelines.cli import app
from slsim.pipelines.conditional import conditional_law, simulator_sampler
from slsim.pipelines.errors import UserError
from slsim.simulators import build_config
from slsim.simulators.duffing import DuffingConfig

from .conftest import assert_within

#: b = 0, a < 0: a damped linear oscillator, whose conditional law is Gaussian and known.
LINEAR = {"a": -1.0, "b": 0.0, "gamma": 0.5, "sigma": 0.7, "t_end": 2.0, "n_frames": 11}


def exact_conditional(config: DuffingConfig, state: np.ndarray, tau: float):
    """Mean e^{Aτ}x and covariance ∫₀^τ e^{As}BBᵀe^{Aᵀs}ds (Van Loan's block exponential)."""
    a = np.array([[0.0, 1.0], [config.a, -config.gamma]])
    q = np.array([[0.0, 0.0], [0.0, config.sigma**2]])
    block = expm(np.block([[-a, q], [np.zeros((2, 2)), a.T]]) * tau)
    phi = block[2:, 2:].T
    return phi @ state, phi @ block[:2, 2:]


def test_branches_follow_the_exact_conditional_law_of_the_linear_oscillator():
    config = build_config(DuffingConfig, LINEAR)
    sample = simulator_sampler("duffing", config)
    states = np.array([[1.5, -0.5], [-0.3, 0.8]])
    paths = sample(states, 4000, 5, seed=3)  # (2 states, 4000 branches, 6 frames, 2)
    assert np.array_equal(paths[:, :, 0], np.repeat(states[:, None], 4000, axis=1))
    for i, state in enumerate(states):
        mean, cov = exact_conditional(config, state, 5 * config.frame_interval)
        end = paths[i, :, -1]
        for c in range(2):
            assert_within(end[:, c].mean(), mean[c], np.sqrt(cov[c, c] / len(end)))
            assert_within(end[:, c].var(), cov[c, c], cov[c, c] * np.sqrt(2 / len(end)))


def test_an_exact_sampler_sits_at_the_floor_and_a_biased_one_does_not():
    config = build_config(DuffingConfig, LINEAR)
    tau = config.frame_interval

    def gaussian(shift: float):
        def sample(states, k, steps, seed):
            rng = np.random.default_rng(seed)
            out = np.empty((len(states), k, steps + 1, 2))
            out[:, :, 0] = states[:, None]
            for i, state in enumerate(states):
                for h in range(1, steps + 1):
                    mean, cov = exact_conditional(config, state, h * tau)
                    out[i, :, h] = rng.multivariate_normal(mean + shift, cov, size=k)
            return out

        return sample

    states = np.random.default_rng(0).normal(size=(12, 2))
    rows = conditional_law(
        states,
        simulator_sampler("duffing", config),
        {"exact": gaussian(0.0), "biased": gaussian(0.15)},
        branches=400,
        horizons=(1, 3),
    )
    ratio = {(r.candidate, r.horizon): r.median_ratio for r in rows}
    assert 0.6 < ratio[("exact", 1)] < 1.6 and 0.6 < ratio[("exact", 3)] < 1.6
    assert ratio[("biased", 1)] > 3 and ratio[("biased", 3)] > 2
    assert all(r.worst_ratio >= r.median_ratio and r.states == 12 for r in rows)


def test_systems_that_hide_their_medium_cannot_be_branched():
    with pytest.raises(UserError, match="only duffing can be branched"):
        simulator_sampler("wave", None)


def test_compare_conditional_on_trained_duffing_runs(tmp_path):
    runner = CliRunner()
    d = ["--data-dir", str(tmp_path)]
    tiny = ["--set", "t_end=2.0", "--set", "n_frames=21", "--set", "dt=0.02"]
    for args in (
        ["generate", "duffing", "--n", "64", "--n-test", "16", *tiny, *d, "-q"],
        ["train", "duffing", "--preset", "smoke", *d, "-q"],
        ["train", "duffing", "--method", "mse", "--preset", "smoke", *d, "-q"],
        [
            "compare",
            "--system",
            "duffing",
            "--qoi",
            "conditional",
            "-p",
            "states=4",
            "-p",
            "branches=64",
            *d,
        ],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
    assert "conditional law" in result.output
    report = json.loads(
        (tmp_path / "duffing" / "reports" / "compare" / "conditional.json").read_text()
    )
    assert report["frame"] == 10
    assert {(r["candidate"], r["horizon"]) for r in report["rows"]} == {
        (c, h) for c in ("sl", "mse") for h in (1, 10)
    }
    bad = runner.invoke(
        app, ["compare", "--system", "duffing", "--qoi", "conditional", "-p", "depth=3", *d]
    )
    assert isinstance(bad.exception, UserError) and "depth" in str(bad.exception)
