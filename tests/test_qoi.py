"""Quantities of interest on hand-built trajectories with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from slsim.pipelines.qoi import Metric, first_crossing_time, metrics_for, production_block
from slsim.simulators.flow import block_mean


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
    np.testing.assert_allclose(wct.values({"u": u}, 3, scale=1.0), [1.0, 0.75, 1.0])
    np.testing.assert_allclose(wct.values({"u": u}, 3, scale=0.5), [1.0, 0.75, 0.25])


def test_wave_scale_max_is_resolved_once_on_the_target_ensemble():
    """The paper divides the data by max |u|: the target's maximum, used for every ensemble."""
    (wct,) = metrics_for("wave", "crossing-time")
    target = np.zeros((2, 3, 4, 4))
    target[0, 0, 2, 2] = -4.0  # |u| counts for the scale
    params = wct.resolve({"u": target}, 2)
    assert params == {"threshold": 0.05, "scale": 4.0}
    candidate = np.zeros((1, 3, 4, 4))
    candidate[0, 1, 0, 0] = 0.19  # below 0.05 · 4 = 0.2: no crossing with the target's scale
    assert wct.values({"u": candidate}, 1, **params)[0] == 1.0
    assert wct.resolve({"u": target}, 2, scale=2.0)["scale"] == 2.0
    with pytest.raises(ValueError, match="scale must be a number or 'max'"):
        wct.resolve({"u": target}, 2, scale="peak")
    with pytest.raises(ValueError, match="threshold must be a number"):
        wct.resolve({"u": target}, 2, threshold="high")
    with pytest.raises(ValueError, match="no parameter corner_cells"):
        wct.resolve({"u": target}, 2, corner_cells=3)


def test_flow_breakthrough_watches_the_production_corner_mean():
    s = np.zeros((3, 5, 6, 6))
    s[0, 2:, -1, -1] = 1.0  # producer cell alone: corner mean 1/9 > 0.1 from frame 2
    s[1, 1:, :3, :3] = 1.0  # water far from the producer never breaks through
    s[2, 3:, -3:, -3:] = 0.05  # the whole corner at 0.05: below the threshold
    (wct,) = metrics_for("flow", "crossing-time")
    corner = {"corner_cells": 3}
    np.testing.assert_allclose(wct.values({"saturation": s}, 3, **corner), [0.5, 1.0, 1.0])
    np.testing.assert_allclose(
        wct.values({"saturation": s}, 3, threshold=0.04, **corner), [0.5, 1.0, 0.75]
    )
    np.testing.assert_allclose(wct.values({"saturation": s}, 3, corner_cells=1), [0.5, 1.0, 1.0])
    np.testing.assert_allclose(
        wct.values({"saturation": s}, 3, corner_cells=2, threshold=0.3), [1.0, 1.0, 1.0]
    )


def test_flow_corner_covers_the_same_region_on_fine_and_block_averaged_grids():
    """ "auto": 3 cells of 96², 1 cell of 32²; the 3×3 block mean of the fine grid is the coarse
    cell, so breakthrough times agree exactly between a 96² run and its coarsen = 3 storage."""
    rng = np.random.default_rng(0)
    fine = np.cumsum(rng.uniform(0, 0.05, size=(4, 12, 96, 96)), axis=1)
    coarse = block_mean(fine, 3)
    (wct,) = metrics_for("flow", "crossing-time")
    assert wct.resolve({"saturation": fine}, 4)["corner_cells"] == 3
    assert wct.resolve({"saturation": coarse}, 4)["corner_cells"] == 1
    np.testing.assert_array_equal(
        wct.values({"saturation": fine}, 4), wct.values({"saturation": coarse}, 4)
    )
    with pytest.raises(ValueError, match="corner_cells must be a positive integer"):
        wct.resolve({"saturation": coarse}, 4, corner_cells=1.5)


def test_flow_integrated_mass_is_the_mean_saturation():
    s = np.zeros((2, 3, 4, 4))
    s[0, 1, 0] = 0.8  # one row of four at 0.8: mean 0.2
    s[1, 2] = 0.5
    (wim,) = metrics_for("flow", "integrated-mass")
    np.testing.assert_allclose(wim.values({"saturation": s}, 2), [[0, 0.2, 0], [0, 0, 0.5]])


def test_values_from_lazy_xarray_dask_equal_values_from_h5py(tmp_path):
    """QoIs read chunks, so a dask-backed xarray variable works like an h5py dataset."""
    h5py = pytest.importorskip("h5py")
    xr = pytest.importorskip("xarray")
    pytest.importorskip("dask")
    rng = np.random.default_rng(1)
    path = tmp_path / "u.h5"
    with h5py.File(path, "w") as handle:
        handle["u"] = rng.normal(size=(70, 5, 6, 6)).astype(np.float32)
    with h5py.File(path, "r") as handle:
        expected = {
            m.name: m.values(handle, 70, **m.resolve(handle, 70)) for m in metrics_for("wave")
        }
    dataset = xr.open_dataset(path, engine="h5netcdf", phony_dims="sort", chunks={})
    assert dataset["u"].chunks is not None  # lazy
    for metric in metrics_for("wave"):
        got = metric.values(dataset, 70, **metric.resolve(dataset, 70))
        np.testing.assert_array_equal(got, expected[metric.name])


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
    from slsim.pipelines import ensemble

    u = np.random.default_rng(0).normal(size=(150, 6, 4, 4))
    (wim,) = metrics_for("wave", "integrated-mass")
    whole = wim.values({"u": u}, 150)
    monkeypatch.setattr(ensemble, "TRAJECTORIES_PER_READ", 7)
    np.testing.assert_array_equal(wim.values({"u": u}, 150), whole)


def test_unknown_qoi_for_a_system_gives_no_metrics():
    assert metrics_for("duffing", "integrated-mass") == ()
    assert [m.name for m in metrics_for("duffing")] == ["SW2", "WCT"]


def test_the_production_block_sits_at_the_producer_and_stays_inside_the_grid():
    s = np.arange(36, dtype=float).reshape(6, 6)
    assert production_block(s, 3, (1.0, 1.0)) == s[3:, 3:].mean()
    assert production_block(s, 1, (1.0, 1.0)) == s[5, 5]
    assert production_block(s, 3, (0.0, 1.0)) == s[:3, 3:].mean()
    assert production_block(s, 3, (0.5, 0.5)) == s[1:4, 1:4].mean()  # centred on cell (2, 2)
