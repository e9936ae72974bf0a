"""One training step and one pass over a loader: the inner loop `fit` and compression
retraining share (`compress/finetune.py`)."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn

from ..data import BatchLoader
from ..hardware import resolve_amp
from .progress import EpochProgress


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
    after_backward: Callable[[nn.Module], None] | None = None,
    after_step: Callable[[nn.Module], None] | None = None,
    progress: EpochProgress | None = None,
    shard: tuple[int, int] = (0, 1),
    max_steps: int | None = None,
) -> dict[str, float]:
    """One pass over `loader`; returns mean loss, top-1 and images/s on the training batches.

    `after_backward(model)` may edit gradients (e.g. masks) before the step and
    `after_step(model)` may edit weights after it. `max_steps` ends the pass early (the
    partial last epoch of a time budget). `shard=(rank, world)` takes this
    process's slice of every global batch (distributed training).
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    autocast = resolve_amp(amp, device).autocast if amp == "auto" else amp == "bf16"
    model.train()
    rank, world = shard
    loss_sum = torch.zeros((), dtype=torch.float64)
    correct, seen, start = 0, 0, time.perf_counter()
    for step, (images, labels) in enumerate(loader, start=1):
        images, labels = images[rank::world].to(device), labels[rank::world].to(device)
        loss, logits = training_step(
            model, optimizer, images, labels, loss_fn=loss_fn, autocast=autocast,
            grad_clip=grad_clip, after_backward=after_backward,
        )  # fmt: skip
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"loss is {loss.item()} at step {step}; stopped. The last good checkpoint is kept. "
                "Lower --lr, set --grad-clip, or check the data."
            )
        if scheduler is not None:
            scheduler.step()
        if after_step is not None:
            after_step(model)
        loss_sum += loss.detach().double() * labels.numel()
        correct += (logits.argmax(1) == labels).sum().item()
        seen += labels.numel()
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
    after_backward: Callable[[nn.Module], None] | None = None,
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
    if after_backward is not None:
        after_backward(model)
    if grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss, logits
