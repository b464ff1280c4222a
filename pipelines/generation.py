"""Sharded, resumable ensemble generation on the local machine or a dask cluster.

An ensemble of n trajectories is cut into shards of consecutive trajectory indices. Each shard
is simulated (in this process, or as a task on a ``dask.distributed`` cluster), returned to
this process and written atomically to ``.<split>.shards/shard-NNNNN.h5`` next to the target.
When every shard exists they are joined into the final file, which is renamed into place.
An interrupted run leaves its finished shards behind and the next identical command resumes
from them. Because every trajectory is a function of its own seed alone, the output is
bit-identical for any shard size, worker count or thread count.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from slsim.simulators import SystemSpec, get_system, trajectory_seeds
from slsim.simulators.config import config_from_dict, config_to_dict

from .ensemble import (
    SIMULATOR,
    EnsembleHeader,
    atomic_output,
    create_ensemble,
    ensure_directory,
    write_ensemble,
)
from .errors import UserError

# Numba's default threading layer must not be entered by two Python threads at once; a dask
# worker with several threads therefore runs one shard at a time (each shard is parallel).
_SIMULATE_LOCK = threading.Lock()

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class GenerationJob:
    """One split of one system to generate."""

    spec: SystemSpec
    config: Any
    split: str
    n: int
    master_seed: int
    output: Path
    shard_size: int

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise UserError(f"the number of trajectories must be positive, got {self.n}")
        if self.shard_size <= 0:
            raise UserError(f"the shard size must be positive, got {self.shard_size}")

    @property
    def shard_dir(self) -> Path:
        return self.output.with_name(f".{self.output.stem}.shards")

    @property
    def shards(self) -> list[tuple[int, int]]:
        return [(s, min(s + self.shard_size, self.n)) for s in range(0, self.n, self.shard_size)]

    def manifest(self) -> dict[str, Any]:
        return {
            "system": self.spec.name,
            "config": config_to_dict(self.config),
            "split": self.split,
            "n": self.n,
            "master_seed": self.master_seed,
            "shard_size": self.shard_size,
        }

    def shard_path(self, index: int) -> Path:
        return self.shard_dir / f"shard-{index:05d}.h5"

    def header(self, n: int) -> EnsembleHeader:
        return EnsembleHeader(
            system=self.spec.name,
            config=self.config,
            source=SIMULATOR,
            split=self.split,
            master_seed=self.master_seed,
            n_trajectories=n,
        )


def simulate_shard(
    system: str,
    config: dict[str, Any],
    split: str,
    master_seed: int,
    start: int,
    stop: int,
    numba_threads: int | None = None,
) -> dict[str, np.ndarray]:
    """Simulate trajectories ``start..stop-1``; runs in this process or on a dask worker."""
    spec = get_system(system)
    resolved = config_from_dict(spec.config_type, config)
    seeds = trajectory_seeds(master_seed, split, start, stop)
    with _SIMULATE_LOCK:
        if numba_threads is not None:
            import numba

            numba.set_num_threads(max(1, min(numba_threads, numba.config.NUMBA_NUM_THREADS)))
        arrays = spec.simulate(resolved, seeds)
    return {**arrays, "seed": seeds}


def _prepare_shard_dir(job: GenerationJob, overwrite: bool) -> None:
    manifest_path = job.shard_dir / "manifest.json"
    if job.shard_dir.exists():
        try:
            previous = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError):
            previous = None
        if previous == job.manifest():
            return
        if not overwrite:
            raise UserError(
                f"{job.shard_dir} holds an unfinished run with different settings; rerun that "
                "command to resume it, or pass --overwrite to discard it"
            )
        shutil.rmtree(job.shard_dir)
    ensure_directory(job.shard_dir)
    manifest_path.write_text(json.dumps(job.manifest(), indent=1))


def pending_shards(job: GenerationJob) -> list[int]:
    """Indices of shards not yet on disk."""
    return [i for i in range(len(job.shards)) if not job.shard_path(i).exists()]


def _run_local(job: GenerationJob, todo: list[int]) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    config = config_to_dict(job.config)
    for index in todo:
        start, stop = job.shards[index]
        yield index, simulate_shard(job.spec.name, config, job.split, job.master_seed, start, stop)


def _run_dask(
    job: GenerationJob, todo: list[int], client: Any, numba_threads: int | None
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    from distributed import as_completed

    config = config_to_dict(job.config)
    futures = {
        client.submit(
            simulate_shard,
            job.spec.name,
            config,
            job.split,
            job.master_seed,
            *job.shards[i],
            numba_threads,
            pure=False,
            key=f"slsim-{job.spec.name}-{job.split}-shard-{i}",
        ): i
        for i in todo
    }
    for future in as_completed(futures):
        yield futures[future], future.result()
        future.release()


def _copy_rows(source: h5py.Dataset, target: h5py.Dataset, start: int) -> None:
    """Copy ``source`` into ``target[start:]``; compressed chunks are moved verbatim when both
    files chunk one trajectory per chunk with the same filters (no decompress/recompress)."""
    same_layout = (
        source.chunks == target.chunks
        and source.chunks is not None
        and source.chunks[0] == 1
        and source.compression == target.compression
        and source.shuffle == target.shuffle
    )
    if not same_layout:
        target[start : start + source.shape[0]] = source[...]
        return
    for index in range(source.id.get_num_chunks()):
        offset = source.id.get_chunk_info(index).chunk_offset
        mask, data = source.id.read_direct_chunk(offset)
        target.id.write_direct_chunk((offset[0] + start, *offset[1:]), data, mask)


def _join(job: GenerationJob) -> None:
    with atomic_output(job.output) as tmp, create_ensemble(tmp, job.spec, job.header(job.n)) as out:
        for index, (start, _stop) in enumerate(job.shards):
            with h5py.File(job.shard_path(index), "r") as shard:
                for name in [*(v.name for v in job.spec.variables), "seed"]:
                    _copy_rows(shard[name], out[name], start)


def generate(
    job: GenerationJob,
    *,
    overwrite: bool = False,
    client: Any = None,
    numba_threads: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> Path:
    """Generate ``job.output``; resume from existing shards; return the output path.

    ``client`` is a ``distributed.Client`` (None: run shards in this process). ``on_progress``
    is called with the number of trajectories finished by each shard (including resumed ones).
    """
    if job.output.exists() and not overwrite:
        raise UserError(f"{job.output} already exists; pass --overwrite to replace it")
    _prepare_shard_dir(job, overwrite)
    todo = pending_shards(job)
    done = [i for i in range(len(job.shards)) if i not in todo]
    if on_progress is not None:
        on_progress(sum(job.shards[i][1] - job.shards[i][0] for i in done))
    runner = (
        _run_local(job, todo) if client is None else _run_dask(job, todo, client, numba_threads)
    )
    for index, arrays in runner:
        start, stop = job.shards[index]
        write_ensemble(job.shard_path(index), job.spec, job.header(stop - start), arrays)
        if on_progress is not None:
            on_progress(stop - start)
    _join(job)
    shutil.rmtree(job.shard_dir, ignore_errors=True)
    return job.output


def local_cluster_client(workers: int) -> Any:
    """A dask client on ``workers`` local processes (one thread each)."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
    )
    return Client(cluster)


def numba_threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)
