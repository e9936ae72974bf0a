"""`make demo`: the main job end to end on Fashion-MNIST.

Get the data, train SqueezeNet with the demo recipe, evaluate it on the test split, and print a
summary table (model, parameters, test top-1, wall time, where the files are).

    python -m squeezenet.demo [--out runs/demo] [--epochs N]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from rich.table import Table

from .checkpoint import load_model
from .cli.app import console
from .data import load_dataset
from .engine import TrainConfig, evaluate, fit
from .engine.recipes import recipe


def train_step(out: Path, epochs: int | None) -> tuple[Path, float]:
    settings = recipe("demo")
    if epochs is not None:
        settings["epochs"] = epochs
    if out.exists():  # the demo's own folder: every demo run starts clean
        shutil.rmtree(out)
    result = fit(TrainConfig(**settings, out=str(out)))
    return result.run_dir, result.wall_time_s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SqueezeNet on Fashion-MNIST, end to end")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    console.rule("1/2 data and training (recipe: demo)")
    test = load_dataset("fashion-mnist", "test")
    run_dir, train_time = train_step(args.out, args.epochs)

    console.rule("2/2 evaluation")
    model = load_model(run_dir)
    top1 = evaluate(model, test).top1
    params = sum(p.numel() for p in model.parameters())

    table = Table("", "", title="squeezenet demo: Fashion-MNIST", show_header=False)
    table.add_row("model", f"{model.config.name} (BatchNorm, small-input stem, 1x28x28)")
    table.add_row("parameters", f"{params:,}")
    table.add_row("test top-1 (fp32)", f"{100 * top1:.2f}%")
    table.add_row("training time", f"{train_time:.0f} s")
    table.add_row("wall time (total)", f"{time.perf_counter() - start:.0f} s")
    table.add_row("run folder", str(run_dir))
    table.add_row("weights", str(run_dir / "weights" / "best.safetensors"))
    table.add_row("plots", f"{run_dir / 'curves.png'}, {run_dir / 'confusion.png'}")
    console.print(table)


if __name__ == "__main__":
    main()
