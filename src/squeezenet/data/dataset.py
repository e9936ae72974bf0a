"""The in-memory dataset type and the one entry point that loads any dataset by spec.

Small datasets (MNIST, CIFAR-10, Imagenette) are held as one uint8 tensor: 60k
Fashion-MNIST images are 47 MB, and indexing a tensor is far faster than decoding
files or running a DataLoader with workers on a 2-core machine.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from squeezenet.data.errors import DatasetError
from squeezenet.data.splits import check_split
from squeezenet.meta import Preprocessing

__all__ = [
    "DATASET_FORMS",
    "InMemoryDataset",
    "compute_mean_std",
    "load_dataset",
    "load_dataset_for_model",
    "parse_spec",
]

DATASET_FORMS = (
    "fashion-mnist",
    "mnist",
    "cifar10",
    "cifar10:PATH (cifar-10-binary.tar.gz or cifar-10-batches-bin folder)",
    "folder:PATH (class-per-subfolder images; PATH/train and PATH/val used if present)",
)

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


def parse_spec(spec: str) -> tuple[str, str]:
    """A dataset spec's kind, lower-cased, and its PATH ("" if none):
    ``"Folder:/data/x"`` -> ``("folder", "/data/x")``."""
    kind, _, path = spec.partition(":")
    return kind.strip().lower(), path


def load_dataset(
    spec: str,
    split: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    image_size: int | None = None,
    skip_bad_images: bool = False,
    resize_size: int | None = None,
    resize_mode: str = "shorter",
    mode: str = "RGB",
    max_images: int | None = None,
) -> InMemoryDataset:
    """Load a dataset split into memory from a spec string.

    Specs: ``fashion-mnist``, ``mnist``, ``cifar10``, ``cifar10:PATH``, ``folder:PATH``.

    Args:
        spec: Which dataset, see above.
        split: ``train``, ``val`` or ``test``.
        data_dir: Search/download folder for fashion-mnist, mnist and cifar10 without PATH.
        download: Allow downloading missing files.
        image_size: Output side length. Required for ``folder:``; for the fixed-size
            datasets a different size resizes every image (bilinear, antialiased).
        skip_bad_images: ``folder:`` only; skip undecodable files instead of failing.
        resize_size: ``folder:`` only; shorter side before the centre crop to ``image_size``
            (e.g. 256 for ImageNet weights; default ``image_size``).
        resize_mode: ``folder:`` only; ``"shorter"``, or ``"warp"`` to resize both sides to
            ``resize_size`` (Caffe models).
        mode: ``folder:`` only; ``"RGB"`` (3 channels) or ``"L"`` (grayscale, 1 channel).
        max_images: keep a seeded random sample of at most this many images, in dataset
            order; a folder decodes only those (512 calibration images of ImageNet, not 1.3M).

    Raises:
        DatasetError: For an unknown spec, or any problem reading the data.
    """
    check_split(split)
    if image_size is not None and image_size <= 0:
        raise DatasetError(f"image_size must be a positive integer, got {image_size}")
    if max_images is not None and max_images < 1:
        raise DatasetError(f"max_images must be a positive integer, got {max_images}")
    kind, path = parse_spec(spec)
    # Readers import this module for InMemoryDataset, so they are imported here, not on top.
    if kind in ("fashion-mnist", "fashion_mnist", "fashionmnist", "mnist") and not path:
        from squeezenet.data.mnist import load_fashion_mnist, load_mnist

        loader = load_mnist if kind == "mnist" else load_fashion_mnist
        dataset = loader(split, data_dir=data_dir, download=download)
    elif kind in ("cifar10", "cifar-10"):
        from squeezenet.data.cifar import load_cifar10

        dataset = load_cifar10(split, path or data_dir, download=download)
    elif kind == "folder" and path:
        root = Path(path).expanduser()
        options = {"resize_size": resize_size, "resize_mode": resize_mode, "mode": mode,
                   "max_images": max_images, "skip_bad_images": skip_bad_images}  # fmt: skip
        return _load_folder_split(root, split, image_size, **options)
    else:
        forms = "\n  ".join(DATASET_FORMS)
        raise DatasetError(f"unknown dataset spec {spec!r}; valid forms are:\n  {forms}")
    if max_images is not None and max_images < len(dataset):
        dataset = dataset.subset(sample_indices(len(dataset), max_images))
    if image_size is not None and image_size != dataset.images.shape[-1]:
        dataset = dataclasses.replace(dataset, images=resize_images(dataset.images, image_size))
    return dataset


def load_dataset_for_model(
    spec: str,
    split: str,
    preprocessing: Preprocessing,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    max_images: int | None = None,
) -> InMemoryDataset:
    """A split as a model reads it: an image folder is decoded with the model's
    ``preprocessing`` (crop, resize size and mode, e.g. 224 after 256 for ImageNet weights,
    grayscale for 1 channel); fixed-size datasets stay native (`data.preprocess` resizes them
    when they are fed to the model). ``max_images``: see `load_dataset`."""
    if parse_spec(spec)[0] != "folder":
        return load_dataset(spec, split, data_dir=data_dir, max_images=max_images)
    pre = preprocessing
    return load_dataset(spec, split, data_dir=data_dir, image_size=pre.input_size,
                        resize_size=pre.resize_size, resize_mode=pre.resize_mode,
                        mode=pre.image_mode, max_images=max_images)  # fmt: skip


def _load_folder_split(
    root: Path, split: str, image_size: int | None, **options: Any
) -> InMemoryDataset:
    """`load_image_folder` on the split's folder; `options` are its keyword arguments."""
    from squeezenet.data.folder import load_image_folder, resolve_split

    if image_size is None:
        raise DatasetError(f"folder:{root} needs an image size (e.g. --image-size 224)")
    split_root, class_names = resolve_split(root, split)
    return load_image_folder(split_root, image_size, class_names=class_names, **options)
