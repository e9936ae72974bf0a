"""Small models and generated image files for the inference tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image

from squeezenet import create_model, save_model
from squeezenet.models import SqueezeNet

CLASS_NAMES = ["zero", "one", "two", "three", "four"]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Single-threaded PyTorch: on a shared machine its thread barriers can stall for
    milliseconds, and these tests check results, not speed."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def tiny_model(in_channels: int = 3, input_size: int = 24) -> SqueezeNet:
    """A 5-class small-input SqueezeNet 1.1 with trained-model style meta."""
    net = create_model("squeezenet1_1", num_classes=5, in_channels=in_channels, small_input=True)
    net.meta = {
        "class_names": list(CLASS_NAMES),
        "mean": [0.5] * in_channels,
        "std": [0.25] * in_channels,
        "input_size": input_size,
        "in_channels": in_channels,
    }
    return net.eval()


@pytest.fixture
def rgb_model() -> SqueezeNet:
    return tiny_model(3)


@pytest.fixture
def weights_file(tmp_path: Path, rgb_model: SqueezeNet) -> Path:
    return save_model(rgb_model, tmp_path / "tiny.safetensors")


def gradient_image(width: int, height: int) -> Image.Image:
    """An asymmetric RGB picture, so that a rotation changes what the model sees."""
    img = Image.new("RGB", (width, height))
    img.putdata(
        [
            ((x * 255) // width, (y * 255) // height, ((x + 2 * y) * 7) % 256)
            for y in range(height)
            for x in range(width)
        ]
    )
    return img


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    """One file per case predict must handle: good formats and modes, and broken files."""
    folder = tmp_path / "images"
    folder.mkdir()
    base = gradient_image(40, 30)
    base.save(folder / "a_rgb.png")
    base.save(folder / "b_photo.jpg", quality=95)
    base.convert("L").save(folder / "c_gray.png")
    rgba = base.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(folder / "d_rgba.png")
    base.convert("CMYK").save(folder / "e_cmyk.jpg")
    # Stored sideways with EXIF orientation 6 ("rotate 90 clockwise to display").
    exif = Image.Exif()
    exif[0x0112] = 6
    base.rotate(90, expand=True).save(folder / "f_exif.jpg", exif=exif, quality=95)
    data = (folder / "b_photo.jpg").read_bytes()
    (folder / "g_truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "h_not_an_image.png").write_text("hello")
    return folder
