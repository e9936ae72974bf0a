"""A tiny trained-looking model and image files for the explanation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from squeezenet import SqueezeNet, create_model
from squeezenet.meta import ModelMeta, Preprocessing

CLASSES = ("cat", "dog", "bird")


@pytest.fixture
def tiny_model() -> SqueezeNet:
    """SqueezeNet 1.1 for 1x32x32 images, 3 named classes, logits without the head's ReLU
    (as the demo recipe trains them).

    conv10 is scaled up: a fresh model's N(0, 0.01) conv10 gives near-uniform probabilities,
    and the class visualisation and fooling tests need a model whose outputs respond.
    """
    return _tiny(classifier_relu=False)


@pytest.fixture
def relu_head_model() -> SqueezeNet:
    """The same with the paper's (and torchvision's) ReLU on the logits."""
    return _tiny(classifier_relu=True)


def _tiny(classifier_relu: bool) -> SqueezeNet:
    torch.manual_seed(0)
    model = create_model(
        "squeezenet1_1",
        num_classes=3,
        in_channels=1,
        small_input=True,
        classifier_relu=classifier_relu,
    )
    with torch.no_grad():
        model.classifier[1].weight.mul_(30)
    pre = Preprocessing(input_size=32, mean=(0.5,), std=(0.5,), in_channels=1)
    model.meta = ModelMeta(class_names=CLASSES, preprocessing=pre)
    return model.eval()


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    """A 40x36 RGB PNG (the model reads it as grayscale, resized and cropped to 32)."""
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)
    pixels[8:20, 10:24] = 255  # a bright patch for the model to look at
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path)
    return path
