"""Explanations as PNG files a person can read: the image, the map over it, the class named.

matplotlib with the headless Agg backend; every file is written atomically.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_path
from .activations import ActivationGrid
from .attribution import AttributionMap
from .core import ClassScore
from .deletion import DeletionResult
from .synthesis import SynthesizedImage

Explanation = AttributionMap | ActivationGrid | SynthesizedImage | DeletionResult


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


def save_png(result: Explanation, path: str | os.PathLike) -> Path:
    """Draw any explanation result into a PNG at `path` (folders are created)."""
    draw = {
        AttributionMap: _attribution,
        ActivationGrid: _activations,
        SynthesizedImage: _synthesis,
        DeletionResult: _deletion,
    }.get(type(result))
    if draw is None:
        raise TypeError(f"cannot render a {type(result).__name__}")
    plt = _pyplot()
    fig = draw(plt, result)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
    return Path(path)


def _name(c: ClassScore) -> str:
    return f"'{c.name}' ({c.probability:.1%})"


def _show(ax: Any, image: np.ndarray, title: str = "") -> None:
    """An (H, W, C) image in [0, 1]; grayscale shown as such."""
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(image)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def _overlay(ax: Any, image: np.ndarray, heat: np.ndarray, title: str) -> None:
    _show(ax, image, title)
    peak = float(heat.max())
    ax.imshow(heat / peak if peak > 0 else heat, cmap="jet", alpha=0.5, vmin=0, vmax=1)


def _attribution(plt: Any, r: AttributionMap) -> Any:
    fig, (ax_img, ax_map) = plt.subplots(1, 2, figsize=(8, 4.4))
    _show(ax_img, r.image, f"input; predicted {_name(r.predicted)}")
    where = f" on {r.layer}" if r.layer else ""
    _overlay(ax_map, r.image, r.map, f"{r.method}{where}")
    fig.suptitle(f"{r.method} for class {_name(r.target)}")
    fig.tight_layout()
    return fig


def _activations(plt: Any, r: ActivationGrid) -> Any:
    k = len(r.channels) + 1  # the input first
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.3 * rows + 0.6), squeeze=False)
    flat = axes.reshape(-1)
    _show(flat[0], r.image, "input")
    for ax, channel, mean, fmap in zip(flat[1:], r.channels, r.means, r.native):
        ax.imshow(fmap, cmap="viridis", interpolation="nearest")
        ax.set_title(f"ch {channel} (mean {mean:.2f})", fontsize=8)
        ax.axis("off")
    for ax in flat[k:]:
        ax.axis("off")
    c, h, w = r.layer_shape
    fig.suptitle(
        f"{r.layer} ({c}x{h}x{w}): the {len(r.channels)} most active channels; "
        f"predicted {_name(r.predicted)}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _synthesis(plt: Any, r: SynthesizedImage) -> Any:
    if r.method == "fooling" and r.original is not None and r.perturbation is not None:
        fig, axes = plt.subplots(1, 3, figsize=(11, 4.2))
        _show(axes[0], r.original, "original")
        peak = float(r.perturbation.max())
        axes[1].imshow(r.perturbation, cmap="magma", vmin=0, vmax=peak if peak > 0 else 1)
        axes[1].set_title(f"change (max {peak:.3f} of the pixel range)", fontsize=9)
        axes[1].axis("off")
        _show(axes[2], r.image, f"predicted {_name(r.predicted)}")
        fig.suptitle(
            f"fooling image for class {_name(r.target)} after {r.steps} steps: "
            f"L2 norm {r.l2_norm:.3f} (normalised), "
            f"{r.l2_norm_pixels:.3f} (pixels in [0, 1])",
            fontsize=10,
        )
    else:
        fig, ax = plt.subplots(figsize=(4.6, 5))
        _show(ax, r.image, f"predicted {_name(r.predicted)}")
        title = (
            f"class visualization of {_name(r.target)}\n"
            f"from noise ({r.start_probability:.1%}) in {r.steps} steps"
        )
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _deletion(plt: Any, r: DeletionResult) -> Any:
    fig, (ax_map, ax_curve) = plt.subplots(1, 2, figsize=(9, 4.2))
    where = f" on {r.layer}" if r.layer else ""
    _overlay(ax_map, r.image, r.map, f"{r.attribution}{where}")
    percent = [100 * f for f in r.fractions]
    ax_curve.plot(percent, r.salient, label=f"most salient first (AUC {r.salient_auc:.3f})")
    ax_curve.plot(percent, r.random, label=f"random order (AUC {r.random_auc:.3f})", linestyle="--")
    top = max(*r.salient, *r.random)  # a class at 2% would be a flat line on a 0..1 axis
    settings = r.settings or {}
    how = {"blur": "blurred", "mean": "mean colour"}.get(settings.get("baseline"), "deleted")
    grid = settings.get("grid")
    cells = f" in {grid}x{grid} cells" if grid else ""
    ax_curve.set(
        xlabel=f"image {how} (%{cells})",
        ylabel="probability",
        ylim=(0, 1.05 * top if top > 0 else 1),
        title="deletion check: lower is more faithful",
    )
    ax_curve.grid(alpha=0.3)
    ax_curve.legend(fontsize=8)
    fig.suptitle(f"deletion of {r.attribution} for class {_name(r.target)}")
    fig.tight_layout()
    return fig
