"""Post-training calibration of codebooks by distillation on unlabelled images.

With no training set (ImageNet weights held without ImageNet), a re-quantized model recovers
accuracy the way post-training methods do: the original model is the teacher, and only the
weight-shared layers' codebooks (a few hundred numbers per layer) are trained so that the
student's logits match the teacher's on augmented crops of a few hundred unlabelled images.
Masks, assignments and biases stay fixed, so pruned weights stay exactly zero and so few
parameters cannot memorise the calibration images.

    >>> images = load_calibration_images("folder:photos", preprocessing_for(model))
    >>> share_weights_(student, ShareConfig(...))
    >>> calibrate_codebooks_(student, teacher, images, CalibConfig(steps=300))
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..data.folder import IMAGE_EXTENSIONS
from ..data.images import image_to_tensor, load_image, resize_center_crop
from ..data.preprocess import input_normalizer
from ..meta import Preprocessing
from .layers import CompressError
from .quantize import codebooks_of_params

LOSSES = ("kl", "mse")
MAX_CALIB_IMAGES = 100_000  # decoded at the resize size: ~20 GB beyond this at 256 px


@dataclass(frozen=True)
class CalibConfig:
    """Codebook distillation settings.

    Attributes:
        steps: optimizer steps.
        batch_size: crops per step.
        lr: Adam step size relative to each layer's mean |centroid| (layers differ by 10x
            in scale, so one absolute rate would be too big for some and too small for others).
        loss: "kl" (teacher's softmax against the student's, temperature 1) or "mse" on logits.
        flip: mirror half of the crops.
        seed: crop, flip and batch order seed.
    """

    steps: int = 300
    batch_size: int = 16
    lr: float = 1e-3
    loss: str = "kl"
    flip: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.steps, int) and 0 <= self.steps <= 1_000_000):
            raise CompressError(f"calibration steps must be in 0..1000000, got {self.steps!r}")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise CompressError(f"calibration batch_size must be >= 1, got {self.batch_size!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise CompressError(f"calibration lr must be finite and > 0, got {self.lr!r}")
        if self.loss not in LOSSES:
            raise CompressError(f"calibration loss must be one of {LOSSES}, got {self.loss!r}")


def list_images(root: str | os.PathLike[str]) -> list[Path]:
    """Every image file under `root` (any depth, hidden entries skipped), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise CompressError(f"calibration data {root} is not a folder of images")
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [
            Path(dirpath, f)
            for f in filenames
            if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTENSIONS
        ]
    if not found:
        raise CompressError(
            f"calibration data {root} holds no image files ({', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    if len(found) > MAX_CALIB_IMAGES:
        raise CompressError(
            f"calibration data {root} holds {len(found):,} images, over "
            f"the {MAX_CALIB_IMAGES:,} this decodes into memory; pass a "
            "subset"
        )
    return sorted(found)


def load_calibration_images(spec: str | os.PathLike[str], pre: Preprocessing) -> torch.Tensor:
    """Decode the images of `folder:PATH` (or a plain folder path) at the model's resize size.

    Labels and folder structure are ignored: a flat folder of photos works. Images are
    resized (`pre.resize_mode`) to a `resize_size` square, from which calibration takes
    random `input_size` crops, as the model's training did.

    Returns:
        uint8 (N, C, R, R), R = `pre.resize_size` (or `input_size`).
    """
    text = os.fspath(spec)
    root = text[len("folder:") :] if text.startswith("folder:") else text
    size = pre.resize_size or pre.input_size
    images = []
    for path in list_images(root):
        img = load_image(path, pre.image_mode, min_size=size)
        images.append(image_to_tensor(resize_center_crop(img, size, size, pre.resize_mode)))
    return torch.stack(images)


def random_crops(
    images: torch.Tensor, size: int, flip: bool, generator: torch.Generator
) -> torch.Tensor:
    """One random `size` crop (and a mirror with probability 1/2) of every image."""
    n, _, h, w = images.shape
    tops = torch.randint(0, h - size + 1, (n,), generator=generator).tolist()
    lefts = torch.randint(0, w - size + 1, (n,), generator=generator).tolist()
    flips = (torch.rand(n, generator=generator) < 0.5).tolist() if flip else [False] * n
    crops = [img[:, t : t + size, l : l + size] for img, t, l in zip(images, tops, lefts)]
    return torch.stack([c.flip(-1) if f else c for c, f in zip(crops, flips)])


def _codebook_params(model: nn.Module) -> list[torch.Tensor]:
    out = codebooks_of_params(model)
    if not out:
        raise CompressError("no weight-shared layer to calibrate; call share_weights_ first")
    return out


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, kind: str) -> torch.Tensor:
    """KL(teacher || student) of the softmaxes, or MSE of the logits."""
    if kind == "mse":
        return F.mse_loss(student, teacher)
    return F.kl_div(
        F.log_softmax(student, 1), F.log_softmax(teacher, 1), log_target=True, reduction="batchmean"
    )


def calibrate_codebooks_(
    student: nn.Module,
    teacher: nn.Module,
    images: torch.Tensor,
    pre: Preprocessing,
    config: CalibConfig | None = None,
    *,
    log: Callable[[str], None] | None = None,
) -> list[float]:
    """Train the codebooks of the weight-shared `student` toward `teacher`'s logits, in place.

    Args:
        student: a model after `share_weights_` (its codebooks are the only tensors trained).
        teacher: the model to imitate (not modified).
        images: uint8 (N, C, H, W) with H, W >= `pre.input_size` (`load_calibration_images`).
        pre: the models' preprocessing (channel order, scale, mean, crop size).
        config: steps, batch size, learning rate, loss.
        log: called with progress lines.

    Returns:
        the loss of every step.
    """
    return distill_(student, teacher, images, pre, _codebook_params(student), config, log=log)


def distill_(
    student: nn.Module,
    teacher: nn.Module,
    images: torch.Tensor,
    pre: Preprocessing,
    params: list[torch.Tensor],
    config: CalibConfig | None = None,
    *,
    log: Callable[[str], None] | None = None,
) -> list[float]:
    """Train `params` of `student` (the rest frozen) toward `teacher`'s logits, in place.

    Both run in eval mode (BatchNorm statistics stay fixed). Each tensor's learning rate is
    `config.lr` times its mean magnitude. Arguments and result as `calibrate_codebooks_`;
    channel pruning recovers through it with all of the pruned model's parameters.
    """
    config = config or CalibConfig()
    if images.dim() != 4 or min(images.shape[-2:]) < pre.input_size:
        raise CompressError(
            f"calibration images must be (N, C, H, W) with H, W >= "
            f"{pre.input_size}, got {tuple(images.shape)}"
        )
    normalize = input_normalizer(pre)
    groups = [
        {"params": [p], "lr": config.lr * float(p.detach().abs().mean().clamp_min(1e-8))}
        for p in params
    ]
    trainable = {id(g["params"][0]) for g in groups}
    frozen = [p for p in student.parameters() if id(p) not in trainable and p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    optimizer = torch.optim.Adam(groups)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(config.steps, 1))
    generator = torch.Generator().manual_seed(config.seed)
    student.eval()
    teacher.eval()
    losses: list[float] = []
    try:
        for step in range(config.steps):
            pick = torch.randint(0, len(images), (config.batch_size,), generator=generator)
            x = normalize(random_crops(images[pick], pre.input_size, config.flip, generator))
            with torch.no_grad():
                target = teacher(x)
            loss = distill_loss(student(x), target, config.loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            if log is not None and (step + 1) % max(config.steps // 10, 1) == 0:
                recent = losses[-max(config.steps // 10, 1) :]
                log(
                    f"calibration step {step + 1}/{config.steps}: "
                    f"{config.loss} {sum(recent) / len(recent):.4f}"
                )
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return losses
