"""Self-describing HDF5 ensemble files: schema, atomic writing, reading and validation.

Layout (docs/data-format.md): one float32 dataset per variable, ``(trajectory, time,
[component | y, x])``, chunked and deflate-compressed; coordinate datasets ``trajectory``,
``time``, ``component``/``x``/``y`` attached as HDF5 dimension scales so that
``xarray.open_dataset(path, engine="h5netcdf")`` names every dimension; simulator files also
hold each trajectory's ``seed`` and random inputs. Root attributes carry the system, the full
configuration as JSON, the source, seeds and provenance.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from slsim.simulators import SystemSpec, get_system
from slsim.simulators.config import ConfigError, config_from_dict, config_to_json

from .errors import UserError
from .interrupts import deferred
from .layout import slsim_version

SCHEMA_VERSION = 1
SIMULATOR = "simulator"
SURROGATE_PREFIX = "surrogate:"
REQUIRED_ATTRS = ("slsim_schema", "system", "config", "source", "n_trajectories")
_CHUNK_TARGET_BYTES = 1 << 18
#: Trajectories per block when state arrays are read piecewise (normalising, QoIs, novelty).
TRAJECTORIES_PER_READ = 64


def read_blocks(n: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of the blocks of :data:`TRAJECTORIES_PER_READ` covering ``range(n)``."""
    return [
        (start, min(start + TRAJECTORIES_PER_READ, n))
        for start in range(0, n, TRAJECTORIES_PER_READ)
    ]


def ensure_directory(directory: Path) -> Path:
    """Create ``directory`` (and parents) or raise a one-line :class:`UserError`."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create directory {directory}: {err.strerror}") from None
    if not os.access(directory, os.W_OK):
        raise UserError(f"cannot write to {directory}: permission denied")
    return directory


def check_writable_directory(directory: Path) -> None:
    """Raise a one-line :class:`UserError` unless ``directory`` exists and is writable or could
    be created (its nearest existing ancestor is a writable directory); creates nothing."""
    existing = Path(directory).absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"cannot create directory {directory}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to {existing}: permission denied")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete ``.NAME.tmp-<pid>`` files in ``directory`` left by processes that no longer run
    (killed during a write); return them. Temporaries of live processes are kept."""
    removed = []
    if not Path(directory).is_dir():
        return removed
    for tmp in Path(directory).glob(".*.tmp-*"):
        pid = tmp.name.rpartition(".tmp-")[2].partition(".")[0]  # after it: a suffix, if any
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                if tmp.is_dir():
                    shutil.rmtree(tmp)
                else:
                    tmp.unlink()
                removed.append(tmp)
    return removed


@contextlib.contextmanager
def atomic_output(path: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    ``suffix`` ends the temporary's name, for writers that pick the format from it (Pillow).

    A crash or Ctrl-C leaves the previous ``path`` (if any) untouched and no partial file;
    temporaries that killed processes left beside ``path`` are removed first.
    """
    path = Path(path)
    ensure_directory(path.parent)
    remove_stale_temporaries(path.parent)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def chunk_shape(shape: tuple[int, ...], dims: tuple[str, ...]) -> tuple[int, ...]:
    """One (trajectory, time) slab per chunk for fields; many trajectories for small states."""
    if "x" in dims:
        return tuple(
            1 if d in ("trajectory", "time") else n for d, n in zip(dims, shape, strict=True)
        )
    per_trajectory = int(np.prod(shape[1:], dtype=np.int64)) * 4
    rows = max(1, min(shape[0], _CHUNK_TARGET_BYTES // max(per_trajectory, 1)))
    return (rows, *shape[1:])


def creation_time() -> str:
    """Now in UTC (ISO 8601), or ``$SOURCE_DATE_EPOCH`` when set, for reproducible files."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        moment = datetime.now(timezone.utc)
    else:
        try:
            moment = datetime.fromtimestamp(int(epoch), timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise UserError(
                f"SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, got {epoch!r}"
            ) from None
    return moment.isoformat(timespec="seconds")


@dataclass
class EnsembleHeader:
    """Root attributes of an ensemble file."""

    system: str
    config: Any
    source: str
    split: str
    master_seed: int
    n_trajectories: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_attrs(self, spec: SystemSpec, variables: tuple[str, ...]) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "slsim_schema": SCHEMA_VERSION,
            "system": self.system,
            "config": config_to_json(self.config),
            "source": self.source,
            "split": self.split,
            "master_seed": self.master_seed,
            "n_trajectories": self.n_trajectories,
            "state_variables": json.dumps(list(spec.state_variables)),
            "variables": json.dumps(list(variables)),
            "slsim_version": slsim_version(),
            "created": creation_time(),
        }
        for key, value in self.extra.items():
            attrs[key] = value if isinstance(value, str | int | float) else json.dumps(value)
        return attrs


def stored_variables(spec: SystemSpec, source: str) -> tuple[str, ...]:
    """Simulator files hold every variable; surrogate files only the learned state."""
    if source == SIMULATOR:
        return tuple(v.name for v in spec.variables)
    return spec.state_variables


class _DeferredErrorFile(io.FileIO):
    """The file HDF5 writes through (h5py's file-object driver).

    A failed write (disk full, quota, file size limit) is remembered and reported to HDF5 as
    done: the HDF5 library must never see a failed write, because closing a file after one
    crashes the process (segmentation fault). :func:`create_ensemble` raises the remembered
    error once HDF5 has closed the file, and :func:`atomic_output` discards the file.
    """

    error: OSError | None = None

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self.error is None:
            try:
                done = 0
                while done < len(view):
                    done += super().write(view[done:]) or 0
            except OSError as err:
                self.error = err
        return len(view)


@contextlib.contextmanager
def create_ensemble(path: Path, spec: SystemSpec, header: EnsembleHeader) -> Iterator[h5py.File]:
    """Create an empty ensemble file with every dataset, coordinate and attribute in place.

    The caller fills the variables (and ``seed``/``initial_index``) by trajectory slices inside
    the ``with`` block. Use inside :func:`atomic_output`: a failed write (e.g. disk full) raises
    a one-line :class:`UserError` after the file is closed; Ctrl-C is raised at the caller's
    :func:`~slsim.pipelines.interrupts.interruption_point` or when the file is closed.
    """
    with deferred():  # Ctrl-C must not raise inside HDF5's calls to raw.write
        raw = _DeferredErrorFile(path, "w+")
        try:
            with h5py.File(raw, "w") as handle:
                _lay_out(handle, spec, header)
                yield handle
        finally:
            raw.close()
            if raw.error is not None:
                raise UserError(
                    f"cannot write to {Path(path).parent}: {raw.error.strerror or raw.error}; "
                    "nothing was written"
                ) from None


def _lay_out(handle: h5py.File, spec: SystemSpec, header: EnsembleHeader) -> None:
    """Every dataset, coordinate and attribute of an empty ensemble file."""
    n = header.n_trajectories
    names = stored_variables(spec, header.source)
    coords = spec.coordinates(header.config)
    shapes = spec.shapes(header.config, n)
    scales = {"trajectory": handle.create_dataset("trajectory", data=np.arange(n, dtype=np.int64))}
    scales["trajectory"].attrs["long_name"] = "trajectory index"
    for name, coord in coords.items():
        values = coord.values
        if values.dtype.kind == "U":
            values = values.astype(h5py.string_dtype())
        dset = handle.create_dataset(name, data=values)
        dset.attrs["units"] = coord.units
        dset.attrs["long_name"] = coord.long_name
        scales[name] = dset
    for dset_name, dset in scales.items():
        dset.make_scale(dset_name)
    for name in names:
        var = spec.variable(name)
        shape = shapes[name]
        dset = handle.create_dataset(
            name,
            shape=shape,
            dtype=var.dtype,
            chunks=chunk_shape(shape, var.dims),
            # deflate, not lzf: h5py's lzf leaves its hash table uninitialised, so identical
            # chunks can compress to different bytes; deflate after shuffle is deterministic,
            # smaller here and readable by netCDF-C too
            compression="gzip",
            compression_opts=1,
            shuffle=True,
            fletcher32=True,  # a checksum per chunk: reading a damaged chunk fails loudly
        )
        dset.attrs.update(
            {
                "units": var.units,
                "long_name": var.long_name,
                "time_varying": var.time_varying,
                "sample_varying": True,
            }
        )
        for axis, dim in enumerate(var.dims):
            dset.dims[axis].attach_scale(scales[dim])
    per_trajectory = "seed" if header.source == SIMULATOR else "initial_index"
    dset = handle.create_dataset(
        per_trajectory, shape=(n,), dtype=np.uint64 if per_trajectory == "seed" else np.int64
    )
    dset.attrs["long_name"] = (
        "64-bit seed that regenerates this trajectory"
        if per_trajectory == "seed"
        else "index of the held-out trajectory whose first frames started this rollout"
    )
    dset.dims[0].attach_scale(scales["trajectory"])
    handle.attrs.update(header.to_attrs(spec, names))


def write_ensemble(
    path: Path, spec: SystemSpec, header: EnsembleHeader, arrays: Mapping[str, np.ndarray]
) -> Path:
    """Write a whole in-memory ensemble atomically (surrogate samples, tests, small jobs)."""
    with atomic_output(path) as tmp, create_ensemble(tmp, spec, header) as handle:
        for name, values in arrays.items():
            handle[name][...] = values
    return Path(path)


# --- reading and validation -----------------------------------------------------------------


@dataclass
class Ensemble:
    """An open, validated ensemble file; arrays are read lazily through h5py."""

    path: Path
    handle: h5py.File
    spec: SystemSpec
    config: Any
    source: str
    attrs: dict[str, Any]

    @property
    def n_trajectories(self) -> int:
        return int(self.attrs["n_trajectories"])

    @property
    def time(self) -> np.ndarray:
        return self.handle["time"][...]

    def __getitem__(self, name: str) -> h5py.Dataset:
        return self.handle[name]

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> Ensemble:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_open(handle: h5py.File) -> tuple[list[str], SystemSpec | None, Any]:
    problems: list[str] = []
    missing = [a for a in REQUIRED_ATTRS if a not in handle.attrs]
    if missing:
        return (
            [f"missing root attribute(s) {', '.join(missing)} (not an slsim ensemble?)"],
            None,
            None,
        )
    if int(handle.attrs["slsim_schema"]) > SCHEMA_VERSION:
        problems.append(f"schema version {handle.attrs['slsim_schema']} is newer than this slsim")
    try:
        spec = get_system(str(handle.attrs["system"]))
        config = config_from_dict(spec.config_type, json.loads(handle.attrs["config"]))
    except (ConfigError, json.JSONDecodeError) as err:
        return [*problems, f"bad configuration: {err}"], None, None
    source = str(handle.attrs["source"])
    if source != SIMULATOR and not source.startswith(SURROGATE_PREFIX):
        problems.append(f"unknown source '{source}'")
        return problems, spec, config
    n = int(handle.attrs["n_trajectories"])
    shapes = spec.shapes(config, n)
    for name in stored_variables(spec, source):
        if name not in handle:
            problems.append(f"missing dataset '{name}'")
            continue
        dset = handle[name]
        if dset.shape != shapes[name]:
            problems.append(f"dataset '{name}' has shape {dset.shape}, expected {shapes[name]}")
        if dset.dtype != np.dtype(spec.variable(name).dtype):
            problems.append(
                f"dataset '{name}' has dtype {dset.dtype}, expected {spec.variable(name).dtype}"
            )
        for axis, dim in enumerate(spec.variable(name).dims):
            if len(dset.dims[axis]) == 0 or dset.dims[axis][0].name != f"/{dim}":
                problems.append(
                    f"dataset '{name}' axis {axis} is not attached to coordinate '{dim}'"
                )
                break
    per_trajectory = "seed" if source == SIMULATOR else "initial_index"
    if per_trajectory not in handle or handle[per_trajectory].shape != (n,):
        problems.append(f"missing or mis-sized dataset '{per_trajectory}'")
    return problems, spec, config


def nonfinite(dataset: h5py.Dataset, budget: int | None = None) -> str | None:
    """What is wrong with the values of ``dataset`` (NaN, inf, unreadable), or None.

    Reads whole chunk rows; with ``budget`` (bytes), only evenly spread rows up to that many
    bytes, always including the first and the last.
    """
    rows = dataset.chunks[0] if dataset.chunks else max(1, dataset.shape[0])
    starts = list(range(0, dataset.shape[0], rows))
    row_bytes = rows * int(np.prod(dataset.shape[1:], dtype=np.int64)) * dataset.dtype.itemsize
    if budget is not None and dataset.nbytes > budget:
        keep = max(2, budget // max(row_bytes, 1))
        picked = np.unique(np.linspace(0, len(starts) - 1, keep).round().astype(int))
        starts = [starts[i] for i in picked]
    name = dataset.name.lstrip("/")
    for start in starts:
        try:
            block = dataset[start : start + rows]
        except OSError:
            return f"dataset '{name}' cannot be read near trajectory {start} (corrupt file?)"
        if not np.all(np.isfinite(block)):
            return f"dataset '{name}' has non-finite values (NaN or inf) near trajectory {start}"
    return None


#: Bytes ``slsim info`` reads per dataset by default to check that values are finite.
INFO_SCAN_BYTES = 64 << 20


def check_ensemble(path: Path, deep: bool = False, scan_bytes: int = 0) -> list[str]:
    """Everything wrong with the file at ``path`` (empty list: valid).

    ``deep`` also scans every value for NaN/inf (reads the whole file); otherwise
    ``scan_bytes`` > 0 scans up to that many bytes per dataset, spread over the file.
    """
    path = Path(path)
    if not path.exists():
        return ["file does not exist"]
    try:
        handle = h5py.File(path, "r")
    except OSError:
        return ["not a readable HDF5 file"]
    with handle:
        problems, spec, _ = _check_open(handle)
        if (deep or scan_bytes > 0) and not problems and spec is not None:
            for name in stored_variables(spec, str(handle.attrs["source"])):
                problem = nonfinite(handle[name], None if deep else scan_bytes)
                if problem is not None:
                    problems.append(problem)
    return problems


def require_finite(ensemble: Ensemble) -> None:
    """Raise a one-line :class:`UserError` if a state variable holds NaN/inf or is unreadable."""
    for name in ensemble.spec.state_variables:
        problem = nonfinite(ensemble[name])
        if problem is not None:
            raise UserError(f"{ensemble.path}: {problem}")


def open_ensemble(path: Path, hint: str = "", expected_system: str | None = None) -> Ensemble:
    """Open and validate an ensemble; a missing or malformed file raises :class:`UserError`
    in one line (``hint`` is appended when the file does not exist), and so does a file of
    another system than ``expected_system``."""
    path = Path(path)
    if hint and not path.exists():
        raise UserError(f"{path} does not exist; {hint}")
    problems = check_ensemble(path)
    if problems:
        raise UserError(f"{path}: {'; '.join(problems)}")
    handle = h5py.File(path, "r")
    spec = get_system(str(handle.attrs["system"]))
    if expected_system is not None and spec.name != expected_system:
        handle.close()
        raise UserError(f"{path} holds a {spec.name} ensemble, not {expected_system}")
    config = config_from_dict(spec.config_type, json.loads(handle.attrs["config"]))
    attrs = {
        key: (value.item() if isinstance(value, np.generic) else value)
        for key, value in handle.attrs.items()
    }
    return Ensemble(path, handle, spec, config, str(handle.attrs["source"]), attrs)


def open_generated(path: Path, system: str) -> Ensemble:
    """Open a simulator split of ``system`` that a command needs; a missing file says how to
    generate it."""
    return open_ensemble(
        path, hint=f"generate it first with: slsim generate {system}", expected_system=system
    )


def verdict(path: Path, deep: bool = False) -> tuple[bool, str]:
    """``(ok, one-line summary)`` for ``slsim info``: schema, and values finite (all of them
    with ``deep``, else up to :data:`INFO_SCAN_BYTES` per dataset spread over the file)."""
    problems = check_ensemble(path, deep=deep, scan_bytes=INFO_SCAN_BYTES)
    if problems:
        return False, f"INVALID: {'; '.join(problems)}"
    with h5py.File(path, "r") as handle:
        system = handle.attrs["system"]
        source = handle.attrs["source"]
        n = int(handle.attrs["n_trajectories"])
        frames = handle["time"].shape[0]
        names = stored_variables(get_system(str(system)), str(source))
        sampled = not deep and any(handle[name].nbytes > INFO_SCAN_BYTES for name in names)
    scanned = "a sample; --deep: all" if sampled else "all"
    return True, (
        f"OK: {system} ensemble from {source}, {n} trajectories × {frames} frames, "
        f"values finite ({scanned})"
    )


#: Root attributes ``slsim info`` shows, those that the file has.
INFO_ATTRS = (
    "system",
    "source",
    "split",
    "n_trajectories",
    "master_seed",
    "slsim_version",
    "created",
    "checkpoint",
)


def describe(path: Path) -> list[tuple[str, str]]:
    """``(name, value)`` rows of ``slsim info`` for a valid file: its provenance, the shape and
    dtype of each stored dataset, the time axis and the configuration."""
    with h5py.File(path, "r") as handle:
        rows = [(key, str(handle.attrs[key])) for key in INFO_ATTRS if key in handle.attrs]
        for name, dataset in handle.items():
            if name != "trajectory" and not dataset.is_scale:
                rows.append((f"dataset {name}", f"{dataset.shape} {dataset.dtype}"))
        time = handle["time"][...]
        rows.append(("time", f"{time[0]:g} … {time[-1]:g} ({time.size} frames)"))
        rows.append(("config", str(handle.attrs["config"])))
    return rows
