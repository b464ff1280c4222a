"""benchmarks/tune_methods.py end to end on a tiny Duffing ensemble: two methods with two
configurations each (ardm's second standardises its increment), scored on the validation split
of train.h5 while no test split exists; the record, the winners, and a second run that trains
nothing."""

from __future__ import annotations

import csv
import importlib
import json
import os
from pathlib import Path

import h5py
import pytest

from slsim.pipelines.generation import generate
from slsim.pipelines.training import validation_score

from .conftest import generation_job

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def tune_methods(monkeypatch):
    """The script as a module (it imports its sibling cpu_training.py)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("tune_methods")


@pytest.fixture
def opened(monkeypatch) -> list[Path]:
    """Every HDF5 file opened from now on."""
    paths: list[Path] = []
    original = h5py.File

    def spy(name, *args, **kwargs):
        path = name if isinstance(name, (str, os.PathLike)) else name.name  # or a file object
        paths.append(Path(path).resolve())
        return original(name, *args, **kwargs)

    monkeypatch.setattr(h5py, "File", spy)
    return paths


def test_tuning_scores_on_validation_and_picks_the_lowest_score(
    tune_methods, tiny_duffing, tmp_path, opened, capsys
):
    root = tmp_path / "data"
    train_file = root / "duffing" / "train.h5"
    generate(generation_job("duffing", tiny_duffing, train_file, n=40, shard_size=40))
    args = ["duffing", "--data-dir", str(root), "--preset", "smoke", "--methods", "sl,ardm"]
    args += ["--configs", "2", "--validate-trajectories", "8"]
    args += ["--set", "iterations=40", "--set", "steps=2"]

    tune_methods.main([*args, "--dry-run"])
    plan = capsys.readouterr().out
    assert plan.count(" new ") == 4 and "4 runs; at most 160 optimiser steps" in plan
    assert not (root / "duffing" / "runs").exists()

    opened.clear()
    tune_methods.main(args)
    assert set(opened) == {train_file.resolve()}  # test.h5 is never opened (nor does it exist)
    report = root / "duffing" / "reports" / "tuning"
    record = json.loads((report / "tuning.json").read_text())
    runs = {r["run"]: r for r in record["runs"]}
    assert set(runs) == {f"tune-{m}-{k}" for m in ("sl", "ardm") for k in (0, 1)}
    for run in runs.values():
        assert set(run["validation"]) == {"SW2", "WCT"}
        ratios = {f"val_{q}/floor": v["ratio"] for q, v in run["validation"].items()}
        assert run["score"] == pytest.approx(validation_score(ratios))
        for value in run["validation"].values():
            assert value["distance"] == pytest.approx(value["ratio"] * value["floor"])
        assert run["wall_s"] > 0 and run["cpu"]
        assert run["space"] == tune_methods.SPACES["vector"][run["method"]][run["index"]]
    for method in ("sl", "ardm"):
        best = min((r for r in runs.values() if r["method"] == method), key=lambda r: r["score"])
        assert record["winners"][method]["run"] == best["run"]
    with (report / "tuning.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["run"] for r in rows if r["winner"] == "True"} == {
        w["run"] for w in record["winners"].values()
    }
    assert "| run | configuration | score | SW2 / floor | WCT / floor | wall s |" in (
        (report / "tuning.md").read_text()
    )

    # a second run reads the records back; a run whose record was lost is rescored, untrained
    (root / "duffing" / "runs" / "tune-sl-1" / "tuning.json").unlink()
    checkpoint = root / "duffing" / "runs" / "tune-sl-1" / "checkpoint.pt"
    trained_at = checkpoint.stat().st_mtime_ns
    tune_methods.main(args)
    again = json.loads((report / "tuning.json").read_text())
    assert again["winners"] == record["winners"]
    assert [r["score"] for r in again["runs"]] == [r["score"] for r in record["runs"]]
    assert checkpoint.stat().st_mtime_ns == trained_at
    capsys.readouterr()
    tune_methods.main([*args, "--dry-run"])
    assert capsys.readouterr().out.count(" done ") == 4


def test_every_method_has_the_same_tuning_budget(tune_methods):
    tune_methods.check_spaces()
    assert set(tune_methods.SPACES["vector"]) == set(tune_methods.METHODS)


@pytest.mark.parametrize("system", ["wave", "flow"])
def test_field_search_spaces_give_every_method_four_distinct_cpu_runs(tune_methods, system):
    """Under the field `cpu` preset every configuration of every method resolves (plan_runs
    refuses two that are the same run) and is scored once, on its final network."""
    tune_methods.check_spaces()
    methods = list(tune_methods.SPACES["field"])
    assert sorted(methods) == sorted(tune_methods.METHODS)
    plans = tune_methods.plan_runs(system, None, "cpu", {}, methods, 4, 64)
    assert len(plans) == 4 * len(methods)
    for plan in plans:
        assert plan.config.validate_every == plan.config.iterations == 9000
        assert plan.config.validate_trajectories == 64
        assert plan.config.predict == plan.overrides.get("predict", "increment")
    sl = [plan.config for plan in plans if plan.method == "sl"]
    assert (sl[1].context_noise, sl[2].window, sl[3].lr) == (0.02, 8, 3e-4)
