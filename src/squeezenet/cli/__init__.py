"""Command-line interface; the only place that knows argv."""

# Each module registers its subcommands on `app` at import time, in the order `--help` lists.
# isort: off
from . import models, train, compress, bench, export, predict, explain, sweep  # noqa: F401

# isort: on
from .app import app, main

__all__ = ["app", "main"]
