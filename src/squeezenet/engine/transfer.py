"""Transfer learning: start from saved weights, give them the data's classes, freeze a part.

    model = start_model("imagenet")          # any file load_model reads, or a run folder
    adapt_to_classes_(model, ["cat", "dog", "fox"])
    freeze_(model, "features")               # only the classifier trains

Frozen parameters get `requires_grad=False` (so the optimizer never holds them) and their
BatchNorm layers keep their running statistics (`loop.train_mode`).
"""

from __future__ import annotations

from dataclasses import replace

from ..checkpoint import load_model
from ..models import SqueezeNet
from .config import FREEZE_CHOICES


def start_model(weights: str) -> SqueezeNet:
    """The model to fine-tune: any model file, run folder or shipped name ("imagenet")."""
    return load_model(weights).train()


def adapt_to_classes_(model: SqueezeNet, class_names: list[str], dataset: str) -> None:
    """A freshly initialised classifier for `class_names`; the preprocessing stays the
    weights' (the features were learned on inputs normalised that way)."""
    model.reset_classifier(len(class_names))
    model.meta = replace(model.meta, class_names=tuple(class_names), dataset=dataset)


def freeze_(model: SqueezeNet, part: str | None) -> None:
    """Stop training `part` ("features": everything before the classifier; None: nothing)."""
    if part is None:
        return
    if part not in FREEZE_CHOICES:
        raise ValueError(f"invalid freeze {part!r}; choose one of {FREEZE_CHOICES}")
    for p in model.features.parameters():
        p.requires_grad_(False)
