"""Fold BatchNorm into the preceding convolutions.

Pruning and weight sharing act on the weights that run at inference; with BatchNorm those are
`conv.weight * gamma / sqrt(var + eps)`, so BN is folded first and the model becomes a plain
(`batch_norm=False`) SqueezeNet with the same eval-mode outputs.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from ..models import SqueezeNet
from .layers import conv_layers
from .prune import apply_masks_, masks_of


def _bn_after(model: SqueezeNet) -> dict[str, nn.BatchNorm2d]:
    """Conv path -> the BatchNorm applied right after it."""
    modules = dict(model.named_modules())
    pairs = {}
    for path in conv_layers(model):
        parent, _, leaf = path.rpartition(".")
        if path == "features.0":
            candidate = "features.1.bn"
        elif leaf in ("squeeze", "expand1x1", "expand3x3"):
            candidate = f"{parent}.{leaf}_activation.bn"
        elif parent.endswith(".bypass"):
            candidate = f"{parent}.1"
        else:  # conv10 has no BatchNorm
            continue
        bn = modules.get(candidate)
        if isinstance(bn, nn.BatchNorm2d):
            pairs[path] = bn
    return pairs


def _scale(bn: nn.BatchNorm2d) -> torch.Tensor:
    """gamma / sqrt(running_var + eps) in float64: the factor folding multiplies a conv by."""
    return bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)


def bn_scales(model: SqueezeNet) -> dict[str, torch.Tensor]:
    """Conv path -> the per-output-channel factor BatchNorm multiplies it by, gamma/sqrt(var+eps)
    (what folding would scale its weights by; convs without BatchNorm are left out)."""
    return {path: _scale(bn).float() for path, bn in _bn_after(model).items()}


def plain_copy(model: SqueezeNet) -> SqueezeNet:
    """A copy with every pruned/shared weight baked in as a plain tensor (canonical keys).

    Used instead of `copy.deepcopy`, which shares the dynamic class of parametrized modules
    between original and copy, so finalizing one would break the other.
    """
    net = SqueezeNet(model.config)
    net.meta = model.meta  # immutable: shared, not copied
    state = {
        k: v.detach().clone()
        for k, v in model.state_dict().items()
        if ".parametrizations." not in k
    }
    for path, conv in conv_layers(model).items():
        state[f"{path}.weight"] = conv.weight.detach().clone()  # effective (masked/shared) weight
    net.load_state_dict(state, strict=True)
    return net.to(next(model.parameters()).device).train(model.training)


def fold_batch_norm(model: SqueezeNet) -> SqueezeNet:
    """A `batch_norm=False` copy of `model` whose eval-mode logits match (float tolerance).

    A model without BatchNorm is returned as a plain copy. `meta` is kept.
    """
    if not model.config.batch_norm:
        return plain_copy(model)
    folded = SqueezeNet(replace(model.config, batch_norm=False))
    folded.meta = model.meta
    state = {}
    bns = _bn_after(model)
    for path, conv in conv_layers(model).items():
        weight = conv.weight.detach().double()
        bias = (
            conv.bias.detach().double() if conv.bias is not None else torch.zeros(weight.shape[0])
        )
        if path in bns:
            bn = bns[path]
            scale = _scale(bn)
            weight = weight * scale.view(-1, 1, 1, 1)
            bias = (bias - bn.running_mean.double()) * scale + bn.bias.detach().double()
        state[f"{path}.weight"] = weight.float()
        state[f"{path}.bias"] = bias.float()
    folded.load_state_dict(state, strict=True)
    return folded.to(next(model.parameters()).device).train(model.training)


def fold_pruned(model: SqueezeNet) -> SqueezeNet:
    """`fold_batch_norm` for a pruned model: the folded copy gets the same masks (folding
    keeps pruned weights at exactly zero), so its retraining and weight sharing keep them."""
    folded = fold_batch_norm(model)
    apply_masks_(folded, masks_of(model))
    return folded
