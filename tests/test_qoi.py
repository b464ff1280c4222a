"""Quantities of interest on hand-built trajectories with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from slsim.pipelines.qoi import Metric, first_crossing_time, metrics_for


def test_first_crossing_time_is_normalised_and_misses_map_to_one():
    events = np.array(
        [
            [False, False, True, True, False],  # first at index 2 of 0..4
            [True, False, False, False, False],  # at the start
            [False, False, False, False, False],  # never
        ]
    )
    np.testing.assert_allclose(first_crossing_time(events), [0.5, 0.0, 1.0])


class _FakeEnsemble:
    def __init__(self, state):
        self.state = state

    def __getitem__(self, name):
        assert name == "state"
        return self.state


def test_duffing_crossing_time_is_first_passage_below_zero():
    x = np.array([[1.0, 0.5, -0.1, 0.3, 0.2], [1.0, 0.9, 0.8, 0.7, 0.6]])
    state = np.stack([x, np.zeros_like(x)], axis=-1)
    (wct,) = metrics_for("duffing", "crossing-time")
    np.testing.assert_allclose(wct.extract(_FakeEnsemble(state), 2), [0.5, 1.0])


def test_per_time_distance_averages_the_generated_frames_only():
    a = np.zeros((50, 3))
    b = np.zeros((50, 3))
    b[:, 0] = 100.0  # a difference at the shared initial frame is ignored
    b[:, 2] = 1.0
    metric = Metric("X", "x", "test", lambda e, n: e)
    value, per_time = metric.distance(a, b)
    np.testing.assert_allclose(per_time, [100.0, 0.0, 1.0])
    assert value == pytest.approx(0.5)


def test_unknown_qoi_for_a_system_gives_no_metrics():
    assert metrics_for("duffing", "integrated-mass") == ()
    assert [m.name for m in metrics_for("duffing")] == ["SW2", "WCT"]
