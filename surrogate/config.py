"""Training configuration and the ``smoke`` / ``fast`` / ``paper`` presets.

Resolution order: dataclass defaults → system defaults (window, backbone) → preset for the
state kind → user ``--set`` overrides. The resolved config is stored in the checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slsim.simulators.config import ConfigError, build_config, config_to_dict, param, require

from .labels import LABEL_LAWS

PRESET_NAMES = ("smoke", "cpu", "fast", "paper")
#: Fields that change how a run is watched, not what it computes: a run resumes when only these
#: differ (validate_every matters only through whether validation trajectories are held out).
RUNTIME_FIELDS = ("checkpoint_every", "log_every", "validate_every", "compile")
#: What the network output is added to (``predict``); see ``methods.base.prediction_base``.
PREDICT_BASES = ("frame", "increment", "leapfrog")

#: The Duffing MLP recipe: it trains to convergence on a CPU in minutes, and 2× the data and
#: iterations measured no better (docs/duffing.md; the paper's Duffing settings are not
#: recoverable), so the "cpu", "fast" and "paper" presets of vector states are all this one.
VECTOR_RECIPE: dict[str, Any] = {
    "label_dim": 8,
    "iterations": 15_000,
    "width": 256,
    "depth": 4,
    "train_trajectories": 100,
    "batch_size": 256,
}

#: Preset overrides by kind of state: "vector" (Duffing) or "field" (wave, flow).
#: Vector states use d = 8: on Duffing it interpolates the data (loss ~4e-6) and gave the best and
#: most consistent rollouts of d in {4, 8, 16, 32, 64} (docs/duffing.md).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "vector": {
        "smoke": {
            "label_dim": VECTOR_RECIPE["label_dim"],
            "iterations": 200,
            "width": 64,
            "depth": 3,
            "train_trajectories": 32,
            "batch_size": 128,
        },
        "cpu": VECTOR_RECIPE,
        "fast": VECTOR_RECIPE,
        "paper": VECTOR_RECIPE,
    },
    "field": {
        "smoke": {
            "channels": (8, 16),
            "emb_dim": 32,
            "label_dim": 16,
            "iterations": 30,
            "batch_size": 8,
            "lr": 1e-3,
            "train_trajectories": 8,
            "validate_every": 0,
        },
        # ≤ 1 hour on one core of a 2-core CPU (docs/field-surrogates.md): a small UNet that
        # predicts the standardised increment, trained on 128 trajectories so that SL sees each
        # transition (and its label) often: 9 000 steps of 32 visit each of the 128 × 31
        # transitions of the 32-frame wave recipe ~70 times
        "cpu": {
            "channels": (16, 32, 64),
            "emb_dim": 128,
            "iterations": 9_000,
            "batch_size": 32,
            "lr": 1e-3,
            "predict": "increment",
            "standardise": True,
            "train_trajectories": 128,
            "validate_every": 500,
            "checkpoint_every": 500,
        },
        "fast": {
            "channels": (32, 64, 128),
            "emb_dim": 256,
            "iterations": 20_000,
            "batch_size": 64,
            "lr": 3e-4,
            "validate_every": 2_000,
        },
        # the paper's table: batch 64, d = 64, AdamW + cosine, 350 000 iterations; "medium" net
        "paper": {
            "channels": (128, 256, 512),
            "blocks": 2,
            "emb_dim": 512,
            "iterations": 350_000,
            "batch_size": 64,
            "lr": 1e-4,
            "validate_every": 10_000,
        },
    },
}
#: Defaults for every field preset: the paper's networks predict the next frame directly.
FIELD_DEFAULTS: dict[str, Any] = {"predict": "frame"}


@dataclass(frozen=True)
class TrainConfig:
    """How to train one surrogate; every field can be set with ``--set KEY=VALUE``."""

    method: str = param("sl", "surrogate method, by its name in METHODS (see slsim train --help)")
    backbone: str = param("mlp", "network: mlp for vector states, unet for fields")
    window: int = param(1, "Markov window w: number of past frames the model sees")
    label_dim: int = param(64, "dimension d of the Stochastic Lifting label ξ")
    trajectory_label_dim: int = param(
        0,
        "dimension of a second SL label fixed per training trajectory and drawn once per "
        "rollout, for randomness that persists along a trajectory, such as a hidden medium "
        "(sl only; 0: none)",
    )
    predict: str = param(
        "increment",
        "what the network adds to: frame (predicts x_{t+1} itself), increment (x_t + output), "
        "leapfrog (2x_t − x_{t−1} + output: second differences, for waves)",
    )
    standardise: bool = param(
        False,
        "scale the output by the RMS of x_{t+1} − base over the training data (sl and mse; "
        "the other methods' networks do not predict the step and ignore it)",
    )
    width: int = param(256, "hidden width (mlp)")
    depth: int = param(4, "hidden layers (mlp)")
    channels: tuple[int, ...] = param((32, 64, 128), "channels per resolution level (unet)")
    blocks: int = param(1, "residual blocks per level (unet)")
    emb_dim: int = param(256, "width of the two-layer conditioning MLP (unet)")
    label_map: int = param(
        0,
        "k: also map the conditioning vector (SL's label) linearly to k maps at the unet's "
        "bottleneck resolution, a spatial pathway beside FiLM (0: FiLM only)",
    )
    padding: str = param("zeros", "convolution padding: zeros, or circular for periodic domains")
    coordinate_channels: bool = param(False, "append x, y coordinate channels to the input")
    context_noise: float = param(
        0.0,
        "std of Gaussian noise added to the context frames in training (normalised units), so "
        "that rollouts stay on track when their own errors feed back (0: none)",
    )
    pushforward: float = param(
        0.0,
        "fraction of training transitions whose last pushforward_steps context frames are the "
        "network's own fits (no gradient), so that it learns to continue from its own errors "
        "(Brandstetter, Worrall & Welling 2022; sl and mse; 0: none)",
    )
    pushforward_steps: int = param(
        1, "network steps k that rebuild a pushed-forward context from the true one k frames back"
    )
    iterations: int = param(15_000, "optimiser steps")
    batch_size: int = param(256, "transitions per step")
    lr: float = param(1e-3, "peak AdamW learning rate (cosine decay to 0)")
    weight_decay: float = param(1e-4, "AdamW weight decay")
    ema: float = param(
        0.0,
        "decay of an exponential moving average of the weights, which validation and sampling "
        "then use (e.g. 0.999; 0: none, the trained weights are used)",
    )
    train_trajectories: int = param(0, "use the first N training trajectories (0: all)")
    seed: int = param(0, "seed of weights, labels and batch order")
    checkpoint_every: int = param(1000, "steps between checkpoints")
    log_every: int = param(100, "steps between logged losses")
    validate_every: int = param(0, "steps between validation rollouts scored on a QoI (0: never)")
    validate_trajectories: int = param(64, "held-out trajectories rolled out per validation")
    validate_labels: str = param(
        "gaussian",
        "how validation rollouts draw SL's per-step labels, and so which sampler best.pt is "
        "chosen for: gaussian (fresh, the paper's) or training (replayed from the run's own "
        "training labels, as slsim sample --labels training; sl only)",
    )
    bf16: bool = param(True, "bf16 autocast on CUDA (ignored on CPU)")
    cpu_bf16: bool = param(
        False, "bf16 autocast on CPU, in training and rollouts (fast with AVX512-BF16 or AMX)"
    )
    compile: bool = param(False, "torch.compile the network on CUDA")
    steps: int = param(
        0,
        "integration/denoising steps K per frame at sampling, for the methods that take "
        "sub-steps (0: the method's default; slsim sample --help lists both)",
    )
    si_noise: float = param(1.0, "σ of the si interpolant's noise σ(1 − s)·W_s and SDE (si)")
    biflow_noise: float = param(
        0.2, "noise ε added to the last frame before bi-flow's joint sampling (biflow)"
    )
    agm_noise: float = param(
        1.0, "g of agm's phase-space bridge dx = v ds, dv = a ds + g dW, in training and sampling"
    )
    ardm_standardise: bool = param(
        False,
        "diffuse the step x_{t+1} − base divided by its RMS over the training data (per channel, "
        "the standardise scale), so that unit noise meets a unit-size step however small the "
        "step is; off: the step in normalised units (ardm)",
    )
    ardm_grid: str = param(
        "uniform",
        "noise levels of ardm's DDIM sampler: uniform in the cosine schedule's time, or edm "
        "(Karras et al. 2022: σ/α from 80 to 0.002 with ρ = 7, denser at low noise) (ardm)",
    )

    def validate(self) -> None:
        from .backbones import BACKBONES
        from .methods import METHODS
        from .methods.ardm import GRIDS
        from .methods.biflow import MAX_TRAIN_NOISE

        require(
            self.method in METHODS, f"unknown method '{self.method}' (known: {', '.join(METHODS)})"
        )
        require(
            self.backbone in BACKBONES,
            f"unknown backbone '{self.backbone}' (known: {', '.join(BACKBONES)})",
        )
        for name in (
            "window",
            "label_dim",
            "pushforward_steps",
            "width",
            "depth",
            "iterations",
            "batch_size",
            "checkpoint_every",
            "log_every",
        ):
            require(getattr(self, name) > 0, f"{name} must be positive, got {getattr(self, name)}")
        require(self.lr > 0 and self.weight_decay >= 0, "lr must be > 0 and weight_decay ≥ 0")
        require(
            self.trajectory_label_dim >= 0,
            f"trajectory_label_dim must be ≥ 0, got {self.trajectory_label_dim}",
        )
        require(
            self.trajectory_label_dim == 0 or self.method == "sl",
            f"trajectory_label_dim is a Stochastic Lifting label (method sl), not {self.method}",
        )
        require(self.context_noise >= 0, f"context_noise must be ≥ 0, got {self.context_noise}")
        require(0 <= self.ema < 1, f"ema must be in [0, 1), got {self.ema}")
        require(
            0 <= self.pushforward <= 1, f"pushforward must be in [0, 1], got {self.pushforward}"
        )
        require(
            self.pushforward == 0 or METHODS[self.method].fit is not None,
            "pushforward needs a method that regresses the next frame ("
            + ", ".join(name for name, method in METHODS.items() if method.fit)
            + f"), not {self.method}",
        )
        require(self.label_map >= 0, f"label_map must be ≥ 0, got {self.label_map}")
        require(self.train_trajectories >= 0, "train_trajectories must be ≥ 0")
        require(self.validate_every >= 0, "validate_every must be ≥ 0")
        require(
            self.validate_labels in LABEL_LAWS,
            f"validate_labels must be one of {', '.join(LABEL_LAWS)}, got {self.validate_labels!r}",
        )
        require(
            self.validate_labels == "gaussian"
            or (self.method == "sl" and not self.trajectory_label_dim),
            "validate_labels=training replays the training labels of an sl run without "
            "trajectory labels",
        )
        require(len(self.channels) >= 1 and min(self.channels) > 0, "channels must be positive")
        require(self.padding in ("zeros", "circular"), "padding must be zeros or circular")
        require(
            self.predict in PREDICT_BASES,
            f"predict must be one of {', '.join(PREDICT_BASES)}, got {self.predict!r}",
        )
        require(self.predict != "leapfrog" or self.window >= 2, "predict=leapfrog needs window ≥ 2")
        require(self.steps >= 0, f"steps must be ≥ 0, got {self.steps}")
        require(self.si_noise >= 0, f"si_noise must be ≥ 0, got {self.si_noise}")
        require(self.agm_noise >= 0, f"agm_noise must be ≥ 0, got {self.agm_noise}")
        require(
            self.ardm_grid in GRIDS,
            f"ardm_grid must be one of {', '.join(GRIDS)}, got {self.ardm_grid!r}",
        )
        require(
            0 <= self.biflow_noise <= MAX_TRAIN_NOISE,
            f"biflow_noise must be in [0, {MAX_TRAIN_NOISE}] (the noise bi-flow trains on), "
            f"got {self.biflow_noise}",
        )


def defining_fields(config: TrainConfig | dict[str, Any]) -> dict[str, Any]:
    """The settings that determine a run's result: everything but ``RUNTIME_FIELDS``, plus
    whether validation trajectories are held out of the training file."""
    values = config_to_dict(config) if isinstance(config, TrainConfig) else config
    # a checkpoint written before a field existed ran with that field's default
    values = {**config_to_dict(TrainConfig()), **values}
    kept = {k: v for k, v in values.items() if k not in RUNTIME_FIELDS}
    return {**kept, "holds_out_validation": bool(values.get("validate_every"))}


def resolve_train_config(
    kind: str,
    window: int,
    method: str,
    preset: str,
    overrides: dict[str, str] | None = None,
    system_defaults: dict[str, Any] | None = None,
) -> TrainConfig:
    """Combine system defaults, a preset and user overrides into a validated config."""
    if preset not in PRESET_NAMES:
        raise ConfigError(f"unknown preset '{preset}' (known: {', '.join(PRESET_NAMES)})")
    if kind not in PRESETS:
        raise ConfigError(f"no training presets for {kind} states")
    backbone = "mlp" if kind == "vector" else "unet"
    values: dict[str, Any] = {"window": window, "backbone": backbone, "method": method}
    if kind == "field":
        values.update(FIELD_DEFAULTS)
    values.update(system_defaults or {})
    values.update(PRESETS[kind][preset])
    values.update(overrides or {})
    return build_config(TrainConfig, values)
