"""One training step, one pass over a loader, and a number of steps over a dataset: the
inner loop `fit` and compression retraining (`compress/finetune.py`) share."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..data import BatchLoader, BatchTransform, InMemoryDataset
from ..hardware import resolve_amp
from .progress import EpochProgress

StepCallback = Callable[[int, float, float], None]  # (step, batch loss, batch top-1)


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stopped and its last good checkpoint stays."""


def train_one_epoch(
    model: nn.Module,
    loader: BatchLoader,
    optimizer: torch.optim.Optimizer,
    *,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    loss_fn: nn.Module | None = None,
    device: torch.device | str = "cpu",
    amp: str = "none",
    grad_clip: float | None = None,
    progress: EpochProgress | None = None,
    shard: tuple[int, int] = (0, 1),
    max_steps: int | None = None,
    on_step: StepCallback | None = None,
) -> dict[str, float]:
    """One pass over `loader`; returns mean loss, top-1 and images/s on the training batches.

    `max_steps` ends the pass early (the partial last epoch of a time budget).
    `shard=(rank, world)` takes this process's slice of every global batch (distributed
    training). `on_step(step, loss, top1)` gets each batch's figures (a live logger).
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    autocast = resolve_amp(amp, device).autocast if amp == "auto" else amp == "bf16"
    train_mode(model)
    rank, world = shard
    loss_sum = torch.zeros((), dtype=torch.float64)
    correct, seen, start = 0, 0, time.perf_counter()
    for step, (images, labels) in enumerate(loader, start=1):
        images, labels = images[rank::world].to(device), labels[rank::world].to(device)
        loss, logits = training_step(
            model,
            optimizer,
            images,
            labels,
            loss_fn=loss_fn,
            autocast=autocast,
            grad_clip=grad_clip,
        )
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"loss is {loss.item()} at step {step}; stopped. The last good checkpoint is kept. "
                "Lower --lr, set --grad-clip, or check the data."
            )
        if scheduler is not None:
            scheduler.step()
        hits = (logits.argmax(1) == labels).sum().item()
        loss_sum += loss.detach().double() * labels.numel()
        correct += hits
        seen += labels.numel()
        if on_step is not None:
            on_step(step, loss.item(), hits / labels.numel())
        if progress is not None:
            progress.update(step, loss_sum.item() / seen, correct / seen)
        if step == max_steps:  # stop before the loader builds a batch no step will use
            break
    elapsed = time.perf_counter() - start
    return {
        "train_loss": loss_sum.item() / max(seen, 1),
        "train_top1": correct / max(seen, 1),
        "train_images_per_s": seen * world / max(elapsed, 1e-9),
    }


def training_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    loss_fn: nn.Module,
    autocast: bool = False,
    grad_clip: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward, backward and one optimizer step; returns the loss and the logits.

    A non-finite loss takes no step (the caller stops the run).
    """
    with torch.autocast(device_type=images.device.type, dtype=torch.bfloat16, enabled=autocast):
        logits = model(images)  # (B, num_classes)
        loss = loss_fn(logits.float(), labels)
    if not torch.isfinite(loss):
        return loss, logits
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss, logits


def train_mode(model: nn.Module) -> None:
    """`model.train()`, except BatchNorm layers whose parameters are frozen (transfer
    learning): they keep their running statistics, as the weights they belong to do."""
    model.train()
    for m in model.modules():
        if isinstance(m, _BatchNorm) and m.weight is not None and not m.weight.requires_grad:
            m.eval()


def train_steps(
    model: nn.Module,
    train: InMemoryDataset,
    total_steps: int,
    optimizer: torch.optim.Optimizer,
    *,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    loss_fn: nn.Module,
    batch_size: int,
    normalize: BatchTransform,
    augment: BatchTransform | None = None,
    amp: str = "none",
    seed: int = 0,
    show_progress: bool = False,
    after_pass: Callable[[int, dict[str, float]], None] | None = None,
) -> dict[str, float]:
    """`total_steps` training steps over `train` (a budget in fractional epochs): whole
    passes, then a partial one on a random subset of exactly the steps left.

    `after_pass(steps_done, stats)` follows each pass. Returns the last pass's statistics.
    """
    steps_per_pass = len(train) // batch_size
    generator = torch.Generator().manual_seed(seed)
    passes = -(-total_steps // steps_per_pass)
    stats: dict[str, float] = {}
    done, epoch = 0, 0
    while done < total_steps:
        steps = min(total_steps - done, steps_per_pass)
        part = train
        if steps < steps_per_pass:
            order = torch.randperm(len(train), generator=generator)
            part = train.subset(order[: steps * batch_size])
        loader = BatchLoader(
            part,
            batch_size,
            shuffle=True,
            augment=augment,
            normalize=normalize,
            drop_last=True,
            seed=seed,
            channels_last=True,
        )
        loader.set_epoch(epoch)
        progress = EpochProgress(epoch, passes, steps, enabled=show_progress)
        try:
            stats = train_one_epoch(
                model,
                loader,
                optimizer,
                scheduler=scheduler,
                loss_fn=loss_fn,
                amp=amp,
                progress=progress,
            )
        finally:
            progress.close()
        done, epoch = done + steps, epoch + 1
        if after_pass is not None:
            after_pass(done, stats)
    return stats
