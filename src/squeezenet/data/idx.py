"""Reader for IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number ``0x0000TTDD`` (``TT`` the element type, ``DD`` the
number of dimensions), ``DD`` big-endian uint32 sizes, then the row-major payload.
The published files are gzipped; we detect gzip by its magic bytes rather than the file
name, because mirrors and Debian packages are not consistent about the ``.gz`` suffix.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from squeezenet.data.errors import DatasetError
from squeezenet.files import FileLimitError, open_regular, read_exactly

__all__ = ["IDX_IMAGES_MAGIC", "IDX_LABELS_MAGIC", "read_idx", "read_idx_images", "read_idx_labels"]

IDX_LABELS_MAGIC = 0x00000801  # uint8, 1 dimension
IDX_IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions

_GZIP_MAGIC = b"\x1f\x8b"
# The largest published IDX file (EMNIST ByClass training images) is 547 MB.
MAX_IDX_BYTES = 1 << 30
_CHUNK = 16 << 20

# IDX type code -> big-endian numpy dtype.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    """Return the file's content, gunzipped when it starts with the gzip magic.

    Bounded before allocating: the file must be a regular file of at most ``MAX_IDX_BYTES``,
    and a gzipped file is inflated only as far as its own header says (plus one byte, to
    notice trailing data), so a gzip bomb costs no more than the sizes it declares.
    """
    try:
        with open_regular(path, MAX_IDX_BYTES, "IDX file") as (f, size):
            if f.read(2) != _GZIP_MAGIC:
                f.seek(0)
                return read_exactly(f, size, path)
            f.seek(0)
            with gzip.GzipFile(fileobj=f) as stream:
                return _read_gzip_idx(stream, path)
    except FileLimitError as exc:
        raise DatasetError(str(exc)) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DatasetError(
            f"IDX file {path} is a corrupt or truncated gzip stream ({exc}); "
            "delete it and download it again"
        ) from exc
    except OSError as exc:
        raise DatasetError(f"cannot read IDX file {path}: {exc.strerror or exc}") from exc


def _read_gzip_idx(stream: BinaryIO, path: Path) -> bytes:
    """Header, then at most the payload it declares plus one byte (see `_read_bytes`)."""
    head = stream.read(4)
    if len(head) < 4 or head[2] not in _IDX_DTYPES or head[3] == 0:
        return head  # `read_idx` says what is wrong with it
    head += stream.read(4 * head[3])
    shape = [int.from_bytes(head[i : i + 4], "big") for i in range(4, len(head) - 3, 4)]
    payload = math.prod(shape) * _IDX_DTYPES[head[2]].itemsize
    if payload > MAX_IDX_BYTES:
        raise DatasetError(
            f"IDX file {path} declares shape {tuple(shape)}, {payload:,} bytes, over the "
            f"{MAX_IDX_BYTES:,}-byte limit of an IDX file"
        )
    chunks, left = [head], payload + 1
    while left > 0:
        chunk = stream.read(min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_idx(path: str | os.PathLike[str], *, expected_magic: int | None = None) -> np.ndarray:
    """Read any IDX file into a native-endian numpy array.

    Args:
        path: The file, gzipped or not.
        expected_magic: If given, the file's magic number must equal it. It is checked
            before anything else so that swapped image/label files get a clear message.

    Returns:
        An array with the file's shape and element type.

    Raises:
        DatasetError: If the header is invalid or the payload length does not match it.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DatasetError(f"IDX file {path} is too short ({len(data)} bytes) to hold a header")
    magic = int.from_bytes(data[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise DatasetError(
            f"{path} has magic number 0x{magic:08X}, expected 0x{expected_magic:08X} "
            f"({_describe_magic(expected_magic)}); check that the right file is in place"
        )
    if data[0] != 0 or data[1] != 0:
        raise DatasetError(
            f"{path} is not an IDX file: magic number 0x{magic:08X} must start with two zero bytes"
        )
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_DTYPES:
        raise DatasetError(f"IDX file {path} has unknown element type code 0x{type_code:02X}")
    if ndim == 0:
        raise DatasetError(f"IDX file {path} declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DatasetError(f"IDX file {path} is truncated inside its {ndim}-dimension header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header_len
    if actual != expected:
        raise DatasetError(
            f"IDX file {path} has {actual} payload bytes but its header {shape} needs {expected}; "
            "the file is truncated or corrupt, delete it and download it again"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)  # native order, writable


def _describe_magic(magic: int) -> str:
    if magic == IDX_IMAGES_MAGIC:
        return "uint8 images, 3 dimensions"
    if magic == IDX_LABELS_MAGIC:
        return "uint8 labels, 1 dimension"
    return f"type 0x{(magic >> 8) & 0xFF:02X}, {magic & 0xFF} dimensions"


def read_idx_images(path: str | os.PathLike[str]) -> torch.Tensor:
    """Read an IDX image file (magic 0x00000803).

    Returns:
        uint8 tensor of shape (N, 1, rows, cols), i.e. (N, 1, 28, 28) for MNIST.

    Raises:
        DatasetError: If the file is missing, not an image file, or malformed.
    """
    array = read_idx(path, expected_magic=IDX_IMAGES_MAGIC)  # (N, rows, cols)
    return torch.from_numpy(array).unsqueeze(1)


def read_idx_labels(path: str | os.PathLike[str]) -> torch.Tensor:
    """Read an IDX label file (magic 0x00000801).

    Returns:
        int64 tensor of shape (N,); int64 because that is what cross-entropy expects.

    Raises:
        DatasetError: If the file is missing, not a label file, or malformed.
    """
    array = read_idx(path, expected_magic=IDX_LABELS_MAGIC)  # (N,)
    return torch.from_numpy(array).to(torch.int64)
