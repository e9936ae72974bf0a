"""Plumbing shared by every explanation method: inputs, classes, layers and a staged forward.

Gradients are taken of the *class evidence*: conv10's map of a class averaged over space,
before the head's ReLU. Where a model has no ReLU on its logits (`classifier_relu=False`) that
is exactly the logit; where it has one (the paper's and torchvision's head) the logit of a
class whose map is negative everywhere is clamped at zero and has no gradient at all, which
would leave saliency maps blank and gradient ascent stuck. Probabilities and predictions
always come from the model's real output.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..checkpoint import load_model
from ..data.preprocess import load_model_input
from ..meta import SCALE_MAX, Preprocessing, get_meta, preprocessing_for
from ..models import SqueezeNet

ImageInput = str | os.PathLike | torch.Tensor
ModelInput = SqueezeNet | str | os.PathLike
# Long class lists (ImageNet's 1000) are not spelled out whole in an error message.
_MAX_LISTED_CLASSES = 20


@dataclass(frozen=True)
class ClassScore:
    """A class of the model and the probability the model gives it."""

    index: int
    name: str
    probability: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Forward:
    """One staged forward pass.

    Attributes:
        logits: (N, K) the model's output.
        scores: (N, K) class evidence (see the module docstring); differentiable.
        activation: (N, C, h, w) the requested layer's output, or None.
    """

    logits: torch.Tensor
    scores: torch.Tensor
    activation: torch.Tensor | None = None

    @property
    def probabilities(self) -> torch.Tensor:
        return self.logits.detach().float().softmax(1)


def as_model(model: ModelInput) -> SqueezeNet:
    """A model object as given, or one loaded from a file / run folder."""
    if isinstance(model, nn.Module):
        if not isinstance(model, SqueezeNet):
            raise TypeError(f"explanations need a SqueezeNet model, got {type(model).__name__}")
        return model
    return load_model(model)


def preprocessing(model: SqueezeNet) -> Preprocessing:
    """How this model turns images into inputs: the one place explanations read it."""
    return preprocessing_for(model)


def load_input(model: SqueezeNet, image: ImageInput) -> torch.Tensor:
    """An image file (decoded and preprocessed the model's way) or a ready input tensor
    ((C, H, W) or (1, C, H, W), normalised) -> (1, C, H, W) float on the model's device."""
    if isinstance(image, torch.Tensor):
        x = image if image.dim() == 4 else image[None]
        if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != model.config.in_channels:
            raise ValueError(
                f"expected one image of shape ({model.config.in_channels}, H, W), "
                f"got {tuple(image.shape)}"
            )
    else:
        x = load_model_input(image, preprocessing(model))[None]
    param = next(model.parameters())
    return x.detach().to(device=param.device, dtype=torch.float32)


def value_range(model: SqueezeNet) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (1, C, 1, 1) bounds of valid inputs: pixels 0 and 1, normalised."""
    mean, std = mean_std(model)
    return (0 - mean) / std, (1 - mean) / std


def to_display(model: SqueezeNet, x: torch.Tensor) -> np.ndarray:
    """A normalised (1, C, H, W) input -> (H, W, C) float32 RGB (or gray) image in [0, 1]."""
    mean, std = mean_std(model)
    pixels = (x.detach().cpu().float() * std + mean).clamp(0, 1)
    if preprocessing(model).channel_order == "BGR":
        pixels = pixels.flip(1)
    return pixels[0].permute(1, 2, 0).numpy()


def mean_std(model: SqueezeNet) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (1, C, 1, 1) normalisation in pixel units, in the model's channel order:
    input = (pixel in [0, 1] - mean) / std (Caffe's 0..255 statistics are rescaled)."""
    pre = preprocessing(model)
    unit = SCALE_MAX[pre.scale]

    def per_channel(values: tuple[float, ...]) -> torch.Tensor:
        return torch.tensor([v / unit for v in values], dtype=torch.float32).view(1, -1, 1, 1)

    return per_channel(pre.mean), per_channel(pre.std)


def class_names(model: SqueezeNet) -> list[str]:
    """The model's class names, or the indices as text where it has none."""
    names = get_meta(model).class_names
    if names and len(names) == model.num_classes:
        return [str(n) for n in names]
    return [str(i) for i in range(model.num_classes)]


def resolve_class(model: SqueezeNet, target: int | str) -> int:
    """A class given by index (an int or digits) or by name -> its index.

    Raises:
        ValueError: one line naming the valid indices and names.
    """
    names = class_names(model)
    n = len(names)
    if isinstance(target, str) and target in names:
        return names.index(target)
    if isinstance(target, int) or (isinstance(target, str) and target.strip().isdigit()):
        index = int(target)
        if 0 <= index < n:
            return index
        raise ValueError(f"class index {index} is out of range; valid: 0..{n - 1}")
    folded = [name.casefold() for name in names]
    if str(target).casefold() in folded:
        return folded.index(str(target).casefold())
    close = difflib.get_close_matches(str(target), names, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    listed = ", ".join(names[:_MAX_LISTED_CLASSES]) + (", ..." if n > _MAX_LISTED_CLASSES else "")
    raise ValueError(f"unknown class {target!r}; {hint}valid: 0..{n - 1} or a name ({listed})")


def class_score(model: SqueezeNet, probabilities: torch.Tensor, index: int) -> ClassScore:
    """`ClassScore` of class `index` from (1, K) or (K,) probabilities."""
    p = probabilities.reshape(-1)
    return ClassScore(index, class_names(model)[index], float(p[index]))


def top_class(model: SqueezeNet, probabilities: torch.Tensor) -> ClassScore:
    return class_score(model, probabilities, int(probabilities.reshape(-1).argmax()))


def layer_names(model: SqueezeNet) -> list[str]:
    """The paper names explanations accept, input to output (conv1, maxpool1, fire2, ...)."""
    return list(model.layer_names())


def resolve_layer(model: SqueezeNet, layer: str | None) -> tuple[str, str]:
    """A paper layer name (None: the last Fire module) -> (name, module path).

    Raises:
        ValueError: one line naming the valid layers.
    """
    names = model.layer_names()
    if layer is None:
        layer = f"fire{len(model.config.fires) + 1}"
    if layer not in names:
        raise ValueError(f"unknown layer {layer!r}; valid: {', '.join(names)}")
    return layer, names[layer]


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run in eval mode (BatchNorm statistics, no dropout); restore the mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _stages(model: SqueezeNet) -> list[tuple[str, nn.Module]]:
    """Every top-level module in order, with its path: the model is features, then classifier."""
    return [
        (f"{part}.{name}", module)
        for part in ("features", "classifier")
        for name, module in getattr(model, part).named_children()
    ]


def staged_forward(
    model: SqueezeNet, x: torch.Tensor, layer_path: str | None = None, *, layer_grad: bool = False
) -> Forward:
    """Run `model` module by module, keeping the class evidence and one layer's output.

    With `layer_grad` the layer's output is a leaf that requires grad, so gradients with
    respect to it can be taken (Grad-CAM); the pass continues on a copy, because the model's
    in-place ReLUs would otherwise overwrite the stored activation.
    """
    conv10 = "classifier.1"
    h, activation, scores = x, None, None
    for path, module in _stages(model):
        h = module(h)
        if path == layer_path:
            activation = h.detach().clone().requires_grad_(layer_grad)
            h = activation.clone() if layer_grad else h
        if path == conv10:
            scores = h.float().mean((2, 3))  # (N, K), taken before the head's in-place ReLU
    if layer_path is not None and activation is None:
        raise ValueError(f"layer {layer_path!r} is not a top-level module of the model")
    if scores is None:  # every SqueezeNet has conv10 at classifier.1
        raise TypeError("the model has no conv10 at classifier.1")
    return Forward(torch.flatten(h, 1), scores, activation)


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, h, w) -> (N, C, H, W), bilinear; unchanged if already that size."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return nn.functional.interpolate(maps, size=size, mode="bilinear", align_corners=False)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur each channel of (N, C, H, W) with a Gaussian of std `sigma` pixels (radius 2 sigma,
    at least 1, capped below the image side); separable, edges reflected."""
    radius = min(max(1, math.ceil(2 * sigma)), min(x.shape[-2:]) - 1)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k1 = torch.exp(-(t**2) / (2 * sigma**2))
    k1 = k1 / k1.sum()
    c = x.shape[1]
    padded = nn.functional.pad(x, (radius,) * 4, mode="reflect")
    rows = nn.functional.conv2d(padded, k1.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return nn.functional.conv2d(rows, k1.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


# What a removed or reference pixel becomes: a blurred copy of the image, or its mean colour.
BASELINES = ("blur", "mean")


def baseline_image(x: torch.Tensor, baseline: str = "blur", blur: float = 0.05) -> torch.Tensor:
    """A blurred copy of `x` (1, C, H, W) (Gaussian std `blur` times the image side) or, for
    "mean", the mean colour (zero in normalised space): what the deletion check deletes
    towards and where integrated gradients' path starts."""
    if baseline not in BASELINES:
        raise ValueError(f"unknown baseline {baseline!r}; valid: {', '.join(BASELINES)}")
    if baseline == "mean":
        return torch.zeros_like(x)
    if blur <= 0:
        raise ValueError(f"blur must be > 0 (a share of the image side), got {blur}")
    return gaussian_blur(x, blur * max(x.shape[-2:]))
