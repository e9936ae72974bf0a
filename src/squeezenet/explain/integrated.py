"""Integrated gradients (Sundararajan et al., 2017): the input gradient averaged along the
straight path from a baseline image to the input, times their difference. Its attributions add
up to the class evidence of the input less that of the baseline (completeness), so the baseline
says what the attribution explains: "blur", a blurred copy of the image, asks which regions'
detail the class depends on (Sturmfels et al., 2020, "Visualizing the impact of feature
attribution baselines"); "mean", the dataset's mean colour (zero input), asks which pixels,
against a blank image.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ..models import SqueezeNet
from .attribution import AttributionMap, input_gradient, target_class
from .core import (
    BASELINES,
    ImageInput,
    ModelInput,
    as_model,
    baseline_image,
    class_score,
    eval_mode,
    load_input,
    staged_forward,
    to_display,
    top_class,
)

IG_BASELINES = BASELINES  # the path starts where the deletion check deletes towards
# How a pixel's signed attribution (summed over channels) becomes the map's non-negative value.
SIGNS = ("positive", "absolute")
# Path points per forward pass: bounds memory at ImageNet sizes.
_CHUNK = 8


def path_gradients(
    model: SqueezeNet, x: torch.Tensor, reference: torch.Tensor, target: int, steps: int
) -> Iterator[torch.Tensor]:
    """Input gradients of `target` at reference + k / steps * (x - reference), k = 1..steps
    (the paper's Riemann sum, Eq. 3), in chunks (n, C, H, W)."""
    alphas = torch.arange(1, steps + 1, dtype=x.dtype, device=x.device) / steps
    for chunk in alphas.split(_CHUNK):
        points = reference + chunk.view(-1, 1, 1, 1) * (x - reference)
        yield input_gradient(model, points, target)


def signed_map(attribution: torch.Tensor, sign: str = "positive") -> np.ndarray:
    """(1, C, H, W) attribution -> (H, W): each pixel's channels summed, then the positive
    part (evidence for the class) or the absolute value (evidence either way)."""
    if sign not in SIGNS:
        raise ValueError(f"unknown sign {sign!r}; valid: {', '.join(SIGNS)}")
    total = attribution[0].detach().float().sum(0)
    heat = total.clamp_min(0) if sign == "positive" else total.abs()
    return heat.cpu().numpy()


def integrated_gradients(
    model: ModelInput,
    image: ImageInput,
    target: int | str | None = None,
    *,
    steps: int = 32,
    baseline: str = "blur",
    blur: float = 0.05,
    sign: str = "positive",
) -> AttributionMap:
    """Integrated gradients of the class evidence from a baseline image to the input.

    Args:
        model: a SqueezeNet or a file/run folder `load_model` reads.
        image: an image file or a normalised (C, H, W) input tensor.
        target: class index or name; None explains the predicted class.
        steps: points on the path (gradients taken; the paper: 20-300).
        baseline: "blur" (a blurred copy of the image) or "mean" (the mean colour).
        blur: the blurred baseline's Gaussian std as a share of the image side.
        sign: "positive" (the map keeps evidence for the class) or "absolute".
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if sign not in SIGNS:
        raise ValueError(f"unknown sign {sign!r}; valid: {', '.join(SIGNS)}")
    net = as_model(model)
    with eval_mode(net):
        x = load_input(net, image)
        reference = baseline_image(x, baseline, blur)
        index, probs = target_class(net, x, target)
        total = torch.zeros_like(x)
        for grad in path_gradients(net, x, reference, index, steps):
            total += grad.sum(0, keepdim=True)
        attribution = (x - reference) * total / steps
        with torch.no_grad():
            ends = staged_forward(net, torch.cat([x, reference])).scores[:, index]
    return AttributionMap(
        "integrated-gradients",
        to_display(net, x),
        signed_map(attribution, sign),
        class_score(net, probs, index),
        top_class(net, probs),
        params={
            "steps": steps,
            "baseline": baseline,
            "blur": blur if baseline == "blur" else None,
            "sign": sign,
            # Completeness: the two agree as steps grow; far apart, use more steps.
            "attribution_sum": float(attribution.sum()),
            "score_difference": float(ends[0] - ends[1]),
        },
    )
