"""Extending slsim: a toy system, method and QoI, each registered in its registry and nowhere
else, appear in the CLI's help and go through generate → train → sample → compare."""

from __future__ import annotations

import dataclasses
import importlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from slsim.pipelines import options
from slsim.pipelines.cli import app
from slsim.pipelines.ensemble import check_ensemble
from slsim.pipelines.qoi import METRICS, Metric, chunked
from slsim.simulators import SYSTEMS
from slsim.simulators.config import param, require
from slsim.simulators.seeding import trajectory_rng
from slsim.simulators.system import Coordinate, SystemSpec, Variable
from slsim.surrogate.methods import METHODS

runner = CliRunner()


@dataclass(frozen=True)
class WalkConfig:
    """A Gaussian random walk in the plane."""

    n_frames: int = param(6, "stored frames, the starting point included")
    step: float = param(0.1, "standard deviation of each step", "1")

    def validate(self) -> None:
        require(self.n_frames >= 2, f"n_frames must be ≥ 2, got {self.n_frames}")


def _coordinates(config: WalkConfig) -> dict[str, Coordinate]:
    return {
        "time": Coordinate(np.arange(config.n_frames, dtype=np.float64), "1", "step"),
        "component": Coordinate(np.array(["x", "y"]), "", "position component"),
    }


def _simulate(config: WalkConfig, seeds: np.ndarray) -> dict[str, np.ndarray]:
    steps = [trajectory_rng(seed).normal(0, config.step, (config.n_frames, 2)) for seed in seeds]
    return {"state": np.cumsum(steps, axis=1).astype(np.float32)}


#: The fourth system.
WALK = SystemSpec(
    name="walk",
    summary="a Gaussian random walk in the plane",
    config_type=WalkConfig,
    variables=(Variable("state", ("trajectory", "time", "component"), "1", "position"),),
    state_variables=("state",),
    coordinates=_coordinates,
    simulate=_simulate,
    default_n_train=40,
    default_n_test=20,
    default_shard_size=16,
    markov_window=1,
    state_kind="vector",
)
#: The seventh method: MSE's regression under another name, standing in for a new module.
DRIFT = dataclasses.replace(METHODS["mse"], name="drift", summary="toy regression of the step")


def _travel(arrays, n: int, params) -> np.ndarray:
    return chunked(arrays["state"], n, lambda s: np.linalg.norm(s[:, -1] - s[:, 0], axis=-1))


#: The new QoI: how far a walk ends from where it started.
TRAVEL = Metric("WTD", "travel", "W2 of the distance from the first to the last position", _travel)


@pytest.fixture(scope="module")
def registered():
    """The toy system, method and QoI registered, and the help texts rebuilt from the
    registries, as a process that registers them before it imports the CLI has them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(SYSTEMS, "walk", WALK)
        patch.setitem(METHODS, "drift", DRIFT)
        patch.setitem(METRICS, "walk", (TRAVEL,))
        importlib.reload(options)
        yield
    importlib.reload(options)


def invoke(*args: str) -> str:
    """Run the CLI in this process; its output with the help's line breaks undone."""
    result = runner.invoke(app, list(args), terminal_width=200)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def walk_data(registered, tmp_path_factory) -> Path:
    """The walk's train (40) and test (20) splits, at the sizes its spec declares."""
    root = tmp_path_factory.mktemp("extension") / "data"
    invoke("generate", "walk", "--data-dir", str(root), "-q")
    return root


@pytest.fixture(scope="module")
def drift_run(walk_data) -> Path:
    """The drift method trained on the walk with the smoke preset."""
    invoke("train", "walk", "--method", "drift", "--preset", "smoke", "--data-dir", str(walk_data))
    return walk_data / "walk" / "runs" / "drift"


def test_a_registered_system_is_in_the_help_and_is_generated(walk_data):
    for command in ("generate", "train", "sample", "demo"):
        assert "stochastic system: duffing, flow, wave, walk" in invoke(command, "--help")
    assert "duffing 10000, flow 1000, wave 1024, walk 40]" in invoke("generate", "--help")
    for split, n in (("train", 40), ("test", 20)):
        path = walk_data / "walk" / f"{split}.h5"
        assert check_ensemble(path, deep=True) == []
        assert f"OK: walk ensemble from simulator, {n} trajectories × 6 frames" in invoke(
            "info", str(path)
        )


def test_a_registered_method_is_in_the_help_and_trains(drift_run):
    assert "drift (toy regression of the step)" in invoke("train", "--help")
    assert "drift" not in invoke("sample", "--help")  # one call per frame: no --steps
    assert (drift_run / "checkpoint.pt").exists()
    config = json.loads((drift_run / "config.json").read_text())
    assert config["train"]["method"] == "drift"
    assert config["train"]["iterations"] == 200  # the smoke preset of vector states


def test_a_registered_qoi_is_in_the_help_and_reported_by_compare(drift_run, tmp_path):
    assert "crossing-time, integrated-mass, state, travel, all" in invoke("compare", "--help")
    data = ["--data-dir", str(drift_run.parents[2])]
    invoke("sample", "walk", "--run", "drift", *data, "-q")
    output = invoke("compare", "--qoi", "travel", "--out", str(tmp_path), "--no-plots", *data)
    assert "walk: distance to the held-out simulator ensemble" in output
    rows = json.loads((tmp_path / "comparison.json").read_text())["rows"]
    assert [(row["candidate"], row["metric"], row["qoi"]) for row in rows] == [
        ("drift", "WTD", "travel")
    ]
    assert rows[0]["value"] > 0 and rows[0]["noise_floor"] > 0
