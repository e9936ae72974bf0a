"""Training, readable top to bottom: config -> data -> model -> optimizer -> epochs.

`fit(TrainConfig(...))` is what `squeezenet train` runs. Each epoch: train on augmented
batches, evaluate on the validation split, write metrics/weights/checkpoint atomically.
A resumed run (`resume=True`) continues from the checkpoint and, on CPU with the same seed,
ends with exactly the weights of an uninterrupted run: the batch order and augmentations are
pure functions of (seed, epoch), and the global RNG state is saved with the checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import load_model, save_model
from ..data import BatchLoader
from ..hardware import keep_freed_memory
from ..models import SqueezeNet
from . import distributed as dist
from .config import AUGMENTS, TrainConfig, load_run_config, parse_device, resolve_device
from .evaluate import EvalResult, evaluate
from .logger import TensorBoardLogger, open_logger
from .loop import NonFiniteLossError, train_one_epoch
from .optim import build_scheduler
from .plots import plot_confusion, plot_curves
from .progress import EpochProgress
from .run import RunDir, claim_run_dir
from .settings import ResolvedSettings, make_optimizer, read_resolved, resolve_settings
from .setup import (
    TrainData,
    build_augment,
    build_loader,
    build_model,
    load_train_data,
    prepare_model,
    split_train_val,
)
from .transfer import start_model

__all__ = [
    "AUGMENTS",
    "FitResult",
    "NonFiniteLossError",
    "TrainConfig",
    "build_augment",
    "build_model",
    "fit",
    "load_run_config",
    "parse_device",
    "resolve_device",
    "split_train_val",
    "train_one_epoch",
]


@dataclass
class FitResult:
    """What a finished run produced.

    Attributes:
        best_eval: the best weights' full evaluation (None on DDP ranks other than 0).
        history: one metrics row per epoch, as in metrics.csv.
        resolved: what the precision and a time budget became on this machine.
    """

    run_dir: Path
    best_top1: float
    best_eval: EvalResult | None
    epochs_run: int
    wall_time_s: float
    history: list[dict[str, Any]]
    resolved: ResolvedSettings | None = None

    @property
    def final_top1(self) -> float:
        """Validation top-1 of the final weights (NaN if no epoch ran)."""
        return self.history[-1]["val_top1"] if self.history else float("nan")


Hook = Callable[[dict[str, Any]], None]


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


def fit(config: TrainConfig, *, resume: bool = False, hooks: Sequence[Hook] = ()) -> FitResult:
    """Train `config.model` (or fine-tune `config.weights`) on `config.data`.

    Args:
        config: the run's settings.
        resume: continue the run in `config.out` from its checkpoint (settings must match).
        hooks: called after each epoch's files are written with a dict holding `epoch`,
            `model`, `metrics`; raising from a hook stops the run (the checkpoint stays).
    """
    t0 = time.perf_counter()
    t = _prepare(config, resume, t0)
    state = _start_or_resume(t, resume)
    logger = open_logger(t.config.logger, t.run.root) if t.is_main else None
    try:
        for epoch in range(state.epochs_done, t.resolved.epochs):
            t_epoch = time.perf_counter()
            stats = _train_epoch(t, epoch, logger)
            if not t.is_main:
                dist.barrier()
                continue
            val = t.evaluate(t.model)
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
            _write_epoch(t, state, val)
            _report_epoch(t, row, logger)
            dist.barrier()
            for hook in hooks:
                hook({"epoch": epoch + 1, "model": t.model, "metrics": row})
    finally:
        if logger is not None:
            logger.close()
    result = _finish(t, state, t0)
    dist.cleanup()
    return result


def _prepare(config: TrainConfig, resume: bool, t0: float) -> Training:
    """Processes, run folder, data, model, what "auto" and --time become, optimizer."""
    rank, world = dist.setup()
    if config.batch_size % world:  # every rank takes an equal slice of each global batch
        raise ValueError(
            f"batch_size {config.batch_size} must be a multiple of the {world} processes"
        )
    device = dist.device_for(resolve_device(config.device))
    start = start_model(config.weights) if config.weights else None
    if start is not None:  # the weights fix the architecture: config.json records theirs
        config = dataclasses.replace(config, model=start.config.name)
    if not resume:  # never overwrite another run: rank 0 picks the folder for every rank
        out = claim_run_dir(config.out, config.exist_ok) if dist.is_main(rank) else None
        config = dataclasses.replace(config, out=str(dist.broadcast_object(out)))
    run = RunDir(config.out)
    torch.manual_seed(config.seed)

    data = load_train_data(config, start)  # uint8 in memory; the model's normalisation
    if data.skipped and dist.is_main(rank):
        print(f"{data.describe_skipped()}; all are listed in {run.results}", flush=True)
    loader = build_loader(config, data)
    model = prepare_model(config, data, start).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    keep_freed_memory()  # see hardware.py: no page faults on every step's activations

    if resume:  # a resumed run keeps what its settings became
        resolved = read_resolved(run, config)
    else:
        resolved = resolve_settings(
            config,
            t0=t0,
            model=model,
            loader=loader,
            loss_fn=loss_fn,
            val_data=data.val,
            normalize=data.normalize,
            device=device,
        )
    optimizer, scheduler = _optimization(config, model, resolved, len(loader))
    step_model = dist.wrap(model, device)
    if config.compile:
        step_model = torch.compile(step_model)
    return Training(
        config,
        run,
        data,
        loader,
        model,
        step_model,
        optimizer,
        scheduler,
        loss_fn,
        device,
        resolved,
        rank,
        world,
    )


def _optimization(
    config: TrainConfig, model: nn.Module, resolved: ResolvedSettings, steps_per_epoch: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """The optimizer (frozen parameters left out) and a schedule over the planned steps."""
    optimizer = make_optimizer(model, config)
    scheduler = build_scheduler(
        optimizer,
        config.schedule,
        total_steps=resolved.total_steps(steps_per_epoch),
        warmup_steps=round(config.warmup_epochs * steps_per_epoch),
    )
    return optimizer, scheduler


def _start_or_resume(t: Training, resume: bool) -> RunState:
    """Restore the checkpoint of a resumed run, or write a new run's config.json."""
    epochs = t.resolved.epochs
    if t.config.progress and t.is_main:
        print(f"run folder: {t.run.root}\n{t.resolved.describe(len(t.loader))}", flush=True)
    if not resume:
        if t.is_main:
            t.run.write_json(
                t.run.config,
                {**t.config.to_dict(), "started": _now(), "resolved": t.resolved.to_dict()},
            )
        return RunState()
    done, best, history = t.run.resume(t.config.to_dict(), t.model, t.optimizer, t.scheduler)
    if done >= epochs and t.run.results.is_file():
        raise ValueError(f"{t.run.root} already finished all {epochs} epochs")
    return RunState(done, best, history)


def _train_epoch(t: Training, epoch: int, logger: TensorBoardLogger | None) -> dict[str, float]:
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


def _write_epoch(t: Training, state: RunState, val: EvalResult) -> None:
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


def _report_epoch(t: Training, row: dict[str, Any], logger: TensorBoardLogger | None) -> None:
    if logger is not None:
        logger.epoch(row, row["epoch"] * len(t.loader))
    if t.config.progress:
        print(
            f"epoch {row['epoch']}/{t.resolved.epochs} train_loss {row['train_loss']:.4f} "
            f"val_top1 {row['val_top1']:.4f} val_top5 {row['val_top5']:.4f} "
            f"({row['epoch_time_s']:.0f}s, {row['train_images_per_s']:.0f} img/s)",
            flush=True,
        )


def _finish(t: Training, state: RunState, t0: float) -> FitResult:
    """Evaluate the best weights, draw a confusion matrix and write results.json.

    Validating on the test split, "best" is picked on the test images themselves, so the
    confusion matrix and results.json's headline "final" come from the final weights.
    """
    config, run, history = t.config, t.run, state.history
    wall = time.perf_counter() - t0
    if not t.is_main:
        return FitResult(run.root, state.best_top1, None, len(history), wall, history, t.resolved)
    final_eval = state.final_eval
    if final_eval is None and history:  # resumed after the last epoch's checkpoint
        final_eval = t.evaluate(t.model)
    best_eval = t.evaluate(load_model(run.best))
    shown = final_eval if config.validates_on_test and final_eval is not None else best_eval
    plot_confusion(shown.confusion, t.data.val.class_names, run.confusion)
    run.write_json(
        run.results,
        {
            "model": config.model,
            "params": sum(p.numel() for p in t.model.parameters()),
            "final": final_eval.to_dict() if final_eval is not None else None,
            "best": best_eval.to_dict(),  # picked on val_split, which may be the test split
            "epochs": len(history),
            "wall_time_s": wall,
            "val_split": "test"
            if config.validates_on_test
            else f"{config.val_fraction:.0%} of train",
            "skipped_images": t.data.skipped,
            "finished": _now(),
        },
    )
    return FitResult(run.root, state.best_top1, best_eval, len(history), wall, history, t.resolved)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
