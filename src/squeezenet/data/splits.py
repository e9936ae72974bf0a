"""Split names shared by every dataset reader."""

from __future__ import annotations

from squeezenet.data.errors import DatasetError

__all__ = ["SPLITS", "check_split"]

SPLITS = ("train", "val", "test")


def check_split(split: str) -> str:
    """Return ``split`` if it is one of ``train``, ``val``, ``test``, else raise DatasetError."""
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; valid splits are {', '.join(SPLITS)}")
    return split
