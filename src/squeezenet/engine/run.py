"""The run folder: resolved config, per-epoch metrics, plots, weights and the resume checkpoint.

    runs/<name>/config.json          the fully resolved TrainConfig
    runs/<name>/metrics.csv          one row per epoch
    runs/<name>/curves.png           loss and accuracy curves
    runs/<name>/confusion.png        confusion matrix of the final weights if validating on
                                     the test split ("best" is then test-picked), else of the best
    runs/<name>/weights/best.safetensors, weights/last.safetensors
    runs/<name>/checkpoint.pt        model/optimizer/scheduler/RNG/epoch (weights_only loadable)
    runs/<name>/results.json         full evaluations of the final and the best weights

Every file is written atomically, so an interrupted run never leaves a partial file, and
checkpoint.pt last, so the other files are never older than it: a run killed at any point
resumes from the checkpoint and ends as if it had never stopped.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import FormatError
from ..files import atomic_write_bytes, atomic_write_text
from ..torchfile import load_torch_file

METRIC_FIELDS = (
    "epoch",
    "lr",
    "train_loss",
    "train_top1",
    "val_loss",
    "val_top1",
    "val_top5",
    "epoch_time_s",
    "train_images_per_s",
)


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
            writer.writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
            )
        atomic_write_text(self.metrics, buf.getvalue())

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Serialise `state` in memory, then write it atomically: a full disk or a missing
        permission is one `WriteError` naming the file (torch.save's own file writer reports
        it as a RuntimeError) and the previous checkpoint stays whole."""
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(self.checkpoint, buffer.getbuffer())

    def load_checkpoint(self) -> dict[str, Any]:
        """The checkpoint's state, loaded weights-only and bounded (`load_torch_file`).

        Raises:
            FileNotFoundError: there is no checkpoint.
            FormatError: truncated, corrupt, hostile, or not a training checkpoint.
        """
        if not self.checkpoint.exists():
            raise FileNotFoundError(f"nothing to resume: {self.checkpoint} does not exist")
        state = load_torch_file(self.checkpoint)
        problem = _checkpoint_problem(state)
        if problem:
            raise FormatError(f"{self.checkpoint}: not a training checkpoint ({problem})")
        return state

    def resume(
        self,
        settings: dict[str, Any],
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
    ) -> tuple[int, float, list[dict[str, Any]]]:
        """Restore the checkpoint (`restore`); returns (epochs done, best top-1, history).

        A run stopped before its first checkpoint starts over, (0, -1.0, []): config.json
        holds its seed and resolved settings, so it still ends as an uninterrupted run would.

        Raises:
            ValueError: `settings` (a TrainConfig's dict) differ from the run's own.
            FormatError: the checkpoint is broken or does not fit the model.
            FileNotFoundError: the folder holds no run.
        """
        if not self.checkpoint.exists():
            self._check_settings(settings, self.read_config())
            return 0, -1.0, []
        state = self.load_checkpoint()
        self._check_settings(settings, json.loads(state["config"]))
        self.restore(state, model, optimizer, scheduler)
        return state["epoch"], float(state["best_top1"]), list(state["history"])

    def read_config(self) -> dict[str, Any]:
        if not self.config.exists():
            raise FileNotFoundError(f"nothing to resume: {self.config} does not exist")
        try:
            saved = json.loads(self.config.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"cannot resume {self.root}: {self.config} unreadable ({e})") from None
        if not isinstance(saved, dict):
            raise ValueError(f"cannot resume {self.root}: {self.config} is not a JSON object")
        return saved

    def _check_settings(self, settings: dict[str, Any], saved: dict[str, Any]) -> None:
        # Where the folder is and whether a bar is drawn are not training settings.
        changed = [
            k
            for k, v in settings.items()
            if saved.get(k) != v and k not in ("out", "progress", "exist_ok")
        ]
        if changed:
            raise ValueError(
                f"cannot resume {self.root}: settings differ from the original run: "
                + ", ".join(f"{k}={saved.get(k)!r} -> {settings[k]!r}" for k in changed)
            )

    def restore(
        self,
        state: dict[str, Any],
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
    ) -> None:
        """Put the checkpoint's weights, optimizer and schedule state and RNG state back; a
        checkpoint that does not fit them (another model, a hand-edited file) is one line."""
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["rng"])
            if state.get("cuda_rng") and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["cuda_rng"])
        except (RuntimeError, KeyError, TypeError, ValueError, IndexError) as e:
            reason = " ".join(str(e).split())  # torch's "Error(s) in loading" spans lines
            reason = reason[:300] + "..." if len(reason) > 300 else reason or type(e).__name__
            raise FormatError(f"{self.checkpoint}: does not fit this run ({reason})") from None


# What `restore` and fit's resume read, with the type each must have.
_CHECKPOINT_TYPES = {
    "model": dict,
    "optimizer": dict,
    "scheduler": dict,
    "epoch": int,
    "best_top1": (int, float),
    "rng": torch.Tensor,
    "history": list,
    "config": str,
}


def _checkpoint_problem(state: Any) -> str | None:
    """What makes `state` unusable as a training checkpoint, or None."""
    if not isinstance(state, dict):
        return f"a {type(state).__name__}, not a dict"
    missing = [k for k in _CHECKPOINT_TYPES if k not in state]
    if missing:
        return f"missing {', '.join(missing)}"
    wrong = [
        k
        for k, t in _CHECKPOINT_TYPES.items()
        if not isinstance(state[k], t) or isinstance(state[k], bool)
    ]
    if wrong:
        return f"wrong type of {', '.join(wrong)}"
    if state["epoch"] < 0 or not all(isinstance(row, dict) for row in state["history"]):
        return "bad epoch or history"
    try:
        if not isinstance(json.loads(state["config"]), dict):
            return "config is not a JSON object"
    except json.JSONDecodeError:
        return "config is not JSON"
    return None


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
