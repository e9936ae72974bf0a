"""The one entry point that loads any dataset by spec (the dataset type is in `base.py`)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from squeezenet.data.base import (
    UNLABELLED,
    InMemoryDataset,
    compute_mean_std,
    resize_images,
    sample_indices,
)
from squeezenet.data.cifar import load_cifar10
from squeezenet.data.errors import DatasetError
from squeezenet.data.folder import load_image_folder, resolve_split
from squeezenet.data.mnist import load_fashion_mnist, load_mnist
from squeezenet.data.splits import check_split
from squeezenet.meta import Preprocessing

__all__ = [
    "DATASET_FORMS",
    "UNLABELLED",
    "InMemoryDataset",
    "compute_mean_std",
    "load_dataset",
    "load_dataset_for_model",
    "parse_spec",
    "resize_images",
    "sample_indices",
]

DATASET_FORMS = (
    "fashion-mnist",
    "mnist",
    "cifar10",
    "cifar10:PATH (cifar-10-binary.tar.gz or cifar-10-batches-bin folder)",
    "folder:PATH (class-per-subfolder images; PATH/train and PATH/val used if present)",
)


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
    labels: bool = True,
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
        labels: False drops the labels (`InMemoryDataset.without_labels`); a folder is then
            read whole, class folders or not (a flat folder of photos to calibrate on).

    Raises:
        DatasetError: For an unknown spec, or any problem reading the data.
    """
    check_split(split)
    if image_size is not None and image_size <= 0:
        raise DatasetError(f"image_size must be a positive integer, got {image_size}")
    if max_images is not None and max_images < 1:
        raise DatasetError(f"max_images must be a positive integer, got {max_images}")
    kind, path = parse_spec(spec)
    if kind in ("fashion-mnist", "fashion_mnist", "fashionmnist", "mnist") and not path:
        loader = load_mnist if kind == "mnist" else load_fashion_mnist
        dataset = loader(split, data_dir=data_dir, download=download)
    elif kind in ("cifar10", "cifar-10"):
        dataset = load_cifar10(split, path or data_dir, download=download)
    elif kind == "folder" and path:
        root = Path(path).expanduser()
        options = {
            "resize_size": resize_size,
            "resize_mode": resize_mode,
            "mode": mode,
            "max_images": max_images,
            "skip_bad_images": skip_bad_images,
        }
        if not labels:
            return _load_folder_split(root, split, image_size, labelled=False, **options)
        return _load_folder_split(root, split, image_size, **options)
    else:
        forms = "\n  ".join(DATASET_FORMS)
        raise DatasetError(f"unknown dataset spec {spec!r}; valid forms are:\n  {forms}")
    if max_images is not None and max_images < len(dataset):
        dataset = dataset.subset(sample_indices(len(dataset), max_images))
    if image_size is not None and image_size != dataset.images.shape[-1]:
        dataset = dataclasses.replace(dataset, images=resize_images(dataset.images, image_size))
    return dataset if labels else dataset.without_labels()


def load_dataset_for_model(
    spec: str,
    split: str,
    preprocessing: Preprocessing,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    max_images: int | None = None,
    labels: bool = True,
) -> InMemoryDataset:
    """A split as a model reads it: an image folder is decoded with the model's
    ``preprocessing`` (crop, resize size and mode, e.g. 224 after 256 for ImageNet weights,
    grayscale for 1 channel); fixed-size datasets stay native (`data.preprocess` resizes them
    when they are fed to the model). ``max_images``, ``labels``: see `load_dataset`
    (``labels=False``: unlabelled images to calibrate INT8 on, `export.calibration_inputs`)."""
    if parse_spec(spec)[0] != "folder":
        return load_dataset(spec, split, data_dir=data_dir, max_images=max_images, labels=labels)
    pre = preprocessing
    return load_dataset(
        spec,
        split,
        data_dir=data_dir,
        image_size=pre.input_size,
        resize_size=pre.resize_size,
        resize_mode=pre.resize_mode,
        mode=pre.image_mode,
        max_images=max_images,
        labels=labels,
    )


def _load_folder_split(
    root: Path, split: str, image_size: int | None, **options: Any
) -> InMemoryDataset:
    """`load_image_folder` on the split's folder; `options` are its keyword arguments."""
    if image_size is None:
        raise DatasetError(f"folder:{root} needs an image size (e.g. --image-size 224)")
    split_root, class_names = resolve_split(root, split)
    if not options.get("labelled", True):
        class_names = None
    return load_image_folder(split_root, image_size, class_names=class_names, **options)
