"""What a run's machine-dependent settings resolve to: precision ("auto"), epochs (a time
budget) and threads. Stored in the run's config.json and restored by `--resume`."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from ..data import BatchLoader, InMemoryDataset, Normalize
from ..hardware import Precision, resolve_amp
from . import distributed as dist
from .budget import EpochPlan, measure_eval_time, measure_step_time, steps_within
from .config import TrainConfig
from .evaluate import evaluate
from .loop import training_step
from .optim import build_optimizer
from .run import RunDir


@dataclass(frozen=True)
class ResolvedSettings:
    """What the run's machine-dependent settings became: stored in config.json under
    "resolved" and restored by --resume, so a resumed run computes what the original did."""

    precision: Precision
    epochs: int
    threads: int
    world_size: int
    plan: EpochPlan | None = None

    def total_steps(self, steps_per_epoch: int) -> int:
        """The steps the schedule spans: the plan's, else every step of every epoch."""
        return self.plan.steps if self.plan is not None else self.epochs * steps_per_epoch

    def describe(self, steps_per_epoch: int) -> str:
        what = f"precision: {self.precision.reason}; {self.threads} CPU threads"
        if self.plan is not None:
            return f"{what}\n{self.plan.describe(steps_per_epoch)}"
        return what

    def to_dict(self) -> dict[str, Any]:
        return {
            "amp": self.precision.amp,
            "amp_reason": self.precision.reason,
            "epochs": self.epochs,
            "threads": self.threads,
            "world_size": self.world_size,
            "time_plan": self.plan.to_dict() if self.plan else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResolvedSettings:
        plan = EpochPlan(**d["time_plan"]) if d.get("time_plan") else None
        return cls(
            Precision(d["amp"], d["amp_reason"]),
            int(d["epochs"]),
            int(d["threads"]),
            int(d["world_size"]),
            plan,
        )


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    return build_optimizer(
        model,
        config.optimizer,
        config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )


def resolve_settings(
    config: TrainConfig,
    *,
    t0: float,
    model: nn.Module,
    loader: BatchLoader,
    loss_fn: nn.Module,
    val_data: InMemoryDataset,
    normalize: Normalize,
    device: torch.device,
) -> ResolvedSettings:
    """Precision from the hardware; with a time budget, the epochs that fit in it, timed on
    a copy of the model (rank 0's plan is every rank's)."""
    precision = resolve_amp(config.amp, device)
    world = dist.world_size()
    if config.time is None:
        return ResolvedSettings(precision, config.epochs, torch.get_num_threads(), world)

    def step(m, opt, images, labels):
        training_step(
            m,
            opt,
            images.to(device),
            labels.to(device),
            loss_fn=loss_fn,
            autocast=precision.autocast,
            grad_clip=config.grad_clip,
        )

    def score(n: int) -> None:
        evaluate(
            model,
            val_data.subset(torch.arange(n)),
            batch_size=config.eval_batch_size,
            normalize=normalize,
            device=device,
            channels_last=config.channels_last,
        )

    loader.set_epoch(0)
    # The timing must not draw on the RNG that training draws dropout from: else a run
    # restarted before its first checkpoint (which does not time again) would differ.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        step_s = measure_step_time(model, lambda m: make_optimizer(m, config), loader, step)
        eval_s = measure_eval_time(score, len(val_data))
    spent = time.perf_counter() - t0
    budget = 60 * config.time
    reserve = config.time_reserve
    steps = steps_within(budget, spent, len(loader), step_s, eval_s, reserve)
    steps = int(dist.broadcast_object(steps))
    epochs = -(-steps // len(loader))
    plan = EpochPlan(budget, steps, epochs, step_s, eval_s, spent, reserve_epochs=reserve)
    return ResolvedSettings(precision, epochs, torch.get_num_threads(), world, plan)


def replan(
    resolved: ResolvedSettings,
    *,
    elapsed_s: float,
    steps_done: int,
    steps_per_epoch: int,
    step_s: float,
    eval_s: float,
) -> ResolvedSettings | None:
    """A time budget checked after an epoch (`EpochPlan.replanned`): the settings with the
    plan resized to what fits the budget left, or None when there is no budget or the plan
    stands."""
    if resolved.plan is None:
        return None
    plan = resolved.plan.replanned(
        elapsed_s=elapsed_s,
        steps_done=steps_done,
        steps_per_epoch=steps_per_epoch,
        step_s=step_s,
        eval_s=eval_s,
    )
    return None if plan is None else replace(resolved, epochs=plan.epochs, plan=plan)


def read_resolved(run: RunDir, config: TrainConfig) -> ResolvedSettings:
    """The original run's resolved settings; its thread count is restored, since a
    different one changes the float summation order and so the final weights."""
    if not run.config.is_file():  # (no checkpoint yet: the run starts over, RunDir.resume)
        raise FileNotFoundError(f"nothing to resume: {run.config} does not exist")
    try:
        saved = json.loads(run.config.read_text()).get("resolved")
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot resume {run.root}: {run.config} unreadable ({e})") from None
    if saved is None:  # a run folder from before settings were resolved
        return ResolvedSettings(
            resolve_amp(config.amp), config.epochs, torch.get_num_threads(), dist.world_size()
        )
    resolved = ResolvedSettings.from_dict(saved)
    torch.set_num_threads(resolved.threads)
    return resolved
