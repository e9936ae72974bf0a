"""Errors raised by the data layer.

Both subclass ``ValueError`` so callers that already guard against bad input with
``except ValueError`` keep working; the CLI catches ``DatasetError`` to print the
message without a traceback.
"""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset is missing, malformed or cannot be fetched; the message says what to do."""


class BadImageError(DatasetError):
    """An image file cannot be decoded; the message names the file and the reason."""
