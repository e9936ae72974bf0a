"""The in-memory dataset type: a whole labelled (or unlabelled) split as one uint8 tensor.

Small datasets (MNIST, CIFAR-10, Imagenette) are held as one uint8 tensor: 60k
Fashion-MNIST images are 47 MB, and indexing a tensor is far faster than decoding
files or running a DataLoader with workers on a 2-core machine.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn.functional as F

from squeezenet.data.errors import DatasetError

__all__ = ["UNLABELLED", "InMemoryDataset", "compute_mean_std", "resize_images", "sample_indices"]

# The one class name of images loaded without labels (calibration needs no classes).
UNLABELLED = "(unlabelled)"
_CHUNK = 1024  # images per chunk when computing statistics or resizing


@dataclasses.dataclass
class InMemoryDataset:
    """A labelled image dataset held in memory.

    Attributes:
        images: uint8 tensor (N, C, H, W), values 0..255.
        labels: int64 tensor (N,), values in ``range(len(class_names))``.
        class_names: Label index -> name.
        name: Short dataset name used in run folders and checkpoints.
        skipped_paths: Files left out because they could not be decoded.
    """

    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor  # (N,) int64
    class_names: list[str]
    name: str
    skipped_paths: list[Path] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.images, torch.Tensor) or self.images.dtype != torch.uint8:
            got = getattr(self.images, "dtype", type(self.images).__name__)
            raise DatasetError(f"dataset {self.name!r}: images must be a uint8 tensor, got {got}")
        if self.images.dim() != 4:
            raise DatasetError(
                f"dataset {self.name!r}: images must be (N, C, H, W), "
                f"got shape {tuple(self.images.shape)}"
            )
        if not isinstance(self.labels, torch.Tensor) or self.labels.dtype != torch.int64:
            got = getattr(self.labels, "dtype", type(self.labels).__name__)
            raise DatasetError(f"dataset {self.name!r}: labels must be an int64 tensor, got {got}")
        if self.labels.shape != (self.images.shape[0],):
            raise DatasetError(
                f"dataset {self.name!r}: {self.images.shape[0]} images but labels have shape "
                f"{tuple(self.labels.shape)}"
            )
        if not self.class_names:
            raise DatasetError(f"dataset {self.name!r}: class_names is empty")
        if self.labels.numel():
            low, high = int(self.labels.min()), int(self.labels.max())
            if low < 0 or high >= len(self.class_names):
                raise DatasetError(
                    f"dataset {self.name!r}: labels span {low}..{high} but there are "
                    f"{len(self.class_names)} classes"
                )

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def num_skipped(self) -> int:
        """Number of undecodable files left out when loading."""
        return len(self.skipped_paths)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def subset(self, indices: torch.Tensor) -> InMemoryDataset:
        """Return the samples at ``indices`` (e.g. to hold out a validation split)."""
        return InMemoryDataset(
            self.images[indices], self.labels[indices], list(self.class_names), self.name
        )

    @property
    def labelled(self) -> bool:
        """False for images loaded without labels (`without_labels`)."""
        return self.class_names != [UNLABELLED]

    def without_labels(self) -> InMemoryDataset:
        """The same images with the labels dropped (one class, `UNLABELLED`)."""
        labels = torch.zeros(len(self), dtype=torch.int64)
        return dataclasses.replace(self, labels=labels, class_names=[UNLABELLED])


def compute_mean_std(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images, in [0, 1] units.

    Works in chunks of float64 sums so that a dataset is never copied whole to float.

    Args:
        images: uint8 tensor (N, C, H, W).

    Returns:
        ``(mean, std)``, each a tuple of C floats, ready for :class:`Normalize`.
    """
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[0] == 0:
        raise DatasetError(
            f"compute_mean_std needs a non-empty uint8 (N, C, H, W) tensor, got "
            f"{images.dtype} of shape {tuple(images.shape)}"
        )
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    total_sq = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, images.shape[0], _CHUNK):
        chunk = images[start : start + _CHUNK].to(torch.float64)
        total += chunk.sum(dim=(0, 2, 3))
        total_sq += chunk.square().sum(dim=(0, 2, 3))
    count = images.numel() // channels
    mean = total / count
    # Population variance from raw sums is exact enough in float64 for values <= 255.
    var = (total_sq / count - mean.square()).clamp_min(0.0)
    return tuple((mean / 255).tolist()), tuple((var.sqrt() / 255).tolist())


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize uint8 (N, C, H, W) images to (N, C, size, size) in chunks, antialiased."""
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], _CHUNK):
        chunk = images[start : start + _CHUNK].to(torch.float32)
        resized = F.interpolate(chunk, size=(size, size), mode="bilinear", antialias=True)
        out[start : start + _CHUNK] = resized.round_().clamp_(0, 255).to(torch.uint8)
    return out


def sample_indices(total: int, count: int, seed: int = 0) -> torch.Tensor:
    """Sorted indices of a seeded random sample of ``min(count, total)`` of ``total`` items:
    a fair sample of a folder listed class by class, kept in its order."""
    if count >= total:
        return torch.arange(total)
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(total, generator=generator)[:count].sort().values
