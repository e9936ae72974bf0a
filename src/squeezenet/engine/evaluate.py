"""Evaluation: top-1, top-5, per-class accuracy and the confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..data import InMemoryDataset
from ..data.preprocess import input_normalizer, resize_to_input
from ..data.transforms import BatchTransform
from ..meta import get_meta, preprocessing_for


@dataclass
class EvalResult:
    """Accuracy of one model on one dataset split; fractions in [0, 1]."""

    top1: float
    top5: float
    n: int
    loss: float
    per_class: dict[str, float] = field(default_factory=dict)
    confusion: list[list[int]] = field(default_factory=list)  # [true][predicted] counts

    def to_dict(self) -> dict:
        return {
            "top1": self.top1,
            "top5": self.top5,
            "n": self.n,
            "loss": self.loss,
            "per_class": self.per_class,
            "confusion": self.confusion,
        }


def check_compatible(model: nn.Module, dataset: InMemoryDataset) -> None:
    """Raise ValueError when the model cannot be evaluated on this dataset."""
    config = getattr(model, "config", None)
    if config is None:
        return
    if config.num_classes != len(dataset.class_names):
        raise ValueError(
            f"model has {config.num_classes} classes but dataset {dataset.name!r} has "
            f"{len(dataset.class_names)}; pass the data the model was trained on"
        )
    if config.in_channels != dataset.images.shape[1]:
        raise ValueError(
            f"model expects {config.in_channels}-channel images but dataset {dataset.name!r} "
            f"has {dataset.images.shape[1]} channels"
        )
    names = get_meta(model).class_names
    if names and list(names) != list(dataset.class_names):
        raise ValueError(
            f"class names differ: model was trained on {names[:3]}..., dataset "
            f"{dataset.name!r} has {dataset.class_names[:3]}..."
        )


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: InMemoryDataset,
    *,
    batch_size: int = 512,
    normalize: BatchTransform | None = None,
    device: str | torch.device = "cpu",
    channels_last: bool = False,
) -> EvalResult:
    """Evaluate `model` on every image of `dataset` (no augmentation).

    Images go through the model's preprocessing (`data.preprocess`; resized when the
    dataset's size differs); a model without one takes the fallback rule of `meta` at the
    dataset's size. `normalize` replaces the normalising step (the trainer passes its own).
    """
    check_compatible(model, dataset)
    pre = preprocessing_for(model, default_size=dataset.images.shape[-1])
    normalize = normalize or input_normalizer(pre)
    images = resize_to_input(dataset.images, pre)
    was_training = model.training
    model.eval()
    num_classes = len(dataset.class_names)
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    top5_hits, loss_sum = 0, 0.0
    try:
        for start in range(0, len(dataset), batch_size):
            x = normalize(images[start : start + batch_size]).to(device)  # (B, C, H, W)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = dataset.labels[start : start + batch_size].to(device)
            logits = model(x).float()
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            k = min(5, num_classes)
            top5_hits += (logits.topk(k, dim=1).indices == y[:, None]).any(1).sum().item()
            pred = logits.argmax(1)
            confusion += torch.bincount(
                y.cpu() * num_classes + pred.cpu(), minlength=num_classes**2
            ).view(num_classes, num_classes)
    finally:
        model.train(was_training)
    n = len(dataset)
    per_class_total = confusion.sum(1).clamp(min=1)
    per_class = (confusion.diag() / per_class_total).tolist()
    return EvalResult(
        top1=confusion.diag().sum().item() / max(n, 1),
        top5=top5_hits / max(n, 1),
        n=n,
        loss=loss_sum / max(n, 1),
        per_class=dict(zip(dataset.class_names, per_class)),
        confusion=confusion.tolist(),
    )
