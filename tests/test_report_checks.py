"""Bootstrap intervals and the nearest-training-neighbour check of compare reports."""

from __future__ import annotations

import numpy as np
import pytest

from slsim.pipelines import ensemble, novelty
from slsim.pipelines.bootstrap import bootstrap_interval, paired_excess_interval
from slsim.pipelines.wasserstein import wasserstein2

from .conftest import generation_job


def test_bootstrap_interval_covers_the_population_distance_and_narrows_like_root_n():
    """W2(N(0,1), N(0.5,1)) = 0.5 exactly; the 95 % interval should cover it and shrink ~ n^-1/2."""
    rng = np.random.default_rng(3)
    widths, covered = {}, 0
    for n in (100, 1600):
        for trial in range(10):
            a, b = rng.normal(size=n), rng.normal(0.5, 1.0, size=n)
            low, high = bootstrap_interval(wasserstein2, a, b, resamples=200, seed=trial)
            covered += low <= 0.5 <= high
            widths.setdefault(n, []).append(high - low)
    assert covered >= 16  # of 20 (nominal 19); a biased or too-narrow interval fails
    ratio = np.median(widths[100]) / np.median(widths[1600])
    assert 2.5 < ratio < 6.0  # √16 = 4


def test_bootstrap_is_reproducible_and_can_be_switched_off():
    a, b = np.arange(50.0), np.arange(50.0) + 1
    first = bootstrap_interval(wasserstein2, a, b, resamples=50, seed=1)
    assert first == bootstrap_interval(wasserstein2, a, b, resamples=50, seed=1)
    assert np.isnan(bootstrap_interval(wasserstein2, a, b, resamples=0)).all()


def test_interval_contains_the_estimate_even_near_zero_distance():
    """Percentile intervals of W2 sit above small estimates; the normal interval does not."""
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=64), rng.normal(size=64)
    low, high = bootstrap_interval(wasserstein2, a, b)
    assert low <= wasserstein2(a, b) <= high
    assert low >= 0.0


def test_paired_excess_over_the_floor_tells_a_biased_candidate_from_simulator_noise():
    """A candidate drawn from the target's law has an excess interval around 0 (in 17 of 20
    trials at least, nominal 19); one shifted by 0.5 standard deviations is flagged every time."""
    rng = np.random.default_rng(8)
    covered, flagged = 0, 0
    for trial in range(20):
        target, reference = rng.normal(size=400), rng.normal(size=400)
        same, shifted = rng.normal(size=400), rng.normal(0.5, 1.0, size=400)
        _, low, high = paired_excess_interval(
            wasserstein2, same, reference, target, 100, seed=trial
        )
        covered += low <= 0.0 <= high
        excess, low, _ = paired_excess_interval(
            wasserstein2, shifted, reference, target, 100, seed=trial
        )
        flagged += low > 0.0
        assert excess == pytest.approx(
            wasserstein2(shifted, target) - wasserstein2(reference, target)
        )
    assert covered >= 17
    assert flagged == 20


def test_nearest_distances_match_brute_force_across_chunks(monkeypatch):
    rng = np.random.default_rng(0)
    pool = {"u": rng.normal(size=(23, 4, 3, 3)), "v": rng.normal(size=(23, 4))}
    queries = {"q": rng.normal(size=(5, 4 * 9 + 4))}
    flat = novelty.flatten_state(pool, ("u", "v"), 23)
    brute = np.sqrt(((queries["q"][:, None] - flat[None]) ** 2).mean(axis=2)).min(axis=1)
    monkeypatch.setattr(ensemble, "TRAJECTORIES_PER_READ", 4)
    got = novelty.nearest_distances(queries, pool, 23, ("u", "v"))["q"]
    np.testing.assert_allclose(got, brute, rtol=1e-10)


def test_copies_of_training_trajectories_are_flagged_and_new_ones_are_not():
    rng = np.random.default_rng(1)
    train = {"u": rng.normal(size=(200, 10, 8))}
    copies = train["u"][:16] + 1e-3 * rng.normal(size=(16, 10, 8))  # memorised, barely perturbed
    fresh = rng.normal(size=(16, 10, 8))  # new draws from the same law
    held_out = rng.normal(size=(16, 10, 8))
    queries = {
        label: novelty.flatten_state({"u": x}, ("u",), 16)
        for label, x in (("copies", copies), ("fresh", fresh), ("held_out", held_out))
    }
    d = novelty.nearest_distances(queries, train, 200, ("u",))
    assert np.median(d["copies"]) / np.median(d["held_out"]) < 0.01
    assert np.median(d["fresh"]) / np.median(d["held_out"]) == pytest.approx(1.0, abs=0.1)


def test_frames_side_by_side_work_for_ensembles_shorter_than_the_frame_count(tmp_path):
    """Three stored frames, five requested: each frame is shown once (h5py needs increasing,
    unique indices)."""
    import shutil

    from slsim.pipelines.compare import Options, compare
    from slsim.pipelines.generation import generate
    from slsim.simulators import build_config
    from slsim.simulators.flow import FlowConfig

    config = build_config(FlowConfig, {"n_cells": 8, "n_frames": 3})
    paths = {}
    for split, n in (("train", 4), ("test", 3)):
        paths[split] = tmp_path / f"{split}.h5"
        generate(
            generation_job("flow", config, paths[split], n=n, shard_size=2, seed=1, split=split)
        )
    shutil.copy(paths["test"], tmp_path / "copy.h5")
    options = Options(bootstrap=0, neighbours=0, frames=5)
    comparison = compare(paths["test"], paths["train"], [tmp_path / "copy.h5"], options)
    assert comparison.frame_index == [0, 1, 2]
    assert comparison.frames["copy"].shape == (3, 8, 8)
