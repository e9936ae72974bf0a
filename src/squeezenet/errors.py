"""Errors shared across the package (bottom layer: imports nothing of it)."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A weights file that cannot be read or does not fit the model."""


class FormatError(CheckpointError):
    """A file whose bytes break its format: truncated, corrupt, oversized or of another kind."""
