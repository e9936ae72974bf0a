"""The one implementation that turns images into a model's input, by its `Preprocessing`.

Evaluation, prediction, ONNX export checks, INT8 calibration and compression fine-tuning
all come through here, so a model sees the same numbers whichever command feeds it:

1. resize (`resize_mode` "shorter": the shorter side to `resize_size`; "warp": both sides)
   and centre-crop `input_size`;
2. reorder the channels to `channel_order` (images are decoded RGB);
3. scale to `scale` (0..1 or 0..255) and standardise with `mean` and `std`.

A uint8 batch that is already `input_size` square is taken as resized: datasets are decoded
at the model's size by `load_dataset_for_model`, and resizing twice would crop twice.
Pipelines that augment between the two stages (fine-tuning) use `resize_to_input` and
`input_normalizer` separately.
"""

from __future__ import annotations

import functools
import os

import torch
from PIL import Image

from squeezenet.data.base import resize_images
from squeezenet.data.images import image_to_tensor, load_image, resize_center_crop
from squeezenet.data.transforms import BatchTransform, CenterCrop, Compose, Normalize, Resize
from squeezenet.meta import SCALE_MAX, Preprocessing

__all__ = ["input_normalizer", "load_model_input", "resize_to_input", "to_model_input"]


def to_model_input(images: torch.Tensor | Image.Image, pre: Preprocessing) -> torch.Tensor:
    """Images -> the model's float32 input.

    Args:
        images: uint8 (N, C, H, W) with C = `pre.in_channels`, RGB; or one decoded PIL
            image of any mode.
        pre: the model's preprocessing (`meta.preprocessing_for(model)`).

    Returns:
        (N, C, S, S) for a batch, (C, S, S) for a PIL image; S = `pre.input_size`.
    """
    normalize = input_normalizer(pre)
    if isinstance(images, Image.Image):
        img = images if images.mode == pre.image_mode else images.convert(pre.image_mode)
        img = resize_center_crop(img, pre.input_size, pre.resize_size, pre.resize_mode)
        return normalize(image_to_tensor(img)[None])[0]
    return normalize(resize_to_input(images, pre))


def load_model_input(path: str | os.PathLike[str], pre: Preprocessing) -> torch.Tensor:
    """Decode an image file (any mode, EXIF-rotated) into a (C, S, S) float32 input.

    Raises:
        BadImageError: the file is missing, not an image, truncated or corrupt.
    """
    # min_size lets JPEGs decode at a reduced scale that still covers the resize.
    img = load_image(path, pre.image_mode, min_size=pre.resize_size or pre.input_size)
    return to_model_input(img, pre)


def resize_to_input(images: torch.Tensor, pre: Preprocessing) -> torch.Tensor:
    """Resize and centre-crop (N, C, H, W) images to the input size, keeping their dtype."""
    if images.dim() != 4 or images.shape[1] != pre.in_channels:
        raise ValueError(
            f"expected images of shape (N, {pre.in_channels}, H, W), got {tuple(images.shape)}"
        )
    size, resize = pre.input_size, pre.resize_size or pre.input_size
    h, w = images.shape[-2:]
    if (h, w) == (size, size):
        return images
    if pre.resize_mode == "warp" or (h == w and resize == size):
        # resize_images is the resampling of `load_dataset(image_size=...)`, so that accuracies
        # measured here match the trainer's to the last image.
        resized = resize_images(images, resize)
        return resized if resize == size else CenterCrop(size)(resized)
    return CenterCrop(size)(Resize(resize)(images))


@functools.lru_cache(maxsize=64)
def input_normalizer(pre: Preprocessing) -> BatchTransform:
    """A transform taking resized RGB images (uint8 0..255, or float 0..1) to model inputs:
    channel order, scale, mean and std."""
    # Normalize scales uint8 by 1/255; statistics in 0..255 units are rescaled to match.
    unit = SCALE_MAX[pre.scale]
    normalize = Normalize([m / unit for m in pre.mean], [s / unit for s in pre.std])
    return Compose([_reverse_channels, normalize]) if pre.channel_order == "BGR" else normalize


def _reverse_channels(
    images: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """RGB -> BGR."""
    return images.flip(1)
