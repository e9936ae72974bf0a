"""Preprocessing: defaults, metadata round trip, images of any mode, dataset batches."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from squeezenet import create_model
from squeezenet.data.dataset import resize_images
from squeezenet.inference import Preprocess
from squeezenet.inference.preprocess import IMAGENET_MEAN

from .conftest import gradient_image, tiny_model


def test_defaults_for_an_untrained_model() -> None:
    pre = Preprocess.from_model(create_model("squeezenet1_1"))
    assert pre.input_size == 224 and pre.mean == IMAGENET_MEAN and pre.image_mode == "RGB"
    gray = Preprocess.from_model(create_model("squeezenet1_1", in_channels=1))
    assert gray.in_channels == 1 and gray.image_mode == "L" and len(gray.mean) == 1


def test_meta_round_trip_and_resize_ratio() -> None:
    pre = Preprocess.from_meta({"input_size": 224, "resize_size": 256, "mean": [0.4] * 3,
                                "std": [0.2] * 3})  # fmt: skip
    assert Preprocess.from_meta(pre.to_meta()) == pre
    # Serving at another size keeps the resize/crop ratio.
    assert Preprocess.from_meta(pre.to_meta(), input_size=112).resize_size == 128


@pytest.mark.parametrize(
    "meta, message",
    [({"input_size": 0}, "input_size"), ({"mean": [0.5, 0.5], "std": [0.2, 0.2]}, "mean"),
     ({"mean": [0.5], "std": [0.0]}, "std"),
     ({"input_size": 32, "resize_size": 16}, "resize_size")],
)  # fmt: skip
def test_invalid_meta_is_rejected(meta: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Preprocess.from_meta(meta)


def test_image_of_any_mode_becomes_the_model_input() -> None:
    pre = Preprocess.from_model(tiny_model(3, input_size=24))
    img = gradient_image(40, 30)
    for mode in ("RGB", "L", "CMYK", "RGBA"):
        x = pre.image(img.convert(mode))
        assert x.shape == (3, 24, 24) and x.dtype == torch.float32
    gray = Preprocess.from_model(tiny_model(1, input_size=24))
    assert gray.image(img).shape == (1, 24, 24)


def test_normalisation_uses_meta_statistics() -> None:
    pre = Preprocess(input_size=4, mean=(0.5,), std=(0.25,), in_channels=1)
    x = pre.image(Image.new("L", (4, 4), 255))
    assert torch.allclose(x, torch.full((1, 4, 4), 2.0))  # (1 - 0.5) / 0.25


def test_dataset_batch_resizes_like_the_trainer() -> None:
    pre = Preprocess(input_size=32, mean=(0.286,), std=(0.353,), in_channels=1)
    images = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    expected = (resize_images(images, 32).float() / 255 - 0.286) / 0.353
    assert torch.allclose(pre.batch(images), expected, atol=1e-5)
    with pytest.raises(ValueError, match="expected images"):
        pre.batch(torch.zeros(1, 3, 28, 28, dtype=torch.uint8))
