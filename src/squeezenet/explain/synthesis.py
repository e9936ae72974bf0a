"""Inputs made by gradient steps: class visualisation (Simonyan et al., 2014, with Yosinski et
al.'s jitter and blur, the CS231n recipe) and fooling images (Szegedy et al., 2014).

Both work in the model's normalised input space and keep every value inside the range real
pixels map to, so the result is an image that could be saved and fed back. Step sizes are
the root-mean-square change per input value, so one setting suits 32 px and 224 px inputs
alike (CS231n's step of 25 in L2 norm on a 3x224x224 image is 0.065 RMS).
"""

from __future__ import annotations

import math
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
    gaussian_blur,
    load_input,
    mean_std,
    preprocessing,
    resolve_class,
    staged_forward,
    to_display,
    top_class,
    value_range,
)


@dataclass
class SynthesizedImage:
    """An input built by gradient steps towards a target class.

    Attributes:
        method: "class-visualization" or "fooling".
        image: (H, W, C) the built image, values in [0, 1].
        input: (1, C, H, W) the same in the model's normalised input space.
        target: the target class and its final probability.
        start_probability: the target's probability before the first step.
        predicted: the model's top-1 class on the built image.
        steps: gradient steps taken.
        reached: whether the goal was met (probability reached / target predicted).
        history: the target's probability after each step (the first entry: before any).
        original: fooling only: (H, W, C) the image it started from.
        perturbation: fooling only: (H, W) max |change| over channels, in [0, 1] pixel units.
        l2_norm: fooling only: L2 norm of the change in normalised input space.
        l2_norm_pixels: fooling only: the same in [0, 1] pixel units.
    """

    method: str
    image: np.ndarray
    input: torch.Tensor
    target: ClassScore
    start_probability: float
    predicted: ClassScore
    steps: int
    reached: bool
    history: list[float] = field(default_factory=list)
    original: np.ndarray | None = None
    perturbation: np.ndarray | None = None
    l2_norm: float | None = None
    l2_norm_pixels: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The numbers, JSON-ready."""
        out = {
            "method": self.method,
            "target": self.target.to_dict(),
            "start_probability": self.start_probability,
            "predicted": self.predicted.to_dict(),
            "steps": self.steps,
            "reached": self.reached,
        }
        if self.method == "fooling":
            out["l2_norm"] = self.l2_norm
            out["l2_norm_pixels"] = self.l2_norm_pixels
        return out


# CS231n's settings (step, L2 weight, noise) are for inputs divided by a std, as torchvision's,
# where valid inputs span about 1 / 0.226 = 4.4 (a std of 0.5 gives 2). Caffe's inputs are not
# divided (0..255, span 255): the same settings would take steps 58 times too small and start
# from a flat grey, so class visualisation brings such inputs to torchvision's units.
_REFERENCE_SPAN = 1 / 0.226


def _step(grad: torch.Tensor, lr: float) -> torch.Tensor:
    """`grad` scaled to an RMS of `lr` per value (a normalised gradient step)."""
    return grad * (lr * math.sqrt(grad.numel()) / grad.norm().clamp_min(1e-12))


def class_visualization(
    model: ModelInput,
    target: int | str,
    *,
    steps: int = 300,
    lr: float = 0.065,
    l2_reg: float = 1e-3,
    jitter: int | None = None,
    blur_every: int = 10,
    blur_sigma: float = 0.5,
    stop_probability: float = 0.9,
    stop_early: bool = True,
    input_size: int | None = None,
    seed: int = 0,
) -> SynthesizedImage:
    """Gradient ascent on the input, from noise, towards `target`'s class score.

    Each step maximises the class evidence minus `l2_reg` times the input's squared L2 norm on
    a randomly shifted (jittered) copy, clamps to valid pixels, and every `blur_every` steps
    blurs slightly; it stops once the target's probability reaches `stop_probability`.

    Args:
        target: class index or name.
        steps: the most gradient steps.
        lr: step size, RMS change per normalised input value (inputs not divided by a std,
            as Caffe's, in torchvision's units: one unit is 0.226 of the pixel range).
        l2_reg: weight of the squared L2 norm, in the same units.
        jitter: largest random shift in pixels; default 16 scaled from 224 px to the input.
        blur_every: blur every this many steps (0: never).
        stop_early: stop once `stop_probability` is reached; False: take all `steps` (the
            class's features appear over a longer ascent; `reached` still compares the end).
        input_size: side of the image; default the model's input size.
    """
    net = as_model(model)
    index = resolve_class(net, target)
    c, size, _ = preprocessing(net).input_shape
    size = size if input_size is None else input_size
    if size < net.min_input_size():
        raise ValueError(f"input_size {size} is below the model's minimum {net.min_input_size()}")
    jitter = max(1, round(16 * size / 224)) if jitter is None else jitter
    gen = torch.Generator().manual_seed(seed)
    low, high = (b.to(next(net.parameters()).device) for b in value_range(net))
    # The ascent runs on z = x / scale: torchvision's units for inputs wider than those.
    scale = max(1.0, float((high - low).mean()) / _REFERENCE_SPAN)
    low, high = low / scale, high / scale
    with eval_mode(net):
        z = torch.randn((1, c, size, size), generator=gen).to(low.device)
        z = torch.maximum(torch.minimum(z, high), low)
        history = [_probability(net, z * scale, index)]
        step = 0
        while step < steps and not (stop_early and history[-1] >= stop_probability):
            dx, dy = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=gen))
            moved = torch.roll(z, (dy, dx), (2, 3)).requires_grad_(True)
            score = staged_forward(net, moved * scale).scores[0, index]
            (grad,) = torch.autograd.grad(score - l2_reg * moved.pow(2).sum(), moved)
            z = torch.roll(moved.detach() + _step(grad, lr), (-dy, -dx), (2, 3))
            z = torch.maximum(torch.minimum(z, high), low)
            step += 1
            if blur_every and step % blur_every == 0:
                z = gaussian_blur(z, blur_sigma)
            history.append(_probability(net, z * scale, index))
        x = z * scale
        probs = _probabilities(net, x)
    return SynthesizedImage(
        "class-visualization",
        to_display(net, x),
        x,
        class_score(net, probs, index),
        history[0],
        top_class(net, probs),
        step,
        history[-1] >= stop_probability,
        history,
    )


def fooling(
    model: ModelInput,
    image: ImageInput,
    target: int | str,
    *,
    lr: float = 0.003,
    max_steps: int = 500,
) -> SynthesizedImage:
    """The smallest change found that makes the model predict `target` for `image`.

    Normalised gradient steps on the target's log-probability (which also lowers the
    competitors, so fewer steps are needed than on its raw score), stopping as soon as the
    model's top-1 class is the target; small steps keep the overshoot, and so the norm, small.

    Args:
        image: an image file or a normalised (C, H, W) input tensor.
        target: class index or name.
        lr: step size, RMS change per input value.
        max_steps: give up after this many steps (`reached` is then False).
    """
    net = as_model(model)
    index = resolve_class(net, target)
    with eval_mode(net):
        x0 = load_input(net, image)
        # Values the input already has count as valid: only the steps are clamped.
        low, high = (b.to(x0.device) for b in value_range(net))
        low, high = torch.minimum(low, x0), torch.maximum(high, x0)
        x, step, history = x0.clone(), 0, []
        while True:
            x.requires_grad_(True)
            out = staged_forward(net, x)
            history.append(float(out.probabilities[0, index]))
            if int(out.logits[0].argmax()) == index or step == max_steps:
                break
            (grad,) = torch.autograd.grad(out.scores.log_softmax(1)[0, index], x)
            x = torch.maximum(torch.minimum(x.detach() + _step(grad, lr), high), low)
            step += 1
        x = x.detach()
        probs = out.probabilities
    delta = x - x0
    std = mean_std(net)[1].to(x.device)
    return SynthesizedImage(
        "fooling",
        to_display(net, x),
        x,
        class_score(net, probs, index),
        history[0],
        top_class(net, probs),
        step,
        int(probs.argmax()) == index,
        history,
        original=to_display(net, x0),
        perturbation=(delta * std).abs().amax(1)[0].cpu().numpy(),
        l2_norm=float(delta.norm()),
        l2_norm_pixels=float((delta * std).norm()),
    )


def _probabilities(net: SqueezeNet, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return staged_forward(net, x).probabilities


def _probability(net: SqueezeNet, x: torch.Tensor, index: int) -> float:
    return float(_probabilities(net, x)[0, index])
