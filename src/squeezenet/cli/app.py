"""The `squeezenet` command: one Typer app, one thin module per subcommand.

Handlers parse argv into library calls and print results; all logic lives in the library.
Errors a user can act on (ValueError and friends) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(
    name="squeezenet",
    help="SqueezeNet: build, train, compress, export and benchmark the paper's networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (CI logs, files) gets wide tables instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app, turning user errors into a clear one-line message.

    Usage errors (bad option values) are reported by Typer itself with exit code 2; errors
    the library raises for bad input (ValueError and its subclasses) and files that cannot be
    read or written (missing, a folder, no permission, disk full: OSError) end the same way
    instead of as a traceback.
    """
    try:
        app(args=argv)
    except (ValueError, OSError) as e:
        # soft_wrap: one line however long (rich would wrap it at the console's width)
        message = str(e) or type(e).__name__
        err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        sys.exit(2)
