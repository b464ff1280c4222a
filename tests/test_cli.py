"""The command line: help texts, one-line user errors with non-zero exit, info verdicts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slsim.pipelines.cli import app

runner = CliRunner()


def slsim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the real console entry point (with its error handling) in a subprocess."""
    code = "from slsim.pipelines.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("command", ["generate", "train", "sample", "compare", "info", "demo"])
def test_every_command_has_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_generate_help_names_defaults_and_systems():
    result = runner.invoke(app, ["generate", "--help"], terminal_width=200)
    assert "duffing" in result.output
    assert "--seed" in result.output and "default: 0" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "lorenz"], "error: unknown system 'lorenz' (known: duffing"),
        (["generate", "duffing", "--n", "0"], "error: --n must be a positive integer, got 0"),
        (["generate", "duffing", "--set", "sigma"], "error: expected KEY=VALUE, got 'sigma'"),
        (["generate", "duffing", "--set", "gama=1"], "error: unknown parameter 'gama'"),
        (
            ["train", "duffing"],
            "train.h5 does not exist; generate it first with: slsim generate duffing",
        ),
        (["sample", "duffing", "--n", "-3"], "error: --n must be a positive integer, got -3"),
        (["compare", "--system", "duffing"], "test.h5 does not exist; generate the simulator"),
        (
            ["compare", "--system", "duffing", "--qoi", "mass"],
            "unknown quantity of interest 'mass'",
        ),
    ],
)
def test_user_errors_are_one_line_without_traceback(tmp_path, args, message):
    result = slsim(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_malformed_input_file_is_reported_and_nothing_is_written(tmp_path):
    train = tmp_path / "data" / "duffing" / "train.h5"
    train.parent.mkdir(parents=True)
    train.write_bytes(b"\x89HDF corrupted")
    result = slsim("train", "duffing", "--preset", "smoke", cwd=tmp_path)
    assert result.returncode == 2
    assert "train.h5: not a readable HDF5 file" in result.stderr
    assert not (tmp_path / "data" / "duffing" / "runs").exists()


def test_unwritable_output_location_is_a_user_error(tmp_path):
    (tmp_path / "blocker").write_text("a file where a directory should be")
    result = slsim(
        "generate",
        "duffing",
        "--n",
        "8",
        "--n-test",
        "0",
        "--data-dir",
        "blocker/data",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "cannot create directory" in result.stderr or "Not a directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_info_reports_invalid_files_with_exit_status_1(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("nope")
    result = runner.invoke(app, ["info", str(bad)])
    assert result.exit_code == 1
    assert "INVALID" in result.output


def test_show_config_prints_parameters_with_units_and_meaning():
    result = runner.invoke(app, ["generate", "duffing", "--show-config", "--set", "sigma=0.5"])
    assert result.exit_code == 0
    assert "sigma" in result.output and "0.5" in result.output
    assert "noise amplitude" in result.output


def test_training_show_config_needs_no_data(tmp_path):
    """The preset resolves from the system's spec alone (window, circular padding)."""
    args = ["train", "wave", "--preset", "cpu", "--show-config", "--data-dir", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "increment" in result.output and "circular" in result.output
