"""Fixtures that write tiny datasets (IDX, CIFAR binary, image folders) into tmp_path."""

from __future__ import annotations

import gzip
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import squeezenet.data.download as download_module


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the user cache into tmp_path and make any real network access fail loudly."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SQUEEZENET_DATA", str(cache))

    def no_network(url: str, *args: object, **kwargs: object) -> None:
        raise AssertionError(f"test tried to open {url}; tests must not use the network")

    monkeypatch.setattr(download_module, "_urlopen", no_network)
    return cache


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """Encode a uint8 array as an IDX file (magic derived from ndim unless given)."""
    magic = (0x0800 | array.ndim) if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array).tobytes()


@pytest.fixture
def write_idx() -> Callable[..., Path]:
    """Return ``write(path, array, gz=False, magic=None) -> path``."""

    def write(path: Path, array: np.ndarray, gz: bool = False, magic: int | None = None) -> Path:
        data = idx_bytes(array, magic)
        path.write_bytes(gzip.compress(data) if gz else data)
        return path

    return write


@pytest.fixture
def fake_mnist(write_idx: Callable[..., Path]) -> Callable[..., dict[str, np.ndarray]]:
    """Return ``make(folder, gz=True)`` writing 5 train + 3 test samples; returns arrays."""

    def make(folder: Path, gz: bool = True) -> dict[str, np.ndarray]:
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        arrays = {
            "train-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
            "train-labels-idx1-ubyte": np.array([0, 1, 2, 9, 4], dtype=np.uint8),
            "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
            "t10k-labels-idx1-ubyte": np.array([7, 8, 9], dtype=np.uint8),
        }
        for stem, array in arrays.items():
            write_idx(folder / (f"{stem}.gz" if gz else stem), array, gz=gz)
        return arrays

    return make


def _cifar_records(labels: list[int], seed: int = 0) -> tuple[bytes, np.ndarray]:
    """Return CIFAR binary records and the (N, 3, 32, 32) pixels they hold."""
    pixels = np.random.default_rng(seed).integers(0, 256, (len(labels), 3, 32, 32), dtype=np.uint8)
    rows = [bytes([label]) + pixels[i].tobytes() for i, label in enumerate(labels)]
    return b"".join(rows), pixels


@pytest.fixture
def cifar_records() -> Callable[..., tuple[bytes, np.ndarray]]:
    """Return ``records(labels, seed=0) -> (bytes, pixels (N, 3, 32, 32))``."""
    return _cifar_records


@pytest.fixture
def fake_cifar(tmp_path: Path) -> Path:
    """Write an extracted ``cifar-10-batches-bin`` folder: 5x2 train records, 3 test records."""
    folder = tmp_path / "cifar" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        data, _ = _cifar_records([i - 1, 9 - i], seed=i)
        (folder / f"data_batch_{i}.bin").write_bytes(data)
    data, _ = _cifar_records([3, 0, 9], seed=100)
    (folder / "test_batch.bin").write_bytes(data)
    names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n"
    (folder / "batches.meta.txt").write_text(names)
    return folder


@pytest.fixture
def tar_gz() -> Callable[[Path, Path], Path]:
    """Return ``pack(folder, archive)``: a .tar.gz holding ``folder`` under its own name."""

    def pack(folder: Path, archive: Path) -> Path:
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(folder, arcname=folder.name)
        return archive

    return pack


@pytest.fixture
def save_image() -> Callable[..., Path]:
    """Return ``save(path, image, **pil_save_kwargs) -> path`` (creates parent folders)."""

    def save(path: Path, image: Image.Image, **kwargs: object) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, **kwargs)
        return path

    return save
