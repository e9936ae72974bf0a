"""`make demo`'s job, end to end on a tiny Fashion-MNIST-format dataset (one epoch)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from squeezenet import demo


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_demo_runs_every_step(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", 256), ("t10k", 64)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 40, size=(n, 28, 28))
        for i, label in enumerate(labels):
            images[i, 2 * label : 2 * label + 4, :] = 220
        write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", images, 0x803)
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", labels, 0x801)
    out = tmp_path / "run"
    demo.main(["--out", str(out), "--epochs", "1", "--data-dir", str(tmp_path)])
    text = capsys.readouterr().out
    for name in ("model.sqz", "model.onnx", "model.int8.onnx", "compression.json",
                 "weights/best.safetensors", "curves.png", "confusion.png"):  # fmt: skip
        assert (out / name).is_file(), name
    for label in ("test top-1 (fp32)", ".sqz size", ".sqz test top-1", "ONNX INT8 test top-1",
                  "latency batch 1, onnxruntime-int8", "wall time"):  # fmt: skip
        assert label in text, label
