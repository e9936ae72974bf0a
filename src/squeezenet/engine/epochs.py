"""One epoch of a run: its steps, evaluation, files and report, and the time budget's
check after it. `train.fit` drives these over a `Training` built once by `train._prepare`."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..checkpoint import save_model
from ..data import BatchLoader
from ..models import SqueezeNet
from . import distributed as dist
from .config import TrainConfig
from .evaluate import EvalResult, evaluate
from .logger import TensorBoardLogger
from .loop import NonFiniteLossError, train_one_epoch
from .optim import build_scheduler
from .plots import plot_curves
from .progress import EpochProgress
from .run import RunDir
from .settings import ResolvedSettings, replan
from .setup import TrainData


@dataclass
class Training:
    """Everything the epochs work with (built once by `_prepare`)."""

    config: TrainConfig
    run: RunDir
    data: TrainData
    loader: BatchLoader
    model: SqueezeNet  # what is saved and evaluated
    step_model: nn.Module  # what steps: the model, wrapped for DDP and/or compiled
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    loss_fn: nn.Module
    device: torch.device
    resolved: ResolvedSettings
    rank: int
    world: int

    @property
    def is_main(self) -> bool:
        return dist.is_main(self.rank)

    @property
    def total_steps(self) -> int:  # a time budget's last epoch may be partial
        return self.resolved.total_steps(len(self.loader))

    def evaluate(self, model: nn.Module) -> EvalResult:
        return evaluate(
            model,
            self.data.val,
            batch_size=self.config.eval_batch_size,
            normalize=self.data.normalize,
            device=next(model.parameters()).device,
            channels_last=self.config.channels_last,
        )


@dataclass
class RunState:
    """What the run has done so far: restored from the checkpoint on resume."""

    epochs_done: int = 0
    best_top1: float = -1.0
    history: list[dict[str, Any]] = field(default_factory=list)
    final_eval: EvalResult | None = None  # the last epoch's evaluation (rank 0)
    # A resumed run's time budget counts what the run spent before it stopped.
    spent_before_s: float = 0.0
    # (training, evaluation) seconds of each full epoch this process ran: the time budget
    # prices the rest at their mean, as ultralytics does (one epoch's noise would make the
    # schedule stretch and shrink in turn).
    epoch_seconds: list[tuple[float, float]] = field(default_factory=list)


def planned_schedule(
    config: TrainConfig,
    optimizer: torch.optim.Optimizer,
    resolved: ResolvedSettings,
    steps_per_epoch: int,
    steps_done: int = 0,
) -> torch.optim.lr_scheduler.LRScheduler:
    """The schedule over the planned steps, built at `steps_done` (a re-planned budget)."""
    return build_scheduler(
        optimizer,
        config.schedule,
        total_steps=resolved.total_steps(steps_per_epoch),
        warmup_steps=round(config.warmup_epochs * steps_per_epoch),
        steps_done=steps_done,
    )


def end_epoch(
    t: Training,
    state: RunState,
    epoch: int,
    stats: dict[str, float],
    t_epoch: float,
    logger: TensorBoardLogger | None,
) -> float:
    """Rank 0 after an epoch's steps: evaluate, write the files, report; returns the
    evaluation's seconds."""
    t_eval = time.perf_counter()
    val = t.evaluate(t.model)
    eval_s = time.perf_counter() - t_eval
    if not math.isfinite(val.loss):  # the epoch's last steps diverged: keep old files
        raise NonFiniteLossError(
            f"validation loss is {val.loss} after epoch {epoch + 1}; stopped. The last "
            "good checkpoint is kept. Lower --lr, set --grad-clip, or check the data."
        )
    row = {
        "epoch": epoch + 1,
        "lr": t.optimizer.param_groups[0]["lr"],
        **stats,
        "val_loss": val.loss,
        "val_top1": val.top1,
        "val_top5": val.top5,
        "epoch_time_s": time.perf_counter() - t_epoch,
    }
    state.history.append(row)
    state.final_eval = val
    write_epoch(t, state, val)
    report_epoch(t, row, logger)
    return eval_s


def keep_to_budget(
    t: Training, state: RunState, epochs_done: int, train_s: float, eval_s: float, t0: float
) -> None:
    """A time budget checked after each epoch: priced at the mean cost of the epochs run so
    far, the rest of the schedule is stretched or shrunk to what fits the budget left (rank
    0 decides, every rank adopts; config.json records it, so --resume continues it)."""
    steps_per_epoch = len(t.loader)
    done = min(epochs_done * steps_per_epoch, t.total_steps)
    if t.resolved.plan is None or done >= t.total_steps:
        return
    state.epoch_seconds.append((train_s, eval_s))
    mean_train_s, mean_eval_s = (
        sum(c) / len(state.epoch_seconds) for c in zip(*state.epoch_seconds)
    )
    new = None
    if t.is_main:
        new = replan(
            t.resolved,
            elapsed_s=state.spent_before_s + time.perf_counter() - t0,
            steps_done=done,
            steps_per_epoch=steps_per_epoch,
            step_s=mean_train_s / steps_per_epoch,
            eval_s=mean_eval_s,
        )
    new = dist.broadcast_object(new)
    if new is None:
        return
    was = t.total_steps
    t.resolved = new
    t.scheduler = planned_schedule(t.config, t.optimizer, new, steps_per_epoch, steps_done=done)
    if t.is_main:
        t.run.write_json(t.run.config, {**t.run.read_config(), "resolved": new.to_dict()})
        if t.config.progress:
            epoch_s = mean_train_s + mean_eval_s
            print(new.plan.describe_replan(steps_per_epoch, epoch_s, was), flush=True)


def train_epoch(t: Training, epoch: int, logger: TensorBoardLogger | None) -> dict[str, float]:
    """One epoch's steps (fewer in a time budget's partial last epoch)."""
    steps = len(t.loader)
    epoch_steps = min(steps, t.total_steps - epoch * steps)
    t.loader.set_epoch(epoch)
    on_step = None
    if logger is not None:

        def on_step(step: int, loss: float, top1: float) -> None:
            logger.step(epoch * steps + step, loss, top1, t.optimizer.param_groups[0]["lr"])

    bar = EpochProgress(
        epoch, t.resolved.epochs, epoch_steps, enabled=t.config.progress and t.is_main
    )
    try:
        return train_one_epoch(
            t.step_model,
            t.loader,
            t.optimizer,
            scheduler=t.scheduler,
            loss_fn=t.loss_fn,
            device=t.device,
            amp=t.resolved.precision.amp,
            grad_clip=t.config.grad_clip,
            progress=bar,
            shard=(t.rank, t.world),
            max_steps=epoch_steps,
            on_step=on_step,
        )
    finally:
        bar.close()


def write_epoch(t: Training, state: RunState, val: EvalResult) -> None:
    """Persist one finished epoch: weights, metrics, curves, then the resume checkpoint last."""
    save_model(t.model, t.run.last)
    if val.top1 > state.best_top1:
        state.best_top1 = val.top1
        save_model(t.model, t.run.best)
    t.run.write_metrics(state.history)
    plot_curves(state.history, t.run.curves)
    t.run.save_checkpoint(
        {
            "model": t.model.state_dict(),
            "optimizer": t.optimizer.state_dict(),
            "scheduler": t.scheduler.state_dict(),
            "epoch": len(state.history),
            "best_top1": state.best_top1,
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "history": state.history,
            "config": json.dumps(t.config.to_dict()),
            # The weights alone cannot tell small_input, stem_pool, simple bypass or the head's
            # ReLU: load_model reads the architecture and preprocessing from here.
            "model_config": json.dumps(t.model.config.to_dict()),
            "meta": json.dumps(t.model.meta.to_dict()),
        }
    )


def report_epoch(t: Training, row: dict[str, Any], logger: TensorBoardLogger | None) -> None:
    if logger is not None:
        logger.epoch(row, row["epoch"] * len(t.loader))
    if t.config.progress:
        print(
            f"epoch {row['epoch']}/{t.resolved.epochs} train_loss {row['train_loss']:.4f} "
            f"val_top1 {row['val_top1']:.4f} val_top5 {row['val_top5']:.4f} "
            f"({row['epoch_time_s']:.0f}s, {row['train_images_per_s']:.0f} img/s)",
            flush=True,
        )
