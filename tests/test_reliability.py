"""Issue 15: nothing silently wrong (NaN, wrong system), nothing left behind (temporaries, locks,
disk full, bad seeds), Ctrl-C with its hint, thread counts, help texts, reproducible files."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from slsim.pipelines import cli, ensemble, generation
from slsim.pipelines.cli import app
from slsim.pipelines.ensemble import EnsembleHeader, write_ensemble
from slsim.pipelines.errors import UserError
from slsim.pipelines.generation import generate, output_lock
from slsim.pipelines.progress import PlainProgress
from slsim.pipelines.threads import choose_threads, configure_threads
from slsim.simulators import ConfigError, get_system

from .conftest import generation_job

runner = CliRunner()
TINY = ["--set", "t_end=2", "--set", "n_frames=21", "--set", "dt=0.02"]


def invoke(*args: str):
    """Run the CLI in this process; return the result (exceptions are in result.exception)."""
    return runner.invoke(app, list(args))


def slsim(*args: str, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    """The real console entry point in a subprocess."""
    code = "from slsim.pipelines.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def one_line_error(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr


def leftovers(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")) if directory else []


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """A tiny Duffing train (32) / test (16) pair under <root>/duffing/."""
    root = tmp_path_factory.mktemp("reliability") / "data"
    result = invoke("generate", "duffing", "--n", "32", "--n-test", "16", *TINY, "-q",
                    "--data-dir", str(root))  # fmt: skip
    assert result.exit_code == 0, result.output
    return root


def _samples(tiny_data: Path, path: Path, fill: float | None = None) -> Path:
    """A surrogate-like samples file: the test trajectories, optionally with one bad value."""
    spec = get_system("duffing")
    with h5py.File(tiny_data / "duffing" / "test.h5") as test:
        state = test["state"][...]
    if fill is not None:
        state[3, 7, 0] = fill
    with ensemble.open_ensemble(tiny_data / "duffing" / "test.h5") as test:
        config = test.config
    header = EnsembleHeader("duffing", config, "surrogate:sl", "samples", 0, len(state))
    return write_ensemble(
        path, spec, header, {"state": state, "initial_index": np.arange(len(state))}
    )


# --- NaN at every stage --------------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_non_finite_parameters_are_refused(value):
    result = invoke("generate", "duffing", "--set", f"sigma={value}")
    assert isinstance(result.exception, ConfigError)
    assert "parameter 'sigma' must be a finite number" in str(result.exception)


def test_generation_refuses_non_finite_output_and_leaves_nothing(tmp_path):
    result = slsim("generate", "duffing", "--set", "sigma=1e308", "--n", "20", "--n-test", "0",
                   *TINY, "-q", cwd=tmp_path)  # fmt: skip
    one_line_error(result, "produced NaN/inf in 'state' for 20 of 20 trajectories")
    assert leftovers(tmp_path / "data" / "duffing") == []


def test_info_finds_nan_without_deep(tmp_path, tiny_data):
    path = _samples(tiny_data, tmp_path / "samples.h5", fill=float("nan"))
    result = invoke("info", str(path))
    assert result.exit_code == 1
    assert "INVALID: dataset 'state' has non-finite values" in result.output
    good = invoke("info", str(tiny_data / "duffing" / "test.h5"))
    assert good.exit_code == 0
    assert "values finite (all)" in good.output


def test_info_finds_a_damaged_chunk_by_its_checksum(tmp_path, tiny_duffing):
    job = generation_job("duffing", tiny_duffing, tmp_path / "train.h5", n=3000, shard_size=3000)
    generate(job)
    with h5py.File(job.output) as handle:
        chunk = handle["state"].id.get_chunk_info(1)  # trajectories 1560…
    with open(job.output, "r+b") as raw:
        raw.seek(chunk.byte_offset + chunk.size // 2)
        raw.write(b"\0" * 1000)  # zeros decompress to finite numbers: only the checksum tells
    result = invoke("info", str(job.output))
    assert result.exit_code == 1
    assert "INVALID: dataset 'state' cannot be read near trajectory 1560" in result.output


def test_finiteness_scan_reads_evenly_spread_rows_within_its_budget(tmp_path, tiny_data):
    with h5py.File(tmp_path / "x.h5", "w") as handle:
        dataset = handle.create_dataset("u", data=np.zeros((10, 4), np.float32), chunks=(1, 4))
        dataset[5, 2] = np.nan
        assert ensemble.nonfinite(dataset, budget=32) is None  # rows 0 and 9 only
        assert "near trajectory 5" in ensemble.nonfinite(dataset, budget=10 * 16)
        assert "near trajectory 5" in ensemble.nonfinite(dataset)


def test_info_says_when_it_only_sampled(tiny_data, monkeypatch):
    monkeypatch.setattr(ensemble, "INFO_SCAN_BYTES", 64)  # far below the dataset's size
    ok, line = ensemble.verdict(tiny_data / "duffing" / "test.h5")
    assert ok and line.endswith("values finite (a sample; --deep: all)")
    ok, line = ensemble.verdict(tiny_data / "duffing" / "test.h5", deep=True)
    assert ok and line.endswith("values finite (all)")


def test_compare_refuses_non_finite_candidates_and_targets(tmp_path, tiny_data):
    bad = _samples(tiny_data, tmp_path / "bad.h5", fill=float("nan"))
    result = invoke("compare", str(bad), "--system", "duffing", "--data-dir", str(tiny_data),
                    "--out", str(tmp_path / "report"), "--no-plots")  # fmt: skip
    assert isinstance(result.exception, UserError)
    assert "bad.h5: dataset 'state' has non-finite values" in str(result.exception)
    assert not (tmp_path / "report").exists()

    target = tmp_path / "data" / "duffing"
    target.mkdir(parents=True)
    for split in ("train", "test"):
        (target / f"{split}.h5").write_bytes((tiny_data / "duffing" / f"{split}.h5").read_bytes())
    with h5py.File(target / "test.h5", "r+") as handle:
        handle["state"][2, 4, 1] = np.inf
    good = _samples(tiny_data, tmp_path / "good.h5")
    result = invoke("compare", str(good), "--system", "duffing", "--data-dir",
                    str(tmp_path / "data"), "--no-plots")  # fmt: skip
    assert isinstance(result.exception, UserError)
    assert "test.h5: dataset 'state' has non-finite values" in str(result.exception)


def test_sample_refuses_non_finite_rollouts_and_writes_nothing(tmp_path, tiny_data, monkeypatch):
    from slsim.pipelines import sampling

    root = tmp_path / "data"
    (root / "duffing").mkdir(parents=True)
    for split in ("train", "test"):
        (root / "duffing" / f"{split}.h5").write_bytes(
            (tiny_data / "duffing" / f"{split}.h5").read_bytes()
        )
    trained = invoke("train", "duffing", "--preset", "smoke", "--data-dir", str(root), "-q")
    assert trained.exit_code == 0, trained.output
    real = sampling.rollout

    def diverging(*args, **kwargs):
        frames = real(*args, **kwargs)
        frames[5, 3] = float("nan")
        return frames

    monkeypatch.setattr(sampling, "rollout", diverging)
    result = invoke("sample", "duffing", "--data-dir", str(root), "-q")
    assert isinstance(result.exception, UserError)
    assert "generated NaN or inf in 1 of 16 trajectories" in str(result.exception)
    assert not (root / "duffing" / "runs" / "sl" / "samples.h5").exists()


# --- wrong system's file -------------------------------------------------------------------


def test_another_systems_file_is_refused_by_train_sample_and_compare(tmp_path, tiny_data):
    (tmp_path / "wave").mkdir()
    for split in ("train", "test"):
        (tmp_path / "wave" / f"{split}.h5").write_bytes(
            (tiny_data / "duffing" / f"{split}.h5").read_bytes()
        )
    d = ["--data-dir", str(tmp_path)]
    for args in (["train", "wave", "--preset", "smoke"], ["sample", "wave"],
                 ["compare", "--system", "wave"]):  # fmt: skip
        result = invoke(*args, *d)
        assert isinstance(result.exception, UserError), args
        assert "holds a duffing ensemble, not wave" in str(result.exception)
    assert not (tmp_path / "wave" / "runs").exists()
    assert not (tmp_path / "wave" / "reports").exists()


# --- nothing left behind -------------------------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_rerun_removes_temporaries_of_dead_processes_only(tmp_path, tiny_duffing):
    out = tmp_path / "train.h5"
    stale = tmp_path / f".train.h5.tmp-{_dead_pid()}"
    stale.write_bytes(b"x" * 1000)
    stale_gif = tmp_path / f".rollouts.gif.tmp-{_dead_pid()}.gif"  # a temporary with a suffix
    stale_gif.write_bytes(b"x")
    alive = tmp_path / ".test.h5.tmp-1"  # pid 1 always runs
    alive.write_bytes(b"x")
    job = generation_job("duffing", tiny_duffing, out, n=8, shard_size=4)
    job.shard_dir.mkdir()  # an unfinished run, killed while writing its first shard
    (job.shard_dir / "manifest.json").write_text(json.dumps(job.manifest()))
    stale_shard = job.shard_dir / f".shard-00000.h5.tmp-{_dead_pid()}"
    stale_shard.write_bytes(b"x")
    generate(job)
    assert out.exists()
    assert not stale.exists() and not stale_shard.exists() and not stale_gif.exists()
    assert alive.exists()


def test_a_second_generation_of_the_same_output_is_refused(tmp_path, tiny_duffing):
    job = generation_job("duffing", tiny_duffing, tmp_path / "a.h5", n=8, shard_size=4)
    with output_lock(job.output):
        with pytest.raises(UserError, match=rf"another slsim process \(pid {os.getpid()}\)"):
            generate(job)
        assert not job.shard_dir.exists()
    assert not (tmp_path / ".a.h5.lock").exists()  # released and removed
    generate(job)
    assert not (tmp_path / ".a.h5.lock").exists()


def test_the_lock_is_refused_across_processes_with_one_line(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; "
         "from slsim.pipelines.generation import output_lock\n"
         "with output_lock(Path('data/duffing/train.h5')):\n"
         "    print('locked', flush=True); time.sleep(60)"],
        cwd=tmp_path, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = slsim("generate", "duffing", "--n", "8", "--n-test", "0", *TINY, cwd=tmp_path)
        one_line_error(result, f"is being generated by another slsim process (pid {holder.pid})")
    finally:
        holder.kill()
        holder.wait()


def test_disk_full_while_writing_is_one_user_error_and_nothing_is_left(
    tmp_path, tiny_duffing, monkeypatch
):
    class SmallDisk(io.FileIO):
        def write(self, data):
            if self.tell() > 20_000:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    class Full(ensemble._DeferredErrorFile, SmallDisk):
        pass

    monkeypatch.setattr(ensemble, "_DeferredErrorFile", Full)
    job = generation_job("duffing", tiny_duffing, tmp_path / "train.h5", n=2000, shard_size=2000)
    with pytest.raises(UserError, match="No space left on device; nothing was written"):
        generate(job)
    assert not job.output.exists()
    assert not list(tmp_path.rglob("*.tmp-*"))


def test_a_real_file_size_limit_gives_one_line_and_exit_2_not_a_crash(tmp_path):
    """RLIMIT_FSIZE makes writes past 1 MB fail as a full disk would (EFBIG); HDF5 used to
    crash with a segmentation fault when closing a file after a failed write."""
    limit = 1 << 20

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = slsim("generate", "duffing", "--n", "4000", "--n-test", "0", "-q",
                   cwd=tmp_path, preexec_fn=small_disk)  # fmt: skip
    one_line_error(result, "File too large")
    assert not (tmp_path / "data" / "duffing" / "train.h5").exists()
    assert not list(tmp_path.rglob("*.tmp-*"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "-1"], "--seed must be a non-negative integer, got -1"),
        (["--shard-size", "0"], "--shard-size must be a positive integer, got 0"),
        (["--shard-size", "-3"], "--shard-size must be a positive integer, got -3"),
    ],
)
def test_bad_seed_and_shard_size_are_refused_before_anything_is_created(tmp_path, args, message):
    result = invoke("generate", "duffing", "--n", "8", *args, "--data-dir", str(tmp_path / "d"))
    assert isinstance(result.exception, UserError)
    assert message in str(result.exception)
    assert not (tmp_path / "d").exists()


def test_corrupt_checkpoint_is_one_line_in_sample_and_demo(tmp_path, tiny_data):
    root = tmp_path / "data"
    (root / "duffing" / "runs" / "sl").mkdir(parents=True)
    for split in ("train", "test"):
        (root / "duffing" / f"{split}.h5").write_bytes(
            (tiny_data / "duffing" / f"{split}.h5").read_bytes()
        )
    (root / "duffing" / "runs" / "sl" / "checkpoint.pt").write_bytes(b"PK\x03\x04 not a zip")
    for args in (["sample", "duffing", "--data-dir", str(root), "-q"],
                 ["demo", "duffing", "--data-dir", str(root), "-q"]):  # fmt: skip
        result = invoke(*args)
        assert isinstance(result.exception, UserError), result.output
        message = str(result.exception)
        assert "\n" not in message
        assert message.startswith("cannot read checkpoint")
        assert "corrupt or not an slsim checkpoint" in message


# --- Ctrl-C ----------------------------------------------------------------------------------


def test_ctrl_c_prints_the_resume_hint_and_exits_130(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(generation, "generate", interrupted)
    monkeypatch.setattr(sys, "argv", ["slsim", "generate", "duffing", "--n", "8", "-q"])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 130
    assert "interrupted; run the same command again to resume" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_to_the_process_group_stops_a_two_worker_run(tmp_path):
    """A terminal sends SIGINT to every process of the group; it used to be swallowed once in
    two runs (in a finaliser) while the dask workers died, and the run went on."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from slsim.pipelines.cli import main; main()", "generate",
         "duffing", "--n", "400000", "--n-test", "0", "--shard-size", "5000", "--workers", "2",
         "-q"],
        cwd=tmp_path, start_new_session=True, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    shards = tmp_path / "data" / "duffing" / ".train.shards"
    deadline = time.monotonic() + 120
    while not list(shards.glob("shard-*.h5")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert "interrupted; run the same command again to resume" in stderr
    assert not (tmp_path / "data" / "duffing" / "train.h5").exists()
    assert not list(tmp_path.rglob("*.tmp-*"))


# --- friendliness ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "defaults"),
    [
        ("generate", ["[default: per system, duffing 10000, flow 1000, wave 1024]", "[default: 0]",
                      "trajectories per shard (resume granularity) [default: per system]"]),
        ("train", ["[default: the method]", "[default: fast]"]),
        ("sample", ["[default: size of the test split]", "[default: DATA/<system>/runs/<run>/"]),
        ("compare", ["[default: the only one with runs]", "[default: DATA/<system>/reports/"]),
    ],
)  # fmt: skip
def test_help_shows_every_default_and_whole_sentences(command, defaults):
    result = runner.invoke(app, [command, "--help"], terminal_width=100)
    assert result.exit_code == 0
    text = " ".join(result.output.split())  # the help is rewrapped to the terminal
    for default in defaults:
        assert default in text, default
    assert "--threads" in result.output
    if command == "generate":
        assert "an interrupted run resumes when the same command is run again" in text


def test_default_test_split_is_proportional_and_sizes_are_printed_first(tmp_path):
    result = invoke("generate", "duffing", "--n", "10", *TINY, "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "generating duffing: train 10 trajectories" in result.output
    assert "test 10 trajectories" in result.output
    with h5py.File(tmp_path / "duffing" / "test.h5") as handle:
        assert handle["state"].shape[0] == 10


def test_progress_is_printed_as_plain_lines_when_not_on_a_terminal(capsys):
    progress = PlainProgress(interval=3600)
    task = progress.add_task("train duffing sl", total=100)
    for _ in range(99):
        progress.advance(task, 1)  # within the interval: silent
    progress.update(task, completed=100, description="train duffing sl loss 0.1")
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "train duffing sl: 0/100 (0 %), 0 s elapsed",
        "train duffing sl loss 0.1: 100/100 (100 %), 0 s elapsed",
    ]
    often = PlainProgress(interval=0)
    task = often.add_task("generate", total=3)
    often.advance(task, 1)
    assert len(capsys.readouterr().err.splitlines()) == 2


def test_compare_checks_the_report_folder_before_computing(tmp_path, tiny_data, monkeypatch):
    from slsim.pipelines import compare

    def must_not_run(*args, **kwargs):
        raise AssertionError("compared before checking the report folder")

    monkeypatch.setattr(compare, "compare", must_not_run)
    (tmp_path / "blocker").write_text("a file where the report folder should be")
    result = invoke("compare", "--system", "duffing", "--data-dir", str(tiny_data),
                    "--out", str(tmp_path / "blocker" / "report"))  # fmt: skip
    assert isinstance(result.exception, UserError)
    assert "is not a directory" in str(result.exception)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_compare_refuses_a_read_only_report_folder(tmp_path, tiny_data):
    folder = tmp_path / "report"
    folder.mkdir()
    folder.chmod(0o555)
    result = invoke("compare", "--system", "duffing", "--data-dir", str(tiny_data),
                    "--out", str(folder))  # fmt: skip
    assert isinstance(result.exception, UserError)
    assert "permission denied" in str(result.exception)


def test_source_date_epoch_makes_files_byte_identical(tmp_path, tiny_duffing, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    digests = []
    for name in ("a", "b"):
        job = generation_job(
            "duffing", tiny_duffing, tmp_path / name / "train.h5", n=8, shard_size=3, seed=5
        )
        digests.append(hashlib.sha256(generate(job).read_bytes()).hexdigest())
        with h5py.File(job.output) as handle:
            assert handle.attrs["created"] == "2023-11-14T22:13:20+00:00"
    assert digests[0] == digests[1]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(UserError, match="SOURCE_DATE_EPOCH must be a whole number"):
        generate(
            generation_job("duffing", tiny_duffing, tmp_path / "c.h5", n=8, shard_size=8, seed=5)
        )
    assert not (tmp_path / "c.h5").exists()


# --- threads ---------------------------------------------------------------------------------


def test_thread_counts_are_chosen_deliberately(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert choose_threads(None, small_model=True) == 1
    assert choose_threads(None) == len(os.sched_getaffinity(0))
    assert choose_threads(3, small_model=True) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert choose_threads(None, small_model=True) == 2
    with pytest.raises(UserError, match="--threads must be a positive integer"):
        choose_threads(0)
    before = torch.get_num_threads()
    try:
        assert configure_threads(3, use_torch=True) == 3
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
