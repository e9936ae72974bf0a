"""Tiny Fashion-MNIST-format data (IDX files) that training tests can run on in seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..helpers import write_tiny_fashion


@pytest.fixture()
def tiny_fashion(tmp_path: Path) -> Path:
    """64 train and 40 test images in the four Fashion-MNIST files."""
    return write_tiny_fashion(tmp_path / "fmnist", 64, 40)
