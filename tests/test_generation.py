"""Sharded generation: bit-identical for any shard/worker count, resumable, never clobbers."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from slsim.pipelines import generation
from slsim.pipelines.ensemble import open_ensemble
from slsim.pipelines.errors import UserError
from slsim.pipelines.generation import generate
from slsim.simulators import get_system

from .conftest import generation_job


def _job(config, path, n=50, shard_size=16, seed=3, split="train"):
    return generation_job(
        "duffing", config, path, n=n, shard_size=shard_size, seed=seed, split=split
    )


def _data(path):
    with h5py.File(path, "r") as handle:
        return handle["state"][...], handle["seed"][...]


def test_shard_size_does_not_change_the_data(tmp_path, tiny_duffing):
    a = generate(_job(tiny_duffing, tmp_path / "a.h5", shard_size=7))
    b = generate(_job(tiny_duffing, tmp_path / "b.h5", shard_size=50))
    for x, y in zip(_data(a), _data(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert not (tmp_path / ".a.shards").exists()


def test_field_shards_join_by_copying_compressed_chunks_bit_identically(tmp_path):
    """Fields are chunked one (trajectory, time) slab per chunk: the join moves chunks verbatim."""
    from slsim.simulators import build_config

    spec = get_system("wave")
    config = build_config(
        spec.config_type, {"n_grid": 32, "subsample": 2, "dt": 0.02, "t_end": 0.4, "n_frames": 5}
    )

    def job(path, shard_size):
        return generation_job("wave", config, path, n=7, shard_size=shard_size, seed=1)

    whole = generate(job(tmp_path / "a.h5", 7))
    sharded = generate(job(tmp_path / "b.h5", 3))
    with h5py.File(whole) as a, h5py.File(sharded) as b:
        assert b["u"].chunks == (1, 1, 16, 16)
        for name in ("u", "wave_speed", "seed"):
            np.testing.assert_array_equal(a[name][...], b[name][...])


def test_any_trajectory_regenerates_alone_from_its_stored_seed(tmp_path, tiny_duffing):
    path = generate(_job(tiny_duffing, tmp_path / "train.h5"))
    with open_ensemble(path) as ensemble:
        seed = ensemble["seed"][31]
        again = ensemble.spec.simulate(ensemble.config, np.array([seed], dtype=np.uint64))
        np.testing.assert_array_equal(again["state"][0], ensemble["state"][31])


def test_interrupted_run_resumes_without_recomputing_finished_shards(
    tmp_path, tiny_duffing, monkeypatch
):
    reference = _data(generate(_job(tiny_duffing, tmp_path / "reference.h5")))
    job = _job(tiny_duffing, tmp_path / "train.h5")
    calls = []
    real = generation.simulate_shard

    def counting(*args, **kwargs):
        calls.append(args[4])  # start index
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(generation, "simulate_shard", counting)
    with pytest.raises(KeyboardInterrupt):
        generate(job)
    assert not job.output.exists()
    assert generation.pending_shards(job) == [2, 3]
    calls.clear()
    generate(job)
    assert calls == [32, 48]
    for x, y in zip(_data(job.output), reference, strict=True):
        np.testing.assert_array_equal(x, y)


def test_existing_output_is_not_overwritten_silently(tmp_path, tiny_duffing):
    job = _job(tiny_duffing, tmp_path / "train.h5")
    generate(job)
    with pytest.raises(UserError, match="already exists; pass --overwrite"):
        generate(job)
    generate(_job(tiny_duffing, tmp_path / "train.h5", seed=4), overwrite=True)
    with open_ensemble(job.output) as ensemble:
        assert ensemble.attrs["master_seed"] == 4


def test_unfinished_run_with_other_settings_is_refused(tmp_path, tiny_duffing):
    job = _job(tiny_duffing, tmp_path / "train.h5")
    job.shard_dir.mkdir(parents=True)
    (job.shard_dir / "manifest.json").write_text('{"n": 1}')
    with pytest.raises(UserError, match="different settings"):
        generate(job)
    generate(job, overwrite=True)
    assert job.output.exists()


def test_non_positive_sizes_are_user_errors(tmp_path, tiny_duffing):
    with pytest.raises(UserError, match="positive"):
        _job(tiny_duffing, tmp_path / "x.h5", n=0)
    with pytest.raises(UserError, match="positive"):
        _job(tiny_duffing, tmp_path / "x.h5", shard_size=0)


@pytest.mark.slow
def test_dask_cluster_of_two_worker_processes_gives_the_same_file(tmp_path, tiny_duffing):
    local = _data(generate(_job(tiny_duffing, tmp_path / "local.h5", shard_size=9)))
    client = generation.local_cluster_client(2)
    try:
        path = generate(
            _job(tiny_duffing, tmp_path / "dask.h5", shard_size=9), client=client, numba_threads=1
        )
    finally:
        client.close()
        client.cluster.close()
    for x, y in zip(_data(path), local, strict=True):
        np.testing.assert_array_equal(x, y)
