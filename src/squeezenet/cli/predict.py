"""`squeezenet predict`: top-k classes for image files and folders."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..inference.predictor import PredictionError, Predictor, collect_image_paths
from .app import console, err_console
from .options import JSON, REQUIRED, THREADS, Param, config_command, option

PLAIN_PROGRESS_EVERY_S = 10.0


@dataclass
class PredictConfig:
    """The options of `squeezenet predict`."""

    topk: int = option(5, "classes to show per image", min=1)
    backend: str = option(
        "auto",
        "auto (fastest float32 here), eager, channels_last, compile, onnxruntime, "
        "onnxruntime-int8, openvino",
    )
    batch_size: int = option(32, "images per model run", min=1, max=4096)


PREDICT_ARGS = [
    Param(
        "model",
        str,
        "run folder, weights (.safetensors/.pth), .sqz, .onnx or OpenVINO .xml file",
        default=REQUIRED,
        argument=True,
    ),
    Param("inputs", list[Path], "image files and/or folders", default=REQUIRED, argument=True),
]


@config_command("predict", PredictConfig, params=[*PREDICT_ARGS, THREADS, JSON])
def predict_command(
    config: PredictConfig, model: str, inputs: list[Path], threads: int | None, as_json: bool
) -> None:
    """Classify images with the model's own preprocessing and class names.

    Any image mode works and EXIF orientation is applied. A file that cannot be read gets
    an error line on stderr (and the exit code is 1); the other files are still classified.
    """
    topk, batch_size = config.topk, config.batch_size
    # --threads has set PyTorch's thread count; onnxruntime gets it here.
    predictor = Predictor.load(model, backend=config.backend, threads=threads)
    items = collect_image_paths(inputs)
    if not items:
        raise ValueError("no images found in the given folders")
    with _progress(len(items), batch_size) as advance:
        results = list(
            predictor.predict_paths(items, topk=topk, batch_size=batch_size, on_progress=advance)
        )
    errors = [r for r in results if isinstance(r, PredictionError)]
    for error in errors:
        err_console.print(f"[bold red]error:[/] {escape(error.error)}", highlight=False)
    if as_json:
        payload = {
            "model": model,
            "backend": predictor.backend,
            "results": [r.to_dict() for r in results],
        }
        print(json.dumps(payload, indent=2, allow_nan=False))  # NaN is not JSON
    else:
        console.print(_table(results, predictor.backend))
    if errors:
        raise typer.Exit(1)


def _table(results: list, backend: str) -> Table:
    table = Table("image", "top-1", "probability", "next", title=f"predictions ({backend})")
    for r in results:
        if hasattr(r, "error"):
            table.add_row(escape(r.path), "[red]error[/]", "", "")
            continue
        rest = ", ".join(
            f"{escape(label)} {p:.1%}" for label, p in zip(r.labels[1:], r.probabilities[1:])
        )
        table.add_row(escape(r.path), escape(r.labels[0]), f"{r.probabilities[0]:.1%}", rest)
    return table


@contextmanager
def _progress(total: int, batch_size: int) -> Iterator[Callable[[int], None]]:
    """A live bar on a terminal; on a pipe, a plain line every few seconds (nothing if quick)."""
    if total <= batch_size:
        yield lambda _done: None
        return
    if sys.stderr.isatty():
        columns = (
            TextColumn("predicting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task("predict", total=total)
            yield lambda done: bar.update(task, completed=done)
        return
    start = last = time.monotonic()

    def report(done: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PLAIN_PROGRESS_EVERY_S:
            print(
                f"predicted {done}/{total} images ({done / (now - start):.0f}/s)",
                file=sys.stderr,
                flush=True,
            )
            last = now

    yield report
