"""Training, readable top to bottom: config -> data -> model -> optimizer -> epochs.

`fit(TrainConfig(...))` is what `squeezenet train` runs. Each epoch: train on augmented
batches, evaluate on the validation split, write metrics/weights/checkpoint atomically.
A resumed run (`resume=True`) continues from the checkpoint and, on CPU with the same seed,
ends with exactly the weights of an uninterrupted run: the batch order and augmentations are
pure functions of (seed, epoch), and the global RNG state is saved with the checkpoint.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import load_model
from ..hardware import keep_freed_memory
from . import distributed as dist
from .config import AUGMENTS, TrainConfig, load_run_config, parse_device, resolve_device
from .epochs import RunState, Training, end_epoch, keep_to_budget, planned_schedule, train_epoch
from .evaluate import EvalResult
from .logger import open_logger
from .loop import NonFiniteLossError, train_one_epoch
from .plots import plot_confusion
from .run import RunDir, claim_run_dir
from .settings import ResolvedSettings, make_optimizer, read_resolved, resolve_settings
from .setup import (
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
        epochs_trained: training steps run over steps per epoch: 10.06 where a time
            budget's last epoch was partial and `epochs_run` counts 11 begun.
    """

    run_dir: Path
    best_top1: float
    best_eval: EvalResult | None
    epochs_run: int
    wall_time_s: float
    history: list[dict[str, Any]]
    resolved: ResolvedSettings | None = None
    epochs_trained: float = 0.0

    @property
    def final_top1(self) -> float:
        """Validation top-1 of the final weights (NaN if no epoch ran)."""
        return self.history[-1]["val_top1"] if self.history else float("nan")


Hook = Callable[[dict[str, Any]], None]


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
        epoch = state.epochs_done
        while epoch < t.resolved.epochs:  # a time budget may resize the count as it goes
            t_epoch = time.perf_counter()
            stats = train_epoch(t, epoch, logger)
            train_s = time.perf_counter() - t_epoch
            eval_s = end_epoch(t, state, epoch, stats, t_epoch, logger) if t.is_main else 0.0
            dist.barrier()
            if t.is_main:
                for hook in hooks:
                    hook({"epoch": epoch + 1, "model": t.model, "metrics": state.history[-1]})
            epoch += 1
            keep_to_budget(t, state, epoch, train_s, eval_s, t0)
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
    return optimizer, planned_schedule(config, optimizer, resolved, steps_per_epoch)


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
    if t.resolved.plan is not None and t.resolved.plan.first_steps is not None:
        # config.json holds the re-planned length; a checkpoint written before the change
        # holds the schedule over the old one: rebuild it over the new plan, where it stands.
        position = t.scheduler.last_epoch
        t.scheduler = planned_schedule(t.config, t.optimizer, t.resolved, len(t.loader), position)
    if done >= epochs and t.run.results.is_file():
        raise ValueError(f"{t.run.root} already finished all {epochs} epochs")
    plan = t.resolved.plan
    spent = (plan.planned_at_s if plan else 0.0) + sum(row["epoch_time_s"] for row in history)
    return RunState(done, best, history, spent_before_s=spent)


def _finish(t: Training, state: RunState, t0: float) -> FitResult:
    """Evaluate the best weights, draw a confusion matrix and write results.json.

    Validating on the test split, "best" is picked on the test images themselves, so the
    confusion matrix and results.json's headline "final" come from the final weights.
    """
    config, run, history = t.config, t.run, state.history
    wall = time.perf_counter() - t0
    steps_per_epoch = len(t.loader)
    trained = min(len(history) * steps_per_epoch, t.total_steps) / steps_per_epoch
    result = FitResult(
        run.root, state.best_top1, None, len(history), wall, history, t.resolved, trained
    )
    if not t.is_main:
        return result
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
    return dataclasses.replace(result, best_eval=best_eval)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
