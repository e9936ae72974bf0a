"""CIFAR-10 from its binary distribution.

Each ``.bin`` file is a sequence of 3073-byte records: one label byte, then a 32x32
image as 1024 red, 1024 green and 1024 blue bytes (already channel-first). The files
are read straight out of ``cifar-10-binary.tar.gz`` when no extracted folder exists,
which avoids unpacking and any path-traversal risk from archive member names.

CIFAR-10 has no validation split; ``val`` returns the test set.
"""

from __future__ import annotations

import os
import re
import tarfile
import zlib
from pathlib import Path

import numpy as np
import torch

from squeezenet.data.base import InMemoryDataset
from squeezenet.data.download import default_cache_dir, download_file
from squeezenet.data.errors import DatasetError
from squeezenet.data.splits import check_split
from squeezenet.files import FileLimitError, open_regular, read_regular

__all__ = ["CIFAR10_CLASSES", "CIFAR10_MD5", "CIFAR10_URL", "load_cifar10", "parse_cifar_batch"]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
ARCHIVE_NAME = "cifar-10-binary.tar.gz"
FOLDER_NAME = "cifar-10-batches-bin"
META_NAME = "batches.meta.txt"
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

_RECORD = 1 + 3 * 32 * 32
# A batch is 10,000 records (30.7 MB); the archive is 170 MB with 8 members and a folder.
MAX_BATCH_BYTES = 64 << 20
MAX_ARCHIVE_BYTES = 1 << 30
MAX_MEMBERS = 1_000
_BATCHES = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}


def load_cifar10(
    split: str, path: str | os.PathLike[str] | None = None, *, download: bool = True
) -> InMemoryDataset:
    """Load a CIFAR-10 split as uint8 (N, 3, 32, 32) images.

    Args:
        split: ``train``, ``val`` or ``test`` (``val`` is the test set).
        path: ``cifar-10-binary.tar.gz``, the extracted ``cifar-10-batches-bin`` folder,
            or a folder holding either. None means the user cache folder.
        download: Download the archive into the folder when nothing is found there.

    Raises:
        DatasetError: If the data is missing, or a file is malformed.
    """
    names = _BATCHES["train" if check_split(split) == "train" else "test"]
    source = _locate(
        Path(path).expanduser() if path is not None else default_cache_dir("cifar10"), download
    )
    if source.is_dir():
        blobs = {
            name: _read_file(source / name)
            for name in (*names, META_NAME)
            if (source / name).is_file()
        }
    else:
        blobs = _read_archive(source, {*names, META_NAME})
    missing = [name for name in names if name not in blobs]
    if missing:
        raise DatasetError(
            f"CIFAR-10 at {source} lacks {', '.join(missing)}; the archive or folder is "
            f"incomplete, replace it with a fresh copy of {CIFAR10_URL}"
        )
    class_names = _parse_meta(blobs.get(META_NAME), source)
    parts = [parse_cifar_batch(blobs[name], f"{source}:{name}", len(class_names)) for name in names]
    images = torch.cat([p[0] for p in parts])
    labels = torch.cat([p[1] for p in parts])
    return InMemoryDataset(images=images, labels=labels, class_names=class_names, name="cifar10")


def parse_cifar_batch(
    data: bytes, where: str, num_classes: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """Parse one CIFAR binary batch.

    Args:
        data: The file's bytes.
        where: File description for error messages.
        num_classes: Labels must be below this.

    Returns:
        uint8 images (N, 3, 32, 32) and int64 labels (N,).

    Raises:
        DatasetError: If the size is not a positive multiple of 3073 or a label is out of range.
    """
    if len(data) == 0 or len(data) % _RECORD:
        raise DatasetError(
            f"CIFAR batch {where} has {len(data)} bytes, not a positive multiple of the "
            f"{_RECORD}-byte record (1 label + 3072 pixels); the file is truncated or is "
            "not CIFAR-10 binary"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, _RECORD)
    labels = torch.from_numpy(records[:, 0].astype(np.int64))
    bad = int(labels.max())
    if bad >= num_classes:
        index = int((labels >= num_classes).nonzero()[0])
        raise DatasetError(
            f"CIFAR batch {where}: record {index} has label {bad}, but there are only "
            f"{num_classes} classes; is this a CIFAR-100 file?"
        )
    images = torch.from_numpy(records[:, 1:].reshape(-1, 3, 32, 32).copy())
    return images, labels


def _locate(path: Path, download: bool) -> Path:
    """Return the archive file or batches folder for ``path``, downloading if allowed."""
    if path.is_file():
        return path
    for candidate in (path, path / FOLDER_NAME):
        if (candidate / "test_batch.bin").is_file() or (candidate / "data_batch_1.bin").is_file():
            return candidate
    if (path / ARCHIVE_NAME).is_file():
        return path / ARCHIVE_NAME
    if path.name.endswith((".tar.gz", ".tgz")):
        raise DatasetError(f"CIFAR-10 archive {path} does not exist; check the path")
    if not download:
        raise DatasetError(_missing_message(path, "downloads are disabled"))
    try:
        return download_file(CIFAR10_URL, path / ARCHIVE_NAME, CIFAR10_MD5)
    except DatasetError as exc:
        raise DatasetError(_missing_message(path, str(exc))) from exc


def _missing_message(folder: Path, reason: str) -> str:
    return (
        f"CIFAR-10 not found in {folder} (looked for {FOLDER_NAME}/ and {ARCHIVE_NAME}) and "
        f"{reason}. To fix: download {CIFAR10_URL} into {folder}, or pass cifar10:PATH "
        "pointing at the archive or the extracted folder."
    )


def _read_file(path: Path) -> bytes:
    try:
        return read_regular(path, MAX_BATCH_BYTES, "CIFAR-10 batch")
    except FileLimitError as exc:
        raise DatasetError(str(exc)) from None
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _read_archive(archive: Path, wanted: set[str]) -> dict[str, bytes]:
    """Read the members of ``archive`` whose base name is in ``wanted``, in one pass.

    Nothing is extracted, yet an archive with a member no genuine CIFAR-10 archive has (a
    ``../`` or absolute name, a link, a device) is refused whole, and so is one with more
    than ``MAX_MEMBERS`` members or a wanted member over ``MAX_BATCH_BYTES``.
    """
    blobs: dict[str, bytes] = {}
    try:
        with (
            open_regular(archive, MAX_ARCHIVE_BYTES, "CIFAR-10 archive") as (f, _size),
            tarfile.open(fileobj=f, mode="r:*") as tar,
        ):
            for count, member in enumerate(tar, 1):
                _check_member(archive, member, count)
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and name in wanted:
                    blobs[name] = tar.extractfile(member).read()  # type: ignore[union-attr]
    except FileLimitError as exc:
        raise DatasetError(str(exc)) from None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DatasetError(
            f"{archive} is not a readable CIFAR-10 tar archive ({exc}); "
            f"delete it and download {CIFAR10_URL} again"
        ) from exc
    return blobs


def _check_member(archive: Path, member: tarfile.TarInfo, count: int) -> None:
    """Refuse a member that is unsafe to hold (see `_read_archive`), naming it."""
    name = member.name
    if name.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", name) or ":" in name[:2]:
        problem = "a name outside the archive (absolute, or with '..')"
    elif member.issym() or member.islnk():
        problem = f"a link (to {member.linkname!r})"
    elif not (member.isfile() or member.isdir()):
        problem = "a device, FIFO or other special file"
    elif member.isfile() and member.size > MAX_BATCH_BYTES:
        problem = f"{member.size:,} bytes, over the {MAX_BATCH_BYTES:,} of a CIFAR-10 batch"
    elif count > MAX_MEMBERS:
        problem = f"member {count:,}, more than the {MAX_MEMBERS:,} a CIFAR-10 archive has"
    else:
        return
    raise DatasetError(
        f"{archive} is not a genuine CIFAR-10 archive: member {name!r} is {problem}; "
        f"download {CIFAR10_URL} again"
    )


def _parse_meta(data: bytes | None, source: Path) -> list[str]:
    # The extracted folder is sometimes copied without its meta file; the names are fixed.
    if data is None:
        return list(CIFAR10_CLASSES)
    try:
        names = [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{source}:{META_NAME} is not UTF-8 text ({exc})") from exc
    if not names:
        raise DatasetError(f"{source}:{META_NAME} lists no class names")
    return names
