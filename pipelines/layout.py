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


def reports_dir(system: str, root: Path | None = None) -> Path:
    return data_root(root) / system / "reports"


def slsim_version() -> str:
    try:
        return metadata.version("slsim")
    except metadata.PackageNotFoundError:  # running from a source tree without installing
        return "0+unknown"
