"""The paper's two design-space sweeps (Section 5, Figure 2) on Fashion-MNIST.

    A  squeeze ratio SR in {0.125, 0.25, 0.5, 0.75, 1.0}, pct3x3 = 0.5   (Figure 2a)
    B  pct3x3 in {0.01, 0.125, 0.25, 0.5, 0.75, 0.99}, SR = 0.5           (Figure 2b)

Both with the paper's base_e = 128, incr_e = 128, freq = 2 and no bypass, in SqueezeNet 1.1's
layout with the demo recipe's 28 px settings (small-input stem without the max-pool,
BatchNorm, no dropout, one-cycle, flips), a fixed number of epochs for every point, 1 thread.
Sweep A uses seed 0, sweep B seed 1, so their shared point (SR 0.5, pct3x3 0.5) shows the
seed noise. The grids list the points that decide the paper's claims first, so a sweep
stopped early still has them. About an hour of CPU each, so not in run_all.py; run both at
once, each in its own process (they resume point by point if stopped):

    nohup nice -n 19 .venv/bin/python bench/sweeps.py sr > runs/sweeps/sr.log 2>&1 &
    nohup nice -n 19 .venv/bin/python bench/sweeps.py pct3x3 > runs/sweeps/pct3x3.log 2>&1 &

Each trains into runs/sweeps/<name>/ (points, checkpoints) and then writes
bench/results/sweep_<name>.csv (rows in grid-value order) and bench/results/sweep_<name>.png.
`--collect` only rewrites those two files from the points finished so far. `--seed N` runs a
sweep again with another seed (into runs/sweeps/<name>_seed<N>/); the CSV and plot then hold
every seed's rows (a `seed` column, one line per seed). `--values 0.125,0.25` runs only those
points, into a folder of their own (runs/sweeps/<name>_0.125_0.25/), so a second process can
take them while the first trains the others; --collect merges the folders.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path
from typing import Any

import torch

from squeezenet.engine import TrainConfig
from squeezenet.engine.recipes import recipe
from squeezenet.engine.sweep import CSV_FIELDS, plot_sweep, read_rows, run_sweep
from squeezenet.files import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RUNS = ROOT / "runs" / "sweeps"
EPOCHS = 4  # about an hour of CPU per sweep (bf16 on a Zen 4 core; ~2.4 min an epoch at SR 0.5)
PAPER = {"base_e": 128, "incr_e": 128, "freq": 2}
# name -> (grid, fixed metaparameters, seed); deciding points first (see the docstring).
SWEEPS: dict[str, tuple[dict[str, list[Any]], dict[str, Any], int]] = {
    "sr": ({"sr": [0.5, 1.0, 0.75, 0.125, 0.25]}, {"pct3x3": 0.5}, 0),
    "pct3x3": ({"pct3x3": [0.5, 0.99, 0.75, 0.01, 0.25, 0.125]}, {"sr": 0.5}, 1),
}


def base_config(fixed: dict[str, Any], seed: int, epochs: int) -> TrainConfig:
    """The demo recipe in 1.1's layout without bypass, at the paper's metaparameters."""
    settings = recipe("demo")
    settings.pop("time")  # a fixed number of epochs: fairer than a time budget under load
    kwargs = {**settings["model_kwargs"], "layout": "squeezenet1_1", "bypass": "none"}
    settings.update(
        model="squeezenet_design",
        model_kwargs={**kwargs, **PAPER, **fixed},
        epochs=epochs,
        warmup_epochs=0.3,
        seed=seed,
        data="fashion-mnist",
    )
    return TrainConfig(**settings)


def collect(name: str) -> list[dict[str, Any]]:
    """The finished rows of every seed of a sweep, with a seed column, sorted by seed and
    swept value, into RESULTS: the CSV and a plot with one line per seed."""
    (key,) = SWEEPS[name][0]
    rows = []
    for folder in sorted(RUNS.glob(f"{name}*/")):
        if folder.name == name or folder.name.startswith(f"{name}_"):
            seed = json.loads((folder / "sweep.json").read_text())["base"]["seed"]
            rows += [{**row, "seed": seed} for row in read_rows(folder / "sweep.csv")]
    rows = list({(r["seed"], r["point"]): r for r in rows}.values())  # a point in two folders
    rows.sort(key=lambda r: (r["seed"], r[key]))
    if rows:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=(*CSV_FIELDS, "seed"), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(RESULTS / f"sweep_{name}.csv", buf.getvalue())
        seeds = {r["seed"] for r in rows}
        plot_sweep(rows, [key, "seed"] if len(seeds) > 1 else [key], RESULTS / f"sweep_{name}.png")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", choices=sorted(SWEEPS))
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, help="another seed: into runs/sweeps/<sweep>_seed<N>")
    parser.add_argument(
        "--values",
        help="only these values of the grid, e.g. 0.125,0.25: "
        "into their own folder, so another process can run them at once",
    )
    parser.add_argument("--collect", action="store_true", help="only copy results so far")
    args = parser.parse_args()
    if not args.collect:
        torch.set_num_threads(args.threads)
        grid, fixed, seed = SWEEPS[args.sweep]
        out = RUNS / (args.sweep if args.seed is None else f"{args.sweep}_seed{args.seed}")
        if args.values:
            ((key, values),) = grid.items()
            picked = [float(v) for v in args.values.split(",")]
            grid = {key: [v for v in values if v in picked]}
            out = out.with_name(f"{out.name}_{'_'.join(map(str, grid[key]))}")
        base = base_config(fixed, seed if args.seed is None else args.seed, args.epochs)
        run_sweep(
            grid,
            base,
            out,
            on_point=lambda row: print(
                f"point {row['point']}: {row['params']:,} params, top-1 {row['top1']:.4f} "
                f"({row['train_time_s']:.0f}s)",
                flush=True,
            ),
        )
    for row in collect(args.sweep):
        print(row)


if __name__ == "__main__":
    main()
