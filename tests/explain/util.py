"""Checks shared by the explanation tests."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def assert_png(path: Path) -> None:
    """`path` is a complete PNG image of a sensible size."""
    with Image.open(path) as img:
        img.verify()  # reads the whole file: a truncated PNG fails here
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width >= 100 and img.height >= 100
