"""Every registered method on CPU, and the baselines (the multi-step methods: ardm, si, biflow,
agm) beside sl and mse: training on both backbones, network calls per frame, seeded sampling,
and a two-mode transition with a known answer."""

from __future__ import annotations

import dataclasses
from itertools import pairwise

import numpy as np
import pytest
import torch

from slsim.simulators import ConfigError
from slsim.surrogate.config import TrainConfig, resolve_train_config
from slsim.surrogate.methods import METHODS, get_method
from slsim.surrogate.normalization import Normalizer
from slsim.surrogate.sampling import rollout
from slsim.surrogate.training import Trainer, build_model, measure_output_scale, train
from slsim.surrogate.transitions import TensorFrames, TransitionSet

from .conftest import assert_training_resumes_exactly

CPU = torch.device("cpu")
IDENTITY = Normalizer(np.zeros(1, np.float32), np.ones(1, np.float32))
#: The methods that take K sub-steps per frame, as the registry declares them.
BASELINES = [name for name, method in METHODS.items() if method.default_steps is not None]


def _config(kind: str, method: str, **changes) -> TrainConfig:
    """Smoke preset: an MLP on 1-D states (window 1) or a UNet on 8×8 fields (window 2)."""
    window = 1 if kind == "vector" else 2
    base = resolve_train_config(kind, window, method, "smoke", {}, {})
    return dataclasses.replace(base, checkpoint_every=10**9, log_every=10, **changes)


def _drifting_frames(kind: str) -> torch.Tensor:
    """Trajectories that drift by +1 per step plus noise 0.3: ``(n, T, C, *spatial)``."""
    generator = torch.Generator().manual_seed(0)
    shape = (16, 6, 1) if kind == "vector" else (4, 6, 1, 8, 8)
    drift = torch.arange(shape[1], dtype=torch.float32).reshape(1, -1, *[1] * (len(shape) - 2))
    return drift + 0.3 * torch.randn(shape, generator=generator)


def _counting(model: torch.nn.Module) -> list[int]:
    calls: list[int] = []
    model.register_forward_hook(lambda *_: calls.append(1))
    return calls


@pytest.mark.parametrize("kind", ["vector", "field"])
@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_learns_and_samples_reproducibly(kind, method, tmp_path):
    frames = _drifting_frames(kind)
    data = TransitionSet(TensorFrames(frames), 1 if kind == "vector" else 2)
    config = _config(kind, method, iterations=40, lr=3e-3, steps=3)
    trainer = Trainer.create(config, data.frame_shape, CPU)
    train(trainer, data, IDENTITY, tmp_path / "c.pt", {})
    losses = [entry["loss"] for entry in trainer.history]
    assert losses[-1] < 0.8 * losses[0], losses

    calls = _counting(trainer.model)
    start = frames[:3, : data.window]
    first = rollout(
        trainer.model, get_method(method), config, start, 2, torch.Generator().manual_seed(5), 2
    )
    assert first.shape == (3, 2, *data.frame_shape)
    assert len(calls) == get_method(method).calls_per_step(config) * 2 * 2  # 2 frames, 2 batches
    again = rollout(
        trainer.model, get_method(method), config, start, 2, torch.Generator().manual_seed(5), 2
    )
    other = rollout(
        trainer.model, get_method(method), config, start, 2, torch.Generator().manual_seed(6), 2
    )
    assert torch.equal(first, again)
    assert torch.equal(first, other) == (method == "mse")  # only mse ignores the noise


@pytest.mark.parametrize("method", BASELINES)
def test_noise_drawn_in_training_resumes_exactly(method, tmp_path):
    """Diffusion times and noise come from the checkpointed generator, so a resumed run takes
    the uninterrupted run's steps bit for bit."""
    data = TransitionSet(TensorFrames(_drifting_frames("vector")), 1)
    config = _config("vector", method, iterations=30)
    assert_training_resumes_exactly(config, data, IDENTITY, tmp_path, 13)


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("method", BASELINES)
def test_each_frame_costs_exactly_k_network_calls(method, k):
    config = _config("vector", method, steps=k)
    model = build_model(config, (1,))
    calls = _counting(model)
    out = rollout(model, get_method(method), config, torch.zeros(4, 1, 1), 3, torch.Generator())
    assert out.shape == (4, 3, 1)
    assert get_method(method).calls_per_step(config) == k
    assert len(calls) == 3 * k


@pytest.mark.parametrize("method", BASELINES)
def test_steps_zero_means_the_method_default(method):
    config = _config("vector", method)
    assert config.steps == 0
    default = get_method(method).default_steps
    assert get_method(method).calls_per_step(config) == default
    model = build_model(config, (1,))
    calls = _counting(model)
    rollout(model, get_method(method), config, torch.zeros(2, 1, 1), 1, torch.Generator())
    assert len(calls) == default


def test_one_call_methods_take_one_call_whatever_the_steps():
    for name, method in METHODS.items():
        if method.default_steps is None:
            assert method.calls_per_step(_config("vector", name, steps=7)) == 1, name


def test_biflow_predicts_two_fields_per_frame():
    model = build_model(_config("field", "biflow"), (2, 8, 8))
    assert model(torch.randn(3, 4, 8, 8), torch.randn(3, 64)).shape == (3, 4, 8, 8)


def test_sampling_settings_are_validated():
    with pytest.raises(ConfigError, match="steps must be ≥ 0"):
        _config_from_strings(steps="-1")
    with pytest.raises(ConfigError, match="biflow_noise must be in"):
        _config_from_strings(biflow_noise="0.9")
    with pytest.raises(ConfigError, match="si_noise must be ≥ 0"):
        _config_from_strings(si_noise="-0.1")
    with pytest.raises(ConfigError, match="agm_noise must be ≥ 0"):
        _config_from_strings(agm_noise="-0.1")
    with pytest.raises(ConfigError, match="ardm_grid must be one of"):
        _config_from_strings(ardm_grid="karras")


def _config_from_strings(**overrides: str) -> TrainConfig:
    return resolve_train_config("vector", 1, "ardm", "smoke", overrides)


#: Two-mode transitions: x_{t+1} = x_t + m(x_t) ± 1 with a fair coin, m(2) = 0 and m(−2) = 1.
STARTS, MEANS = (2.0, -2.0), (0.0, 1.0)


@pytest.fixture(scope="module")
def two_mode_runs(tmp_path_factory):
    generator = torch.Generator().manual_seed(0)
    side = torch.randint(0, 2, (512,), generator=generator)
    coin = 2.0 * torch.randint(0, 2, (512,), generator=generator) - 1
    start = torch.tensor(STARTS)[side]
    frames = torch.stack([start, start + torch.tensor(MEANS)[side] + coin], dim=1)[:, :, None]
    data = TransitionSet(TensorFrames(frames), 1)
    runs = {}
    # 1000 iterations unless listed; bi-flow learns slowest: its noise target is unpredictable at
    # small α; agm's estimate of x_1 from (x_s, v_s) needed 2000 steps to weigh the two modes
    # evenly
    budgets = {"mse": 300, "biflow": 2500, "agm": 2000}
    for method in ("mse", *BASELINES):
        iterations = budgets.get(method, 1000)
        config = _config(
            "vector", method, iterations=iterations, width=64, depth=3, lr=3e-3, batch_size=128
        )
        trainer = Trainer.create(config, data.frame_shape, CPU)
        train(trainer, data, IDENTITY, tmp_path_factory.mktemp(method) / "c.pt", {})
        runs[method] = (trainer.model, config)
    return runs


def _jumps(runs, method: str, start: float) -> torch.Tensor:
    model, config = runs[method]
    context = torch.full((2000, 1, 1), start)
    out = rollout(model, get_method(method), config, context, 1, torch.Generator().manual_seed(1))
    return out[:, 0, 0] - start


@pytest.mark.parametrize("method", BASELINES)
def test_baselines_sample_both_modes_of_each_transition(two_mode_runs, method):
    """True law of x_{t+1} − x_t − m(x_t): ±1 with probability 1/2 each (mean 0, std 1); a
    Gaussian of that mean and std would put only 48% of its mass within 0.5 of ±1."""
    for start, mean in zip(STARTS, MEANS, strict=True):
        jumps = _jumps(two_mode_runs, method, start) - mean
        up = float(((jumps - 1).abs() < 0.5).float().mean())
        down = float(((jumps + 1).abs() < 0.5).float().mean())
        message = f"from {start}: {up:.2f} near +1, {down:.2f} near −1"
        assert up > 0.35 and down > 0.35 and up + down > 0.85, message
        assert abs(float(jumps.mean())) < 0.15
        assert 0.8 < float(jumps.std()) < 1.2


def test_mse_collapses_each_transition_to_its_mean(two_mode_runs):
    for start, mean in zip(STARTS, MEANS, strict=True):
        jumps = _jumps(two_mode_runs, "mse", start)
        assert float(jumps.std()) < 1e-3
        assert abs(float(jumps.mean()) - mean) < 0.15


def _noise_to_signal(s: float) -> float:
    from slsim.surrogate.methods.ardm import schedule

    alpha, sigma = schedule(torch.tensor([s], dtype=torch.float64))
    return float(sigma / alpha)


@pytest.mark.parametrize("k", [5, 10, 20, 40])
def test_ardm_edm_grid_is_denser_at_low_noise(k):
    """Both grids fall from (nearly) pure noise to s = 0 in K calls; the EDM grid puts more of
    them below σ/α = 0.3 (noise smaller than a unit-size sample) and ends at 0.002, far below
    the uniform grid's last level, whose posterior mean shrinks a sample's spread."""
    from slsim.surrogate.methods.ardm import EDM_MIN, sampling_times, time_of_ratio

    grids = {grid: sampling_times(grid, k) for grid in ("uniform", "edm")}
    levels = {}
    for grid, times in grids.items():
        assert len(times) == k + 1 and times[-1] == 0.0
        assert all(a > b for a, b in pairwise(times)), grid
        levels[grid] = [_noise_to_signal(s) for s in times[:-1]]
    assert min(levels["edm"]) == pytest.approx(EDM_MIN, rel=1e-6)
    assert min(levels["edm"]) < min(levels["uniform"]) / 10
    low = {grid: sum(level < 0.3 for level in values) for grid, values in levels.items()}
    assert low["edm"] > low["uniform"], low
    for ratio in (0.01, 1.0, 50.0):
        assert _noise_to_signal(time_of_ratio(ratio)) == pytest.approx(ratio, rel=1e-6)


#: A two-mode step small next to the state: x_{t+1} = x_t ± SMALL_STEP from x_t = ±1.
SMALL_STEP = 0.07


@pytest.fixture(scope="module")
def small_step_runs(tmp_path_factory):
    """ARDM on the ±SMALL_STEP transitions, diffusing the increment with and without
    ``ardm_standardise``, 1000 steps each."""
    generator = torch.Generator().manual_seed(0)
    start = 2.0 * torch.randint(0, 2, (512,), generator=generator) - 1
    coin = 2.0 * torch.randint(0, 2, (512,), generator=generator) - 1
    frames = torch.stack([start, start + SMALL_STEP * coin], dim=1)[:, :, None]
    data = TransitionSet(TensorFrames(frames), 1)
    runs = {}
    for standardise in (True, False):
        config = _config(
            "vector",
            "ardm",
            iterations=1000,
            width=64,
            depth=3,
            lr=3e-3,
            batch_size=128,
            predict="increment",
            ardm_standardise=standardise,
        )
        scale = measure_output_scale(data, config) if standardise else None
        trainer = Trainer.create(config, data.frame_shape, CPU, output_scale=scale)
        train(trainer, data, IDENTITY, tmp_path_factory.mktemp(f"s{standardise}") / "c.pt", {})
        runs[standardise] = (trainer.model, config)
    return runs


def _small_steps(runs, standardise: bool, **changes) -> torch.Tensor:
    """Sampled increments from x_t = ±1 (1000 each), in units of SMALL_STEP."""
    model, config = runs[standardise]
    config = dataclasses.replace(config, **changes)
    context = torch.tensor([1.0, -1.0]).repeat_interleave(1000).reshape(-1, 1, 1)
    out = rollout(model, get_method("ardm"), config, context, 1, torch.Generator().manual_seed(1))
    return (out[:, 0, 0] - context[:, 0, 0]) / SMALL_STEP


@pytest.mark.parametrize("grid", ["uniform", "edm"])
def test_ardm_standardised_increment_recovers_a_small_two_mode_step(small_step_runs, grid):
    """The review's failure mode: an increment of 0.07 on a state of size 1. Diffusing the
    standardised increment, K = 10 DDIM steps put the samples on ±0.07 with the right spread."""
    steps = _small_steps(small_step_runs, True, steps=10, ardm_grid=grid)
    up = float(((steps - 1).abs() < 0.5).float().mean())
    down = float(((steps + 1).abs() < 0.5).float().mean())
    assert up > 0.4 and down > 0.4 and up + down > 0.9, (up, down)
    assert abs(float(steps.mean())) < 0.15
    assert 0.85 < float(steps.std()) < 1.15


def test_ardm_raw_small_increment_loses_the_spread(small_step_runs):
    """The same training on the increment in normalised units under unit noise: the samples
    collapse towards the mean step (why ``ardm_standardise`` exists)."""
    assert float(_small_steps(small_step_runs, False, steps=10).std()) < 0.5


def test_agm_bridge_is_the_law_of_the_pinned_momentum_sde():
    """The closed-form bridge from (x, v) at t = 0.2 has the moments of dx = v ds,
    dv = a* ds + g dW with the paper's a* = g²P11 ((y − x)/(1 − s) − v), g²P11 = 3/(1 − s),
    simulated by fine Euler–Maruyama, and pins x to y as s → 1."""
    from slsim.surrogate.methods.agm import bridge

    generator = torch.Generator().manual_seed(0)
    n, g, start, x_start, v_start, y = 40_000, 1.3, 0.2, 0.4, -0.5, 0.7
    checks, grid = (0.5, 0.9, 0.99), 4000
    x, v = torch.full((n,), x_start), torch.full((n,), v_start)
    h, simulated = (1 - start) / grid, {}
    for i in range(grid):
        s = start + i * h
        acceleration = 3 / (1 - s) * ((y - x) / (1 - s) - v)
        x, v = x + h * v, v + h * acceleration + g * h**0.5 * torch.randn(n, generator=generator)
        simulated.update({c: (x, v) for c in checks if abs(start + (i + 1) * h - c) < h / 2})

    def closed_form(s: float) -> tuple[torch.Tensor, torch.Tensor]:
        times = (torch.full((n,), start), torch.full((n,), s))
        noise = (torch.randn(n, generator=generator) for _ in range(2))
        full = torch.full((n,), x_start), torch.full((n,), v_start), torch.full((n,), y)
        return bridge(*full, *times, g, *noise)

    for s, (sim_x, sim_v) in simulated.items():
        exact_x, exact_v = closed_form(s)
        for sim, exact in ((sim_x, exact_x), (sim_v, exact_v)):
            assert abs(float(sim.mean() - exact.mean())) < 0.02 * float(exact.std()) + 2e-3, s
            assert abs(float(sim.std() / exact.std()) - 1) < 0.03, s
        sim_corr = torch.corrcoef(torch.stack([sim_x, sim_v]))[0, 1]
        exact_corr = torch.corrcoef(torch.stack([exact_x, exact_v]))[0, 1]
        assert abs(float(sim_corr - exact_corr)) < 0.03, s
    pinned_x, _ = closed_form(1 - 1e-6)
    assert float((pinned_x - y).abs().max()) < 1e-4


#: A two-point law of x_1 with unequal weights, for AGM's sampler with an exact network.
POINTS, WEIGHTS = (-1.0, 2.0), (0.7, 0.3)


class TwoPointMean(torch.nn.Module):
    """The Bayes-optimal AGM network for the law (POINTS, WEIGHTS): E[x_1 | x_s, v_s], from the
    reference process dx = v ds, dv = g dW with m_0 ~ N(0, I) and x_1 drawn independently; the
    time s is read back from the first sine and cosine of its Fourier embedding."""

    def __init__(self, g: float):
        super().__init__()
        self.g = g

    def forward(self, inputs: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        s = float(torch.atan2(cond[0, 0], cond[0, cond.shape[1] // 2]))
        # covariance of (x_s, v_s, x_1) given m_0, and how m_0 enters their means
        reference = self.g**2 * torch.tensor(
            [
                [s**3 / 3, s**2 / 2, s**2 / 2 - s**3 / 6],
                [s**2 / 2, s, s - s**2 / 2],
                [s**2 / 2 - s**3 / 6, s - s**2 / 2, 1 / 3],
            ],
            dtype=torch.float64,
        )
        coasting = torch.tensor([[1.0, s], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
        gain = reference[:2, 2:] / reference[2, 2]
        spread = coasting[:2] - gain @ coasting[2:]
        cov = reference[:2, :2] - gain @ reference[2:, :2] + spread @ spread.T
        points = torch.tensor(POINTS, dtype=torch.float64)
        miss = inputs[:, 1:3, None].double() - gain[None] * points[None, None]
        weights = torch.tensor(WEIGHTS, dtype=torch.float64).log()
        log_p = weights - 0.5 * (miss * torch.linalg.solve(cov, miss)).sum(1)
        return (torch.softmax(log_p, dim=1) @ points)[:, None].float()


def test_agm_sampling_hop_with_the_exact_network_recovers_the_law():
    """Fed the exact E[x_1 | m_s], 40 bridge steps end in hops that land on the two points with
    their weights (the bias of holding the estimate over a step shrinks with K)."""
    config = _config("vector", "agm", steps=40)
    out = get_method("agm").step(
        TwoPointMean(config.agm_noise),
        torch.zeros(20_000, 1),
        torch.Generator().manual_seed(0),
        config,
    )[:, 0]
    near = [float(((out - p).abs() < 0.1).float().mean()) for p in POINTS]
    assert sum(near) > 0.99, near
    assert abs(near[0] - WEIGHTS[0]) < 0.02, near


def test_ddp_ranks_draw_independent_but_reproducible_training_noise():
    from slsim.surrogate.training import rank_generator

    def draw(seed, step, rank):
        return torch.randn(4, generator=rank_generator(seed, step, rank))

    assert torch.equal(draw(0, 5, 1), draw(0, 5, 1))  # resumable: depends on the step only
    assert not torch.equal(draw(0, 5, 0), draw(0, 5, 1))
    assert not torch.equal(draw(0, 5, 0), draw(0, 6, 0))
