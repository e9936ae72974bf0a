"""`TrainConfig`: everything a training run depends on, saved as the run's `config.json`."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..hardware import AMP_CHOICES
from ..models import get_model_config
from ..models.shapes import min_input_size

AUGMENTS = ("none", "flip", "crop-flip", "crop-flip-erase", "rrc-flip")
FREEZE_CHOICES = ("features",)
LOGGERS = ("tensorboard",)


@dataclass
class TrainConfig:
    """Everything a run depends on; saved as the run's `config.json`.

    Attributes:
        model: registered model name (see `squeezenet list`); with `weights`, theirs.
        model_kwargs: model options (batch_norm, small_input, sr, ...): `--model-arg KEY=VALUE`.
        weights: fine-tune these weights (a model file, a run folder or 'imagenet'). The
            architecture and preprocessing are theirs; the classifier is reset to the data's
            classes.
        freeze: features: train only the classifier (needs weights).
        data: fashion-mnist | mnist | cifar10:PATH | folder:PATH.
        data_dir: where to look for / download the data.
        image_size: resize images to this side (default: the dataset's own, or the weights').
        skip_bad_images: skip undecodable images (counted) instead of failing.
        val_fraction: hold out this much of train for validation (0: validate on the test split).
        out: run folder; taken as is only if new or empty, else <out>2, ...
        exist_ok: write into the run folder even if it holds a run (its files are replaced).
        epochs: training epochs.
        time: minutes for the whole run: the schedule spans them (overrides epochs).
        time_reserve: with --time, leave this many epochs' worth of training time (at the
            measured step time; at most 30% of the budget) unspent, for work after training.
        batch_size: global batch size.
        optimizer: sgd | adamw.
        lr: peak learning rate.
        momentum: SGD momentum.
        nesterov: Nesterov momentum.
        weight_decay: decay on conv weights.
        schedule: cosine | onecycle | constant.
        warmup_epochs: linear warmup length in epochs.
        label_smoothing: cross-entropy label smoothing.
        grad_clip: clip the gradient norm to this (default: no clipping).
        augment: none | flip | crop-flip | crop-flip-erase | rrc-flip.
        channels_last: channels-last memory format.
        amp: auto (bf16 where native, else fp32) | bf16 | none.
        compile: torch.compile the model.
        seed: random seed.
        device: auto | cpu | cuda | cuda:N.
        eval_batch_size: evaluation batch size.
        progress: print per-epoch progress.
        logger: tensorboard: write TensorBoard event files into the run folder (needs the
            tensorboard extra).
    """

    model: str = "squeezenet1_1"
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # batch_norm, small_input, ...
    # Transfer learning: start from these weights (any file `load_model` reads, a run folder,
    # or "imagenet"); the architecture is theirs, the classifier is reset to the data's classes.
    weights: str | None = None
    freeze: str | None = None  # "features": train the classifier only
    data: str = "fashion-mnist"
    data_dir: str | None = None
    image_size: int | None = None  # resize the dataset (None: native size, or the weights')
    skip_bad_images: bool = False
    val_fraction: float = 0.0  # > 0: hold out part of train; 0: validate on the test split
    out: str = "runs/exp"  # taken as is only if new or empty (or exist_ok); else runs/exp2, ...
    exist_ok: bool = False  # write into an existing run folder (its files are replaced)
    epochs: int = 10
    time: float | None = None  # minutes for the whole run: overrides epochs (see budget.py)
    time_reserve: float = 0.0  # epochs of training time a --time budget leaves unspent
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    grad_clip: float | None = None
    augment: str = "crop-flip"
    channels_last: bool = True
    amp: str = "auto"  # bf16 autocast where the device runs bf16 natively, else float32
    compile: bool = False
    seed: int = 0
    device: str = "auto"
    eval_batch_size: int = 512
    progress: bool = True
    logger: str | None = None  # "tensorboard": event files in the run folder

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "lr": 0 < self.lr < math.inf,
            "momentum": 0 <= self.momentum < math.inf,
            "time": self.time is None or 0 < self.time < math.inf,
            "time_reserve": 0 <= self.time_reserve < math.inf,
            "label_smoothing": 0 <= self.label_smoothing < 1,
            "warmup_epochs": self.warmup_epochs >= 0,
            "val_fraction": 0 <= self.val_fraction < 1,
            "weight_decay": 0 <= self.weight_decay < math.inf,
            "grad_clip": self.grad_clip is None or self.grad_clip > 0,
            "eval_batch_size": self.eval_batch_size >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"invalid {name}: {getattr(self, name)!r}")
        for name, value, choices in (
            ("augment", self.augment, AUGMENTS),
            ("amp", self.amp, AMP_CHOICES),
            ("optimizer", self.optimizer, ("sgd", "adamw")),
            ("schedule", self.schedule, ("cosine", "onecycle", "constant")),
            ("freeze", self.freeze, (None, *FREEZE_CHOICES)),
            ("logger", self.logger, (None, *LOGGERS)),
        ):
            if value not in choices:
                raise ValueError(f"invalid {name} {value!r}; choose one of {choices}")
        parse_device(self.device)  # availability is checked where the run starts
        if self.weights is not None:
            self._check_transfer()
            return  # the architecture (and its input size) is the weights'
        if self.freeze is not None:
            raise ValueError(f"freeze={self.freeze!r} needs weights to start from (--weights)")
        get_model_config(self.model, **self.model_kwargs)  # fail fast on a bad model or option
        if self.image_size is not None:
            _check_image_size(self.model, self.model_kwargs, self.image_size)

    def _check_transfer(self) -> None:
        if not self.weights:
            raise ValueError("invalid weights: ''; name a model file, a run folder or 'imagenet'")
        if self.model_kwargs:
            raise ValueError(
                f"model_kwargs {sorted(self.model_kwargs)} do not apply: the weights "
                f"{self.weights!r} fix the architecture"
            )
        if self.image_size is not None and self.image_size < 1:
            raise ValueError(f"invalid image_size: {self.image_size!r}")

    @property
    def validates_on_test(self) -> bool:
        """No validation split is held out: per-epoch figures and best.safetensors come from
        the test split, so only the final weights' figure is an unbiased test accuracy."""
        return self.val_fraction <= 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_image_size(model: str, model_kwargs: dict[str, Any], size: int) -> None:
    """Refuse a side the model cannot classify (build_model's small-input default included)."""
    if size < 1:
        raise ValueError(f"invalid image_size: {size!r}")
    minimum = min_input_size(get_model_config(model, **{"small_input": size < 64, **model_kwargs}))
    if size < minimum:
        raise ValueError(f"invalid image_size {size}: {model} needs at least {minimum} pixels")


def parse_device(name: str) -> torch.device | None:
    """torch.device(name), None for 'auto'; a ValueError naming the choices if malformed."""
    if name == "auto":
        return None
    try:
        return torch.device(name)
    except RuntimeError:
        raise ValueError(f"invalid device {name!r}; choose auto, cpu, cuda or cuda:N") from None


def resolve_device(name: str) -> torch.device:
    """The device to run on: 'auto' picks CUDA when available, else CPU."""
    device = parse_device(name)
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: CUDA is not available here; use auto or cpu")
    return device


def load_run_config(run_dir: str | os.PathLike) -> TrainConfig:
    """The TrainConfig an existing run folder was started with (for `--resume`), writing to
    `run_dir` itself wherever the folder now is (config.json holds the original `out`)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"cannot resume: {path} does not exist")
    try:
        settings = json.loads(path.read_text())
        for key in ("resolved", "started"):  # what the run became, read again by fit
            settings.pop(key, None)
        return TrainConfig(**{**settings, "out": str(run_dir)})
    except (TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a valid run config ({e})") from None
