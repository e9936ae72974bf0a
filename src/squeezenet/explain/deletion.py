"""The deletion check of an attribution map (Petsiuk et al., 2018, "RISE"): delete the most
important regions of the image first and watch the class probability fall. A faithful map
makes it fall faster than deleting the same regions in random order, so the area under its
curve is the smaller of the two.

What is deleted, with what, in what steps:
- the image is cut into a `grid` x `grid` lattice of cells (14 x 14 by default: 16 px at 224,
  16-17 px at 227) and each cell is ranked by the map's mean over it;
- a deleted cell is replaced by the same cell of a blurred copy of the image (Gaussian, std
  `blur` times the image side: 11 px at 224 by default), or with `baseline="mean"` by the
  dataset's mean colour (zero in the normalised input);
- the cells go in `steps` equal steps (10: a tenth of the image a step), most important first,
  or in random order for the baseline curve (the mean of `random_orders` orders);
- the score is the softmax probability of the target class.

Single pixels set to a constant in random order (salt and pepper) destroy any image almost at
once, so random deletion looks as damaging as deleting the salient pixels and the check says
nothing; whole cells towards a blurred image remove local evidence without adding sharp edges
the network has never seen (the reasons RISE, and ROAR's discussion, give).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..models import SqueezeNet
from .attribution import AttributionMap, check_objective, gradcam, saliency, smoothgrad
from .core import (
    ClassScore,
    ImageInput,
    ModelInput,
    as_model,
    baseline_image,
    eval_mode,
    load_input,
    resolve_class,
    staged_forward,
)
from .integrated import integrated_gradients

ATTRIBUTIONS = ("saliency", "smoothgrad", "integrated-gradients", "gradcam")
# Deleted images per forward pass: bounds memory at ImageNet sizes.
_CHUNK = 16


@dataclass
class DeletionResult:
    """Class probability as an image's cells are deleted, most important first and at random.

    Attributes:
        image: (H, W, C) the input, values in [0, 1].
        map: (H, W) the attribution map that ordered the deletion.
        attribution: its method (one of ATTRIBUTIONS).
        target: the class tracked and its probability on the intact image.
        fractions: share of the cells deleted at each point, 0 to 1.
        salient: the target's probability at each point, most important cells deleted first.
        random: the same in random order, averaged over `random_orders` orders.
        salient_auc, random_auc: areas under the two curves over [0, 1], each in [0, 1].
        settings: grid, baseline, blur and steps, for the record.
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
    settings: dict[str, Any] | None = None

    method = "deletion"

    @property
    def passed(self) -> bool:
        """Salient-first deletion lowered the probability faster than random deletion."""
        return self.salient_auc < self.random_auc

    def to_dict(self) -> dict[str, Any]:
        """The numbers, JSON-ready."""
        return {
            "method": self.method,
            "attribution": self.attribution,
            "layer": self.layer,
            "target": self.target.to_dict(),
            "salient_auc": self.salient_auc,
            "random_auc": self.random_auc,
            "passed": self.passed,
            "random_orders": self.random_orders,
            **(self.settings or {}),
            "fractions": self.fractions,
            "salient": self.salient,
            "random": self.random,
        }


def auc(fractions: list[float] | np.ndarray, values: list[float] | np.ndarray) -> float:
    """Trapezoidal area under `values` over `fractions` (a curve over [0, 1])."""
    x, y = np.asarray(fractions, dtype=float), np.asarray(values, dtype=float)
    return float(((y[1:] + y[:-1]) / 2 * np.diff(x)).sum())


def cell_labels(height: int, width: int, grid: int) -> torch.Tensor:
    """(H, W) the cell index of every pixel in a `grid` x `grid` lattice of near-equal cells
    (row-major; at most `height` / `width` cells a side)."""
    rows, cols = min(grid, height), min(grid, width)
    row = torch.arange(height) * rows // height
    col = torch.arange(width) * cols // width
    return row[:, None] * cols + col[None, :]


def cell_scores(heat: np.ndarray, labels: torch.Tensor) -> np.ndarray:
    """The map's mean over each cell: (H, W) map -> (cells,) scores."""
    flat = labels.reshape(-1).numpy()
    return np.bincount(flat, weights=heat.reshape(-1)) / np.bincount(flat)


def deletion_curves(
    model: SqueezeNet,
    x: torch.Tensor,
    removed: torch.Tensor,
    labels: torch.Tensor,
    orders: Sequence[np.ndarray],
    target: int,
    steps: int,
) -> tuple[list[float], list[list[float]]]:
    """Delete the cells of `x` (1, C, H, W) in each of `orders` (cell indices) in `steps` equal
    steps, deleted cells taking `removed`'s values.

    Returns:
        (fractions of cells deleted, one probability curve per order), steps + 1 points each,
        intact image first; the intact and the fully deleted image are scored once for all.
    """
    n = int(labels.max()) + 1
    counts = [round(i * n / steps) for i in range(steps + 1)]
    ranks = []
    for order in orders:
        rank = torch.empty(n, dtype=torch.long)
        rank[torch.as_tensor(order, dtype=torch.long)] = torch.arange(n)  # place in the order
        ranks.append(rank[labels].to(x.device))  # (H, W): when each pixel goes
    # Every (order, count) mask; the first and last count are the same image for all orders.
    jobs = [(None, 0), (None, n)] + [(r, c) for r in ranks for c in counts[1:-1]]
    probs: list[float] = []
    with torch.no_grad():
        for start in range(0, len(jobs), _CHUNK):
            keep = torch.stack(
                [
                    torch.full(labels.shape, c == 0, device=x.device) if r is None else r >= c
                    for r, c in jobs[start : start + _CHUNK]
                ]
            )[:, None]
            batch = torch.where(keep, x, removed)
            probs += staged_forward(model, batch).probabilities[:, target].tolist()
    inner = len(counts) - 2
    curves = [
        [probs[0], *probs[2 + i * inner : 2 + (i + 1) * inner], probs[1]]
        for i in range(len(orders))
    ]
    return [c / n for c in counts], curves


def _attribute(
    net: SqueezeNet,
    x: torch.Tensor,
    target: int | None,
    attribution: str,
    layer: str | None,
    samples: int,
    objective: str,
) -> AttributionMap:
    if attribution == "gradcam":
        return gradcam(net, x, target, layer=layer)
    if attribution == "smoothgrad":
        return smoothgrad(net, x, target, samples=samples, objective=objective)
    if attribution == "integrated-gradients":
        return integrated_gradients(net, x, target)
    return saliency(net, x, target, objective=objective)


def _maps(
    net: SqueezeNet,
    x: torch.Tensor,
    target: int | None,
    attributions: Sequence[str | AttributionMap],
    layer: str | None,
    samples: int,
    objective: str,
) -> list[AttributionMap]:
    """The maps to check: those given as they are, the others computed; all of `x` and one
    class (`target`, or the first map's)."""
    maps = [
        a
        if isinstance(a, AttributionMap)
        else _attribute(net, x, target, a, layer, samples, objective)
        for a in attributions
    ]
    index = maps[0].target.index if target is None else target
    if any(m.target.index != index or m.map.shape != x.shape[-2:] for m in maps):
        raise ValueError("the maps given must all be of this image and one class")
    return maps


def _check_settings(
    attributions: Sequence[str | AttributionMap],
    layer: str | None,
    steps: int,
    random_orders: int,
    grid: int,
) -> None:
    if not attributions:
        raise ValueError(f"no attribution to check; valid: {', '.join(ATTRIBUTIONS)}")
    names = [a.method if isinstance(a, AttributionMap) else a for a in attributions]
    for name in names:
        if name not in ATTRIBUTIONS:
            raise ValueError(f"unknown attribution {name!r}; valid: {', '.join(ATTRIBUTIONS)}")
    if min(steps, random_orders, grid) < 1:
        raise ValueError(
            f"steps, random_orders and grid must be >= 1, got {steps}, {random_orders}, {grid}"
        )
    if layer is not None and "gradcam" not in attributions:
        raise ValueError(
            f"a layer ({layer!r}) is a Grad-CAM setting; attribution is {', '.join(names)}"
        )


def deletion_check(
    model: ModelInput,
    image: ImageInput,
    target: int | str | None = None,
    *,
    attributions: Sequence[str | AttributionMap] = ("gradcam",),
    layer: str | None = None,
    steps: int = 10,
    grid: int = 14,
    baseline: str = "blur",
    blur: float = 0.05,
    random_orders: int = 3,
    samples: int = 25,
    objective: str = "score",
    seed: int = 0,
) -> list[DeletionResult]:
    """The deletion check of several maps of one image against one shared random baseline.

    Args:
        model: a SqueezeNet or a file/run folder `load_model` reads.
        image: an image file or a normalised (C, H, W) input tensor.
        target: class index or name; None: the predicted class.
        attributions: the maps to check: any of ATTRIBUTIONS (each with its defaults), or maps
            already computed on this image for `target` (reused as they are).
        layer: Grad-CAM's layer (default the last Fire module).
        steps: deletion steps; the curves have steps + 1 points.
        grid: cells a side; the image is deleted cell by cell.
        baseline: "blur" (deleted cells become the blurred image) or "mean" (the mean colour).
        blur: the blur's Gaussian std as a share of the image side.
        random_orders: random orders averaged for the baseline curve.
        samples: SmoothGrad's noisy copies.
        objective: what saliency and SmoothGrad differentiate, the class score or its
            log-probability (`saliency`).
        seed: seeds the random orders and the tie-breaking among equal cell scores.
    """
    _check_settings(attributions, layer, steps, random_orders, grid)
    check_objective(objective)
    net = as_model(model)
    with eval_mode(net):
        x = load_input(net, image)
        removed = baseline_image(x, baseline, blur)
        index = None if target is None else resolve_class(net, target)
        maps = _maps(net, x, index, attributions, layer, samples, objective)
        index = maps[0].target.index
        labels = cell_labels(*x.shape[-2:], grid)
        n = int(labels.max()) + 1
        rng = np.random.default_rng(seed)
        # Most important first; equal scores (Grad-CAM's zeros) in random, not raster, order.
        orders = [np.lexsort((rng.random(n), -cell_scores(m.map, labels))) for m in maps]
        orders += [rng.permutation(n) for _ in range(random_orders)]
        fractions, curves = deletion_curves(net, x, removed, labels, orders, index, steps)
    random = np.mean(curves[len(maps) :], axis=0).tolist()
    settings = {
        "steps": steps,
        "grid": grid,
        "baseline": baseline,
        "blur": blur if baseline == "blur" else None,
    }
    return [
        DeletionResult(
            image=m.image,
            map=m.map,
            attribution=m.method,
            target=m.target,
            fractions=fractions,
            salient=curve,
            random=random,
            salient_auc=auc(fractions, curve),
            random_auc=auc(fractions, random),
            random_orders=random_orders,
            layer=m.layer,
            settings=settings,
        )
        for m, curve in zip(maps, curves)
    ]


def deletion(
    model: ModelInput,
    image: ImageInput,
    target: int | str | None = None,
    *,
    attribution: str = "gradcam",
    **options: Any,
) -> DeletionResult:
    """The deletion check of one map (`attribution`) on one image; `options` as in
    `deletion_check` (layer, steps, grid, baseline, blur, random_orders, samples, seed)."""
    if attribution not in ATTRIBUTIONS:
        raise ValueError(f"unknown attribution {attribution!r}; valid: {', '.join(ATTRIBUTIONS)}")
    if options.get("layer") is not None and attribution != "gradcam":
        raise ValueError(
            f"a layer ({options['layer']!r}) is a Grad-CAM setting; attribution is {attribution!r}"
        )
    return deletion_check(model, image, target, attributions=(attribution,), **options)[0]
