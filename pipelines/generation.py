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

import contextlib
import fcntl
import json
import os
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from slsim.simulators import SystemSpec, build_config, get_system, trajectory_seeds
from slsim.simulators.config import config_from_dict, config_to_dict

from . import layout
from .ensemble import (
    SIMULATOR,
    EnsembleHeader,
    atomic_output,
    create_ensemble,
    ensure_directory,
    remove_stale_temporaries,
    write_ensemble,
)
from .errors import UserError, require_positive
from .interrupts import interruption_point, watched
from .threads import choose_threads, configure_threads

# Numba's default threading layer must not be entered by two Python threads at once; a dask
# worker with several threads therefore runs one shard at a time (each shard is parallel).
_SIMULATE_LOCK = threading.Lock()

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True, kw_only=True)
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
        if not 0 <= self.master_seed < 2**63:
            raise UserError(f"the seed must be an integer in [0, 2^63), got {self.master_seed}")

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
    with atomic_output(manifest_path) as tmp:
        tmp.write_text(json.dumps(job.manifest(), indent=1))


@contextlib.contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """Hold the exclusive right to generate ``output``: a lock on ``.NAME.lock`` beside it that
    holds the owner's pid. A second run on the same output is refused with a one-line error;
    the operating system releases the lock when its holder dies, however it dies."""
    ensure_directory(output.parent)
    path = output.with_name(f".{output.name}.lock")
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise UserError(
                f"{output} is being generated by another slsim process (pid {owner}); "
                "wait for it to finish or stop it"
            ) from None
        try:  # the previous holder may have removed the file between our open and lock
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    try:
        with contextlib.suppress(OSError):  # the pid is informative only (e.g. disk full)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def require_finite_output(job: GenerationJob, start: int, arrays: dict[str, np.ndarray]) -> None:
    """Refuse simulated arrays with NaN or inf (unstable parameters) before they are stored."""
    for name, values in arrays.items():
        if values.dtype.kind != "f":
            continue
        bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
        if bad.any():
            first = start + int(bad.argmax())
            raise UserError(
                f"the {job.spec.name} simulation produced NaN/inf in '{name}' for "
                f"{int(bad.sum())} of {len(values)} trajectories (first: {first}); the "
                "parameters are outside the solver's stable range (see --show-config)"
            )


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
    from distributed import wait

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
    pending = set(futures)
    while pending:
        interruption_point()
        try:
            done, pending = wait(pending, timeout=1, return_when="FIRST_COMPLETED")
        except TimeoutError:
            continue
        for future in done:
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
        and source.fletcher32 == target.fletcher32
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
            interruption_point()


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
    with watched(), output_lock(job.output):
        if job.output.exists() and not overwrite:
            raise UserError(f"{job.output} already exists; pass --overwrite to replace it")
        remove_stale_temporaries(job.output.parent)
        remove_stale_temporaries(job.shard_dir)
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
            try:
                require_finite_output(job, start, arrays)
            except UserError:
                shutil.rmtree(job.shard_dir, ignore_errors=True)  # these settings cannot finish
                raise
            write_ensemble(job.shard_path(index), job.spec, job.header(stop - start), arrays)
            interruption_point()
            if on_progress is not None:
                on_progress(stop - start)
        _join(job)
        interruption_point()
        shutil.rmtree(job.shard_dir, ignore_errors=True)
    return job.output


def local_cluster_client(workers: int) -> Any:
    """A dask client on ``workers`` local processes (one thread each).

    The worker processes ignore SIGINT: Ctrl-C in a terminal reaches the whole process group,
    and workers dying under it made the run hang; this process stops them instead.
    """
    from distributed import Client, LocalCluster

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
    try:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
    finally:
        if main_thread:
            signal.signal(
                signal.SIGINT, signal.default_int_handler if previous is None else previous
            )
    return Client(cluster)


def numba_threads_per_worker(workers: int, threads: int) -> int:
    """Numba threads of each of ``workers`` processes sharing ``threads`` in all."""
    return max(1, threads // workers)


@dataclass(frozen=True, kw_only=True)
class GenerateRequest:
    """``slsim generate``: the train and test splits of one system under ``data_dir``."""

    system: str
    #: Training trajectories (None: the system's default).
    n: int | None = None
    #: Held-out test trajectories, 0 for none (None: the system's default, or with ``n`` the
    #: system's train/test proportion).
    n_test: int | None = None
    seed: int = 0
    #: ``--set`` overrides of the system's configuration.
    overrides: dict[str, str] = field(default_factory=dict)
    data_dir: Path | None = None
    shard_size: int | None = None
    #: Local dask worker processes (1: shards run in this process).
    workers: int = 1
    #: Address of a dask.distributed scheduler to run the shards on.
    scheduler: str | None = None
    overwrite: bool = False
    threads: int | None = None


def generation_jobs(request: GenerateRequest) -> list[GenerationJob]:
    """The splits to generate, the system's defaults filled in; refuses bad sizes and outputs
    that exist (unless ``overwrite``) before anything is created."""
    spec = get_system(request.system)
    config = build_config(spec.config_type, request.overrides)
    require_positive("--n", request.n)
    require_positive("--workers", request.workers)
    require_positive("--shard-size", request.shard_size)
    if request.seed < 0:
        raise UserError(f"--seed must be a non-negative integer, got {request.seed}")
    n_train = spec.default_n_train if request.n is None else request.n
    if request.n_test is not None:
        n_held_out = request.n_test
    elif request.n is None:
        n_held_out = spec.default_n_test
    else:
        n_held_out = max(1, round(request.n * spec.default_n_test / spec.default_n_train))
    if n_held_out < 0:
        raise UserError(f"--n-test must be ≥ 0, got {n_held_out}")
    splits = [("train", n_train), ("test", n_held_out)] if n_held_out else [("train", n_train)]
    shard_size = spec.default_shard_size if request.shard_size is None else request.shard_size
    jobs = [
        GenerationJob(
            spec=spec,
            config=config,
            split=split,
            n=count,
            master_seed=request.seed,
            output=layout.split_path(request.system, split, request.data_dir),
            shard_size=shard_size,
        )
        for split, count in splits
    ]
    for job in jobs:
        if job.output.exists() and not request.overwrite:
            raise UserError(f"{job.output} already exists; pass --overwrite to replace it")
    return jobs


@contextlib.contextmanager
def shard_runner(request: GenerateRequest) -> Iterator[tuple[Any, int | None]]:
    """``(client, numba threads per worker)`` for the shards: a client of ``request.scheduler``
    or of a local cluster of ``request.workers`` processes, closed on exit; or no client (this
    process runs the shards, its thread pools sized here)."""
    threads = choose_threads(request.threads)
    if request.scheduler is not None:
        from distributed import Client

        try:
            client = Client(request.scheduler, timeout="10s")
        except OSError as err:
            raise UserError(f"cannot reach dask scheduler {request.scheduler}: {err}") from None
        worker_threads = None
    elif request.workers > 1:
        client = local_cluster_client(request.workers)
        worker_threads = numba_threads_per_worker(request.workers, threads)
    else:
        configure_threads(threads)
        client, worker_threads = None, None
    try:
        yield client, worker_threads
    finally:
        if client is not None:
            client.close()


def generate_ensembles(
    request: GenerateRequest,
    *,
    on_stage: Callable[[str], None] | None = None,
    on_progress: Callable[[GenerationJob, int], None] | None = None,
) -> list[GenerationJob]:
    """Generate (or resume) every split of ``request``; return the jobs, whose outputs exist.

    ``on_stage`` gets one line naming the splits and sizes once the first split has started
    (after its lock and shards were checked, so that an error comes alone);
    ``on_progress(job, k)`` is called as shards of ``job`` finish.
    """
    jobs = generation_jobs(request)
    sizes = ", ".join(f"{job.split} {job.n} trajectories → {job.output}" for job in jobs)
    started: list[bool] = []

    def advance(job: GenerationJob, count: int) -> None:
        if not started:
            started.append(True)
            if on_stage is not None:
                on_stage(f"generating {request.system}: {sizes}")
        if on_progress is not None:
            on_progress(job, count)

    with shard_runner(request) as (client, worker_threads):
        for job in jobs:
            generate(
                job,
                overwrite=request.overwrite,
                client=client,
                numba_threads=worker_threads,
                on_progress=lambda count, job=job: advance(job, count),
            )
    return jobs
