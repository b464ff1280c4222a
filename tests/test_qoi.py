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


def test_duffing_crossing_time_is_first_passage_below_zero():
    x = np.array([[1.0, 0.5, -0.1, 0.3, 0.2], [1.0, 0.9, 0.8, 0.7, 0.6]])
    state = np.stack([x, np.zeros_like(x)], axis=-1)
    (wct,) = metrics_for("duffing", "crossing-time")
    np.testing.assert_allclose(wct.values({"state": state}, 2), [0.5, 1.0])
    np.testing.assert_allclose(wct.values({"state": state}, 2, level=0.75), [0.25, 0.75])


def test_wave_crossing_time_watches_only_the_outer_ring_above_the_scaled_threshold():
    u = np.zeros((3, 5, 8, 8))
    u[0, 2, 4, 4] = 1.0  # interior only: never crosses
    u[1, 3, 0, 5] = 0.06  # top row at frame 3 of 0..4
    u[2, 1, 6, 7] = 0.04  # right column, but below 0.05
    u[2, 4, 7, 0] = -1.0  # negative values do not count (signed threshold)
    (wct,) = metrics_for("wave", "crossing-time")
    np.testing.assert_allclose(wct.values({"u": u}, 3), [1.0, 0.75, 1.0])
    np.testing.assert_allclose(wct.values({"u": u}, 3, scale=0.5), [1.0, 0.75, 0.25])


def test_integrated_mass_is_the_mean_absolute_value_per_frame():
    u = np.zeros((2, 3, 4, 4))
    u[0, 1] = -2.0
    u[1, 2, :2] = 1.0
    (wim,) = metrics_for("wave", "integrated-mass")
    np.testing.assert_allclose(wim.values({"u": u}, 2), [[0, 2, 0], [0, 0, 0.5]])


def test_per_time_distance_averages_the_generated_frames_only():
    a = np.zeros((50, 3))
    b = np.zeros((50, 3))
    b[:, 0] = 100.0  # a difference at the shared initial frame is ignored
    b[:, 2] = 1.0
    metric = Metric("X", "x", "test", lambda arrays, n, params: arrays)
    value, per_time = metric.distance(a, b)
    np.testing.assert_allclose(per_time, [100.0, 0.0, 1.0])
    assert value == pytest.approx(0.5)


def test_values_are_the_same_in_chunks_as_whole(monkeypatch):
    from slsim.pipelines import qoi

    u = np.random.default_rng(0).normal(size=(150, 6, 4, 4))
    (wim,) = metrics_for("wave", "integrated-mass")
    whole = wim.values({"u": u}, 150)
    monkeypatch.setattr(qoi, "CHUNK", 7)
    np.testing.assert_array_equal(wim.values({"u": u}, 150), whole)


def test_unknown_qoi_for_a_system_gives_no_metrics():
    assert metrics_for("duffing", "integrated-mass") == ()
    assert [m.name for m in metrics_for("duffing")] == ["SW2", "WCT"]
