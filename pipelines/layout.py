"""Where slsim keeps things by default: ``data/<system>/{train,test}.h5`` and ``runs/<name>/``."""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

DATA_ENV = "SLSIM_DATA"


def data_root(override: Path | None = None) -> Path:
    """``override``, else ``$SLSIM_DATA``, else ``./data``."""
    if override is not None:
        return Path(override)
    return Path(os.environ.get(DATA_ENV, "data"))


def split_path(system: str, split: str, root: Path | None = None) -> Path:
    return data_root(root) / system / f"{split}.h5"


def runs_dir(system: str, root: Path | None = None) -> Path:
    return data_root(root) / system / "runs"


def run_dir(system: str, name: str, root: Path | None = None) -> Path:
    return runs_dir(system, root) / name


def samples_name(labels: str = "gaussian") -> str:
    """A run's samples file for SL's label law: ``samples.h5`` (fresh Gaussian labels, and every
    other method), ``samples-<law>.h5`` otherwise, so that both can sit in a run."""
    return "samples.h5" if labels == "gaussian" else f"samples-{labels}.h5"


def sampled_runs(system: str, root: Path | None = None) -> list[Path]:
    """Every samples file of ``system``'s runs: ``runs/*/samples.h5`` and ``samples-<law>.h5``."""
    runs = runs_dir(system, root)
    return sorted([*runs.glob(f"*/{samples_name()}"), *runs.glob("*/samples-*.h5")])


def reports_dir(system: str, root: Path | None = None) -> Path:
    return data_root(root) / system / "reports"


def slsim_version() -> str:
    try:
        return metadata.version("slsim")
    except metadata.PackageNotFoundError:  # running from a source tree without installing
        return "0+unknown"
