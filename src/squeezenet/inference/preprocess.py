"""A model's input preprocessing: the single place that turns images into model tensors.

A trained model carries its preprocessing in `model.meta` (`input_size`, optional
`resize_size`, `mean`, `std`, `in_channels`); an exported ONNX file carries the same keys in
its metadata. `Preprocess` reads either and applies it the same way to one decoded image
(`predict`) or to a batch of dataset images (calibration, evaluation, export checks):
resize the shorter side to `resize_size` (default `input_size`), center-crop `input_size`,
scale to [0, 1], normalize with `mean` / `std`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from ..data.dataset import resize_images
from ..data.images import image_to_tensor, load_image, resize_center_crop
from ..data.transforms import CenterCrop, Normalize, Resize

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# An untrained grayscale model has no statistics; (0.5, 0.5) maps [0, 1] to [-1, 1].
GRAY_MEAN, GRAY_STD = (0.5,), (0.5,)
DEFAULT_INPUT_SIZE = 224


@dataclass(frozen=True)
class Preprocess:
    """How to turn an image into the model's input tensor.

    Attributes:
        input_size: side of the square crop the model sees.
        mean: per-channel mean in [0, 1] units (one value is broadcast to every channel).
        std: per-channel standard deviation in [0, 1] units.
        in_channels: 1 (images decoded as grayscale "L") or 3 (decoded as "RGB").
        resize_size: shorter side before the center crop; None means `input_size`
            (the whole image is kept). ImageNet models use 256 for a 224 crop.
    """

    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    in_channels: int = 3
    resize_size: int | None = None

    def __post_init__(self) -> None:
        size = self.input_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"input_size must be a positive integer, got {self.input_size!r}")
        if self.in_channels not in (1, 3):
            raise ValueError(
                f"in_channels must be 1 (grayscale) or 3 (RGB), got {self.in_channels!r}"
            )
        if len(self.mean) != len(self.std) or len(self.mean) not in (1, self.in_channels):
            raise ValueError(
                f"mean {self.mean} and std {self.std} need 1 or {self.in_channels} values each"
            )
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std values must be positive, got {self.std}")
        if self.resize_size is not None and self.resize_size < self.input_size:
            raise ValueError(
                f"resize_size {self.resize_size} must be >= input_size {self.input_size}"
            )

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_meta(
        cls,
        meta: Mapping[str, Any],
        *,
        in_channels: int | None = None,
        input_size: int | None = None,
    ) -> Preprocess:
        """Build from a model's `meta` dict (or ONNX metadata), filling in defaults.

        Args:
            meta: keys `input_size`, `resize_size`, `mean`, `std`, `in_channels` (all optional).
            in_channels: the model's channels; wins over `meta` (the weights cannot lie).
            input_size: serve at another size; `resize_size` keeps its ratio to the crop.
        """
        channels = int(in_channels or meta.get("in_channels") or 3)
        native = meta.get("input_size")
        native = DEFAULT_INPUT_SIZE if native is None else int(native)
        size = native if input_size is None else int(input_size)
        resize = meta.get("resize_size")
        if resize is not None and size != native and native > 0:
            resize = max(size, round(int(resize) * size / native))
        gray = channels == 1
        mean = tuple(float(v) for v in meta.get("mean") or (GRAY_MEAN if gray else IMAGENET_MEAN))
        std = tuple(float(v) for v in meta.get("std") or (GRAY_STD if gray else IMAGENET_STD))
        return cls(size, mean, std, channels, None if resize == size else resize)

    @classmethod
    def from_model(cls, model: torch.nn.Module, *, input_size: int | None = None) -> Preprocess:
        """The preprocessing of a SqueezeNet, from its `meta` and config."""
        config = getattr(model, "config", None)
        return cls.from_meta(
            getattr(model, "meta", {}) or {},
            in_channels=getattr(config, "in_channels", None),
            input_size=input_size,
        )

    def to_meta(self) -> dict[str, Any]:
        """The JSON-ready keys `from_meta` reads back."""
        meta: dict[str, Any] = {
            "input_size": self.input_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "in_channels": self.in_channels,
        }
        if self.resize_size is not None:
            meta["resize_size"] = self.resize_size
        return meta

    # ---- application --------------------------------------------------------------------------
    @property
    def image_mode(self) -> str:
        """The PIL mode images are decoded to: "L" for 1 channel, "RGB" for 3."""
        return "L" if self.in_channels == 1 else "RGB"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one model input."""
        return self.in_channels, self.input_size, self.input_size

    def load(self, path: str | os.PathLike[str]) -> torch.Tensor:
        """Decode an image file (any mode, EXIF-rotated) into a (C, H, W) float32 input.

        Raises:
            BadImageError: the file is missing, not an image, truncated or corrupt.
        """
        # min_size lets JPEGs decode at a reduced scale that still covers the resize.
        img = load_image(path, self.image_mode, min_size=self.resize_size or self.input_size)
        return self.image(img)

    def image(self, img: Image.Image) -> torch.Tensor:
        """A decoded PIL image (RGB or L) -> (C, H, W) float32 input."""
        if img.mode != self.image_mode:
            img = img.convert(self.image_mode)
        img = resize_center_crop(img, self.input_size, self.resize_size)
        return self.normalize(image_to_tensor(img)[None])[0]

    def batch(self, images: torch.Tensor) -> torch.Tensor:
        """Dataset images (N, C, H, W), uint8 0..255 -> (N, C, S, S) float32 inputs."""
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ValueError(
                f"expected images of shape (N, {self.in_channels}, H, W), got {tuple(images.shape)}"
            )
        return self.normalize(self.resize(images))

    def resize(self, images: torch.Tensor) -> torch.Tensor:
        """Resize and center-crop uint8 (N, C, H, W) images to the input size, keeping uint8."""
        size = self.input_size
        h, w = images.shape[-2:]
        if (h, w) == (size, size):
            return images
        if h == w and self.resize_size is None:
            # The same resampling as `load_dataset(image_size=...)` and `evaluate`, so that
            # accuracies measured here match the trainer's to the last image.
            return resize_images(images, size)
        return CenterCrop(size)(Resize(self.resize_size or size)(images))

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) -> float32, scaled to [0, 1] and standardised."""
        c = self.in_channels
        return Normalize(_per_channel(self.mean, c), _per_channel(self.std, c))(images)


def _per_channel(values: Sequence[float], channels: int) -> tuple[float, ...]:
    return tuple(values) * channels if len(values) == 1 else tuple(values)
