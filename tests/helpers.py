"""Helpers shared by tests: run the CLI in-process, write small IDX datasets."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from squeezenet.cli import main


def run_cli(capsys, *args: object) -> tuple[int, str, str]:
    """Run `squeezenet ARGS...` in this process; returns (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    """Write `array` as a gzipped IDX file (0x803 images, 0x801 labels)."""
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_tiny_fashion(root: Path, n_train: int, n_test: int) -> Path:
    """A learnable 10-class 28x28 dataset in the four Fashion-MNIST files under `root`."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 40, size=(n, 28, 28))
        for i, label in enumerate(labels):  # a class-specific bright band makes it learnable
            images[i, 2 * label : 2 * label + 4, :] = 220
        write_idx(root / f"{split}-images-idx3-ubyte.gz", images, 0x803)
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", labels, 0x801)
    return root
