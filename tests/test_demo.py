"""The field demos train their runs side by side, one process each: the same runs as in one
process, Ctrl-C saves both and the demo resumes, a user error in a run is one line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from slsim.pipelines import cli
from slsim.pipelines import demo as demo_module
from slsim.pipelines.progress import LazyProgress, training_progress
from slsim.pipelines.side_by_side import train_side_by_side
from slsim.pipelines.training import TrainRequest, run_training
from slsim.surrogate.checkpoint import load_checkpoint

TINY_WAVE = ["n_grid=32", "subsample=2", "dt=0.02", "t_end=0.4", "n_frames=9"]
#: A UNet small enough for ~10 ms steps; log_every=5 shows when a run is inside its loop.
TINY_UNET = {
    "channels": "8,16",
    "emb_dim": "16",
    "batch_size": "8",
    "validate_trajectories": "4",
    "train_trajectories": "8",
    "log_every": "5",
}


def tiny_demo(iterations: int) -> dict:
    """The wave demo's settings at a test's size."""
    recipe = [f"{key}={value}" for key, value in TINY_UNET.items()] + [f"iterations={iterations}"]
    runs = {"sl": ("sl", "cpu", recipe), "mse": ("mse", "cpu", recipe)}
    return {**demo_module.DEMOS["wave"], "n": 12, "n_test": 8, "set": TINY_WAVE, "runs": runs}


@pytest.fixture(scope="module")
def wave_data(tmp_path_factory) -> Path:
    """A tiny wave train (12) and test (8) split."""
    root = tmp_path_factory.mktemp("demo") / "data"
    tiny = [arg for value in TINY_WAVE for arg in ("--set", value)]
    result = CliRunner().invoke(cli.app, ["generate", "wave", "--n", "12", "--n-test", "8",
                                          *tiny, "--data-dir", str(root), "-q"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return root


def requests(root: Path, data: Path, iterations: int) -> dict[str, TrainRequest]:
    """The tiny demo's SL and MSE runs on ``data``'s training file, into ``root``."""
    overrides = {**TINY_UNET, "iterations": str(iterations)}
    return {
        method: TrainRequest(
            system="wave",
            train_file=data / "wave" / "train.h5",
            run_dir=root / method,
            method=method,
            preset="cpu",
            overrides=overrides,
            device=torch.device("cpu"),
        )
        for method in ("sl", "mse")
    }


def train_here_on_one_thread(root: Path, data: Path, iterations: int) -> None:
    """The same runs trained in this process on one thread, like each side-by-side process:
    convolutions sum in another order on more threads, so only equal thread counts agree."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for request in requests(root, data, iterations).values():
            run_training(request)
    finally:
        torch.set_num_threads(threads)


def assert_same_weights(a: Path, b: Path) -> None:
    """The finished runs ``a/<name>`` and ``b/<name>`` hold the same weights, bit for bit."""
    for name in ("sl", "mse"):
        first, second = (load_checkpoint(root / name / "checkpoint.pt") for root in (a, b))
        assert first["finished"] and second["finished"]
        for key, value in first["model"].items():
            assert torch.equal(value, second["model"][key]), (name, key)


def test_runs_trained_side_by_side_equal_runs_trained_in_this_process(wave_data, tmp_path, capsys):
    shown: list[str] = []
    side = requests(tmp_path / "side", wave_data, 20)
    with LazyProgress(quiet=False) as progress:  # plain lines: stderr is not a terminal here
        callbacks = {name: training_progress(progress, f"train wave {name}") for name in side}
        train_side_by_side(side, processes=2, threads=1, callbacks=callbacks, show=shown.append)
    assert sorted(shown) == [f"trained {tmp_path / 'side' / name / 'checkpoint.pt'} on cpu"
                             for name in ("mse", "sl")]  # fmt: skip
    progress_lines = capsys.readouterr().err.splitlines()
    for method in ("sl", "mse"):  # each run's start and end, relayed from its process
        assert f"train wave {method}: 0/20 (0 %), 0 s elapsed" in progress_lines
        assert any(
            line.startswith(f"train wave {method} loss ") and "20/20 (100 %)" in line
            for line in progress_lines
        )
    train_here_on_one_thread(tmp_path / "here", wave_data, 20)
    assert_same_weights(tmp_path / "side", tmp_path / "here")


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    listed = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True)
    return [int(child) for child in listed.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_saves_both_runs_at_a_step_and_the_demo_resumes(wave_data, tmp_path, monkeypatch):
    """A terminal's Ctrl-C (SIGINT to the demo's process group) is relayed once to both training
    processes; both save at a step boundary, nothing is left running, and the rerun continues
    to the same runs as an uninterrupted training."""
    root = tmp_path / "data"
    shutil.copytree(wave_data, root)
    settings = tiny_demo(120)
    code = (  # the processes are forced side by side even on a 1-CPU machine
        "from slsim.pipelines import cli, demo; demo.available_cpus = lambda: 2; "
        f"demo.DEMOS['wave'] = {settings!r}; cli.main()"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, "demo", "wave", "--data-dir", str(root), "-q"],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    runs = root / "wave" / "runs"
    deadline = time.monotonic() + 120
    try:
        while not all((runs / name / "history.csv").exists() for name in ("sl", "mse")):
            assert process.poll() is None and time.monotonic() < deadline, "no runs started"
            time.sleep(0.05)  # until both are inside their training loop
        children = _children(process.pid)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert stderr.strip() == cli.INTERRUPTED
    assert len(children) >= 2  # the training processes (and multiprocessing's tracker)
    deadline = time.monotonic() + 10
    while any(_alive(child) for child in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(child) for child in children)
    for name in ("sl", "mse"):
        saved = load_checkpoint(runs / name / "checkpoint.pt")
        assert 5 <= saved["step"] < 120 and not saved["finished"]

    monkeypatch.setattr(demo_module, "available_cpus", lambda: 2)
    monkeypatch.setitem(demo_module.DEMOS, "wave", settings)
    resumed = CliRunner().invoke(cli.app, ["demo", "wave", "--data-dir", str(root), "-q"])
    assert resumed.exit_code == 0, (resumed.output, resumed.exception)
    assert (root / "wave" / "reports" / "compare" / "comparison.json").exists()
    train_here_on_one_thread(tmp_path / "here", wave_data, 120)
    assert_same_weights(runs, tmp_path / "here")


def test_a_user_error_in_a_training_process_is_one_line(tmp_path, monkeypatch, capsys):
    for split in ("train", "test"):
        path = tmp_path / "wave" / f"{split}.h5"
        path.parent.mkdir(exist_ok=True)
        path.write_text("not an HDF5 file")
    monkeypatch.setattr(demo_module, "available_cpus", lambda: 2)
    monkeypatch.setitem(demo_module.DEMOS, "wave", tiny_demo(20))
    monkeypatch.setattr(sys, "argv", ["slsim", "demo", "wave", "--data-dir", str(tmp_path), "-q"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 2
    train_file = tmp_path / "wave" / "train.h5"
    assert capsys.readouterr().err == f"error: {train_file}: not a readable HDF5 file\n"
