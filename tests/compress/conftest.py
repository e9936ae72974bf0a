"""Tiny models and datasets for the compression tests (no real data, no network)."""

from __future__ import annotations

import pytest
import torch

from squeezenet import create_model
from squeezenet.data import InMemoryDataset

CLASSES = [f"c{i}" for i in range(10)]


def tiny_dataset(
    n: int, *, classes: list[str] = CLASSES, channels: int = 3, size: int = 16, seed: int = 0
) -> InMemoryDataset:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, len(classes), (n,), generator=g)
    return InMemoryDataset(images, labels, list(classes), "tiny")


# A 94k-parameter point of the paper's design space on 1.1's layout: every layer kind of
# SqueezeNet, fast enough for property tests on a shared 2-core machine.
SMALL = {"base_e": 32, "incr_e": 32, "sr": 0.25, "layout": "squeezenet1_1"}


def tiny_model(name: str = "squeezenet_design", **kwargs):
    kwargs = {
        "num_classes": 10,
        "small_input": True,
        **(SMALL if name == "squeezenet_design" else {}),
        **kwargs,
    }
    model = create_model(name, **kwargs).eval()
    model.meta = {
        "class_names": list(CLASSES),
        "mean": [0.5] * model.config.in_channels,
        "std": [0.25] * model.config.in_channels,
        "input_size": 16,
    }
    return model


@pytest.fixture
def model():
    return tiny_model()


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(2, 3, 16, 16)
