"""The deletion check of an attribution map (Petsiuk et al., 2018, "RISE"): delete the most
important pixels first and watch the class probability fall. A faithful map makes it fall
faster than deleting the same number of pixels in random order, so the area under its curve
is the smaller of the two.

A deleted pixel is set to zero in the model's normalised input space, i.e. to the dataset's
mean colour, which carries no evidence for any class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..models import SqueezeNet
from .attribution import gradcam, saliency, smoothgrad
from .core import (
    ClassScore,
    ImageInput,
    ModelInput,
    as_model,
    eval_mode,
    load_input,
    resolve_class,
    staged_forward,
)

ATTRIBUTIONS = ("saliency", "smoothgrad", "gradcam")
# Deleted images per forward pass: bounds memory at ImageNet sizes.
_CHUNK = 16


@dataclass
class DeletionResult:
    """Class probability as pixels are deleted, salient-first and in random order.

    Attributes:
        image: (H, W, C) the input, values in [0, 1].
        map: (H, W) the attribution map that ordered the deletion.
        attribution: its method ("saliency", "smoothgrad" or "gradcam").
        target: the class tracked and its probability on the intact image.
        fractions: share of pixels deleted at each point, 0 to 1.
        salient: the target's probability at each point, most important pixels deleted first.
        random: the same in random order, averaged over `random_orders` orders.
        salient_auc, random_auc: areas under the two curves over [0, 1], each in [0, 1].
    """

    image: np.ndarray
    map: np.ndarray
    attribution: str
    target: ClassScore
    fractions: list[float]
    salient: list[float]
    random: list[float]
    salient_auc: float
    random_auc: float
    random_orders: int = 1
    layer: str | None = None

    method = "deletion"

    @property
    def passed(self) -> bool:
        """Salient-first deletion lowered the probability faster than random deletion."""
        return self.salient_auc < self.random_auc

    def to_dict(self) -> dict[str, Any]:
        """The numbers, JSON-ready."""
        return {
            "method": self.method, "attribution": self.attribution, "layer": self.layer,
            "target": self.target.to_dict(), "salient_auc": self.salient_auc,
            "random_auc": self.random_auc, "passed": self.passed,
            "random_orders": self.random_orders, "fractions": self.fractions,
            "salient": self.salient, "random": self.random,
        }  # fmt: skip


def auc(fractions: list[float] | np.ndarray, values: list[float] | np.ndarray) -> float:
    """Trapezoidal area under `values` over `fractions` (a curve over [0, 1])."""
    x, y = np.asarray(fractions, dtype=float), np.asarray(values, dtype=float)
    return float(((y[1:] + y[:-1]) / 2 * np.diff(x)).sum())


def deletion_curve(
    model: SqueezeNet, x: torch.Tensor, order: np.ndarray, target: int, steps: int
) -> tuple[list[float], list[float]]:
    """Delete the pixels of `x` (1, C, H, W) in `order` (flat indices) in `steps` equal steps.

    Returns:
        (fractions deleted, target probability) at steps + 1 points, intact image first.
    """
    h, w = x.shape[-2:]
    n = h * w
    counts = [round(i * n / steps) for i in range(steps + 1)]
    rank = torch.empty(n, dtype=torch.long)
    rank[torch.as_tensor(order, dtype=torch.long)] = torch.arange(n)  # position in the order
    rank = rank.view(1, 1, h, w).to(x.device)
    probs: list[float] = []
    with torch.no_grad():
        for start in range(0, len(counts), _CHUNK):
            chunk = torch.tensor(counts[start : start + _CHUNK], device=x.device).view(-1, 1, 1, 1)
            keep = rank >= chunk  # (B, 1, H, W): pixels not yet deleted
            batch = x * keep  # zero = the mean colour in normalised space
            probs += staged_forward(model, batch).probabilities[:, target].tolist()
    return [c / n for c in counts], probs


def deletion(
    model: ModelInput,
    image: ImageInput,
    target: int | str | None = None,
    *,
    attribution: str = "gradcam",
    layer: str | None = None,
    steps: int = 20,
    random_orders: int = 3,
    seed: int = 0,
) -> DeletionResult:
    """The deletion check of an attribution map on one image.

    Args:
        model: a SqueezeNet or a file/run folder `load_model` reads.
        image: an image file or a normalised (C, H, W) input tensor.
        target: class index or name; None: the predicted class.
        attribution: the map to check: "saliency", "smoothgrad" or "gradcam".
        layer: Grad-CAM's layer (default the last Fire module).
        steps: deletion steps; the curves have steps + 1 points.
        random_orders: random orders averaged for the baseline curve.
        seed: seeds the random orders and the tie-breaking among equal map values.
    """
    if attribution not in ATTRIBUTIONS:
        raise ValueError(f"unknown attribution {attribution!r}; valid: {', '.join(ATTRIBUTIONS)}")
    if steps < 1 or random_orders < 1:
        raise ValueError(f"steps and random_orders must be >= 1, got {steps}, {random_orders}")
    if layer is not None and attribution != "gradcam":
        raise ValueError(
            f"a layer ({layer!r}) is a Grad-CAM setting; attribution is {attribution!r}"
        )
    net = as_model(model)
    with eval_mode(net):
        x = load_input(net, image)
        if target is not None:
            target = resolve_class(net, target)
        if attribution == "gradcam":
            explained = gradcam(net, x, target, layer=layer)
        else:
            explained = (saliency if attribution == "saliency" else smoothgrad)(net, x, target)
        index = explained.target.index
        rng = np.random.default_rng(seed)
        flat = explained.map.reshape(-1)
        # Most important first; equal values (Grad-CAM's zeros) in random, not raster, order.
        order = np.lexsort((rng.random(flat.size), -flat))
        fractions, salient = deletion_curve(net, x, order, index, steps)
        randoms = [deletion_curve(net, x, rng.permutation(flat.size), index, steps)[1]
                   for _ in range(random_orders)]  # fmt: skip
    random = np.mean(randoms, axis=0).tolist()
    return DeletionResult(
        image=explained.image, map=explained.map, attribution=attribution,
        target=explained.target, fractions=fractions, salient=salient, random=random,
        salient_auc=auc(fractions, salient), random_auc=auc(fractions, random),
        random_orders=random_orders, layer=explained.layer,
    )  # fmt: skip
