"""The training loop shared by every method: AdamW + cosine decay, fixed labels, exact resume.

All randomness of a run flows from ``config.seed``: the initial weights, the label table and one
CPU generator that draws batch indices and any method noise. Its state is checkpointed with
the model, optimiser and scheduler, so a resumed run takes exactly the steps the uninterrupted
one would have taken (bit for bit on CPU). With ``config.ema`` the checkpoint also keeps an
exponential moving average of the weights (``torch.optim.swa_utils.AveragedModel``) under
``"ema"``; validation, best.pt and sampling use it (:func:`sampling_weights`).
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from slsim.simulators.config import config_to_dict

from .backbones import ScaledOutput, build_backbone
from .checkpoint import save_checkpoint
from .config import TrainConfig
from .device import autocast
from .labels import run_labels
from .methods import Method, get_method
from .methods.base import prediction_base, training_noise
from .normalization import Normalizer
from .transitions import TransitionSet

#: on_log(step, mean loss since last log, learning rate, validation scores)
LogCallback = Callable[[int, float, float, dict[str, float]], None]
#: validate(model) -> named scores (e.g. a QoI distance of rollouts to held-out data)
Validator = Callable[[nn.Module], dict[str, float]]


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or infinite (bad data, or a learning rate that diverges)."""

    def __init__(self, step: int, value: float):
        super().__init__(
            f"the training loss became {value} at step {step}; training stopped and the last "
            "checkpoint was kept (check the data with `slsim info`, or lower lr)"
        )
        self.step = step


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[Callable[[], bool]]:
    """Hold Ctrl-C (SIGINT) until the caller polls at a step boundary.

    Yields ``interrupted()``: True once SIGINT arrived. The training loop polls it after each
    completed step, so a checkpoint written on Ctrl-C holds the state after a whole step (the
    optimiser never half-applied, the batch generator not ahead of the step count) and resuming
    continues bit for bit. A second Ctrl-C before the poll interrupts at once. Outside the main
    thread, where signal handlers cannot be set, interrupts are not deferred.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    received: list[int] = []

    def handler(signum, frame) -> None:
        if received:
            raise KeyboardInterrupt
        received.append(signum)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(received)
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass(frozen=True)
class Distributed:
    """This process's place in a ``torchrun`` job (DistributedDataParallel)."""

    rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def build_model(config: TrainConfig, frame_shape: tuple[int, ...]) -> nn.Module:
    """The method's network on the configured backbone, initialised from ``config.seed``."""
    method = get_method(config.method)
    channels = frame_shape[0]
    torch.manual_seed(config.seed)
    net = build_backbone(
        config.backbone,
        (config.window + method.extra_input_frames) * channels,
        method.output_frames * channels,
        method.cond_dim(config),
        frame_shape,
        config,
    )
    return ScaledOutput(net, channels) if method.standardised(config) else net


def measure_output_scale(data: TransitionSet, config: TrainConfig) -> torch.Tensor:
    """Per-channel root mean square of x_{t+1} − base (``config.predict``) over every transition
    of the first 64 training trajectories: the ``standardise`` scale of the network's output."""
    channels = data.frame_shape[0]
    count = min(64, data.n_trajectories) * data.steps
    total_sq = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, count, 4096):
        context, target = data.batch(torch.arange(start, min(start + 4096, count)))
        step = (target - prediction_base(context, channels, config.predict)).double().cpu()
        total_sq += (step.transpose(0, 1).reshape(channels, -1) ** 2).sum(dim=1)
    rms = (total_sq / (count * int(np.prod(data.frame_shape[1:])))).sqrt()
    return torch.where(rms > 0, rms, torch.ones_like(rms)).float()


def rank_generator(seed: int, step: int, rank: int) -> torch.Generator:
    """A CPU generator for one rank's training noise at one step (DDP only)."""
    state = np.random.SeedSequence([seed, step, rank]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


@dataclass
class Trainer:
    """Mutable training state: network, optimiser, schedule, step and the data generator."""

    config: TrainConfig
    method: Method
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator
    step: int
    history: list[dict[str, float]]
    #: the moving average of the weights (``config.ema`` > 0), else None
    average: torch.optim.swa_utils.AveragedModel | None = None

    @property
    def evaluated(self) -> nn.Module:
        """The network that validation and sampling use: the average if kept."""
        return self.average.module if self.average is not None else self.model

    @classmethod
    def create(
        cls,
        config: TrainConfig,
        frame_shape: tuple[int, ...],
        device: torch.device,
        output_scale: torch.Tensor | None = None,
    ) -> Trainer:
        """A fresh trainer; ``output_scale`` (per channel) is required with ``standardise``."""
        model = build_model(config, frame_shape)
        if get_method(config.method).standardised(config):
            if output_scale is None:
                raise ValueError("standardise needs the output scale measured on the data")
            model.scale.copy_(output_scale)
        model = model.to(device)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.iterations)
        generator = torch.Generator().manual_seed(config.seed + 2)
        average = (
            torch.optim.swa_utils.AveragedModel(
                model,
                multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(config.ema),
                use_buffers=True,
            )
            if config.ema
            else None
        )
        method = get_method(config.method)
        return cls(config, method, model, optimizer, scheduler, generator, 0, [], average)

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])
        self.history = list(state["history"])
        if self.average is not None:
            self.average.module.load_state_dict(state["ema"])
            self.average.n_averaged.fill_(state["ema_updates"])

    def state(self, normalizer: Normalizer, meta: dict[str, Any]) -> dict[str, Any]:
        return {
            "config": config_to_dict(self.config),
            "meta": meta,
            "normalizer": normalizer.state_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "step": self.step,
            "history": self.history,
            "finished": self.step >= self.config.iterations,
            **(
                {
                    "ema": self.average.module.state_dict(),
                    "ema_updates": int(self.average.n_averaged),
                }
                if self.average is not None
                else {}
            ),
        }


def push_forward(
    method: Method,
    model: nn.Module,
    data: TransitionSet,
    labels: torch.Tensor | None,
    index: torch.Tensor,
    context: torch.Tensor,
    generator: torch.Generator,
    config: TrainConfig,
) -> torch.Tensor:
    """The contexts of a random ``config.pushforward`` share of the transitions (those at least
    k = ``config.pushforward_steps`` frames into their trajectory) rebuilt by the network itself:
    from the true window k frames earlier, k fits with those transitions' own labels, without
    gradient. The pushforward trick of Brandstetter, Worrall & Welling, "Message passing neural
    PDE solvers" (2022): the network trains on inputs that carry its own errors, the errors
    that rollouts feed back."""
    steps = config.pushforward_steps
    chosen = torch.rand(len(index), generator=generator) < config.pushforward
    chosen &= (index % data.steps) >= steps
    if not chosen.any():
        return context
    rows = index[chosen]
    window = data.batch(rows - steps)[0].to(context.device)
    channels = context.shape[1] // config.window
    with torch.no_grad(), autocast(config, context.device):
        for back in range(steps, 0, -1):
            previous = rows - back
            label = labels[previous.to(labels.device)] if labels is not None else None
            fitted = method.fit(model, window, label, config).to(context.dtype)
            window = torch.cat([window[:, channels:], fitted], dim=1)
    context = context.clone()
    context[chosen.to(context.device)] = window
    return context


def sampling_weights(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights a checkpoint samples with: the moving average if the run kept one."""
    return state.get("ema", state["model"])


def train(
    trainer: Trainer,
    data: TransitionSet,
    normalizer: Normalizer,
    checkpoint: Path,
    meta: dict[str, Any],
    on_log: LogCallback | None = None,
    stop_at: int | None = None,
    validate: Validator | None = None,
    distributed: Distributed | None = None,
) -> dict[str, Any]:
    """Train (or continue) to ``config.iterations`` (or ``stop_at``), checkpointing as it goes.

    Under ``torchrun`` every rank draws the same global batch of ``config.batch_size`` from the
    shared generator and trains on its slice; DDP averages the gradients, so for SL and MSE the
    run equals a single-process run with the global batch. Methods that draw training noise
    (ardm, si, biflow) draw it, under DDP, from a per-rank stream seeded by (seed, step, rank):
    independent across ranks, reproducible and resumable. Only rank 0 validates, logs and
    checkpoints.
    On Ctrl-C the step in progress completes, its state is saved and KeyboardInterrupt is
    raised, so the next call resumes exactly (:func:`deferred_interrupt`). A non-finite loss
    stops training with :class:`NonFiniteLoss` before the optimiser applies it.
    """
    config = trainer.config
    device = next(trainer.model.parameters()).device
    rank, world = (distributed.rank, distributed.world_size) if distributed else (0, 1)
    main = rank == 0
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} is not divisible by {world} processes")
    labels = (
        run_labels(config, data.n_trajectories, data.steps).to(device)
        if trainer.method.uses_labels
        else None
    )
    precision = autocast(config, device)
    model = trainer.model
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)
    if config.compile and device.type == "cuda":
        model = torch.compile(model)
    end = config.iterations if stop_at is None else min(stop_at, config.iterations)
    share = config.batch_size // world
    running, count, started = 0.0, 0, time.perf_counter()

    def save() -> None:
        if main:
            save_checkpoint(checkpoint, trainer.state(normalizer, meta))

    with deferred_interrupt() as interrupted:
        while trainer.step < end:
            index = torch.randint(0, len(data), (config.batch_size,), generator=trainer.generator)
            index = index[rank * share : (rank + 1) * share]
            context, target = data.batch(index)
            context, target = (
                context.to(device, non_blocking=True),
                target.to(device, non_blocking=True),
            )
            batch_labels = labels[index.to(device)] if labels is not None else None
            noise = (
                trainer.generator if world == 1 else rank_generator(config.seed, trainer.step, rank)
            )
            if config.pushforward:
                context = push_forward(
                    trainer.method, model, data, labels, index, context, noise, config
                )
            if config.context_noise:
                context = context + config.context_noise * training_noise(
                    context.shape, noise, context
                )
            with precision:
                loss = trainer.method.loss(model, context, target, batch_labels, noise, config)
            if not math.isfinite(loss.item()):
                raise NonFiniteLoss(trainer.step + 1, loss.item())
            trainer.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            trainer.optimizer.step()
            trainer.scheduler.step()
            if trainer.average is not None:
                trainer.average.update_parameters(trainer.model)
            trainer.step += 1
            value = loss.detach()
            if world > 1:
                torch.distributed.all_reduce(value)
                value /= world
            running += value.item()
            count += 1
            scores: dict[str, float] = {}
            due = config.validate_every and (
                trainer.step % config.validate_every == 0 or trainer.step == config.iterations
            )
            if due and validate is not None and main:
                scores = validate(trainer.evaluated)
                trainer.evaluated.train()
            if trainer.step % config.log_every == 0 or trainer.step == config.iterations or scores:
                lr = trainer.scheduler.get_last_lr()[0]
                entry = {
                    "step": trainer.step,
                    "loss": running / count,
                    "lr": lr,
                    "seconds": time.perf_counter() - started,
                    **scores,
                }
                trainer.history.append(entry)
                if on_log is not None and main:
                    on_log(trainer.step, running / count, lr, scores)
                running, count = 0.0, 0
            if trainer.step % config.checkpoint_every == 0 and trainer.step < end:
                save()
            if interrupted():
                save()
                raise KeyboardInterrupt
    state = trainer.state(normalizer, meta)
    save()
    return state
