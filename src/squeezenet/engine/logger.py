"""Live logging of a run: TensorBoard event files in the run folder (optional extra).

    tensorboard --logdir runs/

Per step: `train/loss`, `train/top1`, `train/lr`. Per epoch (x = epoch): `epoch/train_loss`,
`epoch/train_top1`, `epoch/val_loss`, `epoch/val_top1`, `epoch/val_top5`, `epoch/lr`; the
validation figures are also logged against the step (`val/loss`, `val/top1`) so they share
the per-step charts' x axis.
"""

from __future__ import annotations

import os
from typing import Any

from .config import LOGGERS

_EPOCH_KEYS = ("train_loss", "train_top1", "val_loss", "val_top1", "val_top5", "lr")


class TensorBoardLogger:
    """Writes scalars with `torch.utils.tensorboard.SummaryWriter` into `folder`."""

    def __init__(self, folder: str | os.PathLike) -> None:
        try:  # optional: only a run with --logger tensorboard needs it
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ValueError(
                "--logger tensorboard needs the tensorboard package: "
                "pip install 'squeezenet[tensorboard]'"
            ) from None
        self._writer = SummaryWriter(log_dir=os.fspath(folder))

    def step(self, step: int, loss: float, top1: float, lr: float) -> None:
        """One training step's batch loss and top-1, and the learning rate it ran with."""
        self._writer.add_scalar("train/loss", loss, step)
        self._writer.add_scalar("train/top1", top1, step)
        self._writer.add_scalar("train/lr", lr, step)

    def epoch(self, row: dict[str, Any], step: int) -> None:
        """One metrics row (metrics.csv's), after `step` training steps."""
        for key in _EPOCH_KEYS:
            self._writer.add_scalar(f"epoch/{key}", row[key], row["epoch"])
        self._writer.add_scalar("val/loss", row["val_loss"], step)
        self._writer.add_scalar("val/top1", row["val_top1"], step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def open_logger(kind: str | None, folder: str | os.PathLike) -> TensorBoardLogger | None:
    """The logger `kind` names ("tensorboard"), writing into `folder`; None for None."""
    if kind is None:
        return None
    if kind not in LOGGERS:
        raise ValueError(f"invalid logger {kind!r}; choose one of {LOGGERS}")
    return TensorBoardLogger(folder)
