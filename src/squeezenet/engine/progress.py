"""Training progress: a live bar on a terminal, plain log lines otherwise (CI, files)."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class EpochProgress:
    """Reports steps of one epoch with ETA and live loss/accuracy."""

    def __init__(self, epoch: int, epochs: int, steps: int, enabled: bool = True) -> None:
        self.epoch, self.epochs, self.steps = epoch, epochs, steps
        self.enabled = enabled
        self.tty = sys.stdout.isatty()
        self.start = time.perf_counter()
        self._bar: Progress | None = None
        self._next_log = 0.0
        if enabled and self.tty:
            self._bar = Progress(
                TextColumn(f"epoch {epoch + 1}/{epochs}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeRemainingColumn(),
                console=Console(),
                transient=True,
            )
            self._task = self._bar.add_task("train", total=steps, stats="")
            self._bar.start()

    def update(self, step: int, loss: float, acc: float) -> None:
        if not self.enabled:
            return
        stats = f"loss {loss:.4f} acc {acc:.4f}"
        if self._bar is not None:
            self._bar.update(self._task, completed=step, stats=stats)
            return
        elapsed = time.perf_counter() - self.start
        if elapsed >= self._next_log:  # plain lines at most every 30 s
            eta = elapsed / max(step, 1) * (self.steps - step)
            print(
                f"epoch {self.epoch + 1}/{self.epochs} step {step}/{self.steps} {stats} "
                f"eta {eta:.0f}s",
                flush=True,
            )
            self._next_log = elapsed + 30.0

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
