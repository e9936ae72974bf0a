"""The one preprocessing implementation: defaults, images of any mode, dataset batches,
Caffe's warp/BGR/0..255, and the same numbers for a PIL image and a uint8 batch."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from PIL import Image

from squeezenet import create_model
from squeezenet.data.dataset import resize_images
from squeezenet.data.images import image_to_tensor
from squeezenet.data.preprocess import (
    input_normalizer,
    load_model_input,
    resize_to_input,
    to_model_input,
)
from squeezenet.formats.common import CAFFE_PREPROCESSING
from squeezenet.meta import IMAGENET_MEAN, Preprocessing, preprocessing_for

from .conftest import gradient_image, tiny_model

# The Caffe releases' preprocessing, scaled down to the tiny test images.
CAFFE = replace(CAFFE_PREPROCESSING, input_size=6, resize_size=8)


def test_defaults_for_an_untrained_model() -> None:
    pre = preprocessing_for(create_model("squeezenet1_1"))
    assert pre.input_size == 224 and pre.mean == IMAGENET_MEAN and pre.image_mode == "RGB"
    gray = preprocessing_for(create_model("squeezenet1_1", in_channels=1))
    assert gray.in_channels == 1 and gray.image_mode == "L" and gray.mean == (0.5,)


def test_image_of_any_mode_becomes_the_model_input() -> None:
    pre = preprocessing_for(tiny_model(3, input_size=24))
    img = gradient_image(40, 30)
    for mode in ("RGB", "L", "CMYK", "RGBA"):
        x = to_model_input(img.convert(mode), pre)
        assert x.shape == (3, 24, 24) and x.dtype == torch.float32
    gray = preprocessing_for(tiny_model(1, input_size=24))
    assert to_model_input(img, gray).shape == (1, 24, 24)


def test_normalisation_uses_the_stored_statistics() -> None:
    pre = Preprocessing(input_size=4, mean=(0.5,), std=(0.25,), in_channels=1)
    x = to_model_input(Image.new("L", (4, 4), 255), pre)
    assert torch.allclose(x, torch.full((1, 4, 4), 2.0))  # (1 - 0.5) / 0.25


def test_dataset_batch_resizes_like_the_trainer() -> None:
    pre = Preprocessing(input_size=32, mean=(0.286,), std=(0.353,), in_channels=1)
    images = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    expected = (resize_images(images, 32).float() / 255 - 0.286) / 0.353
    assert torch.allclose(to_model_input(images, pre), expected, atol=1e-5)
    with pytest.raises(ValueError, match="expected images"):
        to_model_input(torch.zeros(1, 3, 28, 28, dtype=torch.uint8), pre)


def test_caffe_preprocessing_is_bgr_at_0_255_minus_the_mean() -> None:
    img = Image.new("RGB", (8, 8), (10, 20, 30))
    x = to_model_input(img, CAFFE)
    assert x.shape == (3, 6, 6)
    # Channel 0 is blue: 30 - 104; channel 2 is red: 10 - 123. No division (std 1).
    expected = torch.tensor([30 - 104, 20 - 117, 10 - 123], dtype=torch.float32)
    assert torch.allclose(x[:, 0, 0], expected, atol=1e-4)


def test_warp_ignores_the_aspect_ratio_and_shorter_keeps_it() -> None:
    """A 16x8 image, left half red, right half blue: warped to 8x8 then cropped to 6, both
    colours stay; resized by its shorter side to 8 (16x8) then cropped, only the centre."""
    img = Image.new("RGB", (16, 8), (255, 0, 0))
    img.paste((0, 0, 255), (8, 0, 16, 8))
    warp = Preprocessing(
        input_size=6, resize_size=8, resize_mode="warp", mean=(0,) * 3, std=(1,) * 3
    )
    x = to_model_input(img, warp)  # RGB, 0..1
    assert x[0, 3, 0] > 0.9 and x[2, 3, 5] > 0.9  # red on the left, blue on the right
    shorter = Preprocessing(input_size=6, resize_size=8, mean=(0,) * 3, std=(1,) * 3)
    y = to_model_input(img, shorter)  # the crop is x = 5..11 of 16: half red, half blue
    assert y[0, 3, 0] > 0.9 and y[2, 3, 5] > 0.9
    assert not torch.allclose(x, y)


def test_pil_image_and_uint8_batch_take_the_same_path(tmp_path) -> None:
    """A decoded file and the same pixels as a dataset batch become the same input (at the
    resize size, where the two resamplers, Pillow's and torch's, have nothing to do)."""
    for pre in (CAFFE, preprocessing_for(tiny_model(3, input_size=6))):
        side = pre.resize_size or pre.input_size
        img = gradient_image(side, side)
        img.save(tmp_path / "a.png")
        from_file = load_model_input(tmp_path / "a.png", pre)
        assert torch.allclose(to_model_input(img, pre), from_file)
        batch = image_to_tensor(img)[None]
        assert torch.allclose(to_model_input(batch, pre)[0], from_file, atol=1e-4)


def test_the_two_stages_compose_to_the_whole() -> None:
    images = torch.randint(0, 256, (2, 3, 10, 10), dtype=torch.uint8)
    whole = to_model_input(images, CAFFE)
    staged = input_normalizer(CAFFE)(resize_to_input(images, CAFFE))
    assert torch.equal(whole, staged) and whole.shape == (2, 3, 6, 6)
    # Already at the input size: taken as resized (datasets are decoded at the model's size).
    at_size = torch.randint(0, 256, (2, 3, 6, 6), dtype=torch.uint8)
    assert resize_to_input(at_size, CAFFE) is at_size
