"""Which pixels a class depends on: saliency (Simonyan et al., 2014), SmoothGrad (Smilkov et
al., 2017) and its squared form (Hooker et al., 2019) and Grad-CAM (Selvaraju et al., 2017)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..models import SqueezeNet
from .core import (
    ClassScore,
    ImageInput,
    ModelInput,
    as_model,
    class_score,
    eval_mode,
    load_input,
    resolve_class,
    resolve_layer,
    staged_forward,
    to_display,
    top_class,
    upsample,
)

# Noisy copies per forward pass in SmoothGrad: bounds memory at ImageNet sizes.
_SMOOTHGRAD_CHUNK = 8
# How a pixel's channels become one value: max |.| (CS231n) or their Euclidean norm.
AGGREGATES = ("max", "l2")
# What a gradient map differentiates: the class evidence (conv10's pooled output, as CS231n
# and the saliency paper), or the log of the class's softmax probability: evidence for the
# class against the others, which is what the deletion check's probability measures.
OBJECTIVES = ("score", "log-probability")


@dataclass
class AttributionMap:
    """A per-pixel attribution of one class on one image.

    Attributes:
        method: "saliency", "smoothgrad" or "gradcam".
        image: (H, W, C) the input as a person sees it, values in [0, 1].
        map: (H, W) non-negative attribution, the input's spatial size (larger: more important).
        target: the explained class and its probability.
        predicted: the model's top-1 class.
        layer: Grad-CAM's layer (paper name), else None.
        params: the method's settings (noise level, samples), for the record.
    """

    method: str
    image: np.ndarray
    map: np.ndarray
    target: ClassScore
    predicted: ClassScore
    layer: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The numbers, JSON-ready (the map itself is summarised, not listed)."""
        return {
            "method": self.method,
            "target": self.target.to_dict(),
            "predicted": self.predicted.to_dict(),
            "layer": self.layer,
            "map_shape": list(self.map.shape),
            "map_max": float(self.map.max()),
            "map_mean": float(self.map.mean()),
            **self.params,
        }


def target_class(
    model: SqueezeNet, x: torch.Tensor, target: int | str | None
) -> tuple[int, torch.Tensor]:
    """The class to explain (default the predicted one) and the clean image's probabilities."""
    with torch.no_grad():
        probs = staged_forward(model, x).probabilities
    index = int(probs.argmax()) if target is None else resolve_class(model, target)
    return index, probs


def check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}")


def input_gradient(
    model: SqueezeNet, x: torch.Tensor, target: int, objective: str = "score"
) -> torch.Tensor:
    """d(`objective` of `target`) / d(input) for a batch (N, C, H, W) of inputs (OBJECTIVES)."""
    check_objective(objective)
    x = x.detach().clone().requires_grad_(True)
    out = staged_forward(model, x)
    if objective == "score":
        value = out.scores[:, target].sum()
    else:
        value = out.logits.float().log_softmax(1)[:, target].sum()
    (grad,) = torch.autograd.grad(value, x)
    return grad


def check_aggregate(aggregate: str) -> None:
    if aggregate not in AGGREGATES:
        raise ValueError(f"unknown aggregate {aggregate!r}; valid: {', '.join(AGGREGATES)}")


def aggregate_channels(attribution: torch.Tensor, aggregate: str = "max") -> np.ndarray:
    """(1, C, H, W) per-channel attribution -> (H, W) non-negative map: max |.| over the
    channels ("max") or their Euclidean norm ("l2")."""
    check_aggregate(aggregate)
    a = attribution[0].detach().float()
    heat = a.abs().amax(0) if aggregate == "max" else a.norm(dim=0)
    return heat.cpu().numpy()


def noisy_gradients(
    model: SqueezeNet,
    x: torch.Tensor,
    target: int,
    *,
    samples: int,
    noise: float,
    seed: int,
    objective: str = "score",
) -> Iterator[torch.Tensor]:
    """Input gradients of `target` at `samples` copies of `x` (1, C, H, W) with Gaussian noise
    of std `noise` times x's value range, in chunks (n, C, H, W)."""
    sigma = noise * float(x.max() - x.min())
    gen = torch.Generator().manual_seed(seed)
    for start in range(0, samples, _SMOOTHGRAD_CHUNK):
        n = min(_SMOOTHGRAD_CHUNK, samples - start)
        eps = torch.randn((n, *x.shape[1:]), generator=gen).to(x.device) * sigma
        yield input_gradient(model, x + eps, target, objective)


def smoothgrad_map(
    mean: torch.Tensor, mean_square: torch.Tensor, *, squared: bool, aggregate: str
) -> np.ndarray:
    """SmoothGrad's (H, W) map from the noisy gradients' mean and mean square (1, C, H, W):
    the mean's channels aggregated or, `squared`, the square of the aggregated root mean
    square (max over channels of the mean squared gradient, or for l2 their sum)."""
    if not squared:
        return aggregate_channels(mean, aggregate)
    return aggregate_channels(mean_square.sqrt(), aggregate) ** 2


def saliency(
    model: ModelInput,
    image: ImageInput,
    target: int | str | None = None,
    *,
    objective: str = "score",
) -> AttributionMap:
    """Vanilla gradient saliency: max over channels of |d class score / d input|.

    Args:
        model: a SqueezeNet or a file/run folder `load_model` reads.
        image: an image file or a normalised (C, H, W) input tensor.
        target: class index or name; None explains the predicted class.
        objective: what is differentiated (OBJECTIVES): the class score (CS231n, the
            saliency paper) or its log-probability (the evidence for the class against the
            others; the more faithful of the two by the deletion check, README).
    """
    check_objective(objective)
    net = as_model(model)
    with eval_mode(net):
        x = load_input(net, image)
        index, probs = target_class(net, x, target)
        heat = aggregate_channels(input_gradient(net, x, index, objective), "max")
    return AttributionMap(
        "saliency",
        to_display(net, x),
        heat,
        class_score(net, probs, index),
        top_class(net, probs),
        params={"objective": objective},
    )


def smoothgrad(
    model: ModelInput,
    image: ImageInput,
    target: int | str | None = None,
    *,
    samples: int = 25,
    noise: float = 0.15,
    squared: bool = False,
    aggregate: str = "max",
    seed: int = 0,
    objective: str = "score",
) -> AttributionMap:
    """SmoothGrad: the input gradient averaged over noisy copies, then max |.| over channels;
    `squared`, SmoothGrad-squared: the mean of the squared gradients (Hooker et al., 2019).

    Args:
        samples: noisy copies averaged.
        noise: Gaussian noise std as a fraction of the input's value range (paper: 0.1-0.2).
        squared: average the squared gradients instead of the gradients.
        aggregate: how a pixel's channels become one value, "max" (of |.|) or "l2" (norm;
            squared: the sum of the channels' mean squares).
        seed: the noise's random seed.
        objective: what is differentiated, the class score or its log-probability (as in
            `saliency`).
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    check_aggregate(aggregate)
    check_objective(objective)
    net = as_model(model)
    with eval_mode(net):
        x = load_input(net, image)
        index, probs = target_class(net, x, target)
        total, total_square = torch.zeros_like(x), torch.zeros_like(x)
        grads = noisy_gradients(
            net, x, index, samples=samples, noise=noise, seed=seed, objective=objective
        )
        for grad in grads:
            total += grad.sum(0, keepdim=True)
            total_square += grad.square().sum(0, keepdim=True)
        heat = smoothgrad_map(
            total / samples, total_square / samples, squared=squared, aggregate=aggregate
        )
    return AttributionMap(
        "smoothgrad",
        to_display(net, x),
        heat,
        class_score(net, probs, index),
        top_class(net, probs),
        params={
            "samples": samples,
            "noise": noise,
            "squared": squared,
            "aggregate": aggregate,
            "objective": objective,
        },
    )


def gradcam(
    model: ModelInput,
    image: ImageInput,
    target: int | str | None = None,
    *,
    layer: str | None = None,
) -> AttributionMap:
    """Grad-CAM: the layer's channels weighted by their mean gradient, ReLU, upsampled.

    Args:
        layer: a paper layer name (conv1, fire2, ..., conv10); default the last Fire module.
    """
    net = as_model(model)
    name, path = resolve_layer(net, layer)
    with eval_mode(net):
        x = load_input(net, image)
        index, probs = target_class(net, x, target)
        out = staged_forward(net, x, path, layer_grad=True)
        (grad,) = torch.autograd.grad(out.scores[0, index], out.activation)
        weights = grad.mean((2, 3), keepdim=True)  # (1, C, 1, 1): a channel's importance
        cam = torch.relu((weights * out.activation).sum(1, keepdim=True))  # (1, 1, h, w)
        heat = upsample(cam.detach(), tuple(x.shape[-2:]))[0, 0].clamp_min(0).cpu().numpy()
    return AttributionMap(
        "gradcam",
        to_display(net, x),
        heat,
        class_score(net, probs, index),
        top_class(net, probs),
        layer=name,
    )
