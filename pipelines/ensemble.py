"""Self-describing HDF5 ensemble files: schema, atomic writing, reading and validation.

Layout (docs/data-format.md): one float32 dataset per variable, ``(trajectory, time,
[component | y, x])``, chunked and lzf-compressed; coordinate datasets ``trajectory``,
``time``, ``component``/``x``/``y`` attached as HDF5 dimension scales so that
``xarray.open_dataset(path, engine="h5netcdf")`` names every dimension; simulator files also
hold each trajectory's ``seed`` and random inputs. Root attributes carry the system, the full
configuration as JSON, the source, seeds and provenance.
"""

from __future__ import annotations

import contextlib
import json
import os
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
from .layout import slsim_version

SCHEMA_VERSION = 1
SIMULATOR = "simulator"
SURROGATE_PREFIX = "surrogate:"
REQUIRED_ATTRS = ("slsim_schema", "system", "config", "source", "n_trajectories")
_CHUNK_TARGET_BYTES = 1 << 18


def ensure_directory(directory: Path) -> Path:
    """Create ``directory`` (and parents) or raise a one-line :class:`UserError`."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create directory {directory}: {err.strerror}") from None
    if not os.access(directory, os.W_OK):
        raise UserError(f"cannot write to {directory}: permission denied")
    return directory


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    A crash or Ctrl-C leaves the previous ``path`` (if any) untouched and no partial file.
    """
    path = Path(path)
    ensure_directory(path.parent)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
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
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        for key, value in self.extra.items():
            attrs[key] = value if isinstance(value, str | int | float) else json.dumps(value)
        return attrs


def stored_variables(spec: SystemSpec, source: str) -> tuple[str, ...]:
    """Simulator files hold every variable; surrogate files only the learned state."""
    if source == SIMULATOR:
        return tuple(v.name for v in spec.variables)
    return spec.state_variables


def create_ensemble(path: Path, spec: SystemSpec, header: EnsembleHeader) -> h5py.File:
    """Create an empty ensemble file with every dataset, coordinate and attribute in place.

    The caller fills the variables (and ``seed``/``initial_index``) by trajectory slices and
    closes the file. Use inside :func:`atomic_output`.
    """
    n = header.n_trajectories
    names = stored_variables(spec, header.source)
    coords = spec.coordinates(header.config)
    shapes = spec.shapes(header.config, n)
    handle = h5py.File(path, "w")
    try:
        scales = {
            "trajectory": handle.create_dataset("trajectory", data=np.arange(n, dtype=np.int64))
        }
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
                compression="lzf",
                shuffle=True,
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
    except BaseException:
        handle.close()
        raise
    return handle


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


def check_ensemble(path: Path, deep: bool = False) -> list[str]:
    """Everything wrong with the file at ``path`` (empty list: valid).

    ``deep`` also scans every value for NaN/inf (reads the whole file).
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
        if deep and not problems and spec is not None:
            for name in stored_variables(spec, str(handle.attrs["source"])):
                dset = handle[name]
                for start in range(0, dset.shape[0], dset.chunks[0]):
                    block = dset[start : start + dset.chunks[0]]
                    if not np.all(np.isfinite(block)):
                        problems.append(
                            f"dataset '{name}' has non-finite values near trajectory {start}"
                        )
                        break
    return problems


def open_ensemble(path: Path, hint: str = "") -> Ensemble:
    """Open and validate an ensemble; a missing or malformed file raises :class:`UserError`
    in one line (``hint`` is appended when the file does not exist)."""
    path = Path(path)
    if hint and not path.exists():
        raise UserError(f"{path} does not exist; {hint}")
    problems = check_ensemble(path)
    if problems:
        raise UserError(f"{path}: {'; '.join(problems)}")
    handle = h5py.File(path, "r")
    spec = get_system(str(handle.attrs["system"]))
    config = config_from_dict(spec.config_type, json.loads(handle.attrs["config"]))
    attrs = {
        key: (value.item() if isinstance(value, np.generic) else value)
        for key, value in handle.attrs.items()
    }
    return Ensemble(path, handle, spec, config, str(handle.attrs["source"]), attrs)


def verdict(path: Path, deep: bool = False) -> tuple[bool, str]:
    """``(ok, one-line summary)`` for ``slsim info``."""
    problems = check_ensemble(path, deep=deep)
    if problems:
        return False, f"INVALID: {'; '.join(problems)}"
    with h5py.File(path, "r") as handle:
        system = handle.attrs["system"]
        source = handle.attrs["source"]
        n = int(handle.attrs["n_trajectories"])
        frames = handle["time"].shape[0]
    return True, f"OK: {system} ensemble from {source}, {n} trajectories × {frames} frames"
