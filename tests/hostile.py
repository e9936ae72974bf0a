"""Makers of small hostile files for the reliability tests (each cheap to write, each asking
a naive reader for hundreds of megabytes or for an endless read)."""

from __future__ import annotations

import gzip
import io
import json
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import torch

from squeezenet.formats.sqz_reader import CHECKSUM, FIXED_HEADER


def zip_bomb_pth(path: Path, megabytes: int = 512) -> Path:
    """A torch.save zip whose one storage is `megabytes` MB of deflated zeros: 523 KB at 512.

    torch.load allocates the storage's declared size before it reads the pickle's claim."""
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(4)}, buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    with zipfile.ZipFile(path, "w") as out:
        for info in source.infolist():
            if not info.filename.endswith("/data/0"):
                out.writestr(info, source.read(info.filename))
                continue
            entry = zipfile.ZipInfo(info.filename)
            entry.compress_type = zipfile.ZIP_DEFLATED
            with out.open(entry, "w", force_zip64=True) as f:
                zeros = bytes(1 << 20)
                for _ in range(megabytes):
                    f.write(zeros)
    return path


def gzip_bomb_idx(path: Path, megabytes: int = 800) -> Path:
    """An IDX label file declaring 1000 labels, followed by `megabytes` MB of zeros, gzipped
    as repeated gzip members (800 KB for 800 MB)."""
    header = struct.pack(">I", 0x00000801) + struct.pack(">I", 1000)
    member = gzip.compress(bytes(8 << 20), 9)
    with open(path, "wb") as f:
        f.write(gzip.compress(header + bytes(1000)))
        for _ in range(megabytes // 8):
            f.write(member)
    return path


def huge_member_cifar(path: Path, megabytes: int = 1024) -> Path:
    """A CIFAR-10 tar.gz whose test batch is `megabytes` MB of zeros (1 MB of gzip members)."""
    info = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
    info.size = megabytes << 20
    member = gzip.compress(bytes(8 << 20), 9)
    with open(path, "wb") as f:
        f.write(gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT)))
        for _ in range(megabytes // 8):
            f.write(member)
        f.write(gzip.compress(bytes(10240)))  # the tar's end blocks
    return path


def png_bomb(path: Path, width: int = 12000, height: int = 12000) -> Path:
    """A valid grayscale PNG of zeros; 12000 x 12000 (144 MP, Pillow's warning zone) is 140 KB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    deflate = zlib.compressobj(9)
    row = bytes(1 + width)
    idat = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def sparse_file(path: Path, size: int, head: bytes = b"") -> Path:
    """A file of `size` bytes that takes no disk space, starting with `head`."""
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def rebuild_sqz(data: bytes, edit) -> bytes:
    """`.sqz` bytes with `edit(header_dict)` applied, re-framed with a valid checksum."""
    _, version, flags, header_len, _ = FIXED_HEADER.unpack_from(data)
    start = FIXED_HEADER.size
    header = json.loads(zlib.decompress(data[start : start + header_len]))
    edit(header)
    raw = json.dumps(header).encode()
    packed = zlib.compress(raw)
    body = FIXED_HEADER.pack(data[:8], version, flags, len(packed), len(raw)) + packed
    body += data[start + header_len : -CHECKSUM.size]
    return body + CHECKSUM.pack(zlib.crc32(body))
