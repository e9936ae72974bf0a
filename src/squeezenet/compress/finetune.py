"""Masked retraining and centroid fine-tuning: short training runs on the engine's loop.

Masks and codebooks are parametrizations (see prune.py, quantize.py), so a plain training
step already keeps pruned weights at zero and trains centroids by the summed gradients of
their weights: this module only builds the optimizer, schedule and loader for a budget
given in (possibly fractional) epochs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..data import InMemoryDataset
from ..data.preprocess import input_normalizer, resize_to_input
from ..engine import (
    AUGMENTS,
    build_augment,
    build_optimizer,
    build_scheduler,
    check_compatible,
    train_steps,
)
from ..hardware import AMP_CHOICES, keep_freed_memory, resolve_amp
from ..meta import Preprocessing, preprocessing_for
from .layers import CompressError

Log = Callable[[str], None]
MAX_EPOCHS = 10_000  # a typo's 1e9 would otherwise run until killed


@dataclass(frozen=True)
class FinetuneConfig:
    """One retraining phase.

    Attributes:
        epochs: passes over the training data (fractions allowed: 0.25 = a quarter epoch).
        lr: peak learning rate (cosine decay to zero over the phase).
        optimizer: "sgd" or "adamw".
        momentum: SGD momentum.
        weight_decay: on conv weights only (codebooks and biases are 1-D: not decayed).
        batch_size: training batch size.
        augment: one of the training augmentations (`engine.train.AUGMENTS`), e.g.
            "crop-flip"; best the one the model was trained with.
        label_smoothing: cross-entropy label smoothing.
        warmup: fraction of the steps with a linear learning-rate warmup (a freshly pruned
            network without BatchNorm can blow up under a full-size first step).
        amp: bf16 runs forward and backward under bfloat16 autocast (masks, codebooks and
            the optimizer stay float32); "none" is plain float32; "auto" (default) is bf16
            where the device runs it natively (`hardware.resolve_amp`).
        seed: shuffling and augmentation seed.
    """

    epochs: float = 1.0
    lr: float = 0.01
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    augment: str = "crop-flip"
    label_smoothing: float = 0.0
    warmup: float = 0.05
    amp: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.epochs <= MAX_EPOCHS:  # also refuses NaN
            raise CompressError(f"fine-tune epochs must be in 0..{MAX_EPOCHS}, got {self.epochs!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise CompressError(f"fine-tune lr must be finite and > 0, got {self.lr!r}")
        if not (0 <= self.momentum < 1 and 0 <= self.weight_decay < math.inf):
            raise CompressError(
                f"fine-tune momentum must be in [0, 1) and weight_decay finite and >= 0, got "
                f"{self.momentum!r} and {self.weight_decay!r}"
            )
        if not 0 <= self.label_smoothing < 1:
            raise CompressError(
                f"fine-tune label_smoothing must be in [0, 1), got {self.label_smoothing!r}"
            )
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise CompressError(
                f"fine-tune batch_size must be a positive integer, got {self.batch_size!r}"
            )
        if not 0 <= self.warmup < 1:
            raise CompressError(f"fine-tune warmup must be in [0, 1), got {self.warmup!r}")
        if self.amp not in AMP_CHOICES:
            raise CompressError(f"fine-tune amp must be one of {AMP_CHOICES}, got {self.amp!r}")
        if self.augment not in AUGMENTS:
            raise CompressError(
                f"fine-tune augment must be one of {AUGMENTS}, got {self.augment!r}"
            )
        if self.optimizer not in ("sgd", "adamw"):
            raise CompressError(
                f"fine-tune optimizer must be 'sgd' or 'adamw', got {self.optimizer!r}"
            )


def _fit_input_size(
    model: nn.Module, data: InMemoryDataset
) -> tuple[InMemoryDataset, Preprocessing]:
    """The data resized as the model reads it, and the model's preprocessing."""
    pre = preprocessing_for(model, default_size=data.images.shape[-1])
    return dataclasses.replace(data, images=resize_to_input(data.images, pre)), pre


def finetune_(
    model: nn.Module, train: InMemoryDataset, config: FinetuneConfig, *, log: Log | None = None
) -> dict[str, float]:
    """Train `model` in place for `config.epochs` epochs; returns the last pass's statistics.

    With `log`, progress (steps, loss, ETA) is shown as the engine shows it for training.

    Raises:
        CompressError: if the data does not fit the model (classes, channels, class names).
    """
    try:
        check_compatible(model, train)
    except ValueError as e:
        raise CompressError(str(e)) from None
    train, pre = _fit_input_size(model, train)
    batch = min(config.batch_size, len(train))
    total = max(1, round(config.epochs * (len(train) // batch))) if config.epochs > 0 else 0
    if total == 0:
        return {}
    optimizer = build_optimizer(
        model,
        config.optimizer,
        config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    scheduler = build_scheduler(
        optimizer, "cosine", total_steps=total, warmup_steps=int(config.warmup * total)
    )
    precision = resolve_amp(config.amp)
    if log is not None:
        log(f"fine-tuning precision: {precision.reason}")
    keep_freed_memory()

    def after_pass(done: int, stats: dict[str, float]) -> None:
        if log is not None:
            log(
                f"  {done}/{total} steps, loss {stats['train_loss']:.4f}, "
                f"top-1 {100 * stats['train_top1']:.2f}%"
            )

    # Trained as `fit` trains: channels_last (NCHW weights under channels_last inputs ran
    # 1.33x slower per step); the model is handed back in the default layout, which the
    # .sqz encoder and safetensors expect. Parameters stay the same objects (the optimizer's).
    model.to(memory_format=torch.channels_last)
    try:
        stats = train_steps(
            model,
            train,
            total,
            optimizer,
            scheduler=scheduler,
            loss_fn=nn.CrossEntropyLoss(label_smoothing=config.label_smoothing),
            batch_size=batch,
            normalize=input_normalizer(pre),
            augment=build_augment(config.augment, train.images.shape[-1]),
            amp=precision.amp,
            seed=config.seed,
            show_progress=log is not None,
            after_pass=after_pass,
        )
    finally:
        model.to(memory_format=torch.contiguous_format)
    model.eval()
    return stats
