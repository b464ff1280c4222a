"""Per-trajectory seeds: SeedSequence spawn semantics, disjoint splits, independent of slicing."""

from __future__ import annotations

import numpy as np
import pytest

from slsim.simulators import ConfigError
from slsim.simulators.seeding import SPLIT_STREAMS, trajectory_seed, trajectory_seeds


def test_seed_is_the_spawned_seedsequence_of_split_and_index():
    master = 2024
    split_sequence = np.random.SeedSequence(master).spawn(SPLIT_STREAMS["test"] + 1)[
        SPLIT_STREAMS["test"]
    ]
    spawned = split_sequence.spawn(8)[7]
    assert trajectory_seed(master, "test", 7) == int(spawned.generate_state(1, np.uint64)[0])


def test_seeds_do_not_depend_on_how_they_are_sliced():
    whole = trajectory_seeds(5, "train", 0, 100)
    parts = np.concatenate(
        [trajectory_seeds(5, "train", 0, 37), trajectory_seeds(5, "train", 37, 100)]
    )
    np.testing.assert_array_equal(whole, parts)


def test_train_and_test_streams_are_disjoint_and_distinct():
    train = trajectory_seeds(0, "train", 0, 5000)
    test = trajectory_seeds(0, "test", 0, 5000)
    assert len(np.intersect1d(train, test)) == 0
    assert len(np.unique(train)) == train.size
    assert not np.array_equal(trajectory_seeds(1, "train", 0, 10), train[:10])


def test_bad_split_or_seed_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown split"):
        trajectory_seeds(0, "validation", 0, 3)
    with pytest.raises(ConfigError, match="non-negative"):
        trajectory_seeds(-1, "train", 0, 3)
