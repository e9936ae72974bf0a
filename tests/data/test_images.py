"""load_image: every Pillow mode, EXIF orientation, alpha on white, 16-bit scaling, errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from squeezenet.data import (
    BadImageError,
    DatasetError,
    center_crop,
    image_to_tensor,
    load_image,
    resize_center_crop,
    resize_shorter_side,
)


def _pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img).astype(int)


def test_rgb_png_is_exact(tmp_path, save_image):
    array = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    img = load_image(save_image(tmp_path / "a.png", Image.fromarray(array)))
    assert img.mode == "RGB" and img.size == (7, 5)
    assert np.array_equal(np.asarray(img), array)


def test_file_object_and_grayscale_output(tmp_path, save_image):
    path = save_image(tmp_path / "a.png", Image.new("RGB", (4, 4), (255, 0, 0)))
    with open(path, "rb") as f:
        gray = load_image(f, "L")
    assert gray.mode == "L" and _pixels(gray)[0, 0] == 76  # ITU-R 601 luma of pure red


def test_gray_becomes_three_equal_channels(tmp_path, save_image):
    path = save_image(tmp_path / "g.png", Image.fromarray(np.array([[0, 100, 255]], np.uint8)))
    rgb = _pixels(load_image(path))
    assert rgb.shape == (1, 3, 3) and rgb[..., 0].tolist() == [[0, 100, 255]]
    assert (rgb[..., 0] == rgb[..., 2]).all()
    assert _pixels(load_image(path, "L")).tolist() == [[0, 100, 255]]


def test_rgba_composites_on_white(tmp_path, save_image):
    rgba = np.array([[[0, 0, 0, 0], [255, 0, 0, 255], [0, 0, 0, 128]]], np.uint8)
    rgb = _pixels(load_image(save_image(tmp_path / "a.png", Image.fromarray(rgba, "RGBA"))))
    assert rgb[0, 0].tolist() == [255, 255, 255]  # fully transparent black -> white, not black
    assert rgb[0, 1].tolist() == [255, 0, 0]
    assert all(abs(v - 127) <= 1 for v in rgb[0, 2])  # half-transparent black -> mid grey


def test_la_composites_on_white(tmp_path, save_image):
    la = Image.fromarray(np.array([[[0, 0], [0, 255]]], np.uint8), "LA")
    path = save_image(tmp_path / "la.png", la)
    assert _pixels(load_image(path, "L")).tolist() == [[255, 0]]
    assert _pixels(load_image(path))[0, 0].tolist() == [255, 255, 255]


def test_palette_with_transparency(tmp_path, save_image):
    img = Image.new("P", (2, 1))
    img.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    path = save_image(tmp_path / "p.png", img, transparency=0)
    rgb = _pixels(load_image(path))
    assert rgb[0, 0].tolist() == [255, 255, 255] and rgb[0, 1].tolist() == [0, 255, 0]


@pytest.mark.parametrize(("mode", "key"), [("L", 0), ("RGB", (0, 0, 0))])
def test_colour_keyed_transparency(tmp_path, save_image, mode, key):
    img = Image.new(mode, (2, 1), key)
    img.putpixel((1, 0), 90 if mode == "L" else (90, 90, 90))
    path = save_image(tmp_path / "k.png", img, transparency=key)
    assert _pixels(load_image(path, "L")).tolist() == [[255, 90]]


def test_palette_without_transparency(tmp_path, save_image):
    img = Image.new("P", (1, 1))
    img.putpalette([10, 20, 30] + [0] * 765)
    path = save_image(tmp_path / "p.gif", img)
    assert _pixels(load_image(path))[0, 0].tolist() == [10, 20, 30]


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk(tmp_path, save_image, fmt):
    path = save_image(tmp_path / f"c.{fmt.lower()}", Image.new("CMYK", (8, 8), (0, 255, 255, 0)))
    pixel = _pixels(load_image(path))[4, 4]
    assert pixel[0] > 240 and pixel[1] < 15 and pixel[2] < 15  # cyan 0, magenta+yellow -> red


def test_16bit_png_scales_not_clips(tmp_path, save_image):
    values = np.array([[0, 257 * 100, 65535, 128]], np.uint16)
    path = save_image(tmp_path / "16.png", Image.fromarray(values))
    assert Image.open(path).mode == "I;16"
    assert _pixels(load_image(path, "L")).tolist() == [[0, 100, 255, 0]]
    assert _pixels(load_image(path))[0, 1].tolist() == [100, 100, 100]


def test_32bit_int_within_16bit_range_scales_as_16bit(tmp_path, save_image):
    path = save_image(tmp_path / "i.tiff", Image.fromarray(np.array([[0, 25700, 65535]], np.int32)))
    assert Image.open(path).mode == "I"
    assert _pixels(load_image(path, "L")).tolist() == [[0, 100, 255]]


def test_32bit_int_beyond_16bit_is_stretched(tmp_path, save_image):
    values = np.array([[-1000, 69000, 139000]], np.int32)
    path = save_image(tmp_path / "i.tiff", Image.fromarray(values))
    assert _pixels(load_image(path, "L")).tolist() == [[0, 128, 255]]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.0, 0.5, 1.0], [0, 128, 255]),
        ([-2.0, 0.0, 2.0], [0, 128, 255]),
        ([np.nan, 1.0, 0.0], [0, 255, 0]),
    ],
)
def test_float_images(tmp_path, save_image, values, expected):
    path = save_image(tmp_path / "f.tiff", Image.fromarray(np.array([values], np.float32)))
    assert Image.open(path).mode == "F"
    assert _pixels(load_image(path, "L")).tolist() == [expected]


def test_bilevel(tmp_path, save_image):
    img = Image.new("1", (2, 1))
    img.putpixel((1, 0), 1)
    rgb = _pixels(load_image(save_image(tmp_path / "b.png", img)))
    assert rgb[0].tolist() == [[0, 0, 0], [255, 255, 255]]


def test_exif_orientation_really_rotates(tmp_path, save_image):
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 20, 20))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    out = load_image(save_image(tmp_path / "r.jpg", img, exif=exif, quality=95))
    assert out.size == (20, 40)  # width and height swapped
    top, bottom = _pixels(out)[5, 10], _pixels(out)[35, 10]
    assert top[0] > 200 and top[2] < 50  # the left (red) half is now on top
    assert bottom[2] > 200 and bottom[0] < 50


def test_draft_decodes_large_jpeg_smaller_but_big_enough(tmp_path, save_image):
    path = save_image(tmp_path / "big.jpg", Image.new("RGB", (800, 600), (10, 200, 30)))
    img = load_image(path, min_size=100)
    assert min(img.size) >= 100 and img.size[0] < 800
    assert load_image(path).size == (800, 600)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file(tmp_path, fmt):
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format=fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(BadImageError, match=rf"cut\.{fmt.lower()}: .*truncated"):
        load_image(path)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a jpeg")
    with pytest.raises(BadImageError, match=r"notes\.jpg: not an image file"):
        load_image(path)


def test_missing_file_and_error_hierarchy(tmp_path):
    with pytest.raises(BadImageError, match="nope.png: no such file") as info:
        load_image(tmp_path / "nope.png")
    assert isinstance(info.value, DatasetError) and isinstance(info.value, ValueError)


def test_bad_mode_argument(tmp_path):
    with pytest.raises(ValueError, match="'RGB' or 'L'"):
        load_image(tmp_path / "x.png", "RGBA")


def test_resize_and_crop_helpers():
    img = Image.new("RGB", (40, 20))
    assert resize_shorter_side(img, 10).size == (20, 10)
    assert resize_shorter_side(Image.new("RGB", (20, 40)), 10).size == (10, 20)
    assert center_crop(img, 20).size == (20, 20)
    assert resize_center_crop(img, 8, resize_size=10).size == (8, 8)
    with pytest.raises(ValueError, match="resize_size 6 must be >= crop size 8"):
        resize_center_crop(img, 8, resize_size=6)
    with pytest.raises(ValueError, match="30x30 from a 40x20"):
        center_crop(img, 30)


def test_center_crop_takes_the_middle():
    array = np.zeros((4, 6), np.uint8)
    array[1:3, 2:4] = 255
    assert np.asarray(center_crop(Image.fromarray(array), 2)).min() == 255


def test_image_to_tensor():
    t = image_to_tensor(Image.fromarray(np.arange(24, dtype=np.uint8).reshape(2, 4, 3)))
    assert t.shape == (3, 2, 4) and t.dtype == torch.uint8 and t[1, 0, 0] == 1
    assert image_to_tensor(Image.new("L", (3, 2), 7)).shape == (1, 2, 3)
