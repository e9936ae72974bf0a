"""Decompression bombs: an image over a pixel cap is refused before its pixels are decoded.

A 140 KB PNG can declare 140 megapixels and cost about 1 GB once decoded. Pillow warns from
`Image.MAX_IMAGE_PIXELS` (89.5 MP) and refuses only from twice that, so its warning zone would
be accepted. We refuse everything over one cap instead: `max_pixels` where given, else
``$SQUEEZENET_MAX_IMAGE_PIXELS``, else `DEFAULT_MAX_PIXELS` (Pillow's own warning threshold).

Pillow only reads its limit from module globals, so `open_image` sets them around
`Image.open` (the header parse, where Pillow checks the size) and puts them back: the limit,
and a warnings filter that makes `DecompressionBombWarning` an error. A lock keeps threads
decoding in parallel (the predictor's pool) from interleaving those save/restore pairs; the
decoding itself runs outside it.
"""

from __future__ import annotations

import os
import re
import stat
import threading
import warnings
from typing import BinaryIO

from PIL import Image

from squeezenet.data.errors import BadImageError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ENV_MAX_PIXELS",
    "ImageBombError",
    "check_pixels",
    "max_image_pixels",
    "open_image",
]

# Pillow's default MAX_IMAGE_PIXELS, where its warning zone starts: a 9459 x 9459 image.
DEFAULT_MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3
ENV_MAX_PIXELS = "SQUEEZENET_MAX_IMAGE_PIXELS"
_PILLOW_STATE = threading.Lock()
_PIXELS_IN_MESSAGE = re.compile(r"\((\d+) pixels\)")


class ImageBombError(BadImageError):
    """An image whose declared size is over the pixel cap (a decompression bomb, or just huge)."""


def max_image_pixels(max_pixels: int | None = None) -> int:
    """The pixel cap in force: `max_pixels`, else the environment's, else the default.

    Raises:
        ValueError: the value is not a positive integer.
    """
    if max_pixels is None:
        text = os.environ.get(ENV_MAX_PIXELS, "").strip().replace("_", "")
        if not text:
            return DEFAULT_MAX_PIXELS
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"{ENV_MAX_PIXELS} must be a positive integer, got {text!r}")
        return int(text)
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    return max_pixels


def bomb_error(
    name: str, cap: int, pixels: int | None, size: tuple[int, int] | None = None
) -> ImageBombError:
    """The one-line refusal, with the image's size where known and the cap."""
    if size is not None:
        what = f"{size[0]} x {size[1]} = {size[0] * size[1]:,} pixels"
    elif pixels is not None:
        what = f"{pixels:,} pixels"
    else:
        what = "too many pixels"
    return ImageBombError(
        f"cannot decode image {name}: {what}, over the {cap:,}-pixel cap (a decompression "
        f"bomb?); set {ENV_MAX_PIXELS} to allow larger images"
    )


def open_image(
    source: str | os.PathLike[str] | BinaryIO, name: str, max_pixels: int | None = None
) -> Image.Image:
    """`Image.open` (lazy: nothing decoded yet) under the pixel cap; see the module docstring.

    A path must be a regular file: a FIFO would block `open` forever, a device never end.

    Raises:
        ImageBombError: the image declares more pixels than the cap.
        BadImageError: the path is not a regular file.
        ValueError: the cap is not a positive integer.
        Exception: whatever Pillow raises for a file it cannot read.
    """
    cap = max_image_pixels(max_pixels)
    if isinstance(source, (str, os.PathLike)):
        _check_regular(source, name)
    with _PILLOW_STATE, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = cap
        try:
            img = Image.open(source)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            found = _PIXELS_IN_MESSAGE.search(str(exc))
            raise bomb_error(name, cap, int(found.group(1)) if found else None) from None
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    check_pixels(img, name, cap)
    return img


def check_pixels(img: Image.Image, name: str, cap: int) -> None:
    """Refuse (and close) an opened image whose size is over `cap`: some formats only learn
    their final size while loading, so this runs again after decoding."""
    width, height = img.size
    if width * height > cap:
        img.close()
        raise bomb_error(name, cap, None, (width, height))


def _check_regular(path: str | os.PathLike[str], name: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # Image.open says what is wrong (missing, no permission) in its own words
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise BadImageError(f"cannot decode image {name}: it is {kind}")
