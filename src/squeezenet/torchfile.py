"""`torch.load` of untrusted files, bounded before torch allocates anything.

`torch.load(weights_only=True)` never runs code from a pickle, but it trusts sizes: a zip
archive's central directory says how large each storage is, and torch allocates that much
before reading it. A 523 KB `.pth` whose one storage is 512 MB of deflated zeros makes torch
allocate 512 MB. So before `torch.load` sees a file we check, from `fstat` and the zip's
central directory only:

* a regular file (not /dev/zero or a FIFO) of at most `MAX_TORCH_FILE_BYTES`;
* a zip archive (torch >= 1.6) with at most `MAX_ZIP_ENTRIES` entries, counted from the end
  record before `zipfile` builds an object per entry, whose declared uncompressed sizes sum
  to at most `MAX_TORCH_FILE_BYTES`;
* or the legacy pickle format (torchvision's published SqueezeNet weights are of it): its
  storages are read from the file itself, so the file-size cap bounds what is read into
  memory. A legacy tar archive (torch < 0.4) is refused: torch would extract it to disk.
"""

from __future__ import annotations

import os
import struct
import zipfile
from typing import Any, BinaryIO

import torch

from .errors import FormatError
from .files import FileLimitError, open_regular

__all__ = ["MAX_TORCH_FILE_BYTES", "MAX_ZIP_ENTRIES", "check_torch_file", "load_torch_file"]

# 64x the largest SqueezeNet (1.59M parameters, 6.4 MB): room for optimizer state and far
# larger design-space points, and half of what the 523 KB zip bomb asked for.
MAX_TORCH_FILE_BYTES = 256 << 20
MAX_ZIP_ENTRIES = 100_000  # torch writes one entry per storage, plus a handful
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = 0x80  # the first opcode of a binary pickle (protocol >= 2)
_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")


def load_torch_file(path: str | os.PathLike[str]) -> Any:
    """`torch.load(path, weights_only=True)` on CPU, once `check_torch_file` accepts it.

    Raises:
        FormatError: the file is refused, or torch cannot load it.
        OSError: the file is missing or unreadable.
    """
    check_torch_file(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for foreign or malicious pickles
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FormatError(
            f"{path}: cannot load as a weights-only torch checkpoint ({reason})"
        ) from None


def check_torch_file(path: str | os.PathLike[str], max_bytes: int = MAX_TORCH_FILE_BYTES) -> None:
    """Refuse a file whose loading could exhaust memory (see the module docstring).

    Raises:
        FormatError: not a regular file, too large, a zip bomb, or not a torch file at all.
        OSError: the file is missing or unreadable.
    """
    try:
        with open_regular(path, max_bytes, "torch checkpoint") as (f, size):
            head = f.read(4)
            if head == _ZIP_MAGIC:
                _check_zip(f, size, path, max_bytes)
            elif not head or head[0] != _PICKLE_PROTO:
                raise FormatError(
                    f"{path} is not a torch checkpoint: neither a zip archive (torch.save) nor "
                    "a legacy pickle"
                )
    except FileLimitError as e:
        raise FormatError(str(e)) from None


def _check_zip(f: BinaryIO, size: int, path: str | os.PathLike[str], max_bytes: int) -> None:
    entries = _zip_entry_count(f, size, path)
    if entries > MAX_ZIP_ENTRIES:
        raise FormatError(
            f"{path}: zip archive of {entries:,} entries, over the {MAX_ZIP_ENTRIES:,} a torch "
            "checkpoint may have"
        )
    f.seek(0)
    try:
        with zipfile.ZipFile(f) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as e:
        raise FormatError(f"{path}: corrupt zip archive ({e})") from None
    if total > max_bytes:
        raise FormatError(
            f"{path}: its zip entries declare {total:,} bytes once uncompressed (a zip bomb?), "
            f"over the {max_bytes:,}-byte limit for a torch checkpoint"
        )


def _zip_entry_count(f: BinaryIO, size: int, path: str | os.PathLike[str]) -> int:
    """Entries the archive's end record declares (zip64 included), read from its tail."""
    tail_len = min(size, _EOCD.size + 0xFFFF)  # the record, then a comment of <= 64 KiB
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _EOCD.size > len(tail):
        raise FormatError(f"{path}: corrupt zip archive (no end of central directory)")
    entries = _EOCD.unpack_from(tail, at)[4]
    if entries != 0xFFFF or at < _ZIP64_LOCATOR.size:
        return entries
    magic, _, offset, _ = _ZIP64_LOCATOR.unpack_from(tail, at - _ZIP64_LOCATOR.size)
    if magic != b"PK\x06\x07" or offset > size - _ZIP64_EOCD.size:
        return entries
    f.seek(offset)
    record = f.read(_ZIP64_EOCD.size)
    if record[:4] != b"PK\x06\x06":
        raise FormatError(f"{path}: corrupt zip archive (bad zip64 end record)")
    return _ZIP64_EOCD.unpack(record)[7]
