"""Philox4x32-10 against the Random123 known answers; ziggurat normals against N(0, 1)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from slsim.simulators.counter_rng import _ZIG_R, philox_block, ziggurat_normals
from slsim.simulators.seeding import trajectory_seeds

# Random123 kat_vectors: counter (4 words), key (2 words) -> output (4 words)
KNOWN_ANSWERS = [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    (
        [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
        [0xA4093822, 0x299F31D0],
        [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1],
    ),
]


@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS)
def test_philox_matches_random123_known_answers(counter, key, expected):
    out = philox_block(np.array(counter, dtype=np.uint64), np.array(key, dtype=np.uint64))
    assert [int(w) for w in out] == expected


@pytest.fixture(scope="module")
def normals() -> np.ndarray:
    return ziggurat_normals(trajectory_seeds(3, "train", 0, 500), 1, 500)


def test_ziggurat_normals_follow_the_standard_normal(normals):
    z = normals.ravel()  # 10^6 draws
    assert stats.kstest(z, "norm").pvalue > 1e-3
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    assert abs(stats.kurtosis(z, fisher=False) - 3) < 5 * np.sqrt(24 / n)


def test_ziggurat_tail_beyond_the_base_strip_has_the_normal_mass(normals):
    """|z| > r only comes from the slow path's tail sampler; its mass must be exact."""
    z = normals.ravel()
    for threshold in (_ZIG_R, 3.8):
        expected = 2 * stats.norm.sf(threshold)
        observed = np.mean(np.abs(z) > threshold)
        assert abs(observed - expected) < 5 * np.sqrt(expected / z.size)
    assert np.abs(z).max() > _ZIG_R


def test_streams_and_keys_are_uncorrelated(normals):
    other_stream = ziggurat_normals(trajectory_seeds(3, "train", 0, 500), 2, 500)
    limit = 5 / np.sqrt(normals.size)
    assert abs(np.corrcoef(normals.ravel(), other_stream.ravel())[0, 1]) < limit
    assert abs(np.corrcoef(normals[:-1].ravel(), normals[1:].ravel())[0, 1]) < limit
