"""Surrogate training and sampling on CPU: labels, resume, interpolation, determinism."""

from __future__ import annotations

import dataclasses
import os
import signal

import numpy as np
import pytest
import torch

from slsim.simulators import ConfigError
from slsim.simulators.config import config_to_dict
from slsim.surrogate import methods as methods_module
from slsim.surrogate.backbones import ScaledOutput
from slsim.surrogate.checkpoint import load_checkpoint, save_checkpoint
from slsim.surrogate.config import TrainConfig, defining_fields, resolve_train_config
from slsim.surrogate.device import autocast, select_device
from slsim.surrogate.labels import label_table, training_labels
from slsim.surrogate.methods import get_method
from slsim.surrogate.methods.base import prediction_base
from slsim.surrogate.normalization import Normalizer
from slsim.surrogate.sampling import rollout
from slsim.surrogate.training import (
    NonFiniteLoss,
    Trainer,
    build_model,
    measure_output_scale,
    sampling_weights,
    train,
)
from slsim.surrogate.transitions import TensorFrames, TransitionSet, initial_context

CPU = torch.device("cpu")


def _config(**changes) -> TrainConfig:
    base = resolve_train_config("vector", 1, "sl", "smoke", {})
    return dataclasses.replace(base, **{"checkpoint_every": 10_000, "log_every": 10, **changes})


def _random_walk(n: int, steps: int, seed: int = 0) -> torch.Tensor:
    """x_{t+1} = x_t ± 0.5 with a fair coin: a bimodal transition with mean x_t."""
    rng = np.random.default_rng(seed)
    jumps = 0.5 * rng.choice([-1.0, 1.0], size=(n, steps))
    x = np.concatenate([np.zeros((n, 1)), np.cumsum(jumps, axis=1)], axis=1)
    return torch.tensor(x[:, :, None], dtype=torch.float32)


def _fit(config: TrainConfig, data: TransitionSet, tmp_path, **kwargs):
    trainer = Trainer.create(config, data.frame_shape, CPU)
    normalizer = Normalizer(np.zeros(1, np.float32), np.ones(1, np.float32))
    state = train(trainer, data, normalizer, tmp_path / "checkpoint.pt", {"test": True}, **kwargs)
    return trainer, state


def test_label_table_is_a_pure_function_of_its_seed():
    assert torch.equal(label_table(100, 8, 3), label_table(100, 8, 3))
    assert not torch.equal(label_table(100, 8, 3), label_table(100, 8, 4))


def test_each_transition_keeps_one_label_for_all_of_training(tmp_path, monkeypatch):
    """Targets identify transitions uniquely; every repeat of a transition must see its label."""
    frames = torch.arange(4 * 6, dtype=torch.float32).reshape(4, 6, 1)  # 20 distinct targets
    seen: dict[float, torch.Tensor] = {}
    sl = get_method("sl")

    def recording_loss(model, context, target, labels, generator, config):
        for value, label in zip(target[:, 0].tolist(), labels, strict=True):
            if value in seen:
                assert torch.equal(seen[value], label), "a transition's label changed"
            seen[value] = label.clone()
        return sl.loss(model, context, target, labels, generator, config)

    monkeypatch.setitem(methods_module.METHODS, "sl", dataclasses.replace(sl, loss=recording_loss))
    config = _config(iterations=60, batch_size=16)  # 960 draws from 20 transitions: many epochs
    _fit(config, TransitionSet(TensorFrames(frames), 1), tmp_path)
    assert len(seen) == 20
    labels = label_table(20, config.label_dim, config.seed + 1)
    for value, label in seen.items():
        trajectory, t = divmod(int(value), 6)
        assert torch.equal(label, labels[trajectory * 5 + t - 1])


def test_interrupted_and_resumed_training_equals_uninterrupted(tmp_path):
    data = TransitionSet(TensorFrames(_random_walk(16, 5)), 1)
    config = _config(iterations=40)
    straight, _ = _fit(config, data, tmp_path / "a")
    _fit(config, data, tmp_path / "b", stop_at=17)
    resumed = Trainer.create(config, data.frame_shape, CPU)
    resumed.load_state(load_checkpoint(tmp_path / "b" / "checkpoint.pt"))
    assert resumed.step == 17
    normalizer = Normalizer(np.zeros(1, np.float32), np.ones(1, np.float32))
    final = train(resumed, data, normalizer, tmp_path / "b" / "checkpoint.pt", {})
    assert final["finished"]
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert [h["step"] for h in straight.history] == [h["step"] for h in resumed.history]
    assert straight.history[-1]["loss"] == resumed.history[-1]["loss"]


def test_context_noise_perturbs_the_training_contexts_only(tmp_path, monkeypatch):
    """With context_noise = σ the network sees the windows plus N(0, σ²) noise; the targets
    stay clean."""
    frames = torch.zeros(8, 6, 1)  # all-zero data: whatever the context holds is the noise
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    sl = get_method("sl")

    def recording_loss(model, context, target, labels, generator, config):
        seen.append((context.clone(), target.clone()))
        return sl.loss(model, context, target, labels, generator, config)

    monkeypatch.setitem(methods_module.METHODS, "sl", dataclasses.replace(sl, loss=recording_loss))
    _fit(
        _config(iterations=20, batch_size=64, context_noise=0.3),
        TransitionSet(TensorFrames(frames), 1),
        tmp_path,
    )
    contexts = torch.cat([c for c, _ in seen])
    assert contexts.std().item() == pytest.approx(0.3, rel=0.05)
    assert all(torch.count_nonzero(t) == 0 for _, t in seen)


def test_cpu_bf16_autocast_runs_the_network_in_bfloat16_and_still_trains(tmp_path):
    config = _config(cpu_bf16=True, iterations=30)
    with autocast(config, CPU):
        assert torch.nn.Linear(4, 4)(torch.ones(2, 4)).dtype == torch.bfloat16
    with autocast(_config(), CPU):
        assert torch.nn.Linear(4, 4)(torch.ones(2, 4)).dtype == torch.float32
    _, state = _fit(config, TransitionSet(TensorFrames(_random_walk(16, 5)), 1), tmp_path)
    losses = [h["loss"] for h in state["history"]]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_ema_keeps_the_moving_average_of_the_weights_resumes_and_is_what_sampling_uses(tmp_path):
    """e_1 = w_1, e_k = d e_(k-1) + (1 - d) w_k, checked against the trained weights of steps 1-3;
    a run stopped at step 2 and resumed equals the straight run, averages included."""
    data = TransitionSet(TensorFrames(_random_walk(16, 5)), 1)
    decay = 0.9
    config = _config(iterations=3, ema=decay)
    weights, averages = [], []
    trainer = Trainer.create(config, data.frame_shape, CPU)
    normalizer = Normalizer(np.zeros(1, np.float32), np.ones(1, np.float32))
    for step in (1, 2, 3):
        state = train(trainer, data, normalizer, tmp_path / "c.pt", {}, stop_at=step)
        weights.append({k: v.clone() for k, v in state["model"].items()})  # live tensors
        averages.append({k: v.clone() for k, v in state["ema"].items()})
    for key in weights[0]:
        expected = weights[0][key]
        assert torch.equal(averages[0][key], expected)
        for w, e in zip(weights[1:], averages[1:], strict=True):
            expected = decay * expected + (1 - decay) * w[key]
            torch.testing.assert_close(e[key], expected, rtol=1e-6, atol=1e-7)
    first = next(iter(weights[0]))
    assert not torch.equal(averages[2][first], weights[2][first])
    assert sampling_weights(state) is state["ema"]
    straight, _ = _fit(config, data, tmp_path / "straight")
    _fit(config, data, tmp_path / "stopped", stop_at=2)
    resumed = Trainer.create(config, data.frame_shape, CPU)
    resumed.load_state(load_checkpoint(tmp_path / "stopped" / "checkpoint.pt"))
    train(resumed, data, normalizer, tmp_path / "stopped" / "checkpoint.pt", {})
    for key, value in straight.average.module.state_dict().items():
        assert torch.equal(value, averages[2][key]), key
        assert torch.equal(value, resumed.average.module.state_dict()[key]), key
    plain = _fit(_config(iterations=3), data, tmp_path / "plain")[1]
    assert "ema" not in plain and sampling_weights(plain) is plain["model"]


def test_ctrl_c_resume_equals_uninterrupted_training(tmp_path):
    """SIGINT mid-run: the step in progress completes, is saved, and resuming is bit-exact."""
    data = TransitionSet(TensorFrames(_random_walk(16, 5)), 1)
    config = _config(iterations=40, log_every=1)
    straight, _ = _fit(config, data, tmp_path / "a")

    def interrupt_at_step_13(step, loss, lr, scores):
        if step == 13:
            os.kill(os.getpid(), signal.SIGINT)  # arrives mid-run, like a user's Ctrl-C

    with pytest.raises(KeyboardInterrupt):
        _fit(config, data, tmp_path / "b", on_log=interrupt_at_step_13)
    state = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert state["step"] == 13
    resumed = Trainer.create(config, data.frame_shape, CPU)
    resumed.load_state(state)
    normalizer = Normalizer(np.zeros(1, np.float32), np.ones(1, np.float32))
    train(resumed, data, normalizer, tmp_path / "b" / "checkpoint.pt", {})
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_a_non_finite_loss_stops_training_at_that_step(tmp_path):
    frames = _random_walk(16, 5)
    frames[3, 2] = float("nan")
    data = TransitionSet(TensorFrames(frames), 1)
    with pytest.raises(NonFiniteLoss, match="became nan at step"):
        _fit(_config(iterations=200, batch_size=64), data, tmp_path)


@pytest.mark.parametrize(
    ("predict", "expected"),
    [("frame", 0.0), ("increment", 3.0), ("leapfrog", 2 * 3.0 - 2.0)],
)
def test_prediction_bases(predict, expected):
    context = torch.tensor([[1.0, 2.0, 3.0]])  # window of 3 one-channel frames, oldest first
    base = prediction_base(context, 1, predict)
    assert float(torch.as_tensor(base).sum()) == expected


def test_standardised_output_scale_is_the_rms_step_and_survives_checkpoints(tmp_path):
    """x_t = 10 t + small noise: increments have RMS ≈ 10; second differences vanish except at
    t = 0, whose window repeats x_0 (zero velocity), so their RMS over 7 steps is ≈ 10/√7."""
    t = torch.arange(8, dtype=torch.float32)
    noise = 0.01 * torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
    data = TransitionSet(TensorFrames((10 * t + noise)[:, :, None]), 2)
    increment = _config(window=2, predict="increment", standardise=True)
    leapfrog = _config(window=2, predict="leapfrog", standardise=True)
    assert measure_output_scale(data, increment).item() == pytest.approx(10.0, rel=0.02)
    assert measure_output_scale(data, leapfrog).item() == pytest.approx(10 / 7**0.5, rel=0.02)
    scale = measure_output_scale(data, increment)
    trainer = Trainer.create(
        _config(window=2, predict="increment", standardise=True, iterations=5),
        data.frame_shape,
        CPU,
        output_scale=scale,
    )
    normalizer = Normalizer(np.zeros(1, np.float32), np.ones(1, np.float32))
    train(trainer, data, normalizer, tmp_path / "c.pt", {})
    restored = build_model(trainer.config, data.frame_shape)
    restored.load_state_dict(load_checkpoint(tmp_path / "c.pt")["model"])
    assert torch.equal(restored.scale, scale)
    # ardm's network predicts noise-free frames of its diffusion, not the step: no scale
    assert not isinstance(build_model(_config(method="ardm", standardise=True), (1,)), ScaledOutput)


@pytest.fixture(scope="module")
def bimodal_runs(tmp_path_factory):
    """SL and MSE trained on the ±0.5 random walk (64 trajectories × 4 steps)."""
    data = TransitionSet(TensorFrames(_random_walk(64, 4)), 1)
    runs = {}
    for method in ("sl", "mse"):
        config = _config(
            method=method, iterations=1500, width=128, depth=3, label_dim=32, lr=3e-3, batch_size=64
        )
        trainer, state = _fit(config, data, tmp_path_factory.mktemp(method))
        runs[method] = (trainer, config, state)
    return data, runs


def test_labels_let_the_network_interpolate_the_data_and_mse_cannot(bimodal_runs):
    data, runs = bimodal_runs
    losses = {}
    for method, (trainer, config, _) in runs.items():
        context, target = data.batch(torch.arange(len(data)))
        labels = (
            label_table(len(data), config.label_dim, config.seed + 1) if method == "sl" else None
        )
        with torch.no_grad():
            losses[method] = float(
                get_method(method).loss(trainer.model, context, target, labels, None, config)
            )
    assert losses["mse"] > 0.2  # the jump variance 0.25 cannot be explained without labels
    assert losses["sl"] < 0.02


def test_fresh_labels_reproduce_the_spread_that_mse_collapses(bimodal_runs):
    _, runs = bimodal_runs
    start = torch.zeros(2000, 1, 1)
    spread = {}
    for method, (trainer, config, _) in runs.items():
        generator = torch.Generator().manual_seed(0)
        step = rollout(trainer.model, get_method(method), config, start, 1, generator)[:, 0, 0]
        spread[method] = (float(step.mean()), float(step.std()))
    assert abs(spread["sl"][0]) < 0.1 and spread["sl"][1] > 0.3  # true: mean 0, std 0.5
    assert spread["mse"][1] < 0.01


def test_sampling_is_deterministic_for_a_seed_and_calls_the_network_once_per_step(
    bimodal_runs, monkeypatch
):
    _, runs = bimodal_runs
    trainer, config, _ = runs["sl"]
    start = torch.zeros(10, 1, 1)
    calls = []
    original = trainer.model.forward
    monkeypatch.setattr(trainer.model, "forward", lambda *a: calls.append(1) or original(*a))
    first = rollout(
        trainer.model,
        get_method("sl"),
        config,
        start,
        7,
        torch.Generator().manual_seed(5),
        batch_size=4,
    )
    assert len(calls) == 7 * 3  # 3 batches of ≤ 4 trajectories, one call per step each
    second = rollout(
        trainer.model,
        get_method("sl"),
        config,
        start,
        7,
        torch.Generator().manual_seed(5),
        batch_size=4,
    )
    other = rollout(
        trainer.model,
        get_method("sl"),
        config,
        start,
        7,
        torch.Generator().manual_seed(6),
        batch_size=4,
    )
    assert first.shape == (10, 7, 1)
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


def test_windows_repeat_the_first_frame_before_time_zero():
    frames = torch.arange(2 * 5 * 1, dtype=torch.float32).reshape(2, 5, 1)
    data = TransitionSet(TensorFrames(frames), 3)
    context, target = data.batch(torch.tensor([0, 1, 4]))
    assert context.tolist() == [[0, 0, 0], [0, 0, 1], [5, 5, 5]]
    assert target[:, 0].tolist() == [1, 2, 6]
    assert initial_context(frames, 3, 2)[:, :, 0].tolist() == [[0, 0, 1], [5, 5, 6]]


def test_normalizer_round_trips_and_standardises():
    x = np.random.default_rng(0).normal([1.0, -3.0], [2.0, 0.5], size=(50, 7, 2)).astype(np.float32)
    norm = Normalizer.fit([x[:20], x[20:]], channel_axis=2)
    encoded = norm.encode(torch.from_numpy(x), 2)
    assert torch.allclose(encoded.mean(dim=(0, 1)), torch.zeros(2), atol=1e-5)
    assert torch.allclose(encoded.std(dim=(0, 1), unbiased=False), torch.ones(2), atol=1e-4)
    assert torch.allclose(norm.decode(encoded, 2), torch.from_numpy(x), atol=1e-5)


def test_checkpoints_are_written_atomically_and_versioned(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"step": 3})
    assert load_checkpoint(path)["step"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
    torch.save({"format": 99}, path)
    with pytest.raises(ValueError, match="unsupported checkpoint format"):
        load_checkpoint(path)


def test_configuration_errors_are_clear():
    with pytest.raises(ConfigError, match="unknown method 'gan'"):
        resolve_train_config("vector", 1, "gan", "fast", {})
    with pytest.raises(ConfigError, match="unknown preset"):
        resolve_train_config("vector", 1, "sl", "huge", {})
    with pytest.raises(ConfigError, match="batch_size must be positive"):
        resolve_train_config("vector", 1, "sl", "fast", {"batch_size": "0"})


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_a_gpu_is_a_config_error():
    assert select_device("auto") == CPU
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        select_device("cuda")


def test_trajectory_labels_are_shared_along_a_trajectory_and_extend_the_per_step_labels():
    n_trajectories, steps = 5, 7
    table = training_labels(n_trajectories, steps, 4, 3, seed=11)
    assert table.shape == (n_trajectories * steps, 7)
    # without trajectory labels the table is the plain one: old runs train bit for bit the same
    assert torch.equal(training_labels(n_trajectories, steps, 4, 0, 11), label_table(35, 4, 11))
    assert torch.equal(table[:, :4], label_table(35, 4, 11))
    per_trajectory = table[:, 4:].reshape(n_trajectories, steps, 3)
    assert torch.equal(per_trajectory, per_trajectory[:, :1].expand(-1, steps, -1))
    assert len({tuple(row.tolist()) for row in per_trajectory[:, 0]}) == n_trajectories


def test_a_rollout_keeps_its_trajectory_label_and_draws_fresh_step_labels(tmp_path):
    config = _config(iterations=5, label_dim=2, trajectory_label_dim=3)
    trainer, _ = _fit(config, TransitionSet(TensorFrames(_random_walk(8, 3)), 1), tmp_path)
    seen = []
    original = trainer.model.forward

    def recording(context, label):
        seen.append(label.clone())
        return original(context, label)

    trainer.model.forward = recording
    rollout(trainer.model, get_method("sl"), config, torch.zeros(6, 1, 1), 4, torch.Generator())
    labels = torch.stack(seen)  # (step, rollout, 2 + 3)
    assert labels.shape == (4, 6, 5)
    assert torch.equal(labels[:, :, 2:], labels[:1, :, 2:].expand(4, -1, -1))
    assert len({tuple(row.tolist()) for row in labels[0, :, 2:]}) == 6
    assert not torch.equal(labels[0, :, :2], labels[1, :, :2])


def test_trajectory_labels_belong_to_stochastic_lifting_only():
    with pytest.raises(ConfigError, match="trajectory_label_dim"):
        resolve_train_config("vector", 1, "mse", "smoke", {"trajectory_label_dim": "4"})


def test_a_checkpoint_from_before_a_new_setting_resumes_with_its_default():
    stored = config_to_dict(_config())
    del stored["trajectory_label_dim"]
    assert defining_fields(stored) == defining_fields(_config())
    assert defining_fields(stored) != defining_fields(_config(trajectory_label_dim=2))
