"""Image decoding: the single place that turns an image file into pixels.

Training (ImageFolder), ``predict`` and benchmarks all go through :func:`load_image`,
so every path sees the same orientation, colour conversion and error handling.

Decisions worth knowing:
- The image is fully decoded inside :func:`load_image` (``Image.open`` is lazy), so a
  truncated file fails here with its path rather than later inside a DataLoader worker.
  We never enable ``ImageFile.LOAD_TRUNCATED_IMAGES``: silently grey-padded training
  images are worse than a clear error.
- EXIF orientation is applied, because phone photos store pixels sideways.
- Transparent pixels are composited on white: most transparent images (logos, product
  shots) are drawn for a white page, and dropping alpha would expose whatever colour
  happens to be stored under it (often black).
- 16-bit and 32-bit images are rescaled to 8 bits by their range, not clipped.
"""

from __future__ import annotations

import os
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from squeezenet.data.errors import BadImageError
from squeezenet.data.image_limits import check_pixels, max_image_pixels, open_image

__all__ = [
    "center_crop",
    "image_to_tensor",
    "load_image",
    "resize_center_crop",
    "resize_shorter_side",
]

_INT16_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I;16S")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def load_image(
    source: str | os.PathLike[str] | BinaryIO,
    mode: str = "RGB",
    *,
    min_size: int | None = None,
    max_pixels: int | None = None,
) -> Image.Image:
    """Decode an image file into an 8-bit RGB or L image, upright and without alpha.

    Args:
        source: Path or binary file object.
        mode: ``"RGB"`` or ``"L"`` (grayscale).
        min_size: If given, JPEGs may be decoded at 1/2, 1/4 or 1/8 scale (much faster)
            as long as both sides stay at least ``min_size`` pixels. Other formats ignore it.
        max_pixels: Refuse images with more pixels (decompression bombs) before decoding
            them; default ``$SQUEEZENET_MAX_IMAGE_PIXELS``, else Pillow's warning threshold
            (89,478,485). See :mod:`squeezenet.data.image_limits`.

    Returns:
        A fully loaded PIL image in ``mode``.

    Raises:
        ImageBombError: If the image has more pixels than the cap (a `BadImageError`).
        BadImageError: If the file is missing, not an image, truncated or corrupt.
        ValueError: If ``mode`` is not RGB or L, or the pixel cap is not a positive integer.
    """
    if mode not in ("RGB", "L"):
        raise ValueError(f"load_image mode must be 'RGB' or 'L', got {mode!r}")
    name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else _stream_name(source)
    cap = max_image_pixels(max_pixels)
    try:
        with open_image(source, name, cap) as img:
            if min_size is not None:
                # draft() only ever picks a scale whose result is >= the requested size;
                # asking for a square keeps that true whatever the EXIF rotation.
                img.draft(mode if img.mode == "RGB" else None, (min_size, min_size))
            img.load()
            check_pixels(img, name, cap)
            _apply_exif_orientation(img)
            return _convert(img, mode)
    except (MemoryError, BadImageError):
        raise
    except Exception as exc:
        raise BadImageError(f"cannot decode image {name}: {_reason(exc)}") from exc


def _apply_exif_orientation(img: Image.Image) -> None:
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception:
        # A malformed EXIF block does not make the pixels wrong; keep them as stored
        # rather than rejecting an otherwise good photo.
        pass


def _stream_name(stream: BinaryIO) -> str:
    return str(getattr(stream, "name", "<stream>"))


def _reason(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image file, or a format Pillow cannot read"
    text = str(exc) or type(exc).__name__
    if "truncated" in text:
        return f"{text}; the file is incomplete (interrupted download or copy?)"
    return text


def _convert(img: Image.Image, mode: str) -> Image.Image:
    """Convert any Pillow mode to 8-bit ``mode`` (RGB or L)."""
    # P, L and RGB PNGs can mark one colour/index transparent (tRNS) instead of alpha.
    keyed = img.mode in ("P", "L", "RGB") and "transparency" in img.info
    if img.mode in _ALPHA_MODES or keyed:
        flat = _composite_on_white(img)
    elif img.mode in ("1", "L", "RGB"):
        flat = img
    elif img.mode in _INT16_MODES or img.mode == "I":
        flat = _int_to_l(img)
    elif img.mode == "F":
        flat = _float_to_l(img)
    else:  # P, CMYK, YCbCr, LAB, HSV, RGBX, ...
        flat = img.convert("RGB")
    return flat if flat.mode == mode else flat.convert(mode)


def _composite_on_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    out = Image.alpha_composite(white, rgba).convert("RGB")
    return out.convert("L") if img.mode in ("L", "LA", "La") else out


def _int_to_l(img: Image.Image) -> Image.Image:
    array = np.asarray(img).astype(np.int64)
    if array.size and (array.min() < 0 or array.max() > 65535):
        return _stretch_to_l(array.astype(np.float64))
    # 16-bit full range 0..65535 -> 0..255 with rounding (65535 maps to 255, 257 to 1).
    return Image.fromarray(((array * 255 + 32767) // 65535).astype(np.uint8), mode="L")


def _float_to_l(img: Image.Image) -> Image.Image:
    array = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if array.size and array.min() >= 0.0 and array.max() <= 1.0:
        # Float images conventionally hold intensities in [0, 1].
        return Image.fromarray(np.rint(array * 255).astype(np.uint8), mode="L")
    return _stretch_to_l(array)


def _stretch_to_l(array: np.ndarray) -> Image.Image:
    """Map the image's own min..max to 0..255 when its range has no standard meaning."""
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    scale = 255.0 / (high - low) if high > low else 0.0
    return Image.fromarray(np.rint((array - low) * scale).astype(np.uint8), mode="L")


def resize_shorter_side(img: Image.Image, size: int) -> Image.Image:
    """Resize so the shorter side is ``size``, keeping the aspect ratio (bilinear, antialiased)."""
    width, height = img.size
    if min(width, height) == size:
        return img
    if width <= height:
        new = (size, max(1, round(height * size / width)))
    else:
        new = (max(1, round(width * size / height)), size)
    # Pillow's resize widens the filter when shrinking, i.e. it antialiases.
    return img.resize(new, Image.Resampling.BILINEAR)


def center_crop(img: Image.Image, size: int) -> Image.Image:
    """Crop the central ``size`` x ``size`` square (the image must be at least that big)."""
    width, height = img.size
    if width < size or height < size:
        raise ValueError(f"cannot center-crop {size}x{size} from a {width}x{height} image")
    left = int(round((width - size) / 2.0))
    top = int(round((height - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


def resize_center_crop(
    img: Image.Image, size: int, resize_size: int | None = None, resize_mode: str = "shorter"
) -> Image.Image:
    """Resize to ``resize_size`` (default ``size``), then center-crop ``size``.

    ``resize_mode`` "shorter" resizes the shorter side and keeps the aspect ratio (the
    ImageNet evaluation convention, ``resize_size = size * 256 / 224``); "warp" resizes both
    sides to ``resize_size`` (Caffe's convention: 256 x 256, then a 227 crop).
    """
    resize_size = size if resize_size is None else resize_size
    if resize_size < size:
        raise ValueError(f"resize_size {resize_size} must be >= crop size {size}")
    if resize_mode == "warp":
        if img.size != (resize_size, resize_size):
            img = img.resize((resize_size, resize_size), Image.Resampling.BILINEAR)
        return center_crop(img, size)
    if resize_mode != "shorter":
        raise ValueError(f"resize_mode must be 'shorter' or 'warp', got {resize_mode!r}")
    return center_crop(resize_shorter_side(img, resize_size), size)


def image_to_tensor(img: Image.Image) -> torch.Tensor:
    """Return a uint8 (C, H, W) tensor of an L or RGB image (no scaling)."""
    array = np.asarray(img, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()
