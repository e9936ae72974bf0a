"""Tiny Fashion-MNIST-format data (IDX files) that training tests can run on in seconds."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture()
def tiny_fashion(tmp_path: Path) -> Path:
    """A learnable 10-class, 28x28 dataset in the four Fashion-MNIST files (64 train, 40 test)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "fmnist"
    root.mkdir()
    for split, n in (("train", 64), ("t10k", 40)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 40, size=(n, 28, 28))
        for i, label in enumerate(labels):  # a class-specific bright band makes it learnable
            images[i, 2 * label : 2 * label + 4, :] = 220
        write_idx(root / f"{split}-images-idx3-ubyte.gz", images, 0x803)
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", labels, 0x801)
    return root
