"""`squeezenet sweep`: train a grid of design-space points, one CSV row each, and plot them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import torch
import typer
from rich.table import Table

from ..engine import TrainConfig
from ..engine.recipes import RECIPES, recipe
from ..engine.sweep import DESIGN_KEYS, DESIGN_MODEL, run_sweep
from ..models import SqueezeNetConfig
from ..summary import format_count
from .app import app, console, err_console
from .models import MODEL_ARG_HELP, parse_key_values, parse_model_args, parse_value

Opt = typer.Option

# Settings with their own flag here, or decided per point: not settable through --train-arg.
_OWN_FLAGS = ("model", "model_kwargs", "out", "data", "data_dir", "epochs", "seed")
_PER_POINT = ("exist_ok",)  # the sweep names, resumes and restarts each point's run folder


@app.command("sweep")
def sweep_command(
    grid: Annotated[list[str], Opt(help=(
        f"KEY=V1,V2,... values of one metaparameter ({', '.join(DESIGN_KEYS)}), repeatable; "
        "every combination is trained"))],
    out: Annotated[Path, Opt(help="sweep folder: sweep.csv, sweep.png, points/")
                   ] = Path("runs/sweep"),
    data: Annotated[str | None, Opt(help="fashion-mnist | mnist | cifar10:PATH | folder:PATH")
                    ] = None,
    data_dir: Annotated[str | None, Opt(help="where to look for / download the data")] = None,
    recipe_name: Annotated[str | None, Opt(
        "--recipe", help=f"base settings: {', '.join(RECIPES)}")] = None,
    model: Annotated[str | None, Opt(
        help=f"layout the metaparameters fill, e.g. squeezenet1_1 (default: the recipe's, "
        f"else {DESIGN_MODEL}'s own, squeezenet1_0)")] = None,
    epochs: Annotated[int | None, Opt(min=1, help="training epochs per point")] = None,
    seed: Annotated[int | None, Opt(help="random seed of every point")] = None,
    model_arg: Annotated[list[str] | None, Opt(help=MODEL_ARG_HELP)] = None,
    train_arg: Annotated[list[str] | None, Opt(help=(
        "KEY=VALUE training setting, repeatable: any field of `squeezenet train`'s config "
        "(batch_size=64, lr=0.05, augment=flip, ...)"))] = None,
    threads: Annotated[int | None, Opt(min=1, help="CPU threads for torch")] = None,
    as_json: Annotated[bool, Opt("--json", help="print the rows as JSON (no epoch lines)")] = False,
) -> None:
    """Train every combination of the --grid values with the same settings, resuming where a
    stopped sweep left off, into sweep.csv (parameters, MACs, size, top-1) and sweep.png."""
    if threads:
        torch.set_num_threads(threads)
    points = parse_grid(grid)
    model_args = parse_model_args(model_arg)
    both = [k for k in points if k in model_args]
    if both:
        raise ValueError(f"{', '.join(both)}: given by both --grid and --model-arg; keep one")
    base = _base_config(recipe_name, model, model_args, parse_train_args(train_arg),
                        {"data": data, "data_dir": data_dir, "epochs": epochs, "seed": seed},
                        progress=not as_json)  # fmt: skip

    def report(row: dict[str, Any]) -> None:
        err_console.print(
            f"point {row['point']}: {row['params']:,} params, {format_count(row['macs'])} MACs, "
            f"top-1 {row['top1']:.4f} ({row['train_time_s']:.0f}s)", highlight=False)  # fmt: skip

    result = run_sweep(points, base, out, on_point=report)
    if as_json:
        print(json.dumps({"csv": str(result.csv), "plot": str(result.plot), "rows": result.rows,
                          "trained": result.trained}, indent=2))  # fmt: skip
        return
    console.print(_table(result.rows, list(points)))
    console.print(f"{result.csv}, {result.plot}")


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """['sr=0.125,0.25', 'pct3x3=0.5'] -> {'sr': [0.125, 0.25], 'pct3x3': [0.5]}; values are
    read as JSON where they parse (numbers) and kept as text otherwise (bypass=simple)."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        values = [v.strip() for v in raw.split(",") if v.strip()]
        if not sep or not key or not values:
            raise ValueError(f"--grid {item!r}: expected KEY=V1,V2,..., e.g. sr=0.25,0.5")
        if key in grid:
            raise ValueError(f"--grid {key} is given twice; list all its values once")
        grid[key] = [parse_value(v) for v in values]
    return grid


def parse_train_args(items: list[str] | None) -> dict[str, Any]:
    """--train-arg KEY=VALUE pairs -> TrainConfig settings, keys checked against its fields."""
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    settable = [f for f in fields if f not in _OWN_FLAGS + _PER_POINT]
    settings = parse_key_values(items, "--train-arg", "batch_size=64")
    for key in settings:
        if key in _OWN_FLAGS:
            flag = "--model-arg" if key == "model_kwargs" else f"--{key.replace('_', '-')}"
            raise ValueError(f"--train-arg {key}: use {flag}")
        if key in _PER_POINT:
            raise ValueError(f"--train-arg {key}: the sweep manages each point's run folder")
        if key not in settable:
            raise ValueError(f"--train-arg {key}: unknown setting; valid: {', '.join(settable)}")
    return settings


def _base_config(
    recipe_name: str | None, model: str | None, model_args: dict[str, Any],
    train_args: dict[str, Any], flags: dict[str, Any], *, progress: bool,
) -> TrainConfig:
    """The recipe's settings (or TrainConfig's defaults), overridden by every flag given."""
    settings = recipe(recipe_name) if recipe_name else {}
    kwargs = dict(settings.get("model_kwargs", {}))
    if model is not None and model != settings.get("model"):
        # The recipe's metaparameters describe its own model; keep what every SqueezeNet takes.
        kwargs = {k: v for k, v in kwargs.items() if k in SqueezeNetConfig.field_names()}
    fixed = [k for k in ("num_classes", "in_channels") if k in model_args]
    if fixed:
        raise ValueError(f"--model-arg {', '.join(fixed)}: taken from the data, not settable")
    settings["model"] = model or settings.get("model", DESIGN_MODEL)
    if settings["model"] != DESIGN_MODEL:  # a preset names the layout the points fill
        kwargs["layout"] = settings["model"]
        settings["model"] = DESIGN_MODEL
    settings["model_kwargs"] = {**kwargs, **model_args}
    settings.update(train_args)
    settings.update({k: v for k, v in flags.items() if v is not None})
    settings["progress"] = progress
    return TrainConfig(**settings)


def _table(rows: list[dict[str, Any]], keys: list[str]) -> Table:
    table = Table(*keys, "params", "MACs", "fp32 MB", "top-1", "epochs", "time (s)",
                  title="design-space sweep")  # fmt: skip
    for row in rows:
        table.add_row(*(str(row[k]) for k in keys), f"{row['params']:,}", format_count(row["macs"]),
                      f"{row['fp32_bytes'] / 1e6:.2f}", f"{row['top1']:.4f}", str(row["epochs"]),
                      f"{row['train_time_s']:.0f}")  # fmt: skip
    return table
