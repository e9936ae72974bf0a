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
from ..hardware import AMP_CHOICES, Precision, keep_freed_memory, resolve_amp
from ..meta import ModelMeta, Preprocessing
from ..models import SqueezeNet, create_model, get_model_config
from . import distributed as dist
from .budget import EpochPlan, epochs_within, measure_eval_time, measure_step_time
from .evaluate import EvalResult, evaluate
from .optim import build_optimizer, build_scheduler
from .plots import plot_confusion, plot_curves
from .progress import EpochProgress
from .run import RunDir, claim_run_dir

AUGMENTS = ("none", "flip", "crop-flip", "crop-flip-erase", "rrc-flip")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stopped and its last good checkpoint stays."""


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
) -> dict[str, float]:
    """One pass over `loader`; returns mean loss, top-1 and images/s on the training batches.

    `after_backward(model)` may edit gradients (e.g. masks) before the step and
    `after_step(model)` may edit weights after it. `shard=(rank, world)` takes this
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
        resolved = _read_resolved(run, config)
    else:
        resolved = _resolve(config, t0=t0, model=model, loader=loader, loss_fn=loss_fn,
                            val_data=val_data, normalize=normalize, device=device)  # fmt: skip
    epochs, steps = resolved.epochs, len(loader)
    if config.progress and dist.is_main(rank):
        print(f"run folder: {run.root}\n{resolved.describe(steps)}", flush=True)
    optimizer = _optimizer(model, config)
    scheduler = build_scheduler(
        optimizer, config.schedule, total_steps=epochs * steps,
        warmup_steps=round(config.warmup_epochs * steps),
    )  # fmt: skip

    # ---- resume, or start a fresh run folder
    start_epoch, best_top1, history = 0, -1.0, []
    final_eval: EvalResult | None = None  # the last epoch's evaluation (rank 0)
    if resume:
        start_epoch, best_top1, history = _resume(run, config, model, optimizer, scheduler,
                                                  epochs=epochs)  # fmt: skip
    elif dist.is_main(rank):
        run.write_json(run.config, {**config.to_dict(), "resolved": resolved.to_dict(),
                                    "started": _now()})  # fmt: skip
    step_model = dist.wrap(model, device)
    if config.compile:
        step_model = torch.compile(step_model)

    for epoch in range(start_epoch, epochs):
        loader.set_epoch(epoch)
        t_epoch = time.perf_counter()
        bar = EpochProgress(epoch, epochs, steps, enabled=config.progress and dist.is_main(rank))
        try:
            stats = train_one_epoch(
                step_model, loader, optimizer, scheduler=scheduler, loss_fn=loss_fn, device=device,
                amp=resolved.precision.amp, grad_clip=config.grad_clip, progress=bar,
                shard=(rank, world),
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


@dataclass(frozen=True)
class ResolvedSettings:
    """What the run's machine-dependent settings became: stored in config.json under
    "resolved" and restored by --resume, so a resumed run computes what the original did."""

    precision: Precision
    epochs: int
    threads: int
    world_size: int
    plan: EpochPlan | None = None

    def describe(self, steps_per_epoch: int) -> str:
        what = f"precision: {self.precision.reason}; {self.threads} CPU threads"
        if self.plan is not None:
            return f"{what}\n{self.plan.describe(steps_per_epoch)}"
        return what

    def to_dict(self) -> dict[str, Any]:
        return {"amp": self.precision.amp, "amp_reason": self.precision.reason,
                "epochs": self.epochs, "threads": self.threads, "world_size": self.world_size,
                "time_plan": self.plan.to_dict() if self.plan else None}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResolvedSettings:
        plan = EpochPlan(**d["time_plan"]) if d.get("time_plan") else None
        return cls(Precision(d["amp"], d["amp_reason"]), int(d["epochs"]), int(d["threads"]),
                   int(d["world_size"]), plan)  # fmt: skip


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    return build_optimizer(
        model, config.optimizer, config.lr, momentum=config.momentum,
        nesterov=config.nesterov, weight_decay=config.weight_decay,
    )  # fmt: skip


def _resolve(
    config: TrainConfig, *, t0: float, model: nn.Module, loader: BatchLoader, loss_fn: nn.Module,
    val_data: InMemoryDataset, normalize: Normalize, device: torch.device,
) -> ResolvedSettings:
    """Precision from the hardware; with a time budget, the epochs that fit in it, timed on
    a copy of the model (rank 0's plan is every rank's)."""
    precision = resolve_amp(config.amp, device)
    world = dist.world_size()
    if config.time is None:
        return ResolvedSettings(precision, config.epochs, torch.get_num_threads(), world)

    def step(m, opt, images, labels):
        training_step(m, opt, images.to(device), labels.to(device), loss_fn=loss_fn,
                      autocast=precision.autocast, grad_clip=config.grad_clip)  # fmt: skip

    def score(n: int) -> None:
        evaluate(model, val_data.subset(torch.arange(n)), batch_size=config.eval_batch_size,
                 normalize=normalize, device=device, channels_last=config.channels_last)  # fmt: skip

    loader.set_epoch(0)
    step_s = measure_step_time(model, lambda m: _optimizer(m, config), loader, step)
    eval_s = measure_eval_time(score, len(val_data))
    spent = time.perf_counter() - t0
    budget = 60 * config.time
    epochs = epochs_within(budget, spent, len(loader), step_s, eval_s)
    epochs = dist.broadcast_object(epochs)
    plan = EpochPlan(budget, epochs, step_s, eval_s, spent)
    return ResolvedSettings(precision, epochs, torch.get_num_threads(), world, plan)


def _read_resolved(run: RunDir, config: TrainConfig) -> ResolvedSettings:
    """The original run's resolved settings; its thread count is restored, since a
    different one changes the float summation order and so the final weights."""
    if not run.checkpoint.is_file():
        raise FileNotFoundError(f"nothing to resume: {run.checkpoint} does not exist")
    try:
        saved = json.loads(run.config.read_text()).get("resolved")
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot resume {run.root}: {run.config} unreadable ({e})") from None
    if saved is None:  # a run folder from before settings were resolved
        return ResolvedSettings(resolve_amp(config.amp), config.epochs, torch.get_num_threads(),
                                dist.world_size())  # fmt: skip
    resolved = ResolvedSettings.from_dict(saved)
    torch.set_num_threads(resolved.threads)
    return resolved


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


def _resume(run, config, model, optimizer, scheduler, *, epochs: int) -> tuple[int, float, list]:
    state = run.load_checkpoint()
    saved = json.loads(state["config"])
    # Where the folder is and whether a bar is drawn are not training settings.
    changed = [k for k, v in config.to_dict().items()
               if saved.get(k) != v and k not in ("out", "progress", "exist_ok")]  # fmt: skip
    if changed:
        raise ValueError(
            f"cannot resume {run.root}: settings differ from the original run: "
            + ", ".join(f"{k}={saved.get(k)!r} -> {getattr(config, k)!r}" for k in changed)
        )
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    if state.get("cuda_rng") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    if state["epoch"] >= epochs:
        raise ValueError(f"{run.root} already finished all {epochs} epochs")
    return int(state["epoch"]), float(state["best_top1"]), list(state["history"])


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
