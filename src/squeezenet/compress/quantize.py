"""k-means weight sharing (Deep Compression stage 2) and the finalize step.

`share_weights_(model, ShareConfig(...))` clusters each conv's kept (non-pruned) weights into
at most 2^bits centroids with 1-D k-means, initialised linearly over [min, max] (the
initialisation Deep Compression found best: it keeps the rare large weights). The conv weight
becomes the parametrization `codebook[index] * mask` whose only trainable tensor is the
codebook, so ordinary backprop gives each centroid the sum of its weights' gradients, the
paper's centroid fine-tuning rule, while masks and assignments stay fixed.

`finalize_(model)` bakes the effective weights back into plain `weight` tensors (canonical
state_dict keys) and rounds biases to their storage dtype, so the model is a plain SqueezeNet
whose logits the `.sqz` file reproduces exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
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
from .prune import get_mask

RAW_BITS = 32  # "bits" value meaning: no sharing, keep float32 weights
BiasDtype = Literal["float16", "float32"]
BIAS_DTYPES: dict[str, torch.dtype] = {"float16": torch.float16, "float32": torch.float32}

PAPER_BITS: Rules[int] = (("*", 6),)  # the paper's 0.47 MB model: 6 bits everywhere
AGGRESSIVE_BITS: Rules[int] = (("conv1", 6), ("conv10", 5), ("*.squeeze", 5), ("*", 4))
BITS_PRESETS: dict[str, Rules[int]] = {
    "paper": PAPER_BITS,
    "paper8": (("*", 8),),
    # 8 bits: a layer with <= 256 distinct non-zero values keeps exactly those (lossless for
    # the authors' 8-bit release)
    "lossless": (("*", 8),),
    "aggressive": AGGRESSIVE_BITS,
}


@dataclass(frozen=True)
class ShareConfig:
    """Per-layer weight-sharing bits (first matching rule wins) and k-means settings.

    Attributes:
        bits: (pattern, bits) rules; 1..8 bits gives a 2^bits-entry codebook, 32 keeps the
            layer's float32 weights unshared.
        max_iter: k-means (Lloyd) iterations at most.
        bias_dtype: storage dtype of biases ('float16' halves their bytes; the model's
            biases are rounded to it so the file reproduces the model exactly).
        codebook_digits: round every centroid to this many significant decimal digits before
            the file is written (the header stores codebooks as decimal text: 4 digits take
            about half the bytes of a float32's 9 and move a weight by < 0.05%); None: exact.
    """

    bits: Rules[int] = field(default=PAPER_BITS)
    max_iter: int = 100
    bias_dtype: BiasDtype = "float16"
    codebook_digits: int | None = None

    def __post_init__(self) -> None:
        rules = normalize_rules(self.bits, "bits")
        for pattern, value in rules:
            if isinstance(value, bool) or value not in (*range(1, 9), RAW_BITS):
                raise CompressError(f"bits for {pattern!r} must be 1..8 or 32, got {value!r}")
        object.__setattr__(self, "bits", rules)
        if self.bias_dtype not in BIAS_DTYPES:
            raise CompressError(
                f"bias_dtype must be one of {sorted(BIAS_DTYPES)}, got {self.bias_dtype!r}"
            )
        digits = self.codebook_digits
        if digits is not None and not (isinstance(digits, int) and 1 <= digits <= 9):
            raise CompressError(f"codebook_digits must be 1..9 or None, got {digits!r}")
        if not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise CompressError(f"max_iter must be a positive integer, got {self.max_iter!r}")

    @classmethod
    def preset(cls, name: str, **kwargs) -> ShareConfig:
        """One of `BITS_PRESETS`: 'paper' (6 bits), 'paper8' (8 bits), 'aggressive'."""
        if name not in BITS_PRESETS:
            raise CompressError(f"unknown bits preset {name!r}; valid: {sorted(BITS_PRESETS)}")
        return cls(BITS_PRESETS[name], **kwargs)


def kmeans_1d(values: np.ndarray, k: int, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """1-D k-means with linear initialisation over [min, max].

    In 1-D the clusters are intervals, so with the values sorted once every Lloyd step is
    k binary searches and a prefix sum, O(k log n) instead of O(n k).

    Returns:
        (centroids float32 (k',), assignment int64 per value), k' <= k; values that have at
        most k distinct entries get exactly those as centroids (lossless).
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    unique = np.unique(values)
    if unique.size <= k:
        return unique.astype(np.float32), np.searchsorted(unique, values)
    v = np.sort(values)
    prefix = np.concatenate([[0.0], np.cumsum(v)])
    c = np.linspace(v[0], v[-1], k)
    for _ in range(max_iter):
        cut = np.concatenate(
            [[0], np.searchsorted(v, (c[:-1] + c[1:]) / 2, side="right"), [v.size]]
        )
        counts = np.diff(cut)
        sums = prefix[cut[1:]] - prefix[cut[:-1]]
        new = np.sort(np.where(counts > 0, sums / np.maximum(counts, 1), c))
        if np.allclose(new, c, rtol=0, atol=1e-12):
            break
        c = new
    centroids = c.astype(np.float32)
    # Assign with the float32 centroids actually stored: nearest, ties to the lower one.
    c32 = centroids.astype(np.float64)
    assign = np.searchsorted((c32[:-1] + c32[1:]) / 2, values, side="left")
    return centroids, assign


class Shared(nn.Module):
    """Parametrization `weight = codebook[index] * mask`; `original` is the codebook."""

    def __init__(self, codebook: torch.Tensor, index: torch.Tensor, mask: torch.Tensor) -> None:
        super().__init__()
        self._init = codebook
        self.register_buffer("index", index)
        self.register_buffer("mask", mask)

    def forward(self, codebook: torch.Tensor) -> torch.Tensor:
        return laid_out_like(codebook[self.index] * self.mask, self.mask)

    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        # Called once by register_parametrization: the trainable tensor becomes the codebook.
        return self._init.to(weight.device)


def _share_layer(conv: nn.Conv2d, bits: int, max_iter: int) -> None:
    mask = get_mask(conv)
    weight = conv.weight.detach()
    if parametrize.is_parametrized(conv, "weight"):
        parametrize.remove_parametrizations(conv, "weight", leave_parametrized=True)
    # Zero-preserving: only non-zero kept weights are clustered; an exact zero (pruned, or a
    # source's own pruning) stays exactly zero instead of joining the nearest centroid.
    nonzero = (weight != 0).to(weight.dtype)
    mask = nonzero if mask is None else mask * nonzero
    kept = mask.flatten() > 0
    values = weight.flatten()[kept].cpu().numpy()
    centroids, assign = kmeans_1d(values, 1 << bits, max_iter)
    if centroids.size == 0:  # a fully pruned layer: one zero centroid keeps shapes valid
        centroids = np.zeros(1, dtype=np.float32)
    index = torch.zeros(weight.numel(), dtype=torch.long, device=weight.device)
    index[kept] = torch.from_numpy(assign).to(weight.device)
    codebook = torch.from_numpy(centroids).to(weight.device, weight.dtype)
    shared = Shared(codebook, index.view_as(weight), mask.clone())
    parametrize.register_parametrization(conv, "weight", shared)


def share_weights_(model: SqueezeNet, config: ShareConfig) -> dict[str, int]:
    """Replace each conv's kept weights by their k-means centroid, in place.

    Layers with bits 32 keep their (masked) float32 weights. Biases are rounded to
    `config.bias_dtype` here (and by `finalize_`, if asked, after fine-tuning). Exact zeros of
    an unpruned layer count as pruned.

    Returns:
        the bits of every conv by module path.

    Raises:
        CompressError: for a model with BatchNorm (fold it first) or an already shared layer.
    """
    if model.config.batch_norm:
        raise CompressError(
            "fold BatchNorm first (fold_batch_norm): folding rescales each output channel, "
            "which would turn every shared value into many"
        )
    bits = resolve_rules(model, config.bits, "bits")
    for path, conv in conv_layers(model).items():
        if parametrize.is_parametrized(conv, "weight") and isinstance(
            conv.parametrizations.weight[0], Shared
        ):
            raise CompressError(f"layer {path} is already weight-shared")
        if bits[path] != RAW_BITS:
            _share_layer(conv, bits[path], config.max_iter)
    round_biases_(model, config.bias_dtype)
    return bits


def codebooks_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """The current codebook of every shared conv."""
    return {
        p: c.parametrizations.weight.original.detach()
        for p, c in conv_layers(model).items()
        if parametrize.is_parametrized(c, "weight")
        and isinstance(c.parametrizations.weight[0], Shared)
    }


def round_codebooks_(model: nn.Module, digits: int | None) -> None:
    """Round every codebook entry to `digits` significant decimal digits (None: no change);
    a non-zero centroid never rounds to zero (zero means pruned)."""
    if digits is None:
        return
    with torch.no_grad():
        for codebook in codebooks_of_params(model):
            values = [float(f"{v:.{digits}g}") or v for v in codebook.tolist()]
            codebook.copy_(torch.tensor(values, dtype=codebook.dtype))


def codebooks_of_params(model: nn.Module) -> list[torch.Tensor]:
    """The trainable codebook tensors of every shared conv (the tensors, not copies)."""
    return [
        c.parametrizations.weight.original
        for c in conv_layers(model).values()
        if parametrize.is_parametrized(c, "weight")
        and isinstance(c.parametrizations.weight[0], Shared)
    ]


def round_biases_(model: nn.Module, dtype: BiasDtype) -> None:
    """Round every conv bias to values representable in `dtype` (kept as float32)."""
    with torch.no_grad():
        for conv in conv_layers(model).values():
            if conv.bias is not None:
                conv.bias.copy_(conv.bias.to(BIAS_DTYPES[dtype]).float())


def finalize_(model: SqueezeNet, bias_dtype: BiasDtype | None = None) -> SqueezeNet:
    """Bake masks and codebooks into plain weights: canonical keys, a plain SqueezeNet again.

    Args:
        bias_dtype: round the biases to this dtype once more (fine-tuning after
            `share_weights_` moves them); None leaves them as they are.

    Returns:
        the same model, for chaining.
    """
    for conv in conv_layers(model).values():
        if parametrize.is_parametrized(conv, "weight"):
            parametrize.remove_parametrizations(conv, "weight", leave_parametrized=True)
    if bias_dtype is not None:
        round_biases_(model, bias_dtype)
    return model
