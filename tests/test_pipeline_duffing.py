"""generate → train (sl, mse) → sample → compare through the CLI on a tiny Duffing ensemble."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from slsim.pipelines import benchmark as benchmark_module
from slsim.pipelines import side_by_side as side_by_side_module
from slsim.pipelines.cli import app
from slsim.pipelines.ensemble import check_ensemble
from slsim.pipelines.errors import UserError

runner = CliRunner()
TINY = ["--set", "t_end=2", "--set", "n_frames=21", "--set", "dt=0.02"]


def invoke(*args: str):
    result = runner.invoke(app, [*args, "--quiet"] if args[0] != "compare" else list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline") / "data"
    d = ["--data-dir", str(root)]
    invoke("generate", "duffing", "--n", "96", "--n-test", "64", *TINY, *d)
    for method in ("sl", "mse"):
        invoke("train", "duffing", "--method", method, "--preset", "smoke", *d)
        invoke("sample", "duffing", "--run", method, *d)
    result = invoke("compare", "--system", "duffing", *d)
    return root, result


def test_every_file_is_a_valid_ensemble_with_provenance(pipeline):
    root, _ = pipeline
    for path in [root / "duffing" / "train.h5", root / "duffing" / "test.h5"]:
        assert check_ensemble(path, deep=True) == []
    samples = root / "duffing" / "runs" / "sl" / "samples.h5"
    assert check_ensemble(samples, deep=True) == []
    with h5py.File(samples, "r") as handle, h5py.File(root / "duffing" / "test.h5", "r") as test:
        assert handle.attrs["source"] == "surrogate:sl"
        assert handle.attrs["checkpoint"].endswith("runs/sl/checkpoint.pt")
        assert handle.attrs["config"] == test.attrs["config"]
        assert handle["state"].shape == (64, 21, 2)
        np.testing.assert_array_equal(handle["initial_index"][...], np.arange(64))
        # rollouts start from the held-out initial states and then move on their own
        np.testing.assert_array_equal(handle["state"][:, 0], test["state"][:, 0])
        assert not np.allclose(handle["state"][:, 5], test["state"][:, 5])


def test_train_and_test_splits_share_no_trajectories(pipeline):
    root, _ = pipeline
    with (
        h5py.File(root / "duffing" / "train.h5") as a,
        h5py.File(root / "duffing" / "test.h5") as b,
    ):
        assert len(np.intersect1d(a["seed"][...], b["seed"][...])) == 0


def test_compare_writes_table_json_and_figures(pipeline):
    root, result = pipeline
    assert "distance to the held-out simulator ensemble" in result.output  # headers may wrap
    report = root / "duffing" / "reports" / "compare"
    rows = json.loads((report / "comparison.json").read_text())["rows"]
    assert {(r["candidate"], r["metric"]) for r in rows} == {
        (c, m) for c in ("sl", "mse") for m in ("SW2", "WCT")
    }
    assert all(r["noise_floor"] > 0 and r["value"] > 0 for r in rows)
    assert all(r["ci_low"] <= r["value"] <= r["ci_high"] for r in rows if r["metric"] == "WCT")
    assert all(r["floor_low"] < r["floor_high"] for r in rows)
    assert next(r for r in rows if r["metric"] == "WCT")["params"] == {"level": 0.0}
    header = (report / "comparison.csv").read_text().splitlines()[0]
    assert header.startswith("system,candidate,source,metric,qoi,value,ci_low,ci_high")
    novelty = json.loads((report / "comparison.json").read_text())["nearest_training_neighbour"]
    assert novelty["sl"]["ratio"] > 0.5  # new trajectories, not copies of training ones
    for figure in ("sw2_vs_time.png", "sw2_marginals.png", "wct_hist.png", "nearest_neighbour.png"):
        assert (report / figure).stat().st_size > 1000


def test_qoi_parameters_are_applied_recorded_and_checked(pipeline, tmp_path):
    root, _ = pipeline
    d = ["--data-dir", str(root), "--out", str(tmp_path), "--no-plots", "--bootstrap", "0"]
    invoke("compare", "--system", "duffing", "--qoi", "crossing-time", "-p", "level=0.5", *d)
    rows = json.loads((tmp_path / "comparison.json").read_text())["rows"]
    assert {r["metric"] for r in rows} == {"WCT"}
    assert all(r["params"] == {"level": 0.5} for r in rows)
    for bad, message in (
        ("threshold=0.1", "unknown QoI parameter threshold for duffing (known: level)"),
        ("level", "--param: expected KEY=VALUE, got 'level'"),
        ("level=low", "parameter level must be a number"),
    ):
        result = runner.invoke(app, ["compare", "--system", "duffing", "-p", bad, *d])
        assert isinstance(result.exception, UserError)
        assert message in str(result.exception)


def test_a_surrogate_that_copies_training_data_is_caught(pipeline, tmp_path):
    root, _ = pipeline
    copy = tmp_path / "copycat.h5"
    shutil.copy(root / "duffing" / "runs" / "sl" / "samples.h5", copy)
    with h5py.File(copy, "r+") as dst, h5py.File(root / "duffing" / "train.h5", "r") as train:
        dst["state"][...] = train["state"][:64]  # a "surrogate" that replays training data
    d = ["--data-dir", str(root), "--out", str(tmp_path / "r"), "--no-plots"]
    result = invoke("compare", str(copy), "--system", "duffing", "--bootstrap", "0", *d)
    novelty = json.loads((tmp_path / "r" / "comparison.json").read_text())
    assert novelty["nearest_training_neighbour"]["copycat"]["ratio"] < 1e-6
    assert "memorised" in result.output


def test_finished_run_is_not_retrained_silently(pipeline):
    root, _ = pipeline
    args = ["train", "duffing", "--preset", "smoke", "--data-dir", str(root), "--quiet"]
    result = runner.invoke(app, args)
    assert isinstance(result.exception, UserError)
    assert "already trained" in str(result.exception)


def test_runtime_settings_do_not_block_a_resume_and_defining_ones_are_named(pipeline):
    """log_every/checkpoint_every/compile change how a run is watched: same run ("already
    trained"); lr changes what it computes: refused, naming the setting."""
    root, _ = pipeline
    args = ["train", "duffing", "--preset", "smoke", "--data-dir", str(root), "--quiet"]
    result = runner.invoke(app, [*args, "--set", "log_every=7", "--set", "compile=true"])
    assert "already trained" in str(result.exception)
    result = runner.invoke(app, [*args, "--set", "lr=0.5"])
    assert "different configuration (lr)" in str(result.exception)


def test_compare_refuses_ensembles_from_another_configuration(pipeline, tmp_path):
    root, _ = pipeline
    other = tmp_path / "other"
    invoke(
        "generate",
        "duffing",
        "--n",
        "8",
        "--n-test",
        "8",
        *TINY,
        "--set",
        "sigma=0.3",
        "--data-dir",
        str(other),
    )
    result = runner.invoke(
        app, ["compare", str(other / "duffing" / "test.h5"), "--data-dir", str(root)]
    )
    assert isinstance(result.exception, UserError)
    assert "different duffing configurations" in str(result.exception)


def test_sampling_steps_set_the_network_calls_and_are_refused_for_one_call_methods(pipeline):
    root, _ = pipeline
    d = ["--data-dir", str(root)]
    invoke("train", "duffing", "--method", "ardm", "--preset", "smoke", *d)
    for k in (1, 3):
        out = root / f"ardm-{k}.h5"
        invoke("sample", "duffing", "--run", "ardm", "--steps", str(k), "--output", str(out), *d)
        with h5py.File(out, "r") as handle:
            assert handle.attrs["network_calls_per_trajectory"] == k * 20  # 20 generated frames
            assert json.loads(handle.attrs["train_config"])["steps"] == k
    result = runner.invoke(app, ["sample", "duffing", "--steps", "3", "--overwrite", *d, "-q"])
    assert isinstance(result.exception, UserError)
    assert "--steps does not apply to sl" in str(result.exception)


def test_table1_reuses_finished_runs_and_times_every_entry(pipeline, tmp_path):
    root, _ = pipeline
    checkpoint = root / "duffing" / "runs" / "sl" / "checkpoint.pt"
    before = checkpoint.stat().st_mtime_ns
    args = ["benchmark", "table1", "duffing", "--preset", "smoke", "--n", "32"]
    args += ["--methods", "sl,ardm,mse", "--ardm-steps", "2,4", "--bootstrap", "20"]
    invoke(*args, "--data-dir", str(root))
    assert checkpoint.stat().st_mtime_ns == before  # reused, not retrained
    report = root / "duffing" / "reports" / "table1"
    rows = {r["label"]: r for r in json.loads((report / "table1.json").read_text())}
    assert list(rows) == ["sl", "ardm-2", "ardm-4", "mse"]
    assert [rows[k]["network_calls"] for k in rows] == [20, 40, 80, 20]
    assert rows["sl"]["speedup_of_sl"] == 1.0
    assert rows["ardm-4"]["seconds_per_trajectory"] > rows["sl"]["seconds_per_trajectory"]
    assert all(set(r["distances"]) == {"SW2", "WCT"} for r in rows.values())
    assert (report / "table1.md").read_text().startswith("| method | network calls / traj")
    bad = runner.invoke(app, [*args[:5], "--methods", "ardm", "--data-dir", str(root)])
    assert "table1 needs sl" in str(bad.exception)


def test_table1_trains_tuned_winners_at_every_seed_and_summarises_them(
    pipeline, tmp_path, monkeypatch
):
    root, _ = pipeline
    side_by_side = []

    def record(requests, **kwargs):
        side_by_side.append((sorted(requests), kwargs["processes"], kwargs["threads"]))
        return side_by_side_module.train_side_by_side(requests, **kwargs)

    monkeypatch.setattr(benchmark_module, "train_side_by_side", record)
    d = ["--data-dir", str(root)]
    invoke("train", "duffing", "--name", "won-sl", "--preset", "smoke", "--set", "label_dim=4", *d)
    winner = root / "duffing" / "runs" / "won-sl" / "checkpoint.pt"
    before = winner.stat().st_mtime_ns
    record = {
        "system": "duffing",
        "preset": "smoke",
        "runs": [
            {"run": "won-sl", "overrides": {"label_dim": "4"}},
            {"run": "won-mse", "overrides": {"standardise": "true"}},
            {"run": "lost-sl", "overrides": {}},
        ],
        "winners": {"sl": {"run": "won-sl"}, "mse": {"run": "won-mse"}},
    }
    tuning = tmp_path / "tuning.json"
    tuning.write_text(json.dumps(record))
    args = ["benchmark", "table1", "duffing", "--preset", "smoke", "--n", "32", *d]
    args += ["--methods", "sl,mse", "--seeds", "0,1", "--tuning", str(tuning), "--bootstrap", "20"]
    invoke(*args, "--jobs", "2", "--threads", "1")
    # the four runs go to two training processes, one thread each; the finished one is reused
    assert side_by_side == [(["won-mse", "won-mse-s1", "won-sl", "won-sl-s1"], 2, 1)]
    assert winner.stat().st_mtime_ns == before  # seed 0 is the winning run itself
    runs = root / "duffing" / "runs"
    for name, seed, setting in (("won-sl-s1", 1, ("label_dim", 4)), ("won-mse", 0, None)):
        config = json.loads((runs / name / "config.json").read_text())["train"]
        assert config["seed"] == seed
        assert setting is None or config[setting[0]] == setting[1]
    assert json.loads((runs / "won-mse-s1" / "config.json").read_text())["train"]["standardise"]
    assert not (runs / "lost-sl").exists()
    report = root / "duffing" / "reports" / "table1"
    rows = json.loads((report / "table1.json").read_text())
    assert [(r["label"], r["seed"]) for r in rows] == [("sl", 0), ("sl", 1), ("mse", 0), ("mse", 1)]
    sl0, sl1 = rows[0]["distances"]["SW2"], rows[1]["distances"]["SW2"]
    assert sl0["value"] != sl1["value"]  # two trainings, two ensembles
    assert sl0["excess_low"] <= sl0["excess"] <= sl0["excess_high"]
    summary = {s["label"]: s for s in json.loads((report / "table1_summary.json").read_text())}
    ratios = summary["sl"]["ratios"]["SW2"]
    assert ratios == [r["distances"]["SW2"]["value"] / sl0["noise_floor"] for r in rows[:2]]
    table = (report / "table1.md").read_text()
    assert "SW2 / floor: mean ± sd (per seed)" in table and "Training seeds 0, 1" in table
    assert (report / "table1_pareto.png").stat().st_size > 1000
    for extra, message in (
        (["--set", "seed=3"], "set with --seeds"),
        (["--preset", "fast"], "not duffing with preset fast"),
    ):
        result = runner.invoke(app, [*args, *extra])
        assert isinstance(result.exception, UserError)
        assert message in str(result.exception)
