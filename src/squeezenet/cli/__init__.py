"""Command-line interface; the only place that knows argv."""

from .app import app, main

__all__ = ["app", "main"]
