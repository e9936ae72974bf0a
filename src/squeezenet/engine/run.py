"""The run folder: resolved config, per-epoch metrics, plots, weights and the resume checkpoint.

    runs/<name>/config.json          the fully resolved TrainConfig
    runs/<name>/metrics.csv          one row per epoch
    runs/<name>/curves.png           loss and accuracy curves
    runs/<name>/confusion.png        confusion matrix of the final weights if validating on
                                     the test split ("best" is then test-picked), else of the best
    runs/<name>/weights/best.safetensors, weights/last.safetensors
    runs/<name>/checkpoint.pt        model/optimizer/scheduler/RNG/epoch (weights_only loadable)
    runs/<name>/results.json         full evaluations of the final and the best weights

Every file is written atomically, so an interrupted run never leaves a partial file.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import torch

from ..files import atomic_path, atomic_write_text

METRIC_FIELDS = (
    "epoch", "lr", "train_loss", "train_top1", "val_loss", "val_top1", "val_top5",
    "epoch_time_s", "train_images_per_s",
)  # fmt: skip


class RunDir:
    """Paths and writers of one run folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    config = property(lambda self: self.root / "config.json")
    metrics = property(lambda self: self.root / "metrics.csv")
    curves = property(lambda self: self.root / "curves.png")
    confusion = property(lambda self: self.root / "confusion.png")
    checkpoint = property(lambda self: self.root / "checkpoint.pt")
    best = property(lambda self: self.root / "weights" / "best.safetensors")
    last = property(lambda self: self.root / "weights" / "last.safetensors")
    results = property(lambda self: self.root / "results.json")

    def write_json(self, path: Path, data: Any) -> None:
        atomic_write_text(path, json.dumps(data, indent=2) + "\n")

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite metrics.csv whole (atomically) from the run's history."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        atomic_write_text(self.metrics, buf.getvalue())

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        with atomic_path(self.checkpoint) as tmp:
            torch.save(state, tmp)

    def load_checkpoint(self) -> dict[str, Any]:
        if not self.checkpoint.is_file():
            raise FileNotFoundError(f"nothing to resume: {self.checkpoint} does not exist")
        # weights_only: the checkpoint holds tensors and plain types only, never objects.
        return torch.load(self.checkpoint, map_location="cpu", weights_only=True)


def claim_run_dir(path: str | Path, exist_ok: bool = False) -> Path:
    """A folder for a new run: `path` itself if it is missing or empty (or `exist_ok`), else
    the first free `path2`, `path3`, ... (ultralytics' increment_path), so a second run of
    the same command never overwrites the first one's weights, metrics or checkpoint.

    The folder is created here, atomically, so two runs started at once get two folders.
    """
    path = Path(path)
    if exist_ok or not path.exists() or (path.is_dir() and not any(path.iterdir())):
        path.mkdir(parents=True, exist_ok=True)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    for n in range(2, 10_000):
        candidate = path.with_name(f"{path.name}{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise ValueError(f"no free run folder next to {path} (tried {path.name}2..9999)")
