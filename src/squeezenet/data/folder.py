"""Class-per-subfolder image datasets (the ImageNet / Imagenette layout).

``root/<class>/<any depth>/<image>``: class names are the sorted subfolder names, label
``i`` is the i-th name. Hidden files and folders (``.DS_Store``, ``.ipynb_checkpoints``)
are ignored, extensions match case-insensitively.

Two ways to read one:
- :func:`load_image_folder` decodes everything once into an :class:`InMemoryDataset`:
  each image's shorter side is resized to ``image_size`` and the central square cropped.
  That suits Imagenette-sized data (9.5k images at 224 px are 1.4 GB).
- :class:`ImageFolderDataset` decodes lazily in ``__getitem__`` for ImageNet-sized trees
  read through a ``torch.utils.data.DataLoader`` with worker processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from squeezenet.data.base import UNLABELLED, InMemoryDataset, sample_indices
from squeezenet.data.errors import BadImageError, DatasetError
from squeezenet.data.images import image_to_tensor, load_image, resize_center_crop
from squeezenet.data.splits import check_split

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageFolderDataset",
    "find_classes",
    "load_image_folder",
    "resolve_split",
    "scan_image_folder",
]

IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jfif",
        ".png",
        ".bmp",
        ".gif",
        ".tif",
        ".tiff",
        ".webp",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
    }
)

_SPLIT_DIRS = {"train": ("train",), "val": ("val", "test"), "test": ("test", "val")}


def _hidden(name: str) -> bool:
    return name.startswith(".")


def find_classes(root: str | os.PathLike[str]) -> list[str]:
    """Return the sorted names of the non-hidden subfolders of ``root``.

    Raises:
        DatasetError: If ``root`` is not a folder or has no class subfolders.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist or is not a folder")
    names = sorted(e.name for e in os.scandir(root) if e.is_dir() and not _hidden(e.name))
    if not names:
        raise DatasetError(
            f"{root} has no class subfolders; expected {root}/<class name>/<image files> "
            "(ImageNet's flat val folder must first be sorted into class folders)"
        )
    return names


def _list_images(class_dir: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=True):
        dirnames[:] = [d for d in dirnames if not _hidden(d)]  # prune hidden trees in place
        found += [
            Path(dirpath, f)
            for f in filenames
            if not _hidden(f) and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS
        ]
    return sorted(found)


def scan_image_folder(
    root: str | os.PathLike[str], class_names: list[str] | None = None
) -> tuple[list[tuple[Path, int]], list[str]]:
    """List ``(path, label)`` samples of an image folder.

    Args:
        root: Folder holding one subfolder per class.
        class_names: Label order to use (e.g. the train split's, so that a validation
            folder missing a class keeps the same labels). Default: ``root``'s subfolders.

    Returns:
        Samples sorted by class then path, and the class names.

    Raises:
        DatasetError: If there are no class folders, a folder is not in ``class_names``,
            or there is no image at all.
    """
    root = Path(root)
    present = find_classes(root)
    class_names = list(present if class_names is None else class_names)
    index = {name: i for i, name in enumerate(class_names)}
    unknown = [name for name in present if name not in index]
    if unknown:
        raise DatasetError(
            f"{root} has class folders {unknown[:5]} that the training classes do not have; "
            "train and val/test must use the same class folder names"
        )
    samples = [(path, index[name]) for name in present for path in _list_images(root / name)]
    if not samples:
        exts = " ".join(sorted(IMAGE_EXTENSIONS))
        raise DatasetError(f"no images under {root} (looked for extensions {exts})")
    return samples, class_names


def resolve_split(root: str | os.PathLike[str], split: str) -> tuple[Path, list[str] | None]:
    """Pick the folder of ``split`` inside ``root``.

    If ``root/train`` exists, ``train`` reads it and ``val``/``test`` read ``root/val``
    (else ``root/test``), labelled with the train split's class names. Without split
    subfolders, ``root`` itself holds the classes and serves any split.

    Returns:
        The split's folder and the class names to label it with (None: its own).
    """
    root = Path(root)
    check_split(split)
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist or is not a folder")
    has = {name: (root / name).is_dir() for name in ("train", "val", "test")}
    if not any(has.values()):
        return root, None
    for name in _SPLIT_DIRS[split]:
        if has[name]:
            class_names = find_classes(root / "train") if has["train"] and name != "train" else None
            return root / name, class_names
    wanted = " or ".join(f"{root}/{n}" for n in _SPLIT_DIRS[split])
    raise DatasetError(f"split {split!r} needs {wanted}, which does not exist")


def _scan_unlabelled(root: Path) -> list[tuple[Path, int]]:
    """Every image under `root`, labelled 0."""
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist or is not a folder")
    samples = [(path, 0) for path in _list_images(root)]
    if not samples:
        exts = " ".join(sorted(IMAGE_EXTENSIONS))
        raise DatasetError(f"no images under {root} (looked for extensions {exts})")
    return samples


def _decode(
    path: Path, image_size: int, resize_size: int | None, mode: str, resize_mode: str = "shorter"
) -> torch.Tensor:
    img = load_image(path, mode, min_size=resize_size or image_size)
    return image_to_tensor(resize_center_crop(img, image_size, resize_size, resize_mode))


def load_image_folder(
    root: str | os.PathLike[str],
    image_size: int,
    *,
    skip_bad_images: bool = False,
    class_names: list[str] | None = None,
    resize_size: int | None = None,
    resize_mode: str = "shorter",
    mode: str = "RGB",
    name: str | None = None,
    num_threads: int | None = None,
    max_images: int | None = None,
    labelled: bool = True,
) -> InMemoryDataset:
    """Decode a whole image folder into memory at a fixed size.

    Each image's shorter side is resized to ``resize_size`` (default ``image_size``), then
    the central ``image_size`` square is kept: N images cost N*C*image_size**2 bytes, and
    random crops/flips are applied later, per batch, by the loader.

    Args:
        root: Folder with one subfolder per class.
        image_size: Side of the stored square images.
        skip_bad_images: Skip undecodable files (listed in ``skipped_paths``) instead of
            raising.
        class_names: Label order, see :func:`scan_image_folder`.
        resize_size: Shorter-side size before cropping.
        resize_mode: ``"shorter"``, or ``"warp"`` to resize both sides to ``resize_size``
            (Caffe models), see :func:`resize_center_crop`.
        mode: ``"RGB"`` (3 channels) or ``"L"`` (1 channel).
        name: Dataset name; default the folder name.
        num_threads: Decoding threads (Pillow releases the GIL); default the CPU count.
        max_images: Decode only a seeded random sample of this many files, in folder
            order (a fair sample of every class, e.g. to calibrate INT8 on).
        labelled: False reads every image under ``root`` at any depth, class folders or
            not, as one class ``UNLABELLED`` (INT8 calibration needs no labels).

    Raises:
        BadImageError: On the first bad image when ``skip_bad_images`` is False.
        DatasetError: If the folder layout is wrong or every image is bad.
    """
    if not isinstance(image_size, int) or image_size <= 0:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
    if mode not in ("RGB", "L"):
        raise ValueError(f"mode must be 'RGB' or 'L', got {mode!r}")
    root = Path(root)
    if labelled:
        samples, class_names = scan_image_folder(root, class_names)
    else:
        samples, class_names = _scan_unlabelled(root), [UNLABELLED]
    if max_images is not None:
        samples = [samples[i] for i in sample_indices(len(samples), max_images).tolist()]
    channels = 1 if mode == "L" else 3
    images = torch.empty((len(samples), channels, image_size, image_size), dtype=torch.uint8)
    ok = torch.ones(len(samples), dtype=torch.bool)

    def decode(i: int) -> None:
        try:
            images[i] = _decode(samples[i][0], image_size, resize_size, mode, resize_mode)
        except BadImageError:
            if not skip_bad_images:
                raise
            ok[i] = False

    _run_threaded(decode, range(len(samples)), num_threads)
    skipped = [samples[i][0] for i in (~ok).nonzero().flatten().tolist()]
    if not bool(ok.any()):
        raise DatasetError(f"all {len(samples)} images under {root} failed to decode")
    labels = torch.tensor([label for _, label in samples], dtype=torch.int64)
    if skipped:
        images, labels = images[ok], labels[ok]
    dataset_name = name or (root.parent.name if root.name in _ALL_SPLIT_NAMES else root.name)
    return InMemoryDataset(images, labels, class_names, dataset_name, skipped_paths=skipped)


def _run_threaded(fn: Callable[[Any], Any], items: Any, num_threads: int | None) -> list[Any]:
    """``list(map(fn, items))`` on a thread pool; the first error cancels what is left."""
    pool = ThreadPoolExecutor(max_workers=num_threads or os.cpu_count() or 1)
    try:
        return list(pool.map(fn, items))
    finally:
        # On error, do not decode the rest of a large folder just to throw it away.
        pool.shutdown(wait=True, cancel_futures=True)


_ALL_SPLIT_NAMES = frozenset(n for names in _SPLIT_DIRS.values() for n in names)


class ImageFolderDataset(Dataset[tuple[Any, int]]):
    """A lazily decoded image folder for use with ``DataLoader`` workers.

    ``dataset[i]`` returns ``(image, label)``. Without ``transform`` the image is a uint8
    (C, image_size, image_size) tensor (shorter side resized to ``resize_size``, then
    centre-cropped), so batches can be augmented as a whole afterwards. With ``transform``,
    it receives the decoded PIL image and its result is returned instead.

    With ``skip_bad_images``, a bad file is recorded in ``skipped_paths`` and the next
    good sample is returned in its place so batches keep their size. Worker processes
    keep their own copy of that list; call :meth:`verify` first for an exact count.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        image_size: int | None = None,
        *,
        resize_size: int | None = None,
        transform: Callable[[Any], Any] | None = None,
        mode: str = "RGB",
        skip_bad_images: bool = False,
        class_names: list[str] | None = None,
    ) -> None:
        if transform is None and image_size is None:
            raise ValueError("ImageFolderDataset needs image_size or a transform")
        self.root = Path(root)
        self.samples, self.class_names = scan_image_folder(self.root, class_names)
        self.image_size, self.resize_size = image_size, resize_size
        self.transform, self.mode = transform, mode
        self.skip_bad_images = skip_bad_images
        self.skipped_paths: list[Path] = []

    @property
    def num_skipped(self) -> int:
        """Number of bad files skipped so far in this process."""
        return len(self.skipped_paths)

    @property
    def labels(self) -> torch.Tensor:
        """int64 (N,) labels, without decoding anything."""
        return torch.tensor([label for _, label in self.samples], dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.samples)

    def _record_skip(self, path: Path) -> None:
        if path not in self.skipped_paths:  # a bad file hit in several epochs counts once
            self.skipped_paths.append(path)

    def _get(self, index: int) -> tuple[Any, int]:
        path, label = self.samples[index]
        if self.image_size is None or self.transform is not None:
            return self.transform(load_image(path, self.mode)), label  # type: ignore[misc]
        return _decode(path, self.image_size, self.resize_size, self.mode), label

    def __getitem__(self, index: int) -> tuple[Any, int]:
        for attempt in range(len(self.samples)):
            i = (index + attempt) % len(self.samples)
            try:
                return self._get(i)
            except BadImageError:
                if not self.skip_bad_images:
                    raise
                self._record_skip(self.samples[i][0])
        raise DatasetError(f"every image under {self.root} failed to decode")

    def verify(self, num_threads: int | None = None) -> int:
        """Decode every image once and drop the bad ones (or raise without skipping).

        Returns:
            The number of samples removed.
        """

        def check(sample: tuple[Path, int]) -> bool:
            try:
                load_image(sample[0], self.mode)
            except BadImageError:
                if not self.skip_bad_images:
                    raise
                return False
            return True

        good = _run_threaded(check, self.samples, num_threads)
        bad = [s[0] for s, keep in zip(self.samples, good, strict=True) if not keep]
        for path in bad:
            self._record_skip(path)
        self.samples = [s for s, keep in zip(self.samples, good, strict=True) if keep]
        if not self.samples:
            raise DatasetError(f"every image under {self.root} failed to decode")
        return len(bad)
