"""Field surrogates on CPU: UNet shapes, interpolation with labels, resume, data stores, DDP,
and the wave pipeline end to end."""

from __future__ import annotations

import dataclasses
import json

import h5py
import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image
from typer.testing import CliRunner

from slsim.pipelines import demo as demo_module
from slsim.pipelines import validation as validation_module
from slsim.pipelines.cli import app
from slsim.pipelines.ensemble import check_ensemble
from slsim.pipelines.errors import UserError
from slsim.pipelines.training import TrainRequest, run_training, validation_score
from slsim.pipelines.validation import FLOOR_GROUPS, Split, floor_groups, split_training_file
from slsim.simulators.config import ConfigError
from slsim.surrogate.checkpoint import load_checkpoint
from slsim.surrogate.config import resolve_train_config
from slsim.surrogate.labels import LabelReplay, label_table, run_labels, training_labels
from slsim.surrogate.methods import get_method
from slsim.surrogate.normalization import Normalizer
from slsim.surrogate.sampling import rollout
from slsim.surrogate.training import Distributed, Trainer, build_model, push_forward, train
from slsim.surrogate.transitions import HDF5Frames, TensorFrames, TransitionSet

from .conftest import assert_training_resumes_exactly

CPU = torch.device("cpu")
IDENTITY = Normalizer(np.zeros(1, np.float32), np.ones(1, np.float32))


def _config(method="sl", **changes):
    base = resolve_train_config("field", 3, method, "smoke", {}, {})
    return dataclasses.replace(base, checkpoint_every=10**9, log_every=10, **changes)


def _pattern(n: int = 16) -> np.ndarray:
    y, x = np.mgrid[0:n, 0:n] / n
    return np.sin(2 * np.pi * x) * np.sin(2 * np.pi * y)


@pytest.mark.parametrize(
    ("frame", "overrides"),
    [((1, 64, 64), {"padding": "circular"}), ((2, 96, 96), {"coordinate_channels": True})],
)
@pytest.mark.parametrize("method", ["sl", "mse"])
def test_unet_maps_a_window_to_one_frame(frame, overrides, method):
    config = _config(method, **overrides)
    model = build_model(config, frame)
    context = torch.randn(2, 3 * frame[0], *frame[1:])
    label = torch.randn(2, config.label_dim) if method == "sl" else None
    assert model(context, label).shape == (2, *frame)


def test_circular_padding_makes_the_unet_translation_equivariant():
    torch.manual_seed(0)
    model = build_model(_config(padding="circular"), (1, 16, 16)).eval()
    x, label = torch.randn(1, 3, 16, 16), torch.randn(1, 16)
    shifted = model(torch.roll(x, (4, 6), dims=(2, 3)), label)
    torch.testing.assert_close(
        shifted, torch.roll(model(x, label), (4, 6), dims=(2, 3)), atol=1e-5, rtol=1e-5
    )


def test_labels_let_a_tiny_unet_interpolate_what_mse_cannot(tmp_path):
    """16 trajectories share their start; the next frames differ (amplitude a_i · pattern)."""
    amplitude = np.random.default_rng(0).normal(size=16)
    frames = np.stack([np.zeros((16, 16, 16)), amplitude[:, None, None] * _pattern()], axis=1)
    data = TransitionSet(TensorFrames(torch.tensor(frames[:, :, None], dtype=torch.float32)), 3)
    target_variance = float(((amplitude - amplitude.mean()) ** 2).mean() * (_pattern() ** 2).mean())
    losses = {}
    for method in ("sl", "mse"):
        config = _config(method, iterations=150, batch_size=16, lr=3e-3)
        trainer = Trainer.create(config, data.frame_shape, CPU)
        train(trainer, data, IDENTITY, tmp_path / f"{method}.pt", {})
        context, target = data.batch(torch.arange(len(data)))
        labels = (
            label_table(len(data), config.label_dim, config.seed + 1) if method == "sl" else None
        )
        with torch.no_grad():
            losses[method] = float(
                get_method(method).loss(trainer.model, context, target, labels, None, config)
            )
    assert losses["mse"] == pytest.approx(target_variance, rel=0.02)  # the conditional mean
    assert losses["sl"] < 0.05 * target_variance


def test_replayed_labels_give_back_training_outcomes_at_the_step_they_were_trained_for(tmp_path):
    """16 trajectories share their start and differ by x_1 = a_i · pattern. Replaying the labels
    of transition 0 returns, for every rollout, one training trajectory's x_1 (the network fit
    it); a draw past the training horizon takes the last step's labels."""
    amplitude = np.random.default_rng(0).normal(size=16)
    frames = np.stack([np.zeros((16, 16, 16)), amplitude[:, None, None] * _pattern()], axis=1)
    data = TransitionSet(TensorFrames(torch.tensor(frames[:, :, None], dtype=torch.float32)), 3)
    config = _config(iterations=150, batch_size=16, lr=3e-3)
    trainer = Trainer.create(config, data.frame_shape, CPU)
    train(trainer, data, IDENTITY, tmp_path / "sl.pt", {})
    replay = LabelReplay.of_run(config, 16, 1)
    generator = torch.Generator().manual_seed(0)
    start = torch.zeros(64, 3, 1, 16, 16)
    x1 = rollout(trainer.model, get_method("sl"), config, start, 1, generator, replay=replay)
    fitted = (x1[:, 0, 0] * torch.tensor(_pattern())).sum((-2, -1)) / (_pattern() ** 2).sum()
    nearest = np.abs(fitted.numpy()[:, None] - amplitude[None]).min(axis=1)
    assert np.median(nearest) < 0.05 * amplitude.std() and nearest.max() < 0.2 * amplitude.std()
    assert len(np.unique(np.abs(fitted.numpy()[:, None] - amplitude[None]).argmin(1))) >= 10
    table = run_labels(config, 4, 3).view(4, 3, -1)
    later = LabelReplay.of_run(config, 4, 3, first=1)
    for step, t in ((0, 1), (1, 2), (5, 2)):
        drawn = later.draw(32, step, torch.Generator().manual_seed(step))
        assert all(any(torch.equal(row, known) for known in table[:, t]) for row in drawn)


def test_label_map_lets_a_label_place_a_deviation_where_film_cannot(tmp_path):
    """16 trajectories share an all-zero start; each next frame is a bump at its own place. With
    circular padding a zero context gives spatially constant features, so FiLM (per-channel
    scale and shift) can only output a constant field; the label map's spatial pathway fits the
    bumps."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:16, 0:16]
    frames = np.zeros((16, 2, 1, 16, 16), np.float32)
    for i, (cy, cx) in enumerate(rng.integers(0, 16, size=(16, 2))):
        frames[i, 1, 0] = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 4.0)
    data = TransitionSet(TensorFrames(torch.tensor(frames)), 3)
    spatial_variance = float(frames[:, 1].var(axis=(-2, -1)).mean())
    losses = {}
    for label_map in (0, 8):
        config = _config(
            iterations=200, batch_size=16, lr=3e-3, padding="circular", label_map=label_map
        )
        trainer = Trainer.create(config, data.frame_shape, CPU)
        train(trainer, data, IDENTITY, tmp_path / f"map{label_map}.pt", {})
        context, target = data.batch(torch.arange(len(data)))
        labels = label_table(len(data), config.label_dim, config.seed + 1)
        with torch.no_grad():
            losses[label_map] = float(
                get_method("sl").loss(trainer.model, context, target, labels, None, config)
            )
    assert losses[0] > 0.95 * spatial_variance  # a constant field per trajectory at best
    assert losses[8] < 0.2 * spatial_variance


def test_unet_training_resumes_exactly(tmp_path):
    rng = np.random.default_rng(1)
    frames = torch.tensor(rng.normal(size=(4, 6, 1, 16, 16)), dtype=torch.float32)
    data = TransitionSet(TensorFrames(frames), 3)
    assert_training_resumes_exactly(_config(iterations=12), data, IDENTITY, tmp_path, 5)


@pytest.mark.parametrize("method", ["sl", "mse"])
def test_pushforward_replaces_the_last_context_frame_by_the_networks_own_fit(method):
    """Transitions after a trajectory's first continue from the network's fit of their last
    frame (the previous transition's window and label); first transitions and the older frames
    of every window are left as they are."""
    frames = torch.tensor(
        np.random.default_rng(3).normal(size=(3, 5, 1, 8, 8)), dtype=torch.float32
    )
    data = TransitionSet(TensorFrames(frames), 3)
    config = _config(method, pushforward=1.0)
    model = build_model(config, data.frame_shape)
    labels = label_table(len(data), config.label_dim, 1) if method == "sl" else None
    index = torch.tensor([0, 1, 3, 4, 6, 11])  # t = 0, 1, 3, 0, 2, 3 (4 transitions each)
    context, _ = data.batch(index)
    pushed = push_forward(
        get_method(method), model, data, labels, index, context, torch.Generator(), config
    )
    first = (index % data.steps) == 0
    torch.testing.assert_close(pushed[first], context[first])  # nothing before t = 0
    torch.testing.assert_close(pushed[:, :-1], context[:, :-1])  # older frames untouched
    previous = index[~first] - 1
    previous_context, _ = data.batch(previous)
    with torch.no_grad():
        fitted = get_method(method).fit(
            model, previous_context, labels[previous] if labels is not None else None, config
        )
    torch.testing.assert_close(pushed[~first, -1:], fitted)
    assert not torch.allclose(pushed[~first, -1:], context[~first, -1:])
    # a share p of the transitions: none at p = 0+, about half at p = 0.5
    half = dataclasses.replace(config, pushforward=0.5)
    many = torch.arange(1, len(data)).repeat(50)
    many = many[(many % data.steps) > 0]
    changed = push_forward(
        get_method(method), model, data, labels, many, data.batch(many)[0],
        torch.Generator().manual_seed(0), half,
    )  # fmt: skip
    share = (changed != data.batch(many)[0]).flatten(1).any(dim=1).float().mean()
    assert 0.4 < float(share) < 0.6
    # k = 2 steps: the window two frames back, fitted twice with those transitions' labels
    two = dataclasses.replace(config, pushforward_steps=2)
    late = torch.tensor([2, 3, 7])  # t = 2, 3, 3: all at least 2 frames in
    pushed = push_forward(
        get_method(method), model, data, labels, late, data.batch(late)[0], torch.Generator(), two
    )
    window = data.batch(late - 2)[0]
    with torch.no_grad():
        for back in (2, 1):
            label = labels[late - back] if labels is not None else None
            window = torch.cat(
                [window[:, 1:], get_method(method).fit(model, window, label, two)], 1
            )
    torch.testing.assert_close(pushed, window)
    torch.testing.assert_close(pushed[:, :1], data.batch(late)[0][:, :1])  # the oldest is true


def test_pushforward_training_resumes_exactly_and_is_refused_for_multistep_samplers(tmp_path):
    rng = np.random.default_rng(4)
    frames = torch.tensor(rng.normal(size=(4, 6, 1, 16, 16)), dtype=torch.float32)
    data = TransitionSet(TensorFrames(frames), 3)
    config = _config(iterations=12, pushforward=0.5)
    assert_training_resumes_exactly(config, data, IDENTITY, tmp_path, 5)
    with pytest.raises(ValueError, match="pushforward needs a method that regresses"):
        resolve_train_config("field", 3, "ardm", "smoke", {"pushforward": "0.5"}, {})
    with pytest.raises(ValueError, match=r"pushforward must be in \[0, 1\]"):
        resolve_train_config("field", 3, "sl", "smoke", {"pushforward": "1.5"}, {})


def test_streamed_batches_equal_in_memory_batches(tmp_path):
    path = tmp_path / "fields.h5"
    values = np.random.default_rng(2).normal(size=(5, 7, 8, 8)).astype(np.float32)
    with h5py.File(path, "w") as handle:
        handle["u"] = values
    normalizer = Normalizer(np.array([0.3], np.float32), np.array([2.0], np.float32))
    dims = {"u": ("trajectory", "time", "y", "x")}
    memory = TransitionSet(
        TensorFrames(normalizer.encode(torch.from_numpy(values[:, :, None]), 2)), 3
    )
    streamed = TransitionSet(HDF5Frames(path, ["u"], dims, 5, normalizer), 3)
    index = torch.tensor([0, 5, 13, 29, 7])
    for a, b in zip(memory.batch(index), streamed.batch(index), strict=True):
        torch.testing.assert_close(a, b)


def _ddp_worker(rank: int, init: str, frames: torch.Tensor, config, out: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    data = TransitionSet(TensorFrames(frames), 3)
    trainer = Trainer.create(config, data.frame_shape, CPU)
    train(trainer, data, IDENTITY, out, {}, distributed=Distributed(rank, 2))
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_ddp_processes_equal_one_process_with_the_global_batch(tmp_path):
    """Same averaged gradients (Adam's moment estimates) as one process on the global batch.

    Weights agree only to the order of the learning rate: Adam divides near-zero gradients by
    their own size, so where a gradient is pure round-off (biases feeding a GroupNorm) each step
    moves the weight by up to ±lr with a sign the reduction order decides — up to 2·lr per step
    between the two runs (a CI run saw 1.0006·lr after 3 steps). The moments are the real check.
    """
    frames = torch.tensor(
        np.random.default_rng(3).normal(size=(4, 6, 1, 16, 16)), dtype=torch.float32
    )
    config = _config(iterations=3, batch_size=8)
    single = Trainer.create(config, (1, 16, 16), CPU)
    train(single, TransitionSet(TensorFrames(frames), 3), IDENTITY, tmp_path / "single.pt", {})
    init = f"file://{tmp_path / 'rendezvous'}"
    mp.spawn(_ddp_worker, args=(init, frames, config, str(tmp_path / "ddp.pt")), nprocs=2)
    ddp = load_checkpoint(tmp_path / "ddp.pt")
    assert ddp["step"] == 3
    expected = single.optimizer.state_dict()["state"]
    for moment in ("exp_avg", "exp_avg_sq"):
        # some gradients are exactly zero in exact arithmetic (biases feeding a GroupNorm) and
        # pure round-off here, so the tolerance follows the moment's scale over all parameters
        scale = max(float(state[moment].abs().max()) for state in expected.values())
        for key, state in ddp["optimizer"]["state"].items():
            got, want = state[moment], expected[key][moment]
            torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-5 * scale)
    for key, value in single.model.state_dict().items():
        torch.testing.assert_close(
            ddp["model"][key], value, atol=2 * config.lr * config.iterations, rtol=0
        )


def test_wave_pipeline_end_to_end_with_validation(tmp_path):
    runner = CliRunner()
    root = tmp_path / "data"
    d = ["--data-dir", str(root)]
    tiny = [
        "--set",
        "n_grid=32",
        "--set",
        "subsample=2",
        "--set",
        "dt=0.02",
        "--set",
        "t_end=0.4",
        "--set",
        "n_frames=9",
        "--set",
        "bump_sharpness=8",
    ]
    for args in (
        ["generate", "wave", "--n", "12", "--n-test", "6", *tiny, *d, "-q"],
        [
            "train",
            "wave",
            "--preset",
            "smoke",
            "--set",
            "validate_every=10",
            "--set",
            "validate_trajectories=4",
            *d,
            "-q",
        ],
        ["train", "wave", "--method", "mse", "--preset", "smoke", "--data", "stream", *d, "-q"],
        ["sample", "wave", *d, "-q"],
        ["sample", "wave", "--checkpoint", "best", "--output", str(tmp_path / "best.h5"), *d, "-q"],
        ["sample", "wave", "--run", "mse", *d, "-q"],
        ["sample", "wave", "--labels", "training", "--output", str(tmp_path / "replay.h5"), *d],
        ["compare", "--system", "wave", *d],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
    samples = root / "wave" / "runs" / "sl" / "samples.h5"
    assert check_ensemble(samples, deep=True) == []
    with h5py.File(tmp_path / "best.h5") as handle:  # sampled from the best validation
        assert handle.attrs["checkpoint"].endswith("best.pt")
    refused = runner.invoke(app, ["sample", "wave", "--run", "mse", "--checkpoint", "best", *d])
    assert isinstance(refused.exception, UserError) and "no best.pt" in str(refused.exception)
    with h5py.File(tmp_path / "replay.h5") as handle:
        assert handle.attrs["labels"] == "training" and handle["u"].shape == (6, 9, 16, 16)
    for law, run, message in (
        ("training", "mse", "replays the training labels of an sl run; this run is mse"),
        ("uniform", "sl", "--labels must be one of gaussian, training, got 'uniform'"),
    ):
        refused = runner.invoke(app, ["sample", "wave", "--run", run, "--labels", law, *d])
        assert isinstance(refused.exception, UserError) and message in str(refused.exception)
    with h5py.File(samples) as handle:
        assert handle["u"].shape == (6, 9, 16, 16)
        assert "wave_speed" not in handle  # the surrogate never sees the medium
    history = (root / "wave" / "runs" / "sl" / "history.csv").read_text().splitlines()
    assert "val_WCT" in history[0] and "val_WIM/floor" in history[0]
    assert sum(1 for line in history[1:] if line.split(",")[-1]) >= 3  # steps 10, 20, 30
    assert (root / "wave" / "runs" / "sl" / "learning_curve.png").stat().st_size > 0
    saved = json.loads((root / "wave" / "runs" / "sl" / "config.json").read_text())
    config = saved["train"]
    assert (
        config["padding"] == "circular" and config["predict"] == "frame" and config["window"] == 3
    )
    # validation: the last 4 of the 12 training trajectories, never trained on
    assert saved["data"]["validation_trajectories"] == [8, 12]
    assert saved["data"]["n_train_trajectories"] == 8
    rows = json.loads((root / "wave" / "reports" / "compare" / "comparison.json").read_text())[
        "rows"
    ]
    assert {(r["candidate"], r["metric"]) for r in rows} == {
        (c, m) for c in ("sl", "mse") for m in ("WCT", "WIM")
    }
    report = root / "wave" / "reports" / "compare"
    scale = next(r for r in rows if r["metric"] == "WCT")["params"]["scale"]
    with h5py.File(root / "wave" / "test.h5") as handle:
        assert scale == pytest.approx(float(np.abs(handle["u"][...]).max()))  # "max" resolved
    for figure in ("wct_hist.png", "wim_vs_time.png", "frames.png", "nearest_neighbour.png"):
        assert (report / figure).stat().st_size > 1000
    with Image.open(report / "rollouts.gif") as gif:  # simulator, sl and mse rows, every frame
        assert gif.n_frames == 9 and gif.format == "GIF"


def test_flow_pipeline_end_to_end(tmp_path):
    """generate → train → sample → compare for flow; coordinate channels on by default."""
    runner = CliRunner()
    d = ["--data-dir", str(tmp_path)]
    tiny = ["--set", "n_cells=16", "--set", "n_frames=8"]
    for args in (
        ["generate", "flow", "--n", "10", "--n-test", "6", *tiny, *d, "-q"],
        ["train", "flow", "--preset", "smoke", *d, "-q"],
        ["sample", "flow", *d, "-q"],
        ["compare", "--system", "flow", "-p", "corner_cells=2", *d],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
    config = json.loads((tmp_path / "flow" / "runs" / "sl" / "config.json").read_text())["train"]
    assert config["coordinate_channels"] is True
    report = tmp_path / "flow" / "reports" / "compare"
    rows = json.loads((report / "comparison.json").read_text())["rows"]
    assert {r["metric"]: r["params"] for r in rows} == {
        "WCT": {"threshold": 0.1, "corner_cells": 2},
        "WIM": {},
    }
    assert (report / "frames.png").stat().st_size > 1000


TINY_WAVE = {"n_grid": 32, "subsample": 2, "dt": 0.02, "t_end": 0.4, "n_frames": 9}


def test_validation_split_is_the_tail_of_the_training_file_and_disjoint():
    overrides = {"validate_every": "10", "validate_trajectories": "4"}
    config = resolve_train_config("field", 3, "sl", "smoke", overrides, {})
    split = split_training_file(12, config)
    assert split.train == range(8) and split.validation == range(8, 12)
    assert not set(split.train) & set(split.validation)
    with pytest.raises(UserError, match="exceed the 12 trajectories"):
        split_training_file(12, dataclasses.replace(config, train_trajectories=10))
    # no validation: nothing is held out
    assert split_training_file(
        12, dataclasses.replace(config, validate_every=0)
    ).validation == range(12, 12)


def test_validation_floor_groups_are_disjoint_blocks_before_the_validation_block():
    # 128 trained on, 128 validated, 512 in the file: the floor uses 3 blocks of 128, the
    # trajectories between the training block and the validation block included
    groups = floor_groups(Split(train=range(128), validation=range(384, 512)))
    assert groups == [range(0, 128), range(128, 256), range(256, 384)]
    # never more than FLOOR_GROUPS blocks, never one that reaches into the validation block
    many = floor_groups(Split(train=range(100), validation=range(1000, 1010)))
    assert len(many) == FLOOR_GROUPS and many[-1].stop <= 1000
    # fewer other trajectories than validation ones: one shorter block
    assert floor_groups(Split(train=range(6), validation=range(6, 16))) == [range(0, 6)]


def test_validation_needs_no_test_split_and_history_is_written_while_training(tmp_path):
    """Validation rollouts come from the training file (no test.h5 exists here); history.csv
    and the learning curve are on disk, complete so far, each time a line is logged."""
    runner = CliRunner()
    root = tmp_path / "data"
    tiny = [arg for key, value in TINY_WAVE.items() for arg in ("--set", f"{key}={value}")]
    generated = runner.invoke(app, ["generate", "wave", "--n", "12", "--n-test", "0", *tiny,
                                    "--data-dir", str(root), "-q"])  # fmt: skip
    assert generated.exit_code == 0, generated.output
    assert not (root / "wave" / "test.h5").exists()
    run_dir = root / "wave" / "runs" / "sl"
    logged: list[tuple[int, int, bool]] = []

    def on_log(step, loss, lr, scores):
        lines = (run_dir / "history.csv").read_text().splitlines()
        logged.append((step, len(lines) - 1, (run_dir / "learning_curve.png").exists()))

    overrides = {"validate_every": "10", "validate_trajectories": "4", "log_every": "5"}
    request = TrainRequest(
        system="wave",
        train_file=root / "wave" / "train.h5",
        run_dir=run_dir,
        method="sl",
        preset="smoke",
        overrides=overrides,
        device=torch.device("cpu"),
    )
    run_training(request, on_log=on_log)
    assert [step for step, _, _ in logged] == [5, 10, 15, 20, 25, 30]
    assert [rows for _, rows, _ in logged] == [1, 2, 3, 4, 5, 6]  # one more row per log line
    assert [png for _, _, png in logged] == [False, True, True, True, True, True]
    header = (run_dir / "history.csv").read_text().splitlines()[0]
    assert "val_WCT/floor" in header and "val_WIM/floor" in header
    # best.pt: the validation with the lowest geometric mean of distance / floor
    history = load_checkpoint(run_dir / "checkpoint.pt")["history"]
    scores = {e["step"]: validation_score(e) for e in history if "val_WCT" in e}
    best = load_checkpoint(run_dir / "best.pt")
    assert best["step"] == min(scores, key=scores.get)
    assert best["score"] == pytest.approx(min(scores.values()))


@pytest.mark.parametrize("labels", ["gaussian", "training"])
def test_validation_rolls_out_with_the_label_law_best_pt_is_chosen_for(
    tmp_path, monkeypatch, labels
):
    """validate_labels=training: every validation rollout replays the run's own training labels
    (those of its trained trajectories, step by step); gaussian: fresh labels, no replay."""
    runner = CliRunner()
    root = tmp_path / "data"
    tiny = [arg for key, value in TINY_WAVE.items() for arg in ("--set", f"{key}={value}")]
    generated = runner.invoke(app, ["generate", "wave", "--n", "12", "--n-test", "0", *tiny,
                                    "--data-dir", str(root), "-q"])  # fmt: skip
    assert generated.exit_code == 0, generated.output
    replays = []

    def recording_rollout(*args, replay=None, **kwargs):
        replays.append(replay)
        return rollout(*args, replay=replay, **kwargs)

    monkeypatch.setattr(validation_module, "rollout", recording_rollout)
    overrides = {"validate_every": "10", "validate_trajectories": "4", "validate_labels": labels}
    request = TrainRequest(
        system="wave",
        train_file=root / "wave" / "train.h5",
        run_dir=root / "wave" / "runs" / "sl",
        method="sl",
        preset="smoke",
        overrides=overrides,
        device=CPU,
    )
    saved = load_checkpoint(run_training(request))["config"]
    assert saved["validate_labels"] == labels
    assert len(replays) == 3  # steps 10, 20, 30
    if labels == "gaussian":
        assert all(replay is None for replay in replays)
        return
    steps = TINY_WAVE["n_frames"] - 1
    # the labels of the 12 − 4 trained trajectories, as training drew them
    expected = training_labels(8, steps, saved["label_dim"], 0, saved["seed"] + 1)
    expected = expected.view(8, steps, -1)
    assert all(torch.equal(replay.table, expected) and replay.first == 0 for replay in replays)


def test_validate_labels_training_is_refused_where_there_are_no_labels_to_replay():
    for method, extra in (("mse", {}), ("sl", {"trajectory_label_dim": "4"})):
        with pytest.raises(ConfigError, match="validate_labels=training replays"):
            resolve_train_config(
                "field", 3, method, "smoke", {"validate_labels": "training", **extra}, {}
            )
    with pytest.raises(ConfigError, match="validate_labels must be one of"):
        resolve_train_config("field", 3, "sl", "smoke", {"validate_labels": "fresh"}, {})


def test_wave_demo_runs_end_to_end_on_a_tiny_configuration(tmp_path, monkeypatch):
    tiny_set = [f"{key}={value}" for key, value in TINY_WAVE.items()]
    recipe = [
        "iterations=20",
        "channels=8,16",
        "emb_dim=16",
        "validate_trajectories=4",
        "train_trajectories=8",
    ]
    # the runs one after the other, as on one CPU (tests/test_demo.py trains them side by side)
    monkeypatch.setitem(demo_module.DEMOS, "wave", {**demo_module.DEMOS["wave"], "n": 12,
                        "n_test": 8, "set": tiny_set, "runs": {"sl": ("sl", "cpu", recipe),
                        "mse": ("mse", "cpu", recipe)}, "concurrent": False})  # fmt: skip
    result = CliRunner().invoke(app, ["demo", "wave", "--data-dir", str(tmp_path), "-q"])
    assert result.exit_code == 0, (result.output, result.exception)
    rows = json.loads((tmp_path / "wave" / "reports" / "compare" / "comparison.json").read_text())
    assert {(r["candidate"], r["metric"]) for r in rows["rows"]} == {
        (c, m) for c in ("sl", "sl (training labels)", "mse") for m in ("WCT", "WIM")
    }
    with h5py.File(tmp_path / "wave" / "runs" / "sl" / "samples-training.h5") as handle:
        assert handle.attrs["labels"] == "training"
    assert (tmp_path / "wave" / "reports" / "compare" / "rollouts.gif").exists()
