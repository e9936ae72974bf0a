"""Magnitude pruning (Deep Compression stage 1) with exact per-layer sparsity.

`prune_(model, PruneConfig(...))` keeps, in every conv, exactly `round((1 - s) * numel)`
weights of largest magnitude (ties broken by position, so the result is deterministic) and
zeroes the rest through a `torch.nn.utils.parametrize` mask. The mask lives in the module as
a buffer; the unmasked values stay trainable but every forward multiplies them by the mask, so
masked retraining needs no hooks: pruned weights get zero gradient and stay zero. Calling
`prune_` again (iterative pruning) only prunes further among the weights still kept.
Weights that are exactly zero in the source count as pruned already, so a model pruned
elsewhere keeps its pruning (a target it already exceeds prunes nothing more).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.utils.parametrize as parametrize
from torch import nn

from ..models import SqueezeNet
from .layers import (
    CompressError,
    Rules,
    conv_layers,
    laid_out_like,
    normalize_rules,
    resolve_rules,
)

# The SqueezeNet paper's Table 1 pattern (Deep Compression on ImageNet): squeeze and
# expand1x1 dense, expand3x3 ~33% kept, conv10 20% kept, fire9 a little sparser.
PAPER_SPARSITY: Rules[float] = (
    ("fire9.squeeze", 0.5),
    ("fire9.expand3x3", 0.7),
    ("*.expand3x3", 0.67),
    ("conv10", 0.8),
    ("*", 0.0),
)
# Tuned on Fashion-MNIST (10 classes, 28 px): the big late layers carry most redundancy.
AGGRESSIVE_SPARSITY: Rules[float] = (
    ("conv1", 0.3),
    ("fire[23].*", 0.6),
    ("fire[45].squeeze", 0.6),
    ("fire[45].*", 0.8),
    ("*.squeeze", 0.75),
    ("*.bypass", 0.9),
    ("conv10", 0.7),
    ("*", 0.9),
)
SPARSITY_PRESETS: dict[str, Rules[float]] = {
    "none": (("*", 0.0),),
    "paper": PAPER_SPARSITY,
    "aggressive": AGGRESSIVE_SPARSITY,
}


@dataclass(frozen=True)
class PruneConfig:
    """Per-layer target sparsity (fraction of weights set to zero), first matching rule wins.

    Attributes:
        sparsity: (pattern, sparsity) rules; patterns are fnmatch globs over module paths
            (`features.3.squeeze`) or paper names (`fire2.squeeze`, `conv10`).
    """

    sparsity: Rules[float] = field(default=PAPER_SPARSITY)

    def __post_init__(self) -> None:
        rules = normalize_rules(self.sparsity, "sparsity")
        for pattern, value in rules:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise CompressError(f"sparsity for {pattern!r} must be in [0, 1), got {value!r}")
        object.__setattr__(self, "sparsity", rules)

    @classmethod
    def preset(cls, name: str) -> PruneConfig:
        """One of `SPARSITY_PRESETS`: 'none', 'paper' (Table 1 pattern), 'aggressive'."""
        if name not in SPARSITY_PRESETS:
            raise CompressError(
                f"unknown sparsity preset {name!r}; valid: {sorted(SPARSITY_PRESETS)}"
            )
        return cls(SPARSITY_PRESETS[name])

    def scaled(self, fraction: float) -> PruneConfig:
        """The sparsities of an intermediate round: `1 - (1 - s) ** fraction` per layer."""
        return PruneConfig(tuple((p, 1 - (1 - s) ** fraction) for p, s in self.sparsity))


class Masked(nn.Module):
    """Parametrization `weight = original * mask` (mask is a float 0/1 buffer)."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return laid_out_like(weight * self.mask, weight)


def keep_count(numel: int, sparsity: float) -> int:
    """Weights kept at `sparsity`: round((1 - sparsity) * numel), half rounding up."""
    return int(math.floor((1.0 - sparsity) * numel + 0.5))


def magnitude_mask(
    weight: torch.Tensor, keep: int, allowed: torch.Tensor | None = None
) -> torch.Tensor:
    """A 0/1 mask keeping exactly `keep` entries of largest |weight|.

    Ties are broken by flat position (lower index kept first). Entries outside `allowed`
    (a previous mask) rank below every allowed entry, so masks only ever shrink.
    """
    score = weight.detach().abs().flatten().double()
    if allowed is not None:
        score = torch.where(allowed.flatten() > 0, score, torch.full_like(score, -1.0))
    order = torch.sort(score, descending=True, stable=True).indices
    mask = torch.zeros_like(score, dtype=weight.dtype)
    mask[order[:keep]] = 1
    return mask.view_as(weight)


def get_mask(conv: nn.Module) -> torch.Tensor | None:
    """The pruning mask of a conv (pruned or shared), or None when it is dense."""
    if not parametrize.is_parametrized(conv, "weight"):
        return None
    for p in conv.parametrizations.weight:
        if hasattr(p, "mask"):
            return p.mask
    return None


def prune_(
    model: SqueezeNet, config: PruneConfig, channel_scale: Mapping[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """Prune every conv of `model` in place to the config's sparsity.

    Args:
        model: the model; pruned convs get a `Masked` parametrization.
        config: per-layer sparsity.
        channel_scale: optional per-output-channel factors by conv path (BatchNorm's
            gamma/sqrt(var+eps), see `fold.bn_scales`): weights are then ranked by the
            magnitude they will have once BatchNorm is folded in.

    Returns:
        the mask of every conv by module path (1 = kept).

    Raises:
        CompressError: if a rule matches no layer or a layer is already weight-shared.
    """
    targets = resolve_rules(model, config.sparsity, "sparsity")
    masks = {}
    for path, conv in conv_layers(model).items():
        if parametrize.is_parametrized(conv, "weight") and not isinstance(
            conv.parametrizations.weight[0], Masked
        ):
            raise CompressError(f"layer {path} is already weight-shared; prune before sharing")
        old = get_mask(conv)
        weight = conv.weight.detach()  # effective (masked) weight
        if channel_scale is not None and path in channel_scale:
            weight = weight * channel_scale[path].view(-1, *([1] * (weight.dim() - 1)))
        keep = keep_count(weight.numel(), targets[path])
        if old is None:
            # An already-sparse source (the authors' Deep Compression release): its exact zeros
            # are its pruning, kept as the mask; a layer sparser than its target stays as is.
            old = (weight != 0).to(weight.dtype)
            keep = min(keep, int(old.sum()))
            fresh = True
        else:
            fresh = False
        if not fresh and keep > int(old.sum()):
            raise CompressError(
                f"layer {path}: sparsity {targets[path]} keeps {keep} weights but only "
                f"{int(old.sum())} are left; pruning cannot regrow weights"
            )
        mask = magnitude_mask(weight, keep, old)
        if not fresh:
            old.copy_(mask)
            with torch.no_grad():  # keep the stored values of pruned weights at zero too
                conv.parametrizations.weight.original.mul_(mask)
        else:
            with torch.no_grad():
                conv.weight.mul_(mask)
            parametrize.register_parametrization(conv, "weight", Masked(mask))
        masks[path] = mask
    return masks


def apply_masks_(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
    """Give the convs of a dense model the given masks (e.g. carried over a BatchNorm fold,
    which keeps zeros at zero), so retraining and sharing keep them."""
    convs = conv_layers(model)
    for path, mask in masks.items():
        conv = convs[path]
        if parametrize.is_parametrized(conv, "weight"):
            raise CompressError(f"layer {path} already has a mask or codebook")
        with torch.no_grad():
            conv.weight.mul_(mask)
        parametrize.register_parametrization(conv, "weight", Masked(mask.detach().clone()))


def sparsity_of(model: nn.Module) -> dict[str, float]:
    """Measured fraction of exactly-zero weights in each conv."""
    return {
        path: 1.0 - int(torch.count_nonzero(conv.weight)) / conv.weight.numel()
        for path, conv in conv_layers(model).items()
    }


def masks_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """The masks of the pruned convs of a model."""
    return {p: m for p, c in conv_layers(model).items() if (m := get_mask(c)) is not None}


def rules_from(value: Mapping[str, float] | Iterable[tuple[str, float]] | str) -> Rules[float]:
    """Sparsity rules from a preset name, a mapping or (pattern, value) pairs."""
    if isinstance(value, str):
        return PruneConfig.preset(value).sparsity
    return normalize_rules(value, "sparsity")
