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
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import save_model
from ..data import (
    BatchLoader,
    Compose,
    InMemoryDataset,
    Normalize,
    RandomCropWithPadding,
    RandomErasing,
    RandomHorizontalFlip,
    RandomResizedCrop,
    compute_mean_std,
    load_dataset,
    parse_spec,
)
from ..data.folder import resolve_split
from ..hardware import AMP_CHOICES, keep_freed_memory
from ..meta import ModelMeta, Preprocessing
from ..models import SqueezeNet, create_model, get_model_config
from ..models.shapes import min_input_size
from . import distributed as dist
from .evaluate import EvalResult, evaluate
from .loop import NonFiniteLossError, train_one_epoch
from .optim import build_scheduler
from .plots import plot_confusion, plot_curves
from .progress import EpochProgress
from .run import RunDir, claim_run_dir
from .settings import ResolvedSettings, make_optimizer, read_resolved, resolve_settings

AUGMENTS = ("none", "flip", "crop-flip", "crop-flip-erase", "rrc-flip")


@dataclass
class TrainConfig:
    """Everything a run depends on; saved as the run's `config.json`."""

    model: str = "squeezenet1_1"
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # batch_norm, small_input, ...
    data: str = "fashion-mnist"
    data_dir: str | None = None
    image_size: int | None = None  # resize the dataset (None: native size)
    skip_bad_images: bool = False
    val_fraction: float = 0.0  # > 0: hold out part of train; 0: validate on the test split
    out: str = "runs/exp"  # taken as is only if new or empty (or exist_ok); else runs/exp2, ...
    exist_ok: bool = False  # write into an existing run folder (its files are replaced)
    epochs: int = 10
    time: float | None = None  # minutes for the whole run: overrides epochs (see budget.py)
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

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 1, "batch_size": self.batch_size >= 1,
            "lr": 0 < self.lr < math.inf, "momentum": 0 <= self.momentum < math.inf,
            "time": self.time is None or 0 < self.time < math.inf,
            "label_smoothing": 0 <= self.label_smoothing < 1, "warmup_epochs": self.warmup_epochs >= 0,
            "val_fraction": 0 <= self.val_fraction < 1,
            "weight_decay": 0 <= self.weight_decay < math.inf,
            "grad_clip": self.grad_clip is None or self.grad_clip > 0,
            "eval_batch_size": self.eval_batch_size >= 1,
        }  # fmt: skip
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"invalid {name}: {getattr(self, name)!r}")
        for name, value, choices in (
            ("augment", self.augment, AUGMENTS), ("amp", self.amp, AMP_CHOICES),
            ("optimizer", self.optimizer, ("sgd", "adamw")),
            ("schedule", self.schedule, ("cosine", "onecycle", "constant")),
        ):  # fmt: skip
            if value not in choices:
                raise ValueError(f"invalid {name} {value!r}; choose one of {choices}")
        get_model_config(self.model, **self.model_kwargs)  # fail fast on a bad model or option
        parse_device(self.device)  # availability is checked where the run starts
        if self.image_size is not None:
            _check_image_size(self.model, self.model_kwargs, self.image_size)

    @property
    def validates_on_test(self) -> bool:
        """No validation split is held out: per-epoch figures and best.safetensors come from
        the test split, so only the final weights' figure is an unbiased test accuracy."""
        return self.val_fraction <= 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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


def build_augment(kind: str, size: int) -> Compose | None:
    """Batch augmentation: random crop with padding (size/8) and/or flip, or random resized
    crop; "crop-flip-erase" adds random erasing (p=0.5) after crop and flip."""
    if kind not in AUGMENTS:  # a typo must not quietly train with flips only
        raise ValueError(f"invalid augment {kind!r}; choose one of {AUGMENTS}")
    if kind == "none":
        return None
    steps: list = []
    if kind.startswith("crop-flip"):
        steps.append(RandomCropWithPadding(size, padding=max(1, size // 8)))
    elif kind == "rrc-flip":
        steps.append(RandomResizedCrop(size, scale=(0.35, 1.0)))
    steps.append(RandomHorizontalFlip())
    if kind.endswith("-erase"):
        steps.append(RandomErasing())
    return Compose(steps)


def split_train_val(
    train: InMemoryDataset, fraction: float, seed: int
) -> tuple[InMemoryDataset, InMemoryDataset]:
    """Hold out a random `fraction` (> 0) of train for validation."""
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    n_val = max(1, int(len(train) * fraction))
    return train.subset(order[n_val:]), train.subset(order[:n_val])


def _check_validation_is_held_out(config: TrainConfig) -> None:
    """A folder of class folders without train/ and val/ (or test/) serves every split: its
    "test" split would be the training images themselves, so ask for a held-out fraction."""
    kind, path = parse_spec(config.data)
    if kind != "folder" or not config.validates_on_test:
        return
    if resolve_split(path, "train")[0] == resolve_split(path, "test")[0]:
        raise ValueError(
            f"{config.data} has no train/ and val/ (or test/) folders, so validating on its test "
            "split would score the training images; pass --val-fraction (e.g. 0.1)"
        )


def build_model(config: TrainConfig, data: InMemoryDataset) -> SqueezeNet:
    """The model for this data: classes and channels from the dataset, small stem for small images."""
    kwargs = dict(config.model_kwargs)
    kwargs.setdefault("num_classes", len(data.class_names))
    kwargs.setdefault("in_channels", data.images.shape[1])
    kwargs.setdefault("small_input", data.images.shape[-1] < 64)
    return create_model(config.model, **kwargs)


def _model_meta(data: InMemoryDataset, normalize: Normalize, config: TrainConfig) -> ModelMeta:
    pre = Preprocessing(input_size=int(data.images.shape[-1]), mean=normalize.mean,
                        std=normalize.std, in_channels=int(data.images.shape[1]))  # fmt: skip
    return ModelMeta(class_names=data.class_names, preprocessing=pre, dataset=config.data)


def fit(config: TrainConfig, *, resume: bool = False, hooks: Sequence[Hook] = ()) -> FitResult:
    """Train `config.model` on `config.data`; see the module docstring for the run folder.

    Args:
        config: the run's settings.
        resume: continue the run in `config.out` from its checkpoint (settings must match).
        hooks: called after each epoch's files are written with a dict holding `epoch`,
            `model`, `metrics`; raising from a hook stops the run (the checkpoint stays).
    """
    t0 = time.perf_counter()
    rank, world = dist.setup()
    if config.batch_size % world:  # every rank takes an equal slice of each global batch
        raise ValueError(
            f"batch_size {config.batch_size} must be a multiple of the {world} processes"
        )
    device = dist.device_for(resolve_device(config.device))
    if not resume:  # never overwrite another run: rank 0 picks the folder for every rank
        out = claim_run_dir(config.out, config.exist_ok) if dist.is_main(rank) else None
        config = dataclasses.replace(config, out=str(dist.broadcast_object(out)))
    run = RunDir(config.out)
    torch.manual_seed(config.seed)

    # ---- data: uint8 tensors in memory, normalised with statistics of the training split
    load = dict(data_dir=config.data_dir, image_size=config.image_size,
                skip_bad_images=config.skip_bad_images)  # fmt: skip
    _check_validation_is_held_out(config)
    train_data = load_dataset(config.data, "train", **load)
    # The test split is read only to validate on: an image folder may have only train/.
    val_data = load_dataset(config.data, "test", **load) if config.validates_on_test else None
    skipped = [str(p) for d in (train_data, val_data) if d is not None for p in d.skipped_paths]
    if skipped and dist.is_main(rank):
        print(f"skipped {len(skipped)} undecodable images (--skip-bad-images), e.g. {skipped[0]}; "
              f"all are listed in {run.results}", flush=True)  # fmt: skip
    if val_data is None:
        train_data, val_data = split_train_val(train_data, config.val_fraction, config.seed)
    normalize = Normalize(*compute_mean_std(train_data.images))
    size = train_data.images.shape[-1]
    loader = BatchLoader(
        train_data, config.batch_size, shuffle=True, augment=build_augment(config.augment, size),
        normalize=normalize, drop_last=True, seed=config.seed, channels_last=config.channels_last,
    )  # fmt: skip

    # ---- model, optimizer, per-step schedule
    model = build_model(config, train_data).to(device)
    model.meta = _model_meta(train_data, normalize, config)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    keep_freed_memory()  # see hardware.py: no page faults on every step's activations

    # ---- what "auto" and --time become on this machine (a resumed run keeps its own)
    if resume:
        resolved = read_resolved(run, config)
    else:
        resolved = resolve_settings(
            config, t0=t0, model=model, loader=loader, loss_fn=loss_fn, val_data=val_data,
            normalize=normalize, device=device,
        )  # fmt: skip
    epochs, steps = resolved.epochs, len(loader)
    total_steps = resolved.total_steps(steps)  # a time budget's last epoch may be partial
    if config.progress and dist.is_main(rank):
        print(f"run folder: {run.root}\n{resolved.describe(steps)}", flush=True)
    optimizer = make_optimizer(model, config)
    scheduler = build_scheduler(
        optimizer, config.schedule, total_steps=total_steps,
        warmup_steps=round(config.warmup_epochs * steps),
    )  # fmt: skip

    # ---- resume, or start a fresh run folder
    start_epoch, best_top1, history = 0, -1.0, []
    final_eval: EvalResult | None = None  # the last epoch's evaluation (rank 0)
    if resume:
        start_epoch, best_top1, history = run.resume(config.to_dict(), model, optimizer,
                                                     scheduler)  # fmt: skip
        if start_epoch >= epochs and run.results.is_file():
            raise ValueError(f"{run.root} already finished all {epochs} epochs")
    elif dist.is_main(rank):
        run.write_json(run.config, {**config.to_dict(), "resolved": resolved.to_dict(),
                                    "started": _now()})  # fmt: skip
    step_model = dist.wrap(model, device)
    if config.compile:
        step_model = torch.compile(step_model)

    for epoch in range(start_epoch, epochs):
        loader.set_epoch(epoch)
        t_epoch = time.perf_counter()
        epoch_steps = min(steps, total_steps - epoch * steps)
        bar = EpochProgress(epoch, epochs, epoch_steps,
                            enabled=config.progress and dist.is_main(rank))  # fmt: skip
        try:
            stats = train_one_epoch(
                step_model, loader, optimizer, scheduler=scheduler, loss_fn=loss_fn, device=device,
                amp=resolved.precision.amp, grad_clip=config.grad_clip, progress=bar,
                shard=(rank, world), max_steps=epoch_steps,
            )  # fmt: skip
        finally:
            bar.close()
        if not dist.is_main(rank):
            dist.barrier()
            continue
        val = evaluate(model, val_data, batch_size=config.eval_batch_size, normalize=normalize,
                       device=device, channels_last=config.channels_last)  # fmt: skip
        if not math.isfinite(val.loss):  # the epoch's last steps diverged: keep the old files
            raise NonFiniteLossError(
                f"validation loss is {val.loss} after epoch {epoch + 1}; stopped. The last good "
                "checkpoint is kept. Lower --lr, set --grad-clip, or check the data."
            )
        row = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"], **stats,
               "val_loss": val.loss, "val_top1": val.top1, "val_top5": val.top5,
               "epoch_time_s": time.perf_counter() - t_epoch}  # fmt: skip
        history.append(row)
        final_eval = val
        best_top1 = _write_epoch(run, model, optimizer, scheduler, config, history, val, best_top1)
        if config.progress:
            print(f"epoch {epoch + 1}/{epochs} train_loss {row['train_loss']:.4f} "
                  f"val_top1 {val.top1:.4f} val_top5 {val.top5:.4f} "
                  f"({row['epoch_time_s']:.0f}s, {row['train_images_per_s']:.0f} img/s)", flush=True)  # fmt: skip
        dist.barrier()
        for hook in hooks:
            hook({"epoch": epoch + 1, "model": model, "metrics": row})

    result = _finish(
        run, config, model=model, val_data=val_data, normalize=normalize, final_eval=final_eval,
        history=history, best_top1=best_top1, t0=t0, rank=rank, skipped=skipped,
    )  # fmt: skip
    dist.cleanup()
    return dataclasses.replace(result, resolved=resolved)


def _write_epoch(run, model, optimizer, scheduler, config, history, val, best_top1) -> float:
    """Persist one finished epoch: weights, metrics, curves, then the resume checkpoint last."""
    save_model(model, run.last)
    if val.top1 > best_top1:
        best_top1 = val.top1
        save_model(model, run.best)
    run.write_metrics(history)
    plot_curves(history, run.curves)
    run.save_checkpoint({
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": len(history),
        "best_top1": best_top1,
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "history": history,
        "config": json.dumps(config.to_dict()),
        # The weights alone cannot tell small_input, stem_pool, simple bypass or the head's
        # ReLU: load_model reads the architecture and preprocessing from here.
        "model_config": json.dumps(model.config.to_dict()),
        "meta": json.dumps(model.meta.to_dict()),
    })  # fmt: skip
    return best_top1


def _finish(
    run: RunDir, config: TrainConfig, *, model: nn.Module, val_data: InMemoryDataset,
    normalize: Normalize, final_eval: EvalResult | None, history: list, best_top1: float,
    t0: float, rank: int, skipped: list[str],
) -> FitResult:
    """Evaluate the best weights, draw a confusion matrix and write results.json.

    Validating on the test split, "best" is picked on the test images themselves, so the
    confusion matrix and results.json's headline "final" come from the final weights.
    """
    from ..checkpoint import load_model

    wall = time.perf_counter() - t0
    if not dist.is_main(rank):
        return FitResult(run.root, best_top1, None, len(history), wall, history)
    if final_eval is None and history:  # resumed after the last epoch's checkpoint
        final_eval = evaluate(
            model, val_data, batch_size=config.eval_batch_size, normalize=normalize,
            device=next(model.parameters()).device, channels_last=config.channels_last,
        )  # fmt: skip
    best = load_model(run.best)
    best_eval = evaluate(best, val_data, batch_size=config.eval_batch_size, normalize=normalize)
    shown = final_eval if config.validates_on_test and final_eval is not None else best_eval
    plot_confusion(shown.confusion, val_data.class_names, run.confusion)
    params = sum(p.numel() for p in model.parameters())
    run.write_json(run.results, {
        "model": config.model, "params": params,
        "final": final_eval.to_dict() if final_eval is not None else None,
        "best": best_eval.to_dict(),  # picked on val_split, which may be the test split
        "epochs": len(history), "wall_time_s": wall,
        "val_split": "test" if config.validates_on_test else f"{config.val_fraction:.0%} of train",
        "skipped_images": skipped, "finished": _now(),
    })  # fmt: skip
    return FitResult(run.root, best_top1, best_eval, len(history), wall, history)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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
