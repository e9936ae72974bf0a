"""What a layer computes: its most active channels on an image, the per-layer view the
TensorFlow port of SqueezeNet gave."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .core import (
    ClassScore,
    ImageInput,
    ModelInput,
    as_model,
    eval_mode,
    load_input,
    resolve_layer,
    staged_forward,
    to_display,
    top_class,
    upsample,
)


@dataclass
class ActivationGrid:
    """The strongest channels of one layer on one image.

    Attributes:
        image: (H, W, C) the input as a person sees it, values in [0, 1].
        layer: the paper name of the layer (conv1, fire2, ..., conv10).
        layer_shape: (C, h, w) of the layer's whole output.
        channels: indices of the shown channels, strongest (largest mean) first.
        means: their mean activations.
        native: (k, h, w) their maps at the layer's own resolution.
        maps: (k, H, W) the same maps upsampled to the input's size (bilinear).
        predicted: the model's top-1 class.
    """

    image: np.ndarray
    layer: str
    layer_shape: tuple[int, int, int]
    channels: list[int]
    means: list[float]
    native: np.ndarray
    maps: np.ndarray
    predicted: ClassScore

    method = "activations"

    def to_dict(self) -> dict[str, Any]:
        """The numbers, JSON-ready (maps summarised by their means)."""
        return {
            "method": self.method,
            "layer": self.layer,
            "layer_shape": list(self.layer_shape),
            "channels": self.channels,
            "means": self.means,
            "predicted": self.predicted.to_dict(),
        }


def activations(
    model: ModelInput, image: ImageInput, layer: str | None = None, *, channels: int = 16
) -> ActivationGrid:
    """The `channels` channels of `layer` with the largest mean activation on `image`.

    Args:
        model: a SqueezeNet or a file/run folder `load_model` reads.
        image: an image file or a normalised (C, H, W) input tensor.
        layer: a paper layer name; default the last Fire module.
        channels: how many channels to keep (at most the layer's).
    """
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    net = as_model(model)
    name, path = resolve_layer(net, layer)
    with eval_mode(net), torch.no_grad():
        x = load_input(net, image)
        out = staged_forward(net, x, path)
        act = out.activation.float()  # (1, C, h, w)
        means = act.mean((2, 3))[0]  # (C,)
        k = min(channels, act.shape[1])
        top = means.topk(k).indices  # strongest first
        native = act[:, top]  # (1, k, h, w)
        maps = upsample(native, tuple(x.shape[-2:]))
    return ActivationGrid(
        image=to_display(net, x),
        layer=name,
        layer_shape=tuple(act.shape[1:]),
        channels=[int(c) for c in top],
        means=[float(means[c]) for c in top],
        native=native[0].cpu().numpy(),
        maps=maps[0].cpu().numpy(),
        predicted=top_class(net, out.probabilities),
    )
