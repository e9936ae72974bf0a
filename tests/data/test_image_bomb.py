"""Decompression-bomb policy of load_image: a pixel cap, Pillow's warning zone refused, and
Pillow's global state (MAX_IMAGE_PIXELS, warning filters) left as it was."""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from squeezenet.data import BadImageError, load_image
from squeezenet.data.image_limits import DEFAULT_MAX_PIXELS, ENV_MAX_PIXELS, ImageBombError


def bomb_png(path: Path, width: int, height: int) -> Path:
    """A valid 8-bit grayscale PNG of zeros, written row by row: 12000 x 12000 is 140 KB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    deflate = zlib.compressobj(9)
    row = bytes(1 + width)  # filter byte + pixels
    idat = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def pillow_state() -> tuple[object, list]:
    return Image.MAX_IMAGE_PIXELS, list(warnings.filters)


@pytest.fixture(scope="module")
def warning_zone_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """144 MP: over Pillow's warning threshold (89.5 MP), under its error threshold (179 MP)."""
    return bomb_png(tmp_path_factory.mktemp("bomb") / "bomb.png", 12000, 12000)


def test_warning_zone_is_refused_with_the_cap_in_the_message(warning_zone_png: Path) -> None:
    assert warning_zone_png.stat().st_size < 200_000
    before = pillow_state()
    with pytest.raises(ImageBombError) as info:
        load_image(warning_zone_png)
    message = str(info.value)
    assert "144,000,000 pixels" in message and f"{DEFAULT_MAX_PIXELS:,}-pixel cap" in message
    assert ENV_MAX_PIXELS in message and str(warning_zone_png) in message and "\n" not in message
    assert isinstance(info.value, BadImageError)  # skipped like any bad image where asked to
    assert pillow_state() == before


def test_over_twice_the_cap_is_refused_too(tmp_path: Path) -> None:
    path = bomb_png(tmp_path / "b.png", 300, 300)
    with pytest.raises(ImageBombError, match=r"90,000 pixels, over the 40,000-pixel cap"):
        load_image(path, max_pixels=40_000)  # Pillow's DecompressionBombError zone


def test_the_cap_is_exact_and_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = bomb_png(tmp_path / "b.png", 100, 50)
    assert load_image(path, "L", max_pixels=5000).size == (100, 50)
    with pytest.raises(ImageBombError, match="over the 4,999-pixel cap"):
        load_image(path, "L", max_pixels=4999)
    monkeypatch.setenv(ENV_MAX_PIXELS, "4999")
    with pytest.raises(ImageBombError, match="over the 4,999-pixel cap"):
        load_image(path, "L")
    monkeypatch.setenv(ENV_MAX_PIXELS, "5_000")
    assert load_image(path, "L").size == (100, 50)
    monkeypatch.setenv(ENV_MAX_PIXELS, "lots")
    with pytest.raises(ValueError, match=f"{ENV_MAX_PIXELS} must be a positive integer"):
        load_image(path, "L")
    with pytest.raises(ValueError, match="max_pixels must be a positive integer"):
        load_image(path, "L", max_pixels=0)


def test_a_raised_cap_allows_what_pillow_alone_would_refuse(tmp_path: Path, monkeypatch) -> None:
    # Pillow's own limit, lowered by its user, would refuse this; our cap is the one in force
    # while we open, and Pillow's is put back afterwards.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    path = bomb_png(tmp_path / "b.png", 40, 40)
    assert load_image(path, "L", max_pixels=2000).size == (40, 40)
    assert Image.MAX_IMAGE_PIXELS == 100


def test_pillow_state_is_restored_after_success_failure_and_in_threads(
    tmp_path: Path, warning_zone_png: Path
) -> None:
    small = bomb_png(tmp_path / "small.png", 20, 20)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a filter of the caller's own
        before = pillow_state()
        for path in (small, broken, warning_zone_png):
            try:
                load_image(path)
            except BadImageError:
                pass
            assert pillow_state() == before
        with ThreadPoolExecutor(4) as pool:  # the predictor decodes in a pool like this
            results = list(pool.map(_outcome, [small, warning_zone_png, broken] * 8))
        assert results == ["ok", "bomb", "bad"] * 8
        assert pillow_state() == before


def _outcome(path: Path) -> str:
    try:
        load_image(path)
    except ImageBombError:
        return "bomb"
    except BadImageError:
        return "bad"
    return "ok"


def test_non_regular_files_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "image.png"
    os.mkfifo(fifo)
    with pytest.raises(BadImageError, match="not a regular file"):
        load_image(fifo)  # a FIFO would block open() until a writer came
    with pytest.raises(BadImageError, match="is a folder"):
        load_image(tmp_path)
